"""/v1/deploy_templates over the in-process API."""

import uuid

import pytest

BASE = '/v1/deploy_templates'


def _step(step='apply_configuration', interface='bios', priority=150,
          **args):
    return {'interface': interface, 'step': step, 'args': args,
            'priority': priority}


def _create(api, name='CUSTOM_HYPERTHREADING_ON', steps=None, **body):
    body.update(name=name, steps=steps or [_step(settings=[])])
    resp = api.post(BASE, body)
    assert resp.status_int == 201, resp.body
    return resp.data


def test_create_show_and_location(api):
    tpl = _create(api, extra={'team': 'a'})
    assert tpl['name'] == 'CUSTOM_HYPERTHREADING_ON'
    assert tpl['extra'] == {'team': 'a'}
    assert tpl['steps'] == [{'interface': 'bios',
                             'step': 'apply_configuration',
                             'args': {'settings': []}, 'priority': 150}]
    assert tpl['updated_at'] is None
    assert set(tpl) == {'uuid', 'name', 'steps', 'extra', 'created_at',
                        'updated_at', 'links'}
    by_uuid = api.get('%s/%s' % (BASE, tpl['uuid']))
    by_name = api.get('%s/%s' % (BASE, tpl['name']))
    assert by_uuid.status_int == by_name.status_int == 200
    assert by_uuid.data == by_name.data == tpl


def test_create_returns_location(api):
    resp = api.post(BASE, {'name': 'CUSTOM_X', 'steps': [_step()]})
    assert resp.headers['Location'].endswith(
        '/v1/deploy_templates/%s' % resp.data['uuid'])


def test_create_with_uuid_and_string_priority(api):
    ident = str(uuid.uuid4())
    tpl = _create(api, uuid=ident, steps=[_step(priority='42')])
    assert tpl['uuid'] == ident
    assert tpl['steps'][0]['priority'] == 42


def test_list_plain_detail_fields(api):
    first = _create(api, 'CUSTOM_A')
    second = _create(api, 'CUSTOM_B')
    plain = api.get(BASE).data['deploy_templates']
    assert [t['uuid'] for t in plain] == [first['uuid'], second['uuid']]
    assert set(plain[0]) == {'uuid', 'name', 'links'}
    detail = api.get(BASE + '/detail').data['deploy_templates']
    assert detail[0]['steps'] == first['steps']
    assert api.get(BASE + '?detail=true').data['deploy_templates'] == detail
    only = api.get(BASE + '?fields=name').data['deploy_templates']
    assert only[0] == {'name': 'CUSTOM_A', 'links': first['links']}


def test_list_pagination_and_sort(api):
    made = [_create(api, 'CUSTOM_P%d' % i) for i in range(3)]
    page = api.get(BASE + '?limit=2')
    assert [t['uuid'] for t in page.data['deploy_templates']] == \
        [made[0]['uuid'], made[1]['uuid']]
    assert 'marker=%s' % made[1]['uuid'] in page.data['next']
    rest = api.get(BASE + '?limit=2&marker=%s' % made[1]['uuid'])
    assert [t['uuid'] for t in rest.data['deploy_templates']] == \
        [made[2]['uuid']]
    desc = api.get(BASE + '?sort_key=name&sort_dir=desc')
    assert [t['name'] for t in desc.data['deploy_templates']] == \
        ['CUSTOM_P2', 'CUSTOM_P1', 'CUSTOM_P0']
    bad = api.get(BASE + '?sort_key=steps')
    assert bad.status_int == 400
    assert 'sort_key' in api.error(bad)


def test_passwords_in_step_args_are_masked(api):
    tpl = _create(api, steps=[_step(password='secret', user='admin')])
    assert tpl['steps'][0]['args'] == {'password': '******',
                                       'user': 'admin'}
    shown = api.get('%s/%s?fields=steps' % (BASE, tpl['uuid'])).data
    assert shown['steps'][0]['args']['password'] == '******'


def test_patch(api):
    tpl = _create(api)
    resp = api.patch('%s/%s' % (BASE, tpl['name']), [
        {'op': 'replace', 'path': '/name', 'value': 'CUSTOM_RENAMED'},
        {'op': 'add', 'path': '/extra/owner', 'value': 'ops'},
        {'op': 'add', 'path': '/steps/-',
         'value': _step('write_image', 'deploy', 80)}])
    assert resp.status_int == 200, resp.body
    assert resp.data['name'] == 'CUSTOM_RENAMED'
    assert resp.data['extra'] == {'owner': 'ops'}
    assert [s['step'] for s in resp.data['steps']] == \
        ['apply_configuration', 'write_image']
    assert resp.data['updated_at'] is not None
    assert api.get('%s/CUSTOM_RENAMED' % BASE).data == resp.data


def test_patch_keeps_masked_args(api):
    # a patch touching other fields must not store the mask
    tpl = _create(api, steps=[_step(password='secret')])
    api.patch('%s/%s' % (BASE, tpl['uuid']),
              [{'op': 'add', 'path': '/extra/a', 'value': 1}])
    resp = api.patch('%s/%s' % (BASE, tpl['uuid']), [
        {'op': 'test', 'path': '/steps/0/args/password',
         'value': 'secret'}])
    assert resp.status_int == 200, resp.body


@pytest.mark.parametrize('patch, status, fragment', [
    ([{'op': 'replace', 'path': '/steps', 'value': []}], 400,
     '[] is too short'),
    ([{'op': 'remove', 'path': '/name'}], 400, 'mandatory'),
    ([{'op': 'replace', 'path': '/name', 'value': 'lower'}], 400,
     'Schema error for name'),
    ([{'op': 'replace', 'path': '/uuid', 'value': str(uuid.uuid4())}], 400,
     'internal attribute'),
    ([{'op': 'add', 'path': '/steps/0/foo', 'value': 1}], 400,
     'Additional properties are not allowed'),
    ([{'op': 'add', 'path': '/description', 'value': 'x'}], 400,
     'not an attribute'),
])
def test_patch_refused(api, patch, status, fragment):
    tpl = _create(api)
    resp = api.patch('%s/%s' % (BASE, tpl['uuid']), patch)
    assert resp.status_int == status, resp.body
    assert fragment in api.error(resp)
    assert api.get('%s/%s' % (BASE, tpl['uuid'])).data == tpl


def test_patch_duplicate_steps(api):
    tpl = _create(api)
    resp = api.patch('%s/%s' % (BASE, tpl['uuid']), [
        {'op': 'add', 'path': '/steps/-', 'value': _step(priority=10)}])
    assert resp.status_int == 400
    assert api.error(resp) == (
        'Deploy template invalid: Duplicate deploy steps. A template cannot '
        'have multiple deploy steps with the same interface and step. '
        'Duplicates: interface: bios, step: apply_configuration.')


@pytest.mark.parametrize('body, fragment', [
    ({'name': 'CUSTOM_A', 'steps': []}, '[] is too short'),
    ({'name': 'CUSTOM_A'}, "'steps' is a required property"),
    ({'steps': [_step()]}, "'name' is a required property"),
    ({'name': 'not-a-trait', 'steps': [_step()]}, 'Schema error for name'),
    ({'name': 'CUSTOM_A', 'steps': [_step(interface='boot')]},
     "Schema error for steps/0/interface: 'boot' is not one of"),
    ({'name': 'CUSTOM_A', 'steps': [_step(priority=-1)]},
     'Schema error for steps/0/priority'),
    ({'name': 'CUSTOM_A', 'steps': [{'interface': 'bios', 'step': 'x',
                                     'priority': 1}]},
     "'args' is a required property"),
    ({'name': 'CUSTOM_A', 'steps': [_step()], 'foo': 1},
     "('foo' was unexpected)"),
    ({'name': 'CUSTOM_A', 'steps': [_step()], 'uuid': 'nope'},
     'Schema error for uuid'),
    ({'name': 'CUSTOM_A', 'steps': [_step(), _step(priority=1)]},
     'Duplicate deploy steps'),
])
def test_create_refused(api, body, fragment):
    resp = api.post(BASE, body)
    assert resp.status_int == 400, resp.body
    assert fragment in api.error(resp)
    assert api.get(BASE).data['deploy_templates'] == []


def test_conflicts(api):
    tpl = _create(api, 'CUSTOM_DUP')
    resp = api.post(BASE, {'name': 'CUSTOM_DUP', 'steps': [_step()]})
    assert resp.status_int == 409
    assert api.error(resp) == \
        'A deploy template with name CUSTOM_DUP already exists.'
    resp = api.post(BASE, {'name': 'CUSTOM_OTHER', 'uuid': tpl['uuid'],
                           'steps': [_step()]})
    assert resp.status_int == 409
    assert api.error(resp) == \
        'A deploy template with UUID %s already exists.' % tpl['uuid']
    other = _create(api, 'CUSTOM_OTHER')
    resp = api.patch('%s/%s' % (BASE, other['uuid']), [
        {'op': 'replace', 'path': '/name', 'value': 'CUSTOM_DUP'}])
    assert resp.status_int == 409
    assert 'already exists' in api.error(resp)


def test_delete(api):
    tpl = _create(api)
    resp = api.delete('%s/%s' % (BASE, tpl['name']))
    assert resp.status_int == 204
    missing = api.get('%s/%s' % (BASE, tpl['uuid']))
    assert missing.status_int == 404
    assert api.error(missing) == \
        'Deploy template %s could not be found.' % tpl['uuid']
    assert api.delete('%s/%s' % (BASE, tpl['uuid'])).status_int == 404


def test_versions(api):
    tpl = _create(api)
    assert api.get(BASE, version='1.54').status_int == 404
    assert api.get('%s/%s' % (BASE, tpl['uuid']),
                   version='1.54').status_int == 404
    # writes below the version are "method not allowed", as in Ironic
    resp = api.post(BASE, {'name': 'CUSTOM_OLD', 'steps': [_step()]},
                    version='1.54')
    assert resp.status_int == 405
    assert api.delete('%s/%s' % (BASE, tpl['uuid']),
                      version='1.54').status_int == 405
    assert api.get(BASE, version='1.55').status_int == 200
    assert 'deploy_templates' in api.get('/v1', version='1.55').data
    assert 'deploy_templates' not in api.get('/v1', version='1.54').data
