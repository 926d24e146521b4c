"""Node sub-resources of a fake-hardware node through the real clients:
the ``baremetal`` CLI and openstacksdk, on the SQLite-backed service."""

import json

import pytest
from openstack import exceptions as sdk_exc

from .conftest import SdkClient, assert_ironic_error, random_mac, wait_for

pytestmark = pytest.mark.functional

TIMEOUT = 60


@pytest.fixture(scope='module')
def bm(sqlite_service):
    client = SdkClient(sqlite_service)
    yield client.baremetal
    client.close()


@pytest.fixture
def node(sqlite_api, node_cleanup):
    """A fake-hardware node with one port, managed (its BIOS settings,
    firmware and boot mode are read on the way) and inspected."""
    created = sqlite_api.create_node(properties={'cpus': 8})
    node_cleanup.append((sqlite_api, created['uuid']))
    created['port'] = sqlite_api.create_port(created['uuid'], random_mac())
    sqlite_api.move_to(created['uuid'], 'manageable')
    sqlite_api.provision(created['uuid'], 'inspect')
    sqlite_api.wait_provision_state(created['uuid'], 'manageable')
    return created


def _lower(rows):
    return [{k.lower().replace(' ', '_'): v for k, v in row.items()}
            for row in rows]


def _idle(api, uuid):
    return wait_for(lambda: (lambda n: n if n['reservation'] is None
                             else None)(api.node(uuid)),
                    timeout=TIMEOUT, message='node %s unlocked' % uuid)


def test_fake_hardware_defaults(sqlite_api, node):
    shown = sqlite_api.node(node['uuid'])
    for kind in ('bios', 'console', 'firmware', 'inspect', 'management',
                 'power', 'raid', 'rescue', 'vendor', 'storage'):
        assert shown['%s_interface' % kind] == 'fake', kind
    assert shown['network_interface'] == 'flat'
    assert shown['boot_mode'] == 'uefi'
    assert shown['secure_boot'] is False


def test_bios_and_firmware_with_cli(sqlite_cli, node):
    rows = _lower(sqlite_cli.json('node', 'bios', 'setting', 'list',
                                  node['uuid']))
    settings = {r['name']: r['value'] for r in rows}
    assert settings['HyperThreading'] == 'Enabled'
    detailed = _lower(sqlite_cli.json('node', 'bios', 'setting', 'list',
                                      node['uuid'], '--long'))
    boot = [r for r in detailed if r['name'] == 'BootMode'][0]
    assert boot['allowable_values'] == ['Bios', 'Uefi']
    shown = sqlite_cli.json('node', 'bios', 'setting', 'show',
                            node['uuid'], 'NumLock')
    assert shown['value'] == 'On'
    proc = sqlite_cli.fails('node', 'bios', 'setting', 'show',
                            node['uuid'], 'NoSuchSetting')
    assert "doesn't have a BIOS setting 'NoSuchSetting'" in proc.stderr
    assert '(HTTP 404)' in proc.stderr
    components = _lower(sqlite_cli.json('node', 'firmware', 'list',
                                        node['uuid']))
    assert {c['component']: c['initial_version'] for c in components} == {
        'bios': '1.0.0', 'bmc': '1.0.0'}


def test_inventory_with_cli_and_sdk(sqlite_cli, bm, node):
    proc = sqlite_cli.run('node', 'inventory', 'save', node['uuid'])
    saved = json.loads(proc.stdout)
    assert saved['inventory']['cpu']['count'] == 8
    macs = [i['mac_address'] for i in saved['inventory']['interfaces']]
    assert macs == [node['port']['address']]
    assert bm.get_node_inventory(node['uuid']) == saved


def test_inventory_missing(sqlite_api, sqlite_cli, node_cleanup):
    fresh = sqlite_api.create_node()
    node_cleanup.append((sqlite_api, fresh['uuid']))
    resp = sqlite_api.get('/v1/nodes/%s/inventory' % fresh['uuid'])
    assert_ironic_error(resp, 404, 'Node inventory record for node %s '
                        'could not be found.' % fresh['uuid'])
    proc = sqlite_cli.fails('node', 'inventory', 'save', fresh['uuid'])
    assert '(HTTP 404)' in proc.stderr


def test_history_records_failures(sqlite_api, sqlite_cli, node):
    uuid = node['uuid']
    sqlite_api.patch_node(uuid, [{'op': 'add',
                                  'path': '/driver_info/fake_power_fail',
                                  'value': 'no juice'}])
    sqlite_api.put('/v1/nodes/%s/states/power' % uuid,
                   json={'target': 'power on'})
    events = wait_for(
        lambda: _lower(sqlite_cli.json('node', 'history', 'list', uuid)),
        timeout=TIMEOUT, message='a history event')
    assert 'no juice' in events[0]['event']
    assert events[0]['severity'] == 'ERROR'
    event = sqlite_cli.json('node', 'history', 'get', uuid,
                            events[0]['uuid'])
    assert event['event_type'] == 'UNKNOWN'
    assert event['state'] == 'manageable'
    assert 'no juice' in sqlite_api.node(uuid)['last_error']


def test_children(sqlite_api, sqlite_cli, node, node_cleanup):
    child = sqlite_api.create_node(parent_node=node['uuid'])
    node_cleanup.insert(0, (sqlite_api, child['uuid']))
    rows = sqlite_cli.json('node', 'children', 'list', node['uuid'])
    assert rows == {'children': [child['uuid']]}, rows
    listed = [n['uuid'] for n in sqlite_api.get('/v1/nodes').json()['nodes']]
    assert child['uuid'] not in listed


def test_raid_target_with_cli(sqlite_api, sqlite_cli, node):
    config = {'logical_disks': [{'size_gb': 'MAX', 'raid_level': '1',
                                 'is_root_volume': True}]}
    sqlite_cli.run('node', 'set', node['uuid'], '--target-raid-config',
                   json.dumps(config))
    assert sqlite_api.node(node['uuid'])['target_raid_config'] == config
    proc = sqlite_cli.fails('node', 'set', node['uuid'],
                            '--target-raid-config',
                            json.dumps({'logical_disks': [
                                {'size_gb': 1, 'raid_level': '42'}]}))
    assert 'RAID config validation error' in proc.stderr
    assert '(HTTP 400)' in proc.stderr


def test_console_with_cli(sqlite_api, sqlite_cli, node):
    uuid = node['uuid']
    sqlite_cli.run('node', 'console', 'enable', uuid)
    wait_for(lambda: sqlite_cli.json('node', 'console', 'show', uuid)[
        'console_enabled'], timeout=TIMEOUT, message='console enabled')
    shown = sqlite_cli.json('node', 'console', 'show', uuid)
    assert shown['console_info']['url'] == 'fake://%s' % uuid
    _idle(sqlite_api, uuid)
    sqlite_cli.run('node', 'console', 'disable', uuid)
    wait_for(lambda: sqlite_api.node(uuid)['console_enabled'] is False,
             timeout=TIMEOUT, message='console disabled')


def test_boot_mode_and_secure_boot(sqlite_api, sqlite_cli, bm, node):
    uuid = node['uuid']
    sqlite_cli.run('node', 'boot', 'mode', 'set', uuid, 'bios')
    wait_for(lambda: sqlite_api.node(uuid)['boot_mode'] == 'bios',
             timeout=TIMEOUT, message='boot mode bios')
    _idle(sqlite_api, uuid)
    bm.set_node_boot_mode(uuid, 'uefi')
    wait_for(lambda: sqlite_api.node(uuid)['boot_mode'] == 'uefi',
             timeout=TIMEOUT, message='boot mode uefi')
    _idle(sqlite_api, uuid)
    sqlite_cli.run('node', 'secure', 'boot', 'on', uuid)
    wait_for(lambda: sqlite_api.node(uuid)['secure_boot'] is True,
             timeout=TIMEOUT, message='secure boot on')
    _idle(sqlite_api, uuid)
    bm.set_node_secure_boot(uuid, False)
    wait_for(lambda: sqlite_api.node(uuid)['secure_boot'] is False,
             timeout=TIMEOUT, message='secure boot off')
    proc = sqlite_cli.fails('--os-baremetal-api-version', '1.75', 'node',
                            'boot', 'mode', 'set', uuid, 'bios')
    assert '(HTTP 404)' in proc.stderr or '1.76' in proc.stderr


def test_boot_device(sqlite_cli, bm, node):
    uuid = node['uuid']
    sqlite_cli.run('node', 'boot', 'device', 'set', uuid, 'disk',
                   '--persistent')
    shown = sqlite_cli.json('node', 'boot', 'device', 'show', uuid)
    assert shown == {'boot_device': 'disk', 'persistent': True}
    supported = sqlite_cli.json('node', 'boot', 'device', 'show', uuid,
                                '--supported')
    assert 'pxe' in supported['supported_boot_devices']
    bm.set_node_boot_device(uuid, 'pxe')
    assert bm.get_node_boot_device(uuid)['boot_device'] == 'pxe'


def test_vifs_with_cli_and_sdk(sqlite_cli, bm, node):
    uuid = node['uuid']
    sqlite_cli.run('node', 'vif', 'attach', uuid, 'vif-cli',
                   '--port-uuid', node['port']['uuid'])
    rows = _lower(sqlite_cli.json('node', 'vif', 'list', uuid))
    assert [r['id'] for r in rows] == ['vif-cli']
    with pytest.raises(sdk_exc.ConflictException):
        bm.attach_vif_to_node(uuid, 'vif-cli', retry_on_conflict=False)
    with pytest.raises(sdk_exc.BadRequestException):
        bm.attach_vif_to_node(uuid, 'vif-sdk', retry_on_conflict=False)
    sqlite_cli.run('node', 'vif', 'detach', uuid, 'vif-cli')
    bm.attach_vif_to_node(uuid, 'vif-sdk')
    assert bm.list_node_vifs(uuid) == ['vif-sdk']
    bm.detach_vif_from_node(uuid, 'vif-sdk')
    assert bm.list_node_vifs(uuid) == []


def test_vmedia_and_indicators(sqlite_api, bm, node):
    uuid = node['uuid']
    bm.attach_vmedia_to_node(uuid, 'cdrom', 'http://images/boot.iso')

    def inserted():
        resp = sqlite_api.get('/v1/nodes/%s/vmedia' % uuid)
        return [m['image'] for m in resp.json() if m['inserted']]
    assert wait_for(inserted, timeout=TIMEOUT, message='vmedia') == [
        'http://images/boot.iso']
    _idle(sqlite_api, uuid)
    bm.detach_vmedia_from_node(uuid, ['cdrom'])
    wait_for(lambda: not inserted(), timeout=TIMEOUT,
             message='vmedia ejected')
    resp = sqlite_api.post('/v1/nodes/%s/vmedia' % uuid,
                           json={'device_type': 'cdrom',
                                 'image_url': 'file:///etc/passwd'})
    assert_ironic_error(resp, 400, 'Unsupported or missing URL scheme')
    url = '/v1/nodes/%s/management/indicators' % uuid
    names = {i['name'] for i in sqlite_api.get(url).json()['indicators']}
    assert names == {'led-0@chassis', 'led@system'}
    assert sqlite_api.put(url + '/led@system',
                          json={'state': 'on'}).status_code == 204
    assert sqlite_api.get(url + '/led@system').json() == {'state': 'on'}
    with pytest.raises(sdk_exc.NotFoundException):
        list(bm.list_node_firmware('no-such-node-ft'))
    firmware = bm.list_node_firmware(uuid)
    assert {c['component'] for c in firmware['firmware']} == {'bios',
                                                              'bmc'}
