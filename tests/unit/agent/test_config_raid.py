"""The raid executor.

Command construction goes through the real subprocess path to a fake
``mdadm`` (first on the tool search path) that records its arguments;
arrays are built for real over loop devices only where the kernel has md
support (/proc/mdstat), otherwise that test is skipped and says why.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from bootflow.agent import config
from bootflow.agent.config import base
from bootflow.agent.config import raid

GIB = 2 ** 30
INVENTORY = {'disks': [
    {'name': '/dev/sda', 'size': 200 * GIB, 'rotational': True},
    {'name': '/dev/sdb', 'size': 200 * GIB, 'rotational': True},
    {'name': '/dev/sdc', 'size': 50 * GIB, 'rotational': False},
    {'name': 'sdd', 'size': 200 * GIB, 'rotational': False},
    {'name': '/dev/sde', 'size': 200 * GIB, 'rotational': True}]}

FAKE_MDADM = '''#!%s
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, 'calls.jsonl'), 'a') as log:
    log.write(json.dumps(sys.argv[1:]) + '\\n')
if os.path.exists(os.path.join(here, 'fail')):
    sys.stderr.write(open(os.path.join(here, 'fail')).read())
    sys.exit(1)
'''


class Fake:
    def __init__(self, directory):
        self.dir = directory
        script = directory / 'mdadm'
        script.write_text(FAKE_MDADM % sys.executable)
        script.chmod(0o755)
        self.tools = base.Tools(path='%s:%s' % (directory, base.Tools().path))

    def calls(self):
        log = self.dir / 'calls.jsonl'
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    directory = tmp_path / 'bin'
    directory.mkdir()
    mdstat = tmp_path / 'mdstat'
    mdstat.write_text('Personalities : [raid1]\nunused devices: <none>\n')
    monkeypatch.setattr(raid, 'MDSTAT', str(mdstat))
    monkeypatch.setattr(raid, 'controllers', lambda: [])
    return Fake(directory)


def volume(level='1', count=2, **extra):
    return dict({'name': 'root', 'level': level,
                 'disks': {'count': count, 'min_size_gb': 100}}, **extra)


def test_raid1_from_a_selector(fake):
    spec = {'software': True, 'volumes': [volume()]}
    result = config.apply('raid', spec, inventory=INVENTORY,
                          tools=fake.tools)
    assert result == {'section': 'raid', 'applied': True, 'skipped': None,
                      'changes': ['/dev/md/root: new RAID 1 over /dev/sda, '
                                  '/dev/sdb (all space)']}
    assert fake.calls() == [[
        '--create', '/dev/md/root', '--level=1', '--raid-devices=2',
        '--metadata=1.2', '--homehost=any', '--run', '/dev/sda',
        '/dev/sdb']]


@pytest.mark.parametrize('level,count,size_gb,per_disk_kib', [
    ('1', 2, 100, 100 * 2 ** 20), ('0', 2, 10, 5 * 2 ** 20),
    ('5', 3, 200, 100 * 2 ** 20), ('10', 4, 100, 50 * 2 ** 20)])
def test_size_is_per_member(fake, level, count, size_gb, per_disk_kib):
    spec = {'volumes': [volume(level, count, size_gb=size_gb)]}
    result = config.apply('raid', spec, inventory=INVENTORY,
                          tools=fake.tools)
    assert result['changes'][0].endswith('(%d GiB)' % size_gb)
    call = fake.calls()[0]
    assert '--size=%dK' % per_disk_kib in call
    assert call[-count:] == ['/dev/sda', '/dev/sdb', '/dev/sdd',
                             '/dev/sde'][:count]


def test_selector_filters_and_volumes_do_not_share(fake):
    spec = {'volumes': [volume(), dict(volume(), name='data', disks={
        'count': 2, 'rotational': True})]}
    with pytest.raises(config.ConfigError) as info:
        config.apply('raid', spec, inventory=INVENTORY, tools=fake.tools)
    assert str(info.value) == ('raid.volumes[1].disks: needs 2 disks, found '
                               '1 (/dev/sde)')
    spec['volumes'][1]['disks']['rotational'] = False
    result = config.apply('raid', spec, inventory=INVENTORY,
                          tools=fake.tools, dry_run=True)
    assert result['changes'] == [
        '/dev/md/root: new RAID 1 over /dev/sda, /dev/sdb (all space)',
        '/dev/md/data: new RAID 1 over /dev/sdc, /dev/sdd (all space)']
    assert fake.calls() == []


def test_not_enough_disks(fake):
    spec = {'volumes': [volume('5', 5)]}
    with pytest.raises(config.ConfigError) as info:
        config.apply('raid', spec, inventory=INVENTORY, tools=fake.tools)
    assert str(info.value) == (
        'raid.volumes[0].disks: needs 5 disks of at least 100 GiB, found 4 '
        '(/dev/sda, /dev/sdb, /dev/sdd, /dev/sde)')
    with pytest.raises(config.ConfigError, match='needs 5 disks of at '
                       'least 100 GiB, found 0$'):
        config.apply('raid', spec, tools=fake.tools)


def test_listed_members_must_exist(fake):
    spec = {'volumes': [{'level': 1, 'disks': ['/dev/null',
                                               '/dev/bootflow-missing']}]}
    with pytest.raises(config.ConfigError) as info:
        config.apply('raid', spec, tools=fake.tools)
    assert str(info.value) == ('raid.volumes[0].disks: '
                               '/dev/bootflow-missing does not exist')
    spec['volumes'][0]['disks'][1] = '/dev/zero'
    result = config.apply('raid', spec, tools=fake.tools)
    assert result['changes'] == ['/dev/md/0: new RAID 1 over /dev/null, '
                                 '/dev/zero (all space)']


def test_dry_run_runs_nothing(fake):
    result = config.apply('raid', {'volumes': [volume()]},
                          inventory=INVENTORY, dry_run=True,
                          tools=fake.tools)
    assert result['applied'] is False and len(result['changes']) == 1
    assert fake.calls() == []


def test_mdadm_failure_is_reported(fake):
    (fake.dir / 'fail').write_text('mdadm: cannot open /dev/sda: Device '
                                   'or resource busy\n')
    with pytest.raises(config.ConfigError) as info:
        config.apply('raid', {'volumes': [volume()]}, inventory=INVENTORY,
                     tools=fake.tools)
    assert str(info.value) == (
        'mdadm --create /dev/md/root --level=1 --raid-devices=2 '
        '--metadata=1.2 --homehost=any --run /dev/sda /dev/sdb failed '
        '(exit 1): mdadm: cannot open /dev/sda: Device or resource busy')


def test_kernel_without_md(fake, monkeypatch):
    monkeypatch.setattr(raid, 'MDSTAT', '/nonexistent/mdstat')
    spec = {'volumes': [volume()]}
    result = config.apply('raid', spec, inventory=INVENTORY,
                          tools=fake.tools)
    assert result == {'section': 'raid', 'changes': [], 'applied': False,
                      'skipped': 'the kernel has no software RAID (md) '
                                 'support (/nonexistent/mdstat is missing)'}
    assert fake.calls() == []
    # developer mode tries anyway
    config.apply('raid', spec, inventory=INVENTORY, tools=fake.tools,
                 developer=True)
    assert len(fake.calls()) == 1


def test_no_mdadm(tmp_path, monkeypatch):
    monkeypatch.setattr(raid, 'controllers', lambda: [])
    tools = base.Tools(path=str(tmp_path))
    spec = {'volumes': [volume()]}
    result = config.apply('raid', spec, inventory=INVENTORY, tools=tools)
    assert result['skipped'] == 'mdadm not found: cannot build software RAID'
    with pytest.raises(config.ConfigError, match='^mdadm not found'):
        config.apply('raid', spec, inventory=INVENTORY, tools=tools,
                     developer=True)


def test_hardware_only_without_a_controller(fake):
    spec = {'software': False, 'volumes': [{'level': 1}]}
    reason = 'no supported RAID controller tool found (storcli/perccli/ssacli)'
    assert config.apply('raid', spec, tools=fake.tools) == {
        'section': 'raid', 'changes': [], 'applied': False,
        'skipped': reason}
    with pytest.raises(config.ConfigError) as info:
        config.apply('raid', spec, tools=fake.tools, developer=True)
    assert str(info.value) == reason
    assert fake.calls() == []


class FakeController(raid.RaidController):
    name = 'fake'

    def __init__(self):
        self.created = None

    def detect(self, ctx):
        return True

    def plan(self, volumes, ctx):
        return ['controller: new RAID %s' % v['level'] for v in volumes]

    def create(self, volumes, ctx):
        self.created = volumes
        return self.plan(volumes, ctx)


def test_a_controller_plugin_takes_precedence(fake, monkeypatch):
    controller = FakeController()
    monkeypatch.setattr(raid, 'controllers', lambda: [controller])
    spec = {'volumes': [{'level': 5}]}
    spec['software'] = False
    assert config.apply('raid', spec, dry_run=True, tools=fake.tools)[
        'changes'] == ['controller: new RAID 5']
    assert controller.created is None
    result = config.apply('raid', spec, tools=fake.tools)
    assert result['applied'] and controller.created == [{'level': 5}]
    assert fake.calls() == []


def test_no_volumes(fake):
    assert config.apply('raid', {'volumes': []}, tools=fake.tools) == {
        'section': 'raid', 'changes': [], 'applied': True, 'skipped': None}


# --- real software RAID ----------------------------------------------------

def _md_unavailable():
    if os.geteuid() != 0:
        return 'needs root'
    if not os.path.exists('/proc/mdstat'):
        return ('the kernel lacks md (software RAID) support: /proc/mdstat '
                'is missing')
    if not base.Tools().which('mdadm') or not base.Tools().which('losetup'):
        return 'mdadm or losetup is not installed'
    return None


@pytest.fixture
def loops(tmp_path):
    reason = _md_unavailable()
    if reason:
        pytest.skip(reason)
    tools = base.Tools()
    attached = []
    for index in range(2):
        image = tmp_path / ('member%d.img' % index)
        with open(image, 'wb') as stream:
            stream.truncate(64 * 2 ** 20)
        for _attempt in range(5):
            rc, out, err = tools.call(['losetup', '-f', '--show', str(image)])
            if rc == 0:
                break
            time.sleep(0.2)
        else:
            pytest.skip('losetup failed: %s' % err.strip())
        attached.append(out.strip())
    yield attached
    for device in attached:
        tools.call(['mdadm', '--zero-superblock', device])
        tools.call(['losetup', '-d', device])


def test_real_raid1(loops):
    name = 'bft%d' % os.getpid()
    device = '/dev/md/%s' % name
    spec = {'software': True, 'volumes': [{'name': name, 'level': 1,
                                           'disks': loops}]}
    try:
        result = config.apply('raid', spec)
        assert result['changes'] == ['%s: new RAID 1 over %s (all space)'
                                     % (device, ', '.join(loops))]
        detail = base.Tools().run(['mdadm', '--detail', '--export', device])
        assert 'MD_LEVEL=raid1' in detail and 'MD_DEVICES=2' in detail
        with open('/proc/mdstat') as stream:
            assert 'raid1' in stream.read()
        # the array exists now: nothing to do
        assert config.apply('raid', spec)['changes'] == []
    finally:
        subprocess.run(['mdadm', '--stop', device], capture_output=True)
