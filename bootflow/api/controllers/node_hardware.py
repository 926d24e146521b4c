"""Node sub-resources about the hardware itself: BIOS settings, firmware
components, virtual media, the inspection inventory and child nodes.

BIOS settings, firmware and the inventory are read from the database
(conductors keep them current); virtual media asks the node's conductor,
since only the BMC knows what is inserted.
"""

import urllib.parse

from bootflow.api import collection
from bootflow.api import validation
from bootflow.api import versions
from bootflow.api import wsgi
from bootflow.api.controllers import node_actions
from bootflow.api.controllers import nodes
from bootflow.common import exception
from bootflow.db import api as db_api
from bootflow.db import node_data

SUBRESOURCES = versions.NODE_SUBRESOURCES
VMEDIA_DEVICES = ('disk', 'cdrom', 'floppy')
VMEDIA_URL_SCHEMES = ('http', 'https', 'nfs', 'cifs', 'smb')


def _node(req, node_ident, resource):
    req.require_version(SUBRESOURCES[resource])
    return nodes.get_node_or_404(req, node_ident)


def _query(req, schema, lists=('fields',), flags=('detail',)):
    """The query string as a document checked against ``schema`` (as
    Ironic checks query parameters), comma lists and booleans decoded."""
    doc = {}
    for key, value in req.GET.items():
        if key in lists:
            value = [v.strip() for v in value.split(',') if v.strip()]
        elif key in flags:
            value = collection.parse_strict_bool(key, value)
        doc[key] = value
    validation.validate(schema, doc)
    if doc.get('detail') and doc.get('fields') is not None:
        raise exception.InvalidParameterValue(
            err='Can not specify ?detail=True and fields in the same '
                'request.')
    return doc


def _row(row, fields):
    """``created_at`` and ``updated_at`` always, then ``fields``."""
    doc = {'created_at': collection.isotime(row['created_at']),
           'updated_at': collection.isotime(row['updated_at'])}
    for field in fields:
        if field in row and field not in doc:
            doc[field] = row[field]
    return doc


# -- BIOS ------------------------------------------------------------------

_BIOS_NAMES = [name for name, _ in versions.BIOS_FIELDS]
_BIOS_BRIEF = ('name', 'value')
NO_QUERY = {'type': 'object', 'additionalProperties': False}
BIOS_QUERY = {
    'type': 'object',
    'properties': {
        'fields': {'type': 'array', 'items': {'enum': _BIOS_NAMES + [
            'created_at', 'updated_at', 'links', 'node_uuid']}},
        'detail': {'type': 'boolean'},
    },
    'additionalProperties': False,
}


def _bios_doc(req, node_ident, row, fields):
    doc = _row(row, fields)
    doc['links'] = collection.links(collection.base_url(req), 'nodes',
                                    node_ident, '/bios/%s' % row['name'])
    return doc


def list_bios(req, node_ident):
    node = _node(req, node_ident, 'bios')
    registry = req.allows(SUBRESOURCES['bios_registry'])
    query = _query(req, BIOS_QUERY if registry else NO_QUERY)
    if query.get('detail'):
        fields = versions.visible(versions.BIOS_FIELDS, req.version)
    else:
        fields = query.get('fields') or _BIOS_BRIEF
    return {'bios': [_bios_doc(req, node_ident, row, fields)
                     for row in node_data.list_bios_settings(node['id'])]}


list_bios.min_version = SUBRESOURCES['bios']


def show_bios(req, node_ident, setting):
    node = _node(req, node_ident, 'bios')
    row = node_data.get_bios_setting(node['id'], setting)
    if row is None:
        raise exception.BIOSSettingNotFound(node=node['uuid'], name=setting)
    fields = versions.visible(versions.BIOS_FIELDS, req.version)
    return {setting: _bios_doc(req, node_ident, row, fields)}


show_bios.min_version = SUBRESOURCES['bios']


# -- firmware --------------------------------------------------------------

_FIRMWARE_NAMES = [name for name, _ in versions.FIRMWARE_FIELDS]
FIRMWARE_QUERY = {
    'type': 'object',
    'properties': {
        'fields': {'type': 'array', 'items': {'enum': _FIRMWARE_NAMES + [
            'created_at', 'updated_at']}},
        'detail': {'type': 'boolean'},
    },
    'additionalProperties': False,
}


def list_firmware(req, node_ident):
    node = _node(req, node_ident, 'firmware')
    query = _query(req, FIRMWARE_QUERY)
    visible = versions.visible(versions.FIRMWARE_FIELDS, req.version)
    fields = query.get('fields')
    if fields is not None:
        hidden = sorted(set(fields) & set(_FIRMWARE_NAMES) - set(visible))
        if hidden:
            since = dict(versions.FIRMWARE_FIELDS)[hidden[0]]
            raise exception.InvalidParameterValue(
                err='Fields %s are not allowed in this API version. They '
                    'require at least API version 1.%d.'
                    % (', '.join(hidden), since))
    fields = fields or visible
    return {'firmware': [
        _row(row, fields)
        for row in node_data.list_firmware_components(node['id'])]}


list_firmware.min_version = SUBRESOURCES['firmware']


# -- virtual media ---------------------------------------------------------

VMEDIA_SCHEMA = {
    'type': 'object',
    'properties': {
        'device_type': {'type': 'string', 'enum': list(VMEDIA_DEVICES)},
        'image_url': {'type': 'string'},
        'image_download_source': {'type': 'string',
                                  'enum': ['http', 'local', 'swift']},
    },
    'required': ['device_type', 'image_url'],
    'additionalProperties': False,
}


def get_vmedia(req, node_ident):
    req.require_version(SUBRESOURCES['vmedia_get'])
    node = node_actions.routed_node(req, node_ident)
    return node_actions.rpc().get_virtual_media(req.context, node['id'])


get_vmedia.min_version = SUBRESOURCES['vmedia_get']


def attach_vmedia(req, node_ident):
    req.require_version(SUBRESOURCES['vmedia'])
    body = req.json_body_or_error()
    node_actions.validate_named(VMEDIA_SCHEMA, body, 'vmedia')
    scheme = urllib.parse.urlparse(body['image_url']).scheme
    if scheme not in VMEDIA_URL_SCHEMES:
        raise exception.Invalid('Unsupported or missing URL scheme: %s'
                                % scheme)
    node = node_actions.routed_node(req, node_ident)
    node_actions.rpc().attach_virtual_media(
        req.context, node['id'], device_type=body['device_type'],
        image_url=body['image_url'],
        image_download_source=body.get('image_download_source', 'local'))
    return wsgi.Response(None, 204)


attach_vmedia.request_schema = VMEDIA_SCHEMA
attach_vmedia.min_version = SUBRESOURCES['vmedia']

VMEDIA_DETACH_SCHEMA = {
    'type': 'object',
    'properties': {'device_types': {'anyOf': [
        {'type': 'string'}, {'type': 'array', 'items': {'type': 'string'}}]}},
    'additionalProperties': False,
}


def _device_types(req):
    """``device_types`` from the query or, as openstacksdk sends it, from
    a JSON body: a comma-separated string or a list."""
    value = req.GET.get('device_types')
    if req.body:
        body = req.json_body_or_error()
        node_actions.validate_named(VMEDIA_DETACH_SCHEMA, body, 'body')
        value = body.get('device_types', value)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(',') if v.strip()]
    return value or None


def detach_vmedia(req, node_ident):
    req.require_version(SUBRESOURCES['vmedia'])
    device_types = _device_types(req)
    invalid = [d for d in device_types or () if d not in VMEDIA_DEVICES]
    if invalid:
        raise exception.Invalid(
            'Invalid device type(s) %s (valid are %s)'
            % (', '.join(invalid), ', '.join(VMEDIA_DEVICES)))
    node = node_actions.routed_node(req, node_ident)
    node_actions.rpc().detach_virtual_media(req.context, node['id'],
                                            device_types=device_types)
    return wsgi.Response(None, 204)


detach_vmedia.request_schema = VMEDIA_DETACH_SCHEMA
detach_vmedia.min_version = SUBRESOURCES['vmedia']


# -- inventory and children -------------------------------------------------

def get_inventory(req, node_ident):
    node = _node(req, node_ident, 'inventory')
    found = node_data.get_inventory(node['id'])
    if found is None:
        raise exception.NodeInventoryNotFound(node=node['uuid'])
    return found


get_inventory.min_version = SUBRESOURCES['inventory']


def list_children(req, node_ident):
    node = _node(req, node_ident, 'children')
    rows = db_api.list_nodes(filters={'parent_node': node['uuid']},
                             columns=['uuid'])
    return {'children': [r['uuid'] for r in rows],
            'links': {'href': '%s/v1/nodes?parent_node=%s' % (
                collection.base_url(req), node['uuid']),
                'rel': 'children'}}


list_children.min_version = SUBRESOURCES['children']


def register(router):
    base = '/v1/nodes/{node_ident}'
    router.add('GET', base + '/bios', list_bios)
    router.add('GET', base + '/bios/{setting}', show_bios)
    router.add('GET', base + '/firmware', list_firmware)
    router.add('GET', base + '/vmedia', get_vmedia)
    router.add('POST', base + '/vmedia', attach_vmedia)
    router.add('DELETE', base + '/vmedia', detach_vmedia)
    router.add('GET', base + '/inventory', get_inventory)
    router.add('GET', base + '/children', list_children)
