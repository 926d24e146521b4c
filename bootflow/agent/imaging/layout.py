"""Partition tables, swap, ephemeral filesystems and config drives for the
image just written.

Everything works at byte offsets on the whole device rather than through
partition nodes: the ramdisk has no udev, file-backed disks (tests,
developers) have no partition nodes at all, and a kernel that keeps an
old view of a disk in use would otherwise send writes to the wrong
place. sfdisk and mkfs write files as well as block devices; the swap
signature is simple enough to write here, which spares a loop device.

Partition images follow Ironic's layout: root first (so its number is 1
and the boot loader finds it where Ironic's images expect it), then swap,
then ephemeral, and the config drive last at the very end of the disk,
where cloud-init looks for a partition labelled ``config-2``.
"""

import base64
import binascii
import logging
import os
import struct
import uuid
import zlib

from bootflow.agent.config import base
from bootflow.agent.config import disks
from bootflow.agent.imaging import disk
from bootflow.agent.imaging import ImageError

LOG = logging.getLogger(__name__)

MIB = 1024 * 1024
GRAIN = disks.GRAIN                 # 1 MiB alignment, as sfdisk does
GPT_TAIL_SECTORS = 33               # backup GPT entries + header
MSDOS_MAX_SECTORS = 2 ** 32         # what a 32-bit MBR entry addresses
CONFIGDRIVE_MB = 64
CONFIGDRIVE_LABEL = 'config-2'
CONFIGDRIVE_MAX = 64 * MIB
ISO_MAGIC_OFFSET = 32769
ISO_MAGIC = b'CD001'
SWAP_PAGE = 4096
SWAP_MIN_PAGES = 10                 # mkswap's minimum
SWAP_MAGIC = b'SWAPSPACE2'
EPHEMERAL_FORMATS = ('ext4', 'vfat')
DISK_LABELS = ('msdos', 'gpt')
ROLES = ('root', 'swap', 'ephemeral', 'configdrive')

# (gpt type, mbr type, gpt name) of each role
TYPES = {
    'root': ('0FC63DAF-8483-4772-8E79-3D69D8477DE4', '83', 'root'),
    'swap': ('0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', '82', 'swap'),
    'ephemeral': ('0FC63DAF-8483-4772-8E79-3D69D8477DE4', '83',
                  'ephemeral'),
    'configdrive': ('0FC63DAF-8483-4772-8E79-3D69D8477DE4', '83',
                    CONFIGDRIVE_LABEL),
}


def _run(tools, argv, what, input=None):
    try:
        return tools.run(argv, input=input)
    except base.ConfigError as exc:
        raise ImageError('%s: %s' % (what, exc)) from None


def _read_table(device, tools):
    try:
        return disks.read_table(device, tools)
    except (base.ConfigError, ValueError, KeyError) as exc:
        raise ImageError('cannot read the partition table of %s: %s'
                         % (device, exc)) from None


def sector_size(device, tools):
    """Logical sector size: sfdisk counts in it (512 for files)."""
    if not disk.is_block(device):
        return 512
    out = _run(tools, ['blockdev', '--getss', device],
               'cannot read the sector size of %s' % device)
    return int(out.strip())


def _mb(layout, key):
    value = layout.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImageError('partitions.%s must be a non-negative integer '
                         'number of MiB, not %r; nothing was written'
                         % (key, value))
    return value


def validate_layout(layout):
    """The partition layout of the ``image.write`` params, checked and
    with defaults filled in."""
    if not isinstance(layout, dict):
        raise ImageError('partitions must be an object, not %r; nothing '
                         'was written' % (layout,))
    label = layout.get('disk_label') or 'msdos'
    if label not in DISK_LABELS:
        raise ImageError('partitions.disk_label must be msdos or gpt, not '
                         '%r; nothing was written' % (label,))
    result = {'disk_label': label}
    for key in ('root_mb', 'swap_mb', 'ephemeral_mb', 'configdrive_mb'):
        result[key] = _mb(layout, key)
    result['configdrive_mb'] = result['configdrive_mb'] or CONFIGDRIVE_MB
    fmt = layout.get('ephemeral_format') or 'ext4'
    if result['ephemeral_mb'] and fmt not in EPHEMERAL_FORMATS:
        raise ImageError('partitions.ephemeral_format %r is not supported '
                         '(supported: %s); nothing was written'
                         % (fmt, ', '.join(EPHEMERAL_FORMATS)))
    result['ephemeral_format'] = fmt
    return result


def _usable_end(label, device_size, sector):
    """First byte after the last sector a partition may use."""
    sectors = device_size // sector
    if label == 'gpt':
        sectors -= GPT_TAIL_SECTORS
    else:
        sectors = min(sectors, MSDOS_MAX_SECTORS)
    return sectors * sector


def plan_partitions(device_size, layout, sector=512, configdrive=False):
    """{role: (offset, size)} in bytes of a partition image's layout on a
    disk of ``device_size`` bytes, refused (ImageError) when it does not
    fit; computed before anything is written."""
    layout = validate_layout(layout)
    end = _usable_end(layout['disk_label'], device_size, sector)
    plan = {}
    limit = end // GRAIN * GRAIN
    if configdrive:
        start = (end - layout['configdrive_mb'] * MIB) // GRAIN * GRAIN
        plan['configdrive'] = (start, end - start)
        limit = start
    fixed = (layout['swap_mb'] + layout['ephemeral_mb']) * MIB
    root = layout['root_mb'] * MIB or limit - GRAIN - fixed
    need = GRAIN + fixed + max(root, GRAIN)
    if root < GRAIN or need > limit:
        raise ImageError(
            'the partitions (root %s, swap %d MiB, ephemeral %d MiB%s) do '
            'not fit on a disk of %d MiB; nothing was written'
            % ('%d MiB' % layout['root_mb'] if layout['root_mb']
               else 'the rest', layout['swap_mb'], layout['ephemeral_mb'],
               ', config drive %d MiB' % layout['configdrive_mb']
               if configdrive else '', device_size // MIB))
    offset = GRAIN
    for role, size in (('root', root), ('swap', layout['swap_mb'] * MIB),
                       ('ephemeral', layout['ephemeral_mb'] * MIB)):
        if size:
            plan[role] = (offset, size)
            offset += size
    return plan


def _script(label, plan, sector):
    lines = ['label: %s' % ('gpt' if label == 'gpt' else 'dos')]
    for role in ROLES:
        if role not in plan:
            continue
        offset, size = plan[role]
        gpt_type, mbr_type, name = TYPES[role]
        fields = ['start=%d' % (offset // sector),
                  'size=%d' % (size // sector)]
        if label == 'gpt':
            fields += ['type=%s' % gpt_type, 'name="%s"' % name]
        else:
            fields.append('type=%s' % mbr_type)
            if role == 'root':
                fields.append('bootable')
        lines.append(', '.join(fields))
    return '\n'.join(lines) + '\n'


def _entry(part, sector):
    return {'number': part['number'], 'offset': part['start'] * sector,
            'size': part['size'] * sector}


def disk_identifier(device, tools):
    """The table's disk identifier (MBR id or GPT GUID), or None."""
    try:
        rc, out, _err = tools.call(['sfdisk', '--disk-id', device])
    except base.ConfigError:
        return None
    return (out.strip() or None) if rc == 0 else None


def partition_uuid(device, table, number, tools):
    """PARTUUID of partition ``number``, as the kernel's root=PARTUUID=
    and blkid spell it (for MBR: the disk id and the number)."""
    if table['label'] == 'gpt':
        rc, out, _err = tools.call(['sfdisk', '--part-uuid', device,
                                    str(number)])
        return (out.strip().lower() or None) if rc == 0 else None
    ident = disk_identifier(device, tools)
    if not ident:
        return None
    return '%08x-%02x' % (int(ident, 16), number)


def create_partition_table(device, device_size, layout, tools,
                           configdrive=False):
    """Write a fresh table for a partition image; the partitions as read
    back: {role: {number, offset, size} or None, 'disk_label',
    'disk_identifier', 'partition_uuid' (of root)}."""
    layout = validate_layout(layout)
    label = layout['disk_label']
    sector = sector_size(device, tools)
    plan = plan_partitions(device_size, layout, sector, configdrive)
    # --no-reread: the caller tells the kernel once everything is written;
    # it also skips sfdisk's in-use check, which a disk that is about to
    # be overwritten anyway does not need.
    _run(tools, ['sfdisk', '--wipe', 'always', '--quiet', '--no-reread',
                 device], 'cannot write a %s partition table to %s'
         % (label, device), input=_script(label, plan, sector))
    table = _read_table(device, tools)
    if table is None:
        raise ImageError('sfdisk wrote no partition table to %s' % device)
    sector = table['sectorsize']
    result = {role: None for role in ROLES}
    by_start = {p['start'] * sector: p for p in table['partitions']}
    for role, (offset, size) in plan.items():
        part = by_start.get(offset)
        if part is None:
            raise ImageError('the %s partition is missing from the table '
                             'written to %s' % (role, device))
        result[role] = _entry(part, sector)
    result['disk_label'] = label
    result['disk_identifier'] = disk_identifier(device, tools)
    result['partition_uuid'] = partition_uuid(
        device, table, result['root']['number'], tools)
    return result


def make_swap(device, offset, size, label='swap1', page_size=SWAP_PAGE):
    """Write a Linux swap (v1) signature at ``offset``; its UUID."""
    pages = size // page_size
    if pages < SWAP_MIN_PAGES:
        raise ImageError('a swap area needs at least %d pages, not %d bytes'
                         % (SWAP_MIN_PAGES, size))
    raw_label = label.encode()
    if len(raw_label) > 16:
        raise ImageError('swap label %r is longer than 16 bytes' % label)
    ident = uuid.uuid4()
    header = bytearray(page_size)
    # struct swap_header.info, after 1024 bytes of boot bits: version,
    # last_page, nr_badpages, uuid[16], volume_name[16]; native order
    # as the kernel reads it.
    struct.pack_into('=III16s16s', header, 1024, 1, pages - 1, 0,
                     ident.bytes, raw_label)
    header[page_size - len(SWAP_MAGIC):] = SWAP_MAGIC
    fd = disk.open_device(device)
    try:
        # what an earlier filesystem left beyond the first page (btrfs
        # at 64 KiB...) would make blkid call the area ambivalent
        disk.zero_range(fd, offset, min(size, MIB))
        disk.write_all(fd, header, offset)
        disk.sync(fd)
    except OSError as exc:
        raise ImageError('cannot write swap to %s at %d: %s'
                         % (device, offset, exc.strerror or exc)) from None
    finally:
        os.close(fd)
    return str(ident)


def make_ephemeral(device, offset, size, fs, tools, label='ephemeral0'):
    """Make the ephemeral filesystem at ``offset`` of the whole device."""
    if fs == 'ext4':
        argv = ['mkfs.ext4', '-F', '-q', '-L', label, '-E',
                'offset=%d' % offset, device, '%dk' % (size // 1024)]
    elif fs == 'vfat':
        if len(label) > 11:
            raise ImageError('vfat label %r is longer than 11 characters'
                             % label)
        # -I: mkfs.fat refuses a device with a partition table otherwise;
        # the offset is in (logical) sectors, the size in KiB blocks
        sector = sector_size(device, tools)
        argv = ['mkfs.vfat', '-I', '-n', label, '-S', str(sector),
                '--offset', str(offset // sector), device,
                str(size // 1024)]
    else:
        raise ImageError('ephemeral_format %r is not supported (supported: '
                         '%s)' % (fs, ', '.join(EPHEMERAL_FORMATS)))
    fd = disk.open_device(device)
    try:
        disk.zero_range(fd, offset, min(size, MIB))
    except OSError as exc:
        raise ImageError('cannot clear %s at %d: %s'
                         % (device, offset, exc.strerror or exc)) from None
    finally:
        os.close(fd)
    _run(tools, argv, 'cannot make the %s ephemeral filesystem on %s'
         % (fs, device))


def _mbr_number(table, device):
    used = {p['number'] for p in table['partitions'] if p['number'] <= 4}
    free = [n for n in range(1, 5) if n not in used]
    if not free:
        raise ImageError('%s already has 4 primary partitions (an msdos '
                         'table holds no more); there is no room for a '
                         'config drive partition: use a GPT image or one '
                         'with at most 3 primary partitions' % device)
    return free[0]


def _find_configdrive(table, start):
    for part in table['partitions']:
        if (part['name'].lower() == CONFIGDRIVE_LABEL
                or part['start'] == start):
            return part
    return None


def add_configdrive_partition(device, device_size, size_bytes, tools):
    """The partition at the end of a whole-disk image's disk for its
    config drive ({number, offset, size}): created, or the one an earlier
    deploy (or the image) made."""
    table = _read_table(device, tools)
    if table is None:
        raise ImageError('the image on %s has no partition table, so no '
                         'config drive partition can be added to it; use '
                         'an image with a partition table' % device)
    if table['label'] == 'gpt':
        # the image's backup GPT sits where the image ended; partitions
        # beyond it are only valid once it is at the disk's real end
        _run(tools, ['sfdisk', '--no-reread', '--relocate', 'gpt-bak-std',
                     device], 'cannot move the backup GPT of %s to the end '
             'of the disk' % device)
        table = _read_table(device, tools)
        sector = table['sectorsize']
        end = (table['lastlba'] + 1) * sector
    elif table['label'] == 'dos':
        sector = table['sectorsize']
        end = _usable_end('msdos', device_size, sector)
    else:
        raise ImageError('%s has a %s partition table; a config drive '
                         'partition needs msdos or gpt'
                         % (device, table['label']))
    start = (end - size_bytes) // GRAIN * GRAIN // sector
    found = _find_configdrive(table, start)
    if found is not None:
        return _entry(found, sector)
    # an extended partition covers its logical ones
    reach = max((p['start'] + p['size'] for p in table['partitions']),
                default=0)
    if start * sector < GRAIN or reach > start:
        raise ImageError('no room for a %d MiB config drive partition at '
                         'the end of %s: the image\'s partitions reach %d '
                         'MiB of %d MiB' % (size_bytes // MIB, device,
                                            reach * sector // MIB,
                                            device_size // MIB))
    gpt_type, mbr_type, name = TYPES['configdrive']
    line = 'start=%d, size=%d, ' % (start, end // sector - start)
    if table['label'] == 'gpt':
        argv = ['sfdisk', '--append']
        line += 'type=%s, name="%s"' % (gpt_type, name)
    else:
        argv = ['sfdisk', '-N', str(_mbr_number(table, device))]
        line += 'type=%s' % mbr_type
    _run(tools, argv + ['--quiet', '--no-reread', device],
         'cannot add a config drive partition to %s' % device,
         input=line + '\n')
    for part in _read_table(device, tools)['partitions']:
        if part['start'] == start:
            return _entry(part, sector)
    raise ImageError('the config drive partition is missing from the '
                     'table of %s after sfdisk added it' % device)


def write_configdrive(device, part, iso_bytes):
    """Write the config drive ISO into its partition."""
    if len(iso_bytes) > part['size']:
        raise ImageError('the config drive (%d bytes) is larger than its '
                         'partition %d on %s (%d bytes)'
                         % (len(iso_bytes), part['number'], device,
                            part['size']))
    fd = disk.open_device(device)
    try:
        disk.write_all(fd, iso_bytes, part['offset'])
        disk.sync(fd)
    except OSError as exc:
        raise ImageError('cannot write the config drive to %s: %s'
                         % (device, exc.strerror or exc)) from None
    finally:
        os.close(fd)


def _gunzip(data, what):
    """Decompressed ``data``, refusing more than CONFIGDRIVE_MAX (a small
    gzip can expand to gigabytes)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, CONFIGDRIVE_MAX + 1)
    except zlib.error as exc:
        raise ImageError('%s is not valid gzip: %s' % (what, exc)) from None
    if len(out) > CONFIGDRIVE_MAX:
        raise ImageError('%s expands to more than %d MiB; refused'
                         % (what, CONFIGDRIVE_MAX // MIB))
    if not inflater.eof:
        raise ImageError('%s is truncated gzip' % what)
    return out


def _unpack(data, what):
    """The ISO in ``data``: raw, gzip, or base64 of either."""
    if data[:2] != b'\x1f\x8b' and not _is_iso(data):
        try:
            data = base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ImageError('%s is neither an ISO 9660 image nor gzip or '
                             'base64 of one (%s)' % (what, exc)) from None
    if data[:2] == b'\x1f\x8b':
        data = _gunzip(data, what)
    if len(data) > CONFIGDRIVE_MAX:
        raise ImageError('%s is larger than %d MiB; refused'
                         % (what, CONFIGDRIVE_MAX // MIB))
    if not _is_iso(data):
        raise ImageError('%s is not an ISO 9660 image (no "CD001" at '
                         'offset %d)' % (what, ISO_MAGIC_OFFSET))
    return data


def _is_iso(data):
    return data[ISO_MAGIC_OFFSET:ISO_MAGIC_OFFSET + 5] == ISO_MAGIC


def _download(url, read_timeout, insecure):
    from bootflow.agent.imaging import stream
    # base64 of an incompressible gzip of the largest ISO, and some
    cap = CONFIGDRIVE_MAX * 4 // 3 + MIB
    what = 'the config drive at %s' % stream.safe_url(url)
    response = stream.open_url(url, read_timeout, insecure)
    chunks, total = [], 0
    try:
        with response:
            while True:
                chunk = response.read(min(MIB, cap + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > cap:
                    raise ImageError('%s is larger than %d MiB; refused'
                                     % (what, cap // MIB))
    except OSError as exc:
        raise ImageError('cannot download %s: %s'
                         % (what, exc.strerror or exc)) from None
    return b''.join(chunks), what


def decode_configdrive(value, read_timeout=60, insecure=False):
    """The config drive ISO of ``image.write``'s ``configdrive`` param:
    {"data": base64(gzip(iso))} or {"url": "http(s)://..."} whose body
    is that or the ISO itself."""
    if isinstance(value, str):
        text = value.strip()
        value = ({'url': text} if text.lower().startswith(
            ('http://', 'https://')) else {'data': text})
    if not isinstance(value, dict) or len(
            set(value) & {'data', 'url'}) != 1:
        raise ImageError('configdrive must be {"data": ...} or {"url": '
                         '...}, not %r' % (type(value).__name__,))
    if 'url' in value:
        url = value['url']
        if not isinstance(url, str) or not url.lower().startswith(
                ('http://', 'https://')):
            raise ImageError('configdrive url must be an http or https URL')
        data, what = _download(url, read_timeout, insecure)
    else:
        data, what = value['data'], 'the config drive data'
        if isinstance(data, str):
            data = data.encode('ascii', 'replace')
        if not isinstance(data, bytes) or not data:
            raise ImageError('configdrive data must be a non-empty base64 '
                             'string')
    if not data:
        raise ImageError('%s is empty' % what)
    return _unpack(data, what)
