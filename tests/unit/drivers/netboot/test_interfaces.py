"""The boot interfaces end to end on files: rendered configs match the
golden files, the local-boot switch, and clean-up of exactly what was
written. Set BOOTFLOW_REGEN_GOLDEN=1 to rewrite the golden files after an
intended change (and review the diff)."""

import os
import pathlib

import pytest

from bootflow.common import atomic_file
from bootflow.common import exception
from bootflow.drivers.modules.netboot import files
from bootflow.drivers.modules.netboot import interfaces
from tests.unit.drivers.netboot import conftest

GOLDEN = pathlib.Path(__file__).parent / 'golden'
REGEN = os.environ.get('BOOTFLOW_REGEN_GOLDEN') == '1'
IFACES = {'ipxe': interfaces.IPXEBoot, 'pxe': interfaces.PXEBoot,
          'http': interfaces.HTTPBoot, 'grub-iso': interfaces.GrubISOBoot}


def tree(root):
    """``{relative path: text}`` of every file under ``root``."""
    root = pathlib.Path(root)
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


def snapshot(env, task):
    """Configs written, with the temp dir and node uuid made stable."""
    out = {}
    for name in ('http', 'tftp'):
        for rel, data in tree(env.tmp / name).items():
            if rel.startswith(task.node.uuid + '/'):
                continue   # hard-linked images, checked separately
            text = data.decode().replace(str(env.tmp), '@TMP@')
            out['%s/%s' % (name, rel)] = text
    return out


def check_golden(name, written):
    path = GOLDEN / name
    text = ''.join('==> %s <==\n%s' % (k, v)
                   for k, v in sorted(written.items()))
    if REGEN:
        path.write_text(text)
    assert text == path.read_text(), 'differs from golden %s' % path


@pytest.mark.parametrize('name', sorted(IFACES))
def test_ramdisk_configs_match_golden(env, task, name):
    iface = IFACES[name]()
    iface.validate(task)
    iface.prepare_ramdisk(task, {})
    check_golden('%s-ramdisk.txt' % name, snapshot(env, task))
    device = 'uefi-http' if name in ('http', 'grub-iso') else 'pxe'
    assert task.driver.management.calls == [(device, False)]


@pytest.mark.parametrize('name', sorted(IFACES))
def test_local_boot_configs_match_golden(env, task, name):
    iface = IFACES[name]()
    iface.prepare_ramdisk(task, {})
    iface.prepare_instance(task)
    check_golden('%s-local.txt' % name, snapshot(env, task))
    # The ramdisk's kernel and initrd are gone with its config.
    assert not (env.tmp / 'http' / task.node.uuid).exists()
    assert task.driver.management.calls[-1] == ('disk', True)


def test_boot_files_are_hard_links_of_one_master(env, task):
    interfaces.IPXEBoot().prepare_ramdisk(task, {})
    kernel = env.tmp / 'http' / task.node.uuid / 'deploy_kernel'
    assert kernel.read_bytes() == b'vmlinuz' * 100
    assert os.stat(kernel).st_nlink == 2


@pytest.mark.parametrize('name', sorted(IFACES))
def test_clean_up_removes_exactly_what_was_written(env, task, name):
    before = {'http/unrelated.txt': 'keep', 'tftp/pxelinux.cfg/default':
              'keep'}
    for rel, text in before.items():
        atomic_file.write(str(env.tmp / rel), text, parents=True)
    iface = IFACES[name]()
    iface.prepare_ramdisk(task, {})
    # The node's ports change in between; clean-up still finds its files.
    task.ports = []
    iface.clean_up_ramdisk(task)
    # Only the bootstrap scripts all nodes share stay.
    left = {k: v for k, v in snapshot(env, task).items()
            if k not in ('http/boot.ipxe', 'http/grub/grub.cfg')}
    assert left == before
    assert files.RECORD_KEY not in task.node.driver_internal_info


def test_rebuild_switches_back_to_the_ramdisk(env, task):
    iface = interfaces.IPXEBoot()
    iface.prepare_ramdisk(task, {})
    ramdisk = snapshot(env, task)
    iface.prepare_instance(task)
    assert snapshot(env, task) != ramdisk
    iface.prepare_ramdisk(task, {})
    assert snapshot(env, task) == ramdisk


def test_grub_iso_instance_keeps_booting_its_iso(env, task):
    task.node.instance_info = {
        'boot_iso': 'file://%s' % (env.images / 'live.iso'),
        'boot_iso_kernel': '/casper/vmlinuz',
        'boot_iso_ramdisk': '/casper/initrd', 'kernel_append_params': 'q'}
    iface = interfaces.GrubISOBoot()
    iface.validate(task)
    iface.prepare_instance(task)
    check_golden('grub-iso-instance.txt', snapshot(env, task))
    assert (env.tmp / 'http' / task.node.uuid / 'boot.iso').read_bytes() \
        == b'live.iso' * 100
    assert task.driver.management.calls[-1] == ('uefi-http', True)


def test_uefi_dhcp_options(env, task):
    task.node.boot_mode = 'uefi'
    assert interfaces.IPXEBoot().dhcp_options(task) == [
        {'opt_name': 'tag:!ipxe,bootfile-name', 'opt_value': 'snponly.efi'},
        {'opt_name': 'tftp-server', 'opt_value': '192.0.2.1'},
        {'opt_name': 'server-ip-address', 'opt_value': '192.0.2.1'},
        {'opt_name': 'tag:ipxe,bootfile-name',
         'opt_value': 'http://192.0.2.1:8088/boot.ipxe'}]
    assert interfaces.PXEBoot().dhcp_options(task)[0]['opt_value'] == \
        'grubx64.efi'
    task.node.boot_mode = 'bios'
    assert interfaces.PXEBoot().dhcp_options(task)[0]['opt_value'] == \
        'lpxelinux.0'


@pytest.mark.parametrize('key,value', [
    ('kernel_append_params', 'quiet\ninitrd http://evil/x'),
    ('kernel_append_params', 'x=${net0/mac}'),
    ('bootos_pre_script', 'http://h/x;reboot'),
    ('bootos_post_script', 'file:///etc/shadow'),
    ('deploy_kernel', 'file:///etc/shadow'),
    ('deploy_ramdisk', 'ftp://h/initrd'),
    ('deploy_kernel', None),
])
def test_validate_refuses_bad_driver_info(env, task, key, value):
    task.node.driver_info[key] = value
    with pytest.raises(exception.InvalidParameterValue):
        interfaces.IPXEBoot().validate(task)
    assert tree(env.tmp / 'http') == {}


@pytest.mark.parametrize('info', [
    {'boot_iso_kernel': '/casper/../../x', 'boot_iso_ramdisk': '/i'},
    {'boot_iso_kernel': 'casper/vmlinuz', 'boot_iso_ramdisk': '/i'},
    {'boot_iso_kernel': '/k'},
    {'boot_iso_kernel': '/k;reboot', 'boot_iso_ramdisk': '/i'},
])
def test_grub_iso_refuses_bad_iso_paths(env, task, info):
    task.node.instance_info = dict(info, boot_iso='file://%s'
                                   % (env.images / 'live.iso'))
    with pytest.raises(exception.InvalidParameterValue):
        interfaces.GrubISOBoot().validate(task)


def test_no_pxe_port_is_refused(env, task):
    task.ports = [dict(p, pxe_enabled=False) for p in task.ports]
    with pytest.raises(exception.MissingParameterValue):
        interfaces.PXEBoot().validate(task)


def test_dnsmasq_provider_gets_the_ipxe_chain(env, task, conf):
    """With dnsmasq the iPXE chain is published as tagged options: the
    files dnsmasq reads name undionly.kpxe for plain PXE firmware and the
    boot.ipxe URL for clients that already run iPXE."""
    from bootflow.dhcp import base as dhcp_base
    hosts, opts = env.tmp / 'hosts', env.tmp / 'opts'
    hosts.mkdir()
    opts.mkdir()
    conf.set_override('dhcp_provider', 'dnsmasq', 'dhcp')
    conf.set_override('dhcp_hostsdir', str(hosts), 'dnsmasq')
    conf.set_override('dhcp_optsdir', str(opts), 'dnsmasq')
    dhcp_base.reset()
    try:
        interfaces.IPXEBoot().prepare_ramdisk(task, {})
        text = (opts / task.node.uuid).read_text()
        assert 'tag:!ipxe,option:bootfile-name,undionly.kpxe' in text
        assert 'tag:ipxe,option:bootfile-name,' \
            'http://192.0.2.1:8088/boot.ipxe' in text
        assert sorted(p.name for p in hosts.iterdir()) == [
            '%s-%s' % (task.node.uuid, m.replace(':', '-'))
            for m in sorted(conftest.MACS)]
        interfaces.IPXEBoot().prepare_instance(task)
        for path in hosts.iterdir():
            assert path.read_text().strip().endswith(',ignore'), path
    finally:
        dhcp_base.reset()


def test_failed_download_leaves_nothing_clean_up_misses(env, task):
    task.node.driver_info['deploy_ramdisk'] = 'file://%s' % (
        env.images / 'missing')
    with pytest.raises(exception.BootflowException):
        interfaces.IPXEBoot().prepare_ramdisk(task, {})
    assert (env.tmp / 'http' / task.node.uuid).exists()
    interfaces.IPXEBoot().clean_up_ramdisk(task)
    assert tree(env.tmp / 'http') == {}
    assert not (env.tmp / 'http' / task.node.uuid).exists()


def test_boot_images_are_verified_against_their_checksums(env, task):
    import hashlib
    good = hashlib.sha256(b'vmlinuz' * 100).hexdigest()
    task.node.driver_info['deploy_kernel_checksum'] = 'sha256:' + good
    interfaces.IPXEBoot().prepare_ramdisk(task, {})
    task.node.driver_info['deploy_kernel_checksum'] = 'sha256:' + '0' * 64
    with pytest.raises(exception.ImageChecksumError):
        interfaces.IPXEBoot().prepare_ramdisk(task, {})
    # The earlier boot's script went first: no script points at a kernel
    # that failed its check.
    assert not list((env.tmp / 'http' / 'ipxe').glob('*.ipxe'))
    interfaces.IPXEBoot().clean_up_ramdisk(task)
    assert tree(env.tmp / 'http') == {'boot.ipxe': tree(
        env.tmp / 'http')['boot.ipxe']}
