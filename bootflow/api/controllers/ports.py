"""/v1/ports and /v1/nodes/{node}/ports."""

import re

from oslo_utils import uuidutils

from bootflow.api import collection
from bootflow.api import fields as api_fields
from bootflow.api import jsonpatch
from bootflow.api import wsgi
from bootflow.api.controllers import nodes
from bootflow.common import exception
from bootflow.db import api as db_api

_MAC_RE = re.compile(r'^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$')
_DICT_FIELDS = ('extra', 'local_link_connection', 'internal_info')


def normalize_mac(address):
    if not isinstance(address, str) or not _MAC_RE.match(address):
        raise exception.InvalidParameterValue(
            err='Expected valid MAC address for address: %s' % (address,))
    return address.lower().replace('-', ':')


def _fields(req, detail):
    allowed = api_fields.visible(api_fields.PORT_FIELDS, req.version)
    if detail:
        return allowed
    return [f for f in api_fields.PORT_LIST_FIELDS if f in allowed]


def render(req, rows, fields):
    base = collection.base_url(req)
    node_uuids = db_api.node_uuids_by_id({r['node_id'] for r in rows}) \
        if 'node_uuid' in fields else {}
    out = []
    for row in rows:
        doc = {}
        for field in fields:
            if field == 'links':
                doc['links'] = collection.links(base, 'ports', row['uuid'])
            elif field == 'node_uuid':
                doc['node_uuid'] = node_uuids.get(row['node_id'])
            elif field == 'portgroup_uuid':
                doc['portgroup_uuid'] = None
            elif field == 'available_for_dynamic_portgroup':
                doc[field] = True
            elif field in ('created_at', 'updated_at'):
                doc[field] = collection.isotime(row[field])
            elif field in _DICT_FIELDS:
                doc[field] = row[field] or {}
            else:
                doc[field] = row[field]
        out.append(doc)
    return out


def _get_port(req, ident):
    if not uuidutils.is_uuid_like(ident) and not req.allows(88):
        raise exception.PortNotFound(port=ident)
    return db_api.get_port(ident)


def _list(req, detail, node=None):
    if req.GET.get('detail') is not None:
        detail = collection.parse_bool('detail', req.GET['detail'])
    if detail and 'fields' in req.GET:
        raise exception.InvalidParameterValue(
            err='Unexpected arguments: fields')
    requested = collection.parse_fields(
        req, api_fields.visible(api_fields.PORT_FIELDS, req.version))
    fields = requested + (['links'] if 'links' not in requested else []) \
        if requested else _fields(req, detail)
    filters = {}
    node_ident = req.GET.get('node') or req.GET.get('node_uuid')
    if node is None and node_ident:
        node = nodes.get_node_or_404(req, node_ident)
    if node is not None:
        filters['node_id'] = node['id']
    if req.GET.get('address'):
        filters['address'] = req.GET['address'].lower()
    limit = collection.parse_limit(req)
    sort_key, sort_dir = collection.parse_sort(
        req, {'uuid', 'address', 'created_at', 'updated_at', 'name',
              'pxe_enabled', 'physical_network'})
    rows = db_api.list_ports(filters, limit=limit,
                             marker=req.GET.get('marker'), sort_key=sort_key,
                             sort_dir=sort_dir)
    body = {'ports': render(req, rows, fields)}
    resource = 'ports/detail' if detail else 'ports'
    if node is not None and 'node' not in req.GET and \
            'node_uuid' not in req.GET:
        resource = 'nodes/%s/%s' % (node['uuid'], resource)
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


def show_port(req, port_id):
    row = _get_port(req, port_id)
    allowed = api_fields.visible(api_fields.PORT_FIELDS, req.version)
    requested = collection.parse_fields(req, allowed)
    return render(req, [row], requested or allowed)[0]


def _check_values(req, values):
    allowed = set(api_fields.visible(api_fields.PORT_FIELDS, req.version))
    for key in values:
        if key not in allowed or key in ('uuid', 'created_at', 'updated_at',
                                         'links', 'internal_info'):
            if key == 'uuid':
                continue
            raise exception.InvalidParameterValue(
                err='Unknown or read-only attribute for port: %s' % key)
    for key in ('extra', 'local_link_connection'):
        if values.get(key) is not None and not isinstance(values[key], dict):
            raise exception.InvalidParameterValue(
                err='%s must be a dictionary' % key)
    for key in ('pxe_enabled', 'is_smartnic'):
        if key in values and not isinstance(values[key], bool):
            raise exception.InvalidParameterValue(
                err='%s must be a boolean' % key)


def create_port(req):
    body = req.json_body_or_error()
    if not isinstance(body, dict):
        raise exception.InvalidParameterValue(err='A port must be an object')
    _check_values(req, body)
    if not body.get('node_uuid'):
        raise exception.MissingParameterValue(
            err='Mandatory field missing: node_uuid')
    if 'address' not in body:
        raise exception.MissingParameterValue(
            err='Mandatory field missing: address')
    if body.get('uuid') is not None and \
            not uuidutils.is_uuid_like(body['uuid']):
        raise exception.InvalidUUID(uuid=body['uuid'])
    values = dict(body)
    values['address'] = normalize_mac(values['address'])
    node = db_api.get_node(values.pop('node_uuid'), ['id', 'uuid'])
    values['node_id'] = node['id']
    values.pop('portgroup_uuid', None)
    if values.get('pxe_enabled') is None:
        values['pxe_enabled'] = True
    row = db_api.create_port(values)
    base = collection.base_url(req)
    doc = render(req, [row], _fields(req, True))[0]
    return wsgi.Response(doc, 201, {
        'Location': '%s/v1/ports/%s' % (base, row['uuid'])})


def update_port(req, port_id):
    row = _get_port(req, port_id)
    patch = req.json_body_or_error()
    visible = [f for f in api_fields.PORT_PATCHABLE
               if req.allows(api_fields.PORT_FIELD_VERSION[f])]
    for field in jsonpatch.patch_paths(patch):
        if field not in visible:
            raise exception.InvalidParameterValue(
                err='Cannot patch /%s. Only the following can be updated: '
                    '%s' % (field, ', '.join(visible)))
    doc = render(req, [row], _fields(req, True))[0]
    new = jsonpatch.apply_patch(doc, patch,
                                mandatory={'address', 'node_uuid'})
    changes = {k: new[k] for k in visible if new.get(k) != doc.get(k)}
    _check_values(req, changes)
    if 'address' in changes:
        changes['address'] = normalize_mac(changes['address'])
    if 'node_uuid' in changes:
        changes['node_id'] = db_api.get_node(changes.pop('node_uuid'),
                                             ['id'])['id']
    changes.pop('portgroup_uuid', None)
    if changes:
        row = db_api.update_port(row['id'], changes)
    return render(req, [row], _fields(req, True))[0]


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
