#!/usr/bin/env bash
# `npm run test:kafka`: starts a real Apache Kafka broker (KRaft) on loopback, fetching its jars from Maven
# Central once, then runs the Kafka suites against it (embedded PGlite store: the relay's SQL is the same).
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(bash tests/integration/kafka.sh start)"
export KAFKA_BROKERS
exec npx vitest run --config tests/vitest.config.ts --project kafka "$@"
