import copy

import pytest

from bootflow.api import jsonpatch
from bootflow.common import exception

INTERNAL = {'uuid', 'id', 'created_at', 'updated_at', 'provision_state'}
READONLY = {'power_state'}
MANDATORY = {'driver'}


def _node():
    return {
        'uuid': '1be26c0b-03f2-4d2e-ae87-c02d7f33c123',
        'id': 7,
        'created_at': '2024-01-01T00:00:00',
        'updated_at': None,
        'provision_state': 'enroll',
        'power_state': 'power off',
        'driver': 'fake-hardware',
        'name': 'node-0',
        'description': 'rack 4',
        'properties': {'memory_mb': 4096, 'cpus': 2},
        'extra': {'rack': 'r1', 'a/b': 1, 'm~n': 2},
        'instance_info': {},
        'driver_info': {'ipmi_address': '10.0.0.1'},
        'traits': ['CUSTOM_A', 'CUSTOM_B'],
        'maintenance': False,
    }


def apply(patch, doc=None):
    return jsonpatch.apply_patch(_node() if doc is None else doc, patch,
                                 internal=INTERNAL, readonly=READONLY,
                                 mandatory=MANDATORY)


# --- each op -----------------------------------------------------------------

def test_replace_top_level():
    out = apply([{'op': 'replace', 'path': '/name', 'value': 'n1'}])
    assert out['name'] == 'n1'


def test_replace_nested():
    out = apply([{'op': 'replace', 'path': '/properties/memory_mb',
                  'value': 8192}])
    assert out['properties'] == {'memory_mb': 8192, 'cpus': 2}


def test_replace_missing_nested_key_fails():
    with pytest.raises(exception.PatchError, match='/properties/nope'):
        apply([{'op': 'replace', 'path': '/properties/nope', 'value': 1}])


def test_replace_list_item():
    out = apply([{'op': 'replace', 'path': '/traits/1', 'value': 'CUSTOM_Z'}])
    assert out['traits'] == ['CUSTOM_A', 'CUSTOM_Z']


def test_add_top_level_existing_acts_as_replace():
    out = apply([{'op': 'add', 'path': '/description', 'value': 'x'}])
    assert out['description'] == 'x'


def test_add_nested_new_key():
    out = apply([{'op': 'add', 'path': '/instance_info/image_source',
                  'value': 'http://img'}])
    assert out['instance_info'] == {'image_source': 'http://img'}


def test_add_nested_under_missing_parent_fails():
    with pytest.raises(exception.PatchError, match='/extra/deep'):
        apply([{'op': 'add', 'path': '/extra/deep/x', 'value': 1}])


def test_add_nested_into_none_field_fails():
    doc = _node()
    doc['extra'] = None
    with pytest.raises(exception.PatchError):
        apply([{'op': 'add', 'path': '/extra/rack', 'value': 'r'}], doc)


def test_add_list_append_with_dash():
    out = apply([{'op': 'add', 'path': '/traits/-', 'value': 'CUSTOM_C'}])
    assert out['traits'] == ['CUSTOM_A', 'CUSTOM_B', 'CUSTOM_C']


def test_add_list_insert_at_index():
    out = apply([{'op': 'add', 'path': '/traits/0', 'value': 'CUSTOM_0'}])
    assert out['traits'] == ['CUSTOM_0', 'CUSTOM_A', 'CUSTOM_B']


def test_add_list_at_len_appends():
    out = apply([{'op': 'add', 'path': '/traits/2', 'value': 'CUSTOM_C'}])
    assert out['traits'][-1] == 'CUSTOM_C'


@pytest.mark.parametrize('index', ['3', '01', '-1', 'x'])
def test_add_list_bad_index_fails(index):
    with pytest.raises(exception.PatchError):
        apply([{'op': 'add', 'path': '/traits/' + index, 'value': 'C'}])


def test_remove_nested_key():
    out = apply([{'op': 'remove', 'path': '/driver_info/ipmi_address'}])
    assert out['driver_info'] == {}


def test_remove_missing_nested_key_names_path():
    with pytest.raises(exception.PatchError) as ei:
        apply([{'op': 'remove', 'path': '/extra/nope'}])
    assert '/extra/nope' in str(ei.value)
    assert ei.value.code == 400


def test_remove_list_item():
    out = apply([{'op': 'remove', 'path': '/traits/0'}])
    assert out['traits'] == ['CUSTOM_B']


def test_remove_list_dash_fails():
    with pytest.raises(exception.PatchError):
        apply([{'op': 'remove', 'path': '/traits/-'}])


def test_remove_top_level_scalar_sets_none():
    out = apply([{'op': 'remove', 'path': '/description'}])
    assert 'description' in out and out['description'] is None


def test_remove_top_level_list_sets_none():
    out = apply([{'op': 'remove', 'path': '/traits'}])
    assert out['traits'] is None


@pytest.mark.parametrize('field', ['properties', 'extra', 'driver_info',
                                   'instance_info'])
def test_remove_top_level_dict_sets_empty_dict(field):
    out = apply([{'op': 'remove', 'path': '/' + field}])
    assert out[field] == {}


def test_move_nested():
    out = apply([{'op': 'move', 'from': '/extra/rack',
                  'path': '/properties/rack'}])
    assert 'rack' not in out['extra']
    assert out['properties']['rack'] == 'r1'


def test_move_top_level_source_is_reset():
    out = apply([{'op': 'move', 'from': '/description', 'path': '/name'}])
    assert out['name'] == 'rack 4'
    assert out['description'] is None


def test_move_into_own_child_fails():
    with pytest.raises(exception.PatchError):
        apply([{'op': 'move', 'from': '/extra', 'path': '/extra/sub'}])


def test_move_to_same_path_is_noop():
    out = apply([{'op': 'move', 'from': '/extra/rack', 'path': '/extra/rack'}])
    assert out == _node()


def test_move_from_mandatory_fails():
    with pytest.raises(exception.InvalidParameterValue, match='mandatory'):
        apply([{'op': 'move', 'from': '/driver', 'path': '/name'}])


def test_copy_is_deep():
    out = apply([{'op': 'copy', 'from': '/properties',
                  'path': '/instance_info'}])
    assert out['instance_info'] == out['properties']
    out['instance_info']['cpus'] = 99
    assert out['properties']['cpus'] == 2


def test_copy_from_internal_is_allowed():
    out = apply([{'op': 'copy', 'from': '/uuid', 'path': '/name'}])
    assert out['name'] == _node()['uuid']


def test_copy_missing_source_fails():
    with pytest.raises(exception.PatchError, match='/extra/nope'):
        apply([{'op': 'copy', 'from': '/extra/nope', 'path': '/name'}])


def test_test_success_then_replace():
    out = apply([
        {'op': 'test', 'path': '/properties/cpus', 'value': 2},
        {'op': 'replace', 'path': '/properties/cpus', 'value': 4},
    ])
    assert out['properties']['cpus'] == 4


@pytest.mark.parametrize('value', [3, '2', 2.5, True, None])
def test_test_failure(value):
    with pytest.raises(exception.PatchError, match='test failed'):
        apply([{'op': 'test', 'path': '/properties/cpus', 'value': value}])


def test_test_distinguishes_bool_from_int():
    with pytest.raises(exception.PatchError):
        apply([{'op': 'test', 'path': '/maintenance', 'value': 0}])
    apply([{'op': 'test', 'path': '/maintenance', 'value': False}])


def test_test_on_internal_field_is_allowed():
    apply([{'op': 'test', 'path': '/provision_state', 'value': 'enroll'}])


# --- escaping ----------------------------------------------------------------

def test_escaped_slash_and_tilde():
    out = apply([
        {'op': 'replace', 'path': '/extra/a~1b', 'value': 10},
        {'op': 'remove', 'path': '/extra/m~0n'},
    ])
    assert out['extra'] == {'rack': 'r1', 'a/b': 10}


def test_escape_order_tilde_one_literal():
    doc = _node()
    doc['extra'] = {'~1': 'literal'}
    out = apply([{'op': 'replace', 'path': '/extra/~01', 'value': 'x'}], doc)
    assert out['extra'] == {'~1': 'x'}


@pytest.mark.parametrize('path', ['/extra/a~2', '/extra/a~'])
def test_bad_escape_rejected(path):
    with pytest.raises(exception.InvalidParameterValue):
        apply([{'op': 'add', 'path': path, 'value': 1}])


# --- Ironic field rules ------------------------------------------------------

@pytest.mark.parametrize('field', sorted(INTERNAL))
def test_internal_fields_rejected(field):
    with pytest.raises(exception.InvalidParameterValue) as ei:
        apply([{'op': 'replace', 'path': '/' + field, 'value': 'x'}])
    assert str(ei.value) == ("'/%s' is an internal attribute and can not be "
                             "updated" % field)
    assert ei.value.code == 400


def test_internal_nested_path_rejected():
    with pytest.raises(exception.InvalidParameterValue, match="'/uuid'"):
        apply([{'op': 'add', 'path': '/uuid/x', 'value': 1}])


def test_internal_given_with_slash():
    with pytest.raises(exception.InvalidParameterValue, match='internal'):
        jsonpatch.apply_patch(_node(), [{'op': 'remove', 'path': '/name'}],
                              internal={'/name'})


def test_internal_not_in_doc_still_internal():
    doc = _node()
    del doc['id']
    with pytest.raises(exception.InvalidParameterValue, match='internal'):
        apply([{'op': 'add', 'path': '/id', 'value': 1}], doc)


def test_copy_onto_internal_rejected():
    with pytest.raises(exception.InvalidParameterValue, match='internal'):
        apply([{'op': 'copy', 'from': '/name', 'path': '/uuid'}])


def test_move_from_internal_rejected():
    with pytest.raises(exception.InvalidParameterValue, match='internal'):
        apply([{'op': 'move', 'from': '/uuid', 'path': '/name'}])


def test_readonly_rejected():
    with pytest.raises(exception.InvalidParameterValue, match='read-only'):
        apply([{'op': 'replace', 'path': '/power_state', 'value': 'on'}])


def test_remove_mandatory_rejected():
    with pytest.raises(exception.InvalidParameterValue) as ei:
        apply([{'op': 'remove', 'path': '/driver'}])
    assert str(ei.value) == ("'/driver' is a mandatory attribute and can not "
                             "be removed")


def test_replace_mandatory_allowed():
    out = apply([{'op': 'replace', 'path': '/driver', 'value': 'ipmi'}])
    assert out['driver'] == 'ipmi'


@pytest.mark.parametrize('op', [
    {'op': 'add', 'path': '/foo', 'value': 1},
    {'op': 'replace', 'path': '/foo', 'value': 1},
    {'op': 'remove', 'path': '/foo'},
    {'op': 'test', 'path': '/foo', 'value': 1},
    {'op': 'copy', 'from': '/name', 'path': '/foo'},
    {'op': 'move', 'from': '/foo', 'path': '/name'},
])
def test_unknown_top_level_rejected(op):
    with pytest.raises(exception.PatchError, match='Cannot patch /foo'):
        apply([op])


def test_patch_error_message_format():
    with pytest.raises(exception.PatchError) as ei:
        apply([{'op': 'remove', 'path': '/foo'}])
    assert str(ei.value).startswith("Couldn't apply patch '")
    assert 'Reason: Cannot patch /foo' in str(ei.value)


# --- malformed patches -------------------------------------------------------

@pytest.mark.parametrize('patch', [
    {'op': 'add', 'path': '/name', 'value': 1},
    'not a list',
    None,
    [1],
    [{'path': '/name', 'value': 1}],
    [{'op': 'frobnicate', 'path': '/name'}],
    [{'op': ['add'], 'path': '/name'}],
    [{'op': 'add', 'value': 1}],
    [{'op': 'add', 'path': '/name'}],
    [{'op': 'replace', 'path': '/name'}],
    [{'op': 'test', 'path': '/name'}],
    [{'op': 'move', 'path': '/name'}],
    [{'op': 'copy', 'path': '/name'}],
    [{'op': 'add', 'path': 'name', 'value': 1}],
    [{'op': 'add', 'path': 5, 'value': 1}],
    [{'op': 'replace', 'path': '', 'value': {}}],
    [{'op': 'move', 'from': 'name', 'path': '/name'}],
])
def test_malformed_patch_rejected(patch):
    with pytest.raises(exception.InvalidParameterValue) as ei:
        apply(patch)
    assert ei.value.code == 400


def test_value_null_is_allowed():
    out = apply([{'op': 'replace', 'path': '/description', 'value': None}])
    assert out['description'] is None


def test_empty_patch_returns_equal_copy():
    doc = _node()
    out = jsonpatch.apply_patch(doc, [])
    assert out == doc and out is not doc


# --- purity and atomicity ----------------------------------------------------

def test_input_not_mutated():
    doc = _node()
    before = copy.deepcopy(doc)
    out = apply([
        {'op': 'add', 'path': '/traits/-', 'value': 'CUSTOM_C'},
        {'op': 'remove', 'path': '/properties/cpus'},
        {'op': 'remove', 'path': '/extra'},
    ], doc)
    assert doc == before
    assert out['properties'] is not doc['properties']


def test_failed_patch_leaves_input_untouched():
    doc = _node()
    before = copy.deepcopy(doc)
    with pytest.raises(exception.PatchError):
        apply([{'op': 'replace', 'path': '/name', 'value': 'x'},
               {'op': 'remove', 'path': '/extra/nope'}], doc)
    assert doc == before


def test_value_from_patch_is_copied():
    value = {'k': [1]}
    patch = [{'op': 'add', 'path': '/extra/v', 'value': value}]
    out = apply(patch)
    value['k'].append(2)
    assert out['extra']['v'] == {'k': [1]}


def test_ops_apply_in_order():
    out = apply([
        {'op': 'add', 'path': '/extra/new', 'value': {}},
        {'op': 'add', 'path': '/extra/new/x', 'value': 1},
        {'op': 'move', 'from': '/extra/new/x', 'path': '/extra/y'},
    ])
    assert out['extra']['new'] == {} and out['extra']['y'] == 1


# --- patch_paths -------------------------------------------------------------

def test_patch_paths():
    patch = [
        {'op': 'replace', 'path': '/properties/memory_mb', 'value': 1},
        {'op': 'add', 'path': '/traits/-', 'value': 'C'},
        {'op': 'remove', 'path': '/extra/a~1b'},
        {'op': 'move', 'from': '/description', 'path': '/name'},
        {'op': 'copy', 'from': '/driver_info', 'path': '/instance_info'},
        {'op': 'test', 'path': '/driver', 'value': 'x'},
    ]
    assert jsonpatch.patch_paths(patch) == {
        'properties', 'traits', 'extra', 'description', 'name',
        'instance_info'}


def test_patch_paths_unescapes_top_level():
    assert jsonpatch.patch_paths(
        [{'op': 'remove', 'path': '/a~1b/c'}]) == {'a/b'}


def test_patch_paths_rejects_malformed():
    with pytest.raises(exception.InvalidParameterValue):
        jsonpatch.patch_paths([{'op': 'add', 'path': '/x'}])
