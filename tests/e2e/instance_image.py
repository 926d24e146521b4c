"""The whole-disk image the lab machines get deployed: small, but real.

An MBR disk with one ext4 partition holding what a distribution installs
— ``/boot/vmlinuz-<abi>`` (the Debian kernel), its initrd and a
``grub.cfg`` naming the kernel's command line — so that BootOS can find
the kernel and kexec into it. A cold boot runs the MBR's code instead,
which prints :data:`assets.DISK_MARKER` on COM1: the serial console tells
which of the two ways the machine came up.

The instance's initrd prints :data:`INSTANCE_MARKER` and its command line,
then idles like a booted server (it does not power off: the conductor
would see the node off and the power sync would act on it).
"""

import gzip
import os
import subprocess
from pathlib import Path

from bootflow.bootos.build.common import sha256_file
from tests.e2e import assets

INSTANCE_MARKER = 'BOOTFLOW-E2E-INSTANCE-UP'
CMDLINE_TAG = assets.CMDLINE_TAG
KEXEC_PARAM = 'bootflow_e2e_booted=kexec'
MIB = 1024 * 1024
PARTITION_START = MIB
FS_UUID = '0fb1e2e0-0000-4000-8000-00000000e2e0'

INSTANCE_INIT = """#!/bin/sh
# The deployed instance: say so, show the command line, idle.
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb dmesg -n 1
echo
echo %(marker)s
echo "%(tag)s $($bb cat /proc/cmdline)"
while :; do $bb sleep 3600; done
""" % {'marker': INSTANCE_MARKER, 'tag': CMDLINE_TAG}


def _instance_initrd(busybox):
    cpio = assets.Cpio()
    for name in ('bin', 'dev', 'proc'):
        cpio.directory(name)
    cpio.chardev('dev/console', 5, 1)
    cpio.file('bin/busybox', Path(busybox).read_bytes(), 0o755)
    cpio.symlink('bin/sh', 'busybox')
    cpio.file('init', INSTANCE_INIT.encode(), 0o755)
    return gzip.compress(cpio.finish(), mtime=0)


def _grub_cfg(kernel_name, initrd_name):
    return ("set timeout=0\n"
            "menuentry 'bootflow e2e instance' {\n"
            "    linux /boot/%s root=UUID=%s ro console=ttyS0,115200 "
            "%s $extra_args\n"
            "    initrd /boot/%s\n"
            "}\n" % (kernel_name, FS_UUID, KEXEC_PARAM, initrd_name))


def _mbr(total_sectors):
    """Boot code that prints the disk marker, plus one Linux partition."""
    code = assets.boot_sector_code(assets.DISK_MARKER)
    assert len(code) <= 446, 'boot code overlaps the partition table'
    start = PARTITION_START // 512
    entry = (b'\x00' + b'\xfe\xff\xff' + b'\x83' + b'\xfe\xff\xff'
             + start.to_bytes(4, 'little')
             + (total_sectors - start).to_bytes(4, 'little'))
    return code.ljust(446, b'\0') + entry.ljust(64, b'\0') + b'\x55\xAA'


def _mkfs(tree, dest, size):
    env = dict(os.environ, E2FSPROGS_FAKE_TIME='1700000000',
               PATH=os.environ.get('PATH', '') + ':/usr/sbin:/sbin')
    with open(dest, 'wb') as f:
        f.truncate(size)
    try:
        subprocess.run(['mkfs.ext4', '-q', '-F', '-U', FS_UUID, '-L',
                        'instance', '-E', 'hash_seed=%s' % FS_UUID,
                        '-d', str(tree), str(dest)],
                       check=True, capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise assets.Unavailable('mkfs.ext4 not found (install e2fsprogs)')
    except subprocess.CalledProcessError as exc:
        raise assets.Unavailable('mkfs.ext4 -d failed: %s' % exc.stderr)


def build(directory, size_mib=24):
    """Write ``instance.raw`` and ``instance.qcow2`` into directory;
    returns {'raw', 'qcow2', 'raw_sha256', 'qcow2_sha256', 'kernel'}."""
    directory = Path(directory)
    tree = directory / 'tree'
    boot = tree / 'boot'
    (boot / 'grub').mkdir(parents=True, exist_ok=True)
    kernel = assets.debian_kernel()
    abi = kernel.name[len('vmlinuz-'):]
    kernel_name, initrd_name = 'vmlinuz-' + abi, 'initrd.img-' + abi
    (boot / kernel_name).write_bytes(kernel.read_bytes())
    (boot / initrd_name).write_bytes(_instance_initrd(assets.find_busybox()))
    (boot / 'grub' / 'grub.cfg').write_text(_grub_cfg(kernel_name,
                                                      initrd_name))
    part = directory / 'part.ext4'
    size = size_mib * MIB
    _mkfs(tree, part, size - PARTITION_START)
    raw = directory / 'instance.raw'
    with open(raw, 'wb') as out:
        out.write(_mbr(size // 512).ljust(PARTITION_START, b'\0'))
        with open(part, 'rb') as f:
            while True:
                chunk = f.read(4 * MIB)
                if not chunk:
                    break
                out.write(chunk)
    part.unlink()
    qcow2 = directory / 'instance.qcow2'
    try:
        subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O',
                        'qcow2', str(raw), str(qcow2)], check=True,
                       capture_output=True, stdin=subprocess.DEVNULL)
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        raise assets.Unavailable('qemu-img convert failed: %s' % exc)
    return {'raw': raw, 'qcow2': qcow2, 'kernel': '/boot/' + kernel_name,
            'raw_sha256': sha256_file(raw),
            'qcow2_sha256': sha256_file(qcow2),
            'size': size}
