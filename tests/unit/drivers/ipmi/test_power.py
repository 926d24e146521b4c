"""IPMIPower against a stand-in ipmitool that keeps a power state."""

import subprocess
import time

import pytest

from bootflow.common import exception
from bootflow.common import states
from bootflow.drivers.modules.ipmi import power
from tests.unit.drivers.ipmi import FakeIpmitool
from tests.unit.drivers.ipmi import FakeMachine
from tests.unit.drivers.ipmi import make_task


@pytest.fixture
def machine(monkeypatch, conf):
    conf.set_override('min_command_interval', 0, 'ipmi')
    conf.set_override('power_poll_interval', 0.01, 'ipmi')
    box = FakeMachine(power='off', lag=2)
    box.tool = FakeIpmitool(box)
    monkeypatch.setattr(subprocess, 'run', box.tool)
    return box


@pytest.fixture
def task():
    return make_task()


IFACE = power.IPMIPower()


@pytest.mark.parametrize('output,state', [
    ('Chassis Power is on\n', states.POWER_ON),
    ('Chassis Power is off\n', states.POWER_OFF),
    ('Discovered IPMB address 0x0\nChassis Power is ON  \n',
     states.POWER_ON),
    ('Chassis Power Control: Up/On\n', None),
    ('', None),
])
def test_parse_power_status(output, state):
    assert power.parse_power_status(output) == state


def test_get_power_state_is_one_command(machine, task):
    machine.power = 'on'
    assert IFACE.get_power_state(task) == states.POWER_ON
    assert machine.tool.commands == ['power status']


def test_unexpected_status_answer(machine, task, monkeypatch):
    machine.tool.answer = lambda cmd: (0, 'Chassis Power is unknown\n', '')
    with pytest.raises(exception.DriverOperationError) as e:
        IFACE.get_power_state(task)
    assert 'unexpected answer' in str(e.value)


def test_power_on_waits_for_the_bmc_to_report_it(machine, task):
    IFACE.set_power_state(task, states.POWER_ON)
    assert machine.power == 'on'
    cmds = machine.tool.commands
    assert cmds[:2] == ['power status', 'power on']
    # the state changed only after two more reads (lag=2)
    assert cmds[2:] == ['power status'] * 3


def test_already_on_sends_nothing(machine, task):
    machine.power = 'on'
    IFACE.set_power_state(task, states.POWER_ON)
    assert machine.tool.commands == ['power status']


def test_power_off_and_soft_power_off(machine, task):
    machine.power, machine.lag = 'on', 0
    IFACE.set_power_state(task, states.POWER_OFF)
    assert 'power off' in machine.tool.commands
    machine.power = 'on'
    machine.tool.calls.clear()
    IFACE.set_power_state(task, states.SOFT_POWER_OFF)
    assert machine.tool.commands[1] == 'power soft'
    assert machine.power == 'off'


def test_soft_power_off_of_an_off_node_is_a_no_op(machine, task):
    IFACE.set_power_state(task, states.SOFT_POWER_OFF)
    assert machine.tool.commands == ['power status']


def test_soft_power_off_ignored_by_the_os_times_out(machine, task, conf):
    machine.power, machine.ignore_soft = 'on', True
    started = time.monotonic()
    with pytest.raises(exception.DriverOperationError) as e:
        IFACE.set_power_state(task, states.SOFT_POWER_OFF, timeout=1)
    assert time.monotonic() - started < 2
    assert str(e.value).startswith(
        'IPMI soft power off of node %s timed out after 1s' % task.node.uuid)
    assert 'still reports power on' in str(e.value)


def test_reboot_of_a_running_node_is_off_then_on(machine, task):
    machine.power, machine.lag = 'on', 0
    IFACE.set_power_state(task, states.REBOOT)
    cmds = [c for c in machine.tool.commands if c != 'power status']
    assert cmds == ['power off', 'power on']
    assert machine.power == 'on'


def test_reboot_of_an_off_node_powers_it_on(machine, task):
    IFACE.reboot(task)
    cmds = [c for c in machine.tool.commands if c != 'power status']
    assert cmds == ['power on']
    assert machine.power == 'on'


def test_soft_reboot(machine, task):
    machine.power, machine.lag = 'on', 0
    IFACE.set_power_state(task, states.SOFT_REBOOT)
    cmds = [c for c in machine.tool.commands if c != 'power status']
    assert cmds == ['power soft', 'power on']
    assert machine.power == 'on'


def test_failed_reads_while_waiting_end_at_the_deadline(machine, task,
                                                        conf):
    conf.set_override('command_retry_timeout', 1, 'ipmi')
    answers = iter([(0, 'Chassis Power is off\n', ''),
                    (0, 'Chassis Power Control: Up/On\n', '')])

    def answer(cmd):
        return next(answers, (1, '', 'Get Auth Capabilities error\n'))
    machine.tool.answer = answer
    started = time.monotonic()
    with pytest.raises(exception.DriverOperationError) as e:
        IFACE.set_power_state(task, states.POWER_ON, timeout=1)
    assert time.monotonic() - started < 2.5
    assert 'timed out after 1s: the last read failed' in str(e.value)
    assert 'no answer from the BMC' in str(e.value)


def test_force_boot_device_is_set_again_before_power_on(machine, task):
    task.node.driver_info['ipmi_force_boot_device'] = True
    task.node.driver_internal_info = {'persistent_boot_device': 'pxe'}
    machine.lag = 0
    IFACE.set_power_state(task, states.POWER_ON)
    cmds = machine.tool.commands
    bootdev = cmds.index('chassis bootdev pxe options=efiboot')
    assert bootdev < cmds.index('power on')


def test_invalid_target(machine, task):
    with pytest.raises(exception.InvalidParameterValue):
        IFACE.set_power_state(task, 'sideways')
    assert machine.tool.calls == []


def test_interface_basics(task):
    assert 'ipmi_address' in IFACE.get_properties()
    assert IFACE.bmc_key(task) == 'ipmi:192.0.2.10:623'
    assert set(IFACE.get_supported_power_states(task)) == {
        states.POWER_ON, states.POWER_OFF, states.REBOOT,
        states.SOFT_POWER_OFF, states.SOFT_REBOOT}
    task.node.driver_info['ipmi_port'] = 'x'
    with pytest.raises(exception.InvalidParameterValue):
        IFACE.validate(task)
