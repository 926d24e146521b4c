"""PRE/POST scripts: fetched over HTTP, verified, run from a memfd."""

import hashlib
import os
import shutil

import pytest

from bootflow.agent import scripts
from tests.unit.agent.test_agent_client import running_fake


@pytest.fixture
def fake():
    with running_fake() as api:
        yield api


ENV_SCRIPT = b'''#!/bin/sh
echo "phase=$BOOTFLOW_PHASE node=$BOOTFLOW_NODE_UUID api=$BOOTFLOW_API_URL"
echo "developer=$DEVELOPER self=$0"
echo "to stderr" >&2
exit 0
'''


def run(fake, name, data, **kwargs):
    fake.files[name] = data
    kwargs.setdefault('timeout', 10)
    return scripts.run('pre', fake.url + '/files/' + name, **kwargs)


def test_a_shell_script_runs_from_memory_with_its_environment(fake):
    event = run(fake, 'pre.sh', ENV_SCRIPT, node_uuid='n-1',
                api_url='http://api:6385', developer=True)
    assert event['rc'] == 0 and event['error'] is None
    assert event['checksum_ok'] is None
    assert not scripts.failed(event)
    lines = event['output'].splitlines()
    assert lines[0] == 'phase=pre node=n-1 api=http://api:6385'
    # Executed through /proc/self/fd: nothing was written to a disk.
    assert lines[1].startswith('developer=1 self=/proc/self/fd/')
    assert lines[2] == 'to stderr'
    assert set(event) == {'kind', 'name', 'url', 'rc', 'output', 'duration',
                          'error', 'checksum_ok'}
    assert event['kind'] == 'script' and event['name'] == 'pre'
    assert event['url'] == fake.url + '/files/pre.sh'
    assert event['duration'] >= 0


@pytest.mark.parametrize('binary,rc', [('true', 0), ('false', 1)])
def test_an_elf_binary_runs_too(fake, binary, rc):
    with open(shutil.which(binary), 'rb') as f:
        data = f.read()
    event = run(fake, binary, data)
    assert (event['rc'], event['error']) == (rc, None)
    assert scripts.failed(event) is bool(rc)


def test_echo_binary_output_is_captured(fake):
    with open(shutil.which('echo'), 'rb') as f:
        event = run(fake, 'echo', f.read())
    assert (event['rc'], event['output']) == (0, '\n')


def test_non_zero_exit_is_a_failure_with_the_output_kept(fake):
    event = run(fake, 'bad.sh', b'#!/bin/sh\necho checking RAID\nexit 7\n')
    assert (event['rc'], event['output'], event['error']) == (
        7, 'checking RAID\n', None)
    assert scripts.failed(event)


@pytest.mark.parametrize('spec', [
    lambda d: 'sha256:' + hashlib.sha256(d).hexdigest(),
    lambda d: 'SHA512:' + hashlib.sha512(d).hexdigest().upper(),
    lambda d: 'md5:' + hashlib.md5(d).hexdigest(),
    lambda d: hashlib.sha256(d).hexdigest(),
    lambda d: hashlib.sha512(d).hexdigest(),
    lambda d: hashlib.md5(d).hexdigest(),
])
def test_matching_checksums_let_the_script_run(fake, spec):
    data = b'#!/bin/sh\necho ran\n'
    event = run(fake, 'ok.sh', data, checksum=spec(data))
    assert (event['checksum_ok'], event['rc'], event['output']) == (
        True, 0, 'ran\n')


def test_a_checksum_mismatch_does_not_run_the_script(fake, tmp_path):
    marker = tmp_path / 'ran'
    data = b'#!/bin/sh\ntouch %s\n' % str(marker).encode()
    expected = hashlib.sha256(b'something else').hexdigest()
    event = run(fake, 'evil.sh', data, checksum='sha256:' + expected)
    assert not marker.exists()
    assert event['checksum_ok'] is False and event['rc'] is None
    assert scripts.failed(event)
    assert event['error'] == 'Checksum mismatch: expected sha256:%s, got ' \
        'sha256:%s' % (expected, hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize('spec', ['sha256:xyz', 'crc32:abcd', 'abc',
                                  'sha256:' + 'a' * 32])
def test_an_invalid_checksum_is_an_error(fake, spec):
    event = run(fake, 'x.sh', b'#!/bin/sh\n', checksum=spec)
    assert event['checksum_ok'] is False and event['rc'] is None
    assert 'Invalid checksum' in event['error']


def test_a_fetch_failure_is_reported(fake):
    event = scripts.run('post', fake.url + '/files/missing', timeout=5)
    assert event['rc'] is None and scripts.failed(event)
    assert event['error'].startswith('Cannot fetch %s/files/missing: '
                                     'HTTPError: 404' % fake.url)
    assert event['name'] == 'post'


def test_only_http_urls_are_fetched():
    event = scripts.run('pre', 'file:///etc/passwd')
    assert 'only http(s) URLs' in event['error']


def _gone_or_zombie(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


def test_a_timeout_kills_the_whole_process_group(fake, tmp_path):
    pidfile = tmp_path / 'pid'
    data = (b'#!/bin/sh\nsleep 60 &\necho $! > %s\necho started\nwait\n'
            % str(pidfile).encode())
    event = run(fake, 'slow.sh', data, timeout=0.5)
    assert event['rc'] is None
    assert event['error'] == 'The pre script timed out after 0.5s and was ' \
        'killed'
    assert event['output'] == 'started\n'
    assert _gone_or_zombie(int(pidfile.read_text()))


def test_leftover_background_processes_do_not_hang_the_agent(fake):
    data = b'#!/bin/sh\nsleep 60 &\necho done\n'
    event = run(fake, 'daemon.sh', data)
    assert (event['rc'], event['output']) == (0, 'done\n')
    assert event['duration'] < 30


def test_only_the_output_tail_is_kept(fake):
    dots = b'.' * 48
    data = (b'#!/bin/sh\ni=0\nwhile [ $i -lt 3000 ]; do\n'
            b'  echo "line $i %s"\n  i=$((i+1))\ndone\necho LAST\n' % dots)
    event = run(fake, 'chatty.sh', data)
    assert event['rc'] == 0
    assert len(event['output'].encode()) == scripts.OUTPUT_LIMIT
    assert event['output'].endswith('line 2999 ' + '.' * 48 + '\nLAST\n')


def test_no_memfd_is_left_open(fake):
    run(fake, 'ok.sh', b'#!/bin/sh\n')
    links = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            links.append(os.readlink('/proc/self/fd/' + fd))
        except OSError:
            pass
    assert not [link for link in links if 'bootflow-pre' in link]


def test_parse_checksum_picks_the_algorithm_by_length():
    assert scripts.parse_checksum('a' * 32) == ('md5', 'a' * 32)
    assert scripts.parse_checksum('A' * 64) == ('sha256', 'a' * 64)
    assert scripts.parse_checksum('b' * 128) == ('sha512', 'b' * 128)
