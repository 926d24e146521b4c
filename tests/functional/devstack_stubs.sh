# shellcheck shell=bash
# Just enough of devstack for tests/functional/test_devstack_plugin.py to
# run the plugin's phases outside devstack.  Configuration files and the
# services are real (iniset writes the ini file, run_process starts the
# command); keystone, nova and pip are not there, so what would call them
# is written to $STUB_CALLS for the test to read.
#
# The test sets STUB_DIR (scratch: pids, logs, databases), STUB_CALLS,
# STUB_BIN (where bootflow's commands are) and STUB_PYTHON.
# shellcheck disable=SC2034  # globals for the plugin, not used here

set -o errexit -o nounset -o pipefail

DEST=${DEST:-$STUB_DIR/opt}
DATA_DIR=${DATA_DIR:-$STUB_DIR/data}
STACK_USER=${STACK_USER:-$(id -un)}
SERVICE_HOST=${SERVICE_HOST:-127.0.0.1}
SERVICE_PROTOCOL=${SERVICE_PROTOCOL:-http}
SERVICE_TIMEOUT=${SERVICE_TIMEOUT:-60}
SERVICE_PASSWORD=${SERVICE_PASSWORD:-secretservice}
SERVICE_PROJECT_NAME=${SERVICE_PROJECT_NAME:-service}
SERVICE_DOMAIN_NAME=${SERVICE_DOMAIN_NAME:-Default}
REGION_NAME=${REGION_NAME:-RegionOne}
KEYSTONE_SERVICE_URI=${KEYSTONE_SERVICE_URI:-http://127.0.0.1/identity}
ENABLE_DEBUG_LOG_LEVEL=${ENABLE_DEBUG_LOG_LEVEL:-True}
ENABLED_SERVICES=${ENABLED_SERVICES:-}
NOVA_CONF=${NOVA_CONF:-$STUB_DIR/nova.conf}
VIRT_DRIVER=${VIRT_DRIVER:-libvirt}
PATH=$STUB_BIN:$PATH

function _stub_record {
    echo "$*" >>"$STUB_CALLS"
}

function is_service_enabled {
    local service
    for service in "$@"; do
        [[ ,${ENABLED_SERVICES// /,}, == *,$service,* ]] && return 0
    done
    return 1
}

function enable_service {
    local service
    for service in "$@"; do
        is_service_enabled "$service" ||
            ENABLED_SERVICES="${ENABLED_SERVICES:+$ENABLED_SERVICES,}$service"
    done
}

function trueorfalse {
    local value=${!2:-$1}
    case ${value,,} in
        1 | yes | true | on) echo True ;;
        0 | no | false | off) echo False ;;
        *) echo "$1" ;;
    esac
}

function echo_summary {
    echo "== $*"
}

function die {
    echo "die at line $1: ${*:2}" >&2
    exit 1
}

# The real devstack runs these as the stack user with sudo; here the test
# user owns everything already.
function sudo {
    "$@"
}

function iniset {
    "$STUB_PYTHON" - "$@" <<'PY'
import configparser
import sys

path, section, option, value = sys.argv[1:5]
parser = configparser.RawConfigParser()
parser.optionxform = str
parser.read(path)
if section != 'DEFAULT' and not parser.has_section(section):
    parser.add_section(section)
parser.set(section, option, value)
with open(path, 'w') as stream:
    parser.write(stream)
PY
}

function get_python_exec_prefix {
    echo "$STUB_BIN"
}

function setup_develop {
    _stub_record setup_develop "$@"
}

function pip_install_gr {
    _stub_record pip_install_gr "$@"
}

function database_connection_url {
    echo "sqlite:///$STUB_DIR/$1.sqlite"
}

function recreate_database {
    rm -f "$STUB_DIR/$1.sqlite"
}

function get_transport_url {
    echo "rabbit://guest:guest@127.0.0.1:5672/"
}

# A service in a session of its own (so the test can kill what is left
# of it), its pid in $STUB_DIR/pids.
function run_process {
    local name=$1 command=$2
    is_service_enabled "$name" || return 0
    mkdir -p "$STUB_DIR/pids" "$STUB_DIR/logs"
    setsid bash -c "exec $command" </dev/null \
        >>"$STUB_DIR/logs/$name.log" 2>&1 &
    echo $! >"$STUB_DIR/pids/$name.pid"
}

# Alive and not a zombie: nothing may reap the service soon (it was
# started by an earlier phase's shell, long gone).
function _stub_running {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

function stop_process {
    local name=$1 pidfile=$STUB_DIR/pids/$1.pid pid deadline
    [[ -f $pidfile ]] || return 0
    pid=$(<"$pidfile")
    kill -TERM -- "-$pid" 2>/dev/null || true
    deadline=$((SECONDS + 30))
    while _stub_running "$pid" && ((SECONDS < deadline)); do
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

function wait_for_service {
    local deadline=$((SECONDS + $1))
    until curl --noproxy '*' -s -o /dev/null "$2"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

function get_or_create_service {
    _stub_record get_or_create_service "$@"
}

function get_or_create_endpoint {
    _stub_record get_or_create_endpoint "$@"
}

function create_service_user {
    _stub_record create_service_user "$@"
}

function configure_keystone_authtoken_middleware {
    _stub_record configure_keystone_authtoken_middleware "$@"
}

# No flavor exists yet, and a token is a token.
function openstack {
    _stub_record openstack "$@"
    case "$1 $2" in
        "flavor show") return 1 ;;
        "token issue") echo stub-token ;;
    esac
}
