"""/v1/nodes: list, show, create, update, delete, at every API version.

Each microversion changed what a node looks like and what may be asked of
it; :mod:`bootflow.api.versions` says when, and this module answers an
older client the way Ironic did at its version: younger fields are
hidden, and naming them (filter, sort, ``fields=``, request body) is
refused with 406.
"""

import copy
import re

from oslo_utils import uuidutils

from bootflow.api import access
from bootflow.api import catalog
from bootflow.api import collection
from bootflow.api import jsonpatch
from bootflow.api import network_data
from bootflow.api import validation
from bootflow.api import versions
from bootflow.api import wsgi
from bootflow.api.controllers import node_view
from bootflow.common import exception
from bootflow.common import states
from bootflow.db import allocations as db_allocations
from bootflow.db import api as db_api
from bootflow.db import models
from bootflow.db import resources as db_resources

SWITCHES = versions.SWITCHES
_NAME_RE = re.compile(r'^[A-Za-z0-9\-._~]+$')
# Before 1.10 a name had to be usable as a host name: lower case labels
# joined by dots, an optional trailing dot.
_FIRST_LABEL = r'[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?'
_NEXT_LABELS = r'(?:\.[a-z0-9_-]{0,62}[a-z0-9])*'
_HOSTNAME_RE = re.compile(r'^%s%s\.?$' % (_FIRST_LABEL, _NEXT_LABELS))
_TRAIT_RE = re.compile(r'^[A-Z0-9_]+$')
# Path words below /v1/nodes that a node name would shadow.
RESERVED_NAMES = ('maintenance', 'management', 'states', 'vendor_passthru',
                  'detail', 'validate')
_DESCRIPTION_MAX = 4096

_TEXT = {'type': ['string', 'null']}
# Ironic takes flags as JSON booleans or as strings such as "true".
_FLAG = {'type': ['string', 'boolean', 'null']}
_OBJECT = {'type': ['object', 'null']}
_FLAGS = ('automated_clean', 'console_enabled', 'disable_power_off',
          'maintenance', 'protected', 'retired', 'secure_boot')
_UUIDS = ('uuid', 'chassis_uuid', 'instance_uuid')

NODE_SCHEMA = {
    'type': 'object',
    'properties': dict(
        {'%s_interface' % kind: _TEXT for kind in catalog.INTERFACE_KINDS},
        automated_clean=_FLAG, boot_mode=_TEXT, chassis_uuid=_TEXT,
        conductor_group=_TEXT, console_enabled=_FLAG,
        description={'type': ['string', 'null'],
                     'maxLength': _DESCRIPTION_MAX},
        disable_power_off=_FLAG, driver={'type': 'string'},
        driver_info=_OBJECT, extra=_OBJECT, instance_info=_OBJECT,
        instance_name={'type': ['string', 'null'], 'minLength': 1,
                       'maxLength': 255},
        instance_uuid=_TEXT, lessee=_TEXT, maintenance=_FLAG, name=_TEXT,
        network_data=network_data.FIELD, owner=_TEXT,
        parent_node={'type': ['string', 'null'], 'maxLength': 36},
        properties=_OBJECT,
        resource_class={'type': ['string', 'null'], 'maxLength': 80},
        retired=_FLAG, retired_reason=_TEXT, secure_boot=_FLAG, shard=_TEXT,
        uuid=_TEXT),
    'required': ['driver'],
    'additionalProperties': False,
}

# A patched node is checked as a whole; protection is set only by PATCH.
NODE_PATCHED_SCHEMA = copy.deepcopy(NODE_SCHEMA)
NODE_PATCHED_SCHEMA['properties'].update(protected=_FLAG,
                                         protected_reason=_TEXT)
NODE_PATCH_SCHEMA = validation.JSON_PATCH


def _is_valid_name(req, name):
    if not isinstance(name, str) or len(name) > 255:
        return False
    if req.allows(SWITCHES['UNRESTRICTED_NODE_NAME']):
        return bool(_NAME_RE.match(name))
    return bool(_HOSTNAME_RE.match(name))


def validate_name(name, req=None):
    """Raise InvalidParameterValue unless ``name`` is a valid node name
    (under the rules of ``req``'s version, the latest without one)."""
    if name is None:
        return
    ok = (_is_valid_name(req, name) if req is not None
          else isinstance(name, str) and len(name) <= 255
          and bool(_NAME_RE.match(name)))
    if not ok or uuidutils.is_uuid_like(name):
        raise exception.InvalidParameterValue(
            err='Expected a logical name but received %s.' % name)


def _check_names(req, names, message):
    for name in names:
        if not _is_valid_name(req, name) or uuidutils.is_uuid_like(name):
            raise exception.InvalidParameterValue(err=message % name)
        if name in RESERVED_NAMES:
            raise exception.InvalidParameterValue(
                err='The word "%s" is reserved and can not be used as a '
                    'node name. Reserved words are: %s.'
                    % (name, ', '.join(RESERVED_NAMES)))


def validate_trait(trait):
    if not isinstance(trait, str) or len(trait) > 255 or \
            not _TRAIT_RE.match(trait):
        raise exception.InvalidParameterValue(
            err='Invalid trait: %s. A trait must be an upper-case standard '
                'trait or start with CUSTOM_, using only A-Z, 0-9 and _.'
                % (trait,))


def get_node_or_404(req, ident):
    """Look a node up by UUID, or by name from API 1.5 on."""
    if uuidutils.is_uuid_like(ident):
        return db_api.get_node(ident)
    if not req.allows(SWITCHES['NODE_NAME']):
        raise exception.NodeNotFound(node=ident)
    if not _is_valid_name(req, ident):
        raise exception.InvalidUuidOrName(name=ident)
    return db_api.get_node(ident)


def check_not_retired(node, target):
    """A retired node is on its way out: Ironic refuses to make it
    available again (``provide`` from manageable) with 400."""
    if target == 'provide' and node['retired'] and \
            node['provision_state'] == states.MANAGEABLE:
        raise exception.NodeIsRetired(op='providing', node=node['uuid'])


# -- listing ----------------------------------------------------------------

def _refuse_filter(param, minor):
    if param == 'provision_state':
        return exception.FieldNotAcceptable()
    if param == 'instance_name':
        return exception.FieldNotAcceptable(
            'instance_name is not acceptable in this API version')
    return exception.FieldNotAcceptable(
        'Request not acceptable. The minimal required API version should '
        'be 1.%d' % minor)


def _filter_value(param, kind, value):
    if kind == 'bool':
        return collection.parse_strict_bool(param, value)
    if kind == 'uuid' and not uuidutils.is_uuid_like(value):
        raise exception.InvalidParameterValue(
            err='Expected UUID for %s: %s' % (param, value))
    if kind == 'state' and value not in states.ALL_STATES:
        raise exception.InvalidParameterValue(
            err='Provision state "%s" is not valid' % value)
    if kind == 'fault' and value not in states.FAULTS:
        raise exception.InvalidParameterValue(
            err='Unrecognized fault "%s" is specified, allowed faults are '
                '%s' % (value, ', '.join(states.FAULTS)))
    if kind == 'list':
        return [v.strip() for v in value.split(',') if v.strip()]
    return value


def _filters(req):
    result = {}
    for param, (minor, kind) in versions.NODE_FILTERS.items():
        value = req.GET.get(param)
        if value is None:
            continue
        if not req.allows(minor):
            raise _refuse_filter(param, minor)
        result[param] = _filter_value(param, kind, value)
    # Child nodes are listed below their parent unless asked for.
    if result.pop('include_children', None):
        result.pop('parent_node', None)
    elif 'parent_node' not in result:
        result['children'] = False
    return result


def _sort(req):
    return collection.versioned_sort(req, versions.NODE_FIELD_VERSION,
                                     node_view.UNSORTABLE,
                                     node_view.SORTABLE)


def _list_fields(req, detail_endpoint):
    """Fields a list shows: ``detail`` and ``fields`` as Ironic reads
    them (detail=... from 1.43, never together with fields)."""
    version = req.version
    if detail_endpoint:
        if 'fields' in req.GET:
            raise exception.InvalidParameterValue(
                err='Unexpected arguments: fields')
        return node_view.detail_fields(version)
    detail = collection.parse_strict_bool('detail', req.GET.get('detail'))
    if detail is not None and not req.allows(SWITCHES['DETAIL_QUERY']):
        raise exception.InvalidParameterValue(
            err='Invalid query parameter ?detail=%s received.' % detail)
    requested = node_view.select(req)
    if requested is not None and detail:
        raise exception.InvalidParameterValue(
            err='Can not specify ?detail=True and fields in the same '
                'request.')
    if requested:
        return node_view.requested_fields(requested)
    if detail:
        return node_view.detail_fields(version)
    return node_view.list_fields(version)


def _list(req, detail_endpoint):
    fields = _list_fields(req, detail_endpoint)
    filters = _filters(req)
    project = access.project_filter(req, 'baremetal:node:list_all',
                                    'baremetal:node:list')
    if project is not None:
        filters['project'] = project
    conductor = filters.pop('conductor', None)
    limit = collection.parse_limit(req)
    sort_key, sort_dir = _sort(req)
    full = fields == node_view.detail_fields(req.version)
    columns = node_view.columns_for(
        fields + [sort_key] + (['conductor'] if conductor else []))
    rows = db_api.list_nodes(filters=filters, limit=limit,
                             marker=req.GET.get('marker'),
                             sort_key=sort_key, sort_dir=sort_dir,
                             columns=None if full else columns,
                             undecoded=True)
    if conductor is not None:
        # which conductor manages a node is computed, not stored
        choose = catalog.CATALOG.conductor_chooser()
        rows = [r for r in rows if choose(r) == conductor]
    body = {'nodes': access.redact_nodes(req, node_view.render(
        rows, fields, collection.base_url(req), version=req.version,
        **access.secret_flags(req)))}
    nxt = collection.next_link(
        req, 'nodes/detail' if detail_endpoint else 'nodes', rows, limit)
    if nxt:
        body['next'] = nxt
    return body


def list_nodes(req):
    return _list(req, False)


def list_nodes_detail(req):
    return _list(req, True)


def show_node(req, node_ident):
    row = get_node_or_404(req, node_ident)
    requested = node_view.select(req)
    fields = (node_view.requested_fields(requested) if requested
              else node_view.detail_fields(req.version))
    return access.redact_nodes(req, node_view.render(
        [row], fields, collection.base_url(req), version=req.version,
        **access.secret_flags(req)))[0]


def _render_one(req, row, traits=None):
    return access.redact_nodes(req, node_view.render(
        [row], node_view.detail_fields(req.version),
        collection.base_url(req), traits=traits, version=req.version,
        **access.secret_flags(req)))[0]


# -- request bodies -----------------------------------------------------------

def _coerce(doc):
    """Flags given as strings become booleans; UUID fields must be UUIDs
    (Ironic's wording: "Expected UUID for uuid: ...")."""
    for key in _FLAGS:
        if isinstance(doc.get(key), str):
            doc[key] = collection.parse_strict_bool(key, doc[key])
    for key in _UUIDS:
        value = doc.get(key)
        if value is not None and not uuidutils.is_uuid_like(value):
            raise exception.InvalidParameterValue(
                err='Expected UUID for %s: %s' % (key, value))


def _reject_younger(req, doc):
    """406 for a value in a field the request's version does not know;
    an empty value is as good as none (old clients send name: null)."""
    for key, value in doc.items():
        since = versions.NODE_FIELD_VERSION.get(key, 1)
        if req.allows(since):
            continue
        empty = (None, '') if key == 'conductor_group' else (None,)
        if value not in empty:
            raise exception.FieldNotAcceptable()


def _link_parent(node, ident):
    """The parent's UUID; a parent that does not exist or belongs to
    another owner is the same 400, so neither is disclosed."""
    try:
        parent = db_api.get_node(ident)
    except exception.NotFound:
        parent = None
    if parent is None or parent['owner'] != node.get('owner'):
        raise exception.InvalidParameterValue(
            err="Unable to apply the requested parent_node '%s'. Requested "
                "value was invalid." % ident)
    return parent['uuid']


def _check_chassis(uuid):
    """A node may only name a chassis that exists; Ironic answers 400, not
    404, because the request is about the node."""
    if not uuid:
        return
    try:
        db_resources.get(models.Chassis.__table__, uuid,
                         lambda ident: exception.ChassisNotFound(
                             chassis=ident))
    except exception.ChassisNotFound as e:
        e.code = 400
        raise


def create_node(req):
    body = req.json_body_or_error()
    validation.validate(NODE_SCHEMA, body)
    values = dict(body)
    _coerce(values)
    _reject_younger(req, values)
    if values.get('name') is not None:
        _check_names(req, [values['name']],
                     "Cannot create node with invalid name '%s'")
    if values.get('parent_node'):
        values['parent_node'] = _link_parent(values, values['parent_node'])
    _check_chassis(values.get('chassis_uuid'))
    catalog.CATALOG.fill_interfaces(
        values, explicit={k for k in body if k.endswith('_interface')})
    values['provision_state'] = (
        states.ENROLL if req.allows(SWITCHES['ENROLL_DEFAULT'])
        else states.AVAILABLE)
    values['conductor_group'] = values.get('conductor_group') or ''
    for flag in ('maintenance', 'retired', 'disable_power_off',
                 'console_enabled'):
        if values.get(flag) is None:
            values.pop(flag, None)
    row = db_api.create_node(values)
    base = collection.base_url(req)
    return wsgi.Response(_render_one(req, row, traits={row['id']: []}), 201,
                         {'Location': '%s/v1/nodes/%s' % (base, row['uuid'])})


create_node.request_schema = NODE_SCHEMA


# -- PATCH --------------------------------------------------------------------

def _patch_roots(req, patch):
    """(op, root field, value) of each operation; the root may hold ~ or /
    escaped from 1.98 on."""
    decode = req.allows(SWITCHES['SPECIAL_CHARS_IN_PATCH'])
    for op in patch:
        root = op['path'].split('/')[1]
        if decode:
            root = root.replace('~1', '/').replace('~0', '~')
        yield op['op'], root, op.get('value')


def _validate_patch(req, patch):
    validation.validate(NODE_PATCH_SCHEMA, patch)
    roots = list(_patch_roots(req, patch))
    for (_, root, _), op in zip(roots, patch):
        if root not in versions.NODE_PATCHABLE:
            raise exception.InvalidParameterValue(
                err='Cannot patch %s. Only the following can be updated: '
                    '%s' % (op['path'], ', '.join(versions.NODE_PATCHABLE)))
    for name, root, _ in roots:
        if name != 'remove' and \
                not req.allows(versions.NODE_FIELD_VERSION[root]):
            raise exception.FieldNotAcceptable()
    reset = collection.parse_strict_bool(
        'reset_interfaces', req.GET.get('reset_interfaces'))
    if reset is not None and not req.allows(SWITCHES['RESET_INTERFACES']):
        raise exception.FieldNotAcceptable()
    if reset and not any(r == 'driver' and n != 'remove'
                         for n, r, _ in roots):
        raise exception.InvalidParameterValue(
            err="The reset_interfaces parameter can only be used when "
                "changing the node's driver.")
    for name, root, value in roots:
        if name == 'remove':
            continue
        if root == 'description' and isinstance(value, str) and \
                len(value) > _DESCRIPTION_MAX:
            raise exception.InvalidParameterValue(
                err='Cannot update node with description exceeding %d '
                    'characters' % _DESCRIPTION_MAX)
        if root == 'network_data' and _sets_value(name, value):
            try:
                validation.validate(network_data.SCHEMA, value)
            except exception.InvalidParameterValue as e:
                reason = re.sub(r'^Schema error( for [^:]*)?: ', '', str(e))
                raise exception.InvalidParameterValue(
                    err='Invalid network_data: %s ' % reason)
    return bool(reset)


def _sets_value(name, value):
    return name in ('add', 'replace') and value is not None


def _check_state_allows_patch(req, row, patch):
    if row['maintenance'] and patch == [{'op': 'remove',
                                         'path': '/instance_uuid'}]:
        return
    if row['target_provision_state'] and \
            row['provision_state'] not in states.UPDATE_ALLOWED_STATES:
        raise exception.InvalidStateForOperation(
            err='Node %s can not be updated while a state transition is '
                'in progress.' % row['uuid'])
    if row['provision_state'] == states.INSPECTING and \
            req.allows(SWITCHES['INSPECT_WAIT_STATE']):
        raise exception.InvalidStateForOperation(
            err='Cannot update node "%s" while it is in state "%s".'
                % (row['uuid'], states.INSPECTING))


def _patched(row, patch):
    """Apply ``patch`` to the node as a document of every field it has,
    whatever the version (younger fields were refused already)."""
    doc = node_view.render([row], node_view.PATCH_FIELDS, '')[0]
    doc['driver_info'] = row['driver_info'] or {}
    new = jsonpatch.apply_patch(doc, patch, mandatory={'driver'})
    checked = {k: new[k] for k in NODE_PATCHED_SCHEMA['properties']
               if k in new}
    validation.validate(NODE_PATCHED_SCHEMA, checked)
    _coerce(new)
    return doc, new


def _check_protection(row, merged, changes):
    uuid, state = row['uuid'], row['provision_state']
    if changes.get('protected') and state not in (states.ACTIVE,
                                                  states.RESCUE):
        raise exception.InvalidStateForOperation(
            err="Node %s can only be made protected in provision states "
                "'active' or 'rescue', the current state is '%s'"
                % (uuid, state))
    if changes.get('protected_reason') and not merged['protected']:
        raise exception.InvalidParameterValue(
            err='The protected_reason field can only be set when '
                'protected is True')
    if changes.get('retired') and state == states.AVAILABLE:
        raise exception.InvalidStateForOperation(
            err="Node %s can not have 'retired' set in provision state "
                "'available', the current state is '%s'" % (uuid, state))
    if changes.get('retired_reason') and not merged['retired']:
        raise exception.InvalidParameterValue(
            err='The retired_reason field can only be set when retired '
                'is True')


_INTERFACE_STATES = (states.ENROLL, states.INSPECTING, states.INSPECTWAIT,
                     states.MANAGEABLE, states.AVAILABLE)


def _update_interfaces(row, merged, changes, reset):
    explicit = {k for k in changes if k.endswith('_interface')}
    if explicit and not row['maintenance'] and \
            row['provision_state'] not in _INTERFACE_STATES:
        raise exception.InvalidStateForOperation(
            err="Node %s can not have %s updated unless it is in one of "
                "allowed (%s) states or in maintenance mode. Current "
                "state is '%s'." % (row['uuid'], sorted(explicit)[0],
                                    ', '.join(_INTERFACE_STATES),
                                    row['provision_state']))
    if 'driver' in changes and row['console_enabled']:
        raise exception.InvalidStateForOperation(
            err='Node %s can not update the driver while the console is '
                'enabled. Please stop the console first.' % row['uuid'])
    if 'driver' in changes or explicit or 'conductor_group' in changes:
        catalog.CATALOG.fill_interfaces(merged, reset=reset,
                                        explicit=explicit)
        for kind in catalog.INTERFACE_KINDS:
            key = '%s_interface' % kind
            if merged[key] != row[key]:
                changes[key] = merged[key]


def _changes(req, row, patch):
    """Validated column changes for ``patch``, or {} when it changes
    nothing."""
    reset = _validate_patch(req, patch)
    _check_state_allows_patch(req, row, patch)
    names = [v for n, r, v in _patch_roots(req, patch)
             if r == 'name' and n != 'remove']
    _check_names(req, names, "Node %s: Cannot change name to invalid name "
                 "'%%s'" % row['uuid'])
    doc, new = _patched(row, patch)
    if new.get('conductor_group'):
        new['conductor_group'] = new['conductor_group'].lower()
    new['conductor_group'] = new.get('conductor_group') or ''
    if new.get('protected') is None:
        new['protected'] = False
    changes = {k: new[k] for k in versions.NODE_PATCHABLE
               if new.get(k) != doc.get(k)}
    if row['chassis_uuid'] and 'chassis_uuid' in changes and \
            not changes['chassis_uuid'] and \
            not req.allows(SWITCHES['UNSET_CHASSIS_UUID']):
        raise exception.FieldNotAcceptable()
    if 'parent_node' in changes and changes['parent_node']:
        changes['parent_node'] = _link_parent(row, changes['parent_node'])
    _check_chassis(changes.get('chassis_uuid'))
    info = changes.get('instance_info') or {}
    if info.get('display_name') and not row['instance_name'] and \
            'instance_name' not in changes:
        # the name nova shows keeps filling instance_name for old clients
        changes['instance_name'] = info['display_name']
    if changes:
        merged = dict(row, **changes)
        _check_protection(row, merged, changes)
        _update_interfaces(row, merged, changes, reset)
    return changes


def update_node(req, node_ident):
    row = get_node_or_404(req, node_ident)
    patch = req.json_body_or_error()
    changes = _changes(req, row, patch)
    if not changes:
        return _render_one(req, row)
    access.authorize_changes(req, row, changes)
    if changes.get('maintenance') is False:
        changes.update(maintenance_reason=None, fault=None)
    if changes.get('protected') is False:
        changes['protected_reason'] = None
    if changes.get('retired') is False:
        changes['retired_reason'] = None
    if 'instance_uuid' in changes and row['allocation_id'] is not None:
        # changing instance_uuid ends the node's allocation (db_api)
        db_allocations.verify_node_for_deallocation(row,
                                                    row['instance_uuid'])
    updated = db_api.update_node(row['id'], changes,
                                 expected={'reservation': None})
    return _render_one(req, updated)


update_node.request_schema = NODE_PATCH_SCHEMA


# -- DELETE -------------------------------------------------------------------

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
