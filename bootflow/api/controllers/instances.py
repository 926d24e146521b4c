"""``/bootflow/v1/instances``: launch an instance in one request.

bootflow's own resource, beside (not inside) Ironic's ``/v1``, so Ironic
clients never see it: a launch validates the request, schedules it with
an allocation and deploys the chosen node, retrying on other nodes when a
deploy fails (bootflow.conductor.instances). Errors use the same body as
the rest of the API.
"""

import orjson
from oslo_utils import uuidutils

from bootflow.api import collection
from bootflow.api import wsgi
from bootflow.api.controllers import node_actions
from bootflow.api.controllers import nodes
from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.db import allocations as db_allocations
from bootflow.db import instances as db_instances

PREFIX = '/bootflow/v1'
_FIELDS = ('uuid', 'name', 'state', 'current_task', 'resource_class',
           'traits', 'candidate_nodes', 'image_source', 'instance_info',
           'max_attempts', 'attempts', 'node_uuid', 'allocation_uuid',
           'last_error', 'conductor')
_ACCEPTED = {'name', 'resource_class', 'traits', 'candidate_nodes',
             'image_source', 'instance_info', 'configdrive', 'max_attempts'}
_MAX_ATTEMPTS_LIMIT = 20


def render(req, row):
    doc = {key: row[key] for key in _FIELDS}
    doc['created_at'] = collection.isotime(row['created_at'])
    doc['updated_at'] = collection.isotime(row['updated_at'])
    base = collection.base_url(req)
    doc['links'] = [
        {'href': '%s%s/instances/%s' % (base, PREFIX, row['uuid']),
         'rel': 'self'}]
    return doc


def _invalid(message):
    return exception.InvalidParameterValue(err=message)


def _string(body, key, required=False, max_length=255):
    value = body.get(key)
    if value is None:
        if required:
            raise exception.MissingParameterValue(
                err='"%s" is required to launch an instance' % key)
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise _invalid('"%s" must be a non-empty string of at most %d '
                       'characters' % (key, max_length))
    return value


def _values(body):
    unknown = sorted(set(body) - _ACCEPTED)
    if unknown:
        raise _invalid('Unknown fields: %s' % ', '.join(unknown))
    name = _string(body, 'name')
    if name is not None and uuidutils.is_uuid_like(name):
        raise _invalid('An instance name cannot look like a UUID')
    traits = body.get('traits') or []
    if not isinstance(traits, list):
        raise _invalid('"traits" must be a list')
    for trait in traits:
        nodes.validate_trait(trait)
    candidates = body.get('candidate_nodes') or []
    if not isinstance(candidates, list) or not all(
            isinstance(c, str) for c in candidates):
        raise _invalid('"candidate_nodes" must be a list of node names or '
                       'UUIDs')
    mapping = db_allocations.resolve_nodes(candidates)
    info = body.get('instance_info') or {}
    if not isinstance(info, dict):
        raise _invalid('"instance_info" must be an object')
    configdrive = body.get('configdrive')
    if configdrive is not None:
        if isinstance(configdrive, dict):
            configdrive = orjson.dumps(configdrive).decode()
        elif not isinstance(configdrive, str):
            raise _invalid('"configdrive" must be a string or an object')
    attempts = body.get('max_attempts', CONF.instances.max_attempts)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or \
            not 1 <= attempts <= _MAX_ATTEMPTS_LIMIT:
        raise _invalid('"max_attempts" must be an integer from 1 to %d'
                       % _MAX_ATTEMPTS_LIMIT)
    return {'name': name,
            'resource_class': _string(body, 'resource_class', True, 80),
            'traits': sorted(set(traits)),
            'candidate_nodes': sorted({mapping[c] for c in candidates}),
            'image_source': _string(body, 'image_source', True, 4096),
            'instance_info': info, 'configdrive': configdrive,
            'max_attempts': attempts}


def launch(req):
    body = req.json_body_or_error()
    if not isinstance(body, dict):
        raise _invalid('The request body must be a JSON object')
    row = db_instances.create(_values(body))
    try:
        node_actions.rpc().launch_instance(req.context, row['uuid'])
    except Exception:
        db_instances.delete(row['uuid'])
        raise
    return wsgi.Response(render(req, db_instances.get(row['uuid'])), 202)


def list_instances(req):
    limit = collection.parse_limit(req)
    rows = db_instances.list_instances(limit=limit)
    return {'instances': [render(req, r) for r in rows]}


def show(req, ident):
    return render(req, db_instances.get(ident))


def delete(req, ident):
    row = db_instances.get(ident)
    if row['state'] == db_instances.BUILDING:
        raise exception.Conflict(
            'Instance %s is still being launched (%s); delete it once it is '
            'active or in error' % (row['uuid'], row['current_task']))
    if row['state'] != db_instances.DELETING:
        db_instances.update(row['uuid'], {'state': db_instances.DELETING,
                                          'last_error': None,
                                          'conductor': None})
        node_actions.rpc().delete_instance(req.context, row['uuid'])
    return wsgi.Response(None, 202)


def register(router):
    router.add('GET', PREFIX + '/instances', list_instances)
    router.add('POST', PREFIX + '/instances', launch)
    router.add('GET', PREFIX + '/instances/{ident}', show)
    router.add('DELETE', PREFIX + '/instances/{ident}', delete)
