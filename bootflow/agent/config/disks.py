"""The ``disks`` section: partition tables (sfdisk) and filesystems (mkfs).

Every disk is planned before any is written, so a bad hint on the second
disk does not leave the first one half done. A plan compares the requested
layout with the table read back from the disk (``sfdisk --json``): a table
that already has the requested partitions (count, types, sizes, GPT names;
a "rest" partition must reach the end of the disk) is not rewritten, and a
filesystem already of the requested type and label is not recreated, so
applying a template twice changes nothing the second time. Dry-run stops
after planning: it only reads (sfdisk --json, blockdev, blkid -p).

The ramdisk has no udev: after writing a table, ``partx`` tells the kernel
about the partitions (on loop devices without partition scanning, only
partx works), devtmpfs normally creates their /dev nodes, and when it does
not, the node is made from /sys/class/block/<part>/dev.
"""

import dataclasses
import fnmatch
import json
import os
import re
import stat
import typing

from bootflow.agent.config import base
from bootflow.bootos import templates

ConfigError = base.ConfigError

SYS_BLOCK = '/sys/class/block'
MOUNTS = '/proc/self/mounts'
SWAPS = '/proc/swaps'
GRAIN = 1024 * 1024          # sfdisk aligns partitions to 1 MiB
GPT_TAIL_SECTORS = 34        # backup GPT header + entries (512 B sectors)
NODE_GRACE = 1.0             # seconds to let devtmpfs create a node
SETTLE_TIMEOUT = 5.0         # seconds for the kernel to list a partition
GIB = 1024 ** 3


@dataclasses.dataclass
class Partition:
    """One requested partition, sized in sectors (None: the rest)."""
    number: int
    path: str
    kind: str
    sectors: typing.Optional[int]
    name: typing.Optional[str]
    fs: typing.Optional[str]
    label: typing.Optional[str]

    def type_id(self, table):
        guid, mbr = templates.PARTITION_TYPES[self.kind]
        return guid if table == 'gpt' else mbr

    def fs_text(self):
        if not self.fs:
            return 'no filesystem'
        return '%s %r' % (self.fs, self.label) if self.label else self.fs


@dataclasses.dataclass
class DiskPlan:
    where: str
    device: str
    table: str
    partitions: list
    rewrite: bool
    mkfs: list
    changes: list


def partition_path(disk, number):
    """/dev/sda -> /dev/sda1; names ending in a digit (nvme0n1, loop0,
    md127) get a "p" as the kernel names them. Symlinks (/dev/md/root,
    /dev/disk/by-path/...) are resolved first for the same reason."""
    real = os.path.realpath(disk)
    return '%s%s%d' % (real, 'p' if real[-1:].isdigit() else '', number)


def read_table(device, tools):
    """The current table as {label, sectorsize, lastlba, partitions}, or
    None when the disk has none."""
    rc, out, err = tools.call(['sfdisk', '--json', device])
    if rc != 0:
        if 'partition table' in err:
            return None
        raise ConfigError('sfdisk --json %s failed (exit %d): %s'
                          % (device, rc, err.strip()), stderr=err)
    data = json.loads(out)['partitiontable']
    parts = []
    for entry in data.get('partitions', []):
        number = re.search(r'(\d+)$', entry['node'])
        parts.append({'number': int(number.group(1)) if number else 0,
                      'start': entry['start'], 'size': entry['size'],
                      'type': str(entry['type']).lower().replace('0x', ''),
                      'name': entry.get('name') or ''})
    return {'label': data['label'], 'partitions': parts,
            'sectorsize': data.get('sectorsize', 512),
            'lastlba': data.get('lastlba')}


def _geometry(device, tools):
    size = int(tools.run(['blockdev', '--getsize64', device]).strip())
    sector = int(tools.run(['blockdev', '--getss', device]).strip())
    return size, sector


def _fits(hint, disk):
    for key, want in hint.items():
        size = disk.get('size') or 0
        if key == 'size_gb_min':
            ok = size >= want * GIB
        elif key == 'size_gb_max':
            ok = size <= want * GIB
        elif key == 'rotational':
            ok = disk.get('rotational') is want
        elif key == 'name':
            ok = (fnmatch.fnmatchcase(disk['name'], want)
                  or fnmatch.fnmatchcase(os.path.basename(disk['name']),
                                         want))
        else:
            ok = disk.get(key) is not None and fnmatch.fnmatchcase(
                str(disk[key]).casefold(), want.casefold())
        if not ok:
            return False
    return True


def _by_hint(hint, ctx, where, used):
    """The first inventory disk (in inventory order) fitting the hint, not
    already laid out by an earlier entry and not in use (mounted, swap,
    a RAID member), so a hint never lands on a disk the raid section took.
    """
    disks = base.inventory_disks(ctx.inventory)
    if not disks:
        raise ConfigError('%s.device: a hint needs the inventory\'s disks, '
                          'and none were given' % where)
    for disk in disks:
        if (_fits(hint, disk)
                and os.path.realpath(disk['name']) not in used
                and not _users(disk['name'])):
            return disk['name']
    raise ConfigError('%s.device: no disk matches the hint %s (disks: %s)'
                      % (where, json.dumps(hint, sort_keys=True), ', '.join(
                          '%s %s' % (d['name'],
                                     templates.format_bytes(d.get('size')
                                                            or 0))
                          for d in disks)))


def _resolve(device, ctx, where, used):
    path = (device if isinstance(device, str)
            else _by_hint(device['hint'], ctx, where, used))
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ConfigError('%s.device: %s: %s'
                          % (where, path, exc.strerror)) from None
    if not stat.S_ISBLK(mode):
        raise ConfigError('%s.device: %s is not a block device'
                          % (where, path))
    real = os.path.realpath(path)
    if real in used:
        raise ConfigError('%s.device: %s is already laid out by %s'
                          % (where, path, used[real]))
    used[real] = where
    return path


def _wanted(entry, device, disk_bytes, sector, where):
    """Requested partitions in sectors, checked against the disk's size;
    returns (partitions, last usable sector)."""
    table = entry.get('table', 'gpt')
    total = disk_bytes // sector
    grain = GRAIN // sector
    last = total - 1 - (GPT_TAIL_SECTORS if table == 'gpt' else 0)
    parts, end = [], grain
    for number, spec in enumerate(entry['partitions'], 1):
        size = templates.parse_size(spec['size'])
        if size.rest:
            sectors = None
        elif size.percent is not None:
            sectors = int(disk_bytes * size.percent / 100) // GRAIN * grain
            if not sectors:
                raise ConfigError('%s.partitions[%d].size: %s of %s is less '
                                  'than 1 MiB' % (where, number - 1,
                                                  spec['size'], device))
        else:
            sectors = -(-size.bytes // sector)
        fs = spec.get('filesystem') or {}
        parts.append(Partition(number, partition_path(device, number),
                               spec.get('type', 'linux'), sectors,
                               spec.get('name'), fs.get('type'),
                               fs.get('label')))
        start = -(-end // grain) * grain
        end = start + (sectors if sectors is not None else grain)
    if end - 1 > last:
        raise ConfigError('%s: the partitions need %s but %s has %s'
                          % (where, templates.format_bytes(
                              (end + total - 1 - last) * sector), device,
                             templates.format_bytes(disk_bytes)))
    return parts, last


def _same_table(current, parts, table, last, sector):
    """Whether the disk already has the requested partitions. A "rest"
    partition counts when it ends within one alignment grain of the last
    usable sector, since sfdisk ends it on a grain boundary."""
    if current is None or current['label'] != (
            'gpt' if table == 'gpt' else 'dos'):
        return False
    have = current['partitions']
    if len(have) != len(parts):
        return False
    for want, got in zip(parts, have):
        if (got['number'] != want.number
                or got['type'] != want.type_id(table).lower()):
            return False
        if want.sectors is None:
            if got['start'] + got['size'] - 1 < last - GRAIN // sector:
                return False
        elif got['size'] != want.sectors:
            return False
        if table == 'gpt' and got['name'] != (want.name or ''):
            return False
    return True


def _describe(part, parts, last, sector):
    if part.sectors is not None:
        size = templates.format_bytes(part.sectors * sector)
    else:
        grain = GRAIN // sector
        start = grain
        for other in parts[:-1]:
            start = -(-start // grain) * grain + other.sectors
        start = -(-start // grain) * grain
        end = (last + 1) // grain * grain   # sfdisk ends it on the grain too
        size = 'rest (%s)' % templates.format_bytes((end - start) * sector)
    text = '%s: %s %s' % (part.path, size, part.kind)
    return text + (', ' + part.fs_text() if part.fs else '')


def probe(device, offset, size, tools):
    """(TYPE, LABEL) of what a partition holds; (None, None) if nothing.

    Probes the disk at the partition's offset rather than the partition's
    node, which the kernel may not know yet: planning stays read-only.
    """
    rc, out, _err = tools.call(['blkid', '-p', '-O', str(offset), '-S',
                                str(size), '-o', 'export', device])
    if rc != 0:
        return None, None
    found = dict(line.split('=', 1) for line in out.splitlines()
                 if '=' in line)
    return found.get('TYPE'), found.get('LABEL')


def _fs_matches(part, found):
    fs, label = found
    if fs != part.fs:
        return False
    want, have = part.label or '', label or ''
    if part.fs == 'vfat':   # FAT labels are case-insensitive
        return want.casefold() == have.casefold()
    return want == have


def _found_text(found):
    fs, label = found
    if not fs:
        return 'no filesystem'
    return '%s %r' % (fs, label) if label else fs


def _was(current):
    if current is None:
        return 'empty'
    count = len(current['partitions'])
    return '%s with %d partition%s' % (current['label'], count,
                                       '' if count == 1 else 's')


def _future_plan(where, entry, used):
    """Dry-run of a layout on an md array the raid section has not
    created yet: what can be said without the disk, rather than failing
    the plan of a template that builds the array and then lays it out."""
    device, table = entry['device'], entry.get('table', 'gpt')
    used[device] = where
    changes = ['%s: new %s table (was: not created yet)' % (device, table)]
    for number, spec in enumerate(entry['partitions'], 1):
        size = templates.parse_size(spec['size'])
        text = ('rest' if size.rest else '%g%%' % size.percent
                if size.percent else templates.format_bytes(size.bytes))
        fs = spec.get('filesystem') or {}
        part = Partition(number, partition_path(device, number),
                         spec.get('type', 'linux'), None, spec.get('name'),
                         fs.get('type'), fs.get('label'))
        changes.append('%s: %s %s%s' % (part.path, text, part.kind, (
            ', ' + part.fs_text()) if part.fs else ''))
    return DiskPlan(where, device, table, [], False, [], changes)


def _plan_disk(index, entry, ctx, used):
    where = 'disks[%d]' % index
    device = entry['device']
    if (ctx.dry_run and isinstance(device, str)
            and device.startswith('/dev/md/') and not os.path.exists(device)):
        return _future_plan(where, entry, used)
    device = _resolve(device, ctx, where, used)
    table = entry.get('table', 'gpt')
    disk_bytes, sector = _geometry(device, ctx.tools)
    parts, last = _wanted(entry, device, disk_bytes, sector, where)
    current = read_table(device, ctx.tools)
    rewrite = not _same_table(current, parts, table, last, sector)
    if rewrite:
        changes = ['%s: new %s table (was: %s)' % (device, table,
                                                   _was(current))]
        changes += [_describe(p, parts, last, sector) for p in parts]
        mkfs = [p for p in parts if p.fs]
    else:
        changes, mkfs = [], []
        for part, got in zip(parts, current['partitions']):
            if not part.fs:
                continue
            found = probe(device, got['start'] * sector,
                          got['size'] * sector, ctx.tools)
            if not _fs_matches(part, found):
                mkfs.append(part)
                changes.append('%s: %s (was: %s)'
                               % (part.path, part.fs_text(),
                                  _found_text(found)))
    if changes:
        _refuse_in_use(device, where)
    return DiskPlan(where, device, table, parts, rewrite, mkfs, changes)


def _users(device):
    """Why a disk must not be repartitioned: mounts, swap, holders (md,
    device-mapper) of the disk or any of its partitions."""
    name = os.path.basename(os.path.realpath(device))
    top = os.path.join(SYS_BLOCK, name)
    names = {name}
    if os.path.isdir(top):
        names.update(e for e in os.listdir(top)
                     if os.path.exists(os.path.join(top, e, 'partition')))
    users = []
    for source, target in _proc_entries(MOUNTS, (0, 1)):
        if (source.startswith('/dev/')
                and os.path.basename(os.path.realpath(source)) in names):
            users.append('%s mounted on %s' % (source, target))
    for (source,) in _proc_entries(SWAPS, (0,), skip=1):
        if os.path.basename(os.path.realpath(source)) in names:
            users.append('%s used as swap' % source)
    for part in sorted(names):
        holders = os.path.join(SYS_BLOCK, part, 'holders')
        if os.path.isdir(holders):
            users.extend('%s held by %s' % (part, h)
                         for h in sorted(os.listdir(holders)))
    return users


def _proc_entries(path, fields, skip=0):
    try:
        with open(path) as stream:
            lines = stream.read().splitlines()[skip:]
    except OSError:
        return []
    rows = [line.split() for line in lines]
    return [tuple(r[i] for i in fields) for r in rows
            if len(r) > max(fields)]


def _refuse_in_use(device, where):
    users = _users(device)
    if users:
        raise ConfigError('%s: %s is in use (%s); refusing to change it'
                          % (where, device, '; '.join(users)))


def _devnum(sys_dev):
    with open(sys_dev) as stream:
        major, minor = stream.read().strip().split(':')
    return os.makedev(int(major), int(minor))


def _ensure_node(path):
    """Wait for the partition's /dev node; make it if nobody does."""
    sys_dev = os.path.join(SYS_BLOCK, os.path.basename(path), 'dev')

    def ready():
        try:
            info = os.stat(path)
            return (stat.S_ISBLK(info.st_mode)
                    and info.st_rdev == _devnum(sys_dev))
        except OSError:
            return False

    if base.wait_for(ready, NODE_GRACE):
        return
    if not base.wait_for(lambda: os.path.exists(sys_dev), SETTLE_TIMEOUT):
        raise ConfigError('%s: the kernel did not register this partition '
                          '(partx -a failed?)' % path)
    if ready():
        return
    try:
        os.unlink(path)     # a stale node from an earlier layout
    except FileNotFoundError:
        pass
    try:
        os.mknod(path, 0o600 | stat.S_IFBLK, _devnum(sys_dev))
    except FileExistsError:
        if not ready():
            raise ConfigError('%s: exists but is not the kernel\'s '
                              'partition device' % path) from None


def _settle(device, parts, tools):
    """Make the kernel's view of the disk's partitions match the table.

    partx -d then -a rather than -u: -u left stale entries and skipped
    new ones on loop devices here. Failures are not fatal on their own
    (partx -d with no partitions fails); _ensure_node decides.
    """
    tools.call(['partx', '-d', device])
    rc, _out, _err = tools.call(['partx', '-a', device])
    if rc != 0:
        tools.call(['blockdev', '--rereadpt', device])
    for part in parts:
        _ensure_node(part.path)


def _sfdisk_script(table, parts):
    lines = ['label: %s' % ('gpt' if table == 'gpt' else 'dos')]
    for part in parts:
        fields = [] if part.sectors is None else ['size=%d' % part.sectors]
        fields.append('type=%s' % part.type_id(table))
        if table == 'gpt' and part.name:
            fields.append('name="%s"' % part.name)
        lines.append(', '.join(fields))
    return '\n'.join(lines) + '\n'


def mkfs_argv(part):
    label = part.label
    if part.fs == 'swap':
        return ['mkswap'] + (['-L', label] if label else []) + [part.path]
    if part.fs == 'vfat':
        return ['mkfs.vfat'] + (['-n', label] if label else []) + [part.path]
    force = {'xfs': ['-f', '-q'], 'ext4': ['-F', '-q']}[part.fs]
    return (['mkfs.%s' % part.fs] + force
            + (['-L', label] if label else []) + [part.path])


def _write(plan, tools):
    if plan.rewrite:
        tools.run(['sfdisk', '--wipe', 'always', '--wipe-partitions',
                   'always', '--quiet', plan.device],
                  input=_sfdisk_script(plan.table, plan.partitions))
        _settle(plan.device, plan.partitions, tools)
    elif not all(os.path.exists(p.path) for p in plan.mkfs):
        _settle(plan.device, plan.partitions, tools)
    for part in plan.mkfs:
        # old signatures confuse blkid ("ambivalent") and some mkfs tools
        tools.run(['wipefs', '--all', '--quiet', part.path])
        tools.run(mkfs_argv(part))


def run(spec, ctx):
    """Apply (or plan) the whole ``disks`` section."""
    used = {}
    plans = [_plan_disk(i, entry, ctx, used) for i, entry in enumerate(spec)]
    if not ctx.dry_run:
        for plan in plans:
            if plan.changes:
                _write(plan, ctx.tools)
    return ctx.result('disks', [c for p in plans for c in p.changes])
