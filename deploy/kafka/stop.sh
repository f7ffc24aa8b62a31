#!/usr/bin/env bash
# Stop the broker started by deploy/kafka/start.sh (SIGTERM, then SIGKILL after a timeout).
#
#   deploy/kafka/stop.sh            stop; keep the data (next start reuses topics/offsets)
#   deploy/kafka/stop.sh --clean    stop and delete the run dir's data, config, logs, ports
#
# Env: KAFKA_RUN_DIR (default deploy/kafka/run), KAFKA_STOP_TIMEOUT (seconds, default 30).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN_DIR="${KAFKA_RUN_DIR:-$HERE/run}"
TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
CLEAN=0
for arg in "$@"; do
    case $arg in
        --clean) CLEAN=1 ;;
        -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--clean]" >&2; exit 2 ;;
    esac
done

say() { echo "[kafka] $*" >&2; }

if [[ ! -d $RUN_DIR ]]; then
    say "not running (no $RUN_DIR)"
    exit 0
fi
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
PID_FILE="$RUN_DIR/kafka.pid"
PROPS="$RUN_DIR/server.properties"

exec 9>"$RUN_DIR/.lock"
flock -w 300 9 || { say "ERROR: could not lock $RUN_DIR/.lock"; exit 1; }

pid=""
if [[ -s $PID_FILE ]]; then
    pid="$(<"$PID_FILE")"
    if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null ||
        ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS"; then
        pid=""  # stale pid file (or pid reused by something else)
    fi
fi

if [[ -z $pid ]]; then
    say "not running"
else
    say "stopping pid $pid (SIGTERM, SIGKILL after ${TIMEOUT}s)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            say "still alive after ${TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            break
        fi
        sleep 0.2
    done
    say "stopped"
fi
rm -f "$PID_FILE" "$RUN_DIR/bootstrap"

if ((CLEAN)); then
    # only what start.sh creates, so a KAFKA_RUN_DIR pointing at a shared folder is safe
    rm -rf "$RUN_DIR/data" "$RUN_DIR/server.properties" "$RUN_DIR/cluster.id" "$RUN_DIR/cluster.id.tmp" \
        "$RUN_DIR/ports" "$RUN_DIR/kafka.log" "$RUN_DIR/kafka.log.1"
    rm -f "$RUN_DIR/.lock"
    rmdir "$RUN_DIR" 2>/dev/null || true
    say "cleaned $RUN_DIR"
fi
