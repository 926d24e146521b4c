"""/v1/portgroups: bonds of a node's ports (API 1.23), the port groups
below a node (1.24), and the rules a port follows to join one.

A port group belongs to one node. Its members are ports of that node; the
rules about who may join (same node, PXE only where standalone ports are
supported, one physical network per group) live here so that the port
endpoints and the port group endpoints enforce the same ones.
"""

import re

import sqlalchemy as sa

from bootflow.api import collection
from bootflow.api import resource
from bootflow.api import validation
from bootflow.api import versions
from bootflow.api.controllers import nodes
from bootflow.common import exception
from bootflow.common import states
from bootflow.db import api as db_api
from bootflow.db import models
from bootflow.db import resources as db

TABLE = models.Portgroup.__table__
PORTS = db_api.PORTS
NODES = db_api.NODES

# Ironic's [DEFAULT]default_portgroup_mode, given to groups created
# without a mode (also below 1.26, where the field is not shown).
DEFAULT_MODE = 'active-backup'
# A node's ports may be regrouped only while the node is not in use.
_REGROUP_STATES = (states.ENROLL, states.INSPECTING, states.INSPECTWAIT,
                   states.MANAGEABLE)
_VIF_KEY = 'tenant_vif_port_id'

SCHEMAS = {
    'uuid': validation.nullable(validation.UUID),
    'name': validation.nullable(validation.NAME),
    # checked in _prepare, for Ironic's wording of a bad MAC
    'address': {'type': ['string', 'null']},
    'node_uuid': validation.UUID,
    # Ironic has always taken "true"/"false" strings here too
    'standalone_ports_supported': {'type': ['boolean', 'string', 'null']},
    'mode': validation.nullable(validation.string(255)),
    'properties': validation.nullable(validation.DICT),
    'physical_network': validation.nullable(validation.string(64)),
    'category': validation.nullable(validation.string(80)),
    'dynamic_portgroup': validation.BOOL,
    'extra': validation.nullable(validation.DICT),
    'internal_info': validation.DICT,
}


# -- lookups -----------------------------------------------------------------

def _not_found(ident):
    return exception.PortgroupNotFound(portgroup=ident)


def get_portgroup(ident):
    """A port group by UUID or name (names exist from 1.23, the first
    version with port groups)."""
    return db.get(TABLE, ident, _not_found, by_name=True)


def _node_lookup(req, ident):
    # a body naming a missing node is a bad request, not a missing page
    try:
        return db_api.get_node(ident, ['id', 'uuid'])
    except exception.NodeNotFound as e:
        e.code = 400
        raise


def check_node_link(row, ident):
    """The node a PATCH moves a node-owned row to, refused alike whether
    it does not exist or belongs to another owner (nothing is disclosed).
    """
    invalid = exception.Invalid(
        "Unable to apply the requested node_uuid '%s'. Requested value "
        "was invalid." % (ident,))
    try:
        new = db_api.get_node(ident)
    except exception.NodeNotFound:
        raise invalid
    old = db_api.get_node(row['node_id'], ['owner'])
    if old['owner'] != new['owner']:
        raise invalid
    return new


def uuids_by_id(ids):
    """portgroup id -> UUID, for rendering a page of ports."""
    return db.uuids_by_id(TABLE, ids)


def _members(portgroup_id, exclude=None):
    query = sa.select(PORTS).where(PORTS.c.portgroup_id == portgroup_id)
    if exclude is not None:
        query = query.where(PORTS.c.id != exclude)
    with db_api.reader() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _uses_network(node):
    # Ironic's noop network interface ignores port group membership rules
    return node.get('network_interface') != 'noop'


# -- filters -----------------------------------------------------------------

_EXCLUSIVE = ('node', 'address', 'shard', 'conductor_groups')


def _check_exclusive(req, parent=False):
    given = [p for p in _EXCLUSIVE if req.GET.get(p)]
    if len(given) + int(parent) > 1:
        raise exception.Invalid(
            'Filtering by node, address, or shard simultaneously is not '
            'supported.')


def _split(value):
    return [v.strip() for v in value.split(',') if v.strip()]


def _node_ids(where):
    return sa.select(NODES.c.id).where(where)


def _by_node(req, value):
    _check_exclusive(req)
    return TABLE.c.node_id == nodes.get_node_or_404(req, value)['id']


def _by_address(req, value):
    _check_exclusive(req)
    return TABLE.c.address == value.lower().replace('-', ':')


def _by_shard(req, value):
    _check_exclusive(req)
    return TABLE.c.node_id.in_(_node_ids(NODES.c.shard.in_(_split(value))))


def _by_conductor_groups(req, value):
    _check_exclusive(req)
    groups = [g.lower() for g in _split(value)]
    return TABLE.c.node_id.in_(
        _node_ids(NODES.c.conductor_group.in_(groups)))


_FILTER_FUNCS = {'node': _by_node, 'address': _by_address,
                 'shard': _by_shard, 'conductor_groups': _by_conductor_groups}


# -- writes ------------------------------------------------------------------

def _conflict(text, values):
    if re.search(r'portgroups[.0]name', text):
        raise exception.PortgroupDuplicateName(name=values.get('name'))
    if re.search(r'portgroups[.0]address', text):
        raise exception.PortgroupMACAlreadyExists(mac=values.get('address'))
    raise exception.PortgroupAlreadyExists(uuid=values.get('uuid'))


def _prepare(req, values, row):
    if values.get('address') is not None:
        values['address'] = collection.normalize_mac(values['address'])
    if 'standalone_ports_supported' in values:
        standalone = collection.parse_strict_bool(
            'standalone_ports_supported',
            values['standalone_ports_supported'])
        values['standalone_ports_supported'] = \
            True if standalone is None else standalone
    if row is None:
        if not values.get('mode'):
            values['mode'] = DEFAULT_MODE
        return
    if 'mode' in values and values['mode'] is None:
        raise exception.InvalidParameterValue(
            err="'mode' is a mandatory attribute and can not be removed")
    if 'node_uuid' in values:
        node = check_node_link(row, values['node_uuid'])
        if node['id'] != row['node_id']:
            _check_regroup(row, node)
    else:
        node = db_api.get_node(row['node_id'])
    if node['provision_state'] == states.INSPECTING and \
            req.allows(versions.SWITCHES['INSPECT_WAIT_STATE']):
        raise exception.Conflict(
            'Cannot update portgroup "%s" on node "%s" while it is in '
            'state "%s".' % (row['uuid'], node['uuid'], states.INSPECTING))
    if values.get('standalone_ports_supported') is False and \
            _uses_network(node):
        _check_no_standalone_members(row)


def _check_regroup(row, node):
    """Moving a group to another node: only an idle node, only empty."""
    if node['provision_state'] not in _REGROUP_STATES and \
            not node['maintenance']:
        raise exception.InvalidState(
            "Portgroup %s can not be associated to node %s unless the node "
            "is in a %s state or in maintenance mode. Current state is "
            "'%s'." % (row['uuid'], node['uuid'], ', '.join(_REGROUP_STATES),
                       node['provision_state']))
    if _members(row['id']):
        raise exception.PortgroupNotEmpty(
            'Portgroup %s can not be associated with node %s because there '
            'are ports associated with this portgroup.'
            % (row['uuid'], node['uuid']))


def _check_no_standalone_members(row):
    for port in _members(row['id']):
        reasons = []
        if port['pxe_enabled']:
            reasons.append("'pxe_enabled' is set to True")
        vif = (port['internal_info'] or {}).get(_VIF_KEY)
        if vif:
            reasons.append('VIF %s is attached to this port' % vif)
        if reasons:
            raise exception.Conflict(
                'standalone_ports_supported can not be set to False, because '
                'the port group %s contains port with %s'
                % (row['uuid'], ', '.join(reasons)))


def _after_update(req, row, changes):
    # a group's members share its physical network
    if 'physical_network' in changes:
        with db_api.writer() as conn:
            conn.execute(PORTS.update().where(
                PORTS.c.portgroup_id == row['id']).values(
                physical_network=row['physical_network'],
                updated_at=db_api.utcnow()))


def _before_delete(req, row):
    if db.count(PORTS, PORTS.c.portgroup_id == row['id']):
        raise exception.PortgroupNotEmpty(portgroup=row['uuid'])


PORTGROUPS = resource.Resource(
    'portgroups', TABLE, versions.PORTGROUP_FIELDS, SCHEMAS,
    since=versions.SWITCHES['PORTGROUPS'], singular='portgroup',
    list_fields=('uuid', 'address', 'name', 'links'),
    required=('node_uuid',),
    read_only=resource.READ_ONLY + ('internal_info', 'dynamic_portgroup'),
    filters={name: (since, _FILTER_FUNCS[name])
             for name, since in versions.PORTGROUP_FILTERS},
    by_name=versions.SWITCHES['PORTGROUPS'],
    refs={'node_uuid': resource.Ref('node_id', NODES, _node_lookup)},
    sublinks={'ports': versions.SWITCHES['PORTGROUPS']},
    computed=('ports',),
    not_found=_not_found, conflict=_conflict, prepare=_prepare,
    after_update=_after_update, before_delete=_before_delete,
    defaults={'standalone_ports_supported': True})


# -- ports joining a group ---------------------------------------------------

def resolve_port_membership(req, values, node_id, port=None):
    """Turn a port's ``portgroup_uuid`` into ``portgroup_id`` and check
    the membership rules, for a port being created (``port`` None) or
    updated (``values`` holds the changes, ``node_id`` the port's node
    after them).
    """
    node = db_api.get_node(node_id)
    current = port['portgroup_id'] if port is not None else None
    if 'portgroup_uuid' in values:
        ident = values.pop('portgroup_uuid')
        group = _member_group(ident, node) if ident else None
        values['portgroup_id'] = group['id'] if group else None
    else:
        group = db.get(TABLE, current, _not_found) if current else None
    if group is None:
        return values
    joining = group['id'] != current
    if port is None:
        _check_create_pxe(group, values)
    else:
        _check_update(req, node, group, values, port, joining)
    if joining or 'physical_network' in values:
        _check_physnet(group, values, port)
    return values


def _member_group(ident, node):
    try:
        group = get_portgroup(ident)
    except exception.PortgroupNotFound as e:
        # the body names it: a bad request rather than a missing page
        e.code = 400
        raise
    if group['node_id'] != node['id']:
        raise exception.Invalid('Port can not be added to a portgroup '
                                'belonging to a different node.')
    return group


def _check_create_pxe(group, values):
    if values.get('pxe_enabled') and not group['standalone_ports_supported']:
        raise exception.Conflict(
            "Port group %s doesn't support standalone ports. This port "
            "cannot be created as a member of that portgroup as the port's "
            "'pxe_enabled' field was set to True." % group['uuid'])


def _check_update(req, node, group, values, port, joining):
    if joining and node['provision_state'] not in _REGROUP_STATES and \
            not node['maintenance']:
        raise exception.InvalidState(
            'Port %s can not have any connectivity attributes (portgroup_id) '
            'updated unless node %s is in a %s state or in maintenance '
            'mode. The current state is %s.'
            % (port['uuid'], node['uuid'], ', '.join(_REGROUP_STATES),
               node['provision_state']))
    if 'physical_network' in values and \
            req.allows(PORTGROUPS.field_since['physical_network']):
        raise exception.Invalid('physical_network cannot be changed while '
                                'the port belongs to a portgroup.')
    pxe = values.get('pxe_enabled', port['pxe_enabled'])
    info = values.get('internal_info', port['internal_info']) or {}
    vif = info.get(_VIF_KEY)
    if group['standalone_ports_supported'] or not _uses_network(node) or \
            not (joining or 'pxe_enabled' in values or vif):
        return
    reasons = (["'pxe_enabled' was set to True"] if pxe else []) + \
        (['VIF %s is attached to the port' % vif] if vif else [])
    if reasons:
        raise exception.Conflict(
            "Port group %s doesn't support standalone ports. This port %s "
            "cannot be a member of that port group because of: %s"
            % (group['uuid'], port['uuid'], ', '.join(reasons)))


def _check_physnet(group, values, port):
    """One physical network per group: a port joining a group without one
    gives it its own; a port on another network may not join."""
    physnet = values.get('physical_network',
                         port['physical_network'] if port else None)
    others = {p['physical_network'] for p in _members(
        group['id'], exclude=port['id'] if port else None)}
    if others:
        expected = others.pop()
    elif group['physical_network'] is not None:
        expected = group['physical_network']
    else:
        if physnet is not None:
            db.update(TABLE, group['id'], {'physical_network': physnet},
                      _conflict, _not_found)
        return
    if physnet != expected:
        raise exception.Conflict(
            'Port with physical network %s cannot become a member of port '
            'group %s which has ports in physical network %s.'
            % (physnet, group['uuid'], expected))


# -- routes ------------------------------------------------------------------

def _node_portgroups(req, node_ident, detail):
    req.require_version(versions.PORTGROUP_SUBRESOURCES)
    node = nodes.get_node_or_404(req, node_ident)
    _check_exclusive(req, parent=True)
    suffix = '/detail' if detail and 'detail' not in req.GET else ''
    return PORTGROUPS.list(
        req, detail, parent_clauses=[TABLE.c.node_id == node['id']],
        path='nodes/%s/portgroups%s' % (node['uuid'], suffix))


def list_node_portgroups(req, node_ident):
    return _node_portgroups(req, node_ident, False)


def list_node_portgroups_detail(req, node_ident):
    return _node_portgroups(req, node_ident, True)


def register(router):
    PORTGROUPS.register(router)
    for path, handler in (
            ('/v1/nodes/{node_ident}/portgroups', list_node_portgroups),
            ('/v1/nodes/{node_ident}/portgroups/detail',
             list_node_portgroups_detail)):
        router.add('GET', path, resource.label(
            handler, resource=PORTGROUPS, request_schema=None,
            min_version=versions.PORTGROUP_SUBRESOURCES, status=200))
