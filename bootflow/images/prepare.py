"""The conductor's half of a ``direct`` deploy: turn a node's image_source
into the ``image`` parameters of the agent's ``image.write``.

Everything that needs trust happens here, once per image rather than once
per node: the checksum policy, the file:// allow-list, checking what the
bytes really are (never what the uploader declared), refusing a qcow2
that reads other files of this host, converting qcow2 to raw, splitting
raw into content-addressed blocks. The agent then only ever writes
verified raw bytes.

Caches (under ``<parent of [pxe]instance_master_path>/deploy_images``,
sized like the boot file cache):

* the image as downloaded, keyed by ``cache.master_key(source,
  checksum)`` and verified against the checksum;
* its raw form when it was not raw already (a converted qcow2, or a
  block-distributed image reassembled for ``http``), as an entry of the
  same cache keyed by ``master_key(RAW_PREFIX + key)``: a second deploy
  neither downloads nor converts, and eviction treats it like any master;
* for ``blocks``, the manifest in the block store under ``key``.

So a second prepare of the same image_source and checksum reads nothing
from the origin.
"""

import hashlib
import json
import os
import uuid
from urllib import parse

from oslo_log import log
import requests

from bootflow.agent.imaging import ImageError
from bootflow.agent.imaging import formats
from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.drivers.modules.netboot import files
from bootflow.images import cache
from bootflow.images import download
from bootflow.images import glance
from bootflow.images import locks
from bootflow.images import qemu
from bootflow.images import source

LOG = log.getLogger(__name__)

MIB = 1024 * 1024
MODES = ('blocks', 'http', 'direct')
DISK_FORMATS = ('raw', 'qcow2')
NODE_IMAGE = 'image.raw'
RAW_PREFIX = 'bootflow-raw:'
MANIFEST_KIND = 'bootflow-blocks'
_CHUNK = MIB
DIRECT_GLANCE = ('image_source %s is an image service image, which only '
                 'the conductor can fetch (with its [glance] credentials), '
                 'not the agent with image_download_source "direct"; use '
                 '"blocks" or "http"')


# -- configuration ------------------------------------------------------

def cache_dir():
    parent = os.path.dirname(os.path.abspath(CONF.pxe.instance_master_path))
    path = os.path.join(parent, 'deploy_images')
    os.makedirs(path, exist_ok=True)
    return path


def _cache(downloader=None):
    return cache.ImageCache(cache_dir(),
                            max_size=CONF.pxe.image_cache_size * MIB,
                            ttl=CONF.pxe.image_cache_ttl * 60,
                            downloader=downloader or _download)


def _download(src, dest):
    """The master cache's downloader: the source is checked again right
    before it is read (a file may have been swapped for a symlink since
    validation), and the transfer is capped."""
    if src.startswith(glance.PREFIX):
        glance.fetch(src, dest, read_timeout=CONF.deploy.image_read_timeout,
                     max_bytes=CONF.deploy.max_image_size_mb * MIB,
                     deadline=CONF.deploy.image_download_timeout)
        return
    kind, path = source.check_source(src)
    url = src if kind == 'http' else 'file://' + parse.quote(path)
    download.fetch(url, dest, timeout=CONF.deploy.image_read_timeout,
                   max_bytes=CONF.deploy.max_image_size_mb * MIB,
                   deadline=CONF.deploy.image_download_timeout)


def blocks_dir():
    return CONF.image_store.blocks_dir or os.path.join(
        CONF.deploy.http_root, 'blocks')


def _url(http_url, *parts):
    if http_url:
        return '/'.join([http_url.rstrip('/')] + list(parts))
    return files.http_url(*parts)


def _block_bases(http_url):
    """``(base of the manifests and blocks, every block source)``.

    A store under http_root is served by us; one elsewhere only by the
    operator's mirrors, the first of which then serves the manifests.
    """
    root = os.path.realpath(CONF.deploy.http_root)
    where = os.path.realpath(blocks_dir())
    mirrors = [m.rstrip('/') for m in CONF.image_store.mirrors if m]
    if os.path.commonpath([root, where]) == root and where != root:
        base = _url(http_url, *os.path.relpath(where, root).split(os.sep))
        return base, [base] + [m for m in mirrors if m != base]
    if not mirrors:
        raise exception.InvalidParameterValue(
            err='[image_store]blocks_dir %s is not under [deploy]http_root '
                '%s, so agents can only fetch blocks from [image_store]'
                'mirrors, which is empty' % (where, root))
    return mirrors[0], mirrors


def _store():
    from bootflow.images import blockstore
    where = blocks_dir()
    return blockstore.BlockStore(where, os.path.join(where, 'manifests'))


# -- instance_info --------------------------------------------------------

def image_type(info):
    """Ironic's rule: a partition image comes with its kernel and
    ramdisk, unless instance_info says otherwise."""
    declared = info.get('image_type')
    if declared:
        if declared not in ('whole-disk', 'partition'):
            raise exception.InvalidParameterValue(
                err='instance_info/image_type must be "whole-disk" or '
                    '"partition", not %r' % (declared,))
        return declared
    return 'partition' if info.get('kernel') and info.get('ramdisk') \
        else 'whole-disk'


def declared_format(info):
    fmt = info.get('image_disk_format') or None
    if fmt is not None and fmt not in DISK_FORMATS:
        raise exception.InvalidParameterValue(
            err='instance_info/image_disk_format must be one of %s, not %r'
                % (', '.join(DISK_FORMATS), fmt))
    return fmt


def _unacceptable(src, exc):
    """An agent-side ImageError as a bootflow exception, its message
    kept word for word: it becomes the node's last_error."""
    return exception.ImageUnacceptable(str(exc), image=src, reason=str(exc))


def _read_head(path):
    with open(path, 'rb') as f:
        return f.read(formats.HEAD_BYTES)


def _format(src, declared, detected):
    """The disk format to treat the image as: ``declared`` if the bytes
    agree, else what the bytes are (raw or qcow2 only)."""
    try:
        if declared:
            formats.check_declared(declared, detected)
            return declared
    except ImageError as exc:
        raise _unacceptable(src, exc) from exc
    if detected in formats.RAW_KINDS:
        return 'raw'
    if detected == 'qcow2':
        return 'qcow2'
    raise exception.ImageUnacceptable(
        image=src, reason='it is a %s image; only raw and qcow2 images can '
        'be deployed' % detected)


# -- the entry points -----------------------------------------------------

def prepare(node, mode, http_url=None):
    """The agent's ``image`` parameters for deploying ``node``, plus
    ``'image_type'``; ``http_url`` overrides the base URL agents fetch
    this conductor's files from."""
    info = node.instance_info or {}
    if mode not in MODES:
        raise exception.InvalidParameterValue(
            err='image_download_source must be one of %s, not %r'
                % (', '.join(MODES), mode))
    src, kind, checksum, declared = _origin(node)
    kind_of_image = image_type(info)
    if mode == 'direct':
        params = _direct(src, kind, checksum, declared)
    else:
        job = _Job(src, checksum, declared)
        params = (job.blocks(http_url) if mode == 'blocks'
                  else job.http(node, http_url))
    params['image_type'] = kind_of_image
    return params


def _origin(node):
    """``(source, kind, checksum, declared format)`` of the node's image:
    from instance_info, or for a Glance image from Glance's metadata
    (which wins over whatever instance_info declares)."""
    info = node.instance_info or {}
    src = info.get('image_source')
    if glance.is_glance_ref(src):
        image = glance.resolve(src, node, CONF.agent.allow_md5_checksum,
                               CONF.deploy.max_image_size_mb * MIB)
        return image['source'], 'glance', image['checksum'], \
            image['disk_format']
    kind, _ = source.check_source(src, must_exist=False)
    checksum = source.checksum_of(info, CONF.agent.allow_md5_checksum)
    return src, kind, checksum, declared_format(info)


def cleanup(node):
    """Remove what :func:`prepare` put into the node's HTTP directory."""
    mine = files.http_path(node.uuid, NODE_IMAGE)
    recorded = (node.driver_internal_info or {}).get(files.RECORD_KEY) or []
    if mine not in recorded:
        return
    files.remove_recorded(node, keep=[p for p in recorded if p != mine])


def clean_cache():
    """Evict unused deploy images (as the boot file cache's periodic task
    does) and forget the sha256 of raws that are gone."""
    freed = _cache().clean_up()
    where = cache_dir()
    for name in os.listdir(where):
        if name.startswith('.') and name.endswith('.sha256'):
            master = os.path.join(where, name[1:-len('.sha256')])
            if not os.path.exists(master):
                _remove_quietly(os.path.join(where, name))
    return freed


def _remove_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# -- direct ---------------------------------------------------------------

def _direct(src, kind, checksum, declared):
    if kind == 'glance':
        raise exception.InvalidParameterValue(
            err=DIRECT_GLANCE % src)
    if kind != 'http':
        raise exception.InvalidParameterValue(
            err='image_source %s is a local file of the conductor, which '
                'the agent cannot fetch with image_download_source '
                '"direct"; use "blocks" or "http"' % src)
    return {'mode': 'stream', 'url': src, 'checksum': checksum,
            'disk_format': declared or _probe_format(src), 'size': None}


def _probe_format(src):
    """The format of an http image from its first bytes only (a Range
    request; a server ignoring it is cut off after them), for a direct
    deploy without image_disk_format: the agent needs to know."""
    try:
        with requests.get(src, stream=True,
                          timeout=CONF.deploy.image_read_timeout,
                          headers={'Range': 'bytes=0-%d'
                                   % (formats.HEAD_BYTES - 1)}) as resp:
            if resp.status_code not in (200, 206):
                raise exception.ImageDownloadFailed(
                    image_href=src, reason='HTTP status %d %s'
                    % (resp.status_code, resp.reason))
            head = b''
            for chunk in resp.iter_content(chunk_size=formats.HEAD_BYTES):
                head += chunk
                if len(head) >= formats.HEAD_BYTES:
                    break
    except requests.RequestException as exc:
        raise exception.ImageDownloadFailed(image_href=src,
                                            reason=str(exc)) from exc
    detected = formats.detect(head)
    if detected == MANIFEST_KIND:
        raise exception.InvalidParameterValue(
            err='image_source %s is a block manifest; deploy it with '
                'image_download_source "blocks" or "http"' % src)
    return _format(src, None, detected)


# -- http and blocks ------------------------------------------------------

class _Job:
    """One image's way from its source to raw bytes (or a manifest) in
    the caches."""

    def __init__(self, src, checksum, declared):
        self.src = src
        self.checksum = checksum
        self.declared = declared
        self.key = cache.master_key(src, checksum)
        self.raw_id = RAW_PREFIX + self.key
        self.raw_master = os.path.join(cache_dir(),
                                       cache.master_key(self.raw_id))

    # .. the two modes

    def http(self, node, http_url):
        dest = files.http_path(node.uuid, NODE_IMAGE)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        files.record(node, [dest])
        try:
            fmt = self._raw_into(dest, allow_manifest=False)
            digest = self._raw_sha256(dest, fmt)
        except BaseException:
            _remove_quietly(dest)
            raise
        return {'mode': 'stream', 'url': _url(http_url, node.uuid,
                                              NODE_IMAGE),
                'checksum': 'sha256:' + digest, 'disk_format': 'raw',
                'size': os.path.getsize(dest)}

    def blocks(self, http_url):
        base, bases = _block_bases(http_url)
        store = _store()
        with _KeyLocked(cache_dir(), 'blocks-' + self.key):
            found = store.load_manifest(self.key)
            if found is None or not self._usable(found[0]):
                found = self._split(store)
        manifest, sha = found
        return {'mode': 'blocks',
                'manifest_url': '%s/manifests/%s.json' % (base, self.key),
                'manifest_sha256': sha, 'sources': bases, 'reuse': True,
                'size': manifest['size']}

    # .. blocks

    def _usable(self, manifest):
        """A stored manifest (the store already checked that its blocks
        are all there) serves if it has the configured block size
        (changing the size re-splits), or came as such from the origin."""
        return (manifest['block_size'] == CONF.image_store.block_size_mb
                * MIB or self._source_is_manifest())

    def _source_is_manifest(self):
        master = os.path.join(cache_dir(), self.key)
        try:
            return formats.detect(_read_head(master)) == MANIFEST_KIND
        except OSError:
            return False

    def _split(self, store):
        link = _temp_link(cache_dir(), self.key)
        try:
            if self._raw_into(link, allow_manifest=True) == MANIFEST_KIND:
                manifest = self._fill(store, link)
                return manifest, store.save_manifest(self.key, manifest)
            LOG.info('Splitting image %s into blocks', self.src)
            return _guard(self.src, store.ingest, link, self.key,
                          CONF.image_store.block_size_mb * MIB)
        finally:
            _remove_quietly(link)

    def _fill(self, store, path):
        """Fetch the blocks of the origin's manifest at ``path`` that the
        store lacks."""
        from bootflow.agent.imaging import manifest as mf
        with open(path, 'rb') as f:
            data = f.read()
        try:
            manifest = mf.loads(data)
            base = mf.blocks_base(manifest, self.src)
        except ValueError as exc:
            raise exception.ImageUnacceptable(
                image=self.src, reason='invalid block manifest: %s' % exc)
        if self.declared == 'qcow2':
            raise _unacceptable(self.src, ImageError(
                'image format mismatch: declared qcow2 but the image is '
                'a block manifest (of a raw image)'))
        # Our copy's blocks are in our store; agents get its sources.
        manifest.pop('blocks_url', None)
        stats = _guard(self.src, store.fill, manifest, [base],
                       workers=CONF.image_store.origin_fetch_workers,
                       timeout=CONF.deploy.image_read_timeout)
        LOG.info('Blocks of %s fetched from %s: %s', self.src, base, stats)
        return manifest

    # .. raw bytes

    def _raw_into(self, dest, allow_manifest):
        """Make ``dest`` a link of the image's raw form (or, with
        ``allow_manifest``, of the origin's manifest). Returns 'raw' (the
        original is raw), 'derived' (``dest`` is the raw made from a
        qcow2 or a manifest) or MANIFEST_KIND."""
        raws = _cache(self._make_raw)
        if os.path.isfile(self.raw_master):
            # Converted or assembled before: the original is not needed.
            raws.fetch_image(self.raw_id, dest)
            return 'derived'
        _cache().fetch_image(self.src, dest, self.checksum)
        detected = formats.detect(_read_head(dest))
        if detected == MANIFEST_KIND:
            if allow_manifest:
                return MANIFEST_KIND
        elif _format(self.src, self.declared, detected) == 'raw':
            return 'raw'
        _remove_quietly(dest)
        raws.fetch_image(self.raw_id, dest)
        return 'derived'

    def _make_raw(self, raw_id, tmp):
        """The raw cache's "downloader": produces the raw form of the
        image from its verified original."""
        link = _temp_link(cache_dir(), self.key)
        try:
            _cache().fetch_image(self.src, link, self.checksum)
            head = _read_head(link)
            detected = formats.detect(head)
            if detected == MANIFEST_KIND:
                self._assemble(link, tmp)
                return
            if _format(self.src, self.declared, detected) != 'qcow2':
                raise exception.ImageUnacceptable(
                    image=self.src, reason='it is %s, nothing to convert'
                    % detected)
            self._check_qcow2(link, head)
            qemu.convert_to_raw(link, tmp, CONF.deploy.qemu_img_timeout)
        finally:
            _remove_quietly(link)

    def _check_qcow2(self, path, head):
        try:
            header = formats.check_qcow2(head)
        except ImageError as exc:
            raise _unacceptable(self.src, exc) from exc
        details = qemu.info(path, 'qcow2', CONF.deploy.qemu_img_timeout)
        details['filename'] = self.src
        qemu.check_safe(details, 'qcow2')
        size = max(header['virtual_size'], details.get('virtual-size') or 0)
        limit = CONF.deploy.max_image_size_mb * MIB
        if size > limit:
            raise exception.ImageUnacceptable(
                image=self.src, reason='its virtual size (%s) is more '
                'than [deploy]max_image_size_mb (%s)'
                % (download.human_size(size), download.human_size(limit)))

    def _assemble(self, path, tmp):
        """Write the raw image a block manifest describes, for agents
        that stream (``http``)."""
        store = _store()
        manifest = self._fill(store, path)
        _write_blocks(store, manifest, tmp, self.src)

    def _raw_sha256(self, path, fmt):
        """sha256 of the raw at ``path``: the source checksum itself when
        it is one of the raw image, else computed once and remembered
        next to the raw's master."""
        algo, digest = cache.parse_checksum(self.checksum)
        if fmt == 'raw' and algo == 'sha256':
            return digest
        st = os.stat(path)
        memo = os.path.join(cache_dir(), '.%s.sha256' % (
            self.key if fmt == 'raw' else os.path.basename(self.raw_master)))
        ident = [st.st_dev, st.st_ino, st.st_size]
        try:
            with open(memo) as f:
                saved = json.load(f)
            if saved.get('file') == ident:
                return saved['sha256']
        except (OSError, ValueError, AttributeError):
            pass
        digest = _sha256_file(path)
        _write_atomic(memo, json.dumps({'file': ident, 'sha256': digest}))
        return digest


# -- helpers --------------------------------------------------------------

class _KeyLocked:
    def __init__(self, where, key):
        self._lock = locks.KeyLock(where, key)

    def __enter__(self):
        self._lock.acquire()

    def __exit__(self, *exc):
        self._lock.release()


def _temp_link(where, key):
    # Dot-prefixed and not ".part": the cache never takes it for a
    # master nor for a download to clean up.
    return os.path.join(where, '.%s.%s.use' % (key, uuid.uuid4().hex))


def _guard(src, func, *args, **kwargs):
    """Call into the block store, turning its plain errors into ours."""
    try:
        return func(*args, **kwargs)
    except exception.BootflowException:
        raise
    except ImageError as exc:
        raise _unacceptable(src, exc) from exc
    except (OSError, ValueError) as exc:
        raise exception.ImageDownloadFailed(
            image_href=src, reason=str(exc) or type(exc).__name__) from exc


def _write_blocks(store, manifest, dest, src):
    """Concatenate the blocks of ``manifest`` into ``dest`` (sparse for
    zero blocks), checking the whole image's sha256."""
    size, block = manifest['size'], manifest['block_size']
    hasher = hashlib.sha256()
    zero = bytes(block)
    with open(dest, 'wb') as out:
        for index, digest in enumerate(manifest['blocks']):
            length = min(block, size - index * block)
            if digest is None:
                hasher.update(zero[:length])
                out.seek(length, os.SEEK_CUR)
                continue
            with open(store.block_path(digest), 'rb') as f:
                data = f.read(length + 1)
            if len(data) != length or \
                    hashlib.sha256(data).hexdigest() != digest:
                raise exception.ImageChecksumError(
                    image_href=src, expected='block %s' % digest,
                    actual='a damaged copy in the block store')
            hasher.update(data)
            out.write(data)
        out.truncate(size)
    if hasher.hexdigest() != manifest['image_sha256']:
        raise exception.ImageChecksumError(
            image_href=src, expected='sha256:' + manifest['image_sha256'],
            actual='sha256:' + hasher.hexdigest())


def _sha256_file(path):
    hasher = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(_CHUNK), b''):
            hasher.update(chunk)
    return hasher.hexdigest()


def _write_atomic(path, text):
    tmp = '%s.%s.tmp' % (path, uuid.uuid4().hex)
    try:
        with open(tmp, 'w') as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        _remove_quietly(tmp)
