"""Cleaning a node's disks between tenants.

Two depths, as in Ironic: ``erase_metadata`` makes a disk look blank
(partition tables, filesystem and RAID signatures gone, so nothing boots
from it and no installer or tool mistakes old data for something live)
in seconds; ``erase_device`` destroys the data itself. The latter prefers
the drive's own secure erase, which also reaches blocks the host cannot
address (remapped sectors, flash over-provisioning) and is fast; an
overwrite with zeros reaches neither and takes hours, so it only happens
when the operator allowed it.
"""

import json
import logging
import os
import re
import time

from bootflow.agent.config import base
from bootflow.agent.config import disks
from bootflow.agent.imaging import disk
from bootflow.agent.imaging import ImageError

LOG = logging.getLogger(__name__)

MIB = 1024 * 1024
CHUNK = 4 * MIB
PROGRESS_INTERVAL = 0.5
SYS_BLOCK = '/sys/class/block'
# A secure erase runs as long as the drive needs; the tool's own timeout
# must not cut it short (hours for large spinning disks).
ERASE_TIMEOUT = 24 * 3600
ATA_PASSWORD = 'NULL'   # temporary; the erase clears it again
_FADVISE = getattr(os, 'POSIX_FADV_DONTNEED', None)


def _partitions(device):
    """Paths of the partitions the kernel knows on block device
    ``device`` (from sysfs; none for files)."""
    if not disk.is_block(device):
        return []
    real = os.path.realpath(device)
    top = os.path.join(SYS_BLOCK, os.path.basename(real))
    try:
        names = sorted(os.listdir(top))
    except OSError:
        return []
    found = []
    for name in names:
        if os.path.exists(os.path.join(top, name, 'partition')):
            path = os.path.join(os.path.dirname(real), name)
            if os.path.exists(path):
                found.append(path)
    return found


def _wipefs(path, tools):
    try:
        tools.run(['wipefs', '--all', '--force', path])
    except base.ConfigError as exc:
        raise ImageError('cannot wipe the signatures of %s: %s'
                         % (path, exc)) from None


def _partition_ranges(device, tools):
    """(offset, size) in bytes of the partitions in ``device``'s table,
    whatever the kernel knows of them (nothing, for a file)."""
    try:
        table = disks.read_table(device, tools)
    except (base.ConfigError, ValueError, KeyError) as exc:
        LOG.warning('%s: cannot read the partition table: %s', device, exc)
        return []
    if not table:
        return []
    sector = table['sectorsize']
    return [(p['start'] * sector, p['size'] * sector)
            for p in table['partitions']]


def _zero_ends(fd, offset, size):
    """Zero the first and last MiB of a range: where filesystems, RAID
    members, LVM and partition tables keep their signatures."""
    head = min(MIB, size)
    disk.zero_range(fd, offset, head)
    tail = max(size - MIB, head)
    if tail < size:
        disk.zero_range(fd, offset + tail, size - tail)


def erase_metadata(device, tools):
    """Make ``device`` look blank; returns the method, 'metadata'."""
    # partitions first: their filesystems' signatures are only found
    # through them, and wiping the table first would hide them
    ranges = _partition_ranges(device, tools) if tools.which(
        'sfdisk') else []
    for part in _partitions(device):
        _wipefs(part, tools)
    _wipefs(device, tools)
    fd = disk.open_device(device)
    try:
        size = disk.device_size(fd)
        # what wipefs cannot reach without partition nodes (files, a
        # kernel with a stale view of the disk)
        for offset, length in ranges:
            if 0 <= offset < size:
                _zero_ends(fd, offset, min(length, size - offset))
        _zero_ends(fd, 0, size)
        disk.sync(fd)
    except OSError as exc:
        raise ImageError('cannot zero the ends of %s: %s'
                         % (device, exc.strerror or exc)) from None
    finally:
        os.close(fd)
    disk.reread_partitions(device, tools)
    return 'metadata'


def _nvme_erase(device, tools):
    """'nvme-format' after a user data erase, or None when the drive
    cannot format."""
    name = os.path.basename(os.path.realpath(device))
    if not name.startswith('nvme') or not tools.which('nvme'):
        return None
    rc, out, _err = tools.call(['nvme', 'id-ctrl', device, '-o', 'json'])
    if rc == 0:
        try:
            oacs = int(json.loads(out).get('oacs', 0))
        except (ValueError, TypeError, AttributeError):
            oacs = 0x2
        if not oacs & 0x2:      # Format NVM not supported
            LOG.info('%s: the controller does not support Format NVM',
                     device)
            return None
    argv = ['nvme', 'format', device, '-s', '1']
    try:
        # --force skips the confirmation prompt of newer nvme-cli; older
        # ones neither ask nor know the option
        rc, _out, err = tools.call(argv + ['--force'], timeout=ERASE_TIMEOUT)
        if rc != 0 and ('unrecognized' in err or 'invalid option' in err):
            rc, _out, err = tools.call(argv, timeout=ERASE_TIMEOUT)
    except base.ConfigError as exc:
        rc, err = -1, str(exc)
    if rc != 0:
        raise ImageError('NVMe secure erase (nvme format -s 1) of %s '
                         'failed (exit %d): %s' % (device, rc,
                                                   err.strip()))
    return 'nvme-format'


def _ata_security(device, tools):
    """hdparm -I's output, whitespace folded, or None."""
    if not tools.which('hdparm'):
        return None
    rc, out, _err = tools.call(['hdparm', '-I', device])
    if rc != 0:
        return None
    return ' '.join(out.split())


def _ata_timeout(info):
    match = re.search(r'(\d+)\s*min for ENHANCED SECURITY ERASE', info)
    if not match:
        return ERASE_TIMEOUT
    return max(3600, int(match.group(1)) * 60 * 2)


def _ata_erase(device, tools):
    """'ata-secure-erase-enhanced', or None when the drive lacks it or
    is frozen (a frozen drive accepts no security command until it is
    power cycled)."""
    info = _ata_security(device, tools)
    if not info or 'supported: enhanced erase' not in info:
        return None
    if 'not frozen' not in info:
        LOG.warning('%s supports enhanced secure erase but is frozen; a '
                    'suspend/resume or power cycle unfreezes it', device)
        return None
    if 'not locked' not in info:
        raise ImageError('%s is locked by an ATA security password; unlock '
                         'it before erasing' % device)
    base_argv = ['hdparm', '--user-master', 'u']
    try:
        if 'not enabled' in info:
            tools.run(base_argv + ['--security-set-pass', ATA_PASSWORD,
                                   device])
        tools.run(base_argv + ['--security-erase-enhanced', ATA_PASSWORD,
                               device], timeout=_ata_timeout(info))
        # the erase clears the password; a drive that kept it would lock
        # itself at its next power cycle
        after = _ata_security(device, tools) or ''
        if 'not enabled' not in after:
            tools.run(base_argv + ['--security-disable', ATA_PASSWORD,
                                   device])
    except base.ConfigError as exc:
        raise ImageError('ATA enhanced secure erase of %s failed: %s (the '
                         'drive may keep the temporary password %r)'
                         % (device, exc, ATA_PASSWORD)) from None
    return 'ata-secure-erase-enhanced'


def _discard_erase(device, tools):
    if not tools.which('blkdiscard'):
        return None
    rc, _out, err = tools.call(['blkdiscard', '--secure', device],
                               timeout=ERASE_TIMEOUT)
    if rc != 0:
        LOG.info('%s: no secure discard: %s', device, err.strip())
        return None
    return 'secure-discard'


def _hardware_erase(device, tools):
    if not disk.is_block(device):
        return None
    for method in (_nvme_erase, _ata_erase, _discard_erase):
        done = method(device, tools)
        if done:
            return done
    return None


def _progress(callback, device, total):
    last = [0.0]

    def report(done, force=False):
        if callback is None:
            return
        now = time.monotonic()
        if force or now - last[0] >= PROGRESS_INTERVAL:
            last[0] = now
            callback({'phase': 'erasing', 'device': device,
                      'bytes_written': done, 'bytes_total': total})
    return report


def zero_device(device, progress=None):
    """Overwrite all of ``device`` with zeros."""
    fd = disk.open_device(device)
    try:
        size = disk.device_size(fd)
        report = _progress(progress, device, size)
        chunk = memoryview(bytes(CHUNK))
        offset = 0
        while offset < size:
            length = min(CHUNK, size - offset)
            disk.write_all(fd, chunk[:length], offset)
            if _FADVISE:
                try:
                    os.posix_fadvise(fd, offset, length, _FADVISE)
                except OSError:
                    pass    # only keeps the page cache small
            offset += length
            report(offset)
        disk.sync(fd)
        report(size, force=True)
    except OSError as exc:
        raise ImageError('overwriting %s with zeros failed at byte %d: %s; '
                         'the disk is partly erased, erase it again'
                         % (device, offset, exc.strerror or exc)) from None
    finally:
        os.close(fd)


def erase_device(device, tools, allow_shred=False, progress=None):
    """Destroy the data on ``device``; returns how."""
    method = _hardware_erase(device, tools)
    if method:
        erase_metadata(device, tools)
        return method
    if not allow_shred:
        raise ImageError('%s has no hardware secure erase (no NVMe format, '
                         'no ATA enhanced security erase, no secure '
                         'discard) and overwriting it was not allowed; set '
                         '[deploy]erase_devices_allow_shred (or the clean '
                         'step\'s allow_shred argument) to overwrite it '
                         'with zeros instead; nothing was erased' % device)
    zero_device(device, progress)
    disk.reread_partitions(device, tools)
    return 'zero-overwrite'
