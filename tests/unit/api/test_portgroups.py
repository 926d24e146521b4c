"""/v1/portgroups, the port groups of a node, the ports of a port group and
a port's portgroup_uuid, over the in-process API."""

import uuid

import pytest

from bootflow.db import api as db_api

BASE = '/v1/portgroups'
MAC = '52:54:00:aa:bb:01'


def _create(api, node, version='latest', **body):
    body.setdefault('node_uuid', node['uuid'])
    resp = api.post(BASE, body, version=version)
    assert resp.status_int == 201, resp.body
    return resp.data


def _port(api, node, address, **body):
    body.update(node_uuid=node['uuid'], address=address)
    resp = api.post('/v1/ports', body)
    assert resp.status_int == 201, resp.body
    return resp.data


def _set_node(node, **values):
    db_api.update_node(db_api.get_node(node['uuid'])['id'], values)


def _second_node(api, name='unit-node-2'):
    resp = api.post('/v1/nodes', {'driver': 'fake-hardware', 'name': name})
    assert resp.status_int == 201, resp.body
    return resp.data


# -- versions ----------------------------------------------------------------

def test_absent_below_1_23(api, node):
    assert api.get(BASE, version='1.22').status_int == 404
    resp = api.post(BASE, {'node_uuid': node['uuid']}, version='1.22')
    assert resp.status_int == 404
    assert 'portgroups' not in api.get('/v1', version='1.22').data
    assert api.get('/v1', version='1.23').data['portgroups'][0][
        'href'].endswith('/v1/portgroups/')


@pytest.mark.parametrize('version, absent, present', [
    ('1.23', {'mode', 'properties'}, {'standalone_ports_supported', 'ports'}),
    ('1.25', {'mode', 'properties'}, set()),
    ('1.26', {'physical_network'}, {'mode', 'properties'}),
    ('1.101', {'physical_network'}, set()),
    ('1.102', {'category'}, {'physical_network'}),
    ('1.103', {'dynamic_portgroup'}, {'category'}),
    ('1.110', {'dynamic_portgroup'}, set()),
    ('1.111', set(), {'dynamic_portgroup'}),
])
def test_fields_appear_at_their_version(api, node, version, absent,
                                        present):
    group = _create(api, node, name='pg0')
    shown = api.get('%s/%s' % (BASE, group['uuid']), version=version).data
    assert not absent & set(shown)
    assert present <= set(shown)
    created = _create(api, node, version=version, name='pg1')
    assert set(created) == set(shown)


def test_create_defaults(api, node):
    group = _create(api, node, version='1.23', address=MAC.upper())
    assert group['address'] == MAC
    assert group['node_uuid'] == node['uuid']
    assert group['standalone_ports_supported'] is True
    assert group['extra'] == {} and group['internal_info'] == {}
    assert group['ports'][0]['href'].endswith(
        '/v1/portgroups/%s/ports' % group['uuid'])
    latest = api.get('%s/%s' % (BASE, group['uuid'])).data
    # the mode is set even where the version cannot show it
    assert latest['mode'] == 'active-backup'
    assert latest['properties'] == {}
    assert latest['dynamic_portgroup'] is False


def test_create_all_fields_and_location(api, node):
    ident = str(uuid.uuid4())
    resp = api.post(BASE, {
        'uuid': ident, 'node_uuid': node['uuid'], 'name': 'bond0',
        'address': MAC, 'mode': '802.3ad', 'properties': {'miimon': '100'},
        'physical_network': 'physnet1', 'category': 'storage',
        'standalone_ports_supported': 'false', 'extra': {'a': 1}})
    assert resp.status_int == 201, resp.body
    assert resp.headers['Location'].endswith('/v1/portgroups/%s' % ident)
    group = resp.data
    assert group['mode'] == '802.3ad'
    assert group['properties'] == {'miimon': '100'}
    assert group['standalone_ports_supported'] is False
    assert (group['physical_network'], group['category']) == \
        ('physnet1', 'storage')
    assert api.get(BASE + '/bond0').data == group


@pytest.mark.parametrize('body, version', [
    ({'mode': '802.3ad'}, '1.25'),
    ({'properties': {'a': 'b'}}, '1.25'),
    ({'physical_network': 'p'}, '1.101'),
    ({'category': 'c'}, '1.102'),
])
def test_create_newer_field_is_406(api, node, body, version):
    body['node_uuid'] = node['uuid']
    assert api.post(BASE, body, version=version).status_int == 406


@pytest.mark.parametrize('body, fragment', [
    ({}, "'node_uuid' is a required property"),
    ({'extra': 'x'}, 'Schema error for extra'),
    ({'bogus': 1}, 'bogus'),
    ({'name': 'has space'}, 'Schema error for name'),
    ({'category': 'c' * 81}, 'Schema error for category'),
    ({'address': 'zz'}, 'Expected valid MAC address for address: zz'),
    ({'standalone_ports_supported': 'maybe'},
     'Invalid standalone_ports_supported'),
    ({'dynamic_portgroup': True}, 'dynamic_portgroup'),
])
def test_create_bad_input_is_400(api, node, body, fragment):
    if body:
        body['node_uuid'] = node['uuid']
    resp = api.post(BASE, body)
    assert resp.status_int == 400, resp.body
    assert fragment in api.error(resp)


def test_create_for_missing_node_is_400(api, db):
    missing = str(uuid.uuid4())
    resp = api.post(BASE, {'node_uuid': missing})
    assert resp.status_int == 400
    assert api.error(resp) == 'Node %s could not be found.' % missing


def test_create_conflicts(api, node):
    group = _create(api, node, name='bond0', address=MAC)
    for body, message in (
            ({'name': 'bond0'}, 'A portgroup with name bond0 already '
                                'exists.'),
            ({'address': MAC}, 'A portgroup with MAC address %s already '
                               'exists.' % MAC),
            ({'uuid': group['uuid']}, 'A portgroup with UUID %s already '
                                      'exists.' % group['uuid'])):
        resp = api.post(BASE, dict(body, node_uuid=node['uuid']))
        assert resp.status_int == 409
        assert api.error(resp) == message


# -- reading -----------------------------------------------------------------

def test_list_plain_detail_fields(api, node):
    first = _create(api, node, name='a', address=MAC)
    second = _create(api, node, name='b')
    plain = api.get(BASE).data['portgroups']
    assert [g['uuid'] for g in plain] == [first['uuid'], second['uuid']]
    assert set(plain[0]) == {'uuid', 'address', 'name', 'links'}
    detail = api.get(BASE + '/detail').data['portgroups']
    assert detail[0] == first
    assert api.get(BASE + '?detail=true').data['portgroups'] == detail
    assert api.get(BASE + '?detail=true', version='1.42').status_int == 406
    only = api.get(BASE + '?fields=mode').data['portgroups']
    assert only[0] == {'mode': 'active-backup', 'links': first['links']}
    assert api.get(BASE + '?fields=mode', version='1.25').status_int == 406


def test_show_missing(api, db):
    resp = api.get(BASE + '/nope')
    assert resp.status_int == 404
    assert api.error(resp) == 'Portgroup nope could not be found.'


def test_pagination_and_sort(api, node):
    groups = [_create(api, node, name='g%d' % i) for i in range(3)]
    page = api.get(BASE + '?limit=2&sort_key=name&sort_dir=desc').data
    assert [g['name'] for g in page['portgroups']] == ['g2', 'g1']
    assert 'marker=%s' % groups[1]['uuid'] in page['next']
    rest = api.get(BASE + '?limit=2&sort_key=name&sort_dir=desc&marker=%s'
                   % groups[1]['uuid']).data
    assert [g['name'] for g in rest['portgroups']] == ['g0']
    assert api.get(BASE + '?sort_key=extra').status_int == 400
    # sorting by a field the version does not know is a version mismatch
    assert api.get(BASE + '?sort_key=mode', version='1.25').status_int == 406
    assert api.get(BASE + '?sort_key=mode', version='1.26').status_int == 200


def test_filters(api, node):
    other = _second_node(api)
    _set_node(other, shard='s1', conductor_group='cg1')
    mine = _create(api, node, address=MAC)
    theirs = _create(api, other)

    def uuids(query, version='latest'):
        resp = api.get(BASE + query, version=version)
        assert resp.status_int == 200, resp.body
        return [g['uuid'] for g in resp.data['portgroups']]

    assert uuids('?node=%s' % other['name']) == [theirs['uuid']]
    assert uuids('?address=%s' % MAC.upper()) == [mine['uuid']]
    assert uuids('?shard=s1,s2') == [theirs['uuid']]
    assert uuids('?conductor_groups=CG1') == [theirs['uuid']]
    assert api.get(BASE + '?shard=s1', version='1.105').status_int == 406
    assert api.get(BASE + '?conductor_groups=cg1',
                   version='1.98').status_int == 406
    both = api.get(BASE + '?node=%s&address=%s' % (node['uuid'], MAC))
    assert both.status_int == 400
    assert 'simultaneously is not supported' in api.error(both)
    assert api.get(BASE + '?node=missing').status_int == 404


def test_node_portgroups(api, node):
    other = _second_node(api)
    mine = _create(api, node)
    _create(api, other)
    path = '/v1/nodes/%s/portgroups' % node['name']
    assert api.get(path, version='1.23').status_int == 404
    plain = api.get(path, version='1.24').data['portgroups']
    assert [g['uuid'] for g in plain] == [mine['uuid']]
    detail = api.get(path + '/detail').data['portgroups']
    assert detail[0]['node_uuid'] == node['uuid']
    # the node's own link leads here
    node_doc = api.get('/v1/nodes/%s' % node['uuid']).data
    link = node_doc['portgroups'][0]['href']
    assert api.get(link[link.index('/v1/'):]).data == {'portgroups': plain}
    assert api.get('/v1/nodes/missing/portgroups').status_int == 404
    resp = api.get(path + '?address=%s' % MAC)
    assert resp.status_int == 400


# -- updating ----------------------------------------------------------------

def test_patch_fields(api, node):
    group = _create(api, node, name='bond0', extra={'a': 1})
    path = '%s/%s' % (BASE, group['uuid'])
    resp = api.patch(path, [
        {'op': 'replace', 'path': '/name', 'value': 'bond1'},
        {'op': 'add', 'path': '/extra/b', 'value': 2},
        {'op': 'replace', 'path': '/mode', 'value': 'balance-rr'},
        {'op': 'replace', 'path': '/address', 'value': MAC.upper()},
        {'op': 'replace', 'path': '/standalone_ports_supported',
         'value': False}])
    assert resp.status_int == 200, resp.body
    assert resp.data['name'] == 'bond1'
    assert resp.data['extra'] == {'a': 1, 'b': 2}
    assert resp.data['mode'] == 'balance-rr'
    assert resp.data['address'] == MAC
    assert resp.data['standalone_ports_supported'] is False
    assert resp.data['updated_at'] is not None
    assert api.get(BASE + '/bond1').data == resp.data


@pytest.mark.parametrize('op, status, fragment', [
    ({'op': 'remove', 'path': '/mode'}, 400, "'mode' is a mandatory"),
    ({'op': 'remove', 'path': '/node_uuid'}, 400, 'mandatory'),
    ({'op': 'replace', 'path': '/uuid', 'value': str(uuid.uuid4())}, 400,
     'uuid'),
    ({'op': 'replace', 'path': '/internal_info', 'value': {}}, 400,
     'read-only'),
    ({'op': 'replace', 'path': '/extra', 'value': 'x'}, 400,
     'Schema error for extra'),
    ({'op': 'replace', 'path': '/address', 'value': 'zz'}, 400,
     'Expected valid MAC address'),
    ({'op': 'replace', 'path': '/node_uuid', 'value': str(uuid.uuid4())},
     400, 'Unable to apply the requested node_uuid'),
])
def test_patch_refused(api, node, op, status, fragment):
    group = _create(api, node)
    resp = api.patch('%s/%s' % (BASE, group['uuid']), [op])
    assert resp.status_int == status, resp.body
    assert fragment in api.error(resp)


def test_patch_newer_field_is_406(api, node):
    group = _create(api, node)
    path = '%s/%s' % (BASE, group['uuid'])
    for field, version in (('mode', '1.25'), ('physical_network', '1.101'),
                           ('category', '1.102')):
        resp = api.patch(path, [{'op': 'replace', 'path': '/' + field,
                                 'value': 'x'}], version=version)
        assert resp.status_int == 406, field


def test_patch_name_conflict(api, node):
    _create(api, node, name='taken')
    group = _create(api, node)
    resp = api.patch('%s/%s' % (BASE, group['uuid']),
                     [{'op': 'replace', 'path': '/name', 'value': 'taken'}])
    assert resp.status_int == 409
    assert api.error(resp) == 'A portgroup with name taken already exists.'


def test_move_to_other_node(api, node):
    other = _second_node(api)
    group = _create(api, node)
    path = '%s/%s' % (BASE, group['uuid'])
    move = [{'op': 'replace', 'path': '/node_uuid', 'value': other['uuid']}]
    _set_node(other, provision_state='active')
    resp = api.patch(path, move)
    assert resp.status_int == 409
    assert 'can not be associated to node' in api.error(resp)
    _set_node(other, provision_state='manageable')
    port = _port(api, node, MAC, portgroup_uuid=group['uuid'],
                 pxe_enabled=False)
    resp = api.patch(path, move)
    assert resp.status_int == 400
    assert 'because there are ports associated' in api.error(resp)
    api.delete('/v1/ports/%s' % port['uuid'])
    resp = api.patch(path, move)
    assert resp.status_int == 200, resp.body
    assert resp.data['node_uuid'] == other['uuid']


def test_patch_while_inspecting(api, node):
    group = _create(api, node)
    _set_node(node, provision_state='inspecting')
    op = [{'op': 'replace', 'path': '/extra', 'value': {'a': 1}}]
    resp = api.patch('%s/%s' % (BASE, group['uuid']), op)
    assert resp.status_int == 409
    assert 'while it is in state "inspecting"' in api.error(resp)
    resp = api.patch('%s/%s' % (BASE, group['uuid']), op, version='1.38')
    assert resp.status_int == 200


def test_standalone_off_refused_with_pxe_member(api, node):
    group = _create(api, node)
    _port(api, node, MAC, portgroup_uuid=group['uuid'])
    op = [{'op': 'replace', 'path': '/standalone_ports_supported',
           'value': False}]
    path = '%s/%s' % (BASE, group['uuid'])
    resp = api.patch(path, op)
    assert resp.status_int == 409
    assert "contains port with 'pxe_enabled' is set to True" in \
        api.error(resp)
    # the noop network interface does not care about membership
    _set_node(node, network_interface='noop')
    assert api.patch(path, op).status_int == 200


def test_physical_network_carried_to_members(api, node):
    group = _create(api, node, physical_network='p1')
    port = _port(api, node, MAC, portgroup_uuid=group['uuid'],
                 physical_network='p1')
    resp = api.patch('%s/%s' % (BASE, group['uuid']), [
        {'op': 'replace', 'path': '/physical_network', 'value': 'p2'}])
    assert resp.status_int == 200, resp.body
    shown = api.get('/v1/ports/%s' % port['uuid']).data
    assert shown['physical_network'] == 'p2'


# -- deleting ----------------------------------------------------------------

def test_delete(api, node):
    group = _create(api, node, name='gone')
    port = _port(api, node, MAC, portgroup_uuid=group['uuid'])
    resp = api.delete(BASE + '/gone')
    assert resp.status_int == 400
    assert api.error(resp) == (
        'Cannot complete the requested action because portgroup %s '
        'contains ports.' % group['uuid'])
    api.delete('/v1/ports/%s' % port['uuid'])
    assert api.delete(BASE + '/gone').status_int == 204
    assert api.get(BASE + '/gone').status_int == 404
    assert api.delete(BASE + '/gone').status_int == 404


def test_node_deletion_takes_its_portgroups(api, node):
    group = _create(api, node)
    _port(api, node, MAC, portgroup_uuid=group['uuid'])
    resp = api.delete('/v1/nodes/%s' % node['uuid'])
    assert resp.status_int == 204, resp.body
    assert api.get('%s/%s' % (BASE, group['uuid'])).status_int == 404
    assert api.get('/v1/ports').data['ports'] == []


# -- ports and their groups --------------------------------------------------

def test_port_portgroup_uuid(api, node):
    group = _create(api, node)
    port = _port(api, node, MAC, portgroup_uuid=group['uuid'],
                 pxe_enabled=False)
    assert port['portgroup_uuid'] == group['uuid']
    path = '/v1/ports/%s' % port['uuid']
    assert 'portgroup_uuid' not in api.get(path, version='1.23').data
    assert api.get(path, version='1.24').data['portgroup_uuid'] == \
        group['uuid']
    resp = api.patch(path, [{'op': 'remove', 'path': '/portgroup_uuid'}])
    assert resp.status_int == 200, resp.body
    assert resp.data['portgroup_uuid'] is None
    resp = api.patch(path, [{'op': 'replace', 'path': '/portgroup_uuid',
                             'value': group['uuid']}])
    assert resp.status_int == 200, resp.body
    assert resp.data['portgroup_uuid'] == group['uuid']
    resp = api.post('/v1/ports', {'node_uuid': node['uuid'],
                                  'address': '52:54:00:aa:bb:02',
                                  'portgroup_uuid': group['uuid']},
                    version='1.23')
    assert resp.status_int == 406


def test_port_joining_refused(api, node):
    other = _second_node(api)
    theirs = _create(api, other)
    strict = _create(api, node, standalone_ports_supported=False)
    missing = str(uuid.uuid4())
    for group, extra, status, fragment in (
            (theirs, {}, 400, 'belonging to a different node'),
            (missing, {}, 400, 'Portgroup %s could not be found.' % missing),
            (strict, {'pxe_enabled': True}, 409,
             "doesn't support standalone ports")):
        ident = group if isinstance(group, str) else group['uuid']
        resp = api.post('/v1/ports', dict(
            extra, node_uuid=node['uuid'], address=MAC,
            portgroup_uuid=ident))
        assert resp.status_int == status, resp.body
        assert fragment in api.error(resp)


def test_port_joining_on_update_rules(api, node):
    strict = _create(api, node, standalone_ports_supported=False)
    port = _port(api, node, MAC)
    path = '/v1/ports/%s' % port['uuid']
    join = [{'op': 'replace', 'path': '/portgroup_uuid',
             'value': strict['uuid']}]
    resp = api.patch(path, join)
    assert resp.status_int == 409
    assert "'pxe_enabled' was set to True" in api.error(resp)
    _set_node(node, provision_state='active')
    resp = api.patch(path, join + [{'op': 'replace', 'path': '/pxe_enabled',
                                    'value': False}])
    assert resp.status_int == 409
    assert 'can not have any connectivity attributes' in api.error(resp)
    _set_node(node, maintenance=True)
    resp = api.patch(path, join + [{'op': 'replace', 'path': '/pxe_enabled',
                                    'value': False}])
    assert resp.status_int == 200, resp.body


def test_physical_networks_of_members(api, node):
    group = _create(api, node)
    first = _port(api, node, MAC, portgroup_uuid=group['uuid'],
                  physical_network='p1')
    # the first member gives an unset group its network
    shown = api.get('%s/%s' % (BASE, group['uuid'])).data
    assert shown['physical_network'] == 'p1'
    resp = api.post('/v1/ports', {
        'node_uuid': node['uuid'], 'address': '52:54:00:aa:bb:02',
        'portgroup_uuid': group['uuid'], 'physical_network': 'p2'})
    assert resp.status_int == 409
    assert 'cannot become a member of port group' in api.error(resp)
    resp = api.patch('/v1/ports/%s' % first['uuid'], [
        {'op': 'replace', 'path': '/physical_network', 'value': 'p3'}])
    assert resp.status_int == 400
    assert 'while the port belongs to a portgroup' in api.error(resp)


def test_ports_of_a_portgroup(api, node):
    group = _create(api, node, name='bond0')
    member = _port(api, node, MAC, portgroup_uuid=group['uuid'])
    _port(api, node, '52:54:00:aa:bb:02')
    path = BASE + '/bond0/ports'
    assert api.get(path, version='1.23').status_int == 404
    plain = api.get(path, version='1.24').data['ports']
    assert [p['uuid'] for p in plain] == [member['uuid']]
    detail = api.get(path + '/detail').data['ports']
    assert detail[0]['portgroup_uuid'] == group['uuid']
    link = group['ports'][0]['href']
    assert api.get(link[link.index('/v1/'):]).data['ports'] == plain
    by_filter = api.get('/v1/ports?portgroup=%s' % group['uuid'])
    assert [p['uuid'] for p in by_filter.data['ports']] == [member['uuid']]
    assert api.get('/v1/ports?portgroup=bond0',
                   version='1.23').status_int == 406
    both = api.get('/v1/ports?portgroup=bond0&node=%s' % node['uuid'])
    assert both.status_int == 403
    assert api.get(BASE + '/missing/ports').status_int == 404
