"""Disks: the install targets templates partition and root hints pick.

sysfs is the source of truth (always there, even in a minimal ramdisk);
``lsblk`` only fills what sysfs lacks (the udev-derived serial and WWN).
"""

import json
import re

from bootflow.agent.collectors import base
from bootflow.agent import system as system_mod

LSBLK = ['lsblk', '-J', '-b', '-d', '-o',
         'NAME,SIZE,ROTA,TYPE,MODEL,SERIAL,WWN,VENDOR,HCTL,TRAN']
_VIRTUAL_PREFIXES = ('loop', 'ram', 'zram', 'dm-', 'md', 'nbd', 'fd')
_HCTL = re.compile(r'^\d+:\d+:\d+:\d+$')
_SCSI_TYPE_ROM = '5'
_BY_PATH = 'dev/disk/by-path'


def _skip_reason(system, name):
    """Why /sys/block/<name> is not a disk one could install on, or None.

    Virtual devices (loop, zram, device-mapper, md arrays built on top of
    the real disks) have no hardware behind them; optical drives and
    read-only removable media cannot be written.
    """
    where = system.resolve('sys/block/' + name)
    if '/devices/virtual/' in '/' + where + '/' or \
            name.startswith(_VIRTUAL_PREFIXES):
        return 'virtual'
    dev = 'sys/block/%s/' % name
    if name.startswith('sr') or \
            system.value(dev + 'device/type') == _SCSI_TYPE_ROM:
        return 'optical'
    if system.value(dev + 'removable') == '1' and \
            system.value(dev + 'ro') == '1':
        return 'read-only removable'
    if not base.parse_int(system.value(dev + 'size')):
        return 'no medium'
    return None


def _wwn(system, dev):
    """WWN the way lsblk spells it: ``naa.5000c5...`` -> ``0x5000c5...``."""
    wwid = system.value(dev + 'device/wwid') or system.value(dev + 'wwid')
    if not wwid:
        return None
    if wwid.startswith('naa.'):
        return '0x' + wwid[4:]
    return wwid


def _by_path(system):
    """Map ``/dev/<name>`` -> its ``/dev/disk/by-path`` link, when udev ran."""
    links = {}
    for entry in system.listdir(_BY_PATH):
        target = system.resolve('%s/%s' % (_BY_PATH, entry))
        if target.startswith('dev/') and '-part' not in entry:
            links.setdefault('/' + target, '/%s/%s' % (_BY_PATH, entry))
    return links


def _sysfs_disk(system, name, by_path):
    dev = 'sys/block/%s/' % name
    hctl = system.resolve(dev + 'device').rsplit('/', 1)[-1]
    return {
        'name': '/dev/' + name,
        'model': system.value(dev + 'device/model'),
        'size': base.parse_int(system.value(dev + 'size')) * 512,
        'rotational': system.value(dev + 'queue/rotational') == '1',
        'wwn': _wwn(system, dev),
        'serial': (system.value(dev + 'device/serial')
                   or system.value(dev + 'serial')),
        'vendor': system.value(dev + 'device/vendor'),
        'hctl': hctl if _HCTL.match(hctl) else None,
        'by_path': by_path.get('/dev/' + name),
    }


def _lsblk(system, notes):
    """lsblk rows by device name; {} (and a note) when unavailable."""
    result = system.run_result(LSBLK)
    if not (result.found and result.rc == 0):
        notes.append('%s: disk serial and wwn from sysfs only'
                     % system_mod.describe_failure(LSBLK[:1], result))
        return {}
    try:
        rows = json.loads(result.stdout)['blockdevices']
    except (ValueError, KeyError, TypeError):
        notes.append('lsblk -J output unparsable: disk serial and wwn from '
                     'sysfs only')
        return {}
    return {row.get('name'): row for row in rows if isinstance(row, dict)}


def _enrich(disk, row):
    """Fill the gaps sysfs left with lsblk's (udev) view of the disk."""
    for key in ('model', 'serial', 'wwn', 'vendor', 'hctl'):
        extra = row.get(key)
        extra = extra.strip() if isinstance(extra, str) else None
        if not extra:
            continue
        mine = disk[key]
        # SCSI INQUIRY cuts models at 16 characters; udev has them whole
        if mine is None or (key == 'model' and len(extra) > len(mine)
                            and extra.startswith(mine)):
            disk[key] = extra


def disks(system, context=None):
    """disks[{name, model, size, rotational, wwn, serial, vendor, hctl,
    by_path}], sizes in bytes, in /sys/block order."""
    notes = []
    lsblk = _lsblk(system, notes)
    by_path = _by_path(system)
    found, skipped = [], []
    for name in system.listdir('sys/block'):
        reason = _skip_reason(system, name)
        if reason is None and lsblk.get(name, {}).get('type') == 'rom':
            reason = 'optical'
        if reason:
            skipped.append('%s (%s)' % (name, reason))
            continue
        disk = _sysfs_disk(system, name, by_path)
        _enrich(disk, lsblk.get(name, {}))
        found.append(disk)
    if skipped:
        notes.append('block devices skipped as not disks: %s'
                     % ', '.join(skipped))
    if not found:
        notes.append('no disks found in sys/block')
    return found, notes
