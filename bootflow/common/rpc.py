"""oslo.messaging plumbing shared by the API (client) and conductor
(server).

The all-in-one ``bootflow`` command uses oslo.messaging's in-process
``fake://`` transport, so the very same RPC code paths run whether the
conductor is in this process or behind RabbitMQ.
"""

import oslo_messaging as messaging
from oslo_context import context as oslo_context

from bootflow.conf import CONF

TOPIC = 'bootflow.conductor_manager'
EXMODS = ['bootflow.common.exception']

_TRANSPORT = None


def init(conf=CONF, url=None):
    global _TRANSPORT
    messaging.set_transport_defaults('bootflow')
    _TRANSPORT = messaging.get_rpc_transport(
        conf, url=url, allowed_remote_exmods=EXMODS)
    return _TRANSPORT


def transport():
    if _TRANSPORT is None:
        init()
    return _TRANSPORT


def cleanup():
    global _TRANSPORT
    if _TRANSPORT is not None:
        _TRANSPORT.cleanup()
    _TRANSPORT = None


class ContextSerializer(messaging.Serializer):
    """Carries the request context (request id, project, roles) along."""

    def serialize_entity(self, ctxt, entity):
        return entity

    def deserialize_entity(self, ctxt, entity):
        return entity

    def serialize_context(self, ctxt):
        return ctxt.to_dict() if ctxt is not None else {}

    def deserialize_context(self, ctxt):
        return oslo_context.RequestContext.from_dict(ctxt or {})


def get_server(target, endpoints):
    return messaging.get_rpc_server(
        transport(), target, endpoints, executor='threading',
        serializer=ContextSerializer(),
        access_policy=messaging.DefaultRPCAccessPolicy)


def get_client(target, timeout=None):
    return messaging.get_rpc_client(transport(), target,
                                    serializer=ContextSerializer(),
                                    timeout=timeout)
