"""Network interfaces: which port carries which VIF.

A VIF is recorded on the port it is bound to, in
``port.internal_info['tenant_vif_port_id']``, as Ironic does, so tools that
read ports see the same thing.
"""

from bootflow.common import exception
from bootflow.db import api as db_api
from bootflow.drivers import base

VIF_KEY = 'tenant_vif_port_id'


class NetworkInterface(base.BaseInterface):
    interface_type = 'network'

    def get_properties(self):
        return {}

    def validate(self, task):
        pass

    def vif_list(self, task):
        return [{'id': p['internal_info'][VIF_KEY]} for p in task.ports
                if (p.get('internal_info') or {}).get(VIF_KEY)]

    def vif_attach(self, task, vif_info):
        vif_id = vif_info['id']
        for port in task.ports:
            if (port.get('internal_info') or {}).get(VIF_KEY) == vif_id:
                raise exception.VifAlreadyAttached(vif=vif_id,
                                                   node=task.node.uuid)
        free = [p for p in task.ports
                if not (p.get('internal_info') or {}).get(VIF_KEY)]
        if vif_info.get('port_uuid'):
            free = [p for p in free if p['uuid'] == vif_info['port_uuid']]
        # PXE-enabled ports first: they are the ones the node boots from.
        free.sort(key=lambda p: not p.get('pxe_enabled'))
        if not free:
            raise exception.NoFreePhysicalPorts(vif=vif_id)
        port = free[0]
        info = dict(port.get('internal_info') or {}, **{VIF_KEY: vif_id})
        port.update(db_api.update_port(port['id'], {'internal_info': info}))

    def vif_detach(self, task, vif_id):
        for port in task.ports:
            info = dict(port.get('internal_info') or {})
            if info.get(VIF_KEY) == vif_id:
                info.pop(VIF_KEY)
                port.update(db_api.update_port(port['id'],
                                               {'internal_info': info}))
                return
        raise exception.VifNotAttached(vif=vif_id, node=task.node.uuid)

    def port_changed(self, task, port):
        pass
