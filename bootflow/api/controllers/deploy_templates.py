"""/v1/deploy_templates: deploy steps applied to nodes asking for a trait.

A template is named like a trait; when an instance requests that trait,
the template's steps run during deployment. Steps are shaped and checked
here (runbooks reuse the same helpers), their effect belongs to the
conductor.
"""

import collections
import copy

from oslo_utils import strutils

from bootflow.api import resource
from bootflow.api import validation
from bootflow.api import versions
from bootflow.common import exception
from bootflow.db import models

TABLE = models.DeployTemplate.__table__

# Interfaces whose steps a template or runbook may name, as Ironic accepts
# them for deploy and clean steps.
STEP_INTERFACES = ('vendor', 'power', 'management', 'firmware', 'deploy',
                   'bios', 'raid')

# Ironic stores priorities as integers but has always accepted digit
# strings, which scripts built from CLI arguments send.
_NON_NEGATIVE = {'anyOf': [
    {'type': 'integer', 'minimum': 0, 'maximum': validation.INT32_MAX},
    {'type': 'string', 'minLength': 1, 'pattern': '^[0-9]{1,9}$'},
]}

# A template is selected by a trait of the instance, so it is named by one.
TRAIT_NAME = dict(validation.TRAIT, minLength=1)


# Some baremetal CLI options reach the API as the strings "True"/"false"
# rather than JSON booleans; accepting them keeps those options usable.
CLI_BOOL = {'anyOf': [
    {'type': ['boolean', 'null']},
    {'type': 'string', 'enum': ['true', 'false', 'True', 'False']}]}


def cli_bool(value):
    """A value valid under CLI_BOOL as a boolean (None stays None)."""
    if isinstance(value, str):
        return value.lower() == 'true'
    return value


def step_schema(position, required):
    """One step: ``position`` is the key ordering it (``priority`` for
    deploy templates, ``order`` for runbooks)."""
    return {
        'type': 'object',
        'properties': {
            'interface': {'type': 'string', 'enum': list(STEP_INTERFACES)},
            'step': {'type': 'string', 'minLength': 1},
            'args': {'type': 'object'},
            position: _NON_NEGATIVE,
        },
        'required': list(required),
        'additionalProperties': False,
    }


def steps_schema(step):
    return {'type': 'array', 'items': step, 'minItems': 1}


DEPLOY_STEP = step_schema('priority', ('interface', 'step', 'args',
                                       'priority'))

SCHEMAS = {
    'uuid': validation.nullable(validation.UUID),
    'name': TRAIT_NAME,
    'steps': steps_schema(DEPLOY_STEP),
    'extra': validation.nullable(validation.DICT),
}


def duplicate_steps(steps):
    """``interface: x, step: y`` for each step named more than once: a
    step runs at most once per template, so a repeat is ambiguous."""
    counts = collections.Counter((s['interface'], s['step']) for s in steps)
    return sorted('interface: %s, step: %s' % key
                  for key, n in counts.items() if n > 1)


def normalize_steps(steps, position):
    """Stored form: integer position, ``args`` always an object."""
    result = []
    for step in steps:
        step = dict(step)
        step[position] = int(step[position])
        step.setdefault('args', {})
        result.append(step)
    return result


def render_steps(steps, position):
    """Steps in Ironic's key order, with password-like arguments masked."""
    shown = []
    for step in steps or ():
        doc = {'interface': step['interface'], 'step': step['step'],
               'args': strutils.mask_dict_password(
                   copy.deepcopy(step.get('args') or {}), '******')}
        if position in step:
            doc[position] = step[position]
        shown.append(doc)
    return shown


def _prepare(req, values, row):
    if 'steps' in values:
        duplicates = duplicate_steps(values['steps'])
        if duplicates:
            raise exception.InvalidDeployTemplate(
                err='Duplicate deploy steps. A template cannot have '
                    'multiple deploy steps with the same interface and '
                    'step. Duplicates: %s' % '; '.join(duplicates))
        values['steps'] = normalize_steps(values['steps'], 'priority')


def _conflict(text, values):
    if 'name' in text:
        raise exception.DeployTemplateDuplicateName(name=values.get('name'))
    raise exception.DeployTemplateAlreadyExists(uuid=values.get('uuid'))


def _extra_render(req, rows, docs, fields):
    for doc in docs:
        if 'steps' in doc and doc['steps'] is None:
            doc['steps'] = []


def _sanitize(req, row, doc):
    if 'steps' in doc:
        doc['steps'] = render_steps(doc['steps'], 'priority')


DEPLOY_TEMPLATES = resource.Resource(
    'deploy_templates', TABLE, versions.DEPLOY_TEMPLATE_FIELDS, SCHEMAS,
    since=versions.DEPLOY_TEMPLATE_FIELDS[0][1], singular='deploy template',
    list_fields=('uuid', 'name', 'links'), required=('name', 'steps'),
    sort_excluded=('steps',), by_name=versions.DEPLOY_TEMPLATE_FIELDS[0][1],
    not_found=lambda ident: exception.DeployTemplateNotFound(
        template=ident),
    conflict=_conflict, prepare=_prepare, extra_render=_extra_render,
    sanitize=_sanitize, old_write_code=405)


def register(router):
    DEPLOY_TEMPLATES.register(router)
