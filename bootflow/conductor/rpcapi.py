"""The API's only way into the conductor.

Every method names the node; the conductor that takes the call locks it.
With ``[DEFAULT]rpc_transport = none`` the calls go straight to the
conductor in this process (no serialisation at all).
"""

import oslo_messaging as messaging

from bootflow.common import rpc
from bootflow.conf import CONF

RPC_API_VERSION = '1.0'

_LOCAL_MANAGER = None


def set_local_manager(manager):
    """Used by the all-in-one with rpc_transport=none."""
    global _LOCAL_MANAGER
    _LOCAL_MANAGER = manager


class ConductorAPI:
    def __init__(self):
        self._client = None
        if CONF.rpc_transport != 'none':
            target = messaging.Target(topic=rpc.TOPIC,
                                      version=RPC_API_VERSION)
            self._client = rpc.get_client(target)

    def _call(self, context, method, **kwargs):
        if self._client is None:
            return getattr(_LOCAL_MANAGER, method)(context, **kwargs)
        return self._client.prepare().call(context, method, **kwargs)

    def do_provisioning_action(self, context, node_id, action, **kwargs):
        return self._call(context, 'do_provisioning_action',
                          node_id=node_id, action=action, **kwargs)

    def change_node_power_state(self, context, node_id, new_state,
                                timeout=None):
        return self._call(context, 'change_node_power_state',
                          node_id=node_id, new_state=new_state,
                          timeout=timeout)

    def validate_driver_interfaces(self, context, node_id):
        return self._call(context, 'validate_driver_interfaces',
                          node_id=node_id)

    def set_boot_device(self, context, node_id, device, persistent=False):
        return self._call(context, 'set_boot_device', node_id=node_id,
                          device=device, persistent=persistent)

    def get_boot_device(self, context, node_id):
        return self._call(context, 'get_boot_device', node_id=node_id)

    def get_supported_boot_devices(self, context, node_id):
        return self._call(context, 'get_supported_boot_devices',
                          node_id=node_id)

    def inject_nmi(self, context, node_id):
        return self._call(context, 'inject_nmi', node_id=node_id)

    def vif_list(self, context, node_id):
        return self._call(context, 'vif_list', node_id=node_id)

    def vif_attach(self, context, node_id, vif_info):
        return self._call(context, 'vif_attach', node_id=node_id,
                          vif_info=vif_info)

    def vif_detach(self, context, node_id, vif_id):
        return self._call(context, 'vif_detach', node_id=node_id,
                          vif_id=vif_id)

    def get_driver_properties(self, context, driver_name):
        return self._call(context, 'get_driver_properties',
                          driver_name=driver_name)
