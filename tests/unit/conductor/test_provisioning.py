import pytest

from bootflow.common import exception
from bootflow.common import states
from bootflow.db import api as db_api
from bootflow.db import records
from bootflow.drivers.modules import fake
from tests.unit.conductor.helpers import make_node
from tests.unit.conductor.helpers import wait_for
from tests.unit.conductor.helpers import wait_state


def act(service, node, action, **kwargs):
    service.manager.do_provisioning_action(None, node['id'], action,
                                           **kwargs)


def test_full_cycle(service):
    node = make_node()
    act(service, node, 'manage')
    row = wait_state(node['id'], states.MANAGEABLE)
    assert row['power_state'] == states.POWER_OFF
    act(service, node, 'provide')
    wait_state(node['id'], states.AVAILABLE)
    act(service, node, 'active', configdrive='cd-data')
    row = wait_state(node['id'], states.ACTIVE)
    assert row['power_state'] == states.POWER_ON
    assert row['instance_info']['configdrive'] == 'cd-data'
    assert row['deploy_step'] == {}
    assert row['target_provision_state'] is None
    assert fake._MACHINES[node['uuid']]['boot_device'] == 'disk'
    act(service, node, 'deleted')
    row = wait_state(node['id'], states.AVAILABLE)
    assert row['instance_info'] == {}
    assert row['power_state'] == states.POWER_OFF


def test_deploy_failure_records_error_and_unlocks(service):
    node = make_node(provision_state=states.AVAILABLE,
                     driver_info={'fake_deploy_fail': 'disk on fire'})
    act(service, node, 'active')
    row = wait_state(node['id'], states.DEPLOYFAIL)
    assert 'disk on fire' in row['last_error']
    assert row['deploy_step'] == {}
    assert row['target_provision_state'] == states.ACTIVE
    # the way out of deploy failed is undeploy
    db_api.update_node(node['id'], {'driver_info': {}})
    act(service, node, 'deleted')
    wait_state(node['id'], states.AVAILABLE)


def test_verify_failure_returns_to_enroll(service):
    node = make_node(driver_info={'fake_power_delay': 'soon'})
    act(service, node, 'manage')
    row = wait_state(node['id'], states.ENROLL)
    assert 'fake_power_delay' in row['last_error']


def test_invalid_action_for_state(service):
    node = make_node()
    with pytest.raises(exception.InvalidStateRequested):
        act(service, node, 'active')
    assert db_api.get_node(node['id'])['reservation'] is None


def test_maintenance_blocks_deploy(service):
    node = make_node(provision_state=states.AVAILABLE, maintenance=True)
    with pytest.raises(exception.NodeInMaintenance):
        act(service, node, 'active')


def test_manual_clean_runs_requested_steps(service):
    node = make_node(provision_state=states.MANAGEABLE)
    act(service, node, 'clean', clean_steps=[
        {'interface': 'bios', 'step': 'apply_configuration',
         'args': {'settings': [{'name': 'HT', 'value': 'on'}]}}])
    wait_state(node['id'], states.MANAGEABLE)
    assert fake._MACHINES[node['uuid']]['bios'] == {'HT': 'on'}


def test_manual_clean_rejects_unknown_step(service):
    node = make_node(provision_state=states.MANAGEABLE)
    act(service, node, 'clean',
        clean_steps=[{'interface': 'deploy', 'step': 'nope'}])
    row = wait_state(node['id'], states.CLEANFAIL)
    assert 'nope' in row['last_error']


def test_power_action(service):
    node = make_node(provision_state=states.MANAGEABLE,
                     power_state=states.POWER_OFF)
    service.manager.change_node_power_state(None, node['id'],
                                            states.POWER_ON)
    row = wait_for(lambda: (lambda n: n if n['power_state'] == 'power on'
                            and n['reservation'] is None else None)(
        db_api.get_node(node['id'])))
    assert row['target_power_state'] is None


def test_validate_reports_each_interface(service):
    node = make_node(console_interface='no-console')
    result = service.manager.validate_driver_interfaces(None, node['id'])
    assert result['power'] == {'result': True}
    assert result['console']['result'] is False
    assert 'does not support console' in result['console']['reason']


def test_inject_nmi_needs_support(service):
    node = make_node()
    service.manager.inject_nmi(None, node['id'])    # fake supports it
    manual = make_node(driver='manual-management')
    with pytest.raises(exception.UnsupportedDriverExtension):
        service.manager.inject_nmi(None, manual['id'])
    assert db_api.get_node(manual['id'])['reservation'] is None


def test_manual_clean_with_out_of_band_steps_boots_no_ramdisk(service):
    """BIOS, RAID and firmware steps done through the BMC need no BootOS:
    the node is not rebooted into it (Ironic's requires_ramdisk)."""
    node = make_node(provision_state=states.MANAGEABLE,
                     deploy_interface='direct')
    fake.machine(records.NodeRecord(db_api.get_node(node['id'])))[
        'boot_device'] = 'disk'
    act(service, node, 'clean', clean_steps=[
        {'interface': 'bios', 'step': 'apply_configuration',
         'args': {'settings': [{'name': 'HT', 'value': 'off'}]}},
        {'interface': 'raid', 'step': 'delete_configuration'}])
    row = wait_state(node['id'], states.MANAGEABLE)
    machine = fake._MACHINES[node['uuid']]
    assert machine['bios'] == {'HT': 'off'}
    assert machine['boot_device'] == 'disk'     # never set to boot BootOS
    assert 'cleaning_without_ramdisk' not in row['driver_internal_info']


def test_manual_clean_with_an_in_band_step_boots_the_ramdisk(service):
    node = make_node(provision_state=states.MANAGEABLE,
                     deploy_interface='direct')
    fake.machine(records.NodeRecord(db_api.get_node(node['id'])))[
        'boot_device'] = 'disk'
    act(service, node, 'clean', clean_steps=[
        {'interface': 'bios', 'step': 'apply_configuration',
         'args': {'settings': [{'name': 'HT', 'value': 'off'}]}},
        {'interface': 'deploy', 'step': 'erase_devices_metadata'}])
    wait_for(lambda: fake._MACHINES[node['uuid']]['boot_device'] == 'pxe',
             timeout=30)
