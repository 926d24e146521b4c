"""The boot harness on its own, against a throwaway HTTP server.

These show that this machine can network-boot a VM at all (QEMU, iPXE,
the relay, the kernel, the initrd, the disk's boot sector), so that a
failure of the service test points at the service, not at the harness.
"""

import shutil

import pytest

from tests.e2e import assets
from tests.e2e import httpd
from bootflow.lab import relay
from tests.e2e.conftest import vm_mac
from tests.e2e.qemu import GUEST_HTTP_URL

pytestmark = pytest.mark.e2e

RAMDISK_SCRIPT = """#!ipxe
kernel %(url)s/k console=ttyS0 bootflow_harness=1
initrd %(url)s/i
boot
""" % {'url': GUEST_HTTP_URL}

# bootflow's "boot from the local disk" line; on failure the script
# fetches a URL of its own, so the server's log tells sanboot from the
# BIOS falling back to the disk after iPXE gave up.
SANBOOT_SCRIPT = """#!ipxe
sanboot --no-describe --drive 0x80 || chain %s/sanboot-failed
""" % GUEST_HTTP_URL


def test_relay_refuses_non_loopback_targets():
    """The VM must never be relayed anywhere but this host."""
    for host in ('10.0.2.2', '192.0.2.1', '0.0.0.0', 'localhost'):
        with pytest.raises(ValueError):
            relay.loopback_target(host, 80)
    assert relay.loopback_target('127.0.0.1', '8080') == ('127.0.0.1', 8080)
    assert relay.main(['relay.py', '192.0.2.1', '80']) == 2


def _www(tmp_path, boot_script, files=()):
    www = tmp_path / 'www'
    www.mkdir()
    (www / 'boot.ipxe').write_text(boot_script)
    for name, source in files:
        shutil.copyfile(source, www / name)
    return www


def test_ipxe_boots_kernel_and_initrd_over_http(
        boot_files, disk_image, machines, tmp_path):
    """iPXE chains from TFTP to HTTP, fetches both files, the kernel runs.

    The disk is bootable too: network first must win over it.
    """
    www = _www(tmp_path, RAMDISK_SCRIPT,
               [('k', boot_files.kernel), ('i', boot_files.initrd)])
    with httpd.FileServer(www) as server:
        vm = machines.start('harness-ramdisk', vm_mac(), server.port,
                            disk=disk_image)
        vm.wait_for_text(assets.INITRD_MARKER)
        assert vm.wait_exit() == 0, vm.describe()
    assert server.requests == ['/boot.ipxe', '/k', '/i']
    assert assets.printed_cmdline(vm.serial()) == [
        'console=ttyS0', 'bootflow_harness=1'], vm.describe()
    assert assets.DISK_MARKER not in vm.serial()


def test_ipxe_sanboot_boots_the_local_disk(disk_image, machines, tmp_path):
    """``sanboot --drive 0x80`` itself boots the disk, network first."""
    www = _www(tmp_path, SANBOOT_SCRIPT)
    (www / 'sanboot-failed').write_text('#!ipxe\nexit 1\n')
    with httpd.FileServer(www) as server:
        vm = machines.start('harness-sanboot', vm_mac(), server.port,
                            disk=disk_image)
        vm.wait_for_text(assets.DISK_MARKER)
        code = vm.wait_exit()
    assert code == assets.DISK_EXIT_CODE, vm.describe()
    assert server.requests == ['/boot.ipxe'], (
        'sanboot failed; the disk booted only because the BIOS fell back '
        'to it: %r' % server.requests)
    assert assets.INITRD_MARKER not in vm.serial()
