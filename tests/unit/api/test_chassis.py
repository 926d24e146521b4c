"""/v1/chassis over the in-process API."""

import uuid

import pytest

BASE = '/v1/chassis'


def _create(api, version='latest', **body):
    resp = api.post(BASE, body, version=version)
    assert resp.status_int == 201, resp.body
    return resp.data


def _node(api, name, chassis=None):
    body = {'driver': 'fake-hardware', 'name': name}
    if chassis:
        body['chassis_uuid'] = chassis
    resp = api.post('/v1/nodes', body)
    assert resp.status_int == 201, resp.body
    return resp.data


def test_listed_in_v1(api):
    doc = api.get('/v1', version=None).data
    assert doc['chassis'][0]['href'].endswith('/v1/chassis/')


def test_create_show_and_location(api):
    resp = api.post(BASE, {'description': 'rack 1', 'extra': {'row': 'a'}},
                    version=None)
    assert resp.status_int == 201, resp.body
    chassis = resp.data
    assert resp.headers['Location'].endswith('/v1/chassis/%s'
                                             % chassis['uuid'])
    assert set(chassis) == {'uuid', 'description', 'extra', 'created_at',
                            'updated_at', 'links', 'nodes'}
    assert chassis['nodes'][0]['href'].endswith(
        '/v1/chassis/%s/nodes' % chassis['uuid'])
    assert chassis['updated_at'] is None
    assert api.get('%s/%s' % (BASE, chassis['uuid'])).data == chassis


def test_create_defaults_and_given_uuid(api):
    ident = str(uuid.uuid4())
    chassis = _create(api, uuid=ident)
    assert chassis['uuid'] == ident
    assert chassis['description'] is None
    assert chassis['extra'] == {}
    generated = _create(api, uuid=None)
    assert uuid.UUID(generated['uuid'])


@pytest.mark.parametrize('body, fragment', [
    ({'description': 'd' * 256}, 'Schema error for description'),
    ({'extra': 'x'}, 'Schema error for extra'),
    ({'uuid': 'not-a-uuid'}, 'Schema error for uuid'),
    ({'nodes': []}, 'nodes'),
    ({'bogus': 1}, 'bogus'),
])
def test_create_bad_input(api, body, fragment):
    resp = api.post(BASE, body)
    assert resp.status_int == 400, resp.body
    assert fragment in api.error(resp)


def test_create_duplicate_uuid(api):
    chassis = _create(api)
    resp = api.post(BASE, {'uuid': chassis['uuid']})
    assert resp.status_int == 409
    assert api.error(resp) == ('A chassis with UUID %s already exists.'
                               % chassis['uuid'])


def test_list_plain_detail_fields_pages(api):
    made = [_create(api, description='c%d' % i) for i in range(3)]
    plain = api.get(BASE).data
    assert plain['chassis'][0] == {'uuid': made[0]['uuid'],
                                   'description': 'c0',
                                   'links': made[0]['links']}
    detail = api.get(BASE + '/detail').data['chassis']
    assert detail == made
    assert api.get(BASE + '?detail=true').data['chassis'] == made
    assert api.get(BASE + '?detail=true', version='1.42').status_int == 406
    only = api.get(BASE + '?fields=extra').data['chassis']
    assert only[0] == {'extra': {}, 'links': made[0]['links']}
    assert api.get(BASE + '?fields=extra', version='1.7').status_int == 406
    page = api.get(BASE + '?limit=2&sort_key=description&sort_dir=desc')
    assert [c['description'] for c in page.data['chassis']] == ['c2', 'c1']
    assert 'marker=%s' % made[1]['uuid'] in page.data['next']
    assert api.get(BASE + '?sort_key=extra').status_int == 400
    missing = api.get(BASE + '?marker=%s' % uuid.uuid4())
    assert missing.status_int == 404


def test_show_missing(api, db):
    ident = str(uuid.uuid4())
    resp = api.get('%s/%s' % (BASE, ident))
    assert resp.status_int == 404
    assert api.error(resp) == 'Chassis %s could not be found.' % ident


def test_patch(api):
    chassis = _create(api, description='old', extra={'a': 1})
    path = '%s/%s' % (BASE, chassis['uuid'])
    resp = api.patch(path, [
        {'op': 'replace', 'path': '/description', 'value': 'new'},
        {'op': 'add', 'path': '/extra/b', 'value': 2}])
    assert resp.status_int == 200, resp.body
    assert resp.data['description'] == 'new'
    assert resp.data['extra'] == {'a': 1, 'b': 2}
    assert resp.data['updated_at'] is not None
    resp = api.patch(path, [{'op': 'remove', 'path': '/description'},
                            {'op': 'remove', 'path': '/extra'}])
    assert resp.status_int == 200, resp.body
    assert (resp.data['description'], resp.data['extra']) == (None, {})


@pytest.mark.parametrize('op, fragment', [
    ({'op': 'replace', 'path': '/uuid', 'value': str(uuid.uuid4())},
     "'/uuid' is an internal attribute"),
    ({'op': 'replace', 'path': '/nodes', 'value': []}, '/nodes'),
    ({'op': 'replace', 'path': '/description', 'value': 'd' * 256},
     'Schema error for description'),
    ({'op': 'add', 'path': '/bogus', 'value': 1}, 'bogus'),
    ({'op': 'jump', 'path': '/extra'}, 'op'),
])
def test_patch_refused(api, op, fragment):
    chassis = _create(api)
    resp = api.patch('%s/%s' % (BASE, chassis['uuid']), [op])
    assert resp.status_int == 400, resp.body
    assert fragment in api.error(resp)


def test_nodes_of_a_chassis_and_delete(api):
    chassis = _create(api)
    other = _create(api)
    inside = _node(api, 'inside', chassis['uuid'])
    _node(api, 'elsewhere', other['uuid'])
    path = '%s/%s/nodes' % (BASE, chassis['uuid'])
    listed = api.get(path).data['nodes']
    assert [n['uuid'] for n in listed] == [inside['uuid']]
    detail = api.get(path + '/detail').data['nodes']
    assert detail[0]['chassis_uuid'] == chassis['uuid']
    link = chassis['nodes'][0]['href']
    assert api.get(link[link.index('/v1/'):]).data['nodes'] == listed
    assert api.get('%s/%s/nodes' % (BASE, uuid.uuid4())).status_int == 404

    resp = api.delete('%s/%s' % (BASE, chassis['uuid']))
    assert resp.status_int == 400
    assert api.error(resp) == (
        'Cannot complete the requested action because chassis %s contains '
        'nodes.' % chassis['uuid'])
    assert api.delete('/v1/nodes/%s' % inside['uuid']).status_int == 204
    assert api.delete('%s/%s' % (BASE, chassis['uuid'])).status_int == 204
    assert api.get('%s/%s' % (BASE, chassis['uuid'])).status_int == 404
    assert [c['uuid'] for c in api.get(BASE).data['chassis']] == \
        [other['uuid']]
