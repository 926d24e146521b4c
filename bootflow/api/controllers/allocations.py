"""/v1/allocations and /v1/nodes/{node}/allocation (API 1.52+).

The API stores a new allocation in ``allocating`` and hands it to a
conductor, which finds a node in the background; the client polls the
allocation until it is ``active`` or ``error``, as with Ironic.
"""

import re

from oslo_utils import uuidutils

from bootflow.api import access
from bootflow.api import collection
from bootflow.api import versions
from bootflow.api import jsonpatch
from bootflow.api import resource
from bootflow.api import validation
from bootflow.api import wsgi
from bootflow.api.controllers import node_actions
from bootflow.api.controllers import nodes
from bootflow.common import exception
from bootflow.db import allocations as db_allocations
from bootflow.db import api as db_api

# Ironic's logical names: hostname-like, at most 255 characters.
_NAME_RE = re.compile(r'^[A-Za-z0-9\-._~]+$')
_SORT_KEYS = {'uuid', 'name', 'state', 'resource_class', 'owner',
              'last_error', 'created_at', 'updated_at'}
_STRINGS = {'type': ['array', 'null'], 'items': {'type': 'string'}}
CREATE_SCHEMA = {
    'type': 'object',
    'properties': {
        'candidate_nodes': _STRINGS,
        'extra': validation.nullable(validation.DICT),
        'name': validation.nullable(validation.TEXT),
        'node': validation.nullable(validation.TEXT),
        'owner': validation.nullable(validation.TEXT),
        'resource_class': validation.nullable(validation.string(80)),
        'traits': _STRINGS,
        'uuid': validation.nullable(validation.TEXT),
    },
    'additionalProperties': False,
}
UPDATE_VALUES_SCHEMA = {
    'type': 'object',
    'properties': {'extra': CREATE_SCHEMA['properties']['extra']},
}
_NOT_ALLOWED = 'The API version does not allow allocations'


def _gate(req):
    """Before 1.52 allocations do not exist: Ironic answers 404 to reads
    and 405 to writes."""
    if not req.allows(52):
        if req.method == 'GET':
            raise exception.NotFound(_NOT_ALLOWED)
        raise exception.BootflowException(_NOT_ALLOWED, code=405)


def _node_gate(req):
    if not req.allows(52):
        raise exception.NotFound(_NOT_ALLOWED)


def _check_owner_allowed(req, present):
    if present and not req.allows(60):
        raise exception.FieldNotAcceptable()


def render(req, rows, fields):
    base = collection.base_url(req)
    node_uuids = {}
    if 'node_uuid' in fields:
        node_uuids = db_api.node_uuids_by_id(
            {r['node_id'] for r in rows if r['node_id'] is not None})
    out = []
    for row in rows:
        doc = {}
        for field in fields:
            if field == 'links':
                doc[field] = collection.links(base, 'allocations',
                                              row['uuid'])
            elif field == 'node_uuid':
                doc[field] = node_uuids.get(row['node_id'])
            elif field in ('created_at', 'updated_at'):
                doc[field] = collection.isotime(row[field])
            else:
                doc[field] = row[field]
        out.append(doc)
    return out


def _fields(req):
    """``?fields=`` (plus links) or every field the version shows."""
    requested = req.GET.get('fields')
    _check_owner_allowed(req, requested is not None and 'owner' in
                         [f.strip() for f in requested.split(',')])
    allowed = versions.visible(versions.ALLOCATION_FIELDS, req.version)
    fields = collection.parse_fields(req, allowed)
    if not fields:
        return allowed
    return fields + ([] if 'links' in fields else ['links'])


def _get(ident):
    if not uuidutils.is_uuid_like(ident) and not _NAME_RE.match(ident):
        raise exception.Invalid('Expected a logical name or UUID but '
                                'received %s.' % ident)
    return db_allocations.get(ident)


def _node_filter(req, ident):
    """The node a list is filtered by; an unknown node is the request's
    fault (400), as in Ironic."""
    try:
        return nodes.get_node_or_404(req, ident)
    except exception.NodeNotFound as e:
        e.code = 400
        raise


def list_allocations(req):
    _gate(req)
    fields = _fields(req)
    filters = {'resource_class': req.GET.get('resource_class'),
               'state': req.GET.get('state'),
               'owner': req.GET.get('owner')}
    _check_owner_allowed(req, filters['owner'] is not None)
    project = access.project_filter(req, 'baremetal:allocation:list_all',
                                    'baremetal:allocation:list')
    if project is not None:
        if filters['owner'] not in (None, project):
            raise exception.HTTPForbidden(
                resource='baremetal:allocation:list_all')
        filters['owner'] = project
    if req.GET.get('node'):
        filters['node_id'] = _node_filter(req, req.GET['node'])['id']
    marker = req.GET.get('marker')
    if marker is not None and not uuidutils.is_uuid_like(marker):
        raise exception.InvalidUUID(uuid=marker)
    limit = collection.parse_limit(req)
    sort_key, sort_dir = collection.parse_sort(req, _SORT_KEYS)
    rows = db_allocations.list_allocations(
        filters, limit=limit, marker=marker, sort_key=sort_key,
        sort_dir=sort_dir)
    body = {'allocations': render(req, rows, fields)}
    nxt = collection.next_link(req, 'allocations', rows, limit)
    if nxt:
        body['next'] = nxt
    return body


def show_allocation(req, allocation_ident):
    _gate(req)
    fields = _fields(req)
    return render(req, [_get(allocation_ident)], fields)[0]


def _validate(req, body):
    validation.validate(CREATE_SCHEMA, body)
    _check_owner_allowed(req, 'owner' in body)
    name = body.get('name')
    if name and (len(name) > 255 or not _NAME_RE.match(name)):
        raise exception.Invalid("Cannot create allocation with invalid name "
                                "'%s'" % name)
    if body.get('uuid') is not None and \
            not uuidutils.is_uuid_like(body['uuid']):
        raise exception.InvalidUUID(uuid=body['uuid'])
    for trait in body.get('traits') or ():
        nodes.validate_trait(trait)


def _own(req, body):
    """A project's allocation belongs to the project, and so picks only
    nodes it owns or leases; naming another owner takes a system role."""
    project = access.project_filter(req, 'baremetal:allocation:list_all',
                                    'baremetal:allocation:create')
    if project is None:
        return
    if body.get('owner') not in (None, project):
        raise exception.HTTPForbidden(
            resource='baremetal:allocation:create_restricted')
    body['owner'] = project


def _backfill_node(req, body):
    if not body.get('node'):
        return None
    if not req.allows(58):
        raise exception.Invalid('Cannot set node when creating an '
                                'allocation in this API version')
    try:
        return db_api.get_node(body['node'])
    except exception.NodeNotFound as e:
        e.code = 400
        raise


def _values(body, node):
    """The row to store, with Ironic's defaults for a backfill."""
    values = {k: body.get(k) for k in ('name', 'owner', 'resource_class',
                                       'extra', 'uuid')}
    values['traits'] = list(body.get('traits') or [])
    if not values['resource_class']:
        if node is None:
            raise exception.Invalid('The resource_class field is mandatory '
                                    'when not backfilling')
        values['resource_class'] = node['resource_class']
    if body.get('candidate_nodes'):
        mapping = db_allocations.resolve_nodes(body['candidate_nodes'])
        # keep the caller's order, without repeats
        values['candidate_nodes'] = list(dict.fromkeys(
            mapping[i] for i in body['candidate_nodes']))
    if not values['uuid']:
        values['uuid'] = ((node and node['instance_uuid'])
                          or uuidutils.generate_uuid())
    return values


def _process(req, row, node):
    """Hand the stored allocation to a conductor; never leave it
    ``allocating`` when that fails here (the conductor itself deletes
    one it had no worker for, so that the client can simply retry)."""
    try:
        node_actions.rpc().create_allocation(
            req.context, row['id'],
            backfill_node_id=node['id'] if node else None)
    except exception.NoFreeConductorWorker:
        raise
    except Exception as e:
        db_allocations.fail(row['id'], 'Failed to process allocation %s: '
                            '%s.' % (row['uuid'], e))
        raise


def create_allocation(req):
    _gate(req)
    body = req.json_body_or_error()
    _validate(req, body)
    _own(req, body)
    node = _backfill_node(req, body)
    row = db_allocations.create(_values(body, node))
    _process(req, row, node)
    if node is not None:
        # backfilling finished inside the call; show its outcome
        row = db_allocations.get(row['id'])
    fields = versions.visible(versions.ALLOCATION_FIELDS, req.version)
    base = collection.base_url(req)
    return wsgi.Response(render(req, [row], fields)[0], 201, {
        'Location': '%s/v1/allocations/%s' % (base, row['uuid'])})


def update_allocation(req, allocation_ident):
    _gate(req)
    if not req.allows(57):
        raise exception.BootflowException(
            'The API version does not allow updating allocations', code=405)
    row = _get(allocation_ident)
    patch = req.json_body_or_error()
    validation.validate(validation.JSON_PATCH, patch)
    allowed = versions.ALLOCATION_PATCHABLE
    for field in jsonpatch.patch_paths(patch):
        if field not in allowed:
            raise exception.InvalidParameterValue(
                err='Cannot patch /%s. Only the following can be updated: '
                    '%s' % (field, ', '.join(allowed)))
    doc = {'name': row['name'], 'extra': row['extra']}
    new = jsonpatch.apply_patch(doc, patch)
    name = new['name']
    if name is not None and (not isinstance(name, str) or len(name) > 255
                             or not _NAME_RE.match(name)):
        raise exception.Invalid("Cannot update allocation with invalid name "
                                "'%s'" % (name,))
    validation.validate(UPDATE_VALUES_SCHEMA, {'extra': new['extra']})
    changes = {k: new[k] for k in allowed if new[k] != doc[k]}
    if changes:
        row = db_allocations.update(row['id'], changes)
    fields = versions.visible(versions.ALLOCATION_FIELDS, req.version)
    return render(req, [row], fields)[0]


def delete_allocation(req, allocation_ident):
    _gate(req)
    row = _get(allocation_ident)
    node_actions.rpc().destroy_allocation(req.context, row['id'])
    return wsgi.Response(None, 204)


def _node_allocation(node, node_ident):
    row = db_allocations.get_for_node(node['id'])
    if row is None:
        raise exception.NotFound('Allocation for node %s was not found'
                                 % node_ident)
    return row


def show_node_allocation(req, node_ident):
    _node_gate(req)
    # Ironic looks the node up as a list filter here, hence 400
    node = _node_filter(req, node_ident)
    fields = _fields(req)
    return render(req, [_node_allocation(node, node_ident)], fields)[0]


def delete_node_allocation(req, node_ident):
    _node_gate(req)
    node = nodes.get_node_or_404(req, node_ident)
    row = _node_allocation(node, node_ident)
    node_actions.rpc().destroy_allocation(req.context, row['id'])
    return wsgi.Response(None, 204)


def register(router):
    router.add('GET', '/v1/allocations',
               resource.label(list_allocations, min_version=52))
    router.add('POST', '/v1/allocations', resource.label(
        create_allocation, request_schema=CREATE_SCHEMA, min_version=52,
        status=201))
    router.add('GET', '/v1/allocations/{allocation_ident}',
               show_allocation)
    router.add('PATCH', '/v1/allocations/{allocation_ident}',
               resource.label(update_allocation, min_version=57,
                              request_schema=validation.JSON_PATCH))
    router.add('DELETE', '/v1/allocations/{allocation_ident}',
               delete_allocation)
    router.add('GET', '/v1/nodes/{node_ident}/allocation',
               show_node_allocation)
    router.add('DELETE', '/v1/nodes/{node_ident}/allocation',
               delete_node_allocation)
