#!/usr/bin/env bash
# Installs (if missing) and starts on loopback the real services the integration suites use, idempotently.
# Usage: tests/integration/services.sh [postgres] [redis] ...   (no argument: all); restart-postgres restarts it,
# stop-redis / start-redis stop and start Redis (the chaos suite's outage), stop-postgres / stop-all stop them.
# Prints the environment to use, e.g.:  eval "$(tests/integration/services.sh)"
set -euo pipefail

SERVICES_DIR="${WFLO_SERVICES_DIR:-/tmp/wflo-services}"
PG_PORT="${WFLO_PG_PORT:-55432}"
REDIS_PORT="${WFLO_REDIS_PORT:-56379}"
mkdir -p "$SERVICES_DIR"

log() { echo "services: $*" >&2; }

apt_install() {
  # apt-get update only when a package is actually missing (it is slow and needs the registry).
  if [ "$(id -u)" != 0 ]; then log "need root to apt-get install $*"; exit 1; fi
  log "installing $* (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  [ -n "$dir" ] && [ -x "$dir/postgres" ] && echo "$dir"
}

start_postgres() {
  local bin data
  bin="$(pg_bin || true)"
  if [ -z "$bin" ]; then
    apt_install postgresql
    bin="$(pg_bin)"
  fi
  data="$SERVICES_DIR/postgres"
  # PostgreSQL refuses to run as root: the cluster belongs to the package's postgres user.
  local as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); chown postgres:postgres "$SERVICES_DIR" 2>/dev/null || true; fi
  if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
    if [ ! -s "$data/PG_VERSION" ]; then
      log "initdb $data"
      mkdir -p "$data"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$data"
      "${as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >&2
  fi
  for db in wflo_test; do
    if ! "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
      "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$db"
    fi
  done
  echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/wflo_test"
}

start_redis() {
  # Debian's redis-server (Valkey's protocol is the same); no persistence, loopback only.
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then apt_install redis-server redis-tools; fi
  if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "starting Redis on 127.0.0.1:$REDIS_PORT"
    mkdir -p "$SERVICES_DIR/redis"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize yes \
      --dir "$SERVICES_DIR/redis" --logfile "$SERVICES_DIR/redis/redis.log" --protected-mode yes >&2
    for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "export REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
}

# A real fault for the fault tests: `services.sh restart-postgres` restarts the running server (fast mode:
# sessions are cut with 57P01, as in a failover or an upgrade) and waits until it accepts connections again.
restart_postgres() {
  local bin as=()
  bin="$(pg_bin)"
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$bin/pg_ctl" -D "$SERVICES_DIR/postgres" -l "$SERVICES_DIR/postgres/server.log" -w -t 60 -m fast restart >&2
}

# Redis gone for real (the chaos suite's outage): the server exits; `start-redis` brings it back, empty.
stop_redis() {
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 || return 0; sleep 0.1; done
  log "Redis on :$REDIS_PORT did not stop"; return 1
}

stop_postgres() {
  local bin as=()
  bin="$(pg_bin)" || return 0
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
    "${as[@]}" "$bin/pg_ctl" -D "$SERVICES_DIR/postgres" -w -t 60 -m fast stop >&2
  fi
}

services=("$@")
[ ${#services[@]} -eq 0 ] && services=(postgres redis)
for s in "${services[@]}"; do
  case "$s" in
    postgres) start_postgres ;;
    redis) start_redis ;;
    restart-postgres) restart_postgres ;;
    stop-postgres) stop_postgres ;;
    stop-redis) stop_redis ;;
    start-redis) start_redis ;;
    stop-all) stop_redis; stop_postgres ;;
    *) log "unknown service $s"; exit 2 ;;
  esac
done
