"""The disks executor for real, on loop devices over sparse files.

Tests that write partition tables need root and loop devices; they are
skipped (with the reason) elsewhere. Each test detaches its loop devices
in a finalizer, so they can run in parallel under pytest-xdist.
"""

import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from bootflow.agent import config
from bootflow.agent.config import base
from bootflow.agent.config import disks

MIB = 2 ** 20
ESP = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'
SWAP = '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F'
LINUX = '0FC63DAF-8483-4772-8E79-3D69D8477DE4'
TOOLS = base.Tools()


def _loop_unavailable():
    if os.geteuid() != 0:
        return 'needs root to attach loop devices'
    if not os.path.exists('/dev/loop-control'):
        return 'no loop device support (/dev/loop-control missing)'
    for tool in ('losetup', 'sfdisk', 'partx', 'blkid', 'truncate'):
        if not TOOLS.which(tool):
            return '%s is not installed' % tool
    return None


@pytest.fixture
def loop(tmp_path):
    """make(size) -> /dev/loopN over a sparse file; detached afterwards."""
    reason = _loop_unavailable()
    if reason:
        pytest.skip(reason)
    attached = []

    def make(size='256M'):
        image = tmp_path / ('disk%d.img' % len(attached))
        subprocess.run(['truncate', '-s', size, str(image)], check=True)
        for _attempt in range(5):   # another worker may grab the same one
            proc = subprocess.run(['losetup', '-f', '--show', str(image)],
                                  capture_output=True, text=True,
                                  env=TOOLS._env())
            if proc.returncode == 0:
                break
            time.sleep(0.2)
        else:
            pytest.skip('losetup failed: %s' % proc.stderr.strip())
        attached.append(proc.stdout.strip())
        return attached[-1], image

    yield make
    for device in attached:
        subprocess.run(['partx', '-d', device], capture_output=True,
                       env=TOOLS._env())
        subprocess.run(['losetup', '-d', device], capture_output=True,
                       env=TOOLS._env())


def gpt_spec(device, root_fs='ext4'):
    return [{'device': device, 'table': 'gpt', 'partitions': [
        {'name': 'esp', 'size': '64MiB', 'type': 'esp',
         'filesystem': {'type': 'vfat', 'label': 'EFI'}},
        {'name': 'swap', 'size': '32MiB', 'type': 'swap',
         'filesystem': {'type': 'swap', 'label': 'swap'}},
        {'name': 'root', 'size': '100%', 'type': 'linux',
         'filesystem': {'type': root_fs, 'label': 'root'}}]}]


def msdos_spec(device):
    spec = gpt_spec(device)
    spec[0]['table'] = 'msdos'
    for part in spec[0]['partitions']:
        del part['name']
    return spec


def table(device):
    out = TOOLS.run(['sfdisk', '--json', device])
    return json.loads(out)['partitiontable']


def dump(device):
    return TOOLS.run(['sfdisk', '-d', device])


def fs_info(path):
    out = TOOLS.run(['blkid', '-p', '-o', 'export', path])
    found = dict(line.split('=', 1) for line in out.splitlines())
    return found.get('TYPE'), found.get('LABEL'), found.get('UUID')


def digest(path):
    with open(path, 'rb') as stream:
        return hashlib.sha256(stream.read()).hexdigest()


def part(device, number):
    return disks.partition_path(device, number)


# --- pure helpers (no root) ------------------------------------------------

@pytest.mark.parametrize('disk,expected', [
    ('/dev/sda', '/dev/sda1'), ('/dev/vdb', '/dev/vdb1'),
    ('/dev/nvme0n1', '/dev/nvme0n1p1'), ('/dev/loop0', '/dev/loop0p1'),
    ('/dev/mmcblk0', '/dev/mmcblk0p1'), ('/dev/md127', '/dev/md127p1')])
def test_partition_path(disk, expected):
    assert disks.partition_path(disk, 1) == expected


def test_sfdisk_script_and_mkfs_commands():
    parts = [disks.Partition(1, '/dev/sda1', 'esp', 131072, 'esp', 'vfat',
                             'EFI'),
             disks.Partition(2, '/dev/sda2', 'swap', 65536, None, 'swap',
                             None),
             disks.Partition(3, '/dev/sda3', 'linux', None, 'root', 'xfs',
                             'root')]
    assert disks._sfdisk_script('gpt', parts) == (
        'label: gpt\n'
        'size=131072, type=%s, name="esp"\n'
        'size=65536, type=%s\n'
        'type=%s, name="root"\n' % (ESP, SWAP, LINUX))
    assert disks._sfdisk_script('msdos', parts) == (
        'label: dos\nsize=131072, type=ef\nsize=65536, type=82\ntype=83\n')
    assert [disks.mkfs_argv(p) for p in parts] == [
        ['mkfs.vfat', '-n', 'EFI', '/dev/sda1'], ['mkswap', '/dev/sda2'],
        ['mkfs.xfs', '-f', '-q', '-L', 'root', '/dev/sda3']]
    ext4 = disks.Partition(1, '/dev/sdb1', 'linux', None, None, 'ext4', 'r')
    assert disks.mkfs_argv(ext4) == ['mkfs.ext4', '-F', '-q', '-L', 'r',
                                     '/dev/sdb1']


def test_missing_device_and_bad_spec():
    with pytest.raises(config.ConfigError) as info:
        config.apply('disks', gpt_spec('/dev/bootflow-missing'),
                     dry_run=True)
    assert str(info.value) == ('disks[0].device: /dev/bootflow-missing: No '
                               'such file or directory')
    with pytest.raises(config.ConfigError) as info:
        config.apply('disks', [{'device': '/dev/null', 'partitions': [
            {'size': '1G'}]}], dry_run=True)
    assert str(info.value) == 'disks[0].device: /dev/null is not a block ' \
                              'device'
    with pytest.raises(config.ConfigError) as info:
        config.apply('disks', [{'device': '/dev/sda', 'partitions': [
            {'size': '12XB'}]}])
    assert str(info.value) == (
        "invalid disks section: disks[0].partitions[0].size: '12XB' is not "
        "a size (use e.g. 512MiB, 20G, 100%)")


def test_hint_needs_an_inventory():
    spec = [{'device': {'hint': {'rotational': False}},
             'partitions': [{'size': '1G'}]}]
    with pytest.raises(config.ConfigError) as info:
        config.apply('disks', spec, dry_run=True)
    assert str(info.value) == ("disks[0].device: a hint needs the "
                               "inventory's disks, and none were given")
    inventory = {'disks': [{'name': '/dev/sda', 'size': 2 ** 40,
                            'rotational': True}]}
    with pytest.raises(config.ConfigError) as info:
        config.apply('disks', spec, inventory=inventory, dry_run=True)
    assert str(info.value) == ('disks[0].device: no disk matches the hint '
                               '{"rotational": false} (disks: /dev/sda '
                               '1 TiB)')


# --- real loop devices -----------------------------------------------------

def test_gpt_layout(loop):
    device, _image = loop('256M')
    result = config.apply('disks', gpt_spec(device))
    assert result == {'section': 'disks', 'applied': True, 'skipped': None,
                      'changes': [
                          '%s: new gpt table (was: empty)' % device,
                          "%s: 64 MiB esp, vfat 'EFI'" % part(device, 1),
                          "%s: 32 MiB swap, swap 'swap'" % part(device, 2),
                          "%s: rest (158 MiB) linux, ext4 'root'"
                          % part(device, 3)]}
    found = table(device)
    assert found['label'] == 'gpt'
    parts = found['partitions']
    assert [p['size'] for p in parts[:2]] == [64 * MIB // 512,
                                              32 * MIB // 512]
    # sfdisk ends the "rest" partition on a 1 MiB boundary too
    end = parts[2]['start'] + parts[2]['size']
    assert end == (found['lastlba'] + 1) // 2048 * 2048
    assert [p['type'] for p in parts] == [ESP, SWAP, LINUX]
    assert [p['name'] for p in parts] == ['esp', 'swap', 'root']
    assert [fs_info(part(device, n))[:2] for n in (1, 2, 3)] == [
        ('vfat', 'EFI'), ('swap', 'swap'), ('ext4', 'root')]
    assert '%s : start=        2048, size=      131072, type=%s' % (
        part(device, 1), ESP) in dump(device)


def test_msdos_layout(loop):
    device, _image = loop('256M')
    result = config.apply('disks', msdos_spec(device))
    assert result['changes'][0] == '%s: new msdos table (was: empty)' \
        % device
    found = table(device)
    assert found['label'] == 'dos'
    parts = found['partitions']
    assert [(p['size'], p['type']) for p in parts[:2]] == [
        (131072, 'ef'), (65536, '82')]
    assert parts[2]['type'] == '83'
    assert parts[2]['start'] + parts[2]['size'] == 256 * MIB // 512
    assert [fs_info(part(device, n))[:2] for n in (1, 2, 3)] == [
        ('vfat', 'EFI'), ('swap', 'swap'), ('ext4', 'root')]


@pytest.mark.skipif(not shutil.which('mkfs.xfs', path=TOOLS.path),
                    reason='mkfs.xfs is not installed')
def test_xfs_root(loop):
    device, _image = loop('512M')   # mkfs.xfs wants 300 MB at least
    config.apply('disks', gpt_spec(device, root_fs='xfs'))
    assert fs_info(part(device, 3))[:2] == ('xfs', 'root')


def test_dry_run_writes_nothing(loop):
    device, image = loop('256M')
    before = digest(image), dump_or_none(device)
    result = config.apply('disks', gpt_spec(device), dry_run=True)
    assert result['applied'] is False and len(result['changes']) == 4
    assert (digest(image), dump_or_none(device)) == before
    assert not os.path.exists(part(device, 1))

    config.apply('disks', gpt_spec(device))
    before = digest(image), dump(device)
    result = config.apply('disks', msdos_spec(device), dry_run=True)
    assert result['changes'][0] == ('%s: new msdos table (was: gpt with 3 '
                                    'partitions)' % device)
    assert (digest(image), dump(device)) == before


def dump_or_none(device):
    rc, out, _err = TOOLS.call(['sfdisk', '-d', device])
    return out if rc == 0 else None


def test_reapplying_changes_nothing(loop):
    device, _image = loop('256M')
    config.apply('disks', gpt_spec(device))
    uuids = [fs_info(part(device, n))[2] for n in (1, 2, 3)]
    again = config.apply('disks', gpt_spec(device))
    assert again == {'section': 'disks', 'changes': [], 'applied': True,
                     'skipped': None}
    assert config.apply('disks', gpt_spec(device), dry_run=True)[
        'changes'] == []
    assert [fs_info(part(device, n))[2] for n in (1, 2, 3)] == uuids


def test_only_a_different_filesystem_is_recreated(loop):
    device, _image = loop('256M')
    config.apply('disks', gpt_spec(device))
    esp_uuid = fs_info(part(device, 1))[2]
    spec = gpt_spec(device)
    spec[0]['partitions'][2]['filesystem'] = {'type': 'ext4',
                                              'label': 'data'}
    result = config.apply('disks', spec)
    assert result['changes'] == ["%s: ext4 'data' (was: ext4 'root')"
                                 % part(device, 3)]
    assert fs_info(part(device, 3))[:2] == ('ext4', 'data')
    assert fs_info(part(device, 1))[2] == esp_uuid


def test_hint_picks_the_inventory_disk(loop):
    device, _image = loop('256M')
    inventory = {'disks': [
        {'name': '/dev/sdz', 'size': 2 ** 40, 'rotational': True},
        {'name': device, 'size': 256 * MIB, 'rotational': False}]}
    spec = gpt_spec(device)
    spec[0]['device'] = {'hint': {'rotational': False, 'size_gb_max': 1}}
    result = config.apply('disks', spec, inventory=inventory, dry_run=True)
    assert result['changes'][0] == '%s: new gpt table (was: empty)' % device


def test_partitions_larger_than_the_disk(loop):
    device, _image = loop('64M')
    spec = [{'device': device, 'partitions': [{'size': '48MiB'},
                                              {'size': '32MiB'}]}]
    with pytest.raises(config.ConfigError) as info:
        config.apply('disks', spec, dry_run=True)
    assert str(info.value) == ('disks[0]: the partitions need 81 MiB but '
                               '%s has 64 MiB' % device)


def test_refuses_a_disk_in_use(loop, tmp_path, monkeypatch):
    device, image = loop('256M')
    config.apply('disks', gpt_spec(device))
    mounts = tmp_path / 'mounts'
    mounts.write_text('%s /boot/efi vfat rw 0 0\n' % part(device, 1))
    monkeypatch.setattr(disks, 'MOUNTS', str(mounts))
    before = digest(image)
    with pytest.raises(config.ConfigError) as info:
        config.apply('disks', msdos_spec(device))
    assert str(info.value) == ('disks[0]: %s is in use (%s mounted on '
                               '/boot/efi); refusing to change it'
                               % (device, part(device, 1)))
    assert digest(image) == before
    # nothing to change: in use is fine
    assert config.apply('disks', gpt_spec(device))['changes'] == []


def test_missing_partition_node_is_made(loop, monkeypatch):
    """Without udev nobody may create /dev nodes: the executor makes them
    from /sys/class/block/<part>/dev."""
    device, _image = loop('256M')
    config.apply('disks', gpt_spec(device))
    node = part(device, 2)
    os.unlink(node)
    monkeypatch.setattr(disks, 'NODE_GRACE', 0.1)
    disks._ensure_node(node)
    assert fs_info(node)[:2] == ('swap', 'swap')


def test_dry_run_of_an_array_not_created_yet():
    """raid runs before disks: planning a whole template must not fail on
    the /dev/md/<name> the raid section would create."""
    spec = [{'device': '/dev/md/bootflow-test-future', 'partitions': [
        {'size': '512MiB', 'type': 'esp',
         'filesystem': {'type': 'vfat', 'label': 'EFI'}},
        {'size': '10%'}, {'size': 'rest', 'type': 'lvm'}]}]
    result = config.apply('disks', spec, dry_run=True)
    assert result['changes'] == [
        '/dev/md/bootflow-test-future: new gpt table (was: not created yet)',
        "/dev/md/bootflow-test-future1: 512 MiB esp, vfat 'EFI'",
        '/dev/md/bootflow-test-future2: 10% linux',
        '/dev/md/bootflow-test-future3: rest lvm']
    with pytest.raises(config.ConfigError, match='No such file'):
        config.apply('disks', spec)


def test_percentages_and_partitions_without_filesystems(loop):
    device, _image = loop('256M')
    spec = [{'device': device, 'partitions': [
        {'size': '1MiB', 'type': 'bios_grub'},
        {'size': '25%', 'type': 'raid'},
        {'size': 'rest', 'type': 'lvm', 'name': 'pv'}]}]
    result = config.apply('disks', spec)
    assert result['changes'] == [
        '%s: new gpt table (was: empty)' % device,
        '%s: 1 MiB bios_grub' % part(device, 1),
        '%s: 64 MiB raid' % part(device, 2),
        '%s: rest (189 MiB) lvm' % part(device, 3)]
    parts = table(device)['partitions']
    assert [p['size'] for p in parts] == [2048, 64 * MIB // 512,
                                          189 * MIB // 512]
    assert [p['type'] for p in parts] == [
        '21686148-6449-6E6F-744E-656564454649',
        'A19D880F-05FC-4D3B-A006-743F0F84911E',
        'E6D6D379-F507-44C2-A23C-238F2A3DF928']
    assert config.apply('disks', spec)['changes'] == []


def test_partitions_unknown_to_the_kernel(loop):
    """Planning probes the disk itself, and writing registers the
    partitions again (a fresh ramdisk may not know them)."""
    device, _image = loop('256M')
    config.apply('disks', gpt_spec(device))
    TOOLS.run(['partx', '-d', device])
    base.wait_for(lambda: not os.path.exists(part(device, 3)), 2)
    assert config.apply('disks', gpt_spec(device), dry_run=True)[
        'changes'] == []
    spec = gpt_spec(device)
    spec[0]['partitions'][2]['filesystem']['label'] = 'other'
    assert config.apply('disks', spec)['changes'] == [
        "%s: ext4 'other' (was: ext4 'root')" % part(device, 3)]
    assert fs_info(part(device, 3))[:2] == ('ext4', 'other')
