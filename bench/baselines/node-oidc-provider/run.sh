#!/usr/bin/env bash
# Start the panva/oidc-provider baseline on 127.0.0.1:PORT (plain http).
# Usage: bench/baselines/node-oidc-provider/run.sh PORT
# Installs dependencies from package-lock.json on first use.
set -euo pipefail
PORT="${1:-${PORT:-3000}}"
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ ! -d node_modules/oidc-provider ]; then
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund
  fi
fi
export NODE_ENV="${NODE_ENV:-production}"
exec node server.js "$PORT"
