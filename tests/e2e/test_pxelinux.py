"""A real network boot through the ``pxe`` boot interface (lpxelinux).

As test_netboot.py, but the VM's firmware (SeaBIOS with the NIC's iPXE
ROM as plain PXE) loads Debian's lpxelinux.0 over QEMU's TFTP, which
serves the service's own ``[pxe]tftp_root``: the test copies lpxelinux.0
and ldlinux.c32 there, exactly as an operator does, and bootflow writes
the per-MAC ``pxelinux.cfg/01-<mac>``.  lpxelinux fetches the kernel and
initrd that config names over HTTP from the service (10.0.2.100, relayed
to 127.0.0.1).  The test checks the ramdisk gets bootflow's command line
plus the ``BOOTIF`` that ``IPAPPEND 2`` makes lpxelinux add, and that
after the deploy ``LOCALBOOT 0`` brings a network-first machine to its
disk and never to the ramdisk again.
"""

import pytest

from tests.e2e import assets
from tests.e2e.conftest import require
from tests.e2e.conftest import vm_mac
from tests.e2e.qemu import GUEST_HTTP_URL
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

BOOTFILE = 'lpxelinux.0'
RAMDISK_ONLY = ('KERNEL', 'APPEND', 'INITRD', 'IPAPPEND')


def _hyphens(mac):
    return mac.lower().replace(':', '-')


class PxeNetboot(Netboot):
    """The service, plus the tftp_root it writes and the VM's TFTP serves."""

    def __init__(self, service, http_root, http_port, tftp_root):
        super().__init__(service, http_root, http_port)
        self.tftp_root = tftp_root

    def mac_config(self, mac):
        return self.tftp_root / 'pxelinux.cfg' / ('01-' + _hyphens(mac))

    def grub_config(self, mac):
        return self.tftp_root / 'grub' / ('grub.cfg-01-' + _hyphens(mac))


@pytest.fixture(scope='module')
def pxe(boot_files, tmp_path_factory):
    """A bootflow all-in-one whose tftp_root already holds lpxelinux.

    The boot loader is copied in before the service starts, so a machine
    without the packages skips before anything is started.
    """
    base = tmp_path_factory.mktemp('e2e-pxe-service')
    tftp_root = require(assets.install_pxelinux, base / 'tftpboot')
    http_root, http_port = base / 'httpboot', _free_port()
    config = _service_config(http_root, http_port, boot_files.directory)
    config['pxe'] = {'tftp_root': str(tftp_root)}
    service = start_service('sqlite', base, extra_config=config)
    try:
        yield PxeNetboot(service, http_root, http_port, tftp_root)
    finally:
        service.stop()


def _directives(text):
    """A pxelinux config as {KEYWORD: [argument, ...]}, comments dropped.

    pxelinux keywords are case-insensitive; each keeps its arguments as
    one string, in the order they appear.
    """
    found = {}
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if words and not words[0].startswith('#'):
            found.setdefault(words[0].upper(), []).append(
                words[1] if len(words) > 1 else '')
    return found


def _assert_ramdisk_config(pxe, uuid, mac):
    """The per-MAC config boots the node's ramdisk over HTTP; return
    (kernel URL, APPEND words) as the kernel should receive them."""
    text = pxe.mac_config(mac).read_text()
    found = _directives(text)
    node_url = '%s/%s/' % (GUEST_HTTP_URL, uuid)
    assert found.get('KERNEL') == [node_url + 'deploy_kernel'], text
    assert found.get('IPAPPEND') == ['2'], text
    assert len(found.get('APPEND', ())) == 1, text
    append = found['APPEND'][0].split()
    assert append[0] == 'initrd=' + node_url + 'deploy_ramdisk', text
    # pxelinux adds BOOTIF itself (IPAPPEND 2): twice would be wrong.
    assert not [w for w in append if w.startswith('BOOTIF=')], text
    return found['KERNEL'][0], append


def _start(pxe, machines, name, mac, disk):
    """A network-first VM whose TFTP is the service's tftp_root."""
    return machines.start(name, mac, pxe.http_port, disk=disk,
                          tftp=pxe.tftp_root, bootfile=BOOTFILE)


def _assert_cmdline(printed, config, uuid, mac):
    """The kernel got the config's APPEND, lpxelinux's BOOT_IMAGE in
    front and its BOOTIF behind, with bootflow's key parameters."""
    assert printed is not None, 'the initrd printed no command line'
    bootif = 'BOOTIF=01-' + _hyphens(mac)
    for param in (bootif, 'SERVER_ADDR=' + GUEST_API_URL,
                  'bootflow_node=' + uuid, APPEND):
        assert param in printed, (param, printed)
    assert printed.count(bootif) == 1, printed
    kernel_url, append = config
    assert printed == ['BOOT_IMAGE=' + kernel_url] + append + [bootif], \
        (printed, config)


def _boot_ramdisk(pxe, machines, disk, uuid, mac, config):
    """lpxelinux boots the ramdisk although the disk is bootable too."""
    vm = _start(pxe, machines, 'ramdisk', mac, disk)
    vm.wait_for_text(assets.INITRD_MARKER)
    assert vm.wait_exit() == 0, vm.describe()
    assert assets.DISK_MARKER not in vm.serial(), vm.describe()
    _assert_cmdline(assets.printed_cmdline(vm.serial()), config, uuid, mac)


def _assert_local_config(pxe, uuid, mac):
    """After the deploy the same file says LOCALBOOT and names no kernel,
    and the node's persistent boot device is its disk."""
    text = pxe.mac_config(mac).read_text()
    found = _directives(text)
    assert found.get('LOCALBOOT') == ['0'], text
    assert found.get('DEFAULT') == found.get('LABEL') == ['local'], text
    assert not set(RAMDISK_ONLY) & set(found), text
    assert not [arg for args in found.values() for arg in args
                if '://' in arg], text
    resp = pxe.api.get('/v1/nodes/%s/management/boot_device' % uuid)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {'boot_device': 'disk', 'persistent': True}, \
        resp.json()


def _boot_disk(pxe, machines, disk, mac):
    """Network first, as a BMC that kept PXE would: the disk must boot.

    lpxelinux still loads and reads the config (a pxelinux without one
    stops at "Boot failed" and never reaches the disk), so the disk
    marker shows ``LOCALBOOT 0`` handed the machine back to the BIOS.
    """
    assert (pxe.tftp_root / BOOTFILE).is_file()
    vm = _start(pxe, machines, 'deployed', mac, disk)
    vm.wait_for_text(assets.DISK_MARKER)
    assert vm.wait_exit() == assets.DISK_EXIT_CODE, vm.describe()
    assert assets.INITRD_MARKER not in vm.serial(), vm.describe()


def _undeploy(pxe, uuid, mac):
    """Undeploy removes the node's configs and images, and nothing of
    the operator's: the boot loader stays in tftp_root."""
    pxe.cli.run('node', 'undeploy', uuid, '--wait', STATE_TIMEOUT)
    _wait_unlocked_in(pxe, uuid, 'available')
    for path in (pxe.mac_config(mac), pxe.grub_config(mac),
                 pxe.http_root / uuid):
        assert not path.exists(), path
    cfg_dir = pxe.mac_config(mac).parent
    left = sorted(p.name for p in cfg_dir.iterdir()) \
        if cfg_dir.exists() else []
    assert left == [], left
    for name, _, _ in assets.PXELINUX_FILES:
        assert (pxe.tftp_root / name).is_file(), name


def test_pxelinux_deploy_boots_ramdisk_then_local_disk(
        pxe, boot_files, disk_image, machines):
    mac = vm_mac()
    uuid = _enroll(pxe, boot_files, mac, boot_interface='pxe')
    try:
        _deploy_to_callback_wait(pxe, uuid)
        config = _assert_ramdisk_config(pxe, uuid, mac)
        _boot_ramdisk(pxe, machines, disk_image, uuid, mac, config)
        _heartbeat(pxe, uuid)
        _wait_unlocked_in(pxe, uuid, 'active')
        _assert_local_config(pxe, uuid, mac)
        _boot_disk(pxe, machines, disk_image, mac)
        _undeploy(pxe, uuid, mac)
    finally:
        pxe.api.delete_node_quietly(uuid)
