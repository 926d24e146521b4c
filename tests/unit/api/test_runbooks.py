"""/v1/runbooks, its traits sub-resource and running a runbook on a node."""

import pytest
import webob

from bootflow.api import wsgi
from bootflow.api.controllers import runbooks
from bootflow.common import exception
from bootflow.db import api as db_api

BASE = '/v1/runbooks'


def _step(step='apply_configuration', interface='bios', order=1, **args):
    return {'interface': interface, 'step': step, 'args': args,
            'order': order}


def _create(api, name='CUSTOM_RB', steps=None, version='latest', **body):
    body.update(name=name, steps=steps or [_step()])
    resp = api.post(BASE, body, version=version)
    assert resp.status_int == 201, resp.body
    return resp.data


def test_create_and_show(api):
    rb = _create(api, description='firmware', extra={'a': 1},
                 disable_ramdisk=True)
    assert rb['name'] == 'CUSTOM_RB'
    assert rb['description'] == 'firmware'
    assert rb['disable_ramdisk'] is True
    assert rb['public'] is False and rb['owner'] is None
    assert rb['traits'] == []
    assert rb['steps'] == [{'interface': 'bios',
                            'step': 'apply_configuration', 'args': {},
                            'order': 1}]
    assert api.get('%s/%s' % (BASE, rb['uuid'])).data == rb
    assert api.get('%s/CUSTOM_RB' % BASE).data == rb


def test_step_args_optional_order_as_string(api):
    rb = _create(api, steps=[{'interface': 'deploy', 'step': 'erase',
                              'order': '3'}])
    assert rb['steps'] == [{'interface': 'deploy', 'step': 'erase',
                            'args': {}, 'order': 3}]


def test_old_version_hides_new_fields(api):
    rb = _create(api, name='CUSTOM_OLD', version='1.92')
    assert 'description' not in rb and 'traits' not in rb
    shown = api.get('%s/%s' % (BASE, rb['uuid']), version='1.92').data
    assert 'description' not in shown and 'traits' not in shown
    resp = api.get('%s/%s?fields=description' % (BASE, rb['uuid']),
                   version='1.92')
    assert resp.status_int == 406
    resp = api.post(BASE, {'name': 'CUSTOM_D', 'steps': [_step()],
                           'description': 'x'}, version='1.92')
    assert resp.status_int == 406


def test_name_rules_by_version(api):
    resp = api.post(BASE, {'name': 'my-runbook', 'steps': [_step()]},
                    version='1.111')
    assert resp.status_int == 400
    assert 'Schema error for name' in api.error(resp)
    rb = _create(api, name='my-runbook', version='1.112')
    assert api.get('%s/my-runbook' % BASE).data['uuid'] == rb['uuid']
    resp = api.post(BASE, {'name': 'has space', 'steps': [_step()]})
    assert resp.status_int == 400


@pytest.mark.parametrize('body, fragment', [
    ({'name': 'CUSTOM_A', 'steps': []}, '[] is too short'),
    ({'name': 'CUSTOM_A'}, "'steps' is a required property"),
    ({'name': 'CUSTOM_A', 'steps': [{'interface': 'bios', 'step': 'x'}]},
     "'order' is a required property"),
    ({'name': 'CUSTOM_A', 'steps': [_step(interface='boot')]},
     "'boot' is not one of"),
    ({'name': 'CUSTOM_A', 'steps': [_step(), _step(order=2)]},
     'Duplicate steps'),
    ({'name': 'CUSTOM_A', 'steps': [_step()], 'traits': ['CUSTOM_T']},
     "('traits' was unexpected)"),
    ({'name': 'CUSTOM_A', 'steps': [_step()], 'public': 'yes'},
     'Schema error for public'),
])
def test_create_refused(api, body, fragment):
    resp = api.post(BASE, body)
    assert resp.status_int == 400, resp.body
    assert fragment in api.error(resp)


def test_conflicts(api):
    rb = _create(api)
    resp = api.post(BASE, {'name': 'CUSTOM_RB', 'steps': [_step()]})
    assert resp.status_int == 409
    assert api.error(resp) == 'A runbook with name CUSTOM_RB already exists.'
    resp = api.post(BASE, {'name': 'CUSTOM_2', 'uuid': rb['uuid'],
                           'steps': [_step()]})
    assert resp.status_int == 409
    assert api.error(resp) == \
        'A runbook with UUID %s already exists.' % rb['uuid']


def test_list(api):
    first = _create(api, 'CUSTOM_1', public=True)
    second = _create(api, 'CUSTOM_2', owner='p1')
    third = _create(api, 'CUSTOM_3', owner='p2')
    plain = api.get(BASE).data['runbooks']
    assert [r['name'] for r in plain] == ['CUSTOM_1', 'CUSTOM_2', 'CUSTOM_3']
    assert set(plain[0]) == {'uuid', 'name', 'links'}
    detail = api.get(BASE + '/detail').data['runbooks']
    assert detail[1]['owner'] == 'p1' and 'traits' in detail[1]
    mine = api.get(BASE + '?project=p1').data['runbooks']
    assert {r['uuid'] for r in mine} == {first['uuid'], second['uuid']}
    assert third['uuid'] not in {r['uuid'] for r in mine}
    assert api.get(BASE + '?sort_key=traits').status_int == 400
    page = api.get(BASE + '?limit=1&sort_key=name&sort_dir=desc').data
    assert [r['name'] for r in page['runbooks']] == ['CUSTOM_3']
    assert 'next' in page


def test_patch(api):
    rb = _create(api)
    resp = api.patch('%s/%s' % (BASE, rb['uuid']), [
        {'op': 'replace', 'path': '/name', 'value': 'renamed-runbook'},
        {'op': 'add', 'path': '/description', 'value': 'new'},
        {'op': 'replace', 'path': '/steps/0/order', 'value': 5},
        {'op': 'replace', 'path': '/disable_ramdisk', 'value': True}])
    assert resp.status_int == 200, resp.body
    assert resp.data['name'] == 'renamed-runbook'
    assert resp.data['description'] == 'new'
    assert resp.data['steps'][0]['order'] == 5
    assert resp.data['disable_ramdisk'] is True


@pytest.mark.parametrize('patch, fragment', [
    ([{'op': 'replace', 'path': '/steps', 'value': []}], '[] is too short'),
    ([{'op': 'add', 'path': '/traits', 'value': ['CUSTOM_X']}],
     'read-only'),
    ([{'op': 'remove', 'path': '/steps'}], 'mandatory'),
])
def test_patch_refused(api, patch, fragment):
    rb = _create(api)
    resp = api.patch('%s/%s' % (BASE, rb['uuid']), patch)
    assert resp.status_int == 400, resp.body
    assert fragment in api.error(resp)


def test_patch_description_needs_1_112(api):
    rb = _create(api)
    resp = api.patch('%s/%s' % (BASE, rb['uuid']), [
        {'op': 'add', 'path': '/description', 'value': 'x'}],
        version='1.111')
    assert resp.status_int == 406


def test_public_runbook_has_no_owner(api):
    rb = _create(api, owner='p1')
    resp = api.patch('%s/%s' % (BASE, rb['uuid']), [
        {'op': 'replace', 'path': '/public', 'value': True}])
    assert resp.status_int == 200
    assert resp.data['public'] is True and resp.data['owner'] is None
    resp = api.patch('%s/%s' % (BASE, rb['uuid']), [
        {'op': 'replace', 'path': '/owner', 'value': 'p2'}])
    assert resp.status_int == 400
    assert 'There cannot be an owner for a public runbook' in \
        api.error(resp)
    resp = api.patch('%s/%s' % (BASE, rb['uuid']), [
        {'op': 'replace', 'path': '/public', 'value': False},
        {'op': 'replace', 'path': '/owner', 'value': 'p2'}])
    assert resp.status_int == 200
    assert resp.data['owner'] == 'p2' and resp.data['public'] is False


def test_delete_and_versions(api):
    rb = _create(api)
    assert api.get(BASE, version='1.91').status_int == 404
    assert api.post(BASE, {'name': 'CUSTOM_X', 'steps': [_step()]},
                    version='1.91').status_int == 405
    assert 'runbooks' not in api.get('/v1', version='1.91').data
    assert 'runbooks' in api.get('/v1', version='1.92').data
    assert api.delete('%s/%s' % (BASE, rb['name'])).status_int == 204
    resp = api.get('%s/%s' % (BASE, rb['uuid']))
    assert resp.status_int == 404
    assert api.error(resp) == 'Runbook %s could not be found.' % rb['uuid']


# -- traits -------------------------------------------------------------------

def _traits(api, ident):
    resp = api.get('%s/%s/traits' % (BASE, ident))
    assert resp.status_int == 200, resp.body
    return resp.data['traits']


def test_traits_lifecycle(api):
    rb = _create(api)
    path = '%s/%s/traits' % (BASE, rb['uuid'])
    assert _traits(api, rb['uuid']) == []
    resp = api.put(path + '/CUSTOM_ONE')
    assert resp.status_int == 204
    assert resp.headers['Location'].endswith(
        '/v1/runbooks/%s/traits/CUSTOM_ONE' % rb['uuid'])
    assert api.put(path + '/CUSTOM_ONE').status_int == 204  # idempotent
    assert _traits(api, rb['name']) == ['CUSTOM_ONE']
    assert api.put(path, {'traits': ['CUSTOM_B', 'CUSTOM_A', 'CUSTOM_A']}
                   ).status_int == 204
    assert _traits(api, rb['uuid']) == ['CUSTOM_A', 'CUSTOM_B']
    assert api.get('%s/%s' % (BASE, rb['uuid'])).data['traits'] == \
        ['CUSTOM_A', 'CUSTOM_B']
    assert api.delete(path + '/CUSTOM_A').status_int == 204
    # removing a trait the runbook does not have is a no-op
    assert api.delete(path + '/CUSTOM_NOPE').status_int == 204
    assert _traits(api, rb['uuid']) == ['CUSTOM_B']
    assert api.delete(path).status_int == 204
    assert _traits(api, rb['uuid']) == []


def test_traits_refused(api):
    rb = _create(api)
    path = '%s/%s/traits' % (BASE, rb['uuid'])
    resp = api.put(path + '/lowercase')
    assert resp.status_int == 400
    resp = api.put(path + '/CUSTOM_A', {'traits': ['CUSTOM_B']})
    assert resp.status_int == 400
    assert api.error(resp).startswith('A single runbook trait may be added')
    resp = api.put(path + '/CUSTOM_A', {'x': 1})
    assert resp.status_int == 400
    assert api.error(resp) == 'No body should be provided when adding a trait'
    resp = api.put(path, {})
    assert resp.status_int == 400
    assert api.error(resp).startswith('A single runbook trait may be added')
    resp = api.put(path, {'traits': ['bad trait']})
    assert resp.status_int == 400
    assert 'Schema error for traits/0' in api.error(resp)
    assert _traits(api, rb['uuid']) == []
    assert api.get('%s/nope/traits' % BASE).status_int == 404


def test_traits_need_1_112(api):
    rb = _create(api)
    path = '%s/%s/traits' % (BASE, rb['uuid'])
    assert api.get(path, version='1.111').status_int == 404
    assert api.put(path + '/CUSTOM_A', version='1.111').status_int == 404
    assert api.delete(path, version='1.111').status_int == 404


# -- resolve_runbook --------------------------------------------------------

def _req(minor):
    req = wsgi.Request(webob.Request.blank('/').environ)
    req.version = (1, minor)
    return req


def _node_row(node):
    return db_api.get_node(node['uuid'])


def test_resolve_with_traits(api, node):
    rb = _create(api, disable_ramdisk=True, steps=[
        _step('second', order=2), _step('first', 'deploy', order=1,
                                        password='x')])
    row = _node_row(node)
    with pytest.raises(exception.InvalidParameterValue,
                       match='has no traits configured'):
        runbooks.resolve_runbook(_req(115), row, rb['uuid'])
    api.put('%s/%s/traits/CUSTOM_GO' % (BASE, rb['uuid']))
    with pytest.raises(exception.InvalidParameterValue,
                       match='not been approved'):
        runbooks.resolve_runbook(_req(115), row, rb['name'])
    api.put('/v1/nodes/%s/traits/CUSTOM_GO' % node['uuid'])
    steps, disable_ramdisk = runbooks.resolve_runbook(_req(115), row,
                                                      rb['name'])
    assert disable_ramdisk is True
    # in order, with the real (unmasked) arguments
    assert steps == [
        {'interface': 'deploy', 'step': 'first', 'args': {'password': 'x'}},
        {'interface': 'bios', 'step': 'second', 'args': {}}]


def test_resolve_by_name_before_1_112(api, node):
    rb = _create(api, name='CUSTOM_LEGACY')
    row = _node_row(node)
    with pytest.raises(exception.InvalidParameterValue,
                       match='add it to your node traits'):
        runbooks.resolve_runbook(_req(92), row, rb['uuid'])
    api.put('/v1/nodes/%s/traits/CUSTOM_LEGACY' % node['uuid'])
    steps, disable_ramdisk = runbooks.resolve_runbook(_req(92), row,
                                                      'CUSTOM_LEGACY')
    assert disable_ramdisk is False
    assert steps == [{'interface': 'bios', 'step': 'apply_configuration',
                      'args': {}}]


def test_resolve_refusals(api, node):
    row = _node_row(node)
    with pytest.raises(exception.FieldNotAcceptable):
        runbooks.resolve_runbook(_req(91), row, 'CUSTOM_X')
    with pytest.raises(exception.RunbookNotFound):
        runbooks.resolve_runbook(_req(115), row, 'CUSTOM_MISSING')
