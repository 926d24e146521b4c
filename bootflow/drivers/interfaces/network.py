"""Network interfaces: which port (or portgroup) carries which VIF.

A VIF is recorded on the port or portgroup it is bound to, in
``internal_info['tenant_vif_port_id']``, as Ironic does, so tools that
read ports see the same thing.
"""

import sqlalchemy as sa

from bootflow.common import exception
from bootflow.db import api as db_api
from bootflow.db import models
from bootflow.drivers import base

VIF_KEY = 'tenant_vif_port_id'
PORTGROUPS = models.Portgroup.__table__


def _vif(obj):
    return (obj.get('internal_info') or {}).get(VIF_KEY)


def _portgroups(node_id):
    with db_api.reader() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(PORTGROUPS).where(PORTGROUPS.c.node_id == node_id)
            .order_by(PORTGROUPS.c.id)).mappings()]


@db_api.retry
def _set_portgroup_info(portgroup_id, info):
    with db_api.writer() as conn:
        conn.execute(PORTGROUPS.update().where(
            PORTGROUPS.c.id == portgroup_id).values(
                internal_info=info, updated_at=db_api.utcnow()))


def _check_not_attached(objects, kind, vif_id):
    for obj in objects:
        if _vif(obj) == vif_id:
            raise exception.VifAlreadyAttached(
                vif=vif_id, object_type=kind, object_uuid=obj['uuid'])


def _candidates(ports, portgroups, vif_info):
    """Free ports and portgroups the VIF may go to, best first: a named
    port or portgroup only; else portgroups before ports, PXE-enabled
    ports first. A portgroup whose ports carry a VIF is passed over for
    its free ports, and an empty portgroup is never used."""
    port_uuid = vif_info.get('port_uuid')
    pg_uuid = None if port_uuid else vif_info.get('portgroup_uuid')
    by_group, busy_groups, free = {}, set(), []
    for port in ports:
        if port_uuid and port['uuid'] != port_uuid:
            continue
        group = port.get('portgroup_id')
        if _vif(port):
            busy_groups.add(group)
        elif group is None and not pg_uuid:
            free.append(('port', port))
        else:
            by_group.setdefault(group, []).append(port)
    if not port_uuid:
        for pg in portgroups:
            if (pg_uuid and pg['uuid'] != pg_uuid) or _vif(pg):
                continue
            if pg['id'] in busy_groups:
                if not pg_uuid:
                    free.extend(('port', p) for p in by_group.get(pg['id'],
                                                                  []))
            elif by_group.get(pg['id']):
                free.append(('portgroup', pg))
    free.sort(key=lambda item: (item[0] == 'portgroup',
                                bool(item[1].get('pxe_enabled', True))),
              reverse=True)
    return free


class NetworkInterface(base.BaseInterface):
    interface_type = 'network'

    def get_properties(self):
        return {}

    def validate(self, task):
        pass

    def vif_list(self, task):
        return [{'id': _vif(obj)}
                for obj in task.ports + _portgroups(task.node.id)
                if _vif(obj)]

    def vif_attach(self, task, vif_info):
        vif_id = vif_info['id']
        portgroups = _portgroups(task.node.id)
        _check_not_attached(task.ports, 'Port', vif_id)
        _check_not_attached(portgroups, 'Portgroup', vif_id)
        free = _candidates(task.ports, portgroups, vif_info)
        if not free:
            raise exception.NoFreePhysicalPorts(vif=vif_id)
        kind, obj = free[0]
        info = dict(obj.get('internal_info') or {}, **{VIF_KEY: vif_id})
        if kind == 'port':
            obj.update(db_api.update_port(obj['id'],
                                          {'internal_info': info}))
        else:
            _set_portgroup_info(obj['id'], info)

    def vif_detach(self, task, vif_id):
        for port in task.ports:
            if _vif(port) == vif_id:
                info = dict(port['internal_info'])
                info.pop(VIF_KEY)
                port.update(db_api.update_port(port['id'],
                                               {'internal_info': info}))
                return
        for pg in _portgroups(task.node.id):
            if _vif(pg) == vif_id:
                info = dict(pg['internal_info'])
                info.pop(VIF_KEY)
                _set_portgroup_info(pg['id'], info)
                return
        raise exception.VifNotAttached(vif=vif_id, node=task.node.uuid)

    def port_changed(self, task, port):
        pass
