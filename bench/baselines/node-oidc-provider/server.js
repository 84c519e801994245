// Baseline for Consentry's token benchmark (`make bench`):
// panva/oidc-provider issuing client_credentials access tokens as RS256 JWTs.
//
// Usage: node server.js [PORT]   (or PORT env var; default 3000)
// Listens on 127.0.0.1 over plain http, proxy disabled, default in-memory
// (LRU, max 1000 entries, per process) adapter.
// WORKERS=N (default 1) forks N node:cluster workers sharing the port; the
// primary generates the signing key once and passes it to the workers.
//
// Token request (same form body as the Python baselines / Consentry):
//   POST /token
//   client_id=bench-client&client_secret=bench-secret
//   &grant_type=client_credentials&scope=https://graph.microsoft.com/.default
// `resource` is optional: defaultResource() supplies RESOURCE when absent.

import cluster from 'node:cluster';
import * as crypto from 'node:crypto';

import Provider from 'oidc-provider';

const WORKERS = Number.parseInt(process.env.WORKERS || '1', 10);
const KEY_ENV = 'BENCH_OIDC_PRIVATE_JWK';
const PORT = Number.parseInt(process.argv[2] || process.env.PORT || '3000', 10);
const HOST = process.env.HOST || '127.0.0.1';
const ISSUER = process.env.ISSUER
  || 'https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0';
const TENANT_ID = '00000000-0000-0000-0000-000000000001';
const RESOURCE = 'https://graph.microsoft.com';
const DEFAULT_SCOPE = `${RESOURCE}/.default`;
const CLIENT_ID = process.env.BENCH_CLIENT_ID || 'bench-client';
const CLIENT_SECRET = process.env.BENCH_CLIENT_SECRET || 'bench-secret';
// Stable object id for the client's service principal (same in every worker).
const CLIENT_OID = (() => {
  const h = crypto.createHash('sha256').update(`${TENANT_ID}/${CLIENT_ID}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
})();

// RS256 signing key generated at start-up (RSA-2048), exported as a private JWK.
function generateSigningJwk() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const pub = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
  // RFC 7638 thumbprint as kid.
  const thumb = crypto.createHash('sha256')
    .update(JSON.stringify({ e: pub.e, kty: pub.kty, n: pub.n }))
    .digest('base64url');
  return { ...jwk, kid: thumb, alg: 'RS256', use: 'sig' };
}

if (WORKERS > 1 && cluster.isPrimary) {
  process.env[KEY_ENV] = JSON.stringify(generateSigningJwk());
  for (let i = 0; i < WORKERS; i += 1) cluster.fork();
  console.log(`oidc-provider baseline primary pid ${process.pid}, ${WORKERS} workers on http://${HOST}:${PORT}`);
  const stopAll = () => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);
  cluster.on('exit', () => {
    if (Object.keys(cluster.workers).length === 0) process.exit(0);
  });
} else {
  startProvider();
}

function startProvider() {
  const signingJwk = process.env[KEY_ENV] ? JSON.parse(process.env[KEY_ENV]) : generateSigningJwk();

  const configuration = {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
      scope: DEFAULT_SCOPE,
    }],
    jwks: { keys: [signingJwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    // Entra-style scopes are resource-qualified (`<resource>/.default`).
    // Registering it as a static provider scope lets the client's allow-list
    // check it; the resource server below also lists it so it is kept on the token.
    scopes: ['openid', DEFAULT_SCOPE],
    clientDefaults: {
      id_token_signed_response_alg: 'RS256',
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256'],
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // Used when the request carries no `resource` parameter.
        defaultResource: async (_ctx, _client, oneOf) => oneOf || RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator, _client) => {
          if (resourceIndicator !== RESOURCE) {
            // eslint-disable-next-line no-throw-literal
            throw new Provider.errors.InvalidTarget();
          }
          return {
            audience: RESOURCE,
            scope: DEFAULT_SCOPE,
            accessTokenTTL: 3599,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    formats: {
      customizers: {
        // Make the payload Entra-shaped so both baselines sign comparable JWTs.
        async jwt(_ctx, token, jwt) {
          const now = jwt.payload.iat;
          Object.assign(jwt.payload, {
            nbf: now,
            appid: token.clientId,
            azp: token.clientId,
            tid: TENANT_ID,
            oid: CLIENT_OID,
            sub: CLIENT_OID,
            roles: ['Application.Read.All'],
            ver: '2.0',
            uti: crypto.randomBytes(16).toString('base64url'),
            idtyp: 'app',
          });
        },
      },
    },
    ttl: {
      ClientCredentials: 3599,
    },
  };

  const provider = new Provider(ISSUER, configuration);
  provider.proxy = false;

  // Quiet by default: errors that are not the client's fault are still logged.
  provider.on('server_error', (_ctx, err) => { console.error('server_error', err); });

  const server = provider.listen(PORT, HOST, () => {
    console.log(`oidc-provider baseline listening on http://${HOST}:${PORT} (issuer ${ISSUER}, pid ${process.pid})`);
  });

  function shutdown() {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  }
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
