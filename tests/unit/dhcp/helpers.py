"""Fake tasks for the DHCP provider tests: the attributes providers read."""

import types
import uuid


def port(mac, pxe_enabled=True):
    return {'uuid': str(uuid.uuid4()), 'address': mac,
            'pxe_enabled': pxe_enabled}


def make_task(*ports, node_uuid=None):
    node = types.SimpleNamespace(uuid=node_uuid or str(uuid.uuid4()), id=1)
    return types.SimpleNamespace(node=node, ports=list(ports))
