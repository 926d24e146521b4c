"""driver_info parsing, ipmitool's command line, retries and errors."""

import logging
import os
import subprocess
import time

import pytest

from bootflow.common import exception
from bootflow.drivers import base
from bootflow.drivers.modules.ipmi import ipmitool
from tests.unit.drivers.ipmi import FakeIpmitool
from tests.unit.drivers.ipmi import make_task
from tests.unit.drivers.ipmi import NODE_UUID
from tests.unit.drivers.ipmi import PASSWORD

UNREACHABLE = ('Get Auth Capabilities error\nError issuing Get Channel '
               'Authentication Capabilities request\nError: Unable to '
               'establish IPMI v2 / RMCP+ session\n')
BAD_PASSWORD = ('Loading IANA PEN Registry...\nUsing best available cipher '
                'suite 3\n\n> RAKP 2 HMAC is invalid\nError: Unable to '
                'establish IPMI v2 / RMCP+ session\n')


@pytest.fixture
def fake(monkeypatch, conf):
    conf.set_override('min_command_interval', 0, 'ipmi')
    tool = FakeIpmitool(lambda cmd: (0, 'Chassis Power is on\n', ''))
    monkeypatch.setattr(subprocess, 'run', tool)
    return tool


def node(**info):
    return make_task(**info).node


# -- parse_driver_info ----------------------------------------------------

def test_defaults():
    info = ipmitool.parse_driver_info(node())
    assert info == {
        'address': '192.0.2.10', 'port': 623, 'username': 'admin',
        'password': PASSWORD, 'priv_level': 'ADMINISTRATOR',
        'protocol_version': '2.0', 'cipher_suite': None,
        'terminal_port': None, 'force_boot_device': False,
        'disable_boot_timeout': True}


def test_every_field_as_strings():
    info = ipmitool.parse_driver_info(node(
        ipmi_port='6230', ipmi_priv_level='operator',
        ipmi_protocol_version='2.0', ipmi_cipher_suite='17',
        ipmi_terminal_port='8023', ipmi_force_boot_device='true',
        ipmi_disable_boot_timeout='false'))
    assert (info['port'], info['priv_level'], info['cipher_suite'],
            info['terminal_port'], info['force_boot_device'],
            info['disable_boot_timeout']) == (6230, 'OPERATOR', 17, 8023,
                                              True, False)


def test_missing_address_is_reported_with_every_invalid_field():
    with pytest.raises(exception.MissingParameterValue) as e:
        ipmitool.parse_driver_info(node(ipmi_address=None, ipmi_port='x'))
    text = str(e.value)
    assert 'ipmi_address' in text and NODE_UUID in text
    assert "ipmi_port must be an integer, not 'x'" in text
    assert PASSWORD not in text


def test_all_invalid_fields_in_one_error():
    with pytest.raises(exception.InvalidParameterValue) as e:
        ipmitool.parse_driver_info(node(
            ipmi_port=70000, ipmi_priv_level='ROOT',
            ipmi_protocol_version='3.0', ipmi_cipher_suite=18,
            ipmi_terminal_port=True, ipmi_force_boot_device='maybe'))
    assert not isinstance(e.value, exception.MissingParameterValue)
    text = str(e.value)
    for fragment in ('ipmi_port must be between 1 and 65535, not 70000',
                     'ipmi_priv_level must be one of', "'ROOT'",
                     'ipmi_protocol_version', "'3.0'",
                     'ipmi_cipher_suite must be between 0 and 17, not 18',
                     'ipmi_terminal_port must be an integer',
                     'ipmi_force_boot_device must be a boolean'):
        assert fragment in text
    assert PASSWORD not in text


@pytest.mark.parametrize('address', [' ', '10.0.0.1 -x', '-oops'])
def test_bad_addresses(address):
    with pytest.raises(exception.InvalidParameterValue) as e:
        ipmitool.parse_driver_info(node(ipmi_address=address))
    assert 'ipmi_address' in str(e.value)


def test_cipher_suite_needs_ipmi_2():
    with pytest.raises(exception.InvalidParameterValue) as e:
        ipmitool.parse_driver_info(node(ipmi_protocol_version='1.5',
                                        ipmi_cipher_suite=3))
    assert 'needs ipmi_protocol_version 2.0' in str(e.value)


def test_cipher_suite_default_from_config(conf):
    conf.set_override('cipher_suite', '17', 'ipmi')
    assert ipmitool.parse_driver_info(node())['cipher_suite'] == 17
    assert ipmitool.parse_driver_info(
        node(ipmi_cipher_suite=3))['cipher_suite'] == 3
    # IPMI 1.5 nodes are not broken by a 2.0 default
    assert ipmitool.parse_driver_info(
        node(ipmi_protocol_version='1.5'))['cipher_suite'] is None


def test_invalid_cipher_suite_in_config_is_named(conf):
    conf.set_override('cipher_suite', 'sha256', 'ipmi')
    with pytest.raises(exception.InvalidParameterValue) as e:
        ipmitool.parse_driver_info(node())
    assert '[ipmi]cipher_suite' in str(e.value)
    assert 'service configuration' in str(e.value)


def test_bmc_key_is_lenient():
    assert ipmitool.bmc_key(node(ipmi_port=6230)) == 'ipmi:192.0.2.10:6230'
    assert ipmitool.bmc_key(node()) == 'ipmi:192.0.2.10:623'
    assert ipmitool.bmc_key(node(ipmi_address=None)) == 'ipmi:None:623'


# -- command line ---------------------------------------------------------

def test_argv_and_password_file(fake):
    out = ipmitool.run(node(ipmi_port=6230, ipmi_cipher_suite=17,
                            ipmi_priv_level='OPERATOR'), 'power', 'status')
    assert out == 'Chassis Power is on\n'
    call, = fake.calls
    argv = call.argv
    assert argv[:7] == ['ipmitool', '-I', 'lanplus', '-H', '192.0.2.10',
                        '-p', '6230']
    pairs = dict(zip(argv, argv[1:]))
    assert pairs['-U'] == 'admin' and pairs['-L'] == 'OPERATOR'
    assert pairs['-C'] == '17' and pairs['-R'] == '1'
    assert call.cmd == ['power', 'status']
    assert not any(PASSWORD in a for a in argv)
    assert call.password == PASSWORD and call.mode == 0o600
    assert not os.path.exists(call.password_file)
    assert call.kwargs['timeout'] == 10.0
    assert call.kwargs['env']['LC_ALL'] == 'C'
    assert call.kwargs['stdin'] == subprocess.DEVNULL


def test_argv_without_user_or_suite_on_ipmi_15(fake, conf):
    conf.set_override('ipmitool_path', '/opt/bin/ipmitool', 'ipmi')
    ipmitool.run(node(ipmi_username=None, ipmi_password=None,
                      ipmi_protocol_version='1.5'), 'power', 'status')
    call, = fake.calls
    assert call.argv[:3] == ['/opt/bin/ipmitool', '-I', 'lan']
    assert '-U' not in call.argv and '-C' not in call.argv
    # ipmitool prompts on the terminal for an empty file; NUL is ''
    assert call.password == '\0'


def test_request_timeout_fits_in_the_process_timeout(fake, conf):
    conf.set_override('command_timeout', 30, 'ipmi')
    ipmitool.run(node(), 'power', 'status')
    conf.set_override('command_timeout', 1, 'ipmi')
    ipmitool.run(node(), 'power', 'status')
    values = [dict(zip(c.argv, c.argv[1:]))['-N'] for c in fake.calls]
    assert values == ['10', '1']


# -- failures and retries -------------------------------------------------

def test_transient_failure_is_retried(fake):
    answers = [(1, '', UNREACHABLE), (0, 'Chassis Power is off\n', '')]
    fake.answer = lambda cmd: answers.pop(0)
    assert ipmitool.run(node(), 'power', 'status') == \
        'Chassis Power is off\n'
    assert len(fake.calls) == 2


def test_wrong_password_fails_at_once_without_the_password(fake, caplog):
    fake.answer = lambda cmd: (1, '', BAD_PASSWORD + 'echo ' + PASSWORD)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ipmitool.IPMICommandError) as e:
        ipmitool.run(node(), 'power', 'status')
    assert e.value.kind == ipmitool.AUTH
    text = str(e.value)
    assert text.startswith('IPMI power status failed for node %s: '
                           'authentication failed' % NODE_UUID)
    assert 'RAKP 2 HMAC is invalid' in text
    assert 'Loading IANA' not in text
    assert PASSWORD not in text and '***' in text
    assert len(fake.calls) == 1
    assert PASSWORD not in caplog.text


def test_unknown_user(fake):
    fake.answer = lambda cmd: (1, '', 'RAKP 2 message indicates an error '
                                      ': unauthorized name\n')
    with pytest.raises(ipmitool.IPMICommandError) as e:
        ipmitool.run(node(), 'power', 'status')
    assert "does not know user 'admin'" in str(e.value)


def test_retries_end_within_the_budget(fake, conf):
    conf.set_override('command_retry_timeout', 2, 'ipmi')
    conf.set_override('min_command_interval', 0.1, 'ipmi')
    fake.answer = lambda cmd: (1, '', UNREACHABLE)
    started = time.monotonic()
    with pytest.raises(ipmitool.IPMICommandError) as e:
        ipmitool.run(node(), 'power', 'status')
    elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert e.value.kind == ipmitool.UNREACHABLE
    assert len(fake.calls) > 2
    assert 'no answer from the BMC at 192.0.2.10:623 (%d attempts' % len(
        fake.calls) in str(e.value)
    # the last run may not outlive the budget either
    assert all(c.kwargs['timeout'] <= 2 for c in fake.calls)


def test_power_sync_budget_means_one_short_attempt(fake):
    fake.answer = lambda cmd: (1, '', UNREACHABLE)
    token = base.read_budget.set(3.0)
    try:
        with pytest.raises(ipmitool.IPMICommandError):
            ipmitool.run(node(), 'power', 'status')
    finally:
        base.read_budget.reset(token)
    call, = fake.calls
    assert call.kwargs['timeout'] <= 3.0


def test_killed_run_is_a_timeout(fake):
    def answer(cmd):
        raise subprocess.TimeoutExpired(cmd, 10, output=b'', stderr=b'')
    fake.answer = answer
    token = base.read_budget.set(5.0)
    try:
        with pytest.raises(ipmitool.IPMICommandError) as e:
            ipmitool.run(node(), 'power', 'status')
    finally:
        base.read_budget.reset(token)
    assert e.value.kind == ipmitool.TIMEOUT
    assert 'did not finish within 5.0s' in str(e.value)


def test_missing_binary(monkeypatch, conf):
    def run(argv, **kwargs):
        raise FileNotFoundError(2, 'No such file or directory')
    monkeypatch.setattr(subprocess, 'run', run)
    conf.set_override('ipmitool_path', '/nonexistent/ipmitool', 'ipmi')
    with pytest.raises(exception.DriverOperationError) as e:
        ipmitool.run(node(), 'power', 'status')
    assert 'is the ipmitool package installed' in str(e.value)


def test_debug_logs_output_scrubbed(fake, conf, caplog):
    conf.set_override('debug', True, 'ipmi')
    fake.answer = lambda cmd: (0, 'Chassis Power is on\n',
                               'debug: password %s\n' % PASSWORD)
    caplog.set_level(logging.DEBUG)
    ipmitool.run(node(), 'power', 'status')
    assert 'Chassis Power is on' in caplog.text
    assert 'debug: password ***' in caplog.text
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize('code,stderr,kind', [
    (1, BAD_PASSWORD, ipmitool.AUTH),
    (1, UNREACHABLE, ipmitool.UNREACHABLE),
    (1, '> Error: no response from RAKP 1 message\nSet Session Privilege '
        'Level to ADMINISTRATOR failed\n', ipmitool.UNREACHABLE),
    (1, 'Set Session Privilege Level to ADMINISTRATOR failed: Requested '
        'privilege level exceeds limit\n', ipmitool.PRIVILEGE),
    (1, 'Authentication algorithm 0x01 is not what we requested 0x03\n',
     ipmitool.CIPHER),
    (1, 'Error in open session response message : insufficient resources '
        'for session\n', ipmitool.BUSY),
    (1, 'Using best available cipher suite 3\nInvalid completion code '
        'received: Invalid command\nSet Chassis Power Control to Cycle '
        'failed: Command not supported in present state\n',
     ipmitool.COMMAND),
    (None, '', ipmitool.TIMEOUT),
])
def test_classify(code, stderr, kind):
    info = ipmitool.parse_driver_info(node())
    assert ipmitool.classify(info, code, stderr, 10)[0] == kind


def test_cipher_error_names_the_suite():
    info = ipmitool.parse_driver_info(node(ipmi_cipher_suite=17))
    kind, reason = ipmitool.classify(
        info, 1, 'Authentication algorithm 0x01 is not what we requested '
                 '0x03\n', 10)
    assert 'does not support cipher suite 17' in reason


# -- pacing ---------------------------------------------------------------

def test_commands_to_one_bmc_are_spaced(fake, conf):
    conf.set_override('min_command_interval', 0.3, 'ipmi')
    times = []
    fake.answer = lambda cmd: times.append(time.monotonic()) or (0, '', '')
    same = node(ipmi_address='192.0.2.77')
    other = node(ipmi_address='192.0.2.78')
    ipmitool.run(same, 'power', 'status')
    ipmitool.run(other, 'power', 'status')
    ipmitool.run(same, 'power', 'status')
    assert times[1] - times[0] < 0.2      # another BMC does not wait
    assert times[2] - times[0] >= 0.3
