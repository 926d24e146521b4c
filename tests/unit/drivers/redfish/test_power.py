import pytest
import sushy

from bootflow.common import exception
from bootflow.common import states
from bootflow.drivers.modules.redfish import management
from bootflow.drivers.modules.redfish import power
from tests.unit.drivers import redfish as rf

ON, OFF = sushy.PowerState.ON, sushy.PowerState.OFF
R = sushy.ResetType


@pytest.fixture
def bmc(conf):
    conf.set_override('power_poll_interval', 0.01, 'redfish')
    with rf.patched_sushy() as fake:
        yield fake


@pytest.fixture
def task():
    return rf.make_task(management=management.RedfishManagement(),
                        power=power.RedfishPower())


def test_properties_and_validate(task):
    iface = task.driver.power
    assert 'redfish_address' in iface.get_properties()
    iface.validate(task)
    task.node.driver_info = {}
    with pytest.raises(exception.MissingParameterValue):
        iface.validate(task)


def test_supported_states(task):
    assert set(task.driver.power.get_supported_power_states(task)) == set(
        states.POWER_TARGETS)


def test_bmc_key(task):
    assert task.driver.power.bmc_key(task) == 'redfish:' + rf.ADDRESS


@pytest.mark.parametrize('reported, expected', [
    (ON, states.POWER_ON), (sushy.PowerState.POWERING_ON, states.POWER_ON),
    (OFF, states.POWER_OFF),
    (sushy.PowerState.POWERING_OFF, states.POWER_OFF),
    (sushy.PowerState.PAUSED, states.ERROR), (None, states.ERROR)])
def test_get_power_state(bmc, task, reported, expected):
    bmc.system.power_state = reported
    assert task.driver.power.get_power_state(task) == expected


def test_get_power_state_is_one_read_when_cached(bmc, task):
    task.driver.power.get_power_state(task)
    bmc.root.reset_mock()
    task.driver.power.get_power_state(task)
    assert bmc.root_cls.call_count == 1
    assert bmc.root.method_calls == [
        ('get_system', (rf.SYSTEM_PATH,), {})]


def test_power_on_waits_for_reported_state(bmc, task):
    switch = rf.PowerSwitch(bmc.system, lag=3)
    task.driver.power.set_power_state(task, states.POWER_ON)
    assert switch.resets == [R.ON]
    assert bmc.system.power_state == ON
    assert bmc.system.refresh.call_count == 3


def test_power_on_when_on_sends_nothing(bmc, task):
    switch = rf.PowerSwitch(bmc.system)
    bmc.system.power_state = ON
    task.driver.power.set_power_state(task, states.POWER_ON)
    assert switch.resets == []


def test_power_on_while_powering_on_only_waits(bmc, task):
    switch = rf.PowerSwitch(bmc.system, lag=1)
    switch._pending = [ON, 1]
    bmc.system.power_state = sushy.PowerState.POWERING_ON
    task.driver.power.set_power_state(task, states.POWER_ON)
    assert switch.resets == []
    assert bmc.system.power_state == ON


@pytest.mark.parametrize('target, reset', [
    (states.POWER_OFF, R.FORCE_OFF), (states.SOFT_POWER_OFF,
                                      R.GRACEFUL_SHUTDOWN)])
def test_power_off(bmc, task, target, reset):
    switch = rf.PowerSwitch(bmc.system)
    bmc.system.power_state = ON
    task.driver.power.set_power_state(task, target)
    assert switch.resets == [reset]
    assert bmc.system.power_state == OFF


def test_power_off_when_off_sends_nothing(bmc, task):
    switch = rf.PowerSwitch(bmc.system)
    task.driver.power.set_power_state(task, states.POWER_OFF)
    assert switch.resets == []


@pytest.mark.parametrize('target, reset', [
    (states.REBOOT, R.FORCE_RESTART), (states.SOFT_REBOOT,
                                       R.GRACEFUL_RESTART)])
def test_restart_of_running_node(bmc, task, target, reset):
    switch = rf.PowerSwitch(bmc.system)
    bmc.system.power_state = ON
    task.driver.power.set_power_state(task, target)
    assert switch.resets == [reset]


def test_reboot_without_restart_action_is_off_then_on(bmc, task):
    switch = rf.PowerSwitch(bmc.system)
    bmc.system.power_state = ON
    bmc.system.get_allowed_reset_system_values.return_value = {
        R.ON, R.FORCE_OFF}
    task.driver.power.reboot(task)
    assert switch.resets == [R.FORCE_OFF, R.ON]
    assert bmc.system.power_state == ON


def test_reboot_of_node_that_is_off_powers_on(bmc, task):
    switch = rf.PowerSwitch(bmc.system)
    task.driver.power.reboot(task)
    assert switch.resets == [R.ON]
    assert bmc.system.power_state == ON


def test_timeout_when_state_never_reported(bmc, task):
    rf.PowerSwitch(bmc.system, stuck=True)
    with pytest.raises(exception.DriverOperationError) as err:
        task.driver.power.set_power_state(task, states.POWER_ON,
                                          timeout=0.05)
    assert str(err.value) == (
        'Timed out after 0.05s waiting for node %s to report power On'
        % rf.NODE_UUID)


def test_timeout_default_from_config(bmc, task, conf):
    conf.set_override('power_state_change_timeout', 1, 'redfish')
    conf.set_override('power_poll_interval', 0.2, 'redfish')
    rf.PowerSwitch(bmc.system, stuck=True)
    with pytest.raises(exception.DriverOperationError) as err:
        task.driver.power.set_power_state(task, states.POWER_ON)
    assert 'Timed out after 1s' in str(err.value)


def test_unknown_target_rejected_before_bmc(bmc, task):
    with pytest.raises(exception.InvalidParameterValue):
        task.driver.power.set_power_state(task, 'sideways')
    assert bmc.root_cls.call_count == 0


def test_reset_refused_by_bmc_is_clear(bmc, task):
    bmc.system.reset_system.side_effect = rf.http_error(
        sushy.exceptions.BadRequestError, 400, 'Reset not allowed now')
    with pytest.raises(exception.DriverOperationError) as err:
        task.driver.power.set_power_state(task, states.POWER_ON)
    assert str(err.value) == (
        'Redfish power change to "power on" failed for node %s: the BMC at '
        '%s answered HTTP 400: Reset not allowed now'
        % (rf.NODE_UUID, rf.ADDRESS))


def test_power_on_restores_forgotten_persistent_boot_device(bmc, task):
    switch = rf.PowerSwitch(bmc.system)
    task.node.driver_internal_info = {'redfish_boot_device': 'disk'}
    bmc.system.boot.target = sushy.BootSource.PXE
    bmc.system.boot.enabled = sushy.BootSourceOverrideEnabled.ONCE
    task.driver.power.set_power_state(task, states.POWER_ON)
    bmc.system.set_system_boot_options.assert_called_once_with(
        target=sushy.BootSource.HDD,
        enabled=sushy.BootSourceOverrideEnabled.CONTINUOUS)
    names = [c[0] for c in bmc.system.method_calls
             if c[0] in ('set_system_boot_options', 'reset_system')]
    assert names == ['set_system_boot_options', 'reset_system']
    assert switch.resets == [R.ON]


def test_power_on_keeps_boot_device_the_bmc_still_has(bmc, task):
    rf.PowerSwitch(bmc.system)
    task.node.driver_internal_info = {'redfish_boot_device': 'disk'}
    task.driver.power.set_power_state(task, states.POWER_ON)
    bmc.system.set_system_boot_options.assert_not_called()


def test_failed_restore_does_not_block_power_on(bmc, task):
    switch = rf.PowerSwitch(bmc.system)
    task.node.driver_internal_info = {'redfish_boot_device': 'pxe'}
    bmc.system.set_system_boot_options.side_effect = rf.http_error(
        sushy.exceptions.BadRequestError, 400)
    task.driver.power.set_power_state(task, states.POWER_ON)
    assert switch.resets == [R.ON]
