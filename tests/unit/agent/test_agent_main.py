"""``bootos-agent`` as the ramdisk starts it: flags, exit codes, and one
real run of the installed console script (or ``python -m``)."""

import logging
import os
import shutil
import subprocess
import sys

import pytest

from bootflow.agent import agent as agent_mod
from bootflow.agent import logbuffer
from bootflow.agent import main
from tests.unit.agent.test_agent_client import NODE_UUID
from tests.unit.agent.test_agent_client import running_fake


@pytest.fixture
def fake():
    with running_fake() as api:
        yield api


@pytest.fixture
def logging_reset():
    level = logging.getLogger().level
    yield
    logbuffer.reset()
    logging.getLogger().setLevel(level)


@pytest.fixture
def root(tmp_path):
    """An empty fixture tree: no hardware at all, a kernel command line
    with nothing but a comment-like word."""
    (tmp_path / 'proc').mkdir()
    (tmp_path / 'proc' / 'cmdline').write_text('ro quiet\n')
    return tmp_path


def agent_command():
    """The installed console script when the env has it (the real entry
    point), else the module."""
    script = shutil.which('bootos-agent',
                          path=os.path.dirname(sys.executable))
    if script:
        return [script]
    return [sys.executable, '-m', 'bootflow.agent.main']


def test_help_lists_the_contract_flags(capsys):
    with pytest.raises(SystemExit) as info:
        main.main(['--help'])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ('--api-url', '--node-uuid', '--root', '--cmdline-file',
                 '--developer', '--pre-url', '--pre-checksum', '--post-url',
                 '--post-checksum', '--bootif', '--inspect', '--discover',
                 '--lookup-timeout', '--script-timeout', '--poll-interval',
                 '--log-level'):
        assert flag in out


def test_main_runs_the_agent_with_the_real_hardware_managers(
        fake, root, capsys, logging_reset):
    pytest.importorskip('bootflow.agent.hardware')
    finish = fake.command('system.finish')
    code = main.main(['--api-url', fake.url, '--node-uuid', NODE_UUID,
                      '--root', str(root), '--bootif', '01-52-54-00-aa-bb-cc'])
    assert code == agent_mod.EXIT_OK
    assert fake.result(finish)['command_status'] == 'SUCCEEDED'
    assert fake.of_kind('lookup')[0]['query'] == {
        'addresses': '52:54:00:aa:bb:cc', 'node_uuid': NODE_UUID}
    err = capsys.readouterr().err
    assert 'This machine is node %s' % NODE_UUID in err
    assert fake.token not in err


def test_main_exit_3_when_pre_fails(fake, root, capsys, logging_reset):
    fake.files['pre'] = b'#!/bin/sh\necho nope\nexit 1\n'
    code = main.main(['--api-url', fake.url, '--node-uuid', NODE_UUID,
                      '--root', str(root), '--pre-url',
                      fake.url + '/files/pre'])
    assert code == agent_mod.EXIT_PRE_FAILED
    log, = fake.logs
    assert 'nope' in log['log']


def test_main_exit_4_when_no_node_matches(fake, root, logging_reset):
    fake.node_uuid = 'another-node'
    code = main.main(['--api-url', fake.url, '--node-uuid', NODE_UUID,
                      '--root', str(root), '--lookup-timeout', '0'])
    assert code == agent_mod.EXIT_FATAL


def test_the_real_entry_point_in_a_subprocess(fake, root):
    finish = fake.command('system.finish')
    cmdline = root / 'cmdline'
    cmdline.write_text('ipa-api-url=%s bootflow_node=%s DEVELOPER=1\n'
                       % (fake.url, NODE_UUID))
    proc = subprocess.run(
        agent_command() + ['--cmdline-file', str(cmdline),
                           '--root', str(root), '--log-level', 'DEBUG'],
        capture_output=True, text=True, timeout=120, cwd=os.getcwd())
    assert proc.returncode == agent_mod.EXIT_OK, proc.stderr
    assert fake.result(finish)['command_status'] == 'SUCCEEDED'
    assert 'This machine is node %s' % NODE_UUID in proc.stderr
    assert fake.token not in proc.stderr + proc.stdout


def test_the_real_entry_point_exits_2_without_an_api_url(root):
    proc = subprocess.run(
        agent_command() + ['--root', str(root)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == agent_mod.EXIT_SETTINGS
    assert 'No API URL' in proc.stderr
