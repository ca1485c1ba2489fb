#!/usr/bin/env bash
# `npm run test:integration`: starts the real services on loopback (installing them if needed), then runs
# the integration suites against them.
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(bash tests/integration/services.sh postgres redis)"
export DATABASE_URL REDIS_URL
# Cached answers from an earlier run would change what the suites measure.
redis-cli -u "$REDIS_URL" flushall >/dev/null
exec npx vitest run --config tests/vitest.config.ts --project integration "$@"
