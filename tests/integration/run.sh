#!/usr/bin/env bash
# `npm run test:integration`: starts the real services on loopback (installing them if needed), then runs
# the integration suites against them.
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(bash tests/integration/services.sh)"
export DATABASE_URL
exec npx vitest run --config tests/vitest.config.ts --project integration "$@"
