"""Warm reboot: finding and loading the deployed kernel.

The search runs for real on a loop device (mount, blkid); only ``kexec``
itself is a stand-in script, because loading a kernel on the test host
would replace the host's next reboot.
"""

import os
import stat
import subprocess

import pytest

from bootflow.agent import kexec
from bootflow.agent.config import base
from tests.unit.agent.test_config_disks import loop  # noqa: F401  fixture

GRUB_CFG = """
set default=0
menuentry 'Debian' {
    load_video
    linux /boot/vmlinuz-6.1.0-9-amd64 root=UUID=abcd ro quiet \
$vt_handoff console=ttyS0
    initrd /boot/initrd.img-6.1.0-9-amd64
}
"""


def _tree(root, kernels=('6.1.0-9-amd64',), grub=GRUB_CFG, symlink=False):
    boot = root / 'boot'
    boot.mkdir(parents=True)
    for version in kernels:
        (boot / ('vmlinuz-' + version)).write_bytes(
            b'kernel ' + version.encode())
        (boot / ('initrd.img-' + version)).write_bytes(b'initrd')
    if symlink:
        os.symlink('vmlinuz-' + kernels[0], boot / 'vmlinuz')
        os.symlink('initrd.img-' + kernels[0], boot / 'initrd.img')
    if grub:
        (boot / 'grub').mkdir()
        (boot / 'grub' / 'grub.cfg').write_text(grub)
    return root


def test_newest_versioned_kernel_wins(tmp_path):
    _tree(tmp_path, kernels=('5.10.0-9-amd64', '6.1.0-10-amd64',
                             '6.1.0-9-amd64'))
    kernel, initrd = kexec.find_kernel(str(tmp_path))
    assert kernel.endswith('/boot/vmlinuz-6.1.0-10-amd64')
    assert initrd.endswith('/boot/initrd.img-6.1.0-10-amd64')


def test_the_vmlinuz_symlink_names_the_default(tmp_path):
    _tree(tmp_path, kernels=('5.10.0-9-amd64', '6.1.0-10-amd64'),
          symlink=True)
    kernel, initrd = kexec.find_kernel(str(tmp_path))
    assert kernel.endswith('vmlinuz-5.10.0-9-amd64')
    assert initrd.endswith('initrd.img-5.10.0-9-amd64')


def test_a_separate_boot_partition_has_kernels_at_its_root(tmp_path):
    (tmp_path / 'vmlinuz-6.1').write_bytes(b'k')
    assert kexec.find_kernel(str(tmp_path)) == (
        str(tmp_path / 'vmlinuz-6.1'), None)
    assert kexec.find_kernel(str(tmp_path / 'missing')) is None


def test_grub_cmdline_drops_the_path_and_grub_variables():
    assert kexec.grub_cmdline(GRUB_CFG) == \
        'root=UUID=abcd ro quiet console=ttyS0'
    assert kexec.grub_cmdline('menuentry x {\n}\n') is None


def test_etc_kernel_cmdline_comes_first(tmp_path):
    _tree(tmp_path)
    (tmp_path / 'etc' / 'kernel').mkdir(parents=True)
    (tmp_path / 'etc' / 'kernel' / 'cmdline').write_text('root=/dev/vda1\n')
    assert kexec.find_cmdline(str(tmp_path)) == 'root=/dev/vda1'


def test_without_kexec_or_a_written_disk_nothing_is_loaded(tmp_path):
    tools = base.Tools(path=str(tmp_path))
    assert kexec.prepare('/dev/vda', tools=tools) == {
        'loaded': False, 'reason': 'kexec is not in this BootOS'}
    fake = _fake_kexec(tmp_path, rc=0)
    tools = base.Tools(path='%s:%s' % (fake.parent, base.Tools().path))
    assert kexec.prepare(None, tools=tools)['loaded'] is False
    missing = kexec.prepare('/dev/vdz', tools=tools,
                            sys_root=str(tmp_path))
    assert missing['loaded'] is False
    assert 'no partitions' in missing['reason']


def _fake_kexec(directory, rc):
    """A kexec that records its arguments; exits rc."""
    script = directory / 'bin' / 'kexec'
    script.parent.mkdir(exist_ok=True)
    script.write_text('#!/bin/sh\necho "$@" >> %s\nexit %d\n'
                      % (directory / 'kexec.log', rc))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _disk_with(loop, tmp_path, tree):  # noqa: F811
    device, _image = loop('64M')
    subprocess.run(['sfdisk', '--quiet', device], input='label: dos\n'
                   'start=2048, type=83\n', text=True, check=True,
                   env=base.Tools()._env())
    subprocess.run(['partx', '-a', device], capture_output=True,
                   env=base.Tools()._env())
    part = device + 'p1'
    if not os.path.exists(part):
        pytest.skip('the loop device shows no partitions')
    subprocess.run(['mkfs.ext4', '-q', '-F', '-U',
                    '11111111-2222-4333-8444-555555555555', '-d', str(tree),
                    part], check=True, env=base.Tools()._env())
    return device, part


@pytest.mark.parametrize('grub', [GRUB_CFG, None])
def test_kernel_on_a_real_partition_is_loaded(loop, tmp_path, grub):  # noqa
    tree = _tree(tmp_path / 'tree', grub=grub)
    device, part = _disk_with(loop, tmp_path, tree)
    fake = _fake_kexec(tmp_path, rc=0)
    tools = base.Tools(path='%s:%s' % (fake.parent, base.Tools().path))
    found = kexec.prepare(device, tools=tools)
    cmdline = ('root=UUID=abcd ro quiet console=ttyS0' if grub else
               'root=UUID=11111111-2222-4333-8444-555555555555 ro')
    assert found == {
        'loaded': True, 'partition': part,
        'kernel': '/boot/vmlinuz-6.1.0-9-amd64',
        'initrd': '/boot/initrd.img-6.1.0-9-amd64', 'cmdline': cmdline}
    args = (tmp_path / 'kexec.log').read_text().split()
    assert args[0] == '-l' and args[1].endswith('/boot/vmlinuz-6.1.0-9-amd64')
    assert args[2].startswith('--initrd=')
    # unmounted again: nothing of the partition is left mounted
    with open('/proc/mounts') as mounts:
        assert part not in mounts.read()


def test_a_refused_kernel_is_reported_not_raised(loop, tmp_path):  # noqa
    device, _part = _disk_with(loop, tmp_path, _tree(tmp_path / 'tree'))
    fake = _fake_kexec(tmp_path, rc=1)
    tools = base.Tools(path='%s:%s' % (fake.parent, base.Tools().path))
    found = kexec.prepare(device, tools=tools)
    assert found['loaded'] is False
    assert 'kexec -l' in found['reason']


def test_a_disk_without_a_kernel_says_where_it_looked(loop, tmp_path):  # noqa
    (tmp_path / 'tree').mkdir()
    (tmp_path / 'tree' / 'etc').mkdir()
    device, part = _disk_with(loop, tmp_path, tmp_path / 'tree')
    fake = _fake_kexec(tmp_path, rc=0)
    tools = base.Tools(path='%s:%s' % (fake.parent, base.Tools().path))
    assert kexec.prepare(device, tools=tools) == {
        'loaded': False, 'reason': 'no kernel (vmlinuz) found on %s' % part}


def test_a_failed_jump_falls_back_to_reboot(tmp_path):
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    for name in ('kexec', 'reboot'):
        script = bindir / name
        script.write_text('#!/bin/sh\necho %s "$@" >> %s\nexit 1\n'
                          % (name, tmp_path / 'calls'))
        script.chmod(0o755)
    slept = []
    kexec.execute(tools=base.Tools(path=str(bindir)), sleep=slept.append)
    assert (tmp_path / 'calls').read_text().splitlines() == [
        'kexec -e', 'reboot -f']
    assert slept == [kexec.FALLBACK_REBOOT_DELAY]
