"""IPMIManagement: boot flags parsing and the commands it sends."""

import logging
import subprocess

import pytest

from bootflow.common import exception
from bootflow.drivers.modules.ipmi import ipmitool
from bootflow.drivers.modules.ipmi import management
from tests.unit.drivers.ipmi import FakeIpmitool
from tests.unit.drivers.ipmi import FakeMachine
from tests.unit.drivers.ipmi import make_task

# What ipmitool 1.8.19 prints for ``chassis bootparam get 5``.
_TAIL = ('   - BIOS verbosity : System Default\n'
         '   - Console Redirection control : Console redirection occurs '
         'per BIOS configuration setting (default)\n')


def flags(data, lines):
    return ('Boot parameter version: 1\n'
            'Boot parameter 5 is valid/unlocked\n'
            'Boot parameter data: %s\n Boot Flags :\n' % data
            + ''.join('   - %s\n' % line for line in lines) + _TAIL)


PXE_PERSISTENT_EFI = flags('e004000000', [
    'Boot Flag Valid', 'Options apply to all future boots', 'BIOS EFI boot ',
    'Boot Device Selector : Force PXE'])
DISK_ONCE_LEGACY = flags('8008000000', [
    'Boot Flag Valid', 'Options apply to only next boot',
    'BIOS PC Compatible (legacy) boot ',
    'Boot Device Selector : Force Boot from default Hard-Drive'])
CONSUMED = flags('0008000000', [
    'Boot Flag Invalid', 'Options apply to only next boot',
    'BIOS PC Compatible (legacy) boot ',
    'Boot Device Selector : Force Boot from default Hard-Drive'])


def selector(text):
    return flags('8000000000', ['Boot Flag Valid',
                                'Options apply to only next boot',
                                'Boot Device Selector : %s' % text])


@pytest.mark.parametrize('output,expected', [
    (PXE_PERSISTENT_EFI, ('pxe', True, True)),
    (DISK_ONCE_LEGACY, ('disk', False, False)),
    (CONSUMED, (None, None, None)),
    (selector('Force Boot from default Hard-Drive, request Safe Mode'),
     ('safe', False, False)),
    (selector('Force Boot into BIOS Setup'), ('bios', False, False)),
    (selector('Force Boot from CD/DVD'), ('cdrom', False, False)),
    (selector('Force Boot from Floppy/primary removable media'),
     ('floppy', False, False)),
    (selector('No override'), (None, False, False)),
])
def test_parse_boot_flags(output, expected):
    parsed = management.parse_boot_flags(output)
    assert (parsed['boot_device'], parsed['persistent'],
            parsed['efiboot']) == expected


def test_parse_boot_flags_rejects_other_output():
    with pytest.raises(ValueError):
        management.parse_boot_flags('Chassis Power is on\n')


@pytest.fixture
def machine(monkeypatch, conf):
    conf.set_override('min_command_interval', 0, 'ipmi')
    box = FakeMachine()
    box.tool = FakeIpmitool(box)
    monkeypatch.setattr(subprocess, 'run', box.tool)
    return box


IFACE = management.IPMIManagement()


def test_persistent_uefi_boot_device(machine):
    task = make_task()
    IFACE.set_boot_device(task, 'pxe', persistent=True)
    assert machine.tool.commands == [
        'raw 0x00 0x08 0x03 0x08',
        'chassis bootdev pxe options=persistent,efiboot']


@pytest.mark.parametrize('properties,boot_mode,expected', [
    ({'capabilities': 'boot_mode:bios'}, 'uefi', 'chassis bootdev disk'),
    ({'capabilities': 'boot_mode:uefi'}, 'bios',
     'chassis bootdev disk options=efiboot'),
    ({}, 'bios', 'chassis bootdev disk'),
])
def test_efiboot_follows_the_boot_mode(machine, properties, boot_mode,
                                       expected):
    task = make_task(properties=properties, boot_mode=boot_mode,
                     ipmi_disable_boot_timeout=False)
    IFACE.set_boot_device(task, 'disk')
    assert machine.tool.commands == [expected]


def test_bmc_without_the_boot_timeout_parameter(machine, caplog):
    def answer(cmd):
        if cmd[0] == 'raw':
            return 1, '', 'Unable to send RAW command (channel=0x0 netfn=' \
                          '0x0 lun=0x0 cmd=0x8 rsp=0x80): Unknown (0x80)\n'
        return 0, 'Set Boot Device to cdrom\n', ''
    machine.tool.answer = answer
    caplog.set_level(logging.WARNING)
    IFACE.set_boot_device(make_task(), 'cdrom')
    assert machine.tool.commands[-1] == 'chassis bootdev cdrom ' \
                                        'options=efiboot'
    assert 'did not accept disabling the boot device timeout' in caplog.text


def test_unreachable_bmc_fails_before_bootdev(machine, conf):
    conf.set_override('command_retry_timeout', 1, 'ipmi')
    machine.tool.answer = lambda cmd: (1, '', 'Get Auth Capabilities '
                                              'error\n')
    with pytest.raises(ipmitool.IPMICommandError) as e:
        IFACE.set_boot_device(make_task(), 'pxe')
    assert e.value.kind == ipmitool.UNREACHABLE
    assert not any('bootdev' in c for c in machine.tool.commands)


def test_invalid_device(machine):
    with pytest.raises(exception.InvalidParameterValue) as e:
        IFACE.set_boot_device(make_task(), 'wanboot')
    assert 'wanboot' in str(e.value)
    assert machine.tool.calls == []


def test_get_boot_device(machine):
    machine.tool.answer = lambda cmd: (0, PXE_PERSISTENT_EFI, '')
    assert IFACE.get_boot_device(make_task()) == {'boot_device': 'pxe',
                                                  'persistent': True}
    assert machine.tool.commands == ['chassis bootparam get 5']


def test_get_boot_device_unexpected_answer(machine):
    machine.tool.answer = lambda cmd: (0, 'nonsense\n', '')
    with pytest.raises(exception.DriverOperationError) as e:
        IFACE.get_boot_device(make_task())
    assert 'unexpected answer' in str(e.value)


def test_force_boot_device_remembers_instead_of_persistent(machine):
    task = make_task(ipmi_force_boot_device='yes',
                     ipmi_disable_boot_timeout=False)
    IFACE.set_boot_device(task, 'disk', persistent=True)
    assert machine.tool.commands == ['chassis bootdev disk options=efiboot']
    assert task.node.driver_internal_info == {
        'persistent_boot_device': 'disk'}
    assert task.node.saves == 1
    # answered from what bootflow remembers, without the BMC
    assert IFACE.get_boot_device(task) == {'boot_device': 'disk',
                                           'persistent': True}
    assert len(machine.tool.calls) == 1


def test_force_boot_device_one_time_then_back_to_persistent(machine):
    task = make_task(ipmi_force_boot_device=True,
                     ipmi_disable_boot_timeout=False)
    task.node.driver_internal_info = {'persistent_boot_device': 'disk'}
    IFACE.set_boot_device(task, 'pxe')
    assert task.node.driver_internal_info['is_next_boot_persistent'] is False
    # the first power on keeps the one-time pxe ...
    management.reapply_boot_device(task)
    assert machine.tool.commands == ['chassis bootdev pxe options=efiboot']
    assert 'is_next_boot_persistent' not in task.node.driver_internal_info
    # ... the next one sets disk again
    management.reapply_boot_device(task)
    assert machine.tool.commands[-1] == 'chassis bootdev disk options=efiboot'


def test_reapply_is_a_no_op_without_force(machine):
    task = make_task()
    task.node.driver_internal_info = {'persistent_boot_device': 'disk'}
    management.reapply_boot_device(task)
    assert machine.tool.calls == []


def test_inject_nmi(machine):
    machine.power = 'on'
    IFACE.inject_nmi(make_task())
    assert machine.tool.commands == ['power diag']


def test_supported_boot_devices():
    assert set(IFACE.get_supported_boot_devices(make_task())) == {
        'pxe', 'disk', 'cdrom', 'bios', 'safe'}
