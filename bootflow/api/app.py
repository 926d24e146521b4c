"""The WSGI application: every route, and authentication per config."""

from bootflow.api import auth
from bootflow.api import keystone
from bootflow.api import openapi
from bootflow.api import wsgi
from bootflow.api.controllers import allocations
from bootflow.api.controllers import chassis
from bootflow.api.controllers import deploy_templates
from bootflow.api.controllers import drivers
from bootflow.api.controllers import events
from bootflow.api.controllers import inspection_rules
from bootflow.api.controllers import instances
from bootflow.api.controllers import node_actions
from bootflow.api.controllers import node_hardware
from bootflow.api.controllers import node_history
from bootflow.api.controllers import nodes
from bootflow.api.controllers import portgroups
from bootflow.api.controllers import ports
from bootflow.api.controllers import ramdisk
from bootflow.api.controllers import root
from bootflow.api.controllers import runbooks
from bootflow.api.controllers import shards
from bootflow.api.controllers import volumes
from bootflow.conf import CONF


def build_router():
    router = wsgi.Router()
    for module in (root, node_actions, ports, nodes, drivers, ramdisk,
                   allocations, instances, chassis,
                   deploy_templates, runbooks, inspection_rules, events,
                   shards, node_hardware, node_history, portgroups, volumes):
        module.register(router)
    openapi.register(router)
    return router


def setup_app():
    if CONF.auth_strategy == 'keystone':
        return keystone.wrap(build_router())
    authenticate = None
    if CONF.auth_strategy == 'http_basic':
        authenticate = auth.HtpasswdAuth(CONF.http_basic_auth_user_file)
    return wsgi.Application(build_router(), authenticate=authenticate)
