"""A node's hardware data and history: the database functions, and what
the conductor and the fake drivers record there."""

import datetime

from bootflow.common import states
from bootflow.db import api as db_api
from bootflow.db import node_data
from bootflow.drivers.modules import fake
from tests.unit.conductor.helpers import make_node
from tests.unit.conductor.helpers import wait_for
from tests.unit.conductor.helpers import wait_state


def act(service, node, action, **kwargs):
    service.manager.do_provisioning_action(None, node['id'], action,
                                           **kwargs)


def test_bios_settings_update_replace_delete(db):
    node = make_node()
    node_data.set_bios_settings(node['id'], [
        {'name': 'A', 'value': 1, 'read_only': True},
        {'name': 'B', 'value': 'x'}])
    rows = node_data.list_bios_settings(node['id'])
    assert [(r['name'], r['value'], r['read_only']) for r in rows] == [
        ('A', '1', True), ('B', 'x', None)]
    assert rows[0]['created_at'] is not None
    node_data.set_bios_settings(node['id'], [{'name': 'A', 'value': '2'}])
    row = node_data.get_bios_setting(node['id'], 'A')
    # a value update keeps the registry and marks the change
    assert (row['value'], row['read_only']) == ('2', True)
    assert row['updated_at'] is not None
    node_data.set_bios_settings(node['id'], [{'name': 'C', 'value': 'c'}],
                                replace=True)
    assert [r['name'] for r in node_data.list_bios_settings(node['id'])] \
        == ['C']
    assert node_data.delete_bios_settings(node['id']) == 1
    assert node_data.get_bios_setting(node['id'], 'C') is None


def test_firmware_keeps_initial_version(db):
    node = make_node()
    node_data.store_firmware_components(node['id'], [
        {'component': 'bmc', 'current_version': '1.0', 'vendor': 'v'}])
    node_data.store_firmware_components(
        node['id'], [{'component': 'bmc', 'current_version': '2.0'}],
        flashed=True)
    [row] = node_data.list_firmware_components(node['id'])
    assert row['initial_version'] == '1.0'
    assert row['current_version'] == '2.0'
    assert row['last_version_flashed'] == '2.0'
    assert row['vendor'] == 'v'


def test_inventory_is_one_per_node(db):
    node = make_node()
    assert node_data.get_inventory(node['id']) is None
    node_data.store_inventory(node['id'], {'cpu': {'count': 1}})
    node_data.store_inventory(node['id'], {'cpu': {'count': 2}},
                              {'root_disk': {'name': '/dev/sda'}})
    assert node_data.get_inventory(node['id']) == {
        'inventory': {'cpu': {'count': 2}},
        'plugin_data': {'root_disk': {'name': '/dev/sda'}}}


def test_history_is_trimmed_to_the_newest(db, monkeypatch):
    monkeypatch.setattr(node_data, 'MAX_HISTORY_PER_NODE', 3)
    node = make_node()
    other = make_node()
    node_data.add_history(other['id'], 'other node')
    for i in range(5):
        node_data.add_history(node['id'], 'event %d' % i)
    events = node_data.list_history(node['id'])
    assert [e['event'] for e in events] == ['event 2', 'event 3',
                                            'event 4']
    assert len(node_data.list_history(other['id'])) == 1
    page = node_data.list_history(node['id'], limit=2, sort_key='id',
                                  marker=events[0]['uuid'])
    assert [e['event'] for e in page] == ['event 3', 'event 4']


def test_record_event_describes_the_node(db):
    earlier = db_api.utcnow() - datetime.timedelta(seconds=30)
    node = make_node(provision_state=states.CLEANING,
                     target_provision_state=states.AVAILABLE)
    node = db_api.update_node(node['id'], {'provision_updated_at': earlier})
    node_data.record_event(node, 'it broke', conductor='c1')
    [event] = node_data.list_history(node['id'])
    assert event['event_type'] == 'cleaning'
    assert event['severity'] == 'ERROR'
    assert event['conductor'] == 'c1'
    assert event['state'] == states.CLEANING
    assert event['target_provision_state'] == states.AVAILABLE
    assert 29 <= event['duration_seconds'] <= 60


def test_node_data_goes_with_the_node(db):
    node = make_node()
    node_data.set_bios_settings(node['id'], [{'name': 'A', 'value': 'a'}])
    node_data.store_inventory(node['id'], {})
    node_data.add_history(node['id'], 'x')
    db_api.destroy_node(node['id'])
    assert node_data.list_bios_settings(node['id']) == []
    assert node_data.get_inventory(node['id']) is None
    assert node_data.list_history(node['id']) == []


def test_deploy_failure_is_journaled(service):
    node = make_node(provision_state=states.AVAILABLE,
                     driver_info={'fake_deploy_fail': 'disk on fire'})
    act(service, node, 'active')
    row = wait_state(node['id'], states.DEPLOYFAIL)
    [event] = node_data.list_history(node['id'])
    assert event['event'] == row['last_error']
    assert 'disk on fire' in event['event']
    assert event['event_type'] == 'deploying'
    assert event['severity'] == 'ERROR'
    assert event['conductor'] == 'test-host'


def test_power_failure_is_journaled(service):
    node = make_node(provision_state=states.MANAGEABLE,
                     driver_info={'fake_power_fail': 'no juice'})
    service.manager.change_node_power_state(None, node['id'],
                                            states.POWER_ON)
    wait_for(lambda: node_data.list_history(node['id']))
    [event] = node_data.list_history(node['id'])
    assert 'no juice' in event['event']
    assert event['event_type'] == 'UNKNOWN'


def test_manage_caches_hardware_data(service):
    node = make_node()
    act(service, node, 'manage')
    row = wait_state(node['id'], states.MANAGEABLE)
    assert row['boot_mode'] == 'uefi'
    assert row['secure_boot'] is False
    names = {s['name'] for s in node_data.list_bios_settings(node['id'])}
    assert {'BootMode', 'HyperThreading', 'ProcVirtualization'} <= names
    components = node_data.list_firmware_components(node['id'])
    assert [c['component'] for c in components] == ['bios', 'bmc']
    assert components[0]['initial_version'] == '1.0.0'


def test_clean_steps_update_bios_and_firmware(service):
    node = make_node(provision_state=states.MANAGEABLE)
    act(service, node, 'clean', clean_steps=[
        {'interface': 'bios', 'step': 'apply_configuration',
         'args': {'settings': [{'name': 'HyperThreading',
                                'value': 'Disabled'}]}},
        {'interface': 'firmware', 'step': 'update',
         'args': {'settings': [{'component': 'bmc',
                                'url': 'http://x/bmc-2.1.bin'}]}}])
    wait_state(node['id'], states.MANAGEABLE)
    setting = node_data.get_bios_setting(node['id'], 'HyperThreading')
    assert setting['value'] == 'Disabled'
    # the registry read before cleaning is kept
    assert setting['allowable_values'] == ['Enabled', 'Disabled']
    bmc = {c['component']: c for c in
           node_data.list_firmware_components(node['id'])}['bmc']
    assert bmc['initial_version'] == '1.0.0'
    assert bmc['current_version'] == 'bmc-2.1'
    assert bmc['last_version_flashed'] == 'bmc-2.1'
    assert fake._MACHINES[node['uuid']]['firmware']['bmc'] == 'bmc-2.1'


def test_inspection_stores_an_inventory(service):
    node = make_node(provision_state=states.MANAGEABLE,
                     properties={'cpus': 16})
    db_api.create_port({'node_id': node['id'],
                        'address': '52:54:00:12:34:56'})
    act(service, node, 'inspect')
    wait_state(node['id'], states.MANAGEABLE)
    stored = node_data.get_inventory(node['id'])
    assert stored['inventory']['cpu']['count'] == 16
    assert stored['inventory']['interfaces'][0]['mac_address'] == \
        '52:54:00:12:34:56'
    assert stored['plugin_data']['root_disk']['name'] == '/dev/sda'
