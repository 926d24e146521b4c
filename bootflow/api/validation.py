"""Request bodies checked against JSON schemas, with Ironic's wording.

The same schema dicts feed the OpenAPI document (``bootflow.api.openapi``),
so what is published is exactly what is enforced. Clients and scripts
match on jsonschema's own phrases ("'driver' is a required property",
"[] is too short"), which Ironic also passes through after a
``Schema error:`` prefix; keeping that wording is part of compatibility.
"""

import functools
import json

import jsonschema
from jsonschema import exceptions as js_exceptions
from oslo_utils import uuidutils

from bootflow.common import exception

_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks('uuid')
def _is_uuid(value):
    # a format constrains strings only; type errors are reported by 'type'
    return not isinstance(value, str) or uuidutils.is_uuid_like(value)


@_FORMATS.checks('mac-address')
def _is_mac(value):
    if not isinstance(value, str):
        return True
    parts = value.replace('-', ':').split(':')
    return len(parts) == 6 and all(
        len(p) == 2 and all(c in '0123456789abcdefABCDEF' for c in p)
        for p in parts)


# Building a validator compiles the schema's regexes; schemas are mostly
# module constants, but some are assembled per request (a resource's
# create schema at the request's version), so the cache is keyed by the
# schema's content and bounded.
@functools.lru_cache(maxsize=256)
def _validator(text):
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=_FORMATS)


# jsonschema 4.21 reworded these ("should be non-empty"); clients and
# Ironic's documentation know the older "is too short" / "is too long".
_CLASSIC = {'minItems': '%r is too short', 'minLength': '%r is too short',
            'maxItems': '%r is too long', 'maxLength': '%r is too long'}


def _text(error):
    if error.validator in _CLASSIC:
        return _CLASSIC[error.validator] % (error.instance,)
    return error.message


def _message(error):
    """One line naming the field and the reason.

    ``best_match`` picks the most specific of several failures (e.g. which
    branch of an ``anyOf`` came closest), which is what a user needs to fix.
    """
    path = '/'.join(str(p) for p in error.absolute_path)
    text = _text(error)
    cause = error
    while cause.context:
        cause = js_exceptions.best_match(cause.context)
    if cause is not error:
        text += '. Possible root cause: %s' % _text(cause)
    if path and not error.validator == 'required':
        return 'Schema error for %s: %s' % (path, text)
    return 'Schema error: %s' % text


def validate(schema, document):
    """Raise InvalidParameterValue (400) unless ``document`` matches."""
    text = json.dumps(schema, sort_keys=True)
    error = js_exceptions.best_match(
        _validator(text).iter_errors(document))
    if error is not None:
        raise exception.InvalidParameterValue(err=_message(error))


def nullable(schema):
    """``schema`` that also admits JSON null (Ironic lets most fields be
    cleared by setting them to null)."""
    result = dict(schema)
    kind = result.get('type')
    if isinstance(kind, str):
        result['type'] = [kind, 'null']
    elif isinstance(kind, list) and 'null' not in kind:
        result['type'] = kind + ['null']
    return result


# Reusable field schemas, named as Ironic's API reference names them.
UUID = {'type': 'string', 'format': 'uuid'}
NAME = {'type': 'string', 'minLength': 1, 'maxLength': 255,
        'pattern': r'^[A-Za-z0-9\-._~]+$'}
MAC = {'type': 'string', 'format': 'mac-address'}
DICT = {'type': 'object'}
BOOL = {'type': 'boolean'}
TEXT = {'type': 'string'}
TRAIT = {'type': 'string', 'maxLength': 255,
         'pattern': r'^([A-Z0-9_]+|CUSTOM_[A-Z0-9_]+)$'}
TIME = {'type': 'string', 'format': 'date-time'}
LINKS = {'type': 'array', 'items': {
    'type': 'object',
    'properties': {'href': {'type': 'string'}, 'rel': {'type': 'string'}},
    'required': ['href', 'rel']}}


# What an SQL INTEGER column holds on every backend; JSON numbers past it
# would otherwise reach the database and fail there (a 500, not a 400).
INT32_MAX = 2 ** 31 - 1
INTEGER = {'type': 'integer', 'minimum': -INT32_MAX - 1, 'maximum': INT32_MAX}


def string(max_length=255):
    return {'type': 'string', 'maxLength': max_length}


# RFC 6902 as bootflow.api.jsonpatch applies it (Ironic takes only add,
# replace and remove; the other three are a superset no client relies on).
JSON_PATCH = {
    'type': 'array',
    'items': {
        'type': 'object',
        'properties': {
            'op': {'type': 'string',
                   'enum': ['add', 'replace', 'remove', 'move', 'copy',
                            'test']},
            'path': {'type': 'string', 'pattern': '^(/[^/]+)+$'},
            'from': {'type': 'string', 'pattern': '^(/[^/]+)+$'},
            'value': {},
        },
        'required': ['op', 'path'],
        'additionalProperties': False,
    },
}
