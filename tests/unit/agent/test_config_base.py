"""The tool runner, section validation at the agent and plan()."""

import sys

import pytest

from bootflow.agent import config
from bootflow.agent.config import base
from bootflow.agent.config import bmc
from bootflow.agent.config import raid


def script(directory, name, body):
    path = directory / name
    path.write_text('#!%s\nimport sys\n%s\n' % (sys.executable, body))
    path.chmod(0o755)
    return path


@pytest.fixture
def tools(tmp_path):
    script(tmp_path, 'echoer', 'print(" ".join(sys.argv[1:]))\n'
                               'print(sys.stdin.read(), end="")')
    script(tmp_path, 'failer', 'sys.stderr.write("bad thing " + '
                               '" ".join(sys.argv[1:]) + "\\n")\n'
                               'sys.exit(3)')
    script(tmp_path, 'sleeper', 'import time\ntime.sleep(5)')
    return base.Tools(path=str(tmp_path))


def test_run_returns_stdout_and_feeds_stdin(tools):
    assert tools.run(['echoer', 'a', 'b']) == 'a b\n'
    assert tools.run(['echoer'], input='label: gpt\n') == '\nlabel: gpt\n'
    assert tools.which('echoer').endswith('/echoer')
    assert tools.which('sfdisk') is None


def test_run_failure_names_the_command_and_stderr(tools):
    with pytest.raises(config.ConfigError) as info:
        tools.run(['failer', 'x'])
    assert str(info.value) == 'failer x failed (exit 3): bad thing x'
    assert info.value.stderr == 'bad thing x\n'
    assert tools.call(['failer']) == (3, '', 'bad thing \n')


def test_secrets_are_masked(tools):
    with pytest.raises(config.ConfigError) as info:
        tools.run(['failer', 'hunter2'], secrets=['hunter2'])
    assert str(info.value) == ('failer ****** failed (exit 3): bad thing '
                               '******')


def test_missing_tool_and_timeout(tools, tmp_path):
    with pytest.raises(config.ConfigError) as info:
        tools.run(['sfdisk', '-l'])
    assert str(info.value) == 'sfdisk: tool not found (searched %s)' \
        % tmp_path
    with pytest.raises(config.ConfigError, match='^sleeper: timed out '
                       'after 0.2s$'):
        tools.run(['sleeper'], timeout=0.2)


def test_default_path_has_the_sbin_directories():
    assert '/usr/sbin' in base.Tools().path.split(':')


def test_apply_checks_the_section():
    with pytest.raises(config.ConfigError) as info:
        config.apply('firmware', {})
    assert str(info.value) == ("invalid firmware section: unknown section "
                               "'firmware' (expected one of: bios, raid, "
                               "bmc, disks)")
    with pytest.raises(config.ConfigError) as info:
        config.apply('bmc', {'network': {'mode': 'static'}})
    assert str(info.value) == (
        'invalid bmc section: bmc.network: mode static needs address; '
        'bmc.network: mode static needs netmask')


def test_plan_dry_runs_every_section_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv('BOOTFLOW_FIRMWARE_ATTRIBUTES', str(tmp_path))
    monkeypatch.setattr(raid, 'controllers', lambda: [])
    monkeypatch.setattr(bmc, 'IPMI_DEVICES', ('/nonexistent/ipmi0',))
    doc = {'name': 'x', 'bmc': {'network': {'mode': 'dhcp'}},
           'raid': {'software': False, 'volumes': [{'level': 1}]},
           'bios': {'settings': {'BootMode': 'Uefi'}}}
    results = config.plan(doc, tools=base.Tools(path=str(tmp_path)))
    assert [(r['section'], r['skipped']) for r in results] == [
        ('bios', 'no supported BIOS tool for this machine'),
        ('raid', 'no supported RAID controller tool found '
                 '(storcli/perccli/ssacli)'),
        ('bmc', 'ipmitool not found')]
    assert all(r['applied'] is False for r in results)
