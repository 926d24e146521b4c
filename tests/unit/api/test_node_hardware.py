"""Node sub-resources through the real WSGI application, with an
in-process conductor answering its RPC calls directly."""

import pytest

from bootflow.api.controllers import node_actions
from bootflow.conductor import rpcapi
from bootflow.conductor import service as conductor_service
from bootflow.db import api as db_api
from bootflow.db import node_data
from bootflow.drivers.modules import fake
from tests.unit.conductor.helpers import wait_for


@pytest.fixture
def conductor(api, conf):
    conf.set_override('rpc_transport', 'none')
    conf.set_override('sync_power_state_interval', 0, 'conductor')
    conf.set_override('node_locked_retry_attempts', 0, 'conductor')
    svc = conductor_service.ConductorService(host='unit-conductor')
    svc.start(with_rpc=False)
    rpcapi.set_local_manager(svc.manager)
    node_actions._RPC = None
    yield svc
    svc.stop()
    rpcapi.set_local_manager(None)
    node_actions._RPC = None
    fake._MACHINES.clear()


def _base(node):
    return '/v1/nodes/%s' % node['uuid']


def _node_id(node):
    return db_api.get_node(node['uuid'])['id']


def _idle(node):
    """The node once its conductor worker let go of it."""
    return wait_for(lambda: (lambda row: row if row['reservation'] is None
                             else None)(db_api.get_node(node['uuid'])))


@pytest.mark.parametrize('method,suffix,version', [
    ('GET', '/vifs', '1.27'), ('GET', '/bios', '1.39'),
    ('GET', '/bios/x', '1.39'), ('GET', '/history', '1.77'),
    ('GET', '/inventory', '1.80'), ('GET', '/children', '1.82'),
    ('GET', '/firmware', '1.85'), ('DELETE', '/vmedia', '1.88'),
    ('GET', '/vmedia', '1.92'), ('PUT', '/states/boot_mode', '1.75'),
    ('PUT', '/states/secure_boot', '1.75'),
])
def test_not_found_below_version(api, node, method, suffix, version):
    resp = api.request(method, _base(node) + suffix, {'target': 'uefi'},
                       version=version)
    assert resp.status_int == 404, resp.body


def test_raid_target_not_acceptable_below_1_12(api, node):
    resp = api.put(_base(node) + '/states/raid', {}, version='1.11')
    assert resp.status_int == 406


def test_inventory(api, node):
    resp = api.get(_base(node) + '/inventory')
    assert resp.status_int == 404
    assert api.error(resp) == ('Node inventory record for node %s could '
                               'not be found.' % node['uuid'])
    node_data.store_inventory(_node_id(node), {'cpu': {'count': 2}})
    resp = api.get(_base(node) + '/inventory')
    assert resp.data == {'inventory': {'cpu': {'count': 2}},
                         'plugin_data': {}}


def test_bios_list_and_show(api, node):
    node_data.set_bios_settings(_node_id(node), [
        {'name': 'NumLock', 'value': 'On', 'attribute_type': 'Enumeration',
         'allowable_values': ['On', 'Off'], 'read_only': False}])
    resp = api.get(_base(node) + '/bios')
    [item] = resp.data['bios']
    assert set(item) == {'name', 'value', 'created_at', 'updated_at',
                         'links'}
    assert item['links'][0]['href'].endswith(
        '/v1/nodes/%s/bios/NumLock' % node['uuid'])
    resp = api.get(_base(node) + '/bios?detail=true')
    [item] = resp.data['bios']
    assert item['allowable_values'] == ['On', 'Off']
    assert item['upper_bound'] is None
    resp = api.get(_base(node) + '/bios?fields=name')
    assert set(resp.data['bios'][0]) == {'name', 'created_at',
                                         'updated_at', 'links'}
    resp = api.get(_base(node) + '/bios?detail=true', version='1.73')
    assert resp.status_int == 400
    assert 'Additional properties are not allowed' in api.error(resp)
    resp = api.get(_base(node) + '/bios/NumLock', version='1.73')
    assert set(resp.data['NumLock']) == {'name', 'value', 'created_at',
                                         'updated_at', 'links'}
    resp = api.get(_base(node) + '/bios/NumLock')
    assert resp.data['NumLock']['attribute_type'] == 'Enumeration'
    resp = api.get(_base(node) + '/bios/Nope')
    assert resp.status_int == 404
    assert api.error(resp) == ("Node %s doesn't have a BIOS setting "
                               "'Nope'" % node['uuid'])
    resp = api.get(_base(node) + '/bios?detail=true&fields=name')
    assert resp.status_int == 400


def test_firmware_identity_fields(api, node):
    node_data.store_firmware_components(_node_id(node), [
        {'component': 'bmc', 'current_version': '1.0', 'vendor': 'acme'}])
    resp = api.get(_base(node) + '/firmware')
    [item] = resp.data['firmware']
    assert item['vendor'] == 'acme'
    assert item['initial_version'] == '1.0'
    assert item['updated_at'] is None
    resp = api.get(_base(node) + '/firmware', version='1.113')
    assert 'vendor' not in resp.data['firmware'][0]
    resp = api.get(_base(node) + '/firmware?fields=vendor',
                   version='1.113')
    assert resp.status_int == 400
    assert 'require at least API version 1.114' in api.error(resp)


def test_history_list_detail_and_versions(api, node):
    node_id = _node_id(node)
    long_event = 'x' * 300
    first = node_data.add_history(node_id, long_event, 'cleaning',
                                  'ERROR', conductor='c1', state='cleaning')
    node_data.add_history(node_id, 'second')
    resp = api.get(_base(node) + '/history')
    events = resp.data['history']
    assert [set(e) for e in events] == [
        {'uuid', 'created_at', 'severity', 'event', 'links'}] * 2
    assert events[0]['event'] == 'x' * 251 + '...'
    resp = api.get(_base(node) + '/history?detail=true&limit=1')
    [event] = resp.data['history']
    assert event['event'] == long_event
    assert event['state'] == 'cleaning'
    assert 'marker=%s' % first['uuid'] in resp.data['next']
    resp = api.get(_base(node) + '/history?detail=true', version='1.112')
    assert 'project' not in resp.data['history'][0]
    assert 'state' not in resp.data['history'][0]
    resp = api.get(_base(node) + '/history?detail=true', version='1.113')
    assert 'project' in resp.data['history'][0]
    assert 'duration_seconds' not in resp.data['history'][0]
    resp = api.get(_base(node) + '/history/%s' % first['uuid'])
    assert resp.data['event_type'] == 'cleaning'
    assert resp.data['conductor'] == 'c1'
    resp = api.get(_base(node) + '/history/%s' % node['uuid'])
    assert resp.status_int == 404


def test_children(api, node):
    child = api.post('/v1/nodes', {'driver': 'fake-hardware',
                                   'parent_node': node['uuid']}).data
    resp = api.get(_base(node) + '/children')
    assert resp.data['children'] == [child['uuid']]
    assert resp.data['links']['rel'] == 'children'
    assert resp.data['links']['href'].endswith(
        '/v1/nodes?parent_node=%s' % node['uuid'])


def test_raid_target(api, conductor, node):
    url = _base(node) + '/states/raid'
    good = {'logical_disks': [{'size_gb': 'MAX', 'raid_level': '1',
                               'is_root_volume': True}]}
    resp = api.put(url, {'logical_disks': [{'size_gb': 10,
                                            'raid_level': '7'}]})
    assert resp.status_int == 400
    assert api.error(resp).startswith('RAID config validation error:')
    two_roots = {'logical_disks': [good['logical_disks'][0]] * 2}
    resp = api.put(url, two_roots)
    assert 'more than one root volume' in api.error(resp)
    assert api.put(url, good).status_int == 204
    assert api.get(_base(node) + '/states').data[
        'target_raid_config'] == good
    api.patch(_base(node), [{'op': 'replace', 'path': '/raid_interface',
                             'value': 'no-raid'}])
    assert api.put(url, good).status_int == 404
    assert api.put(url, {}).status_int == 204


def test_boot_mode_and_secure_boot(api, conductor, node):
    resp = api.put(_base(node) + '/states/boot_mode', {'target': 'efi'})
    assert resp.status_int == 400
    assert 'Allowed boot modes are: bios, uefi' in api.error(resp)
    resp = api.put(_base(node) + '/states/boot_mode', {'target': 'bios'})
    assert resp.status_int == 202
    assert resp.headers['Location'].endswith('/states')
    wait_for(lambda: db_api.get_node(node['uuid'])['boot_mode'] == 'bios')
    _idle(node)
    # the fake refuses secure boot outside UEFI: the error is journaled
    api.put(_base(node) + '/states/secure_boot', {'target': True})
    row = wait_for(lambda: (lambda n: n if n['last_error'] else None)(
        db_api.get_node(node['uuid'])))
    assert 'secure_boot' in row['last_error']
    assert node_data.list_history(row['id'])[-1]['event'] == \
        row['last_error']
    _idle(node)
    api.put(_base(node) + '/states/boot_mode', {'target': 'uefi'})
    _idle(node)
    resp = api.put(_base(node) + '/states/secure_boot', {'target': 'on'})
    assert resp.status_int == 202
    wait_for(lambda: db_api.get_node(node['uuid'])['secure_boot'] is True)
    assert _idle(node)['last_error'] is None


def test_boot_mode_refused_while_transitioning(api, conductor, node):
    db_api.update_node(_node_id(node), {'provision_state': 'cleaning'})
    resp = api.put(_base(node) + '/states/boot_mode', {'target': 'bios'})
    assert resp.status_int == 409
    assert 'Since node is transitioning' in api.error(resp)


def test_console(api, conductor, node):
    url = _base(node) + '/states/console'
    assert api.get(url).data == {'console_enabled': False,
                                 'console_info': None}
    resp = api.put(url, {})
    assert api.error(resp) == 'Missing mandatory parameter: enabled'
    resp = api.put(url, {'enabled': True})
    assert resp.status_int == 202
    wait_for(lambda: api.get(url).data['console_enabled'])
    assert api.get(url).data['console_info'] == {
        'type': 'fake', 'url': 'fake://%s' % node['uuid']}
    _idle(node)
    api.put(url, {'enabled': 'false'})
    wait_for(lambda: not api.get(_base(node)).data['console_enabled'])


def test_indicators(api, conductor, node):
    url = _base(node) + '/management/indicators'
    found = {i['name']: i for i in api.get(url).data['indicators']}
    assert set(found) == {'led-0@chassis', 'led@system'}
    assert found['led@system']['readonly'] is False
    assert api.get(url + '/led@system').data == {'state': 'off'}
    assert api.put(url + '/led@system', {'state': 'blinking'}
                   ).status_int == 204
    assert api.get(url + '/led@system').data == {'state': 'blinking'}
    resp = api.put(url + '/led-0@chassis', {'state': 'on'})
    assert resp.status_int == 400
    resp = api.get(url + '/led')
    assert api.error(resp) == 'Malformed indicator name "led"'


def test_vmedia(api, conductor, node):
    url = _base(node) + '/vmedia'
    resp = api.post(url, {'device_type': 'cdrom',
                          'image_url': 'ftp://x/boot.iso'})
    assert api.error(resp) == 'Unsupported or missing URL scheme: ftp'
    resp = api.post(url, {'device_type': 'tape', 'image_url': 'http://x'})
    assert api.error(resp).startswith('Schema error for vmedia:')
    resp = api.post(url, {'device_type': 'cdrom',
                          'image_url': 'http://x/boot.iso'})
    assert resp.status_int == 204

    def inserted():
        media = api.get(url).data
        return [m['image'] for m in media if m['inserted']]
    assert wait_for(inserted) == ['http://x/boot.iso']
    _idle(node)
    resp = api.delete(url + '?device_types=cdrom,tape')
    assert api.error(resp) == ('Invalid device type(s) tape (valid are '
                               'disk, cdrom, floppy)')
    assert api.delete(url + '?device_types=cdrom').status_int == 204
    wait_for(lambda: not inserted())


def test_vifs(api, conductor, node):
    node_id = _node_id(node)
    port = db_api.create_port({'node_id': node_id,
                               'address': '52:54:00:00:00:01'})
    url = _base(node) + '/vifs'
    resp = api.post(url, {'port_uuid': port['uuid']})
    assert api.error(resp) == ("Schema error for vif: 'id' is a required "
                               "property")
    resp = api.post(url, {'id': 'vif-1', 'port_uuid': port['uuid'],
                          'portgroup_uuid': port['uuid']})
    assert api.error(resp) == ('Cannot specify both port_uuid and '
                               'portgroup_uuid')
    resp = api.post(url, {'id': 'vif-1', 'port_uuid': port['uuid']})
    assert resp.status_int == 204
    assert api.get(url).data == {'vifs': [{'id': 'vif-1'}]}
    resp = api.post(url, {'id': 'vif-1'})
    assert resp.status_int == 409
    assert api.error(resp) == (
        'Unable to attach VIF because VIF vif-1 is already attached to '
        'Ironic Port %s' % port['uuid'])
    resp = api.post(url, {'id': 'vif-2'})
    assert api.error(resp) == ('Unable to attach VIF vif-2, not enough '
                               'free physical ports.')
    assert api.delete(url + '/vif-1').status_int == 204
    resp = api.delete(url + '/vif-1')
    assert resp.status_int == 400
    assert api.get(url).data == {'vifs': []}
