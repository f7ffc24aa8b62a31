#!/usr/bin/env bash
# Start (idempotently) a single-node Apache Kafka broker, KRaft combined mode, on 127.0.0.1.
#
#   deploy/kafka/start.sh            -> last line of stdout: 127.0.0.1:<port>
#   BOOTSTRAP=$(deploy/kafka/start.sh | tail -n1)
#
# Env (all optional):
#   KAFKA_PORT             client (PLAINTEXT) port       default: last run's port if free, else a free one
#   KAFKA_CONTROLLER_PORT  controller (KRaft) port       default: idem
#   KAFKA_RUN_DIR          run dir (props, data, log, pid, bootstrap)   default: deploy/kafka/run
#   KAFKA_START_TIMEOUT    seconds to wait for readiness                default: 60
#   KAFKA_HEAP_OPTS        JVM heap flags                               default: -Xms128m -Xmx512m
#   KAFKA_JVM_OPTS         extra JVM flags
#   KAFKA_MVN_OPTS         extra Maven flags for the one-time download (e.g. -o, -Dmaven.repo.local=...)
#
# Everything except the bootstrap address goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIST="$HERE/dist"
LIB="$DIST/lib"
RUN_DIR="${KAFKA_RUN_DIR:-$HERE/run}"
TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
LOG4J_CONF="$HERE/log4j2.properties"
READY_LINE='Kafka Server started'

say() { echo "[kafka] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
PID_FILE="$RUN_DIR/kafka.pid"
LOG_FILE="$RUN_DIR/kafka.log"
PROPS="$RUN_DIR/server.properties"
DATA_DIR="$RUN_DIR/data"
BOOT_FILE="$RUN_DIR/bootstrap"
PORTS_FILE="$RUN_DIR/ports"
CLUSTER_ID_FILE="$RUN_DIR/cluster.id"

# One start/stop at a time per run dir (fd 9 is closed for the broker itself, below).
exec 9>"$RUN_DIR/.lock"
flock -w 300 9 || die "could not lock $RUN_DIR/.lock"

# --- helpers -----------------------------------------------------------------------------
broker_pid() {  # prints the pid if the broker of this run dir is alive
    local pid
    [[ -s $PID_FILE ]] || return 1
    pid="$(<"$PID_FILE")"
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # guard against pid reuse: it must be our kafka.Kafka with our props file
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS" || return 1
    echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# port_free PORT: can we bind 127.0.0.1:PORT (with SO_REUSEADDR, as the broker does)?
port_free() {
    python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
PY
}

# two distinct free loopback ports
free_ports() {
    python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

kill_broker() {  # kill_broker PID: TERM, then KILL after 10 s
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

fail() {
    say "ERROR: $*"
    if [[ -f $LOG_FILE ]]; then
        say "---- last 60 lines of $LOG_FILE ----"
        tail -n 60 "$LOG_FILE" >&2
        say "-------------------------------------"
    fi
    exit 1
}

# --- already running? ----------------------------------------------------------------------
if pid="$(broker_pid)"; then
    bootstrap="$(cat "$BOOT_FILE" 2>/dev/null || true)"
    if [[ -n $bootstrap ]] && port_open "${bootstrap##*:}"; then
        say "already running (pid $pid), log: $LOG_FILE"
        echo "$bootstrap"
        exit 0
    fi
    say "pid $pid is alive but not serving; restarting it"
    kill_broker "$pid"
fi
rm -f "$PID_FILE" "$BOOT_FILE"

# --- (a) broker classpath from Maven Central (first run only) -----------------------------------
command -v java >/dev/null || die "java not found (Kafka 4.x needs Java 17+)"
KAFKA_VERSION="$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$HERE/pom.xml" | head -n1)"
[[ -n $KAFKA_VERSION ]] || die "no <kafka.version> in $HERE/pom.xml"
if [[ -f $DIST/.complete && "$(<"$DIST/.complete")" == "$KAFKA_VERSION" ]] && compgen -G "$LIB/*.jar" >/dev/null; then
    :  # cached: no Maven, works offline
else
    command -v mvn >/dev/null || die "mvn not found and $LIB is empty"
    say "fetching the Kafka $KAFKA_VERSION runtime from Maven Central into $LIB (first run only)..."
    tmp="$DIST/lib.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$DIST"
    t0=$SECONDS
    # (Debian's Maven 3.8 prints stray ANSI resets even with -q: keep its output in a file,
    # shown only on failure.)
    # shellcheck disable=SC2086
    if ! mvn -B -q -f "$HERE/pom.xml" ${KAFKA_MVN_OPTS:-} -Dkafka.dist.dir="$tmp" \
        dependency:copy-dependencies >"$DIST/mvn.log" 2>&1; then
        sed 's/\x1b\[[0-9;]*m//g' "$DIST/mvn.log" | grep -v '^$' >&2 || true
        rm -rf "$tmp"
        die "maven could not resolve the Kafka $KAFKA_VERSION runtime (see above)"
    fi
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || { rm -rf "$tmp"; die "no kafka_2.13 jar in $tmp"; }
    rm -rf "$LIB"
    mv "$tmp" "$LIB"
    echo "$KAFKA_VERSION" >"$DIST/.complete"
    say "fetched $(find "$LIB" -name "*.jar" | wc -l) jars in $((SECONDS - t0)) s"
fi
CP="$LIB/*"

# --- (b) ports ---------------------------------------------------------------------------------
PORT="${KAFKA_PORT:-}"
CPORT="${KAFKA_CONTROLLER_PORT:-}"
if [[ -z $PORT || -z $CPORT ]] && [[ -s $PORTS_FILE ]]; then
    read -r prev_port prev_cport <"$PORTS_FILE" || true
    # reuse last run's ports when still free, so the bootstrap address stays stable
    if [[ -z $PORT && -n ${prev_port:-} && ${prev_port} != "$CPORT" ]] && port_free "$prev_port"; then PORT=$prev_port; fi
    if [[ -z $CPORT && -n ${prev_cport:-} && ${prev_cport} != "$PORT" ]] && port_free "$prev_cport"; then CPORT=$prev_cport; fi
fi
if [[ -z $PORT || -z $CPORT ]]; then
    read -r p1 p2 < <(free_ports)
    if [[ -z $PORT ]]; then PORT=$p1; [[ $PORT == "$CPORT" ]] && PORT=$p2; fi
    if [[ -z $CPORT ]]; then CPORT=$p2; [[ $CPORT == "$PORT" ]] && CPORT=$p1; fi
fi
[[ $PORT =~ ^[0-9]+$ && $CPORT =~ ^[0-9]+$ && $PORT != "$CPORT" ]] || die "bad ports: client=$PORT controller=$CPORT"
port_free "$PORT" || die "127.0.0.1:$PORT (client port) is in use"
port_free "$CPORT" || die "127.0.0.1:$CPORT (controller port) is in use"
echo "$PORT $CPORT" >"$PORTS_FILE"

# --- (c) render server.properties ------------------------------------------------------------------
mkdir -p "$DATA_DIR"
props="$(<"$HERE/server.properties")"
props="${props//'@KAFKA_PORT@'/"$PORT"}"
props="${props//'@KAFKA_CONTROLLER_PORT@'/"$CPORT"}"
props="${props//'@KAFKA_DATA_DIR@'/"$DATA_DIR"}"
[[ $props != *'@KAFKA_'* ]] || die "unrendered placeholder left in server.properties"
printf '# GENERATED by start.sh from %s -- edit that file instead.\n%s\n' \
    "$HERE/server.properties" "$props" >"$PROPS"

# new log for this run (keep the previous one for post-mortems)
[[ -f $LOG_FILE ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
: >"$LOG_FILE"

JAVA_LOG_OPTS=(-Dlog4j2.configurationFile="$LOG4J_CONF" -Dkafka.logs.dir="$RUN_DIR")

# --- (d) format storage once -----------------------------------------------------------------------
if [[ ! -f $DATA_DIR/meta.properties ]]; then
    if [[ ! -s $CLUSTER_ID_FILE ]]; then
        java -Xmx128m "${JAVA_LOG_OPTS[@]}" -cp "$CP" kafka.tools.StorageTool random-uuid \
            2>>"$LOG_FILE" | tail -n1 >"$CLUSTER_ID_FILE.tmp" || fail "StorageTool random-uuid failed"
        mv "$CLUSTER_ID_FILE.tmp" "$CLUSTER_ID_FILE"
    fi
    cluster_id="$(<"$CLUSTER_ID_FILE")"
    say "formatting $DATA_DIR (cluster id $cluster_id)"
    java -Xmx256m "${JAVA_LOG_OPTS[@]}" -cp "$CP" kafka.tools.StorageTool format \
        -t "$cluster_id" -c "$PROPS" --ignore-formatted >>"$LOG_FILE" 2>&1 ||
        fail "StorageTool format failed"
fi

# --- (e) launch ----------------------------------------------------------------------------------
# shellcheck disable=SC2086
setsid java $HEAP_OPTS \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    "${JAVA_LOG_OPTS[@]}" ${KAFKA_JVM_OPTS:-} \
    -cp "$CP" kafka.Kafka "$PROPS" \
    </dev/null >>"$LOG_FILE" 2>&1 9>&- &
pid=$!
echo "$pid" >"$PID_FILE"
say "starting Kafka $KAFKA_VERSION (pid $pid) on 127.0.0.1:$PORT, controller 127.0.0.1:$CPORT, log: $LOG_FILE"

# --- (f) wait for readiness: the KRaft server logged "Kafka Server started" (logged only after the
# broker caught up with the metadata log and was unfenced) AND the client port accepts connections.
deadline=$((SECONDS + TIMEOUT))
until grep -qF "$READY_LINE" "$LOG_FILE" && port_open "$PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then
        rm -f "$PID_FILE"
        fail "the broker exited during startup"
    fi
    if ((SECONDS >= deadline)); then
        kill_broker "$pid"
        rm -f "$PID_FILE"
        fail "the broker was not ready within ${TIMEOUT}s"
    fi
    sleep 0.2
done

echo "127.0.0.1:$PORT" >"$BOOT_FILE"
say "ready after $((SECONDS - deadline + TIMEOUT)) s"
echo "127.0.0.1:$PORT"
