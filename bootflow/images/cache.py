"""Master image cache: one verified copy of each boot file per host.

Every node deployed from the same kernel, ramdisk or ISO gets a *hard link*
of one master copy, so a hundred nodes cost one download and one file's
worth of disk. Layout of ``master_dir``:

* ``<key>``: a master, where ``key`` is the sha256 of (source, normalized
  checksum). The same URL with another checksum is another master, so an
  image is never served under a checksum it was not verified against.
* ``.<key>.<random>.part``: a download in progress (dot-prefixed, never
  mistaken for a master); renamed onto ``<key>`` only once verified.
* ``.<key>.lock``: the per-key lock file. Lock files are never deleted:
  unlinking a lock file others may be waiting on lets two holders in.

Single flight: a key is guarded by a thread lock (threads of this process)
and by ``fcntl.flock`` on its lock file (other conductors on this host that
share ``master_dir``). Only one key's lock is held during a download, so
different images download in parallel.

Eviction uses the master's mtime as its "last used" time (refreshed on each
use) and never removes a master whose link count is above 1: a node still
links it, and removing it would free nothing anyway.
"""

import errno
import hashlib
import json
import os
import re
import shutil
import time
import uuid

from oslo_log import log

from bootflow.common import exception
from bootflow.images import download
from bootflow.images import locks

LOG = log.getLogger(__name__)

_ALGO_BY_LENGTH = {32: 'md5', 40: 'sha1', 64: 'sha256', 128: 'sha512'}
_LENGTH_BY_ALGO = {algo: n for n, algo in _ALGO_BY_LENGTH.items()}
_HEX = re.compile(r'^[0-9a-f]+$')
_MASTER = re.compile(r'^[0-9a-f]{64}$')
_PART = re.compile(r'^\.([0-9a-f]{64})\.[0-9a-f]+\.part$')
_READ_CHUNK = 1024 * 1024


def parse_checksum(checksum):
    """Split ``checksum`` into ``(algo, hexdigest)``, both lower-case.

    Accepts ``'<algo>:<hex>'`` for md5, sha1, sha256 and sha512, or a bare
    hex digest whose length names the algorithm (as Glance's ``os_hash``
    and Ironic's ``image_checksum`` are often given).
    """
    if not isinstance(checksum, str) or not checksum.strip():
        raise exception.InvalidParameterValue(
            err='Image checksum must be a non-empty string, got %r.'
            % (checksum,))
    text = checksum.strip().lower()
    algo, sep, digest = text.rpartition(':')
    if not sep:
        algo = _ALGO_BY_LENGTH.get(len(digest))
    if algo not in _LENGTH_BY_ALGO or not _HEX.match(digest):
        raise exception.InvalidParameterValue(
            err='Invalid image checksum %r: expected <algo>:<hex digest> '
            'with algo one of md5, sha1, sha256, sha512, or a bare hex '
            'digest of 32, 40, 64 or 128 characters.' % checksum)
    if len(digest) != _LENGTH_BY_ALGO[algo]:
        raise exception.InvalidParameterValue(
            err='Invalid image checksum %r: a %s digest has %d hex '
            'characters, not %d.' % (checksum, algo, _LENGTH_BY_ALGO[algo],
                                     len(digest)))
    return algo, digest


def master_key(source, checksum=None):
    """The master's file name for ``source`` (and ``checksum``, if any).

    JSON keeps the two apart unambiguously: no crafted source can produce
    the key of another source with a checksum.
    """
    parsed = None if checksum is None else parse_checksum(checksum)
    material = json.dumps([source, parsed])
    return hashlib.sha256(material.encode('utf-8')).hexdigest()


def _remove_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _publish(master, dest):
    """Make ``dest`` a hard link of ``master``, atomically.

    The link is made under a temporary name next to ``dest`` and renamed
    over it, so a reader sees the old file or the new one, never a gap. If
    ``dest`` is on another filesystem (EXDEV) it gets a copy instead: the
    node then does not pin the master, which may be evicted, costing disk
    but nothing else.
    """
    dest_dir = os.path.dirname(os.path.abspath(dest))
    tmp = os.path.join(dest_dir, '.%s.%s.tmp' % (os.path.basename(dest),
                                                 uuid.uuid4().hex))
    try:
        try:
            os.link(master, tmp)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            LOG.debug('%s is on another filesystem than the image cache; '
                      'copying instead of linking.', dest)
            shutil.copyfile(master, tmp)
        os.replace(tmp, dest)
    finally:
        # rename() is a no-op when both names already link the same inode
        # (re-fetching into a dest that is already this master's link).
        _remove_quietly(tmp)


def _file_digest(path, algo):
    hasher = hashlib.new(algo, usedforsecurity=False)
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(_READ_CHUNK), b''):
            hasher.update(chunk)
    return hasher.hexdigest()


def _fsync(path):
    """Flush a download before it is renamed into place.

    Otherwise a power cut could leave a master with its name but not its
    bytes, which the cache would then trust forever.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ImageCache:
    """Verified master copies of boot files, shared by hard links."""

    def __init__(self, master_dir, max_size, ttl, downloader=None):
        """master_dir: where master copies live (created if missing).

        max_size: bytes the cache may hold (0 = unlimited); ttl: seconds a
        master unused by any node may stay (0 = forever). downloader:
        callable(source, dest_path) that writes the file; defaults to
        :func:`bootflow.images.download.fetch`.
        """
        self.master_dir = os.path.abspath(master_dir)
        self.max_size = max_size
        self.ttl = ttl
        self._downloader = downloader or download.fetch
        os.makedirs(self.master_dir, exist_ok=True)

    def fetch_image(self, source, dest, checksum=None):
        """Make ``dest`` a hard link of the verified master of ``source``.

        Downloads only if no master exists yet, once however many threads
        or processes ask at the same time. ``dest`` appears complete or not
        at all; an existing ``dest`` is replaced. Its directory must exist.

        With ``checksum=None`` the master is keyed by the source alone and
        the bytes are NOT verified: whether that is acceptable is the
        caller's decision. Returns ``dest``.
        """
        expected = None if checksum is None else parse_checksum(checksum)
        key = master_key(source, checksum)
        master = os.path.join(self.master_dir, key)
        trim_after = False
        with locks.KeyLock(self.master_dir, key):
            if os.path.isfile(master):
                LOG.debug('Image %s found in the cache as %s', source, key)
            else:
                trim_after = self._download(source, key, master, expected)
            # The master's mtime is its "last used" time for TTL and LRU.
            os.utime(master)
            _publish(master, dest)
        if trim_after:
            self.clean_up()
        return dest

    def clean_up(self, amount=None):
        """Evict masters no node links (link count 1); return bytes freed.

        First those unused for longer than ttl, then the least recently
        used until the total is at most max_size minus ``amount`` (bytes
        the caller is about to add). Also removes ``.part`` files left by
        a downloader that died. A master being fetched right now is
        skipped rather than waited for.
        """
        masters, parts = self._scan()
        freed = sum(self._remove_orphan(path, key) for path, key in parts)
        now = time.time()
        kept = []
        for path, key, st in masters:
            if (self.ttl and st.st_nlink == 1
                    and now - st.st_mtime > self.ttl):
                size = self._evict(path, key, st)
                if size is not None:
                    freed += size
                    continue
            kept.append((path, key, st))
        if self.max_size:
            freed += self._trim(kept, self.max_size - (amount or 0))
        return freed

    def _download(self, source, key, master, expected):
        """Download, verify and install the master of ``key``.

        Runs under the key's lock. Returns True if the image's size was
        not known beforehand, so the cache could not make room for it.
        """
        size = self._expected_size(source)
        self.clean_up(amount=size)
        tmp = os.path.join(self.master_dir,
                           '.%s.%s.part' % (key, uuid.uuid4().hex))
        LOG.info('Downloading image %s into the cache', source)
        try:
            self._run_downloader(source, tmp)
            if expected is not None:
                self._verify(source, tmp, expected)
            _fsync(tmp)
            os.replace(tmp, master)
        finally:
            _remove_quietly(tmp)
        return size is None

    def _expected_size(self, source):
        if self.max_size and self._downloader is download.fetch:
            return download.expected_size(source)
        return None

    def _run_downloader(self, source, tmp):
        try:
            self._downloader(source, tmp)
        except exception.BootflowException:
            raise
        except Exception as exc:
            raise exception.ImageDownloadFailed(
                image_href=source,
                reason=str(exc) or type(exc).__name__) from exc
        if not os.path.isfile(tmp):
            raise exception.ImageDownloadFailed(
                image_href=source, reason='the downloader wrote no file')

    @staticmethod
    def _verify(source, path, expected):
        algo, digest = expected
        actual = _file_digest(path, algo)
        if actual != digest:
            raise exception.ImageChecksumError(
                image_href=source, expected='%s:%s' % (algo, digest),
                actual='%s:%s' % (algo, actual))

    def _scan(self):
        masters, parts = [], []
        for entry in os.scandir(self.master_dir):
            part = _PART.match(entry.name)
            if part:
                parts.append((entry.path, part.group(1)))
            elif _MASTER.match(entry.name):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                masters.append((entry.path, entry.name, st))
        return masters, parts

    def _trim(self, masters, target):
        """Evict least recently used masters until ``target`` is met."""
        freed = 0
        total = sum(st.st_size for _, _, st in masters)
        for path, key, st in sorted(masters, key=lambda m: m[2].st_mtime_ns):
            if total <= target:
                break
            if st.st_nlink > 1:
                continue
            size = self._evict(path, key, st)
            if size is not None:
                freed += size
                total -= size
            elif not os.path.exists(path):
                total -= st.st_size  # another conductor evicted it
        return freed

    def _evict(self, path, key, seen):
        """Remove one master unless it changed since ``seen``.

        Under the key's lock, so it cannot vanish while being linked; a
        master re-used or linked since the scan is no longer a candidate.
        Returns the bytes freed, or None if it was kept.
        """
        lock = locks.KeyLock(self.master_dir, key)
        if not lock.acquire(blocking=False):
            return None
        try:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return None
            if (st.st_nlink > 1 or st.st_ino != seen.st_ino
                    or st.st_mtime_ns != seen.st_mtime_ns):
                return None
            os.unlink(path)
        finally:
            lock.release()
        LOG.info('Evicted master %s (%d bytes) from the image cache',
                 key, st.st_size)
        return st.st_size

    def _remove_orphan(self, path, key):
        """Remove a ``.part`` file whose key nobody holds: its writer died."""
        lock = locks.KeyLock(self.master_dir, key)
        if not lock.acquire(blocking=False):
            return 0
        try:
            size = os.stat(path).st_size
            os.unlink(path)
        except FileNotFoundError:
            return 0
        finally:
            lock.release()
        return size
