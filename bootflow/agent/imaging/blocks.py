"""The ``blocks`` mode: write an image from content-addressed blocks.

The disk is read first and every block whose bytes already hash to the
manifest's is left alone, so a redeploy of a slightly changed image
fetches and writes only what changed (and a disk is never written more
than needed). All-zero blocks are never fetched. A block repeated in the
image is fetched once: a copy is kept in RAM while more uses are to
come, or it is copied from where the disk already holds it.

Blocks come from several sources (base URLs of mirrors serving
``<base>/<h[0:2]>/<h>``, see :mod:`.mirrors` for how one is chosen and
set aside). A block a source fails to give is fetched from the next, and
each source is tried twice before the block, and the write, fail. Every
block is verified before it is written: a bad mirror costs a refetch,
never a wrong byte on the disk. Writes go to each block's own offset, so
it does not matter which source, thread or attempt brings a block.

Block 0 (the partition table and boot loader) is written last, after
everything else is written and flushed: a failed write never leaves a
disk that firmware would boot. Cleaning up after a failure (wiping the
disk's ends) is the caller's job.

Standard library only: the BootOS agent imports this module.
"""

import collections
import hashlib
import http.client
import logging
import os
import socket
import threading
import time

from bootflow.agent.imaging import disk
from bootflow.agent.imaging import ImageError
from bootflow.agent.imaging import manifest as mf
from bootflow.agent.imaging import mirrors
from bootflow.agent.imaging import stream

LOG = logging.getLogger(__name__)

MIB = 1024 * 1024
PROGRESS_INTERVAL = 0.5
ROUNDS = 2              # times each source is tried for one block
ROUND_PAUSE = 1.0       # seconds between two rounds over the sources
MAX_MANIFEST_BYTES = 256 * MIB


def fetch_manifest(url, expected_sha256, read_timeout=30, insecure=False):
    """The manifest at ``url``, whose bytes must hash to
    ``expected_sha256`` (hex, optionally prefixed ``sha256:``)."""
    expected = str(expected_sha256).strip().lower()
    if expected.startswith('sha256:'):
        expected = expected[len('sha256:'):]
    response = stream.open_url(url, read_timeout, insecure)
    try:
        data = response.read(MAX_MANIFEST_BYTES + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise ImageError('cannot download the image manifest %s: %s; '
                         'nothing was written' % (
                             stream.safe_url(url), mirrors.describe(exc))
                         ) from None
    finally:
        response.close()
    if len(data) > MAX_MANIFEST_BYTES:
        raise ImageError('the image manifest %s is larger than %d MiB; '
                         'nothing was written'
                         % (stream.safe_url(url), MAX_MANIFEST_BYTES // MIB))
    actual = mf.digest(data)
    if actual != expected:
        raise ImageError('image manifest checksum mismatch for %s: expected '
                         'sha256:%s, got sha256:%s; nothing was written'
                         % (stream.safe_url(url), expected, actual))
    try:
        return mf.loads(data)
    except mf.ManifestError as exc:
        raise ImageError('invalid image manifest %s: %s; nothing was '
                         'written' % (stream.safe_url(url), exc)) from None


class _Stopped(Exception):
    """Another thread failed, or the caller gave up: stop quietly."""


# -- the writer ------------------------------------------------------------

class _Cache:
    """Blocks fetched once but needed again (the image repeats them), by
    hash, least recently used dropped first beyond ``capacity`` bytes;
    and which hash is being fetched right now, so that two threads
    needing it fetch it once."""

    def __init__(self, capacity, uses):
        self.capacity = capacity
        self.uses = uses            # writes still to come, by hash
        self._blocks = collections.OrderedDict()
        self._bytes = 0
        self._busy = {}
        self._lock = threading.Lock()

    def claim(self, h):
        """(data, None) if cached; (None, None) if the caller is to get
        it; (None, event) if another thread is: wait, then claim again."""
        with self._lock:
            data = self._blocks.get(h)
            if data is not None:
                self._blocks.move_to_end(h)
                return data, None
            if h in self._busy:
                return None, self._busy[h]
            self._busy[h] = threading.Event()
            return None, None

    def release(self, h, data):
        """The claimant of ``h`` is done (``data`` None: it failed)."""
        with self._lock:
            if (data is not None and self.uses.get(h, 0) > 1
                    and len(data) <= self.capacity):
                while self._blocks and \
                        self._bytes + len(data) > self.capacity:
                    _, old = self._blocks.popitem(last=False)
                    self._bytes -= len(old)
                self._blocks[h] = data
                self._bytes += len(data)
            self._busy.pop(h).set()

    def used(self, h):
        with self._lock:
            left = self.uses[h] = self.uses[h] - 1
            if not left and h in self._blocks:
                self._bytes -= len(self._blocks.pop(h))


class _Writer:
    def __init__(self, device, manifest, sources, offset, limit, progress,
                 reuse, workers, read_timeout, ram_cache_bytes, insecure):
        mf.validate(manifest)
        self.device = device
        self.manifest = manifest
        self.hashes = manifest['blocks']
        self.block_size = manifest['block_size']
        self.sources = mirrors.Sources(sources, read_timeout, insecure)
        self.offset = offset
        self.limit = limit
        self.callback = progress
        self.reuse = reuse
        self.workers = max(1, int(workers))
        self.ram_cache_bytes = max(0, int(ram_cache_bytes))
        self.zero = bytes(self.block_size)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.conns = set()
        self.fd = None
        self.first = None           # block 0's bytes, held until the end
        self.local = {}             # hash -> offset of a reused copy
        self.phase = 'reading disk'
        self.last_report = 0.0
        self.counts = dict.fromkeys((
            'blocks_reused', 'blocks_fetched', 'blocks_zero',
            'blocks_copied', 'bytes_fetched', 'bytes_written', 'bytes_read',
            'refetched', 'failovers'), 0)

    def length(self, index):
        return mf.block_length(self.manifest, index)

    def position(self, index):
        return self.offset + index * self.block_size

    def add(self, **amounts):
        with self.lock:
            for key, amount in amounts.items():
                self.counts[key] += amount

    # .. driving

    def run(self):
        started = time.monotonic()
        self.fd = disk.open_device(self.device)
        try:
            self._check_size()
            todo = self._scan() if self.reuse else list(
                range(len(self.hashes)))
            self.phase = 'fetching'
            self._fetch(todo)
            os.fsync(self.fd)
            if self.first is not None:
                disk.write_all(self.fd, self.first, self.position(0))
                self.add(bytes_written=len(self.first))
                os.fsync(self.fd)
        finally:
            os.close(self.fd)
        result = self._stats(time.monotonic() - started)
        self._report(force=True)
        return result

    def _check_size(self):
        room = disk.device_size(self.fd) - self.offset
        if self.offset < 0 or room < 0:
            raise ImageError('offset %d is outside %s; nothing was written'
                             % (self.offset, self.device))
        limit = room if self.limit is None else min(self.limit, room)
        if self.manifest['size'] > limit:
            raise ImageError('the image (%d bytes) is larger than the room '
                             'for it on %s (%d bytes); nothing was written'
                             % (self.manifest['size'], self.device, limit))

    def _pool(self, work, items):
        """Run ``work(item, state)`` over ``items`` in the worker
        threads, reporting progress from this thread meanwhile; the first
        failure (or an exception from the progress callback) stops all."""
        items = iter(items)
        taken = threading.Lock()
        errors = []

        def loop():
            state = {'conns': mirrors.Connections(self.sources, self.conns),
                     'buf': None}
            try:
                while not self.stop.is_set():
                    with taken:
                        item = next(items, None)
                    if item is None:
                        return
                    work(item, state)
            except _Stopped:
                pass
            except BaseException as exc:    # noqa: B902 - re-raised below
                errors.append(exc)
                self._halt()
            finally:
                state['conns'].close()

        threads = [threading.Thread(target=loop, daemon=True,
                                    name='blocks-%d' % n)
                   for n in range(self.workers)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(PROGRESS_INTERVAL)
                    self._report()
        except BaseException:
            self._halt()
            raise
        finally:
            for thread in threads:
                thread.join()
        if errors:
            raise errors[0]

    def _halt(self):
        self.stop.set()
        for conn in list(self.conns):
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _report(self, force=False):
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and now - self.last_report < PROGRESS_INTERVAL:
            return
        self.last_report = now
        with self.lock:
            fields = dict(self.counts)
        fields.update(phase=self.phase, device=self.device,
                      bytes_total=self.manifest['size'],
                      blocks_total=len(self.hashes))
        self.callback(fields)

    def _stats(self, seconds):
        stats = dict(self.counts, blocks_total=len(self.hashes),
                     seconds=round(seconds, 3),
                     sources=self.sources.stats())
        del stats['bytes_read']
        return stats

    # .. reading what is on the disk

    def _scan(self):
        """Indexes of the blocks that must be written, in order; counts
        those already right."""
        wanted = bytearray(len(self.hashes))
        self._pool(lambda index, state: self._judge(index, state, wanted),
                   range(len(self.hashes)))
        return [i for i, flag in enumerate(wanted) if flag]

    def _judge(self, index, state, wanted):
        length = self.length(index)
        if state['buf'] is None:
            state['buf'] = bytearray(self.block_size)
        view = memoryview(state['buf'])[:length]
        self._read(view, self.position(index))
        self.add(bytes_read=length)
        h = self.hashes[index]
        # bytearray == bytes is a memcmp; memoryviews compare item by item
        if length == self.block_size:
            is_zero = state['buf'] == self.zero
        else:
            is_zero = bytes(view) == self.zero[:length]
        if h is None:
            if is_zero:
                self.add(blocks_zero=1)
            else:
                wanted[index] = 1
            return
        if not is_zero and hashlib.sha256(view).hexdigest() == h:
            self.add(blocks_reused=1)
            with self.lock:
                self.local.setdefault(h, self.position(index))
            return
        if is_zero and _zero_hash(length) == h:
            self.add(blocks_reused=1)
            return
        wanted[index] = 1

    def _read(self, view, position):
        got = 0
        while got < len(view):
            count = os.preadv(self.fd, [view[got:]], position + got)
            if not count:
                raise ImageError('%s ended at byte %d while being read'
                                 % (self.device, position + got))
            got += count

    # .. fetching and writing

    def _fetch(self, todo):
        if todo and todo[0] == 0:
            todo = todo[1:] + [0]   # held back, written last
        uses = collections.Counter(self.hashes[i] for i in todo
                                   if self.hashes[i] is not None)
        first = next((self.hashes[i] for i in todo
                      if self.hashes[i] is not None
                      and self.hashes[i] not in self.local), None)
        if first is not None:
            self.sources.probe(first, self._length_of(first))
        self.cache = _Cache(self.ram_cache_bytes, uses)
        self._pool(self._place, todo)

    def _length_of(self, h):
        index = self.hashes.index(h)
        return self.length(index)

    def _place(self, index, state):
        h = self.hashes[index]
        length = self.length(index)
        if h is None:
            data = memoryview(self.zero)[:length]
            self.add(blocks_zero=1)
        else:
            data = self._obtain(h, length, index, state)
        if index == 0:
            self.first = data
        else:
            disk.write_all(self.fd, data, self.position(index))
            self.add(bytes_written=length)
        if h is not None:
            self.cache.used(h)

    def _obtain(self, h, length, index, state):
        while True:
            data, busy = self.cache.claim(h)
            if data is not None:
                self.add(blocks_copied=1)
                return data
            if busy is None:
                break
            while not busy.wait(PROGRESS_INTERVAL):
                if self.stop.is_set():
                    raise _Stopped()
        data = None
        try:
            data = self._copy_local(h, length)
            if data is not None:
                self.add(blocks_copied=1)
            else:
                data = self._download(h, length, index, state['conns'])
        finally:
            self.cache.release(h, data)
        return data

    def _copy_local(self, h, length):
        """The bytes of ``h`` from a block of the disk that already holds
        them (and is left as it is), re-verified."""
        position = self.local.get(h)
        if position is None:
            return None
        data = bytearray(length)
        self._read(memoryview(data), position)
        if hashlib.sha256(data).hexdigest() != h:
            return None
        self.add(bytes_read=length)
        return data

    def _download(self, h, length, index, conns):
        errors = collections.OrderedDict()
        failed = 0
        for round_ in range(ROUNDS):
            if round_ and self.stop.wait(ROUND_PAUSE):
                raise _Stopped()
            for source in self.sources.order():
                if self.stop.is_set():
                    raise _Stopped()
                try:
                    data, waited = mirrors.get_block(
                        conns.get(source), source, h, length)
                except mirrors.Failure as exc:
                    reason = str(exc)
                    if exc.mismatch:
                        self.add(refetched=1)
                except (OSError, http.client.HTTPException,
                        ValueError) as exc:
                    conns.drop(source)
                    reason = mirrors.describe(exc)
                else:
                    self.sources.succeeded(source, waited)
                    self.add(blocks_fetched=1, bytes_fetched=length,
                             failovers=failed)
                    return data
                if self.stop.is_set():
                    raise _Stopped()
                failed += 1
                errors[source.name] = reason
                self.sources.failed(source, reason)
        raise ImageError(
            'block %d of %d (sha256:%s, %d bytes at offset %d of the image) '
            'could not be fetched from any source, each tried %d times: %s. '
            'Check that the sources serve <base>/%s; block 0 (the partition '
            'table) was not written'
            % (index, len(self.hashes), h, length, index * self.block_size,
               ROUNDS, '; '.join('%s: %s' % item for item in errors.items()),
               mf.block_relpath(h)))


_ZERO_HASHES = {}


def _zero_hash(length):
    # A foreign builder may name a zero block by its hash, not null.
    value = _ZERO_HASHES.get(length)
    if value is None:
        value = _ZERO_HASHES[length] = hashlib.sha256(
            bytes(length)).hexdigest()
    return value


def write_blocks(device, manifest, sources, offset=0, limit=None,
                 progress=None, reuse=True, workers=4, read_timeout=30,
                 ram_cache_bytes=64 << 20, insecure=False):
    """Write the image ``manifest`` describes to ``device`` at
    ``offset``, fetching its blocks from the base URLs ``sources``.

    ``limit``: bytes the image may take (default: up to the device's
    end). ``reuse``: leave the blocks the device already holds. Returns
    the stats: blocks_total, blocks_reused, blocks_fetched, blocks_zero,
    blocks_copied (repeats written from a copy at hand), bytes_fetched,
    bytes_written, refetched (blocks that came wrong), failovers,
    seconds, sources ({base: {fetched, failures, latency}}).
    """
    try:
        writer = _Writer(device, manifest, sources, offset, limit, progress,
                         reuse, workers, read_timeout, ram_cache_bytes,
                         insecure)
    except mf.ManifestError as exc:
        raise ImageError('invalid image manifest: %s; nothing was written'
                         % exc) from None
    return writer.run()
