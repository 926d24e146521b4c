"""/v1/inspection_rules: conditions and actions applied to inspection data.

Rules are stored and checked for shape here: known operators, the
arguments each one takes, a valid phase and priority. Evaluating them
against inspection data is the inspector's business. A rule marked
``sensitive`` never shows its conditions and actions again (they may hold
BMC credentials), and cannot be made non-sensitive.
"""

import json

from bootflow.api import resource
from bootflow.api import validation
from bootflow.api import versions
from bootflow.api.controllers import deploy_templates as templates
from bootflow.common import exception
from bootflow.db import models

TABLE = models.InspectionRule.__table__
SINCE = versions.INSPECTION_RULE_FIELDS[0][1]

PHASES = ('main',)
MAX_PRIORITY = 9999

# Arguments of each operator: (required, optional), as named arguments.
CONDITION_ARGS = {
    'eq': (('values',), ('force_strings',)),
    'lt': (('values',), ('force_strings',)),
    'gt': (('values',), ('force_strings',)),
    'is-empty': (('value',), ()),
    'in-net': (('address', 'subnet'), ()),
    'matches': (('value', 'regex'), ()),
    'contains': (('value', 'regex'), ()),
    'one-of': (('value',), ('values',)),
    'is-none': (('value',), ()),
    'is-true': (('value',), ()),
    'is-false': (('value',), ()),
}
ACTION_ARGS = {
    'fail': (('msg',), ()),
    'log': (('msg',), ('level',)),
    'set-attribute': (('path', 'value'), ()),
    'extend-attribute': (('path', 'value'), ('unique',)),
    'del-attribute': (('path',), ()),
    'set-capability': (('name', 'value'), ()),
    'unset-capability': (('name',), ()),
    'add-trait': (('name',), ()),
    'remove-trait': (('name',), ()),
    'set-plugin-data': (('path', 'value'), ()),
    'extend-plugin-data': (('path', 'value'), ('unique',)),
    'unset-plugin-data': (('path',), ()),
    'set-port-attribute': (('port_id', 'path', 'value'), ()),
    'extend-port-attribute': (('port_id', 'path', 'value'), ('unique',)),
    'del-port-attribute': (('port_id', 'path'), ()),
    'api-call': (('url',), ('headers', 'proxies', 'timeout', 'retries',
                            'backoff_factor')),
}

_ARGS = {'type': ['array', 'object']}

CONDITION = {
    'type': 'object',
    'properties': {
        # a leading "!" inverts the condition
        'op': {'enum': sorted(CONDITION_ARGS) +
               ['!' + op for op in sorted(CONDITION_ARGS)]},
        'args': _ARGS,
        'multiple': {'enum': ['any', 'all', 'first', 'last']},
        'loop': _ARGS,
    },
    'required': ['op', 'args'],
    'additionalProperties': True,
}
ACTION = {
    'type': 'object',
    'properties': {
        'op': {'enum': sorted(ACTION_ARGS)},
        'args': _ARGS,
        'loop': _ARGS,
    },
    'required': ['op', 'args'],
    'additionalProperties': True,
}

# The baremetal CLI sends its --priority and --sensitive options as
# strings and "conditions": null when no conditions are given; those forms
# are accepted (and stored as integer, boolean and empty list) so that the
# CLI works. Null priority and phase, as left by removing them in a PATCH,
# mean their defaults.
SCHEMAS = {
    'uuid': validation.nullable(validation.UUID),
    'description': validation.nullable(validation.string(255)),
    'priority': {'anyOf': [{'type': 'integer', 'minimum': 0},
                           {'type': 'string', 'pattern': '^[0-9]{1,9}$'},
                           {'type': 'null'}]},
    'sensitive': templates.CLI_BOOL,
    'phase': validation.nullable(validation.string(16)),
    'conditions': {'type': ['array', 'null'], 'items': CONDITION},
    'actions': {'type': 'array', 'items': ACTION, 'minItems': 1},
}

DEFAULTS = {'priority': 0, 'sensitive': False, 'phase': PHASES[0],
            'conditions': []}


def _args_problem(args, required, optional):
    """What is wrong with one operator's arguments, or None.

    A list gives the arguments by position (an older form still
    accepted): required ones first, then optional ones.
    """
    if isinstance(args, list):
        if len(args) < len(required):
            return 'not enough arguments provided, missing: %s' % ', '.join(
                required[len(args):])
        return None
    missing = [a for a in required if a not in args]
    unexpected = sorted(set(args) - set(required) - set(optional))
    problems = []
    if missing:
        problems.append('missing required argument(s): %s'
                        % ', '.join(missing))
    if unexpected:
        problems.append('unexpected argument(s): %s' % ', '.join(unexpected))
    return '; '.join(problems) or None


def rule_errors(rule):
    """Every reason ``rule`` (a schema-valid rule) cannot be stored."""
    errors = []
    phase = rule.get('phase') or PHASES[0]
    if phase not in PHASES:
        errors.append('Invalid phase: %s. Valid phases are: %s'
                      % (phase, ', '.join(PHASES)))
    if not 0 <= rule.get('priority', 0) <= MAX_PRIORITY:
        errors.append('Priority must be between 0 and %d for user-defined '
                      'rules.' % MAX_PRIORITY)
    for kind, items, table in (('condition', rule.get('conditions'),
                                CONDITION_ARGS),
                               ('action', rule.get('actions'), ACTION_ARGS)):
        for item in items or ():
            op = item['op'].lstrip('!')
            problem = _args_problem(item['args'], *table[op])
            if problem:
                errors.append('Invalid parameters for %s operator %s: %s'
                              % (kind, op, problem))
    return errors


def _normalize(values):
    for key, default in DEFAULTS.items():
        if key in values and values[key] is None:
            values[key] = default
    if isinstance(values.get('priority'), str):
        values['priority'] = int(values['priority'])
    if 'sensitive' in values:
        values['sensitive'] = templates.cli_bool(values['sensitive'])


def _prepare(req, values, row):
    _normalize(values)
    if row is not None and row['sensitive'] and \
            'sensitive' in values and not values['sensitive']:
        raise exception.PatchError(
            patch=json.dumps(req.json_body_or_error()),
            reason='Inspection rules cannot have the sensitive flag unset.')
    rule = dict(row or {}, **values)
    errors = rule_errors(rule)
    if len(errors) == 1:
        raise exception.Invalid(errors[0])
    if errors:
        raise exception.Invalid('Multiple validation errors occurred: %s'
                                % '; '.join(errors))


def _conflict(text, values):
    raise exception.InspectionRuleAlreadyExists(uuid=values.get('uuid'))


def _extra_render(req, rows, docs, fields):
    for doc in docs:
        if 'conditions' in doc and doc['conditions'] is None:
            doc['conditions'] = []


def _shown(item, condition):
    # what Ironic shows of a stored item; "multiple" only matters in a loop
    doc = {'op': item['op'], 'args': item['args']}
    if item.get('loop'):
        doc['loop'] = item['loop']
        if condition:
            doc['multiple'] = item.get('multiple', 'any')
    return doc


def _sanitize(req, row, doc):
    for key in ('conditions', 'actions'):
        if key not in doc:
            continue
        if row['sensitive']:
            doc[key] = None
        else:
            doc[key] = [_shown(item, key == 'conditions')
                        for item in doc[key] or ()]


INSPECTION_RULES = resource.Resource(
    'inspection_rules', TABLE, versions.INSPECTION_RULE_FIELDS, SCHEMAS,
    since=SINCE, singular='inspection rule',
    list_fields=('uuid', 'priority', 'phase', 'description', 'links'),
    required=('actions',), sort_excluded=('conditions', 'actions'),
    filters={'phase': (SINCE, lambda req, value: TABLE.c.phase == value)},
    not_found=lambda ident: exception.InspectionRuleNotFound(rule=ident),
    conflict=_conflict, prepare=_prepare, extra_render=_extra_render,
    sanitize=_sanitize, old_write_code=405,
    defaults=DEFAULTS)


def register(router):
    INSPECTION_RULES.register(router)
