#!/bin/bash
# shellcheck shell=bash
# devstack plugin for bootflow: API, conductor and boot file server as
# separate services, on devstack's database, message broker and keystone,
# with virtual bare metal from "bootflow lab" enrolled as nodes.
#
# local.conf:  enable_plugin bootflow <git URL of bootflow> [branch]
#
# devstack sources this file once per phase with the phase as arguments;
# the functions are in lib/bootflow.

_bootflow_xtrace=$(set +o | grep xtrace)
set -o xtrace

# shellcheck source-path=SCRIPTDIR source=lib/bootflow
source "$(dirname "${BASH_SOURCE[0]}")/lib/bootflow"

if is_service_enabled bootflow-api bootflow-conductor; then
    case "$1/${2:-}" in
        stack/install)
            echo_summary "Installing bootflow"
            install_bootflow
            ;;
        stack/post-config)
            echo_summary "Configuring bootflow"
            configure_bootflow
            init_bootflow
            register_bootflow_endpoint
            configure_nova_for_bootflow
            ;;
        stack/extra)
            echo_summary "Starting bootflow"
            start_bootflow
            build_bootos
            if [[ $BOOTFLOW_LAB_ENABLED == True ]]; then
                echo_summary "Creating and enrolling bootflow lab machines"
                create_bootflow_lab
                enroll_bootflow_lab
            fi
            create_bootflow_flavor
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
