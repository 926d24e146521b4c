"""``bootflow``: API and conductor in one process.

The embedded default: SQLite under ``state_path``, oslo.messaging's
in-process transport (unless ``transport_url`` points elsewhere), noauth,
fake-hardware enabled, the API on port 6385. It migrates its database on
start, so a fresh machine needs no separate set-up step.
"""

import os
import signal
import sys
import threading

from oslo_config import cfg
from oslo_log import log

from bootflow.api import server as api_server
from bootflow.common import rpc
from bootflow.common import service
from bootflow.conductor import rpcapi
from bootflow.conductor import service as conductor_service
from bootflow.conf import CONF

LOG = log.getLogger(__name__)


def run_until_signalled(stop):
    done = threading.Event()

    def handler(signum, frame):
        LOG.info('Signal %d received, stopping', signum)
        done.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not done.wait(1):
        pass
    stop()


def _start_boot_file_server():
    """Nodes fetch kernels, ramdisks and boot scripts from http_root;
    the all-in-one serves it itself unless the operator's web server
    does."""
    if not CONF.deploy.http_server_enabled:
        return None
    from bootflow.images import http_server
    os.makedirs(CONF.deploy.http_root, exist_ok=True)
    try:
        server = http_server.make_server(CONF.deploy.http_root,
                                         CONF.deploy.http_server_host,
                                         CONF.deploy.http_server_port)
    except OSError as e:
        raise SystemExit(
            'Cannot serve boot files on %s:%d: %s. Set [deploy]'
            'http_server_port, or http_server_enabled = false when another '
            'web server serves %s.' % (
                CONF.deploy.http_server_host, CONF.deploy.http_server_port,
                e.strerror or e, CONF.deploy.http_root))
    server.start()
    return server


def serve_boot_files(argv):
    """``bootflow httpboot``: the boot file server alone, for deployments
    whose API and conductor run as separate processes (neither serves
    http_root)."""
    service.prepare(argv)
    server = _start_boot_file_server()
    if server is None:
        raise SystemExit('[deploy]http_server_enabled is false: nothing '
                         'to serve')
    run_until_signalled(server.stop)


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ['lab']:
        from bootflow.lab import cli as lab_cli
        return lab_cli.main(args[1:])
    if args[:1] == ['httpboot']:
        return serve_boot_files(args[1:])
    service.prepare(argv, default_config_files=[])
    if CONF.rpc_transport == 'oslo' and CONF.get_location(
            'transport_url').location == cfg.Locations.opt_default:
        # oslo.messaging defaults to rabbit://; the all-in-one talks to
        # itself in-process unless the operator names a broker.
        CONF.set_default('transport_url', 'fake://')
    service.ensure_schema()
    boot_files = _start_boot_file_server()
    rpc.init()
    conductor = conductor_service.ConductorService()
    conductor.start(with_rpc=CONF.rpc_transport == 'oslo')
    if CONF.rpc_transport == 'none':
        rpcapi.set_local_manager(conductor.manager)
    api = api_server.make_server()
    api.prepare()
    service.tune_gc()
    thread = threading.Thread(target=api.serve, name='api', daemon=True)
    thread.start()
    LOG.info('bootflow API listening on http://%s:%d/', CONF.api.host_ip,
             CONF.api.port)

    def stop():
        api.stop()
        if boot_files is not None:
            boot_files.stop()
        conductor.stop()
        rpc.cleanup()

    run_until_signalled(stop)


if __name__ == '__main__':
    main()
