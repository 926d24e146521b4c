#!/bin/bash
# devstack plugin for bootflow: API and conductor as separate services,
# on devstack's database and message broker.
#
# local.conf:  enable_plugin bootflow <git URL of bootflow> [branch]

_bootflow_xtrace=$(set +o | grep xtrace)
set -o xtrace

function bootflow_url {
    echo "$BOOTFLOW_SERVICE_PROTOCOL://$BOOTFLOW_SERVICE_HOST:$BOOTFLOW_API_PORT"
}

function install_bootflow {
    # Editable, so a developer's edits under $BOOTFLOW_DIR take effect on
    # a service restart without reinstalling.
    setup_develop "$BOOTFLOW_DIR"
}

function configure_bootflow {
    sudo install -d -o "$STACK_USER" "$BOOTFLOW_CONF_DIR" "$BOOTFLOW_STATE_PATH"
    rm -f "$BOOTFLOW_CONF"

    iniset "$BOOTFLOW_CONF" DEFAULT debug "$ENABLE_DEBUG_LOG_LEVEL"
    iniset "$BOOTFLOW_CONF" DEFAULT state_path "$BOOTFLOW_STATE_PATH"
    iniset "$BOOTFLOW_CONF" DEFAULT auth_strategy "$BOOTFLOW_AUTH_STRATEGY"
    iniset "$BOOTFLOW_CONF" DEFAULT enabled_hardware_types \
        "$BOOTFLOW_ENABLED_HARDWARE_TYPES"
    # API and conductor run as separate processes, so RPC must cross them.
    iniset "$BOOTFLOW_CONF" DEFAULT rpc_transport oslo
    iniset "$BOOTFLOW_CONF" DEFAULT transport_url "$(get_transport_url)"
    iniset "$BOOTFLOW_CONF" api host_ip "$BOOTFLOW_API_LISTEN"
    iniset "$BOOTFLOW_CONF" api port "$BOOTFLOW_API_PORT"
    iniset "$BOOTFLOW_CONF" api public_endpoint "$(bootflow_url)"
    iniset "$BOOTFLOW_CONF" database connection \
        "$(database_connection_url bootflow)"
    # Ramdisks call the API back at its public URL; boot files are served
    # from http_root by the web server named in BOOTFLOW_HTTP_URL (the
    # split API/conductor layout has no built-in boot file server).
    iniset "$BOOTFLOW_CONF" conductor api_url "$(bootflow_url)"
    iniset "$BOOTFLOW_CONF" deploy http_root "$BOOTFLOW_HTTP_ROOT"
    iniset "$BOOTFLOW_CONF" deploy http_url "$BOOTFLOW_HTTP_URL"
    sudo install -d -o "$STACK_USER" "$BOOTFLOW_HTTP_ROOT"
    # BootOS: configuration templates, the support list, shipped agent
    # logs and discovery of unknown machines.
    iniset "$BOOTFLOW_CONF" bootos templates_path "$BOOTFLOW_BOOTOS_TEMPLATES"
    iniset "$BOOTFLOW_CONF" bootos support_list "$BOOTFLOW_BOOTOS_SUPPORT_LIST"
    iniset "$BOOTFLOW_CONF" agent deploy_logs_local_path \
        "$BOOTFLOW_STATE_PATH/ramdisk_logs"
    iniset "$BOOTFLOW_CONF" auto_discovery enabled "$BOOTFLOW_DISCOVERY"
    sudo install -d -o "$STACK_USER" "$BOOTFLOW_BOOTOS_TEMPLATES"
}

function init_bootflow {
    recreate_database bootflow
    "$(get_python_exec_prefix)/bootflow-dbsync" --config-file "$BOOTFLOW_CONF" \
        upgrade
}

function register_bootflow_endpoint {
    # Catalog entry only: clients find the API through keystone even
    # though bootflow does not validate tokens yet.
    is_service_enabled keystone || return 0
    get_or_create_service bootflow baremetal "Bare metal provisioning"
    get_or_create_endpoint baremetal "$REGION_NAME" "$(bootflow_url)"
}

function start_bootflow {
    local bin
    bin=$(get_python_exec_prefix)
    run_process bootflow-conductor \
        "$bin/bootflow-conductor --config-file $BOOTFLOW_CONF"
    run_process bootflow-api "$bin/bootflow-api --config-file $BOOTFLOW_CONF"
    if is_service_enabled bootflow-api; then
        wait_for_service "$SERVICE_TIMEOUT" "$(bootflow_url)/" ||
            die $LINENO "bootflow-api did not start at $(bootflow_url)"
    fi
}

function stop_bootflow {
    stop_process bootflow-api
    stop_process bootflow-conductor
}

function cleanup_bootflow {
    sudo rm -rf "$BOOTFLOW_CONF_DIR" "$BOOTFLOW_STATE_PATH"
}

if is_service_enabled bootflow-api bootflow-conductor; then
    case "$1/$2" in
        stack/install)
            echo_summary "Installing bootflow"
            install_bootflow
            ;;
        stack/post-config)
            echo_summary "Configuring bootflow"
            configure_bootflow
            init_bootflow
            register_bootflow_endpoint
            ;;
        stack/extra)
            echo_summary "Starting bootflow"
            start_bootflow
            ;;
    esac
    if [[ $1 == unstack ]]; then
        stop_bootflow
    fi
    if [[ $1 == clean ]]; then
        cleanup_bootflow
    fi
fi

$_bootflow_xtrace
