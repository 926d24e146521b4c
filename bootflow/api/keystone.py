"""``auth_strategy = keystone``: tokens checked by keystonemiddleware.

auth_token runs with ``delay_auth_decision`` so that it only validates:
public routes (version discovery, the ramdisk's API) still pass without a
token, and a request to any other route without a valid one gets its 401
from the API in Ironic's error format, with the ``WWW-Authenticate``
header pointing at Keystone.
"""

from keystonemiddleware import auth_token

from bootflow.api import wsgi
from bootflow.conf import CONF


def wrap(router):
    app = wsgi.Application(router, keystone=True)
    return auth_token.AuthProtocol(app, {'oslo_config_config': CONF,
                                         'delay_auth_decision': True})
