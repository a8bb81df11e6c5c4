#!/usr/bin/env bash
# Run a real Apache Kafka broker (KRaft, no ZooKeeper, no Docker) on loopback.
#
#   deploy/kafka.sh fetch                      copy Kafka jars into the cache (Maven)
#   deploy/kafka.sh start  [--port N]          start one combined broker+controller, print bootstrap
#   deploy/kafka.sh stop   [--port N]          SIGTERM (controlled shutdown), SIGKILL after a timeout
#   deploy/kafka.sh status [--port N]          exit 0 if running, 3 if not
#   deploy/kafka.sh wipe   [--port N]          stop and delete the data dir
#   deploy/kafka.sh logs   [--port N] [-f] [-n LINES]
#   deploy/kafka.sh cluster start|stop|status|wipe|bootstrap [--base-port N]
#   deploy/kafka.sh cluster start-node|stop-node|kill-node|logs|pid NODE [--base-port N]
#   deploy/kafka.sh run-class MAIN_CLASS ARGS...   a Kafka tool with the cached jars, e.g.
#                                  org.apache.kafka.tools.ProducerPerformance
#
# Environment (all optional):
#   VBP_CACHE_DIR              cache root (default <repo>/.cache)
#   VBP_KAFKA_PORT             broker port of the single node (default 9092)
#   VBP_KAFKA_CONTROLLER_PORT  its controller port (default port+1)
#   VBP_KAFKA_DATA             its data dir (default $VBP_CACHE_DIR/kafka-data-<port>)
#   VBP_KAFKA_CLUSTER_PORT     cluster base port (default 19092): brokers base..base+2,
#                              controllers base+3..base+5
#   VBP_KAFKA_CLUSTER_DATA     cluster data root (default $VBP_CACHE_DIR/kafka-cluster-<base>)
#   VBP_KAFKA_AUTO_CREATE_TOPICS  auto.create.topics.enable (default false)
#   VBP_KAFKA_EXTRA_PROPERTIES    space-separated key=value lines appended to server.properties
#   VBP_KAFKA_HEAP_OPTS        JVM heap flags (default "-Xms256m -Xmx512m")
#   VBP_KAFKA_JVM_OPTS         extra JVM flags
#   VBP_KAFKA_START_TIMEOUT    seconds to wait for readiness (default 90)
#   VBP_KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM before SIGKILL (default 30)
#   VBP_KAFKA_VERSION          Kafka version (default: the pinned one below; change only to test)
#   JAVA_HOME / VBP_JAVA       Java 17+ to use
#
# Only the bootstrap address goes to stdout; messages go to stderr.
set -euo pipefail

readonly PINNED_KAFKA_VERSION="4.4.0"
readonly STARTED_LINE="Kafka Server started"
readonly MARKER_FILE=".vbp-kafka-data"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
readonly SCRIPT_DIR REPO_DIR

KAFKA_VERSION="${VBP_KAFKA_VERSION:-$PINNED_KAFKA_VERSION}"
CACHE_DIR="${VBP_CACHE_DIR:-$REPO_DIR/.cache}"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
LIBS_DIR="$KAFKA_HOME/libs"
POM="$SCRIPT_DIR/kafka/pom.xml"
LOG4J2_CONFIG="$SCRIPT_DIR/kafka/log4j2.xml"
TOOLS_LOG4J2_CONFIG="$SCRIPT_DIR/kafka/tools-log4j2.xml"
START_TIMEOUT="${VBP_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${VBP_KAFKA_STOP_TIMEOUT:-30}"
CLUSTER_NODES=3

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
}

now_ms() { date +%s%3N; }

# ---------------------------------------------------------------------------------------------
# fetch

java_bin() {
  if [[ -n "${VBP_JAVA:-}" ]]; then
    printf '%s\n' "$VBP_JAVA"
  elif [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    printf '%s\n' "$JAVA_HOME/bin/java"
  else
    command -v java || die "java not found (Kafka 4 needs Java 17+; set JAVA_HOME or VBP_JAVA)"
  fi
}

fetch_stamp() {
  local pom_sum
  pom_sum="$(sha256sum "$POM" | cut -c1-64)"
  printf 'kafka %s pom %s\n' "$KAFKA_VERSION" "$pom_sum"
}

is_fetched() {
  [[ -f "$KAFKA_HOME/.fetched" && -d "$LIBS_DIR" ]] &&
    [[ "$(cat "$KAFKA_HOME/.fetched")" == "$(fetch_stamp)" ]]
}

cmd_fetch() {
  if is_fetched; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch Kafka jars)"
  mkdir -p "$KAFKA_HOME"
  # Serialise concurrent fetches (tests may start several brokers at once).
  exec 8>"$KAFKA_HOME/.lock"
  flock 8
  if is_fetched; then
    exec 8>&-
    return 0
  fi
  local t0 work
  t0="$(now_ms)"
  work="$(mktemp -d "$KAFKA_HOME/fetch.XXXXXX")"
  cp "$POM" "$work/pom.xml"
  log "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and runtime dependencies with Maven..."
  local out
  if ! out="$(mvn -q -B -Dstyle.color=never -f "$work/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -Dkafka.libs.dir="$work/libs" 2>&1)"; then
    printf '%s\n' "$out" >&2
    rm -rf "$work"
    die "maven failed to fetch Kafka $KAFKA_VERSION"
  fi
  [[ -f "$work/libs/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
  rm -rf "$LIBS_DIR"
  mv "$work/libs" "$LIBS_DIR"
  rm -rf "$work"
  fetch_stamp >"$KAFKA_HOME/.fetched"
  exec 8>&-
  log "fetched $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars into $LIBS_DIR in $(($(now_ms) - t0)) ms"
}

# ---------------------------------------------------------------------------------------------
# one node (used by the single broker and by each cluster node)

kafka_java() {
  # Usage: kafka_java MAIN_CLASS ARGS...   (foreground, e.g. the storage tool or the perf tools)
  local java
  java="$(java_bin)"
  "$java" -Xmx256m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="file:$TOOLS_LOG4J2_CONFIG" \
    -cp "$LIBS_DIR/*" "$@"
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

node_pid() {
  # Prints the pid of the broker of data dir $1 if it is alive, else fails.
  local data="$1" pid
  [[ -f "$data/kafka.pid" ]] || return 1
  pid="$(cat "$data/kafka.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: the process must be our broker for this data dir.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $data/server.properties" || return 1
  printf '%s\n' "$pid"
}

new_cluster_id() {
  # 16 random bytes, URL-safe base64 without padding: the 22-character form Kafka expects.
  # Like Kafka's own Uuid.randomUuid, never one that starts with '-': its tools would read it as
  # an option (one id in 64 did, and formatting failed).
  local id="-"
  while [[ "$id" == -* ]]; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  printf '%s\n' "$id"
}

write_node_config() {
  # Usage: write_node_config DATA NODE_ID PORT CONTROLLER_PORT VOTERS REPLICATION MIN_ISR
  local data="$1" node_id="$2" port="$3" cport="$4" voters="$5" rf="$6" min_isr="$7"
  local auto_create="${VBP_KAFKA_AUTO_CREATE_TOPICS:-false}"
  mkdir -p "$data"
  touch "$data/$MARKER_FILE"
  cat >"$data/server.properties" <<EOF
# Written by deploy/kafka.sh at every start; edit the script, not this file.
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$data/kraft-combined-logs

# Topics are created explicitly by the services (admin client / faust declare).
auto.create.topics.enable=$auto_create
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$min_isr

# Internal topics sized for this cluster.
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr

# Tests: no delay before the first rebalance of a new group.
group.initial.rebalance.delay.ms=0
EOF
  if ((rf > 1)); then
    # Cluster: faster broker registration/unfencing at start and faster fencing of a dead
    # broker in fault tests (defaults 2000 / 9000 ms).
    printf '\n%s\n%s\n' "broker.heartbeat.interval.ms=500" "broker.session.timeout.ms=6000" \
      >>"$data/server.properties"
  fi
  if [[ -n "${VBP_KAFKA_EXTRA_PROPERTIES:-}" ]]; then
    printf '\n# VBP_KAFKA_EXTRA_PROPERTIES\n' >>"$data/server.properties"
    local -a props
    mapfile -t props < <(tr -s '[:blank:]' '\n' <<<"$VBP_KAFKA_EXTRA_PROPERTIES" | grep -v '^$')
    printf '%s\n' "${props[@]}" >>"$data/server.properties"
  fi
}

format_node() {
  # Formats the KRaft storage once (meta.properties marks it done).
  local data="$1" cluster_id="$2" out
  if [[ -f "$data/kraft-combined-logs/meta.properties" ]]; then
    return 0
  fi
  [[ -n "$cluster_id" ]] || die "no cluster id for $data"
  if ! out="$(kafka_java kafka.tools.StorageTool format --cluster-id="$cluster_id" \
    -c "$data/server.properties" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "formatting KRaft storage in $data failed"
  fi
}

launch_node() {
  # Starts the broker of data dir $1 in the background (own session), log to server.log.
  local data="$1" java
  java="$(java_bin)"
  local -a heap jvm_extra
  read -r -a heap <<<"${VBP_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
  read -r -a jvm_extra <<<"${VBP_KAFKA_JVM_OPTS:-}"
  if [[ -f "$data/server.log" ]]; then
    mv -f "$data/server.log" "$data/server.log.1"
  fi
  rm -f "$data/kafka.pid"
  # Flags as in Kafka's bin/kafka-run-class.sh and kafka-server-start.sh.
  # The inner bash writes its own pid, then execs java, so the pid file holds the JVM's pid.
  # shellcheck disable=SC2016
  setsid -f bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$data/kafka.pid" \
    "$java" "${heap[@]}" \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true \
    "-Xlog:gc*:file=$data/gc.log:time,tags:filecount=2,filesize=10M" \
    -Dkafka.logs.dir="$data" -Dlog4j2.configurationFile="file:$LOG4J2_CONFIG" \
    "${jvm_extra[@]}" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$data/server.properties" \
    </dev/null >>"$data/server.log" 2>&1 8>&- 9>&-
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$data/kafka.pid" ]] && return 0
    sleep 0.1
  done
  die "broker process did not start (see $data/server.log)"
}

node_ready() {
  # Ready = this run's log says "Kafka Server started" (logged after the broker is unfenced
  # and its listeners are open) and the broker port accepts a TCP connection.
  local data="$1" port="$2"
  grep -qF "$STARTED_LINE" "$data/server.log" 2>/dev/null && port_in_use "$port"
}

leaders_settled() {
  # Single node only. On a restart with existing topics every partition is loaded as a
  # follower without leader ("Current leader is -1"); the controller re-elects this node as
  # leader ~0.2 s after "Kafka Server started". Until then clients get (retriable)
  # NOT_LEADER errors. Settled = at least as many "Leader ... starts at leader epoch" lines.
  local data="$1" orphans leaders
  orphans="$(grep -c 'Current leader is -1' "$data/server.log" || true)"
  leaders="$(grep -c '] Leader .* starts at leader epoch' "$data/server.log" || true)"
  ((leaders >= orphans))
}

wait_leaders_settled() {
  local data="$1" deadline
  deadline=$(($(now_ms) + 10000))
  until leaders_settled "$data"; do
    if (($(now_ms) > deadline)); then
      log "warning: some partitions still have no leader 10 s after startup (see $data/server.log)"
      return 0
    fi
    sleep 0.05
  done
}

wait_node_ready() {
  # Usage: wait_node_ready DATA PORT DEADLINE_MS
  local data="$1" port="$2" deadline="$3"
  while ! node_ready "$data" "$port"; do
    if ! node_pid "$data" >/dev/null; then
      tail -n 40 "$data/server.log" >&2 || true
      die "broker in $data exited during startup (log: $data/server.log)"
    fi
    if (($(now_ms) > deadline)); then
      tail -n 40 "$data/server.log" >&2 || true
      die "broker in $data not ready after ${START_TIMEOUT}s (log: $data/server.log)"
    fi
    sleep 0.1
  done
}

signal_node() {
  # Usage: signal_node DATA SIGNAL ; silently does nothing if the node is not running.
  local data="$1" sig="$2" pid
  if pid="$(node_pid "$data")"; then
    kill "-$sig" "$pid" 2>/dev/null || true
  fi
}

wait_node_exit() {
  # Waits until the node stops; SIGKILL once the deadline (ms) passes.
  local data="$1" deadline="$2" pid
  pid="$(node_pid "$data")" || {
    rm -f "$data/kafka.pid"
    return 0
  }
  while kill -0 "$pid" 2>/dev/null; do
    if (($(now_ms) > deadline)); then
      log "broker pid $pid ($data) still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    else
      sleep 0.1
    fi
  done
  rm -f "$data/kafka.pid"
}

stop_nodes() {
  # SIGTERM all given data dirs at once (a KRaft quorum must not be lost one node at a time
  # while the others are still shutting down), then wait for each.
  local data deadline
  for data in "$@"; do
    signal_node "$data" TERM
  done
  deadline=$(($(now_ms) + STOP_TIMEOUT * 1000))
  for data in "$@"; do
    wait_node_exit "$data" "$deadline"
  done
}

safe_remove_data() {
  local data="$1"
  [[ -e "$data" ]] || return 0
  [[ -f "$data/$MARKER_FILE" ]] || die "refusing to delete $data: no $MARKER_FILE in it"
  rm -rf "$data"
}

show_log() {
  # Usage: show_log DATA [-f] [-n LINES]
  local data="$1"
  shift
  local follow=0 lines=200
  while (($#)); do
    case "$1" in
      -f | --follow) follow=1 ;;
      -n | --lines)
        lines="${2:?-n needs a number}"
        shift
        ;;
      *) die "unknown logs option: $1" ;;
    esac
    shift
  done
  [[ -f "$data/server.log" ]] || die "no log at $data/server.log"
  if ((follow)); then
    exec tail -n "$lines" -F "$data/server.log"
  fi
  tail -n "$lines" "$data/server.log"
}

# ---------------------------------------------------------------------------------------------
# single node

PORT=""
REST=()

parse_port() {
  PORT="${VBP_KAFKA_PORT:-9092}"
  REST=()
  while (($#)); do
    case "$1" in
      --port)
        PORT="${2:?--port needs a number}"
        shift
        ;;
      --port=*) PORT="${1#--port=}" ;;
      *) REST+=("$1") ;;
    esac
    shift
  done
  [[ "$PORT" =~ ^[0-9]+$ ]] || die "bad port: $PORT"
}

single_controller_port() {
  if [[ -n "${VBP_KAFKA_CONTROLLER_PORT:-}" ]]; then
    printf '%s\n' "$VBP_KAFKA_CONTROLLER_PORT"
  else
    printf '%s\n' "$((PORT + 1))"
  fi
}

single_data() { printf '%s\n' "${VBP_KAFKA_DATA:-$CACHE_DIR/kafka-data-$PORT}"; }

cmd_start() {
  parse_port "$@"
  local data cport pid t0
  t0="$(now_ms)"
  data="$(single_data)"
  cport="$(single_controller_port)"
  # One start at a time per data dir (concurrent test sessions); the broker does not inherit fd 9.
  mkdir -p "$data"
  exec 9>"$data/.start.lock"
  flock 9
  if pid="$(node_pid "$data")"; then
    log "already running: pid $pid on 127.0.0.1:$PORT (data $data)"
    wait_node_ready "$data" "$PORT" $(($(now_ms) + START_TIMEOUT * 1000))
    printf '127.0.0.1:%s\n' "$PORT"
    return 0
  fi
  local p
  for p in "$PORT" "$cport"; do
    if port_in_use "$p"; then
      die "port $p on 127.0.0.1 is taken by another process (not the broker of $data)"
    fi
  done
  cmd_fetch
  write_node_config "$data" 1 "$PORT" "$cport" "1@127.0.0.1:$cport" 1 1
  [[ -s "$data/cluster.id" ]] || new_cluster_id >"$data/cluster.id"
  format_node "$data" "$(cat "$data/cluster.id")"
  launch_node "$data"
  wait_node_ready "$data" "$PORT" $(($(now_ms) + START_TIMEOUT * 1000))
  wait_leaders_settled "$data"
  log "started Kafka $KAFKA_VERSION pid $(cat "$data/kafka.pid") on 127.0.0.1:$PORT in $(($(now_ms) - t0)) ms (data $data)"
  printf '127.0.0.1:%s\n' "$PORT"
}

cmd_stop() {
  parse_port "$@"
  local data pid
  data="$(single_data)"
  if ! pid="$(node_pid "$data")"; then
    log "not running on port $PORT (data $data)"
    rm -f "$data/kafka.pid"
    return 0
  fi
  stop_nodes "$data"
  log "stopped pid $pid (port $PORT)"
}

cmd_status() {
  parse_port "$@"
  local data pid
  data="$(single_data)"
  if pid="$(node_pid "$data")"; then
    if node_ready "$data" "$PORT"; then
      printf 'running pid %s on 127.0.0.1:%s (data %s)\n' "$pid" "$PORT" "$data"
    else
      printf 'starting pid %s on 127.0.0.1:%s (data %s)\n' "$pid" "$PORT" "$data"
    fi
    return 0
  fi
  printf 'stopped (port %s, data %s)\n' "$PORT" "$data"
  return 3
}

cmd_wipe() {
  cmd_stop "$@"
  local data
  data="$(single_data)"
  safe_remove_data "$data"
  log "wiped $data"
}

cmd_logs() {
  parse_port "$@"
  show_log "$(single_data)" "${REST[@]}"
}

# ---------------------------------------------------------------------------------------------
# three-node cluster: node i (1..3) has broker port base+i-1 and controller port base+3+i-1

BASE_PORT=""

parse_base_port() {
  BASE_PORT="${VBP_KAFKA_CLUSTER_PORT:-19092}"
  REST=()
  while (($#)); do
    case "$1" in
      --base-port)
        BASE_PORT="${2:?--base-port needs a number}"
        shift
        ;;
      --base-port=*) BASE_PORT="${1#--base-port=}" ;;
      *) REST+=("$1") ;;
    esac
    shift
  done
  [[ "$BASE_PORT" =~ ^[0-9]+$ ]] || die "bad base port: $BASE_PORT"
}

cluster_root() { printf '%s\n' "${VBP_KAFKA_CLUSTER_DATA:-$CACHE_DIR/kafka-cluster-$BASE_PORT}"; }
node_data() { printf '%s/node%s\n' "$(cluster_root)" "$1"; }
node_port() { printf '%s\n' "$((BASE_PORT + $1 - 1))"; }
node_cport() { printf '%s\n' "$((BASE_PORT + CLUSTER_NODES + $1 - 1))"; }

cluster_bootstrap() {
  local i out=""
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    out+="${out:+,}127.0.0.1:$(node_port "$i")"
  done
  printf '%s\n' "$out"
}

cluster_voters() {
  local i out=""
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    out+="${out:+,}$i@127.0.0.1:$(node_cport "$i")"
  done
  printf '%s\n' "$out"
}

check_node_arg() {
  if ! [[ "${1:-}" =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > CLUSTER_NODES)); then
    die "node must be 1..$CLUSTER_NODES, got '${1:-}'"
  fi
}

cluster_prepare_node() {
  local i="$1" data root
  root="$(cluster_root)"
  data="$(node_data "$i")"
  local p
  for p in "$(node_port "$i")" "$(node_cport "$i")"; do
    if port_in_use "$p"; then
      die "port $p on 127.0.0.1 is taken by another process (needed by cluster node $i)"
    fi
  done
  write_node_config "$data" "$i" "$(node_port "$i")" "$(node_cport "$i")" "$(cluster_voters)" 3 2
}

cluster_start_nodes() {
  # Launch the given nodes that are not running, all at once (a controller quorum needs a
  # majority up), then wait for every given node.
  local i data t0 deadline root
  t0="$(now_ms)"
  root="$(cluster_root)"
  cmd_fetch
  mkdir -p "$root"
  touch "$root/$MARKER_FILE"
  exec 9>"$root/.start.lock"
  flock 9
  [[ -s "$root/cluster.id" ]] || new_cluster_id >"$root/cluster.id"
  local -a launched=()
  for i in "$@"; do
    data="$(node_data "$i")"
    if node_pid "$data" >/dev/null; then
      log "node $i already running (127.0.0.1:$(node_port "$i"))"
      continue
    fi
    cluster_prepare_node "$i"
    launched+=("$i")
  done
  # Format (first start only; a JVM each, so in parallel), then launch.
  local -a formatting=()
  for i in "${launched[@]+"${launched[@]}"}"; do
    format_node "$(node_data "$i")" "$(cat "$root/cluster.id")" &
    formatting+=("$!")
  done
  local pid
  for pid in "${formatting[@]+"${formatting[@]}"}"; do
    wait "$pid" || die "formatting a cluster node failed"
  done
  for i in "${launched[@]+"${launched[@]}"}"; do
    launch_node "$(node_data "$i")"
  done
  deadline=$(($(now_ms) + START_TIMEOUT * 1000))
  for i in "$@"; do
    wait_node_ready "$(node_data "$i")" "$(node_port "$i")" "$deadline"
  done
  if ((${#launched[@]})); then
    log "started node(s) ${launched[*]} of Kafka $KAFKA_VERSION cluster in $(($(now_ms) - t0)) ms (data $root)"
  fi
}

cmd_cluster() {
  local sub="${1:-}"
  [[ -n "$sub" ]] || {
    usage
    exit 2
  }
  shift
  parse_base_port "$@"
  set -- "${REST[@]+"${REST[@]}"}"
  local i data
  local -a all=() dirs=()
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    all+=("$i")
    dirs+=("$(node_data "$i")")
  done
  case "$sub" in
    start)
      cluster_start_nodes "${all[@]}"
      cluster_bootstrap
      ;;
    stop)
      stop_nodes "${dirs[@]}"
      log "cluster stopped"
      ;;
    status)
      local up=0 pid
      for i in "${all[@]}"; do
        data="$(node_data "$i")"
        if pid="$(node_pid "$data")"; then
          up=$((up + 1))
          printf 'node %s: running pid %s on 127.0.0.1:%s\n' "$i" "$pid" "$(node_port "$i")"
        else
          printf 'node %s: stopped (127.0.0.1:%s)\n' "$i" "$(node_port "$i")"
        fi
      done
      ((up == CLUSTER_NODES)) || return 3
      ;;
    wipe)
      stop_nodes "${dirs[@]}"
      safe_remove_data "$(cluster_root)"
      log "wiped $(cluster_root)"
      ;;
    bootstrap) cluster_bootstrap ;;
    start-node)
      check_node_arg "${1:-}"
      cluster_start_nodes "$1"
      printf '127.0.0.1:%s\n' "$(node_port "$1")"
      ;;
    stop-node)
      check_node_arg "${1:-}"
      stop_nodes "$(node_data "$1")"
      log "node $1 stopped"
      ;;
    kill-node)
      check_node_arg "${1:-}"
      data="$(node_data "$1")"
      signal_node "$data" KILL
      wait_node_exit "$data" $(($(now_ms) + 5000))
      log "node $1 killed"
      ;;
    pid)
      check_node_arg "${1:-}"
      node_pid "$(node_data "$1")" || return 3
      ;;
    logs)
      check_node_arg "${1:-}"
      data="$(node_data "$1")"
      shift
      show_log "$data" "$@"
      ;;
    *)
      usage
      exit 2
      ;;
  esac
}

# ---------------------------------------------------------------------------------------------

main() {
  local cmd="${1:-}"
  [[ -n "$cmd" ]] || {
    usage
    exit 2
  }
  shift
  case "$cmd" in
    fetch) cmd_fetch ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    wipe) cmd_wipe "$@" ;;
    logs) cmd_logs "$@" ;;
    cluster) cmd_cluster "$@" ;;
    run-class)
      # deploy/kafka.sh run-class MAIN_CLASS ARGS...: run a Kafka tool with the cached jars,
      # e.g. org.apache.kafka.tools.ProducerPerformance.
      cmd_fetch
      kafka_java "$@"
      ;;
    -h | --help | help) usage ;;
    *)
      usage
      exit 2
      ;;
  esac
}

# Sourced (by a test) it only defines its functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
