"""/v1/ports and /v1/nodes/{node}/ports, at every API version.

As for nodes, a port field younger than the request's version is hidden,
and naming it (``fields=``, sort, body) is refused with 406.
"""

import re

from oslo_utils import uuidutils

from bootflow.api import access
from bootflow.api import collection
from bootflow.api import jsonpatch
from bootflow.api import resource as api_resource
from bootflow.api import validation
from bootflow.api import versions
from bootflow.api import wsgi
from bootflow.api.controllers import nodes
from bootflow.api.controllers import portgroups
from bootflow.common import exception
from bootflow.common import states
from bootflow.db import api as db_api

SWITCHES = versions.SWITCHES
_DATAPATH_RE = re.compile(r'^[0-9a-f]{16}$')
_DICT_FIELDS = ('extra', 'local_link_connection', 'internal_info')
_COLUMNS = set(db_api.PORTS.c.keys())
_VTEP_KEYS = ('vtep-logical-switch', 'vtep-physical-switch')
# OVN VTEP switch data in local_link_connection was understood from 1.90
# and dropped again at 1.105.
_VTEP_VERSIONS = (90, 105)

_TEXT = {'type': ['string', 'null']}
_FLAG = {'type': ['string', 'boolean', 'null']}
_LLC_PROPERTIES = {
    'port_id': {'type': 'string'},
    'switch_id': {'type': 'string'},
    'hostname': {'type': 'string'},
    'switch_info': {'type': 'string'},
    'network_type': {'type': 'string', 'enum': ['managed', 'unmanaged']},
    'vtep-logical-switch': {'type': 'string'},
    'vtep-physical-switch': {'type': 'string'},
}


def _llc(required, **overrides):
    return {'type': 'object',
            'properties': dict(_LLC_PROPERTIES, **overrides),
            'additionalProperties': False, 'required': required}


# How a port is wired: a switch port, a smart NIC's host, an unmanaged
# network, an OVN VTEP switch, or nothing known.
LOCAL_LINK_CONNECTION = {'anyOf': [
    _llc(['port_id', 'switch_id']),
    _llc(['port_id', 'hostname']),
    _llc(['network_type'], network_type={'type': 'string',
                                         'enum': ['unmanaged']}),
    _llc(['port_id'] + list(_VTEP_KEYS)),
    {'type': 'object', 'additionalProperties': False},
    {'type': 'null'},
]}

PORT_SCHEMA = {
    'type': 'object',
    'properties': {
        'address': {'type': 'string'},
        'extra': {'type': ['object', 'null']},
        'is_smartnic': _FLAG,
        'local_link_connection': LOCAL_LINK_CONNECTION,
        'node_ident': {'type': 'string'},
        'node_uuid': {'type': 'string'},
        'physical_network': {'type': ['string', 'null'], 'maxLength': 64},
        'portgroup_uuid': _TEXT,
        'pxe_enabled': _FLAG,
        'uuid': _TEXT,
        'name': _TEXT,
        'description': {'type': ['string', 'null'], 'maxLength': 255},
        'vendor': {'type': ['string', 'null'], 'maxLength': 32},
        'category': {'type': ['string', 'null'], 'maxLength': 80},
        'available_for_dynamic_portgroup': {'type': 'boolean'},
    },
    'required': ['address'],
    'oneOf': [{'required': ['node_ident']}, {'required': ['node_uuid']}],
    'additionalProperties': False,
}
PORT_PATCH_SCHEMA = validation.JSON_PATCH
# The order Ironic lists them in its refusal.
_PATCH_ALLOWED = ('address', 'extra', 'is_smartnic', 'local_link_connection',
                  'node_ident', 'node_uuid', 'physical_network',
                  'portgroup_uuid', 'pxe_enabled', 'name', 'description',
                  'vendor', 'category', 'available_for_dynamic_portgroup')


def _normalize_switch_id(llc):
    """A switch is named by its MAC or its 16-digit OpenFlow datapath."""
    switch = (llc or {}).get('switch_id')
    if switch is None:
        return
    if collection.MAC_RE.match(switch):
        llc['switch_id'] = switch.lower().replace('-', ':')
    elif _DATAPATH_RE.match(switch.lower()):
        llc['switch_id'] = switch.lower()
    else:
        raise exception.InvalidParameterValue(
            err='Expected a MAC address or OpenFlow datapath ID but '
                'received %s.' % switch)


def _fields(req, detail):
    allowed = versions.visible(versions.PORT_FIELDS, req.version)
    if detail:
        return allowed
    return [f for f in versions.PORT_LIST_FIELDS if f in allowed]


def _shown_llc(req, value):
    if not value or not any(k in value for k in _VTEP_KEYS):
        return value or {}
    low, high = _VTEP_VERSIONS
    # clients outside the VTEP versions cannot read such a value
    return value if low <= req.version[1] < high else {}


def render(req, rows, fields):
    base = collection.base_url(req)
    node_uuids = db_api.node_uuids_by_id({r['node_id'] for r in rows}) \
        if 'node_uuid' in fields else {}
    group_uuids = portgroups.uuids_by_id([r['portgroup_id'] for r in rows]) \
        if 'portgroup_uuid' in fields else {}
    out = []
    for row in rows:
        doc = {}
        for field in fields:
            if field == 'links':
                doc['links'] = collection.links(base, 'ports', row['uuid'])
            elif field == 'node_uuid':
                doc['node_uuid'] = node_uuids.get(row['node_id'])
            elif field == 'portgroup_uuid':
                doc['portgroup_uuid'] = group_uuids.get(row['portgroup_id'])
            elif field == 'available_for_dynamic_portgroup':
                doc[field] = True
            elif field in ('created_at', 'updated_at'):
                doc[field] = collection.isotime(row[field])
            elif field == 'local_link_connection':
                doc[field] = _shown_llc(req, row[field])
            elif field in _DICT_FIELDS:
                doc[field] = row[field] or {}
            else:
                doc[field] = row[field]
        out.append(doc)
    return out


def _get_port(req, ident):
    if not uuidutils.is_uuid_like(ident) and \
            not req.allows(SWITCHES['PORT_NAME']):
        raise exception.PortNotFound(port=ident)
    return db_api.get_port(ident)


# -- listing ----------------------------------------------------------------

def _select(req):
    return collection.select_fields(req, versions.PORT_FIELDS,
                                    invalid='Field(s) "%s" are not valid')


def _list_fields(req, detail_endpoint):
    if detail_endpoint:
        if 'fields' in req.GET:
            raise exception.InvalidParameterValue(
                err='Unexpected arguments: fields')
        return _fields(req, True)
    detail = collection.parse_strict_bool('detail', req.GET.get('detail'))
    if detail is not None and not req.allows(SWITCHES['DETAIL_QUERY']):
        raise exception.InvalidParameterValue(
            err='Invalid query parameter ?detail=%s received.' % detail)
    requested = _select(req)
    if requested is not None and detail:
        raise exception.InvalidParameterValue(
            err='Can not specify ?detail=True and fields in the same '
                'request.')
    if requested:
        return requested + ([] if 'links' in requested else ['links'])
    return _fields(req, bool(detail))


def _sort(req):
    return collection.versioned_sort(
        req, versions.PORT_FIELD_VERSION, versions.PORT_UNSORTABLE,
        _COLUMNS - versions.PORT_UNSORTABLE)


def _node_ids_where(**filters):
    return [r['id'] for r in db_api.list_nodes(filters=filters,
                                               columns=['id'])]


def _filters(req, node, group=None):
    for param, minor in versions.PORT_FILTERS.items():
        if param in req.GET and not req.allows(minor):
            raise exception.FieldNotAcceptable()
    query = req.GET
    filters = {}
    node_ident = query.get('node_uuid') or query.get('node')
    if 'node_uuid' in query and \
            not uuidutils.is_uuid_like(query['node_uuid']):
        raise exception.InvalidParameterValue(
            err='Expected UUID for node_uuid: %s' % query['node_uuid'])
    if node is None and node_ident:
        if not uuidutils.is_uuid_like(node_ident) and \
                not req.allows(SWITCHES['NODE_NAME']):
            raise exception.FieldNotAcceptable()
        node = nodes.get_node_or_404(req, node_ident)
    groups = query.get('conductor_groups')
    if groups and (node is not None or query.get('address') or
                   query.get('portgroup')):
        raise exception.InvalidParameterValue(
            err='Filtering by conductor_groups cannot be combined with '
                'node_ident, portgroup_ident, or node address filters.')
    if group is None and query.get('portgroup'):
        group = portgroups.get_portgroup(query['portgroup'])
    if group is not None:
        if node is not None:
            raise exception.OperationNotPermitted()
        filters['portgroup_id'] = group['id']
    if node is not None:
        filters['node_id'] = node['id']
    if query.get('address'):
        filters['address'] = collection.normalize_mac(query['address'])
    if query.get('shard'):
        shards = [s.strip() for s in query['shard'].split(',') if s.strip()]
        filters['node_ids'] = _node_ids_where(shard=shards)
    if groups:
        filters['node_ids'] = _node_ids_where(conductor_group=[
            g.strip().lower() for g in groups.split(',') if g.strip()])
    if query.get('description_contains'):
        filters['description_contains'] = query['description_contains']
    project = access.project_filter(req, 'baremetal:port:list_all',
                                    'baremetal:port:list')
    if project is not None and node is not None and \
            project not in (node.get('owner'), node.get('lessee')):
        raise exception.NodeNotFound(node=node_ident)
    if project is not None and node is None:
        # only ports of nodes the project owns or leases
        visible = set(_node_ids_where(project=project))
        if 'node_ids' in filters:
            visible &= set(filters['node_ids'])
        filters['node_ids'] = sorted(visible)
    return filters, node


def _list(req, detail_endpoint, node=None, group=None):
    fields = _list_fields(req, detail_endpoint)
    filters, node = _filters(req, node, group)
    limit = collection.parse_limit(req)
    sort_key, sort_dir = _sort(req)
    rows = db_api.list_ports(filters, limit=limit,
                             marker=req.GET.get('marker'), sort_key=sort_key,
                             sort_dir=sort_dir)
    body = {'ports': render(req, rows, fields)}
    resource = 'ports/detail' if detail_endpoint else 'ports'
    if node is not None and 'node' not in req.GET and \
            'node_uuid' not in req.GET:
        resource = 'nodes/%s/%s' % (node['uuid'], resource)
    if group is not None:
        resource = 'portgroups/%s/%s' % (group['uuid'], resource)
    nxt = collection.next_link(req, resource, rows, limit)
    if nxt:
        body['next'] = nxt
    return body


def list_ports(req):
    return _list(req, False)


def list_ports_detail(req):
    return _list(req, True)


def list_node_ports(req, node_ident):
    return _list(req, False, nodes.get_node_or_404(req, node_ident))


def list_node_ports_detail(req, node_ident):
    return _list(req, True, nodes.get_node_or_404(req, node_ident))


def _group_ports(req, group_ident, detail_endpoint):
    req.require_version(versions.PORTGROUP_SUBRESOURCES)
    return _list(req, detail_endpoint,
                 group=portgroups.PORTGROUPS.get(req, group_ident))


def list_portgroup_ports(req, portgroup_ident):
    return _group_ports(req, portgroup_ident, False)


def list_portgroup_ports_detail(req, portgroup_ident):
    return _group_ports(req, portgroup_ident, True)


def show_port(req, port_id):
    row = _get_port(req, port_id)
    requested = _select(req)
    fields = (requested + ([] if 'links' in requested else ['links'])
              if requested else _fields(req, True))
    return render(req, [row], fields)[0]


# -- request bodies -----------------------------------------------------------

def _reject_younger(req, doc):
    """406 for a field, or a local_link_connection key, the request's
    version does not know."""
    for key in doc:
        since = versions.PORT_BODY_VERSION.get(key, 1)
        if not req.allows(since):
            raise exception.FieldNotAcceptable()
    llc = doc.get('local_link_connection') or {}
    if 'network_type' in llc and not req.allows(SWITCHES['NETWORK_TYPE']):
        raise exception.FieldNotAcceptable()
    low, high = _VTEP_VERSIONS
    if any(k in llc for k in _VTEP_KEYS) and \
            not low <= req.version[1] < high:
        raise exception.FieldNotAcceptable()


def _check_values(doc):
    """Value rules past the schema, in Ironic's words."""
    for key in ('pxe_enabled', 'is_smartnic'):
        if isinstance(doc.get(key), str):
            doc[key] = collection.parse_strict_bool(key, doc[key])
    for key in ('uuid', 'node_uuid', 'portgroup_uuid'):
        value = doc.get(key)
        if value is not None and not uuidutils.is_uuid_like(value):
            raise exception.InvalidParameterValue(
                err='Expected UUID for %s: %s' % (key, value))
    doc['address'] = collection.normalize_mac(doc.get('address'))
    _normalize_switch_id(doc.get('local_link_connection'))
    llc = doc.get('local_link_connection') or {}
    if doc.get('is_smartnic') and not (llc.get('port_id') and
                                       llc.get('hostname')):
        raise exception.InvalidParameterValue(
            err='Smart NIC port must have port_id and hostname in '
                'local_link_connection')
    if doc.get('physical_network') is not None and \
            not doc['physical_network']:
        raise exception.InvalidParameterValue(
            err='A non-empty value is required when setting '
                'physical_network')


def _port_node(ident, field='node_uuid'):
    try:
        return db_api.get_node(ident, ['id', 'uuid'])
    except exception.NodeNotFound:
        raise exception.NodeNotFound(node=ident, code=400)


def create_port(req):
    body = req.json_body_or_error()
    validation.validate(PORT_SCHEMA, body)
    _reject_younger(req, body)
    values = dict(body)
    _check_values(values)
    node = _port_node(values.pop('node_ident', None) or
                      values.pop('node_uuid'))
    values.pop('node_uuid', None)
    values['node_id'] = node['id']
    portgroups.resolve_port_membership(req, values, node['id'])
    values.pop('available_for_dynamic_portgroup', None)
    for flag in ('pxe_enabled', 'is_smartnic'):
        if values.get(flag) is None:
            values.pop(flag, None)
    row = db_api.create_port(values)
    base = collection.base_url(req)
    doc = render(req, [row], _fields(req, True))[0]
    return wsgi.Response(doc, 201, {
        'Location': '%s/v1/ports/%s' % (base, row['uuid'])})


create_port.request_schema = PORT_SCHEMA


def _patched(req, row, patch):
    validation.validate(PORT_PATCH_SCHEMA, patch)
    for op in patch:
        root = op['path'].split('/')[1]
        if root not in _PATCH_ALLOWED:
            raise exception.InvalidParameterValue(
                err='Cannot patch %s. Only the following can be updated: '
                    '%s' % (op['path'], ', '.join(_PATCH_ALLOWED)))
        if op['op'] != 'remove':
            _reject_younger(req, {root: op.get('value')})
    doc = render(req, [row], [f for f, _ in versions.PORT_FIELDS])[0]
    doc['local_link_connection'] = row['local_link_connection'] or {}
    doc['node_ident'] = doc['node_uuid']
    new = jsonpatch.apply_patch(doc, patch,
                                mandatory={'address', 'node_uuid'})
    if new['node_ident'] != doc['node_ident']:
        new['node_uuid'] = new['node_ident']
    checked = {k: v for k, v in new.items()
               if k in PORT_SCHEMA['properties'] and k != 'node_ident'}
    validation.validate(PORT_SCHEMA, checked)
    _check_values(new)
    return doc, new


def update_port(req, port_id):
    row = _get_port(req, port_id)
    patch = req.json_body_or_error()
    doc, new = _patched(req, row, patch)
    changes = {k: new[k] for k in versions.PORT_PATCHABLE
               if new.get(k) != doc.get(k)}
    node = db_api.get_node(row['node_id'], ['id', 'uuid',
                                            'provision_state'])
    if 'node_uuid' in changes:
        node = _port_node(changes.pop('node_uuid'))
        changes['node_id'] = node['id']
    if node.get('provision_state') == states.INSPECTING and \
            req.allows(SWITCHES['INSPECT_WAIT_STATE']):
        raise exception.InvalidStateForOperation(
            err='Cannot update port "%s" on "%s" while it is in state '
                '"%s".' % (row['uuid'], node['uuid'], states.INSPECTING))
    portgroups.resolve_port_membership(req, changes, node['id'], row)
    changes.pop('available_for_dynamic_portgroup', None)
    if changes:
        row = db_api.update_port(row['id'], changes)
    return render(req, [row], _fields(req, True))[0]


update_port.request_schema = PORT_PATCH_SCHEMA


def delete_port(req, port_id):
    row = _get_port(req, port_id)
    db_api.destroy_port(row['id'])
    return wsgi.Response(None, 204)


def register(router):
    router.add('GET', '/v1/ports', list_ports)
    router.add('POST', '/v1/ports', create_port)
    router.add('GET', '/v1/ports/detail', list_ports_detail)
    router.add('GET', '/v1/ports/{port_id}', show_port)
    router.add('PATCH', '/v1/ports/{port_id}', update_port)
    router.add('DELETE', '/v1/ports/{port_id}', delete_port)
    router.add('GET', '/v1/nodes/{node_ident}/ports', list_node_ports)
    router.add('GET', '/v1/nodes/{node_ident}/ports/detail',
               list_node_ports_detail)
    for path, handler in (
            ('/v1/portgroups/{portgroup_ident}/ports', list_portgroup_ports),
            ('/v1/portgroups/{portgroup_ident}/ports/detail',
             list_portgroup_ports_detail)):
        router.add('GET', path, api_resource.label(
            handler, request_schema=None, status=200,
            min_version=versions.PORTGROUP_SUBRESOURCES))
