"""Serving the API with cheroot, a production threaded WSGI server."""

from cheroot import wsgi as cheroot_wsgi
from oslo_log import log

from bootflow.api import app
from bootflow.conf import CONF

LOG = log.getLogger(__name__)


def make_server():
    server = cheroot_wsgi.Server(
        (CONF.api.host_ip, CONF.api.port), app.setup_app(),
        numthreads=CONF.api.api_workers,
        request_queue_size=CONF.api.request_queue_size,
        server_name='bootflow')
    server.timeout = 60
    return server
