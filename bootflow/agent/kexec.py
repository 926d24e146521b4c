"""Warm reboot: start the deployed kernel with kexec, skipping firmware.

A real server spends minutes in POST between the ramdisk and the
instance; kexec jumps from the running BootOS kernel straight into the
kernel the image carries. The agent only *loads* the kernel while the
``system.finish`` command runs, so the conductor learns from the result
whether the node will come up warm or must be power-cycled; the jump
itself happens after that result was accepted (:func:`execute`).

Finding the kernel is best effort by design: a whole-disk image is
opaque, so each partition of the root disk is mounted read-only and
searched for what distributions install (``/boot/vmlinuz-*`` with its
initrd, or the ``/vmlinuz`` symlinks), and the command line comes from
the image's own boot configuration. When nothing fits, the node takes
the normal reboot path.
"""

import logging
import os
import re
import shlex
import tempfile
import time

from bootflow.agent.config import base

LOG = logging.getLogger(__name__)

# Directories (relative to a partition's root) where kernels live: the
# root filesystem's /boot, or a separate /boot partition's own root.
KERNEL_DIRS = ('boot', '')
GRUB_CONFIGS = ('boot/grub/grub.cfg', 'boot/grub2/grub.cfg',
                'grub/grub.cfg', 'grub2/grub.cfg')
LINUX_COMMANDS = ('linux', 'linux16', 'linuxefi')
FALLBACK_REBOOT_DELAY = 5.0


class NotFound(Exception):
    """No kernel to kexec into; the message says what was looked at."""


def _version_key(name):
    """Sort kernel file names by their version numbers, newest last."""
    return [int(part) if part.isdigit() else part
            for part in re.split(r'(\d+)', name)]


def find_kernel(mount_dir):
    """(kernel, initrd or None) inside one mounted filesystem, or None.

    A ``vmlinuz`` symlink names the distribution's default kernel; without
    one, the newest ``vmlinuz-<version>`` wins.
    """
    for sub in KERNEL_DIRS:
        where = os.path.join(mount_dir, sub)
        try:
            names = os.listdir(where)
        except OSError:
            continue
        if 'vmlinuz' in names and os.path.exists(
                os.path.join(where, 'vmlinuz')):
            kernel = os.path.realpath(os.path.join(where, 'vmlinuz'))
            initrd = os.path.join(where, 'initrd.img')
            return kernel, (os.path.realpath(initrd)
                            if os.path.exists(initrd) else None)
        versions = sorted((n for n in names if n.startswith('vmlinuz-')),
                          key=_version_key)
        if versions:
            version = versions[-1][len('vmlinuz-'):]
            kernel = os.path.join(where, versions[-1])
            for candidate in ('initrd.img-%s' % version,
                              'initramfs-%s.img' % version,
                              'initrd-%s' % version):
                if candidate in names:
                    return kernel, os.path.join(where, candidate)
            return kernel, None
    return None


def grub_cmdline(text):
    """The arguments of the first ``linux`` line of a grub.cfg, without
    the kernel path and without words GRUB would expand at boot time
    (``$vars``): those cannot be evaluated here."""
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if len(words) >= 2 and words[0] in LINUX_COMMANDS:
            return ' '.join(w for w in words[2:] if '$' not in w)
    return None


def find_cmdline(mount_dir):
    """The image's kernel command line: systemd's /etc/kernel/cmdline, else
    the image's grub.cfg; None when neither says."""
    try:
        with open(os.path.join(mount_dir, 'etc/kernel/cmdline')) as f:
            text = f.read().strip()
        if text:
            return text
    except OSError:
        pass
    for name in GRUB_CONFIGS:
        try:
            with open(os.path.join(mount_dir, name),
                      errors='replace') as f:
                found = grub_cmdline(f.read())
        except OSError:
            continue
        if found is not None:
            return found
    return None


def partitions(device, sys_root='/sys'):
    """The partition device paths of a disk, in partition order."""
    name = os.path.basename(device)
    block = os.path.join(sys_root, 'block', name)
    try:
        entries = os.listdir(block)
    except OSError:
        return []
    found = []
    for entry in entries:
        try:
            with open(os.path.join(block, entry, 'partition')) as f:
                number = int(f.read().strip())
        except (OSError, ValueError):
            continue
        found.append((number, os.path.join(os.path.dirname(device), entry)))
    return [path for _number, path in sorted(found)]


def _fs_uuid(tools, partition):
    rc, out, _err = tools.call(['blkid', '-s', 'UUID', '-o', 'value',
                                partition])
    return out.strip() if rc == 0 and out.strip() else None


def _load(tools, kernel, initrd, cmdline):
    argv = ['kexec', '-l', kernel, '--command-line=%s' % cmdline]
    if initrd:
        argv.insert(3, '--initrd=%s' % initrd)
    rc, _out, err = tools.call(argv, timeout=120)
    if rc != 0:
        raise NotFound('kexec -l %s failed (rc %s): %s'
                       % (kernel, rc, err.strip()[-300:]))


def _try_partition(tools, partition, mount_dir):
    """Load the kernel found on partition; its description, or None when
    the partition holds no kernel. Always unmounts."""
    rc, _out, _err = tools.call(['mount', '-o', 'ro', partition, mount_dir])
    if rc != 0:
        return None
    try:
        found = find_kernel(mount_dir)
        if found is None:
            return None
        kernel, initrd = found
        cmdline = find_cmdline(mount_dir)
        if cmdline is None:
            uuid = _fs_uuid(tools, partition)
            cmdline = 'root=UUID=%s ro' % uuid if uuid else \
                'root=%s ro' % partition
        _load(tools, kernel, initrd, cmdline)
        inside = os.path.relpath(kernel, mount_dir)
        return {'loaded': True, 'partition': partition,
                'kernel': '/' + inside, 'cmdline': cmdline,
                'initrd': ('/' + os.path.relpath(initrd, mount_dir)
                           if initrd else None)}
    finally:
        tools.call(['umount', mount_dir])


def prepare(device, tools=None, sys_root='/sys'):
    """Load the deployed kernel from ``device`` for a later :func:`execute`.

    Returns the result the conductor records: ``loaded`` True with what
    was loaded, or False with the ``reason``, in which case the node is
    power-cycled instead.
    """
    tools = tools or base.Tools()
    if tools.which('kexec') is None:
        return {'loaded': False, 'reason': 'kexec is not in this BootOS'}
    if not device:
        return {'loaded': False, 'reason': 'no image was written on this '
                                           'boot: nothing to kexec into'}
    parts = partitions(device, sys_root)
    if not parts:
        return {'loaded': False,
                'reason': '%s has no partitions to look for a kernel in'
                % device}
    tried = []
    mount_dir = tempfile.mkdtemp(prefix='kexec-')
    try:
        for partition in parts:
            try:
                found = _try_partition(tools, partition, mount_dir)
            except (NotFound, base.ConfigError) as exc:
                return {'loaded': False, 'reason': str(exc)}
            if found:
                LOG.info('kexec: loaded %s from %s (%s)', found['kernel'],
                         partition, found['cmdline'])
                return found
            tried.append(partition)
    finally:
        os.rmdir(mount_dir)
    return {'loaded': False, 'reason': 'no kernel (vmlinuz) found on %s'
            % ', '.join(tried)}


def execute(tools=None, sleep=time.sleep):
    """Jump into the loaded kernel. Returns only if that failed, after
    falling back to a plain reboot (the conductor already set the
    instance's boot device, so the disk boots)."""
    tools = tools or base.Tools()
    os.sync()
    LOG.info('kexec: starting the deployed kernel')
    try:
        rc, _out, err = tools.call(['kexec', '-e'], timeout=60)
    except base.ConfigError as exc:
        rc, err = None, str(exc)
    LOG.error('kexec -e failed (rc %s): %s; rebooting instead', rc,
              (err or '').strip()[-300:])
    sleep(FALLBACK_REBOOT_DELAY)
    try:
        tools.call(['reboot', '-f'], timeout=60)
    except base.ConfigError as exc:
        LOG.error('reboot -f failed too: %s', exc)
