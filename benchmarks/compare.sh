#!/usr/bin/env bash
# Benchmark the real OpenStack Ironic and bootflow back to back with the same
# api_bench.py arguments, then print a side-by-side table with ratios.
#
# Usage: benchmarks/compare.sh [api_bench.py arguments...]
#   e.g. benchmarks/compare.sh --nodes 1000,10000 --provision 100
#
# Ironic runs all-in-one (noauth, fake-hardware, SQLite) from the venv named
# by $IRONIC_VENV, holding `pip install ironic python-ironicclient
# openstacksdk`; without it the Ironic run is skipped.  It is started with
# $IRONIC_PEER_DIR/start-ironic.sh when that is set and the script exists,
# otherwise by this script itself.
#
# Environment:
#   PYTHON         interpreter for the benchmark client and bootflow
#                  (needs bootflow, requests; openstacksdk optional)
#   IRONIC_VENV    venv with Ironic
#   IRONIC_PEER_DIR  directory holding start-ironic.sh / stop-ironic.sh
#   BENCH_OUT_DIR  where JSON, stderr and the table go
#                  (default benchmarks/results/<timestamp>)
#   ONLY=ironic|bootflow  run just one side
#   BENCH_KEEP=1   keep the services' temporary work dirs
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
export PYTHON
OUT=${BENCH_OUT_DIR:-$HERE/results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PEER_DIR=${IRONIC_PEER_DIR:-}
VENV=${IRONIC_VENV:-}

echo "results in $OUT" >&2
printf '%q ' "$0" "$@" > "$OUT/command.txt"; echo >> "$OUT/command.txt"

IRONIC_WORK=
IRONIC_PID=

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ironic_ready() {
    "$PYTHON" "$HERE/endpoint_ready.py" "$1"
}

# Our own start-up, used when start-ironic.sh is not around.
start_ironic_builtin() {
    local work=$1 port=$2
    mkdir -p "$work/locks"
    cat > "$work/ironic.conf" <<EOF
[DEFAULT]
auth_strategy = noauth
rpc_transport = none
host = bench-ironic
debug = false
log_file = $work/ironic.log
enabled_hardware_types = fake-hardware
enabled_bios_interfaces = fake,no-bios
enabled_boot_interfaces = fake
enabled_console_interfaces = fake,no-console
default_console_interface = no-console
enabled_deploy_interfaces = fake
enabled_firmware_interfaces = fake,no-firmware
enabled_inspect_interfaces = fake,no-inspect
enabled_management_interfaces = fake
enabled_network_interfaces = noop
enabled_power_interfaces = fake
enabled_raid_interfaces = fake,no-raid
enabled_rescue_interfaces = fake,no-rescue
enabled_storage_interfaces = fake,noop
enabled_vendor_interfaces = fake,no-vendor

[api]
host_ip = 127.0.0.1
port = $port

[database]
connection = sqlite:///$work/ironic.sqlite

[dhcp]
dhcp_provider = none

[oslo_concurrency]
lock_path = $work/locks

[json_rpc]
auth_strategy = noauth

[vnc]
enabled = false
EOF
    "$VENV/bin/ironic-dbsync" --config-file "$work/ironic.conf" create_schema \
        > "$work/dbsync.log" 2>&1 || { tail -5 "$work/dbsync.log" >&2; return 1; }
    "$VENV/bin/ironic" --config-file "$work/ironic.conf" \
        > "$work/ironic.stdout" 2>&1 &
    echo $! > "$work/ironic.pid"
    local deadline=$((SECONDS + 120))
    until ironic_ready "http://127.0.0.1:$port"; do
        if ! kill -0 "$(cat "$work/ironic.pid")" 2>/dev/null; then
            echo "ironic exited during start-up:" >&2
            tail -20 "$work/ironic.stdout" >&2
            return 1
        fi
        [ "$SECONDS" -lt "$deadline" ] || { echo "ironic not ready" >&2; return 1; }
        sleep 1
    done
}

stop_ironic() {
    [ -n "$IRONIC_PID" ] || return 0
    if [ -x "$PEER_DIR/stop-ironic.sh" ]; then
        "$PEER_DIR/stop-ironic.sh" "$IRONIC_WORK" >&2 || true
    fi
    if kill -0 "$IRONIC_PID" 2>/dev/null; then
        kill -TERM "$IRONIC_PID" 2>/dev/null
        for _ in $(seq 1 30); do
            kill -0 "$IRONIC_PID" 2>/dev/null || break
            sleep 1
        done
        kill -0 "$IRONIC_PID" 2>/dev/null && kill -KILL "$IRONIC_PID" 2>/dev/null
    fi
    IRONIC_PID=
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "ironic work dir kept: $IRONIC_WORK" >&2
    else
        rm -rf "$IRONIC_WORK"
    fi
}
trap stop_ironic EXIT
trap 'exit 130' INT TERM

run_ironic() {
    if [ -z "$VENV" ] || [ ! -x "$VENV/bin/ironic" ]; then
        echo "SKIP ironic: no Ironic venv (set IRONIC_VENV=/path/to/venv" \
             "with 'pip install ironic python-ironicclient openstacksdk')" >&2
        return 1
    fi
    IRONIC_WORK=$(mktemp -d "${TMPDIR:-/tmp}/ironic-bench.XXXXXX")
    local port
    port=$(free_port)
    echo "== ironic ($VENV) on port $port, work dir $IRONIC_WORK" >&2
    if [ -x "$PEER_DIR/start-ironic.sh" ]; then
        VENV=$VENV "$PEER_DIR/start-ironic.sh" "$IRONIC_WORK" "$port" >&2 ||
            { [ -f "$IRONIC_WORK/ironic.pid" ] && IRONIC_PID=$(cat "$IRONIC_WORK/ironic.pid"); return 1; }
    else
        start_ironic_builtin "$IRONIC_WORK" "$port" ||
            { [ -f "$IRONIC_WORK/ironic.pid" ] && IRONIC_PID=$(cat "$IRONIC_WORK/ironic.pid"); return 1; }
    fi
    IRONIC_PID=$(cat "$IRONIC_WORK/ironic.pid")
    "$PYTHON" "$HERE/api_bench.py" --endpoint "http://127.0.0.1:$port" \
        --pid "$IRONIC_PID" --label ironic "$@" \
        > "$OUT/ironic.json" 2> >(tee "$OUT/ironic.stderr" >&2)
    local rc=$?
    [ -f "$IRONIC_WORK/ironic.log" ] && \
        grep -E ' ERROR ' "$IRONIC_WORK/ironic.log" | head -20 > "$OUT/ironic.errors.log"
    stop_ironic
    return $rc
}

run_bootflow() {
    echo "== bootflow" >&2
    "$HERE/run_bootflow.sh" "$@" \
        > "$OUT/bootflow.json" 2> >(tee "$OUT/bootflow.stderr" >&2)
}

files=()
if [ "${ONLY:-}" != bootflow ]; then
    run_ironic "$@"; rc=$?
    [ -s "$OUT/ironic.json" ] && files+=("ironic=$OUT/ironic.json")
    [ "$rc" = 0 ] || echo "ironic run ended with status $rc" >&2
fi
if [ "${ONLY:-}" != ironic ]; then
    run_bootflow "$@"; rc=$?
    [ -s "$OUT/bootflow.json" ] && files+=("bootflow=$OUT/bootflow.json")
    [ "$rc" = 0 ] || echo "bootflow run ended with status $rc" >&2
fi
sleep 0.2  # let the tee'd stderr drain before the table
if [ "${#files[@]}" = 0 ]; then
    echo "no results" >&2
    exit 1
fi
"$PYTHON" "$HERE/summarize.py" "${files[@]}" | tee "$OUT/table.md"
