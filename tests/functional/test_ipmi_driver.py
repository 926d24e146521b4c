"""The IPMI interfaces driving the real ipmitool against an emulated BMC.

Each test starts its own tools/bmc/ipmi_bmc.py on a free UDP port of
127.0.0.1 with its own state file (so pytest-xdist workers do not meet),
calls IPMIPower / IPMIManagement directly with a stand-in task, and
checks what the emulated hardware recorded, not what the driver says.
"""

import json
import logging
import select
import shutil
import socket
import subprocess
import sys
import time
import types
import uuid
from pathlib import Path

import pytest

from bootflow.common import exception
from bootflow.common import states
from bootflow.conf import CONF
from bootflow.drivers import base
from bootflow.drivers.modules.ipmi import ipmitool
from bootflow.drivers.modules.ipmi import management
from bootflow.drivers.modules.ipmi import power

pytest.importorskip('pyghmi')
pytestmark = pytest.mark.skipif(shutil.which('ipmitool') is None,
                                reason='ipmitool is not installed '
                                       '(apt-get install ipmitool)')

EMULATOR = Path(__file__).resolve().parents[2] / 'tools' / 'bmc' / \
    'ipmi_bmc.py'
USERNAME = 'operator1'
PASSWORD = 'Emu-Pa55-w0rd!'
READY_TIMEOUT = 20.0


class Emulator:
    def __init__(self, tmp_path, *extra):
        self.state_file = tmp_path / ('bmc-%s.json' % uuid.uuid4().hex[:8])
        self.proc = subprocess.Popen(
            [sys.executable, str(EMULATOR), '--port', '0',
             '--username', USERNAME, '--password', PASSWORD,
             '--state-file', str(self.state_file)] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith('READY '):
                    return int(line.split()[1])
            if self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError('the BMC emulator did not start: %s'
                             % self.proc.stderr.read()[-2000:])

    def state(self):
        return json.loads(self.state_file.read_text())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()


class Node(types.SimpleNamespace):
    def save(self):
        self.saves += 1


def make_task(port, boot_mode='uefi', **info):
    driver_info = {'ipmi_address': '127.0.0.1', 'ipmi_port': port,
                   'ipmi_username': USERNAME, 'ipmi_password': PASSWORD}
    driver_info.update(info)
    node = Node(uuid=str(uuid.uuid4()), id=1, saves=0, driver='ipmi',
                driver_info=driver_info, driver_internal_info={},
                properties={'capabilities': 'boot_mode:%s' % boot_mode},
                instance_info={}, boot_mode=boot_mode)
    return types.SimpleNamespace(node=node, ports=[])


def closed_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def ipmi_conf():
    overrides = {'min_command_interval': 0.05, 'power_poll_interval': 0.05,
                 'command_timeout': 5.0, 'command_retry_timeout': 10,
                 'power_state_change_timeout': 10}
    for name, value in overrides.items():
        CONF.set_override(name, value, 'ipmi')
    yield CONF
    for name in list(overrides) + ['debug', 'cipher_suite']:
        CONF.clear_override(name, 'ipmi')


@pytest.fixture
def emulator(tmp_path, ipmi_conf):
    started = []

    def start(*extra):
        emu = Emulator(tmp_path, *extra)
        started.append(emu)
        return emu
    yield start
    for emu in started:
        emu.stop()


@pytest.fixture
def argv_spy(monkeypatch):
    """Every argv the driver gives ipmitool (the real run still happens)."""
    seen = []
    real_run = subprocess.run

    def run(argv, **kwargs):
        seen.append(list(argv))
        return real_run(argv, **kwargs)
    monkeypatch.setattr(subprocess, 'run', run)
    return seen


POWER = power.IPMIPower()
MANAGEMENT = management.IPMIManagement()


def test_power_on_off_and_reboot(emulator):
    bmc = emulator('--power-delay', '0.3')
    task = make_task(bmc.port)
    assert POWER.get_power_state(task) == states.POWER_OFF

    POWER.set_power_state(task, states.POWER_ON)
    # returned only once the BMC reported it, i.e. after the delay
    assert bmc.state()['power'] == 'on'
    assert bmc.state()['boot_count'] == 1
    assert POWER.get_power_state(task) == states.POWER_ON

    POWER.set_power_state(task, states.REBOOT)
    state = bmc.state()
    assert state['power'] == 'on' and state['boot_count'] == 2
    assert state['history'][-2:] == ['power off', 'power on']

    POWER.set_power_state(task, states.POWER_OFF)
    assert bmc.state()['power'] == 'off'


def test_soft_power_off_and_soft_reboot(emulator):
    bmc = emulator('--power', 'on', '--power-delay', '0.2')
    task = make_task(bmc.port)
    POWER.set_power_state(task, states.SOFT_REBOOT)
    state = bmc.state()
    assert state['history'] == ['power soft', 'power on']
    assert state['power'] == 'on'
    POWER.set_power_state(task, states.SOFT_POWER_OFF)
    assert bmc.state()['power'] == 'off'
    assert bmc.state()['history'][-1] == 'power soft'


def test_soft_power_off_ignored_times_out(emulator):
    bmc = emulator('--power', 'on', '--ignore-soft')
    task = make_task(bmc.port)
    started = time.monotonic()
    with pytest.raises(exception.DriverOperationError) as e:
        POWER.set_power_state(task, states.SOFT_POWER_OFF, timeout=2)
    assert time.monotonic() - started < 4
    assert 'soft power off of node %s timed out after 2s' % task.node.uuid \
        in str(e.value)
    assert bmc.state()['power'] == 'on'


def test_boot_device_persistent_uefi(emulator):
    bmc = emulator()
    task = make_task(bmc.port)
    MANAGEMENT.set_boot_device(task, 'pxe', persistent=True)
    state = bmc.state()
    assert (state['boot_device'], state['persistent'], state['efiboot'],
            state['boot_flags_valid']) == ('pxe', True, True, True)
    assert state['valid_bit_clearing'] == 0x08    # 60 s timeout off
    assert MANAGEMENT.get_boot_device(task) == {'boot_device': 'pxe',
                                                'persistent': True}
    # a persistent device survives boots
    POWER.set_power_state(task, states.POWER_ON)
    POWER.reboot(task)
    state = bmc.state()
    assert state['last_boot'] == {'device': 'pxe', 'efiboot': True,
                                  'override': True}
    assert MANAGEMENT.get_boot_device(task)['boot_device'] == 'pxe'


def test_one_time_legacy_boot_device_is_consumed(emulator):
    bmc = emulator()
    task = make_task(bmc.port, boot_mode='bios')
    MANAGEMENT.set_boot_device(task, 'cdrom')
    state = bmc.state()
    assert (state['boot_device'], state['persistent'],
            state['efiboot']) == ('cdrom', False, False)
    assert MANAGEMENT.get_boot_device(task) == {'boot_device': 'cdrom',
                                                'persistent': False}
    POWER.set_power_state(task, states.POWER_ON)
    assert bmc.state()['last_boot']['device'] == 'cdrom'
    assert MANAGEMENT.get_boot_device(task) == {'boot_device': None,
                                                'persistent': None}


def test_inject_nmi(emulator):
    bmc = emulator('--power', 'on')
    MANAGEMENT.inject_nmi(make_task(bmc.port))
    assert bmc.state()['nmi_count'] == 1


def test_unreachable_bmc_fails_within_the_budget(ipmi_conf):
    ipmi_conf.set_override('command_retry_timeout', 3, 'ipmi')
    port = closed_udp_port()
    task = make_task(port)
    started = time.monotonic()
    with pytest.raises(ipmitool.IPMICommandError) as e:
        POWER.get_power_state(task)
    elapsed = time.monotonic() - started
    assert elapsed < 3 + 1.5
    assert e.value.kind == ipmitool.UNREACHABLE
    assert isinstance(e.value, exception.DriverOperationError)
    assert 'no answer from the BMC at 127.0.0.1:%d' % port in str(e.value)


def test_power_sync_read_is_one_bounded_attempt(ipmi_conf):
    task = make_task(closed_udp_port())
    token = base.read_budget.set(1.5)
    started = time.monotonic()
    try:
        with pytest.raises(ipmitool.IPMICommandError) as e:
            POWER.get_power_state(task)
    finally:
        base.read_budget.reset(token)
    assert time.monotonic() - started < 1.5 + 1.0
    assert 'attempts' not in str(e.value)


def test_wrong_password_fails_clearly_and_at_once(emulator):
    bmc = emulator('--power', 'on')
    task = make_task(bmc.port, ipmi_password='not-the-password')
    started = time.monotonic()
    with pytest.raises(ipmitool.IPMICommandError) as e:
        POWER.set_power_state(task, states.POWER_OFF)
    assert time.monotonic() - started < 3
    assert e.value.kind == ipmitool.AUTH
    assert ("authentication failed: the BMC at 127.0.0.1:%d rejected the "
            "password of user '%s'" % (bmc.port, USERNAME)) in str(e.value)
    assert 'not-the-password' not in str(e.value)
    assert bmc.state()['power'] == 'on'


def test_unknown_user_fails_clearly(emulator):
    bmc = emulator()
    task = make_task(bmc.port, ipmi_username='mallory')
    with pytest.raises(ipmitool.IPMICommandError) as e:
        POWER.get_power_state(task)
    assert "does not know user 'mallory'" in str(e.value)


def test_cipher_suite_reaches_ipmitool(emulator, argv_spy):
    """pyghmi's BMC side only does suite 3 (SHA1): 3 works, 17 (SHA256)
    is refused, which only happens if ``-C 17`` got to ipmitool."""
    bmc = emulator()
    assert POWER.get_power_state(
        make_task(bmc.port, ipmi_cipher_suite=3)) == states.POWER_OFF
    assert argv_spy[-1][argv_spy[-1].index('-C') + 1] == '3'
    with pytest.raises(ipmitool.IPMICommandError) as e:
        POWER.get_power_state(make_task(bmc.port, ipmi_cipher_suite='17'))
    assert e.value.kind == ipmitool.CIPHER
    assert 'does not support cipher suite 17' in str(e.value)
    assert argv_spy[-1][argv_spy[-1].index('-C') + 1] == '17'


def test_password_in_no_log_record_nor_argv(emulator, argv_spy, caplog,
                                            ipmi_conf):
    ipmi_conf.set_override('debug', True, 'ipmi')
    caplog.set_level(logging.DEBUG)
    bmc = emulator()
    task = make_task(bmc.port)
    POWER.set_power_state(task, states.POWER_ON)
    MANAGEMENT.set_boot_device(task, 'disk', persistent=True)
    MANAGEMENT.get_boot_device(task)
    with pytest.raises(exception.DriverOperationError):
        POWER.get_power_state(make_task(bmc.port, ipmi_username='nobody'))
    assert len(argv_spy) >= 5
    assert not any(PASSWORD in arg for argv in argv_spy for arg in argv)
    records = caplog.records
    assert any('Running ' in r.getMessage() for r in records)
    assert any('Chassis Power' in r.getMessage() for r in records)
    assert not any(PASSWORD in r.getMessage() for r in records)
    assert bmc.state()['sessions'] == len(argv_spy) - 1
