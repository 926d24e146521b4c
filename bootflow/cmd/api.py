"""``bootflow-api``: the REST API alone; conductors are reached over
oslo.messaging (``transport_url``, e.g. ``rabbit://``)."""

import threading

from oslo_log import log

from bootflow.api import server as api_server
from bootflow.cmd import aio
from bootflow.common import rpc
from bootflow.common import service
from bootflow.conf import CONF

LOG = log.getLogger(__name__)


def main(argv=None):
    service.prepare(argv)
    rpc.init()
    api = api_server.make_server()
    api.prepare()
    service.tune_gc()
    threading.Thread(target=api.serve, name='api', daemon=True).start()
    LOG.info('bootflow API listening on http://%s:%d/', CONF.api.host_ip,
             CONF.api.port)

    def stop():
        api.stop()
        rpc.cleanup()

    aio.run_until_signalled(stop)


if __name__ == '__main__':
    main()
