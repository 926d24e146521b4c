"""/v1/runbooks: named step lists an operator lets users run on nodes.

A runbook is approved for a node through traits: before API 1.112 the
runbook's name had to be one of the node's traits; from 1.112 the runbook
carries its own trait list (``/v1/runbooks/{runbook}/traits``) and any of
them on the node will do, which freed the name from being a trait.

Without projects every caller is an administrator: all runbooks are
visible, and ``owner``/``public`` are bookkeeping that the ``project``
filter and the owner-versus-public rule honour.
"""

import json

import sqlalchemy as sa

from bootflow.api import collection
from bootflow.api import resource
from bootflow.api import validation
from bootflow.api import versions
from bootflow.api import wsgi
from bootflow.api.controllers import deploy_templates as templates
from bootflow.common import exception
from bootflow.db import api as db_api
from bootflow.db import models
from bootflow.db import resources as db

TABLE = models.Runbook.__table__
SINCE = versions.RUNBOOK_FIELDS[0][1]
TRAITS_SINCE = versions.ENDPOINT_SINCE['runbook_traits']
ANY_NAME_SINCE = versions.ENDPOINT_SINCE['runbook_any_name']

RUNBOOK_STEP = templates.step_schema('order', ('interface', 'step', 'order'))
TRAIT_LIST = {'type': 'array', 'items': templates.TRAIT_NAME}

SCHEMAS = {
    'uuid': validation.nullable(validation.UUID),
    'name': validation.NAME,
    'description': validation.nullable(validation.string(255)),
    'disable_ramdisk': validation.nullable(validation.BOOL),
    'owner': validation.nullable(validation.string(255)),
    'public': templates.CLI_BOOL,
    'steps': templates.steps_schema(RUNBOOK_STEP),
    'extra': validation.nullable(validation.DICT),
    # shown, but changed only through the traits sub-resource
    'traits': TRAIT_LIST,
}

# before 1.112 a runbook was approved for nodes by its name, so the name
# had to be a trait
LEGACY_NAME = {'type': 'object', 'properties': {'name': templates.TRAIT_NAME}}

TRAITS_BODY = {
    'type': 'object',
    'properties': {'traits': TRAIT_LIST},
    'additionalProperties': False,
}


def _project_filter(req, value):
    # what a project may use: its own runbooks and the public ones
    return sa.or_(TABLE.c.owner == value, TABLE.c.public.is_(True))


def _check_public_owner(req, values, row):
    public = values.get('public', row['public'])
    if values.get('owner') and public:
        raise exception.PatchError(
            patch=json.dumps(req.json_body_or_error()),
            reason='There cannot be an owner for a public runbook')
    if values.get('public') and 'owner' not in values:
        values['owner'] = None


def _prepare(req, values, row):
    if row is None and not req.allows(ANY_NAME_SINCE):
        validation.validate(LEGACY_NAME, values)
    for key in ('public', 'disable_ramdisk'):
        if key in values:
            values[key] = bool(templates.cli_bool(values[key]))
    if 'steps' in values:
        duplicates = templates.duplicate_steps(values['steps'])
        if duplicates:
            raise exception.InvalidRunbook(
                err='Duplicate steps. A runbook cannot have multiple steps '
                    'with the same interface and step. Duplicates: %s'
                    % '; '.join(duplicates))
        values['steps'] = templates.normalize_steps(values['steps'],
                                                    'order')
    if row is not None:
        _check_public_owner(req, values, row)


def _conflict(text, values):
    if 'name' in text:
        raise exception.RunbookDuplicateName(name=values.get('name'))
    raise exception.RunbookAlreadyExists(uuid=values.get('uuid'))


def _extra_render(req, rows, docs, fields):
    for doc in docs:
        for key in ('steps', 'traits'):
            if key in doc and doc[key] is None:
                doc[key] = []


def _sanitize(req, row, doc):
    if 'steps' in doc:
        doc['steps'] = templates.render_steps(doc['steps'], 'order')


RUNBOOKS = resource.Resource(
    'runbooks', TABLE, versions.RUNBOOK_FIELDS, SCHEMAS, since=SINCE,
    singular='runbook', list_fields=('uuid', 'name', 'links'),
    required=('name', 'steps'), read_only=resource.READ_ONLY + ('traits',),
    sort_excluded=('steps', 'traits'), by_name=SINCE,
    filters={'project': (SINCE, _project_filter)},
    not_found=lambda ident: exception.RunbookNotFound(runbook=ident),
    conflict=_conflict, prepare=_prepare, extra_render=_extra_render,
    sanitize=_sanitize, defaults={'public': False, 'disable_ramdisk': False},
    old_write_code=405)


# -- /v1/runbooks/{runbook}/traits ------------------------------------------

def _traits_runbook(req, runbook_ident):
    req.require_version(TRAITS_SINCE)
    return RUNBOOKS.get(req, runbook_ident)


def _store_traits(row, traits):
    db.update(TABLE, row['id'], {'traits': sorted(set(traits))},
              _conflict, RUNBOOKS.not_found)


def get_traits(req, runbook_ident):
    row = _traits_runbook(req, runbook_ident)
    return {'traits': list(row['traits'] or [])}


def _body_or_none(req):
    if not req.body:
        return None
    return req.json_body_or_error()


_ONE_OR_ALL = (
    'A single runbook trait may be added via PUT /v1/runbooks/<runbook '
    'identifier>/traits/<trait> with no body, or all runbook traits may be '
    'replaced via PUT /v1/runbooks/<runbook identifier>/traits with the '
    'list of traits specified in the request body.')


def set_traits(req, runbook_ident):
    row = _traits_runbook(req, runbook_ident)
    body = _body_or_none(req)
    validation.validate(TRAITS_BODY, body if body is not None else {})
    if body is None or 'traits' not in body:
        raise exception.Invalid(_ONE_OR_ALL)
    _store_traits(row, body['traits'])
    return wsgi.Response(None, 204)


def add_trait(req, runbook_ident, trait):
    row = _traits_runbook(req, runbook_ident)
    validation.validate(templates.TRAIT_NAME, trait)
    body = _body_or_none(req)
    if isinstance(body, dict) and 'traits' in body:
        raise exception.Invalid(_ONE_OR_ALL)
    if body:
        raise exception.Invalid('No body should be provided when adding '
                                'a trait')
    _store_traits(row, list(row['traits'] or []) + [trait])
    return wsgi.Response(None, 204, {
        'Location': '%s/v1/runbooks/%s/traits/%s' % (
            collection.base_url(req), runbook_ident, trait)})


def delete_trait(req, runbook_ident, trait):
    # removing a trait the runbook lacks is not an error
    row = _traits_runbook(req, runbook_ident)
    traits = list(row['traits'] or [])
    if trait in traits:
        _store_traits(row, [t for t in traits if t != trait])
    return wsgi.Response(None, 204)


def delete_all_traits(req, runbook_ident):
    row = _traits_runbook(req, runbook_ident)
    _store_traits(row, [])
    return wsgi.Response(None, 204)


# -- running a runbook on a node --------------------------------------------

def resolve_runbook(req, node, ident):
    """The steps and ``disable_ramdisk`` of runbook ``ident`` for a clean or
    service request on ``node`` (a node row), once the runbook is found
    approved for that node; raises the client's error otherwise."""
    if not req.allows(SINCE):
        raise exception.FieldNotAcceptable(
            'Runbooks require API version 1.%d or later.' % SINCE)
    row = RUNBOOKS.get(req, ident)
    node_traits = set(db_api.get_traits([node['id']]).get(node['id'], ()))
    if req.allows(TRAITS_SINCE):
        runbook_traits = set(row['traits'] or ())
        if not runbook_traits:
            raise exception.InvalidParameterValue(
                err='Runbook %s has no traits configured. Please ask an '
                    'administrator to add traits to the runbook.'
                    % row['uuid'])
        if not runbook_traits & node_traits:
            raise exception.InvalidParameterValue(
                err="This runbook has not been approved for use on this "
                    "node %s. The node does not have any of the runbook's "
                    "traits %s. Please ask an administrator to add a "
                    "matching trait to your node."
                    % (node['uuid'], sorted(runbook_traits)))
    elif row['name'] not in node_traits:
        raise exception.InvalidParameterValue(
            err='This runbook has not been approved for use on this node '
                '%s. Please ask an administrator to add it to your node '
                'traits.' % node['uuid'])
    steps = sorted(row['steps'] or (), key=lambda s: s.get('order', 0))
    return ([{'interface': s['interface'], 'step': s['step'],
              'args': dict(s.get('args') or {})} for s in steps],
            bool(row['disable_ramdisk']))


def register(router):
    RUNBOOKS.register(router)
    base = '/v1/runbooks/{runbook_ident}/traits'
    for method, path, handler, schema in (
            ('GET', base, get_traits, None),
            ('PUT', base, set_traits, TRAITS_BODY),
            ('DELETE', base, delete_all_traits, None),
            ('PUT', base + '/{trait}', add_trait, None),
            ('DELETE', base + '/{trait}', delete_trait, None)):
        status = 200 if method == 'GET' else 204
        router.add(method, path, resource.label(
            handler, request_schema=schema, min_version=TRAITS_SINCE,
            status=status))
