"""Real boots through GRUB: the ``grub-iso`` and ``http`` boot interfaces.

The VM's firmware (SeaBIOS, the NIC's iPXE ROM as plain PXE) loads GRUB
i386-pc (``core.0``, built here with grub-mkimage, prefix
``(http,10.0.2.100)/grub``) over QEMU's TFTP.  GRUB 2.06's normal mode
reads only ``$prefix/grub.cfg`` when the prefix is on http (its per-MAC
search is for tftp prefixes), so bootflow writes a bootstrap grub.cfg
that chains to the per-MAC ``grub.cfg-01-<mac>``; the boot shows it
works.

``grub-iso``: that config loops back the node's ``boot.iso`` over HTTP
(range requests against the service's own boot file server) and boots
the kernel and initrd inside it; an ISO padded far beyond what booting
reads shows GRUB seeks rather than downloading it.  ``http``: GRUB loads
``deploy_kernel`` and ``deploy_ramdisk`` over HTTP.  Both check the
kernel got bootflow's command line, then that after the deploy the same
file (``chainloader +1`` on ``(hd0)``) brings a network-first machine to
its disk, and that undeploy removes what was written for the node.
"""

import re
import shutil
from pathlib import Path

import pytest

from tests.e2e import assets
from tests.e2e.conftest import require
from tests.e2e.conftest import vm_mac
from tests.e2e.qemu import GUEST_HTTP_ADDR
from tests.e2e.test_netboot import APPEND
from tests.e2e.test_netboot import GUEST_API_URL
from tests.e2e.test_netboot import Netboot
from tests.e2e.test_netboot import STATE_TIMEOUT
from tests.e2e.test_netboot import _deploy_to_callback_wait
from tests.e2e.test_netboot import _enroll
from tests.e2e.test_netboot import _heartbeat
from tests.e2e.test_netboot import _service_config
from tests.e2e.test_netboot import _wait_unlocked_in
from tests.functional.conftest import _free_port
from tests.functional.conftest import start_service

pytestmark = pytest.mark.e2e

BOOTFILE = 'core.0'
GRUB_HTTP = '(http,%s)' % GUEST_HTTP_ADDR
GRUB_PREFIX = GRUB_HTTP + '/grub'
ISO_KERNEL, ISO_INITRD = '/casper/vmlinuz', '/casper/initrd'
RAMDISK_ONLY = ('linux', 'initrd', 'loopback')
KERNEL_START = '[    0.000000]'
# The built-in server's debug line for each request it answered.
_SERVED = re.compile(r'"GET (\S+) HTTP/1\.[01]" (\d{3}) (\d+) ')


def _hyphens(mac):
    return mac.lower().replace(':', '-')


class GrubNetboot(Netboot):
    """The service, and what the VM's TFTP serves: GRUB only."""

    def __init__(self, service, http_root, http_port, tftp_root):
        super().__init__(service, http_root, http_port)
        self.tftp_root = tftp_root

    def mac_config(self, mac):
        return self.http_root / 'grub' / ('grub.cfg-01-' + _hyphens(mac))

    def assert_bootstrap(self):
        """The shared grub.cfg GRUB reads first leads to the per-MAC
        config: GRUB names the MAC with colons, the file has dashes."""
        text = (self.http_root / 'grub' / 'grub.cfg').read_text()
        assert '"$net_default_mac"' in text, text
        assert 'configfile "$prefix/grub.cfg-01-$m1-$m2-$m3-$m4-$m5-$m6"' \
            in text, text

    def served(self, path):
        """[(status, bytes sent)] of each GET of path, from the whole
        service log (log_tail reads only its last 64 KiB)."""
        log = Path(self.service.log_path).read_text(errors='replace')
        return [(int(m.group(2)), int(m.group(3)))
                for m in _SERVED.finditer(log) if m.group(1) == path]


@pytest.fixture(scope='module')
def grub_tftp(tmp_path_factory):
    """A TFTP root holding only GRUB's PXE image."""
    tftp_root = tmp_path_factory.mktemp('e2e-grub-tftp')
    require(assets.build_grub_pxe, tftp_root / BOOTFILE, GRUB_PREFIX)
    return tftp_root


@pytest.fixture(scope='module')
def boot_iso(boot_files, tmp_path_factory):
    """The e2e kernel and initrd at Ubuntu's /casper paths, padded."""
    directory = tmp_path_factory.mktemp('e2e-iso')
    return require(assets.build_iso, directory / 'bootos.iso', {
        ISO_KERNEL: boot_files.kernel, ISO_INITRD: boot_files.initrd})


@pytest.fixture(scope='module')
def grubnet(boot_files, boot_iso, grub_tftp, tmp_path_factory):
    """A bootflow all-in-one logging each boot file request (debug)."""
    base = tmp_path_factory.mktemp('e2e-grub-service')
    http_root, http_port = base / 'httpboot', _free_port()
    config = _service_config(http_root, http_port, '%s,%s' % (
        boot_files.directory, boot_iso.parent))
    config['DEFAULT']['debug'] = 'true'
    service = start_service('sqlite', base, extra_config=config)
    try:
        yield GrubNetboot(service, http_root, http_port, grub_tftp)
    finally:
        service.stop()


def _enroll_iso(grubnet, iso, mac):
    """A grub-iso node whose BootOS is the ISO; return its UUID."""
    node = grubnet.cli.json(
        'node', 'create', '--driver', 'fake-hardware',
        '--boot-interface', 'grub-iso', '--deploy-interface', 'fake',
        '--driver-info', 'deploy_iso=file://%s' % iso,
        '--driver-info', 'fake_deploy_wait=true',
        '--driver-info', 'kernel_append_params=%s' % APPEND)
    grubnet.cli.run('port', 'create', '--node', node['uuid'], mac)
    return node['uuid']


def _commands(text):
    """A grub.cfg as [[word, ...], ...] per command, comments dropped."""
    lines = (line.split() for line in text.splitlines())
    return [words for words in lines if words and words[0][0] != '#']


def _linux_line(text):
    """The kernel path and parameters of the config's ``linux`` line."""
    found = [words[1:] for words in _commands(text) if words[0] == 'linux']
    assert len(found) == 1, text
    return found[0][0], found[0][1:]


def _assert_iso_config(grubnet, uuid, mac):
    """The per-MAC config loops back the node's ISO over HTTP; return
    the kernel command line GRUB should hand over."""
    text = grubnet.mac_config(mac).read_text()
    iso = '%s/%s/boot.iso' % (GRUB_HTTP, uuid)
    assert ['loopback', 'loop', iso] in _commands(text), text
    assert (grubnet.http_root / uuid / 'boot.iso').is_file()
    kernel, params = _linux_line(text)
    assert kernel == '(loop)$bf_kernel', text
    return ['BOOT_IMAGE=(loop)' + ISO_KERNEL] + params


def _assert_kernel_config(grubnet, uuid, mac):
    """The ``http`` interface's config names kernel and initrd on the
    service; return the command line GRUB should hand over."""
    text = grubnet.mac_config(mac).read_text()
    kernel, params = _linux_line(text)
    assert kernel == '%s/%s/deploy_kernel' % (GRUB_HTTP, uuid), text
    initrd = '%s/%s/deploy_ramdisk' % (GRUB_HTTP, uuid)
    assert ['initrd', initrd] in _commands(text), text
    return ['BOOT_IMAGE=' + kernel] + params


def _start(grubnet, machines, name, mac, disk):
    """A network-first VM whose TFTP hands out GRUB."""
    return machines.start(name, mac, grubnet.http_port, disk=disk,
                          tftp=grubnet.tftp_root, bootfile=BOOTFILE)


def _assert_cmdline(printed, expected, uuid, mac):
    """The kernel got the config's ``linux`` parameters, GRUB's
    BOOT_IMAGE in front, with bootflow's key parameters among them."""
    assert printed is not None, 'the initrd printed no command line'
    for param in ('BOOTIF=01-' + _hyphens(mac), 'SERVER_ADDR=' +
                  GUEST_API_URL, 'bootflow_node=' + uuid, APPEND):
        assert param in printed, (param, printed)
    assert printed == expected, (printed, expected)


def _grub_errors(serial):
    """GRUB's ``error:`` lines (before a kernel starts logging)."""
    grub_part = serial.split(KERNEL_START, 1)[0]
    return [line for line in grub_part.splitlines() if 'error:' in line]


def _boot_ramdisk(grubnet, machines, disk, uuid, mac, expected):
    """GRUB boots the ramdisk although the disk is bootable too."""
    vm = _start(grubnet, machines, 'ramdisk', mac, disk)
    vm.wait_for_text(assets.GRUB_MARKER)
    vm.wait_for_text(assets.INITRD_MARKER)
    assert vm.wait_exit() == 0, vm.describe()
    assert not _grub_errors(vm.serial()), vm.describe()
    assert assets.DISK_MARKER not in vm.serial(), vm.describe()
    _assert_cmdline(assets.printed_cmdline(vm.serial()), expected, uuid,
                    mac)
    return vm


def _assert_iso_seeked(grubnet, vm, uuid, iso, record_property):
    """GRUB read the ISO with range requests, and the whole boot moved
    fewer bytes than the ISO holds: it seeks, it does not download."""
    served = grubnet.served('/%s/boot.iso' % uuid)
    relayed = vm.relayed()
    total = sum(down for _, down in relayed)
    size = iso.stat().st_size
    record_property('e2e_iso', '%d GETs of boot.iso (%d answered 206), '
                    'server sent %d B; %d connections relayed %d B to '
                    'the guest; ISO %d B' % (
                        len(served), sum(s == 206 for s, _ in served),
                        sum(n for _, n in served), len(relayed), total,
                        size))
    assert sum(status == 206 for status, _ in served) >= 2, served
    assert total < size, (total, size, vm.describe())


def _assert_local_config(grubnet, uuid, mac):
    """After the deploy the same file chainloads the disk and names no
    kernel, and the node's persistent boot device is its disk."""
    text = grubnet.mac_config(mac).read_text()
    commands = _commands(text)
    assert ['set', 'root=(hd0)'] in commands, text
    assert ['chainloader', '+1'] in commands, text
    assert not [w for w in commands if w[0] in RAMDISK_ONLY], text
    assert 'http' not in text, text
    resp = grubnet.api.get('/v1/nodes/%s/management/boot_device' % uuid)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {'boot_device': 'disk', 'persistent': True}, \
        resp.json()


def _boot_disk(grubnet, machines, disk, mac):
    """Network first, as a BMC that kept PXE would: GRUB loads, reads
    the local entry, and the disk's boot sector runs."""
    vm = _start(grubnet, machines, 'deployed', mac, disk)
    vm.wait_for_text(assets.GRUB_MARKER)
    vm.wait_for_text(assets.DISK_MARKER)
    assert vm.wait_exit() == assets.DISK_EXIT_CODE, vm.describe()
    assert assets.INITRD_MARKER not in vm.serial(), vm.describe()
    assert not _grub_errors(vm.serial()), vm.describe()


def _undeploy(grubnet, uuid, mac):
    """Undeploy removes the node's config and files; the bootstrap (not
    the node's) stays."""
    grubnet.cli.run('node', 'undeploy', uuid, '--wait', STATE_TIMEOUT)
    _wait_unlocked_in(grubnet, uuid, 'available')
    for path in (grubnet.mac_config(mac), grubnet.http_root / uuid):
        assert not path.exists(), path
    left = sorted(p.name for p in grubnet.mac_config(mac).parent.iterdir())
    assert left == ['grub.cfg'], left


def _to_disk_and_back(grubnet, machines, disk, uuid, mac):
    """Heartbeat, the disk boots network-first, undeploy cleans up."""
    _heartbeat(grubnet, uuid)
    _wait_unlocked_in(grubnet, uuid, 'active')
    _assert_local_config(grubnet, uuid, mac)
    _boot_disk(grubnet, machines, disk, mac)
    _undeploy(grubnet, uuid, mac)


def test_grub_iso_deploy_boots_iso_then_local_disk(
        grubnet, boot_iso, disk_image, machines, record_property):
    record_property('e2e_grub', assets.grub_version())
    mac = vm_mac()
    uuid = _enroll_iso(grubnet, boot_iso, mac)
    try:
        _deploy_to_callback_wait(grubnet, uuid)
        grubnet.assert_bootstrap()
        expected = _assert_iso_config(grubnet, uuid, mac)
        vm = _boot_ramdisk(grubnet, machines, disk_image, uuid, mac,
                           expected)
        _assert_iso_seeked(grubnet, vm, uuid, boot_iso, record_property)
        _to_disk_and_back(grubnet, machines, disk_image, uuid, mac)
    finally:
        grubnet.api.delete_node_quietly(uuid)


def test_http_deploy_boots_kernel_then_local_disk(
        grubnet, boot_files, disk_image, machines):
    mac = vm_mac()
    uuid = _enroll(grubnet, boot_files, mac, boot_interface='http')
    try:
        _deploy_to_callback_wait(grubnet, uuid)
        grubnet.assert_bootstrap()
        expected = _assert_kernel_config(grubnet, uuid, mac)
        _boot_ramdisk(grubnet, machines, disk_image, uuid, mac, expected)
        _to_disk_and_back(grubnet, machines, disk_image, uuid, mac)
    finally:
        grubnet.api.delete_node_quietly(uuid)


def _built_bootos(directory):
    from bootflow.bootos import build
    try:
        return build.build(output=str(directory))
    except build.BuildError as exc:
        raise assets.Unavailable('cannot build BootOS: %s' % exc)


def test_grub_iso_boots_the_built_bootos_iso(grubnet, boot_iso, disk_image,
                                             machines, tmp_path):
    """bootflow-build-bootos's ISO, looped back by GRUB without a
    boot_iso_kernel hint: BootOS starts and its agent calls the API."""
    image = require(_built_bootos, tmp_path / 'bootos')
    iso = boot_iso.parent / 'built-bootos.iso'     # an allowed path
    shutil.copyfile(image['iso'], iso)
    mac = vm_mac()
    uuid = _enroll_iso(grubnet, iso, mac)
    try:
        _deploy_to_callback_wait(grubnet, uuid)
        assert 'set bf_kernel=/boot/vmlinuz' in \
            grubnet.mac_config(mac).read_text()
        api_port = int(grubnet.service.endpoint.rsplit(':', 1)[1])
        vm = machines.start('bootos-iso', mac, grubnet.http_port,
                            disk=disk_image, tftp=grubnet.tftp_root,
                            bootfile=BOOTFILE, memory_mib=1024,
                            api_port=api_port)
        vm.wait_for_text('BOOTOS: agent start')
        assert 'bootflow_node=%s' % uuid in vm.serial(), vm.describe()
        assert not _grub_errors(vm.serial()), vm.describe()
        # the API's lookup by the VM's MAC answered with this node
        vm.wait_for_text('This machine is node %s' % uuid)
    finally:
        grubnet.api.delete_node_quietly(uuid)
