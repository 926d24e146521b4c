"""The WSGI application: every route, and authentication per config."""

from bootflow.api import auth
from bootflow.api import wsgi
from bootflow.api.controllers import allocations
from bootflow.api.controllers import drivers
from bootflow.api.controllers import instances
from bootflow.api.controllers import node_actions
from bootflow.api.controllers import nodes
from bootflow.api.controllers import ports
from bootflow.api.controllers import ramdisk
from bootflow.api.controllers import root
from bootflow.conf import CONF


def build_router():
    router = wsgi.Router()
    for module in (root, node_actions, ports, nodes, drivers, ramdisk,
                   allocations, instances):
        module.register(router)
    return router


def setup_app():
    authenticate = None
    if CONF.auth_strategy == 'http_basic':
        authenticate = auth.HtpasswdAuth(CONF.http_basic_auth_user_file)
    return wsgi.Application(build_router(), authenticate=authenticate)
