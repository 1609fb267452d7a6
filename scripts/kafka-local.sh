#!/usr/bin/env bash
# A single-node Apache Kafka 4.x broker (KRaft, broker and controller in one
# JVM) on 127.0.0.1, for the integration tests and for anyone without Docker.
# Maven fetches kafka_2.13 and its runtime dependencies from Maven Central
# into its local repository (~/.m2) through scripts/kafka/pom.xml; nothing is
# downloaded by hand and no jar is committed. Needs Java 17+ and Maven.
#
#   scripts/kafka-local.sh run -- COMMAND [ARGS...]
#       Starts a fresh broker in a temporary directory, runs COMMAND with
#       NORMWATCH_TEST_BROKERS=127.0.0.1:PORT (and NORMWATCH_TEST_KAFKA_CTL,
#       KAFKA_LOCAL_DIR, so a test can stop and start the broker, and
#       NORMWATCH_TEST_AUTO_CREATE, whether the broker creates topics on
#       demand), then stops the broker and deletes its directory. Exits with
#       COMMAND's status.
#   scripts/kafka-local.sh start
#       Starts the broker of KAFKA_LOCAL_DIR, formatting its storage the
#       first time; a stopped broker restarts with its topics and offsets.
#   scripts/kafka-local.sh stop      stops it, keeping its data
#   scripts/kafka-local.sh status    tells whether it runs, and where
#   scripts/kafka-local.sh clean     stops it and deletes its data
#   scripts/kafka-local.sh classpath prints the broker's classpath
#
# Environment: KAFKA_LOCAL_DIR (default ${TMPDIR:-/tmp}/normwatch-kafka),
# KAFKA_LOCAL_PORT (default 9092, the controller on the next port; `run`
# picks a free one), KAFKA_LOCAL_AUTO_CREATE (default true: the broker's
# auto.create.topics.enable, set when its storage is first formatted),
# KAFKA_VERSION (default: the pom's), JAVA (default java), KAFKA_HEAP_OPTS
# (default -Xms256m -Xmx1g).
set -euo pipefail

self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
pom=$(dirname "$self")/kafka/pom.xml
dir=${KAFKA_LOCAL_DIR:-${TMPDIR:-/tmp}/normwatch-kafka}
java=${JAVA:-java}

say() { echo "kafka-local: $*" >&2; }
die() { say "$*"; exit 1; }

check_java() {
  command -v "$java" >/dev/null || die "no java on PATH (set JAVA): Kafka 4 needs Java 17 or later"
  local v
  v=$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ -n "$v" ] && [ "$v" -ge 17 ] || die "$java is Java ${v:-unknown}; Kafka 4 needs Java 17 or later"
}

# classpath resolves the broker's jars with Maven, once per pom and version:
# the list is cached beside Maven's repository, the jars stay in it.
classpath() {
  local key cache
  key=$( { cat "$pom"; echo "${KAFKA_VERSION:-}"; } | sha256sum | cut -c1-16)
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/normwatch/kafka-classpath-$key.txt
  if [ -s "$cache" ] && tr ':' '\n' <"$cache" | while read -r j; do [ -f "$j" ] || exit 1; done; then
    cat "$cache"
    return
  fi
  command -v mvn >/dev/null || die "no mvn on PATH: Maven fetches the broker from Maven Central"
  mkdir -p "$(dirname "$cache")"
  local args=(-B -q -Dstyle.color=never -f "$pom" dependency:build-classpath -Dmdep.includeScope=runtime "-Dmdep.outputFile=$cache.tmp")
  [ -n "${KAFKA_VERSION:-}" ] && args+=("-Dkafka.version=$KAFKA_VERSION")
  say "resolving Apache Kafka ${KAFKA_VERSION:-of the pom} with Maven"
  mvn "${args[@]}" >&2 || die "Maven could not resolve the broker (see above)"
  mv "$cache.tmp" "$cache"
  cat "$cache"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local p
  for p in $(seq 19092 2 19192); do
    if ! port_open "$p" && ! port_open $((p + 1)); then echo "$p"; return; fi
  done
  die "no free port pair in 19092-19193"
}

pid_running() { [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; }

write_config() {
  local port=$1
  cat >"$dir/server.properties" <<EOF
# Written by scripts/kafka-local.sh: one node, broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$((port + 1))
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=${KAFKA_LOCAL_AUTO_CREATE:-true}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# A new group forms at once, and the tests may use sessions shorter than
# Kafka's default minimum of 6 s so that a killed member's partitions move
# within seconds.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
EOF
}

start() {
  check_java
  mkdir -p "$dir"
  if pid_running; then
    say "already running (pid $(cat "$dir/pid")) on 127.0.0.1:$(cat "$dir/port")"
    return
  fi
  local cp port
  cp=$(classpath)
  if [ ! -f "$dir/data/meta.properties" ]; then
    port=${KAFKA_LOCAL_PORT:-9092}
    port_open "$port" && die "127.0.0.1:$port is taken (set KAFKA_LOCAL_PORT)"
    echo "$port" >"$dir/port"
    write_config "$port"
    local id
    # A cluster id is 16 random bytes in URL-safe base64. One that begins
    # with "-" would read as an option to the storage tool, so draw again
    # (Kafka's own generator avoids those for the same reason).
    id=-
    while [ "${id#-}" != "$id" ]; do
      id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
    "$java" -cp "$cp" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
      kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
      { cat "$dir/format.log" >&2; die "formatting the storage failed"; }
  fi
  port=$(cat "$dir/port")
  : >"$dir/server.log"
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list of options
  nohup "$java" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -Dorg.slf4j.simpleLogger.logFile="$dir/server.log" \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -cp "$cp" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  local i
  for i in $(seq 1 600); do
    if ! pid_running; then
      tail -n 40 "$dir/server.log" "$dir/stdout.log" >&2 || true
      rm -f "$dir/pid"
      die "the broker exited while starting (logs above, in $dir)"
    fi
    if grep -q "Kafka Server started" "$dir/server.log" && port_open "$port"; then
      say "Apache Kafka on 127.0.0.1:$port (pid $(cat "$dir/pid"), data and logs in $dir) after $((i / 10)).$((i % 10)) s"
      return
    fi
    sleep 0.1
  done
  stop
  die "the broker did not answer within 60 s (logs in $dir)"
}

stop() {
  if ! pid_running; then
    rm -f "$dir/pid"
    return
  fi
  local pid i
  pid=$(cat "$dir/pid")
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "the broker did not stop within 30 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$dir/pid"
  say "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  clean) stop; rm -rf "$dir" ;;
  classpath) classpath ;;
  status)
    if pid_running; then echo "running: 127.0.0.1:$(cat "$dir/port") (pid $(cat "$dir/pid"), $dir)"; else echo "stopped ($dir)"; exit 3; fi ;;
  run)
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: $0 run -- COMMAND [ARGS...]"
    dir=$(mktemp -d "${TMPDIR:-/tmp}/normwatch-kafka.XXXXXX")
    export KAFKA_LOCAL_DIR=$dir
    trap 'stop; rm -rf "$dir"' EXIT
    trap 'exit 130' INT TERM
    KAFKA_LOCAL_PORT=$(free_port) start
    export NORMWATCH_TEST_BROKERS=127.0.0.1:$(cat "$dir/port")
    export NORMWATCH_TEST_KAFKA_CTL=$self
    export NORMWATCH_TEST_AUTO_CREATE=${KAFKA_LOCAL_AUTO_CREATE:-true}
    set +e
    "$@"
    rc=$?
    set -e
    exit "$rc"
    ;;
  *)
    sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
