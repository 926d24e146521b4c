"""The API's only way into the conductor.

A call about a node goes to the topic of the conductor that the hash
ring assigns the node to, so one conductor drives a node's flows and
periodic work; calls about no node (allocations) go to any conductor.
With ``[DEFAULT]rpc_transport = none`` the calls go straight to the
conductor in this process (no serialisation at all).
"""

import oslo_messaging as messaging

from bootflow.common import exception
from bootflow.common import hash_ring
from bootflow.common import rpc
from bootflow.conf import CONF
from bootflow.db import api as db_api

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
        if 'node_id' in kwargs:
            client = self._client.prepare(
                server=self.host_for(kwargs['node_id']))
        else:
            client = self._client.prepare()
        return client.call(context, method, **kwargs)

    @staticmethod
    def host_for(node_id):
        node = db_api.get_node(node_id, columns=['uuid', 'driver',
                                                 'conductor_group'])
        host = hash_ring.RING.host_for(node)
        if host is None:
            raise exception.NoValidHost(
                reason='no live conductor handles driver %s in conductor '
                       'group "%s"' % (node['driver'],
                                       node['conductor_group'] or ''))
        return host

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

    def change_node_boot_mode(self, context, node_id, new_state):
        return self._call(context, 'change_node_boot_mode', node_id=node_id,
                          new_state=new_state)

    def change_node_secure_boot(self, context, node_id, new_state):
        return self._call(context, 'change_node_secure_boot',
                          node_id=node_id, new_state=new_state)

    def set_target_raid_config(self, context, node_id, target_raid_config):
        return self._call(context, 'set_target_raid_config', node_id=node_id,
                          target_raid_config=target_raid_config)

    def get_console_information(self, context, node_id):
        return self._call(context, 'get_console_information',
                          node_id=node_id)

    def set_console_mode(self, context, node_id, enabled):
        return self._call(context, 'set_console_mode', node_id=node_id,
                          enabled=enabled)

    def get_supported_indicators(self, context, node_id, component=None):
        return self._call(context, 'get_supported_indicators',
                          node_id=node_id, component=component)

    def get_indicator_state(self, context, node_id, component, indicator):
        return self._call(context, 'get_indicator_state', node_id=node_id,
                          component=component, indicator=indicator)

    def set_indicator_state(self, context, node_id, component, indicator,
                            state):
        return self._call(context, 'set_indicator_state', node_id=node_id,
                          component=component, indicator=indicator,
                          state=state)

    def get_virtual_media(self, context, node_id):
        return self._call(context, 'get_virtual_media', node_id=node_id)

    def attach_virtual_media(self, context, node_id, device_type, image_url,
                             image_download_source='local'):
        return self._call(context, 'attach_virtual_media', node_id=node_id,
                          device_type=device_type, image_url=image_url,
                          image_download_source=image_download_source)

    def detach_virtual_media(self, context, node_id, device_types=None):
        return self._call(context, 'detach_virtual_media', node_id=node_id,
                          device_types=device_types)

    def launch_instance(self, context, instance_id):
        return self._call(context, 'launch_instance',
                          instance_id=instance_id)

    def delete_instance(self, context, instance_id):
        return self._call(context, 'delete_instance',
                          instance_id=instance_id)

    def heartbeat(self, context, node_id, callback_url, agent_version=None,
                  agent_status=None):
        return self._call(context, 'heartbeat', node_id=node_id,
                          callback_url=callback_url,
                          agent_version=agent_version,
                          agent_status=agent_status)

    def get_node_with_token(self, context, node_id):
        return self._call(context, 'get_node_with_token', node_id=node_id)

    def continue_inspection(self, context, node_id, inventory,
                            plugin_data=None, discovered=False):
        return self._call(context, 'continue_inspection', node_id=node_id,
                          inventory=inventory, plugin_data=plugin_data,
                          discovered=discovered)

    def bootos_poll(self, context, node_id, results=None, events=None,
                    agent_version=None):
        return self._call(context, 'bootos_poll', node_id=node_id,
                          results=results, events=events,
                          agent_version=agent_version)

    def get_driver_properties(self, context, driver_name):
        return self._call(context, 'get_driver_properties',
                          driver_name=driver_name)

    # Allocations name no node (their node is what they look for), so
    # any conductor may take them.

    def create_allocation(self, context, allocation_id,
                          backfill_node_id=None):
        return self._call(context, 'create_allocation',
                          allocation_id=allocation_id,
                          backfill_node_id=backfill_node_id)

    def destroy_allocation(self, context, allocation_id):
        return self._call(context, 'destroy_allocation',
                          allocation_id=allocation_id)
