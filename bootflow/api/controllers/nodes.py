"""/v1/nodes: list, show, create, update, delete."""

import re

from oslo_utils import uuidutils

from bootflow.api import catalog
from bootflow.api import collection
from bootflow.api import fields as api_fields
from bootflow.api import jsonpatch
from bootflow.api import wsgi
from bootflow.api.controllers import node_view
from bootflow.common import exception
from bootflow.common import states
from bootflow.db import allocations as db_allocations
from bootflow.db import api as db_api

_NAME_RE = re.compile(r'^[A-Za-z0-9\-._~]+$')
_TRAIT_RE = re.compile(r'^[A-Z0-9_]+$')
_SORT_EXCLUDED = {'driver_info', 'driver_internal_info', 'properties',
                  'instance_info', 'extra', 'clean_step', 'deploy_step',
                  'service_step', 'raid_config', 'target_raid_config',
                  'network_data', 'traits', 'links', 'conductor',
                  'allocation_uuid', 'ports', 'states', 'portgroups',
                  'volume', 'chassis_uuid'}

# query parameter -> (filter name, minimum minor version, kind)
_FILTERS = {
    'provision_state': ('provision_state', 9, str),
    'driver': ('driver', 16, str),
    'resource_class': ('resource_class', 21, str),
    'maintenance': ('maintenance', 1, bool),
    'associated': ('associated', 1, bool),
    'instance_uuid': ('instance_uuid', 1, str),
    'fault': ('fault', 42, str),
    'conductor_group': ('conductor_group', 46, str),
    'owner': ('owner', 50, str),
    'description_contains': ('description_contains', 51, str),
    'retired': ('retired', 61, bool),
    'lessee': ('lessee', 65, str),
    'shard': ('shard', 82, str),
    'parent_node': ('parent_node', 83, str),
    'instance_name': ('instance_name', 104, str),
    'chassis_uuid': ('chassis_uuid', 1, str),
}


def validate_name(name):
    if name is None:
        return
    if not isinstance(name, str) or not _NAME_RE.match(name) or \
            uuidutils.is_uuid_like(name) or len(name) > 255:
        raise exception.InvalidParameterValue(
            err='Expected a logical name but received %s.' % name)


def validate_trait(trait):
    if not isinstance(trait, str) or len(trait) > 255 or \
            not _TRAIT_RE.match(trait):
        raise exception.InvalidParameterValue(
            err='Invalid trait: %s. A trait must be an upper-case standard '
                'trait or start with CUSTOM_, using only A-Z, 0-9 and _.'
                % (trait,))


def get_node_or_404(req, ident):
    """Look a node up by UUID, or by name from API 1.5 on."""
    if not uuidutils.is_uuid_like(ident) and not req.allows(5):
        raise exception.NodeNotFound(node=ident)
    return db_api.get_node(ident)


def _filters(req):
    result = {}
    for param, (name, minor, kind) in _FILTERS.items():
        value = req.GET.get(param)
        if value is None:
            continue
        if not req.allows(minor):
            raise exception.NotAcceptable(
                'Filtering by %s requires API version 1.%d or later.'
                % (param, minor))
        if param == 'provision_state' and value not in states.ALL_STATES:
            raise exception.InvalidParameterValue(
                err='Invalid or unsupported provision state: %s' % value)
        if param == 'fault' and value not in states.FAULTS:
            raise exception.InvalidParameterValue(
                err='Unrecognized fault "%s" is specified, allowed faults '
                    'are %s' % (value, ', '.join(states.FAULTS)))
        result[name] = (collection.parse_bool(param, value) if kind is bool
                        else value)
    conductor = req.GET.get('conductor')
    if conductor is not None:
        result['conductor'] = conductor
    return result


def _list(req, detail):
    version = req.version
    if detail:
        if 'fields' in req.GET:
            raise exception.InvalidParameterValue(
                err='Unexpected arguments: fields')
        fields = node_view.detail_fields(version)
    else:
        requested = collection.parse_fields(
            req, node_view.detail_fields(version))
        fields = (node_view.requested_fields(requested)
                  if requested else node_view.list_fields(version))
    filters = _filters(req)
    conductor = filters.pop('conductor', None)
    limit = collection.parse_limit(req)
    sort_key, sort_dir = collection.parse_sort(
        req, set(api_fields.NODE_FIELD_VERSION) - _SORT_EXCLUDED)
    marker = req.GET.get('marker')
    columns = node_view.columns_for(
        fields + [sort_key] + (['conductor'] if conductor else []))
    rows = db_api.list_nodes(filters=filters, limit=limit, marker=marker,
                             sort_key=sort_key, sort_dir=sort_dir,
                             columns=None if detail else columns,
                             undecoded=True)
    if conductor is not None:
        # which conductor manages a node is computed, not stored
        choose = catalog.CATALOG.conductor_chooser()
        rows = [r for r in rows if choose(r) == conductor]
    body = {'nodes': node_view.render(rows, fields,
                                      collection.base_url(req))}
    nxt = collection.next_link(req, 'nodes/detail' if detail else 'nodes',
                               rows, limit)
    if nxt:
        body['next'] = nxt
    return body


def list_nodes(req):
    if req.GET.get('detail') is not None:
        if not req.allows(43):
            raise exception.NotAcceptable('detail requires API 1.43')
        return _list(req, collection.parse_bool('detail',
                                                req.GET['detail']))
    return _list(req, False)


def list_nodes_detail(req):
    return _list(req, True)


def show_node(req, node_ident):
    row = get_node_or_404(req, node_ident)
    all_fields = node_view.detail_fields(req.version)
    requested = collection.parse_fields(req, all_fields)
    fields = requested or all_fields
    return node_view.render([row], fields, collection.base_url(req))[0]


def _check_versioned(req, body):
    for key in body:
        since = api_fields.NODE_FIELD_VERSION.get(key)
        if since is None or key not in api_fields.NODE_CREATABLE:
            raise exception.InvalidParameterValue(
                err='Unknown attribute for node: %s' % key)
        if not req.allows(since):
            raise exception.NotAcceptable(
                'Field %s requires API version 1.%d or later.' % (key, since))


def _validate_values(values):
    validate_name(values.get('name'))
    for key in ('driver_info', 'properties', 'extra', 'instance_info',
                'network_data'):
        if values.get(key) is not None and not isinstance(values[key], dict):
            raise exception.InvalidParameterValue(
                err='%s must be a dictionary' % key)
    for key in ('instance_uuid', 'chassis_uuid', 'parent_node'):
        if values.get(key) is not None and \
                not uuidutils.is_uuid_like(values[key]):
            raise exception.InvalidParameterValue(
                err='Expected a UUID for %s but received %s.'
                    % (key, values[key]))
    for key in ('maintenance', 'protected', 'retired', 'automated_clean',
                'disable_power_off'):
        if key in values and values[key] is not None and \
                not isinstance(values[key], bool):
            raise exception.InvalidParameterValue(
                err='Invalid value for %s: %s. Expected a boolean.'
                    % (key, values[key]))
    rc = values.get('resource_class')
    if rc is not None and (not isinstance(rc, str) or len(rc) > 80):
        raise exception.InvalidParameterValue(
            err='Invalid resource_class %s: at most 80 characters' % (rc,))
    if values.get('protected_reason') and not values.get('protected'):
        raise exception.InvalidParameterValue(
            err='Cannot set protected_reason while protected is false')
    if values.get('retired_reason') and not values.get('retired'):
        raise exception.InvalidParameterValue(
            err='Cannot set retired_reason while retired is false')


def create_node(req):
    body = req.json_body_or_error()
    if not isinstance(body, dict):
        raise exception.InvalidParameterValue(err='A node must be an object')
    _check_versioned(req, body)
    if not body.get('driver'):
        raise exception.MissingParameterValue(
            err='Mandatory field missing: driver')
    uuid = body.get('uuid')
    if uuid is not None and not uuidutils.is_uuid_like(uuid):
        raise exception.InvalidUUID(uuid=uuid)
    values = dict(body)
    _validate_values(values)
    traits = values.pop('traits', None) or []
    for trait in traits:
        validate_trait(trait)
    catalog.CATALOG.fill_interfaces(
        values, explicit={k for k in body if k.endswith('_interface')})
    values['traits'] = traits
    values['provision_state'] = (states.ENROLL if req.allows(11)
                                 else states.AVAILABLE)
    values.setdefault('conductor_group', '')
    if values['conductor_group'] is None:
        values['conductor_group'] = ''
    row = db_api.create_node(values)
    fields = node_view.detail_fields(req.version)
    base = collection.base_url(req)
    doc = node_view.render([row], fields, base,
                           traits={row['id']: sorted(set(traits))})[0]
    return wsgi.Response(doc, 201, {
        'Location': '%s/v1/nodes/%s' % (base, row['uuid'])})


_INTERFACE_CHANGE_STATES = {states.ENROLL, states.MANAGEABLE,
                            states.INSPECTING, states.INSPECTWAIT,
                            states.AVAILABLE} | set(
                                states.UPDATE_ALLOWED_STATES)


def _patch_values(req, row, patch):
    version = req.version
    visible = [f for f in api_fields.NODE_PATCHABLE
               if req.allows(api_fields.NODE_FIELD_VERSION[f])]
    for field in jsonpatch.patch_paths(patch):
        if field not in visible:
            raise exception.InvalidParameterValue(
                err='Cannot patch /%s. Only the following can be updated: '
                    '%s' % (field, ', '.join(visible)))
    fields = node_view.detail_fields(version)
    doc = node_view.render([row], [f for f in fields if f != 'traits'],
                           collection.base_url(req))[0]
    doc['driver_info'] = row['driver_info'] or {}
    new = jsonpatch.apply_patch(doc, patch, mandatory={'driver'})
    return {k: new[k] for k in visible if new.get(k) != doc.get(k)}


def update_node(req, node_ident):
    row = get_node_or_404(req, node_ident)
    patch = req.json_body_or_error()
    changes = _patch_values(req, row, patch)
    if not changes:
        return node_view.render([row], node_view.detail_fields(req.version),
                                collection.base_url(req))[0]
    merged = dict(row, **changes)
    _validate_values(merged)
    explicit = {k for k in changes if k.endswith('_interface')}
    if 'driver' in changes or explicit or 'conductor_group' in changes:
        if row['provision_state'] not in _INTERFACE_CHANGE_STATES and \
                ('driver' in changes or explicit):
            raise exception.InvalidStateForOperation(
                err='Node %s can not update the driver or interfaces while '
                    'in state "%s".' % (row['uuid'],
                                        row['provision_state']))
        reset = collection.parse_bool(
            'reset_interfaces', req.GET.get('reset_interfaces')) or False
        catalog.CATALOG.fill_interfaces(merged, reset=reset,
                                        explicit=explicit)
        for key in catalog.INTERFACE_KINDS:
            key = '%s_interface' % key
            if merged[key] != row[key]:
                changes[key] = merged[key]
    if changes.get('maintenance') is False:
        changes.update(maintenance_reason=None, fault=None)
    if 'protected' in changes and not changes['protected']:
        changes['protected_reason'] = None
    if 'retired' in changes and not changes['retired']:
        changes['retired_reason'] = None
    if 'protected' in changes and changes['protected'] and \
            row['provision_state'] != states.ACTIVE:
        raise exception.InvalidStateForOperation(
            err='Protected can only be set in state "active".')
    if 'instance_uuid' in changes and row['allocation_id'] is not None:
        # changing instance_uuid ends the node's allocation (db_api)
        db_allocations.verify_node_for_deallocation(row,
                                                    row['instance_uuid'])
    updated = db_api.update_node(row['id'], changes,
                                 expected={'reservation': None})
    return node_view.render([updated], node_view.detail_fields(req.version),
                            collection.base_url(req))[0]


def delete_node(req, node_ident):
    row = get_node_or_404(req, node_ident)
    if row['protected']:
        raise exception.NodeProtected(node=row['uuid'])
    if row['instance_uuid'] and not row['maintenance']:
        # in maintenance Ironic deletes it anyway, allocation included
        raise exception.NodeAssociated(node=row['uuid'],
                                       instance=row['instance_uuid'])
    if row['provision_state'] not in states.DELETE_ALLOWED_STATES + (
            states.AVAILABLE,) and not row['maintenance']:
        raise exception.InvalidStateForOperation(
            err='Can not delete node "%s" while it is in provision state '
                '"%s". Valid provision states to perform deletion are: '
                '"available", "enroll", "manageable", "adopt failed", or '
                'any state while in maintenance.'
                % (row['uuid'], row['provision_state']))
    locked = db_api.reserve_node('api-delete', row['id'])
    try:
        db_api.destroy_node(locked['id'])
    except Exception:
        db_api.release_node('api-delete', row['id'])
        raise
    return wsgi.Response(None, 204)


def delete_collection(req):
    raise exception.InvalidParameterValue(
        err='Missing mandatory parameter: node_ident')


def register(router):
    router.add('GET', '/v1/nodes', list_nodes)
    router.add('POST', '/v1/nodes', create_node)
    router.add('DELETE', '/v1/nodes', delete_collection)
    router.add('GET', '/v1/nodes/detail', list_nodes_detail)
    router.add('GET', '/v1/nodes/{node_ident}', show_node)
    router.add('PATCH', '/v1/nodes/{node_ident}', update_node)
    router.add('DELETE', '/v1/nodes/{node_ident}', delete_node)
