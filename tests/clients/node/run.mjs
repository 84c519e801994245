// msal-node against Consentry: client credentials and ROPC, driven by tests/clients/test_msal_node.py.
//
// Input: one JSON argument {authority, knownAuthority, confidential: {clientId, secret},
//        publicClientId, unconsentedClientId, username, password}.
// Output: one JSON object on stdout with what each scenario returned (or threw), with the requests
// msal-node made and the ones the guard refused, per scenario and in all. Node 20 ignores HTTPS_PROXY, so the Python egress guard
// cannot see this process: the network client below is its guard (real-clients §5.4).
import { ConfidentialClientApplication, PublicClientApplication } from "@azure/msal-node";

const config = JSON.parse(process.argv[2]);
const requests = [];
const refused = [];

async function send(method, url, options) {
  const host = new URL(url).hostname;
  requests.push(`${method} ${url}`);
  if (host !== "localhost" && host !== "127.0.0.1") {
    refused.push(`${method} ${url}`);
    throw new Error(`egress refused by the test's network client: ${url}`);
  }
  const response = await fetch(url, {
    method,
    headers: new Headers(Object.entries(options?.headers ?? {})),
    body: method === "POST" ? options?.body ?? "" : undefined,
  });
  const headers = {};
  response.headers.forEach((value, key) => { headers[key] = value; });
  return { headers, body: await response.json(), status: response.status };
}

const networkClient = {
  sendGetRequestAsync: (url, options) => send("GET", url, options),
  sendPostRequestAsync: (url, options) => send("POST", url, options),
};

function auth(clientId, extra = {}) {
  return { auth: { clientId, authority: config.authority, knownAuthorities: [config.knownAuthority], ...extra },
           system: { networkClient } };
}

function confidential(extra = {}) {
  return new ConfidentialClientApplication(auth(config.confidential.clientId,
                                                { clientSecret: config.confidential.secret, ...extra }));
}

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}

function failure(error) {
  return { name: error?.constructor?.name, errorCode: error?.errorCode, subError: error?.subError,
           errorNo: error?.errorNo, status: error?.status, message: String(error?.errorMessage ?? error) };
}

async function scenario(name, run) {
  const [sent, blocked] = [requests.length, refused.length];
  let outcome;
  try {
    outcome = { ok: true, ...(await run()) };
  } catch (error) {
    outcome = { ok: false, error: failure(error) };
  }
  return [name, { ...outcome, requests: requests.slice(sent), refused: refused.slice(blocked) }];
}

const results = Object.fromEntries([
  await scenario("clientCredentials", async () => {
    const app = confidential();
    const first = await app.acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] });
    const second = await app.acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] });
    return { claims: claims(first.accessToken), tokenType: first.tokenType, fromCache: second.fromCache,
             sameToken: first.accessToken === second.accessToken };
  }),
  await scenario("knownAuthorityWithoutPort", async () => {
    // "localhost" does not match "localhost:PORT", so msal-node asks login.microsoftonline.com instead.
    await confidential({ knownAuthorities: ["localhost"] })
      .acquireTokenByClientCredential({ scopes: ["https://graph.microsoft.com/.default"] });
    return {};
  }),
  await scenario("ropc", async () => {
    const app = new PublicClientApplication(auth(config.publicClientId));
    const result = await app.acquireTokenByUsernamePassword({ scopes: ["User.Read"], username: config.username,
                                                              password: config.password });
    const accounts = await app.getTokenCache().getAllAccounts();
    const silent = await app.acquireTokenSilent({ scopes: ["User.Read"], account: accounts[0] });
    return { claims: claims(result.accessToken), idTokenClaims: result.idTokenClaims,
             homeAccountId: result.account.homeAccountId, environment: result.account.environment,
             accounts: accounts.map((a) => a.username), scopes: result.scopes,
             silentFromCache: silent.fromCache, silentSameToken: silent.accessToken === result.accessToken };
  }),
  await scenario("ropcWithoutConsent", async () => {
    const app = new PublicClientApplication(auth(config.unconsentedClientId));
    await app.acquireTokenByUsernamePassword({ scopes: ["https://outlook.office365.com/EWS.AccessAsUser.All"],
                                               username: config.username, password: config.password });
    return {};
  }),
]);

process.stdout.write(JSON.stringify({ results, requests, refused }));
