#!/usr/bin/env bash
# Fetches (once, cached) Apache Kafka's jars from Maven Central and starts a single KRaft broker on loopback,
# idempotently, with no Docker. Usage: tests/integration/kafka.sh [start|stop|restart|status]
# Prints the environment to use, e.g.:  eval "$(tests/integration/kafka.sh)"
# `stop` and `start` again are the "broker down" fault of the Kafka suites (data survives under the data dir).
set -euo pipefail

KAFKA_VERSION="${WFLO_KAFKA_VERSION:-4.1.1}"
KAFKA_PORT="${WFLO_KAFKA_PORT:-59092}"
CONTROLLER_PORT="${WFLO_KAFKA_CONTROLLER_PORT:-59093}"
DATA_DIR="${WFLO_KAFKA_DIR:-/tmp/wflo-kafka}"
CACHE_DIR="${WFLO_KAFKA_CACHE:-$HOME/.cache/wflo-kafka}/$KAFKA_VERSION"
LIBS="$CACHE_DIR/libs"

log() { echo "kafka: $*" >&2; }

# The broker's runtime classpath, resolved from Maven Central by Maven itself (the pom of kafka_2.13 and its
# transitive runtime dependencies, plus kafka-tools for the storage formatter's dependencies): no pinned list
# to drift, and the download happens once per version.
fetch_jars() {
  [ -f "$LIBS/.complete" ] && return 0
  command -v mvn >/dev/null || { log "need Maven (mvn) to fetch the Kafka jars"; exit 1; }
  command -v java >/dev/null || { log "need Java 17+"; exit 1; }
  log "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime dependencies into $LIBS"
  mkdir -p "$CACHE_DIR"
  cat >"$CACHE_DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>wflo</groupId><artifactId>kafka-broker</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
  rm -rf "$LIBS"
  mvn -q -B -f "$CACHE_DIR/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2
  touch "$LIBS/.complete"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_kafka() {
  if port_open "$KAFKA_PORT"; then
    echo "export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  fetch_jars
  mkdir -p "$DATA_DIR"
  cat >"$DATA_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR/data
num.partitions=6
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
  cat >"$DATA_DIR/log4j.properties" <<L4J
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$DATA_DIR/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
L4J
  # Log4j 2 is on the classpath too (kafka-tools); the broker logs through slf4j → reload4j, so Log4j 2's
  # status logger is silenced. A test broker: C1 only and the serial collector start it faster on 2 cores.
  local cp="$LIBS/*" jvm=(-Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true -Dlog4j2.statusLoggerLevel=OFF)
  if [ ! -f "$DATA_DIR/data/meta.properties" ]; then
    log "formatting KRaft storage in $DATA_DIR/data"
    java "${jvm[@]}" -Dlog4j.configuration="file:$DATA_DIR/log4j.properties" \
      -cp "$cp" kafka.tools.StorageTool format --standalone -t wflo-test-cluster-0000001 -c "$DATA_DIR/server.properties" >&2 \
      || java "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format -t wflo-test-cluster-0000001 -c "$DATA_DIR/server.properties" >&2
  fi
  log "starting Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$KAFKA_PORT"
  nohup java "${jvm[@]}" -Dlog4j.configuration="file:$DATA_DIR/log4j.properties" \
    -cp "$cp" kafka.Kafka "$DATA_DIR/server.properties" >"$DATA_DIR/stdout.log" 2>&1 &
  echo $! >"$DATA_DIR/kafka.pid"
  for _ in $(seq 1 600); do
    port_open "$KAFKA_PORT" && break
    kill -0 "$(cat "$DATA_DIR/kafka.pid")" 2>/dev/null || { log "broker exited:"; tail -n 30 "$DATA_DIR/stdout.log" "$DATA_DIR/server.log" >&2 || true; exit 1; }
    sleep 0.1
  done
  port_open "$KAFKA_PORT" || { log "broker did not listen within 60 s"; exit 1; }
  echo "export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
}

# Stops the broker this script started (by its pid file, never by name) and waits until it has gone.
stop_kafka() {
  local pid
  [ -f "$DATA_DIR/kafka.pid" ] || return 0
  pid="$(cat "$DATA_DIR/kafka.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping broker (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$DATA_DIR/kafka.pid"
}

case "${1:-start}" in
  start) start_kafka ;;
  stop) stop_kafka ;;
  restart) stop_kafka; start_kafka ;;
  status) port_open "$KAFKA_PORT" && echo "up 127.0.0.1:$KAFKA_PORT" || { echo down; exit 1; } ;;
  fetch) fetch_jars ;;
  *) log "unknown command $1"; exit 2 ;;
esac
