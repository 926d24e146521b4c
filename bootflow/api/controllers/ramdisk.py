"""What a deployment ramdisk calls: the heartbeat that wakes parked flows.

Open without credentials, as in Ironic: the ramdisk has none (the agent
token that proves its identity comes with the BootOS agent).
"""

from bootflow.api import wsgi
from bootflow.api.controllers import node_actions
from bootflow.api.controllers import nodes
from bootflow.common import exception

# Heartbeat body fields, by the microversion that introduced them.
_FIELDS = {'callback_url': 22, 'agent_version': 36, 'agent_token': 62,
           'agent_verify_ca': 68, 'agent_status': 81,
           'agent_status_message': 81}


def heartbeat(req, node_ident):
    req.require_version(22)
    body = req.json_body_or_error() or {}
    if not isinstance(body, dict):
        raise exception.InvalidParameterValue(
            err='The heartbeat body must be a JSON object')
    for key in body:
        introduced = _FIELDS.get(key)
        if introduced is None or not req.allows(introduced):
            raise exception.InvalidParameterValue(
                err='Field "%s" is not accepted by the heartbeat API at '
                    'this version' % key)
    if not body.get('callback_url'):
        raise exception.MissingParameterValue(
            err='Missing argument: "callback_url"')
    node = nodes.get_node_or_404(req, node_ident)
    node_actions.rpc().heartbeat(
        req.context, node['id'], callback_url=body['callback_url'],
        agent_version=body.get('agent_version'),
        agent_status=body.get('agent_status'))
    return wsgi.Response(None, 202)


def register(router):
    router.add('POST', '/v1/heartbeat/{node_ident}', heartbeat)
