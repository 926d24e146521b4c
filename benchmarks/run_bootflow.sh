#!/usr/bin/env bash
# Start bootflow all-in-one on a fresh SQLite database in a temporary
# directory on a free port, run benchmarks/api_bench.py against it (with
# --pid, so the service's RSS is sampled), then stop it.
#
# Usage: benchmarks/run_bootflow.sh [api_bench.py arguments...]
#   e.g. benchmarks/run_bootflow.sh --nodes 1000,10000 --provision 100
#
# The JSON summary goes to stdout, progress to stderr.
# Environment:
#   PYTHON            interpreter with bootflow + requests (default: python3)
#   BENCH_PORT        port to use (default: a free one)
#   BENCH_KEEP=1      keep the temporary directory (config, DB, log)
#   BENCH_CONF_EXTRA  extra lines appended to the generated config file
#   READY_TIMEOUT     seconds to wait for the service (default 120)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
READY_TIMEOUT=${READY_TIMEOUT:-120}

if ! "$PYTHON" -c 'import bootflow, requests' 2>/dev/null; then
    echo "run_bootflow.sh: $PYTHON cannot import bootflow and requests;" \
         "activate the venv or set PYTHON=" >&2
    exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bootflow-bench.XXXXXX")
PORT=${BENCH_PORT:-$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
ENDPOINT="http://127.0.0.1:$PORT"
PID=

cat > "$WORK/bootflow.conf" <<EOF
[DEFAULT]
host = bench
state_path = $WORK

[api]
host_ip = 127.0.0.1
port = $PORT

[database]
connection = sqlite:///$WORK/bootflow.sqlite

# API figures only: no boot file server on a shared port
[deploy]
http_server_enabled = false
EOF
if [ -n "${BENCH_CONF_EXTRA:-}" ]; then
    printf '%s\n' "$BENCH_CONF_EXTRA" >> "$WORK/bootflow.conf"
fi

stop_service() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        echo "stopping bootflow (pid $PID)" >&2
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 1 60); do
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$PID" 2>/dev/null; then
            echo "bootflow did not stop in 30s; killing pid $PID" >&2
            kill -KILL "$PID" 2>/dev/null || true
        fi
        wait "$PID" 2>/dev/null || true
    fi
    PID=
}

cleanup() {
    local rc=$?
    stop_service
    if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then
        echo "bootflow work dir kept: $WORK (log: $WORK/bootflow.log)" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "starting bootflow on $ENDPOINT (work dir $WORK)" >&2
"$PYTHON" -m bootflow.cmd.aio --config-file "$WORK/bootflow.conf" \
    > "$WORK/bootflow.log" 2>&1 &
PID=$!

ready() {
    "$PYTHON" "$HERE/endpoint_ready.py" "$ENDPOINT"
}

deadline=$((SECONDS + READY_TIMEOUT))
until ready; do
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "bootflow exited during start-up; last log lines:" >&2
        tail -20 "$WORK/bootflow.log" >&2 || true
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "bootflow not ready after ${READY_TIMEOUT}s; last log lines:" >&2
        tail -20 "$WORK/bootflow.log" >&2 || true
        exit 1
    fi
    sleep 0.5
done
echo "bootflow ready (pid $PID)" >&2

set +e
"$PYTHON" "$HERE/api_bench.py" --endpoint "$ENDPOINT" --pid "$PID" \
    --label bootflow "$@"
rc=$?
set -e
if grep -qE 'Traceback|ERROR' "$WORK/bootflow.log"; then
    echo "note: bootflow logged errors; first ones:" >&2
    grep -m 10 -E 'Traceback|ERROR' "$WORK/bootflow.log" >&2 || true
fi
exit "$rc"
