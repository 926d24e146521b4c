#!/usr/bin/env bash
# Provision-cycle benchmark of bootflow with one or several conductors,
# driven by the shared peer harness (/work/shared/peer/bench.py), so that the
# figures compare with the same harness run against OpenStack Ironic.
#
# Usage: benchmarks/run_scaleout.sh [options] [-- bench.py arguments...]
#   --conductors N   1 (default): the all-in-one "bootflow" command on a
#                    fresh SQLite database, in-process RPC.
#                    N >= 2: one "bootflow-api" plus N "bootflow-conductor"
#                    processes (hosts <run>-c1 .. <run>-cN) sharing a fresh
#                    PostgreSQL database and RabbitMQ; the schema is created
#                    with "bootflow-dbsync upgrade" first.
#   --out FILE       result JSON (default: $OUT_DIR/result.json)
#   --out-dir DIR    raw outputs: configs, logs, bench.py JSON and stderr,
#                    sampler summary and timeline (default: a new directory
#                    under benchmarks/results/)
#   --port PORT      API port (default: a free one)
#   bench.py arguments default to
#       --nodes 1000 --provision 1000 --provision-first --no-sdk
#   (given ones replace them all; --endpoint, --pid and --out are added).
#
# The result JSON has the seconds of each phase (manage, provide, deploy,
# undeploy) until all nodes reached the state, the whole cycle, and the peak
# RSS (MiB) and thread count summed over every bootflow process (sampled by
# benchmarks/proc_sampler.py every $SAMPLE_INTERVAL s), over the whole run
# and within the provision cycle.  Exit status: 0 when every phase
# completed for every node, 1 otherwise, 2 on set-up errors.
#
# Environment:
#   BIN_DIR          directory with bootflow, bootflow-api, bootflow-conductor,
#                    bootflow-dbsync (default: /tmp/venv/bin if present, else
#                    found on PATH)
#   BENCH            the harness (default /work/shared/peer/bench.py)
#   BENCH_PYTHON     interpreter for bench.py and the sampler; needs requests
#                    (default python3)
#   PG_HOST PG_PORT PG_USER   PostgreSQL, trust auth (127.0.0.1 5432 postgres)
#   TRANSPORT_URL    default rabbit://guest:guest@127.0.0.1:5672/
#   CONF_EXTRA       lines appended to every generated config file
#   SAMPLE_INTERVAL  seconds between resource samples (0.5)
#   READY_TIMEOUT    seconds to wait for the services (120)
#   BENCH_KEEP=1     keep the work directory (configs, SQLite DB); it is also
#                    kept after a set-up error (exit status 2)
#
# Every process listens on / talks to 127.0.0.1 only.  On exit (normal, error
# or signal) all started processes are stopped and the database is dropped.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BENCH=${BENCH:-/work/shared/peer/bench.py}
BENCH_PYTHON=${BENCH_PYTHON:-python3}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-postgres}
TRANSPORT_URL=${TRANSPORT_URL:-rabbit://guest:guest@127.0.0.1:5672/}
SAMPLE_INTERVAL=${SAMPLE_INTERVAL:-0.5}
READY_TIMEOUT=${READY_TIMEOUT:-120}
if [ -z "${BIN_DIR:-}" ]; then
    if [ -x /tmp/venv/bin/bootflow ]; then
        BIN_DIR=/tmp/venv/bin
    else
        BIN_DIR=$(dirname "$(command -v bootflow || echo ./bootflow)")
    fi
fi

CONDUCTORS=1
OUT=
OUT_DIR=
PORT=
BENCH_ARGS=(--nodes 1000 --provision 1000 --provision-first --no-sdk)
while [ $# -gt 0 ]; do
    case $1 in
        --conductors) CONDUCTORS=${2:?}; shift 2 ;;
        --conductors=*) CONDUCTORS=${1#*=}; shift ;;
        --out) OUT=${2:?}; shift 2 ;;
        --out=*) OUT=${1#*=}; shift ;;
        --out-dir) OUT_DIR=${2:?}; shift 2 ;;
        --out-dir=*) OUT_DIR=${1#*=}; shift ;;
        --port) PORT=${2:?}; shift 2 ;;
        --port=*) PORT=${1#*=}; shift ;;
        --) shift; [ $# -gt 0 ] && BENCH_ARGS=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "run_scaleout.sh: unknown option $1 (bench.py arguments go after --)" >&2
           exit 2 ;;
    esac
done
case $CONDUCTORS in
    ''|*[!0-9]*|0) echo "run_scaleout.sh: --conductors needs a positive integer" >&2; exit 2 ;;
esac
for arg in "${BENCH_ARGS[@]}"; do
    case $arg in
        --endpoint*|--pid*|--out*)
            echo "run_scaleout.sh: $arg is set by the script" >&2; exit 2 ;;
    esac
done

need_cmds=(bootflow)
[ "$CONDUCTORS" -ge 2 ] && need_cmds=(bootflow-api bootflow-conductor bootflow-dbsync)
for c in "${need_cmds[@]}"; do
    [ -x "$BIN_DIR/$c" ] || { echo "run_scaleout.sh: $BIN_DIR/$c not found (set BIN_DIR)" >&2; exit 2; }
done
[ -r "$BENCH" ] || { echo "run_scaleout.sh: harness $BENCH not found (set BENCH)" >&2; exit 2; }
"$BENCH_PYTHON" -c 'import requests' 2>/dev/null ||
    { echo "run_scaleout.sh: $BENCH_PYTHON cannot import requests (set BENCH_PYTHON)" >&2; exit 2; }
if [ "$CONDUCTORS" -ge 2 ]; then
    command -v psql > /dev/null || { echo "run_scaleout.sh: psql not found" >&2; exit 2; }
fi

RUN_TAG=bfs$(date +%H%M%S)$$          # lower-case letters and digits only
if [ -z "$OUT_DIR" ]; then
    OUT_DIR=$HERE/results/scaleout-$(date +%Y%m%d-%H%M%S)-c$CONDUCTORS
fi
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
OUT=${OUT:-$OUT_DIR/result.json}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bootflow-scaleout.XXXXXX")
if [ -z "$PORT" ]; then
    PORT=$("$BENCH_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
ENDPOINT=http://127.0.0.1:$PORT

PIDS=()          # service processes, in start order
NAMES=()         # their names, for logs
SAMPLER_PID=
BENCH_PID=
DB_NAME=

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

psql_admin() {
    psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" \
        -d postgres -c "$1"
}

stop_pid() {   # pid, name: TERM, wait up to 30 s, then KILL
    local pid=$1 name=$2
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) did not stop in 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
        kill -INT "$BENCH_PID" 2>/dev/null || true   # bench.py writes partial JSON
        for _ in $(seq 1 20); do kill -0 "$BENCH_PID" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$BENCH_PID" 2>/dev/null || true
        wait "$BENCH_PID" 2>/dev/null || true
    fi
    if [ -n "$SAMPLER_PID" ]; then
        stop_pid "$SAMPLER_PID" sampler
    fi
    # API first (no new work), then the conductors, all signalled at once
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null || true
    done
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[i]}" "${NAMES[i]}"
    done
    if [ "$CONDUCTORS" -ge 2 ] && command -v rabbitmqctl > /dev/null; then
        # best effort (needs the broker's admin rights): the conductors'
        # own queues outlive them (oslo.messaging does not auto-delete them)
        local q
        for q in $(timeout 60 rabbitmqctl -q list_queues name 2>/dev/null |
                   grep -F ".$RUN_TAG-" || true); do
            timeout 30 rabbitmqctl -q delete_queue "$q" > /dev/null 2>&1 || true
        done
    fi
    if [ -n "$DB_NAME" ]; then
        if psql_admin "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" 2>/dev/null ||
           psql_admin "DROP DATABASE IF EXISTS \"$DB_NAME\""; then
            log "dropped database $DB_NAME"
        else
            log "WARNING: could not drop database $DB_NAME"
        fi
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" = 2 ]; then
        log "work dir kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    log "raw outputs in $OUT_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

write_conf() {   # file host
    local file=$1 host=$2
    {
        echo "[DEFAULT]"
        echo "host = $host"
        echo "state_path = $WORK"
        if [ "$CONDUCTORS" -ge 2 ]; then
            echo "transport_url = $TRANSPORT_URL"
            # our own exchange, so that RPC does not mix with other users
            # of the same broker
            echo "control_exchange = $RUN_TAG"
        fi
        echo
        echo "[api]"
        echo "host_ip = 127.0.0.1"
        echo "port = $PORT"
        echo
        echo "[database]"
        echo "connection = $DB_URL"
        echo
        echo "[deploy]"
        echo "http_server_enabled = false"
        if [ -n "${CONF_EXTRA:-}" ]; then
            echo
            printf '%s\n' "$CONF_EXTRA"
        fi
    } > "$file"
    cp "$file" "$OUT_DIR/"
}

start() {   # name, command...
    local name=$1; shift
    "$@" > "$OUT_DIR/$name.log" 2>&1 < /dev/null &
    PIDS+=($!)
    NAMES+=("$name")
    log "started $name (pid $!): $*"
}

check_alive() {
    local i
    for i in "${!PIDS[@]}"; do
        if ! kill -0 "${PIDS[i]}" 2>/dev/null; then
            log "${NAMES[i]} (pid ${PIDS[i]}) exited; last log lines:"
            tail -20 "$OUT_DIR/${NAMES[i]}.log" >&2 || true
            return 1
        fi
    done
}

# the tree the (editable) install runs, as the services start
git -C "$REPO" status --porcelain > "$OUT_DIR/git-status.txt" 2>/dev/null || true

HOSTS=()
if [ "$CONDUCTORS" = 1 ]; then
    LAYOUT=all-in-one
    DB_URL=sqlite:///$WORK/bootflow.sqlite
    HOSTS=("$RUN_TAG-aio")
    write_conf "$WORK/bootflow.conf" "${HOSTS[0]}"
    start bootflow "$BIN_DIR/bootflow" --config-file "$WORK/bootflow.conf"
else
    LAYOUT=split
    DB_NAME=${RUN_TAG}_db
    log "creating database $DB_NAME on $PG_HOST:$PG_PORT"
    psql_admin "CREATE DATABASE \"$DB_NAME\"" ||
        { DB_NAME=; log "could not create the database"; exit 2; }
    DB_URL=postgresql+psycopg2://$PG_USER@$PG_HOST:$PG_PORT/$DB_NAME
    write_conf "$WORK/api.conf" "$RUN_TAG-api"
    "$BIN_DIR/bootflow-dbsync" --config-file "$WORK/api.conf" upgrade \
        > "$OUT_DIR/dbsync.log" 2>&1 ||
        { log "bootflow-dbsync failed:"; tail -20 "$OUT_DIR/dbsync.log" >&2; exit 2; }
    log "schema: $(tail -1 "$OUT_DIR/dbsync.log")"
    for i in $(seq 1 "$CONDUCTORS"); do
        HOSTS+=("$RUN_TAG-c$i")
        write_conf "$WORK/conductor-$i.conf" "$RUN_TAG-c$i"
        start "conductor-$i" "$BIN_DIR/bootflow-conductor" \
            --config-file "$WORK/conductor-$i.conf"
    done
    start api "$BIN_DIR/bootflow-api" --config-file "$WORK/api.conf"
fi

# -- readiness: the API answers and lists every one of our conductors alive
conductors_alive() {
    "$BENCH_PYTHON" - "$ENDPOINT" "${HOSTS[@]}" <<'EOF'
import sys
import requests
url, hosts = sys.argv[1], set(sys.argv[2:])
try:
    resp = requests.get(url + '/v1/conductors', timeout=5,
                        headers={'X-OpenStack-Ironic-API-Version': 'latest'})
    alive = {c.get('hostname') for c in resp.json().get('conductors', [])
             if c.get('alive')}
except Exception:
    sys.exit(1)
sys.exit(0 if hosts <= alive else 1)
EOF
}
deadline=$((SECONDS + READY_TIMEOUT))
until "$BENCH_PYTHON" "$HERE/endpoint_ready.py" "$ENDPOINT" && conductors_alive; do
    check_alive || exit 2
    if [ "$SECONDS" -ge "$deadline" ]; then
        log "not ready after ${READY_TIMEOUT}s; last log lines:"
        for n in "${NAMES[@]}"; do echo "== $n" >&2; tail -10 "$OUT_DIR/$n.log" >&2; done
        exit 2
    fi
    sleep 0.5
done
log "ready: $LAYOUT, ${#HOSTS[@]} conductor(s) alive on $ENDPOINT"

# -- run
"$BENCH_PYTHON" "$HERE/proc_sampler.py" sample --interval "$SAMPLE_INTERVAL" \
    $(printf -- '--pid %s ' "${PIDS[@]}") \
    --out "$OUT_DIR/sampler.json" --timeline "$OUT_DIR/sampler.jsonl" &
SAMPLER_PID=$!
# bench.py samples one process tree: the API process (the all-in-one in
# layout a); the sampler above covers all of them.
API_PID=${PIDS[${#PIDS[@]}-1]}
CMD=("$BENCH_PYTHON" "$BENCH" --endpoint "$ENDPOINT" --pid "$API_PID"
     --out "$OUT_DIR/bench.json" "${BENCH_ARGS[@]}")
printf '%q ' "$0" --conductors "$CONDUCTORS" -- "${BENCH_ARGS[@]}" > "$OUT_DIR/command.txt"
printf '\n%q ' "${CMD[@]}" >> "$OUT_DIR/command.txt"
echo >> "$OUT_DIR/command.txt"
log "bench: ${CMD[*]}"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# A background job of a non-interactive shell starts with SIGINT ignored;
# restore Python's handler so that an interrupted run still writes bench.py's
# partial JSON (its Ctrl-C path).
RUN_WITH_SIGINT='import runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")'
set +e
"${CMD[0]}" -c "$RUN_WITH_SIGINT" "${CMD[@]:1}" \
    > "$OUT_DIR/bench.stdout" 2> >(tee "$OUT_DIR/bench.stderr" >&2) &
BENCH_PID=$!
wait "$BENCH_PID"
bench_rc=$?
BENCH_PID=
set -e
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
check_alive || log "a service process died during the run"
stop_pid "$SAMPLER_PID" sampler
SAMPLER_PID=
sleep 0.2   # let tee drain

for n in "${NAMES[@]}"; do
    c=$(grep -cE 'Traceback|ERROR' "$OUT_DIR/$n.log" || true)
    [ "$c" = 0 ] || log "note: $n logged $c Traceback/ERROR lines (see $OUT_DIR/$n.log)"
done

# -- report
git_head=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(wc -l < "$OUT_DIR/git-status.txt" 2>/dev/null || echo 0)
layout_json=$("$BENCH_PYTHON" - "$LAYOUT" "$CONDUCTORS" "$ENDPOINT" "$DB_URL" \
    "$TRANSPORT_URL" "$git_head" "$git_dirty" "$bench_rc" "$LOAD_START" "$LOAD_END" \
    "${NAMES[@]}" -- "${PIDS[@]}" <<'EOF'
import json, sys
a = sys.argv[1:]
sep = a.index('--')
names, pids = a[10:sep], a[sep + 1:]
out = {'layout': a[0], 'conductors': int(a[1]), 'endpoint': a[2],
       'database': a[3].split('://')[0],
       'rpc': 'in-process (fake://)' if a[0] == 'all-in-one' else a[4],
       'git_head': a[5], 'git_uncommitted_files': int(a[6]),
       'bench_exit_status': int(a[7]),
       'loadavg_start': [float(x) for x in a[8].split()],
       'loadavg_end': [float(x) for x in a[9].split()],
       'cpus': __import__('os').cpu_count(),
       'processes': dict(zip(names, map(int, pids)))}
print(json.dumps(out))
EOF
)
set +e
"$BENCH_PYTHON" "$HERE/proc_sampler.py" report --label "bootflow-$LAYOUT-c$CONDUCTORS" \
    --layout "$layout_json" --bench "$OUT_DIR/bench.json" \
    --bench-log "$OUT_DIR/bench.stderr" --sampler "$OUT_DIR/sampler.json" \
    --timeline "$OUT_DIR/sampler.jsonl" --out "$OUT"
report_rc=$?
set -e
[ "$OUT" = "$OUT_DIR/result.json" ] || cp "$OUT" "$OUT_DIR/result.json"
log "result: $OUT"
if [ "$bench_rc" != 0 ] || [ "$report_rc" != 0 ]; then
    exit 1
fi
exit 0
