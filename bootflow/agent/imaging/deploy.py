"""The agent's commands ``image.write``, ``disk.erase_metadata`` and
``disk.erase``.

``image.write`` checks everything it can before it writes a byte: the
params, the config drive (decoded and fetched first: a bad one must not
cost a disk), the root device, the image's size against the device or
the root partition. Once something was written, any failure zeroes both
ends of the disk before it is reported, so a node never boots a half
written disk, and the message says so.
"""

import logging
import os
import re
import time

from bootflow.agent.config import base
from bootflow.agent.imaging import disk
from bootflow.agent.imaging import erase
from bootflow.agent.imaging import ImageError
from bootflow.agent.imaging import layout
from bootflow.agent.imaging import rootdev

LOG = logging.getLogger(__name__)

MIB = 1024 * 1024
IMAGE_TYPES = ('whole-disk', 'partition')
DISK_FORMATS = ('raw', 'qcow2')
COUNTERS = ('bytes_written', 'blocks_total', 'blocks_reused',
            'blocks_fetched', 'blocks_zero', 'bytes_fetched', 'refetched',
            'failovers')
# the space a config drive partition needs beyond its size: alignment
# and the backup GPT
CONFIGDRIVE_SLACK = MIB
_SUFFIX = re.compile(r'(; nothing was written|; nothing bootable was left '
                     r'on \S+)\s*$')


def _refuse(message):
    return ImageError('%s; nothing was written' % message)


def _string(spec, key, where):
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        raise _refuse('%s.%s must be a non-empty string, not %r'
                      % (where, key, value))
    return value


def _number(params, key, default, kind=int, low=1, high=None):
    value = params.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (kind, int)) or (
            value < low or (high is not None and value > high)):
        raise _refuse('%s must be a number from %s%s, not %r'
                      % (key, low, ' to %s' % high if high else '', value))
    return value


def _image(spec):
    if not isinstance(spec, dict):
        raise _refuse('image must be an object, not %r' % (spec,))
    mode = spec.get('mode')
    if mode == 'stream':
        fmt = spec.get('disk_format') or 'raw'
        if fmt not in DISK_FORMATS:
            raise _refuse('image.disk_format must be raw or qcow2, not %r'
                          % (fmt,))
        size = spec.get('size')
        if size is not None and (isinstance(size, bool)
                                 or not isinstance(size, int) or size < 1):
            raise _refuse('image.size must be a positive integer or null, '
                          'not %r' % (size,))
        return {'mode': mode, 'url': _string(spec, 'url', 'image'),
                'checksum': _string(spec, 'checksum', 'image'),
                'disk_format': fmt, 'size': size}
    if mode == 'blocks':
        digest = _string(spec, 'manifest_sha256', 'image').lower()
        if not re.fullmatch('[0-9a-f]{64}', digest):
            raise _refuse('image.manifest_sha256 must be a sha256 hex '
                          'digest, not %r' % digest)
        sources = spec.get('sources') or []
        if not isinstance(sources, list) or not all(
                isinstance(s, str) and s for s in sources):
            raise _refuse('image.sources must be a list of URLs, not %r'
                          % (sources,))
        return {'mode': mode,
                'manifest_url': _string(spec, 'manifest_url', 'image'),
                'manifest_sha256': digest, 'sources': list(sources),
                'reuse': spec.get('reuse', True) is not False}
    raise _refuse('image.mode must be stream or blocks, not %r' % (mode,))


def validate(params):
    """``image.write``'s params checked, with defaults filled in."""
    if not isinstance(params, dict):
        raise _refuse('image.write params must be an object')
    kind = params.get('image_type') or 'whole-disk'
    if kind not in IMAGE_TYPES:
        raise _refuse('image_type must be whole-disk or partition, not %r'
                      % (kind,))
    try:
        hints = rootdev.validate_hints(params.get('root_device'))
    except ValueError as exc:
        raise _refuse(str(exc)) from None
    partitions = params.get('partitions') or {}
    if kind == 'partition':
        partitions = layout.validate_layout(partitions)
    elif not isinstance(partitions, dict):
        partitions = {}
    drive = params.get('configdrive')
    if drive is not None and not isinstance(drive, (dict, str)):
        raise _refuse('configdrive must be an object or null')
    return {
        'image_type': kind, 'hints': hints,
        'image': _image(params.get('image')),
        'partitions': partitions, 'configdrive': drive or None,
        'configdrive_mb': (partitions.get('configdrive_mb')
                           or params.get('configdrive_mb')
                           or layout.CONFIGDRIVE_MB),
        'allow_md5': params.get('allow_md5') is True,
        'max_bytes': _number(params, 'max_bytes', None),
        'read_timeout': _number(params, 'read_timeout', 60, float),
        'workers': _number(params, 'workers', 4, high=32),
        'insecure': params.get('insecure') is True,
    }


def _blocks_module():
    from bootflow.agent.imaging import blocks
    return blocks


def _fetch_manifest(image, job):
    blocks = _blocks_module()
    fetch = getattr(blocks, 'fetch_manifest', None)
    if fetch is None:   # it may live with the manifest format
        from bootflow.agent.imaging import manifest
        fetch = manifest.fetch_manifest
    return fetch(image['manifest_url'], image['manifest_sha256'],
                 read_timeout=job['read_timeout'],
                 insecure=job['insecure'])


def _ceil_mib(size):
    return -(-size // MIB) * MIB


class _Deploy:
    """One ``image.write``: where it writes, and whether it did yet."""

    def __init__(self, job, target, path, tools, progress, work_dir):
        self.job = job
        self.target = target        # the inventory's name, e.g. /dev/vda
        self.path = path            # what is opened (under a fixture root)
        self.tools = tools
        self.callback = progress
        self.work_dir = work_dir
        self.dirty = False
        self.manifest = None
        self.size = None

    def progress(self, fields):
        if self.callback is not None:
            self.callback(dict(fields, device=self.target))

    def relay(self):
        """What the writers get to report progress through."""
        return self.progress if self.callback is not None else None

    def step(self, what, func, *args, may_write=True, **kwargs):
        """func(), its failure reported as ``what`` failing, after the
        disk was scrubbed if anything may have been written to it."""
        try:
            value = func(*args, **kwargs)
        except Exception as exc:    # noqa: BLE001 - any failure scrubs
            raise self.failed(what, exc, may_write) from None
        except BaseException:
            if self.dirty or may_write:
                disk.wipe_ends(self.path)
            raise
        if may_write:
            self.dirty = True
        return value

    def failed(self, what, exc, may_write):
        text = str(exc) if isinstance(exc, ImageError) else (
            '%s: %s' % (type(exc).__name__, exc))
        # the writers say so when they refused before writing anything
        said_nothing = (isinstance(exc, ImageError)
                        and text.endswith('nothing was written'))
        if not self.dirty and (not may_write or said_nothing):
            return ImageError('%s failed: %s' % (what, text))
        text = _SUFFIX.sub('', text)
        if disk.wipe_ends(self.path):
            return ImageError('%s failed: %s; %s was wiped at both ends '
                              'and left unbootable'
                              % (what, text, self.target))
        return ImageError('%s failed: %s; wiping %s failed too, so it may '
                          'hold a partial image: erase it before booting it'
                          % (what, text, self.target))

    def image_size(self):
        image = self.job['image']
        if image['mode'] == 'blocks':
            self.manifest = self.step('fetching the image manifest',
                                      _fetch_manifest, image, self.job,
                                      may_write=False)
            return self.manifest['size']
        return image['size']

    def sources(self):
        """Where blocks come from: the params' list, else where the
        manifest says (by default next to it)."""
        image = self.job['image']
        if image['sources']:
            return image['sources']
        from bootflow.agent.imaging import manifest
        return [manifest.blocks_base(self.manifest, image['manifest_url'])]

    def write(self, offset, limit):
        """Write the image at ``offset``; the writer's stats."""
        image, job = self.job['image'], self.job
        what = 'writing the image to %s' % self.target
        if image['mode'] == 'blocks':
            return self.step(
                what, _blocks_module().write_blocks,
                self.path, self.manifest, self.sources(), offset=offset,
                limit=limit, progress=self.relay(), reuse=image['reuse'],
                workers=job['workers'], read_timeout=job['read_timeout'],
                insecure=job['insecure'])
        from bootflow.agent.imaging import stream
        return self.step(
            what, stream.stream_image, self.path,
            image['url'], image['checksum'], image['disk_format'],
            offset=offset, limit=limit, progress=self.relay(),
            read_timeout=job['read_timeout'], max_bytes=job['max_bytes'],
            allow_md5=job['allow_md5'], work_dir=self.work_dir,
            tools=self.tools, insecure=job['insecure'])

    def check_fits(self, image_size, room, where):
        max_bytes = self.job['max_bytes']
        if image_size is not None and max_bytes and image_size > max_bytes:
            raise _refuse('the image (%d bytes) is larger than the image '
                          'size limit (%d bytes)' % (image_size, max_bytes))
        if image_size is not None and image_size > room:
            raise _refuse('the image (%d bytes, %d MiB) does not fit on %s '
                          '(%d bytes, %d MiB)'
                          % (image_size, _ceil_mib(image_size) // MIB,
                             where, room, room // MIB))

    def whole_disk(self, iso, result):
        cd_bytes = 0
        if iso is not None:
            cd_bytes = max(self.job['configdrive_mb'] * MIB,
                           _ceil_mib(len(iso)))
        room = self.size - (cd_bytes + CONFIGDRIVE_SLACK if cd_bytes else 0)
        if room <= 0:
            raise _refuse('%s (%d MiB) has no room for the image besides '
                          'a %d MiB config drive'
                          % (self.target, self.size // MIB, cd_bytes // MIB))
        where = self.target + (' besides a %d MiB config drive partition'
                               % (cd_bytes // MIB) if cd_bytes else '')
        self.check_fits(self.image_size(), room, where)
        stats = self.write(0, room if cd_bytes else None)
        if iso is not None:
            self.progress({'phase': 'configdrive'})
            part = self.step('adding a config drive partition to %s'
                             % self.target,
                             layout.add_configdrive_partition, self.path,
                             self.size, cd_bytes, self.tools)
            self.step('writing the config drive to %s' % self.target,
                      layout.write_configdrive, self.path, part, iso)
            result['configdrive_partition'] = part['number']
        return stats

    def partition(self, iso, result):
        parts = self.job['partitions']
        sector = layout.sector_size(self.path, self.tools)
        plan = layout.plan_partitions(self.size, parts, sector,
                                      configdrive=iso is not None)
        if iso is not None and len(iso) > plan['configdrive'][1]:
            raise _refuse('the config drive (%d bytes) is larger than its '
                          '%d MiB partition' % (len(iso),
                                                parts['configdrive_mb']))
        self.check_fits(self.image_size(), plan['root'][1],
                        'the root partition of %s' % self.target)
        self.progress({'phase': 'partitioning'})
        self.step('clearing %s' % self.target, disk.wipe_ends, self.path)
        table = self.step('partitioning %s' % self.target,
                          layout.create_partition_table,
                          self.path, self.size, parts, self.tools,
                          configdrive=iso is not None)
        root = table['root']
        stats = self.write(root['offset'], root['size'])
        if table['swap']:
            self.progress({'phase': 'swap'})
            self.step('making swap on %s' % self.target, layout.make_swap,
                      self.path, table['swap']['offset'],
                      table['swap']['size'])
        if table['ephemeral']:
            self.progress({'phase': 'ephemeral'})
            self.step('making the ephemeral filesystem on %s'
                      % self.target, layout.make_ephemeral, self.path,
                      table['ephemeral']['offset'],
                      table['ephemeral']['size'], parts['ephemeral_format'],
                      self.tools)
        if iso is not None:
            self.progress({'phase': 'configdrive'})
            self.step('writing the config drive to %s' % self.target,
                      layout.write_configdrive, self.path,
                      table['configdrive'], iso)
            result['configdrive_partition'] = table['configdrive']['number']
        result.update(root_partition=root['number'],
                      partition_uuid=table['partition_uuid'],
                      disk_identifier=table['disk_identifier'])
        return stats


def _open_size(path):
    fd = disk.open_device(path)
    try:
        return disk.device_size(fd)
    finally:
        os.close(fd)


def write_image(params, disks, root='/', tools=None, progress=None,
                work_dir=None):
    """The ``image.write`` command; its result dict."""
    started = time.monotonic()
    tools = tools or base.Tools()
    job = validate(params)
    iso = None
    if job['configdrive'] is not None:
        try:
            iso = layout.decode_configdrive(
                job['configdrive'], read_timeout=job['read_timeout'],
                insecure=job['insecure'])
        except ImageError as exc:
            raise _refuse('bad config drive: %s' % exc) from None
    disks = base.inventory_disks({'disks': disks})
    chosen = rootdev.choose(disks, job['hints'])
    path = disk.device_path(root, chosen['name'])
    run = _Deploy(job, chosen['name'], path, tools, progress, work_dir)
    run.size = _open_size(path)
    result = {'root_device': chosen['name'], 'root_device_size': run.size,
              'image_type': job['image_type'], 'configdrive_partition': None,
              'root_partition': None}
    LOG.info('writing a %s image (%s) to %s (%d bytes)', job['image_type'],
             job['image']['mode'], chosen['name'], run.size)
    if job['image_type'] == 'whole-disk':
        stats = run.whole_disk(iso, result)
    else:
        stats = run.partition(iso, result)
    if result.get('disk_identifier') is None:
        result['disk_identifier'] = layout.disk_identifier(path, tools)
    disk.reread_partitions(path, tools)
    stats = stats or {}
    for key in COUNTERS:
        result[key] = stats.get(key) or 0
    if stats.get('checksum'):
        result['checksum'] = stats['checksum']
    result['seconds'] = round(time.monotonic() - started, 3)
    run.progress({'phase': 'done', 'bytes_written': result['bytes_written'],
                  'bytes_total': result['bytes_written']})
    return result


def _devices(params, disks):
    """Inventory names of the disks a command acts on."""
    names = [d['name'] for d in base.inventory_disks({'disks': disks})]
    wanted = (params or {}).get('devices')
    if wanted is None:
        return names
    if not isinstance(wanted, list) or not all(
            isinstance(w, str) and w for w in wanted):
        raise ImageError('devices must be null or a list of disk names, '
                         'not %r; nothing was erased' % (wanted,))
    chosen = []
    for name in wanted:
        full = name if name.startswith('/') else '/dev/' + name
        if full not in names:
            raise ImageError('%s is not a disk of this node (disks: %s); '
                             'nothing was erased'
                             % (name, ', '.join(names) or 'none'))
        if full not in chosen:
            chosen.append(full)
    return chosen


def _each(names, root, what, func):
    done = {}
    for name in names:
        try:
            done[name] = func(disk.device_path(root, name), name)
        except (ImageError, base.ConfigError, OSError) as exc:
            raise ImageError('%s %s failed: %s%s' % (
                what, name, exc, '; already done: %s' % ', '.join(done)
                if done else '')) from None
    return {'devices': done}


def erase_metadata(params, disks, root='/', tools=None):
    """The ``disk.erase_metadata`` command."""
    tools = tools or base.Tools()
    return _each(_devices(params, disks), root, 'erasing the metadata of',
                 lambda path, name: erase.erase_metadata(path, tools))


def erase_devices(params, disks, root='/', tools=None, progress=None):
    """The ``disk.erase`` command."""
    tools = tools or base.Tools()
    allow = (params or {}).get('allow_shred') is True
    names = _devices(params, disks)

    def one(path, name):
        def report(fields):
            if progress is not None:
                progress(dict(fields, device=name))
        return erase.erase_device(path, tools, allow_shred=allow,
                                  progress=report)

    result = _each(names, root, 'erasing', one)
    if progress is not None:
        progress({'phase': 'done'})
    return result
