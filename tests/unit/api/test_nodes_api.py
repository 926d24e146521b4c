"""Nodes, ports, drivers, conductors and shards through the real WSGI
application, in process, on a real SQLite database with one registered
fake-hardware conductor: each behaviour checked at both sides of the
version that changed it."""

import json

import orjson
import pytest
import webob

from bootflow.api import app
from bootflow.api import catalog
from bootflow.api import versions
from bootflow.api.controllers import drivers
from bootflow.api.controllers import nodes
from bootflow.api.controllers import ports
from bootflow.common import driver_factory
from bootflow.common import exception
from bootflow.common import hash_ring
from bootflow.db import api as db_api

HOST = 'unit-conductor'
SW = versions.SWITCHES


class Client:
    """Requests against the WSGI app, at a chosen API version."""

    def __init__(self, application):
        self.app = application

    def call(self, method, path, version='latest', body=None):
        req = webob.Request.blank(path, method=method)
        if version is not None:
            req.headers['X-OpenStack-Ironic-API-Version'] = version
        if body is not None:
            req.body = orjson.dumps(body)
            req.content_type = 'application/json'
        resp = req.get_response(self.app)
        resp.doc = orjson.loads(resp.body) if resp.body else None
        return resp

    def get(self, path, version='latest'):
        return self.call('GET', path, version)

    def post(self, path, body, version='latest'):
        return self.call('POST', path, version, body)

    def patch(self, path, ops, version='latest'):
        return self.call('PATCH', path, version, ops)

    def node(self, version='latest', **body):
        body.setdefault('driver', 'fake-hardware')
        resp = self.post('/v1/nodes', body, version)
        assert resp.status_int == 201, resp.body
        return resp.doc


def fault(resp):
    """The faultstring of an Ironic error body."""
    return json.loads(resp.doc['error_message'])['faultstring']


def v(minor):
    return '1.%d' % minor


@pytest.fixture
def client(db):
    db_api.register_conductor(HOST, '', ['fake-hardware'],
                              driver_factory.catalog().describe())
    catalog.CATALOG.conductors(force=True)
    hash_ring.RING.reset()
    return Client(app.setup_app())


# -- node names and states ---------------------------------------------------

def test_available_shown_as_none_before_1_2(client):
    node = client.node(v(1))
    assert node['provision_state'] is None
    shown = client.get('/v1/nodes/%s' % node['uuid'], v(2)).doc
    assert shown['provision_state'] == 'available'
    listed = client.get('/v1/nodes', v(1)).doc['nodes']
    assert [n['provision_state'] for n in listed] == [None]


def test_enroll_is_the_default_from_1_11(client):
    assert client.node(v(10))['provision_state'] == 'available'
    assert client.node(v(11))['provision_state'] == 'enroll'


def test_inspect_wait_shown_as_inspecting_before_1_39(client):
    node = client.node()
    db_api.update_node(db_api.get_node(node['uuid'])['id'],
                       {'provision_state': 'inspect wait'})
    path = '/v1/nodes/%s' % node['uuid']
    assert client.get(path, v(38)).doc['provision_state'] == 'inspecting'
    assert client.get(path, v(39)).doc['provision_state'] == 'inspect wait'


def test_name_requires_1_5(client):
    resp = client.post('/v1/nodes', {'driver': 'fake-hardware',
                                     'name': 'n1'}, v(4))
    assert resp.status_int == 406
    assert fault(resp) == 'Request not acceptable.'
    # an explicit null is accepted, as old clients send it
    client.node(v(4), name=None)
    client.node(v(5), name='n1')
    assert client.get('/v1/nodes/n1', v(4)).status_int == 404
    assert client.get('/v1/nodes/n1', v(5)).status_int == 200


@pytest.mark.parametrize('name,old_ok,new_ok', [
    ('rack1-node.example', True, True),
    ('Upper', False, True),
    ('with_underscore', False, True),
    ('tilde~name', False, True),
    ('-leading-dash', False, True),
    ('white space', False, False),
    ('slash/name', False, False),
])
def test_name_rules_change_at_1_10(client, name, old_ok, new_ok):
    for minor, ok in ((SW['UNRESTRICTED_NODE_NAME'] - 1, old_ok),
                      (SW['UNRESTRICTED_NODE_NAME'], new_ok)):
        resp = client.post('/v1/nodes', {'driver': 'fake-hardware',
                                         'name': name}, v(minor))
        assert resp.status_int == (201 if ok else 400), (minor, resp.body)
        if ok:
            client.call('DELETE', '/v1/nodes/%s' % resp.doc['uuid'])
        else:
            assert fault(resp) == \
                "Cannot create node with invalid name '%s'" % name


def test_reserved_and_uuid_like_names_refused(client):
    resp = client.post('/v1/nodes', {'driver': 'fake-hardware',
                                     'name': 'detail'})
    assert resp.status_int == 400
    assert 'is reserved' in fault(resp)
    resp = client.post('/v1/nodes', {
        'driver': 'fake-hardware',
        'name': '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'})
    assert resp.status_int == 400


def test_patch_name_invalid_message(client):
    node = client.node()
    resp = client.patch('/v1/nodes/%s' % node['uuid'],
                        [{'op': 'add', 'path': '/name', 'value': 'a b'}])
    assert resp.status_int == 400
    assert fault(resp) == ("Node %s: Cannot change name to invalid name "
                           "'a b'" % node['uuid'])


# -- request bodies --------------------------------------------------------

def test_create_schema_messages(client):
    resp = client.post('/v1/nodes', {'name': 'x'})
    assert resp.status_int == 400
    assert "'driver' is a required property" in fault(resp)
    resp = client.post('/v1/nodes', {'driver': 'fake-hardware',
                                     'uuid': 'not-a-uuid'})
    assert fault(resp) == 'Expected UUID for uuid: not-a-uuid'
    resp = client.post('/v1/nodes', {'driver': 'fake-hardware',
                                     'traits': ['CUSTOM_X']})
    assert resp.status_int == 400
    assert 'Additional properties are not allowed' in fault(resp)
    resp = client.post('/v1/nodes', {'driver': 'fake-hardware',
                                     'maintenance': 'perhaps'})
    assert resp.status_int == 400
    assert fault(resp).startswith('Invalid maintenance:')


def test_flags_accept_strings(client):
    node = client.node(maintenance='true', retired='False')
    assert node['maintenance'] is True and node['retired'] is False


def test_handlers_publish_their_schemas():
    assert nodes.create_node.request_schema is nodes.NODE_SCHEMA
    assert nodes.update_node.request_schema is nodes.NODE_PATCH_SCHEMA
    assert ports.create_port.request_schema is ports.PORT_SCHEMA
    assert ports.update_port.request_schema is ports.PORT_PATCH_SCHEMA
    assert nodes.NODE_SCHEMA['required'] == ['driver']


def test_younger_field_in_body_is_406(client):
    resp = client.post('/v1/nodes', {'driver': 'fake-hardware',
                                     'owner': 'p1'}, v(49))
    assert resp.status_int == 406
    assert client.node(v(50), owner='p1')['owner'] == 'p1'
    node = client.node()
    path = '/v1/nodes/%s' % node['uuid']
    op = [{'op': 'add', 'path': '/shard', 'value': 's1'}]
    assert client.patch(path, op, v(81)).status_int == 406
    assert client.patch(path, op, v(82)).doc['shard'] == 's1'


def test_patch_refuses_unknown_path_with_ironic_wording(client):
    node = client.node()
    resp = client.patch('/v1/nodes/%s' % node['uuid'],
                        [{'op': 'replace', 'path': '/uuid',
                          'value': node['uuid']}])
    assert resp.status_int == 400
    assert fault(resp).startswith('Cannot patch /uuid. Only the following '
                                  'can be updated: automated_clean, ')


def test_reset_interfaces(client):
    node = client.node()
    path = '/v1/nodes/%s?reset_interfaces=true' % node['uuid']
    op = [{'op': 'replace', 'path': '/driver', 'value': 'fake-hardware'}]
    minor = SW['RESET_INTERFACES']
    assert client.patch(path, op, v(minor - 1)).status_int == 406
    assert client.patch(path, op, v(minor)).status_int == 200
    resp = client.patch(path, [{'op': 'add', 'path': '/extra/a',
                                'value': 1}], v(minor))
    assert resp.status_int == 400
    assert 'reset_interfaces parameter can only be used' in fault(resp)


def test_chassis_uuid_removal_from_1_25(client):
    node = client.node()
    chassis = '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'
    row = db_api.get_node(node['uuid'])
    db_api.update_node(row['id'], {'chassis_uuid': chassis})
    path = '/v1/nodes/%s' % node['uuid']
    op = [{'op': 'remove', 'path': '/chassis_uuid'}]
    minor = SW['UNSET_CHASSIS_UUID']
    assert client.patch(path, op, v(minor - 1)).status_int == 406
    after = client.patch(path, op, v(minor)).doc
    assert after['chassis_uuid'] is None


def test_network_data_is_checked(client):
    node = client.node()
    path = '/v1/nodes/%s' % node['uuid']
    good = {'links': [{'id': 'eth0', 'type': 'phy',
                       'ethernet_mac_address': '52:54:00:12:34:56'}],
            'networks': [{'id': 'n0', 'link': 'eth0', 'network_id': 'x',
                          'type': 'ipv4', 'ip_address': '192.0.2.10',
                          'netmask': '255.255.255.0'}],
            'services': [{'type': 'dns', 'address': '192.0.2.1'}]}
    resp = client.patch(path, [{'op': 'add', 'path': '/network_data',
                                'value': good}])
    assert resp.status_int == 200 and resp.doc['network_data'] == good
    bad = dict(good, links=[{'id': 'eth0', 'type': 'phy',
                             'ethernet_mac_address': 'nope'}])
    resp = client.patch(path, [{'op': 'add', 'path': '/network_data',
                                'value': bad}])
    assert resp.status_int == 400
    assert fault(resp).startswith('Invalid network_data: ')
    resp = client.post('/v1/nodes', {'driver': 'fake-hardware',
                                     'network_data': {'links': 1}})
    assert resp.status_int == 400


def test_protected_and_retired_rules(client):
    node = client.node(v(10))      # available
    path = '/v1/nodes/%s' % node['uuid']
    resp = client.patch(path, [{'op': 'add', 'path': '/protected',
                                'value': True}])
    assert resp.status_int == 409
    assert "can only be made protected in provision states" in fault(resp)
    resp = client.patch(path, [{'op': 'add', 'path': '/retired',
                                'value': True}])
    assert resp.status_int == 409
    assert "can not have 'retired' set in provision state 'available'" \
        in fault(resp)
    resp = client.patch(path, [{'op': 'add', 'path': '/retired_reason',
                                'value': 'old'}])
    assert resp.status_int == 400
    assert fault(resp) == ('The retired_reason field can only be set when '
                           'retired is True')


def test_retired_node_cannot_be_provided(client):
    node = client.node()
    row = db_api.update_node(db_api.get_node(node['uuid'])['id'],
                             {'provision_state': 'manageable',
                              'retired': True})
    with pytest.raises(exception.NodeIsRetired) as ei:
        nodes.check_not_retired(row, 'provide')
    assert ei.value.code == 400
    assert "because it is retired" in str(ei.value)
    nodes.check_not_retired(row, 'inspect')
    nodes.check_not_retired(dict(row, retired=False), 'provide')


def test_instance_name_from_display_name(client):
    node = client.node()
    resp = client.patch('/v1/nodes/%s' % node['uuid'], [
        {'op': 'add', 'path': '/instance_info/display_name',
         'value': 'vm-1'}])
    assert resp.doc['instance_name'] == 'vm-1'
    assert client.get('/v1/nodes/%s' % node['uuid'],
                      v(103)).doc.get('instance_name', 'absent') == 'absent'


# -- lists -------------------------------------------------------------------

def _names(resp):
    assert resp.status_int == 200, resp.body
    return sorted(n['name'] for n in resp.doc['nodes'])


@pytest.mark.parametrize('query,minor,message', [
    ('provision_state=enroll', 9, 'Request not acceptable.'),
    ('driver=fake-hardware', 16, 'should be 1.16'),
    ('resource_class=x', 21, 'should be 1.21'),
    ('fault=power%20failure', 42, 'should be 1.42'),
    ('conductor_group=x', 46, 'should be 1.46'),
    ('conductor=x', 49, 'should be 1.49'),
    ('owner=x', 50, 'should be 1.50'),
    ('lessee=x', 65, 'should be 1.65'),
    ('shard=x', 82, 'should be 1.82'),
    ('sharded=true', 82, 'should be 1.82'),
    ('parent_node=x', 83, 'should be 1.83'),
    ('include_children=true', 83, 'should be 1.83'),
    ('instance_name=x', 104, 'instance_name is not acceptable'),
])
def test_filters_refused_below_their_version(client, query, minor,
                                             message):
    resp = client.get('/v1/nodes?%s' % query, v(minor - 1))
    assert resp.status_int == 406
    assert message in fault(resp)
    assert client.get('/v1/nodes?%s' % query, v(minor)).status_int == 200


def test_filters_select(client):
    client.node(name='a', shard='s1', description='big red box',
                instance_name='vm-a')
    client.node(name='b', shard='s2')
    client.node(name='c')
    assert _names(client.get('/v1/nodes?shard=s1,s2')) == ['a', 'b']
    assert _names(client.get('/v1/nodes?sharded=false')) == ['c']
    assert _names(client.get('/v1/nodes?description_contains=red')) == \
        ['a']
    assert _names(client.get('/v1/nodes?instance_name=vm-a')) == ['a']
    resp = client.get('/v1/nodes?provision_state=nowhere')
    assert fault(resp) == 'Provision state "nowhere" is not valid'


def test_child_nodes_listed_only_on_request(client):
    parent = client.node(name='parent')
    client.node(name='child', parent_node=parent['uuid'])
    assert _names(client.get('/v1/nodes')) == ['parent']
    assert _names(client.get('/v1/nodes?include_children=true')) == \
        ['child', 'parent']
    assert _names(client.get('/v1/nodes?parent_node=%s'
                             % parent['uuid'])) == ['child']
    resp = client.post('/v1/nodes', {'driver': 'fake-hardware',
                                     'parent_node': 'nobody'})
    assert resp.status_int == 400
    assert "Unable to apply the requested parent_node 'nobody'" \
        in fault(resp)


def test_detail_query_and_fields(client):
    client.node(name='a')
    minor = SW['DETAIL_QUERY']
    resp = client.get('/v1/nodes?detail=true', v(minor - 1))
    assert resp.status_int == 400
    assert fault(resp) == 'Invalid query parameter ?detail=True received.'
    assert 'driver' in client.get('/v1/nodes?detail=true',
                                  v(minor)).doc['nodes'][0]
    resp = client.get('/v1/nodes?detail=true&fields=name')
    assert fault(resp) == ('Can not specify ?detail=True and fields in the '
                           'same request.')
    assert client.get('/v1/nodes?fields=name', v(7)).status_int == 406
    resp = client.get('/v1/nodes?fields=name,created_at')
    assert fault(resp) == 'Field created_at is not a valid field.'


def test_sorting_by_younger_field_is_406(client):
    assert client.get('/v1/nodes?sort_key=owner', v(49)).status_int == 406
    assert client.get('/v1/nodes?sort_key=owner', v(50)).status_int == 200
    resp = client.get('/v1/nodes?sort_key=extra')
    assert fault(resp) == ('The sort_key value extra is an invalid field '
                           'for sorting')


def test_conductor_field(client):
    node = client.node(name='cn')
    path = '/v1/nodes/%s' % node['uuid']
    assert 'conductor' not in client.get(path, v(48)).doc
    assert client.get(path, v(49)).doc['conductor'] == HOST
    assert _names(client.get('/v1/nodes?conductor=%s' % HOST)) == ['cn']
    assert _names(client.get('/v1/nodes?conductor=elsewhere')) == []


# -- ports -----------------------------------------------------------------

def test_port_body_rules(client):
    node = client.node()
    body = {'node_uuid': node['uuid'], 'address': '52:54:00:AA:BB:CC',
            'name': 'p0'}
    assert client.post('/v1/ports', body, v(87)).status_int == 406
    resp = client.post('/v1/ports', body, v(88))
    assert resp.status_int == 201
    assert resp.doc['address'] == '52:54:00:aa:bb:cc'
    body = {'node_ident': node['uuid'], 'address': '52:54:00:aa:bb:cd'}
    assert client.post('/v1/ports', body, v(93)).status_int == 406
    assert client.post('/v1/ports', body, v(94)).status_int == 201
    resp = client.post('/v1/ports', {'node_uuid': node['uuid'],
                                     'address': 'zz'})
    assert fault(resp) == 'Expected valid MAC address for address: zz'
    resp = client.post('/v1/ports', {'node_uuid': node['uuid'],
                                     'address': '52:54:00:aa:bb:ce',
                                     'is_smartnic': True})
    assert 'Smart NIC port must have port_id and hostname' in fault(resp)
    llc = {'port_id': 'x', 'switch_id': 'not-a-switch'}
    resp = client.post('/v1/ports', {'node_uuid': node['uuid'],
                                     'address': '52:54:00:aa:bb:cf',
                                     'local_link_connection': llc})
    assert resp.status_int == 400


def test_port_lists(client):
    node = client.node(shard='s1')
    other = client.node()
    client.post('/v1/ports', {'node_uuid': node['uuid'],
                              'address': '52:54:00:00:00:01',
                              'description': 'uplink one'})
    client.post('/v1/ports', {'node_uuid': other['uuid'],
                              'address': '52:54:00:00:00:02'})
    addrs = lambda r: sorted(p['address'] for p in r.doc['ports'])  # noqa
    first = ['52:54:00:00:00:01']
    assert addrs(client.get('/v1/ports?shard=s1')) == first
    assert client.get('/v1/ports?shard=s1', v(81)).status_int == 406
    assert addrs(client.get('/v1/ports?description_contains=uplink')) == \
        first
    assert client.get('/v1/ports?sort_key=name', v(87)).status_int == 406
    resp = client.get('/v1/ports?fields=uuid,bogus')
    assert fault(resp) == 'Field(s) "bogus" are not valid'
    resp = client.get('/v1/ports?conductor_groups=x&node=%s' % node['uuid'])
    assert resp.status_int == 400


# -- drivers, conductors, shards ---------------------------------------------

def test_driver_versions(client):
    minor = SW['DYNAMIC_DRIVERS']
    assert client.get('/v1/drivers?detail=true', v(minor - 1)
                      ).status_int == 406
    old = client.get('/v1/drivers/fake-hardware', v(minor - 1)).doc
    assert 'type' not in old and 'default_boot_interface' not in old
    new = client.get('/v1/drivers/fake-hardware', v(minor)).doc
    assert new['type'] == 'dynamic'
    assert 'default_storage_interface' not in new
    assert 'default_firmware_interface' in client.get(
        '/v1/drivers/fake-hardware', v(86)).doc
    assert 'properties' not in client.get('/v1/drivers/fake-hardware',
                                          v(13)).doc
    path = '/v1/drivers/fake-hardware?fields=name,hosts'
    assert client.get(path, v(76)).status_int == 406
    assert set(client.get(path, v(77)).doc) == {'name', 'hosts', 'links'}


def test_raid_logical_disk_properties(client):
    path = '/v1/drivers/fake-hardware/raid/logical_disk_properties'
    assert client.get(path, v(11)).status_int == 406
    props = client.get(path, v(12)).doc
    assert set(props) == set(drivers.RAID_LOGICAL_DISK_PROPERTIES)
    assert client.get('/v1/drivers/nope/raid/logical_disk_properties'
                      ).status_int == 404


def test_conductors(client):
    assert client.get('/v1/conductors', v(48)).status_int == 404
    listed = client.get('/v1/conductors', v(49)).doc['conductors']
    assert listed == [{'hostname': HOST, 'conductor_group': '',
                       'alive': True, 'links': listed[0]['links']}]
    detail = client.get('/v1/conductors?detail=true').doc['conductors'][0]
    assert 'fake-hardware' in detail['drivers']
    one = client.get('/v1/conductors/%s?fields=hostname,alive' % HOST).doc
    assert set(one) == {'hostname', 'alive', 'links'}
    assert client.get('/v1/conductors?sort_key=alive').status_int == 400


def test_shards(client):
    client.node(shard='s1')
    client.node(shard='s1')
    client.node()
    assert client.get('/v1/shards', v(81)).status_int == 404
    assert client.get('/v1/shards', v(82)).doc == {'shards': [
        {'name': 's1', 'count': 2}, {'name': 'None', 'count': 1}]}


def test_bmc_passwords_shown_as_six_stars(client):
    """Ironic's mask, in every view of a node: clients compare to it."""
    node = client.node(driver_info={'redfish_password': 'pw-1',
                                    'ipmi_password': 'pw-2',
                                    'redfish_username': 'admin'})
    assert node['driver_info'] == {'redfish_password': '******',
                                   'ipmi_password': '******',
                                   'redfish_username': 'admin'}
    for path in ('/v1/nodes/%s' % node['uuid'], '/v1/nodes/detail'):
        body = client.get(path).body
        assert b'pw-1' not in body and b'pw-2' not in body
        assert b'"******"' in body
