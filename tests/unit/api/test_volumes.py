"""/v1/volume, volume connectors and volume targets, over the in-process
API."""

import uuid

import pytest
import sqlalchemy as sa

from bootflow.db import api as db_api

CONNECTORS = '/v1/volume/connectors'
TARGETS = '/v1/volume/targets'
IQN = 'iqn.2017-05.org.example:node-1'


def _set_node(node, **values):
    db_api.update_node(db_api.get_node(node['uuid'])['id'], values)


def _connector(api, node, connector_id=IQN, kind='iqn', **body):
    body.update(node_uuid=node['uuid'], type=kind,
                connector_id=connector_id)
    resp = api.post(CONNECTORS, body)
    assert resp.status_int == 201, resp.body
    return resp.data


def _target(api, node, boot_index=0, **body):
    body.setdefault('volume_id', str(uuid.uuid4()))
    body.update(node_uuid=node['uuid'], volume_type='iscsi',
                boot_index=boot_index)
    resp = api.post(TARGETS, body)
    assert resp.status_int == 201, resp.body
    return resp.data


def _second_node(api):
    resp = api.post('/v1/nodes', {'driver': 'fake-hardware',
                                  'name': 'unit-node-2'})
    assert resp.status_int == 201, resp.body
    return resp.data


# -- the volume documents ----------------------------------------------------

def test_volume_root(api, node):
    assert api.get('/v1/volume', version='1.31').status_int == 404
    assert 'volume' not in api.get('/v1', version='1.31').data
    assert api.get('/v1', version='1.32').data['volume'][0][
        'href'].endswith('/v1/volume/')
    doc = api.get('/v1/volume', version='1.32').data
    assert set(doc) == {'links', 'connectors', 'targets'}
    assert doc['connectors'][0] == {
        'href': 'http://localhost/v1/volume/connectors', 'rel': 'self'}
    assert doc['targets'][1] == {
        'href': 'http://localhost/volume/targets', 'rel': 'bookmark'}


def test_node_volume(api, node):
    path = '/v1/nodes/%s/volume' % node['uuid']
    assert api.get(path, version='1.31').status_int == 404
    doc = api.get(path).data
    assert doc['targets'][0]['href'].endswith(path + '/targets')
    # the node's own link leads here
    link = api.get('/v1/nodes/%s' % node['uuid']).data['volume'][0]['href']
    assert api.get(link[link.index('/v1/'):]).data == doc
    assert api.get('/v1/nodes/missing/volume').status_int == 404
    connector = _connector(api, node)
    target = _target(api, node)
    other = _second_node(api)
    _connector(api, other, connector_id='iqn.other')
    listed = api.get(path + '/connectors').data['connectors']
    assert [c['uuid'] for c in listed] == [connector['uuid']]
    listed = api.get(path + '/targets?detail=true').data['targets']
    assert listed == [target]
    assert api.get(path + '/connectors', version='1.31').status_int == 404


# -- connectors --------------------------------------------------------------

def test_connectors_absent_below_1_32(api, node):
    assert api.get(CONNECTORS, version='1.31').status_int == 404
    resp = api.post(CONNECTORS, {'node_uuid': node['uuid'], 'type': 'iqn',
                                 'connector_id': IQN}, version='1.31')
    assert resp.status_int == 404


def test_connector_create_show_list(api, node):
    connector = _connector(api, node, extra={'a': 1})
    assert set(connector) == {'uuid', 'type', 'connector_id', 'node_uuid',
                              'extra', 'created_at', 'updated_at', 'links'}
    assert connector['node_uuid'] == node['uuid']
    assert connector['links'][0]['href'].endswith(
        '/v1/volume/connectors/%s' % connector['uuid'])
    shown = api.get('%s/%s' % (CONNECTORS, connector['uuid']),
                    version='1.32').data
    assert shown == connector
    plain = api.get(CONNECTORS, version='1.32').data
    assert plain == {'connectors': [{
        'uuid': connector['uuid'], 'node_uuid': node['uuid'],
        'type': 'iqn', 'connector_id': IQN, 'links': connector['links']}]}
    # ?detail= has been there since 1.32; there is no /detail route
    detail = api.get(CONNECTORS + '?detail=True', version='1.32').data
    assert detail == {'connectors': [connector]}
    assert api.get(CONNECTORS + '/detail').status_int == 404
    only = api.get(CONNECTORS + '?fields=type').data['connectors']
    assert only == [{'type': 'iqn', 'links': connector['links']}]


def test_connector_node_filter_and_pages(api, node):
    other = _second_node(api)
    mine = [_connector(api, node, connector_id='iqn.%d' % i)
            for i in range(3)]
    _connector(api, other, connector_id='iqn.x')
    page = api.get(CONNECTORS + '?node=%s&limit=2' % node['name']).data
    assert [c['uuid'] for c in page['connectors']] == \
        [c['uuid'] for c in mine[:2]]
    assert 'node=unit-node' in page['next']
    nxt = page['next']
    rest = api.get(nxt[nxt.index('/v1/'):]).data['connectors']
    assert [c['uuid'] for c in rest] == [mine[2]['uuid']]
    assert api.get(CONNECTORS + '?node=missing').status_int == 404


NODE = object()


@pytest.mark.parametrize('body, fragment', [
    ({'type': 'iqn', 'connector_id': IQN},
     "'node_uuid' is a required property"),
    ({'type': 'iqn', 'node_uuid': NODE},
     "'connector_id' is a required property"),
    ({'type': 'iqn', 'connector_id': 5, 'node_uuid': NODE},
     'Schema error for connector_id'),
    ({'type': 'i' * 33, 'connector_id': IQN, 'node_uuid': NODE},
     'Schema error for type'),
    ({'type': 'iqn', 'connector_id': IQN, 'extra': [], 'node_uuid': NODE},
     'Schema error for extra'),
    ({'type': 'iqn', 'connector_id': IQN, 'node_uuid': 'x'},
     'Schema error for node_uuid'),
])
def test_connector_bad_input(api, node, body, fragment):
    body = {k: node['uuid'] if v is NODE else v for k, v in body.items()}
    resp = api.post(CONNECTORS, body)
    assert resp.status_int == 400, resp.body
    assert fragment in api.error(resp)


def test_connector_missing_node(api, db):
    missing = str(uuid.uuid4())
    resp = api.post(CONNECTORS, {'node_uuid': missing, 'type': 'iqn',
                                 'connector_id': IQN})
    assert resp.status_int == 400
    assert api.error(resp).startswith(
        "Invalid input for field/attribute node_uuid. Value: '%s'." %
        missing)


def test_connector_conflicts(api, node):
    connector = _connector(api, node)
    resp = api.post(CONNECTORS, {'node_uuid': node['uuid'], 'type': 'iqn',
                                 'connector_id': IQN})
    assert resp.status_int == 409
    assert api.error(resp) == ('A volume connector with type iqn and '
                               'connector ID %s already exists.' % IQN)
    resp = api.post(CONNECTORS, {'node_uuid': node['uuid'], 'type': 'ip',
                                 'connector_id': '10.0.0.1',
                                 'uuid': connector['uuid']})
    assert resp.status_int == 409
    assert api.error(resp) == ('A volume connector with UUID %s already '
                               'exists.' % connector['uuid'])
    # on update the message names the unchanged type too
    _set_node(node, power_state='power off')
    other = _connector(api, node, connector_id='iqn.other')
    resp = api.patch('%s/%s' % (CONNECTORS, other['uuid']), [
        {'op': 'replace', 'path': '/connector_id', 'value': IQN}])
    assert resp.status_int == 409
    assert 'type iqn and connector ID %s' % IQN in api.error(resp)


def test_connector_update_needs_power_off(api, node):
    connector = _connector(api, node)
    path = '%s/%s' % (CONNECTORS, connector['uuid'])
    op = [{'op': 'add', 'path': '/extra/a', 'value': 'b'}]
    _set_node(node, power_state='power on')
    resp = api.patch(path, op)
    assert resp.status_int == 400
    assert api.error(resp) == (
        'The requested action "volume connector update" can not be '
        'performed on node "%s" while it is in state "power on".'
        % node['uuid'])
    _set_node(node, power_state='power off')
    resp = api.patch(path, op + [
        {'op': 'replace', 'path': '/type', 'value': 'wwpn'}])
    assert resp.status_int == 200, resp.body
    assert resp.data['extra'] == {'a': 'b'}
    assert resp.data['type'] == 'wwpn'
    assert resp.data['updated_at'] is not None


def test_connector_move_to_other_node(api, node):
    connector = _connector(api, node)
    other = _second_node(api)
    path = '%s/%s' % (CONNECTORS, connector['uuid'])
    move = [{'op': 'replace', 'path': '/node_uuid', 'value': other['uuid']}]
    _set_node(node, power_state='power off')
    # the node it moves to decides
    resp = api.patch(path, move)
    assert resp.status_int == 400
    assert 'on node "%s"' % other['uuid'] in api.error(resp)
    _set_node(other, power_state='power off')
    resp = api.patch(path, move)
    assert resp.status_int == 200, resp.body
    assert resp.data['node_uuid'] == other['uuid']
    _set_node(other, owner='someone')
    resp = api.patch(path, [{'op': 'replace', 'path': '/node_uuid',
                             'value': node['uuid']}])
    assert resp.status_int == 400
    assert 'Unable to apply the requested node_uuid' in api.error(resp)


@pytest.mark.parametrize('op, fragment', [
    ({'op': 'remove', 'path': '/type'}, 'mandatory'),
    ({'op': 'replace', 'path': '/uuid', 'value': str(uuid.uuid4())},
     'uuid'),
    ({'op': 'replace', 'path': '/connector_id', 'value': 1},
     'Schema error for connector_id'),
    ({'op': 'add', 'path': '/bogus', 'value': 1}, 'bogus'),
])
def test_connector_patch_refused(api, node, op, fragment):
    connector = _connector(api, node)
    _set_node(node, power_state='power off')
    resp = api.patch('%s/%s' % (CONNECTORS, connector['uuid']), [op])
    assert resp.status_int == 400, resp.body
    assert fragment in api.error(resp)


def test_connector_delete(api, node):
    connector = _connector(api, node)
    path = '%s/%s' % (CONNECTORS, connector['uuid'])
    _set_node(node, provision_state='active', power_state='power on')
    resp = api.delete(path)
    assert resp.status_int == 400
    assert '"volume connector deletion"' in api.error(resp)
    # a node out of service may lose it whatever its power
    _set_node(node, provision_state='manageable')
    assert api.delete(path).status_int == 204
    resp = api.get(path)
    assert resp.status_int == 404
    assert api.error(resp) == ('Volume connector %s could not be found.'
                               % connector['uuid'])


# -- targets -----------------------------------------------------------------

def test_targets_absent_below_1_32(api, node):
    assert api.get(TARGETS, version='1.31').status_int == 404
    assert api.get('%s/%s' % (TARGETS, uuid.uuid4()),
                   version='1.31').status_int == 404


def test_target_create_show_list(api, node):
    target = _target(api, node, properties={'target_lun': 0},
                     extra={'a': 1})
    assert set(target) == {'uuid', 'volume_type', 'properties',
                           'boot_index', 'volume_id', 'node_uuid', 'extra',
                           'created_at', 'updated_at', 'links'}
    assert target['properties'] == {'target_lun': 0}
    resp = api.get('%s/%s' % (TARGETS, target['uuid']))
    assert resp.data == target
    plain = api.get(TARGETS).data['targets']
    assert set(plain[0]) == {'uuid', 'node_uuid', 'volume_type',
                             'boot_index', 'volume_id', 'links'}
    assert api.get(TARGETS + '?detail=true').data['targets'] == [target]
    assert api.get(TARGETS + '?sort_key=properties').status_int == 400
    assert api.get(TARGETS + '?fields=volume_id&detail=true'
                   ).status_int == 400


def test_target_secrets_masked(api, node):
    target = _target(api, node, properties={'auth_password': 'secret',
                                            'auth_username': 'me'})
    assert target['properties'] == {'auth_password': '******',
                                    'auth_username': 'me'}
    listed = api.get(TARGETS + '?detail=true').data['targets']
    assert listed[0]['properties']['auth_password'] == '******'
    # masked in what is shown, not in what is stored
    with db_api.reader() as conn:
        stored = conn.execute(sa.text(
            'select properties from volume_targets')).scalar()
    assert 'secret' in stored


@pytest.mark.parametrize('body, fragment', [
    ({'boot_index': 'first'}, 'Schema error for boot_index'),
    ({'volume_type': None}, 'Schema error for volume_type'),
    ({'properties': 'x'}, 'Schema error for properties'),
    ({'volume_id': 'v' * 37}, 'Schema error for volume_id'),
])
def test_target_bad_input(api, node, body, fragment):
    doc = {'node_uuid': node['uuid'], 'volume_type': 'iscsi',
           'boot_index': 0, 'volume_id': 'vol'}
    doc.update(body)
    resp = api.post(TARGETS, doc)
    assert resp.status_int == 400, resp.body
    assert fragment in api.error(resp)


def test_target_boot_index_unique_per_node(api, node):
    _target(api, node, boot_index=0)
    other = _second_node(api)
    moved = _target(api, other, boot_index=0)
    resp = api.post(TARGETS, {'node_uuid': node['uuid'], 'boot_index': 0,
                              'volume_type': 'iscsi', 'volume_id': 'v2'})
    assert resp.status_int == 409
    assert api.error(resp) == ("A volume target with boot index '0' for "
                               "the same node already exists.")
    _target(api, node, boot_index=1)
    _set_node(node, power_state='power off')
    resp = api.patch('%s/%s' % (TARGETS, moved['uuid']), [
        {'op': 'replace', 'path': '/node_uuid', 'value': node['uuid']}])
    assert resp.status_int == 409
    assert "boot index '0'" in api.error(resp)


def test_target_update_and_delete(api, node):
    target = _target(api, node)
    path = '%s/%s' % (TARGETS, target['uuid'])
    op = [{'op': 'replace', 'path': '/boot_index', 'value': 3}]
    resp = api.patch(path, op)
    assert resp.status_int == 400
    assert '"volume target update"' in api.error(resp)
    _set_node(node, power_state='power off')
    resp = api.patch(path, op)
    assert resp.status_int == 200, resp.body
    assert resp.data['boot_index'] == 3
    assert api.delete(path).status_int == 204
    resp = api.delete(path)
    assert resp.status_int == 404
    assert api.error(resp) == ('Volume target %s could not be found.'
                               % target['uuid'])


def test_target_delete_refused_while_powered_in_service(api, node):
    target = _target(api, node)
    _set_node(node, provision_state='available', power_state='power on')
    resp = api.delete('%s/%s' % (TARGETS, target['uuid']))
    assert resp.status_int == 400
    assert '"volume target deletion"' in api.error(resp)


def test_node_deletion_takes_its_volumes(api, node):
    _connector(api, node)
    _target(api, node)
    assert api.delete('/v1/nodes/%s' % node['uuid']).status_int == 204
    assert api.get(CONNECTORS).data == {'connectors': []}
    assert api.get(TARGETS).data == {'targets': []}
