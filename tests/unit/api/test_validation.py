"""Schema errors read as Ironic's do: clients match on these phrases."""

import pytest

from bootflow.api import validation
from bootflow.common import exception

SCHEMA = {
    'type': 'object',
    'properties': {
        'name': validation.NAME,
        'uuid': validation.nullable(validation.UUID),
        'address': validation.MAC,
        'steps': {'type': 'array', 'minItems': 1,
                  'items': {'type': 'object'}},
        'choice': {'anyOf': [{'type': 'integer'},
                             {'type': 'string', 'enum': ['MAX']}]},
    },
    'required': ['name'],
    'additionalProperties': False,
}


def _error(document):
    with pytest.raises(exception.InvalidParameterValue) as info:
        validation.validate(SCHEMA, document)
    assert info.value.code == 400
    return str(info.value)


@pytest.mark.parametrize('document, expected', [
    ({}, "Schema error: 'name' is a required property"),
    ({'name': 'a', 'steps': []}, 'Schema error for steps: [] is too short'),
    ({'name': 'x' * 256}, 'is too long'),
    ({'name': 'a', 'uuid': 'nope'}, "Schema error for uuid: 'nope' is not "
                                    "a 'uuid'"),
    ({'name': 'a', 'address': '11:22'}, "is not a 'mac-address'"),
    ({'name': 'a', 'other': 1}, "Additional properties are not allowed "
                                "('other' was unexpected)"),
    ({'name': 'a', 'steps': [1]}, "Schema error for steps/0: 1 is not of "
                                  "type 'object'"),
    ({'name': 'a', 'choice': 'MIN'}, 'Schema error for choice: '),
])
def test_messages(document, expected):
    assert expected in _error(document)


def test_valid_documents_pass():
    validation.validate(SCHEMA, {'name': 'node-1.a_b~c', 'uuid': None,
                                 'address': 'AA-bb-cc-dd-ee-ff',
                                 'steps': [{}], 'choice': 'MAX'})


def test_nullable_keeps_the_original_intact():
    base = {'type': 'string'}
    assert validation.nullable(base) == {'type': ['string', 'null']}
    assert base == {'type': 'string'}
    assert validation.nullable({'type': ['string', 'null']})['type'] == [
        'string', 'null']


def test_json_patch_schema_refuses_unknown_ops():
    with pytest.raises(exception.InvalidParameterValue) as info:
        validation.validate(validation.JSON_PATCH,
                            [{'op': 'frobnicate', 'path': '/a'}])
    assert "'frobnicate' is not one of" in str(info.value)
