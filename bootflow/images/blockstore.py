"""The conductor's block store: images as content-addressed blocks.

Layout (what agents and mirrors see, see
:mod:`bootflow.agent.imaging.manifest`):

* ``<blocks_dir>/<h[0:2]>/<h>``: a block, named by the sha256 of its
  bytes. A block is shared by every image that contains it, so storing a
  new version of an image costs only its changed blocks, and a block
  never changes under its name: any static web server can mirror the
  store and any cache in between may keep it forever.
* ``<manifests_dir>/<key>.json``: the manifest of one image.

Writers never expose half a file: a block or manifest is written under a
dot-prefixed temporary name, flushed, and renamed into place, so a
reader (the HTTP server, another conductor sharing the directory) sees
it whole or not at all. A manifest is saved only after all its blocks
are, and is trusted only while all of them are present, so a manifest
never names what cannot be fetched.
"""

import collections
import concurrent.futures
import hashlib
import os
import re
import threading
import time
import urllib.parse
import uuid

from oslo_log import log
import requests

from bootflow.agent.imaging import manifest as mf
from bootflow.common import exception
from bootflow.images import locks

LOG = log.getLogger(__name__)

# Blocks being written at once while an image is split: enough to overlap
# reading and hashing the image with flushing blocks, a few blocks of RAM.
INGEST_WRITERS = 4
FAILED_BASE_PENALTY = 30.0      # seconds a base that failed is tried last
_KEY = re.compile(r'[^./\x00][^/\x00]*')


def _check_key(key):
    # The key becomes a file name: no directories, no hidden files.
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError('invalid manifest key %r' % (key,))
    return key


def _write_atomic(path, data):
    """Write ``data`` to ``path`` so that it appears whole or not at all,
    and survives a power cut once it has its name (else a block could
    keep its name but not its bytes, and be served as valid forever)."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, '.%s.%s.tmp' % (name, uuid.uuid4().hex))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class BlockStore:
    """Blocks by sha256 and the manifests of the images made of them."""

    def __init__(self, blocks_dir, manifests_dir=None):
        self.blocks_dir = os.path.abspath(blocks_dir)
        self.manifests_dir = os.path.abspath(
            manifests_dir or os.path.join(self.blocks_dir, 'manifests'))
        os.makedirs(self.blocks_dir, exist_ok=True)
        os.makedirs(self.manifests_dir, exist_ok=True)

    # .. blocks

    def block_path(self, h):
        return os.path.join(self.blocks_dir, *mf.block_relpath(h).split('/'))

    def has_block(self, h):
        return os.path.isfile(self.block_path(h))

    def put_block(self, h, data):
        """Store ``data`` as block ``h`` unless it is there already;
        whether it was written. The bytes must hash to ``h``."""
        actual = hashlib.sha256(data).hexdigest()
        if actual != h:
            raise exception.ImageChecksumError(
                image_href='block %s' % h, expected='sha256:%s' % h,
                actual='sha256:%s' % actual)
        path = self.block_path(h)
        if os.path.isfile(path):
            return False
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _write_atomic(path, data)
        return True

    def missing(self, manifest):
        """The distinct blocks of ``manifest`` the store lacks."""
        seen = set()
        lacking = []
        for h in manifest['blocks']:
            if h is not None and h not in seen:
                seen.add(h)
                if not self.has_block(h):
                    lacking.append(h)
        return lacking

    # .. manifests

    def manifest_path(self, key):
        return os.path.join(self.manifests_dir, '%s.json' % _check_key(key))

    def load_manifest(self, key):
        """``(manifest, sha256 of its bytes)`` of ``key``, or None if
        there is none, it is unreadable, or a block it names is gone."""
        path = self.manifest_path(key)
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except FileNotFoundError:
            return None
        try:
            manifest = mf.loads(data)
        except mf.ManifestError as exc:
            LOG.warning('Ignoring the invalid block manifest %s: %s',
                        path, exc)
            return None
        lacking = self.missing(manifest)
        if lacking:
            LOG.info('Block manifest %s lacks %d blocks (e.g. %s)', path,
                     len(lacking), lacking[0])
            return None
        return manifest, mf.digest(data)

    def save_manifest(self, key, manifest):
        """Store ``manifest`` as ``key`` (replacing any); its sha256."""
        mf.validate(manifest)
        data = mf.dumps(manifest)
        _write_atomic(self.manifest_path(key), data)
        return mf.digest(data)

    def ingest(self, raw_path, key, block_size):
        """Split the raw image at ``raw_path`` into the store as ``key``;
        ``(manifest, sha256)``. Once per key however many callers ask at
        once; a complete manifest of ``key`` with this block size is
        returned as it is, without reading the image."""
        return self._ingest(raw_path, key, block_size, reuse=True)

    def _ingest(self, raw_path, key, block_size, reuse):
        mf.check_block_size(block_size)
        self.manifest_path(key)     # validates the key before locking
        with locks.KeyLock(self.manifests_dir, 'ingest-%s' % key):
            found = self.load_manifest(key) if reuse else None
            if found is not None and found[0]['block_size'] == block_size:
                return found
            manifest, written = self._split(raw_path, block_size)
            sha = self.save_manifest(key, manifest)
        LOG.info('Image %s split into %d blocks of %d bytes as %s (%d '
                 'new), manifest sha256:%s', raw_path,
                 len(manifest['blocks']), block_size, key, written, sha)
        return manifest, sha

    def _split(self, raw_path, block_size):
        """Build the manifest, storing new blocks from other threads so
        that flushing them overlaps reading and hashing the image."""
        slots = threading.BoundedSemaphore(INGEST_WRITERS * 2)
        written = [0]
        pending = set()
        queued = set()

        def store(h, data):
            if h in queued or self.has_block(h):
                return
            queued.add(h)
            for future in [f for f in pending if f.done()]:
                pending.discard(future)
                written[0] += future.result()
            slots.acquire()
            future = pool.submit(self.put_block, h, data)
            future.add_done_callback(lambda _f: slots.release())
            pending.add(future)

        with concurrent.futures.ThreadPoolExecutor(INGEST_WRITERS) as pool:
            try:
                with open(raw_path, 'rb') as f:
                    manifest = mf.build(f, block_size, store=store)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
            for future in pending:
                written[0] += future.result()
        return manifest, written[0]

    # .. filling from an origin

    def fill(self, manifest, bases, workers=4, timeout=60):
        """Fetch the blocks of ``manifest`` the store lacks from the base
        URLs ``bases`` (http(s) or file://), verified, failing over
        between them. ``{'fetched': n, 'bytes': b, 'present': n}``
        (distinct blocks); ImageDownloadFailed if a block cannot be had.
        """
        mf.validate(manifest)
        lengths = {}
        for index, h in enumerate(manifest['blocks']):
            if h is not None:
                lengths.setdefault(h, mf.block_length(manifest, index))
        lacking = self.missing(manifest)
        fetcher = _Fetcher(self, [_check_base(b) for b in bases], timeout)
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
            futures = [pool.submit(fetcher.fetch, h, lengths[h])
                       for h in lacking]
            try:
                for future in concurrent.futures.as_completed(futures):
                    future.result()
            except BaseException:
                fetcher.stop.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            finally:
                fetcher.close()
        stats = {'fetched': fetcher.fetched, 'bytes': fetcher.bytes,
                 'present': len(lengths) - len(lacking)}
        LOG.debug('Block store filled in %.1f s: %s',
                  time.monotonic() - started, stats)
        return stats


def _check_base(base):
    scheme = urllib.parse.urlsplit(base).scheme.lower()
    if scheme == 'file':
        # Imported here: the drivers import the image modules.
        from bootflow.drivers.modules.netboot import sources
        sources.check(base, 'block source')
    elif scheme not in ('http', 'https'):
        raise exception.ImageRefValidationFailed(
            image_href=base, reason='blocks come from http://, https:// or '
            'file:// base URLs')
    return base.rstrip('/')


class _Fetcher:
    """Gets blocks into a store from a list of bases; a base that fails
    is tried last for a while, so one dead origin mirror costs one
    timeout, not one per block."""

    def __init__(self, store, bases, timeout):
        if not bases:
            raise exception.ImageDownloadFailed(
                image_href='(no base URL)',
                reason='no source was given for the missing blocks')
        self.store = store
        self.bases = bases
        self.timeout = timeout
        self.stop = threading.Event()
        self.fetched = self.bytes = 0
        self._failed_at = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._sessions = []

    def _session(self):
        session = getattr(self._local, 'session', None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self):
        for session in self._sessions:
            session.close()

    def _order(self):
        now = time.monotonic()
        with self._lock:
            failed = dict(self._failed_at)
        return sorted(self.bases, key=lambda b: (
            b in failed and now - failed[b] < FAILED_BASE_PENALTY,
            failed.get(b, 0)))

    def fetch(self, h, length):
        errors = collections.OrderedDict()
        for base in self._order():
            if self.stop.is_set():
                return
            url = mf.block_url(base, h)
            try:
                data = self._get(url, length)
            except (OSError, ValueError, requests.RequestException) as exc:
                errors[base] = str(exc) or type(exc).__name__
                with self._lock:
                    self._failed_at[base] = time.monotonic()
                LOG.warning('Cannot fetch block %s from %s: %s', h, base,
                            errors[base])
                continue
            try:
                self.store.put_block(h, data)     # verifies the bytes
            except exception.ImageChecksumError:
                errors[base] = 'its copy does not match the hash'
                with self._lock:
                    self._failed_at[base] = time.monotonic()
                continue
            with self._lock:
                self.fetched += 1
                self.bytes += len(data)
            return
        raise exception.ImageDownloadFailed(
            image_href='block %s' % mf.block_relpath(h),
            reason='no source has it: %s' % '; '.join(
                '%s: %s' % item for item in errors.items()))

    def _get(self, url, length):
        if url.lower().startswith('file:'):
            from bootflow.images import download
            with open(download.file_path(url), 'rb') as f:
                data = f.read(length + 1)
        else:
            with self._session().get(url, stream=True,
                                     timeout=self.timeout) as resp:
                if resp.status_code != 200:
                    raise ValueError('HTTP %d %s' % (resp.status_code,
                                                     resp.reason))
                data = resp.raw.read(length + 1, decode_content=True)
        if len(data) != length:
            raise ValueError('%s bytes instead of %d' % (
                'more' if len(data) > length else len(data), length))
        return data


def export(image_path, output_dir, block_size):
    """Split a raw image into the static layout of a mirror:
    ``<output_dir>/<name>.manifest.json`` (name: the image's file name)
    and its blocks under ``<output_dir>/blocks``, which is where the
    manifest's default ``blocks_url`` points. ``(manifest path,
    sha256)``. The image is always read again (it may have changed
    under the same name), but only blocks not there yet are written."""
    name = os.path.basename(os.path.abspath(image_path))
    store = BlockStore(os.path.join(output_dir, 'blocks'),
                       manifests_dir=output_dir)
    key = '%s.manifest' % name
    _manifest, sha = store._ingest(image_path, key, block_size, reuse=False)
    return store.manifest_path(key), sha
