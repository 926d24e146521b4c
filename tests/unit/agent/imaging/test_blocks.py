"""write_blocks for real: block mirrors on 127.0.0.1 (HTTP servers that
count requests per block and can die, stall, lie or corrupt a block) and
file-backed disks."""

import collections
import hashlib
import http.server
import io
import os
import threading
import time

import pytest

from bootflow.agent.imaging import blocks
from bootflow.agent.imaging import ImageError
from bootflow.agent.imaging import manifest as mf

BS = 65536


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body):
        mirror = self.server.mirror
        name = self.path.rsplit('/', 1)[-1]
        if mirror.dead or not mirror.count(self.command, name):
            self.close_connection = True    # as if the process died
            return
        if mirror.delay:
            time.sleep(mirror.delay)
        if mirror.failing > 0:
            mirror.failing -= 1
            self.send_error(503)
            return
        data = mirror.files.get(name)
        if data is None or not self.path.startswith(mirror.prefix + '/'):
            self.send_error(404)
            return
        if name in mirror.corrupt:
            data = bytes([data[0] ^ 1]) + data[1:]
        length = len(data)
        if name in mirror.short:
            data = data[:len(data) // 2]
            self.close_connection = True
        self.send_response(200)
        self.send_header('Content-Length', str(length))
        self.end_headers()
        if body:
            self.wfile.write(data)


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass    # clients cutting connections is what some tests do


class Mirror:
    """Serves ``<prefix>/<h[0:2]>/<h>`` from ``files`` ({hash: bytes})."""

    def __init__(self, files, delay=0.0, prefix='/blocks'):
        self.files = dict(files)
        self.delay = delay
        self.prefix = prefix
        self.gets = collections.Counter()
        self.heads = collections.Counter()
        self.corrupt = set()
        self.short = set()
        self.failing = 0            # next requests answered 503
        self.die_after = None       # GETs served before the mirror dies
        self.dead = False
        self._lock = threading.Lock()
        self.server = _Server(('127.0.0.1', 0), _Handler)
        self.server.mirror = self
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        args=(0.05,),
                                        daemon=True)
        self._thread.start()

    @property
    def base(self):
        return 'http://127.0.0.1:%d%s' % (self.server.server_port,
                                          self.prefix)

    def count(self, method, name):
        """Count a request; False once the mirror is dead."""
        with self._lock:
            if method == 'HEAD':
                self.heads[name] += 1
                return True
            if (self.die_after is not None
                    and sum(self.gets.values()) >= self.die_after):
                threading.Thread(target=self.kill).start()
                return False
            self.gets[name] += 1
            return True

    def kill(self):
        """Stop listening and drop every connection, like a crash."""
        if self.dead:
            return
        self.dead = True
        self.server.shutdown()
        self.server.server_close()

    @property
    def fetched(self):
        return sum(self.gets.values())


def _block_files(data):
    files = {}
    for _index, h, block in mf.iter_blocks(io.BytesIO(data), BS):
        if h is not None:
            files[h] = block
    return files


def make_image(count, zeros=(), tail=0, seed=0):
    """``count`` distinct random blocks (those in ``zeros`` all zero),
    then ``tail`` bytes of a short last block."""
    parts = [bytes(BS) if i in zeros else os.urandom(BS)
             for i in range(count)]
    if tail:
        parts.append(os.urandom(tail))
    data = b''.join(parts)
    return data, mf.build(io.BytesIO(data), BS)


def make_disk(path, size, fill=b'\0'):
    with open(path, 'wb') as f:
        f.write(fill * size)
    return str(path)


def read(path, length=None, offset=0):
    with open(path, 'rb') as f:
        f.seek(offset)
        return f.read(length) if length is not None else f.read()


@pytest.fixture
def mirrors():
    made = []

    def make(files, **kwargs):
        mirror = Mirror(files, **kwargs)
        made.append(mirror)
        return mirror

    yield make
    for mirror in made:
        mirror.kill()


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(blocks, 'ROUND_PAUSE', 0.05)


def _no_writer_threads():
    return not [t for t in threading.enumerate()
                if t.name.startswith('blocks-')]


def test_fresh_write_then_rewrite_fetches_nothing(tmp_path, mirrors):
    data, manifest = make_image(40, zeros={3, 4, 20}, tail=1000)
    mirror = mirrors(_block_files(data))
    disk = make_disk(tmp_path / 'disk', len(data) + 3 * BS)
    stats = blocks.write_blocks(disk, manifest, [mirror.base])
    assert read(disk, len(data)) == data
    assert read(disk, offset=len(data)) == bytes(3 * BS)
    assert stats['blocks_total'] == 41
    assert stats['blocks_fetched'] == 38 and stats['blocks_zero'] == 3
    assert stats['blocks_reused'] == 0
    assert stats['bytes_fetched'] == stats['bytes_written'] == 37 * BS + 1000
    assert stats['refetched'] == stats['failovers'] == 0
    assert stats['sources'][mirror.base]['fetched'] == 38
    assert stats['sources'][mirror.base]['latency'] > 0
    assert mirror.fetched == 38 and max(mirror.gets.values()) == 1
    assert sum(mirror.heads.values()) == 1      # the probe

    again = blocks.write_blocks(disk, manifest, [mirror.base])
    assert mirror.fetched == 38 and sum(mirror.heads.values()) == 1
    assert again['blocks_reused'] == 38 and again['blocks_zero'] == 3
    assert again['bytes_fetched'] == again['bytes_written'] == 0
    assert read(disk, len(data)) == data


def test_one_percent_changed_fetches_exactly_those(tmp_path, mirrors):
    data, manifest = make_image(200, zeros=set(range(150, 170)))
    disk = make_disk(tmp_path / 'disk', len(data))
    first = Mirror(_block_files(data))
    try:
        blocks.write_blocks(disk, manifest, [first.base])
    finally:
        first.kill()
    changed = bytearray(data)
    for index in (7, 123):
        changed[index * BS + 100] ^= 0xff
    changed = bytes(changed)
    new = mf.build(io.BytesIO(changed), BS)
    mirror = mirrors(_block_files(changed))
    stats = blocks.write_blocks(disk, new, [mirror.base])
    assert set(mirror.gets) == {new['blocks'][7], new['blocks'][123]}
    assert mirror.fetched == 2
    assert stats['blocks_fetched'] == 2 and stats['blocks_reused'] == 178
    assert stats['bytes_fetched'] == stats['bytes_written'] == 2 * BS
    assert read(disk) == changed


@pytest.mark.parametrize('reuse', [True, False])
def test_zero_blocks_are_never_fetched(tmp_path, mirrors, reuse):
    data, manifest = make_image(10, zeros={0, 2, 9})
    mirror = mirrors(_block_files(data))
    disk = make_disk(tmp_path / 'disk', len(data), fill=b'\xaa')
    stats = blocks.write_blocks(disk, manifest, [mirror.base], reuse=reuse)
    assert read(disk) == data
    assert set(mirror.gets) == {h for h in manifest['blocks'] if h}
    assert stats['blocks_zero'] == 3 and stats['blocks_fetched'] == 7
    # the garbage under the zero blocks was overwritten
    assert stats['bytes_written'] == 10 * BS


def test_reuse_false_rewrites_everything(tmp_path, mirrors):
    data, manifest = make_image(8)
    mirror = mirrors(_block_files(data))
    disk = make_disk(tmp_path / 'disk', len(data))
    blocks.write_blocks(disk, manifest, [mirror.base])
    stats = blocks.write_blocks(disk, manifest, [mirror.base], reuse=False)
    assert stats['blocks_fetched'] == 8 and stats['blocks_reused'] == 0
    assert mirror.fetched == 16
    assert read(disk) == data


def test_mirror_killed_mid_write_fails_over(tmp_path, mirrors):
    data, manifest = make_image(120, zeros={50})
    files = _block_files(data)
    fast = mirrors(files)
    slow = mirrors(files, delay=0.02)
    fast.die_after = 30
    disk = make_disk(tmp_path / 'disk', len(data), fill=b'\x55')
    stats = blocks.write_blocks(disk, manifest, [slow.base, fast.base],
                                workers=4)
    assert fast.dead
    assert read(disk) == data
    assert fast.fetched == 30
    assert fast.fetched + slow.fetched >= 119
    assert stats['blocks_fetched'] == 119
    assert stats['failovers'] >= 1
    assert stats['sources'][fast.base]['fetched'] == 30
    assert stats['sources'][fast.base]['failures'] >= 1
    assert stats['sources'][slow.base]['fetched'] == 89
    assert _no_writer_threads()


def test_corrupted_block_is_refetched_elsewhere(tmp_path, mirrors):
    data, manifest = make_image(30)
    files = _block_files(data)
    fast = mirrors(files)
    slow = mirrors(files, delay=0.02)
    bad = manifest['blocks'][5]
    fast.corrupt.add(bad)
    disk = make_disk(tmp_path / 'disk', len(data))
    stats = blocks.write_blocks(disk, manifest, [fast.base, slow.base],
                                workers=1)
    assert read(disk) == data
    assert fast.gets[bad] == 1 and slow.gets[bad] == 1
    assert stats['refetched'] == 1 and stats['failovers'] == 1
    assert stats['blocks_fetched'] == 30


def test_short_body_fails_over(tmp_path, mirrors):
    data, manifest = make_image(6)
    files = _block_files(data)
    fast = mirrors(files)
    slow = mirrors(files, delay=0.02)
    fast.short.add(manifest['blocks'][3])
    disk = make_disk(tmp_path / 'disk', len(data))
    stats = blocks.write_blocks(disk, manifest, [fast.base, slow.base],
                                workers=1)
    assert read(disk) == data
    assert stats['failovers'] == 1 and stats['refetched'] == 0
    assert slow.gets[manifest['blocks'][3]] == 1


def test_fastest_source_is_chosen(tmp_path, mirrors):
    data, manifest = make_image(20)
    files = _block_files(data)
    slow = mirrors(files, delay=0.05)
    fast = mirrors(files)
    disk = make_disk(tmp_path / 'disk', len(data))
    stats = blocks.write_blocks(disk, manifest, [slow.base, fast.base])
    assert fast.fetched == 20 and slow.fetched == 0
    assert sum(slow.heads.values()) == 1    # probed once nonetheless
    latency = {base: s['latency'] for base, s in stats['sources'].items()}
    assert latency[slow.base] > latency[fast.base]


def test_recovered_mirror_comes_back(tmp_path, mirrors, monkeypatch):
    monkeypatch.setattr(blocks.mirrors, 'BACKOFF', 0.05)
    data, manifest = make_image(60)
    files = _block_files(data)
    fast = mirrors(files)
    slow = mirrors(files, delay=0.01)
    fast.failing = 3            # the probe, then two GETs
    disk = make_disk(tmp_path / 'disk', len(data))
    stats = blocks.write_blocks(disk, manifest, [slow.base, fast.base],
                                workers=1)
    assert read(disk) == data
    assert stats['sources'][fast.base]['failures'] >= 2
    assert fast.fetched > 30, (fast.fetched, slow.fetched)


def test_every_source_failing_names_the_block(tmp_path, mirrors):
    data, manifest = make_image(12)
    missing = manifest['blocks'][5]
    files = _block_files(data)
    del files[missing]
    one, two = mirrors(files), mirrors(files)
    disk = make_disk(tmp_path / 'disk', len(data), fill=b'\x11')
    with pytest.raises(ImageError) as info:
        blocks.write_blocks(disk, manifest, [one.base, two.base], workers=2)
    text = str(info.value)
    assert 'block 5 of 12' in text and missing in text
    assert '%s: HTTP 404' % one.base in text
    assert '%s: HTTP 404' % two.base in text
    assert 'block 0 (the partition table) was not written' in text
    assert one.gets[missing] == two.gets[missing] == blocks.ROUNDS
    assert read(disk, BS) == b'\x11' * BS       # block 0 untouched
    assert _no_writer_threads()


def test_all_sources_dead(tmp_path, mirrors):
    data, manifest = make_image(4)
    one, two = mirrors(_block_files(data)), mirrors(_block_files(data))
    one.kill()
    two.kill()
    disk = make_disk(tmp_path / 'disk', len(data), fill=b'\x11')
    with pytest.raises(ImageError, match='could not be fetched from any '
                       'source.*connection refused'):
        blocks.write_blocks(disk, manifest, [one.base, two.base])
    assert read(disk) == b'\x11' * len(data)


def test_too_large_for_the_device_writes_nothing(tmp_path, mirrors):
    data, manifest = make_image(10)
    mirror = mirrors(_block_files(data))
    disk = make_disk(tmp_path / 'disk', len(data) - 1, fill=b'\x22')
    with pytest.raises(ImageError, match='larger than the room.*nothing '
                       'was written'):
        blocks.write_blocks(disk, manifest, [mirror.base])
    disk2 = make_disk(tmp_path / 'disk2', 2 * len(data), fill=b'\x22')
    with pytest.raises(ImageError, match='nothing was written'):
        blocks.write_blocks(disk2, manifest, [mirror.base],
                            limit=len(data) - BS)
    with pytest.raises(ImageError, match='nothing was written'):
        blocks.write_blocks(disk2, manifest, [mirror.base],
                            offset=len(data) + 1)
    assert read(disk) == b'\x22' * (len(data) - 1)
    assert read(disk2) == b'\x22' * (2 * len(data))
    assert os.path.getsize(disk) == len(data) - 1
    assert not mirror.gets and not mirror.heads


def test_writes_at_an_offset(tmp_path, mirrors):
    data, manifest = make_image(5, tail=10)
    mirror = mirrors(_block_files(data))
    disk = make_disk(tmp_path / 'disk', len(data) + 3 * BS, fill=b'\x33')
    blocks.write_blocks(disk, manifest, [mirror.base], offset=2 * BS,
                        limit=len(data))
    assert read(disk, 2 * BS) == b'\x33' * 2 * BS
    assert read(disk, len(data), 2 * BS) == data
    assert read(disk, offset=2 * BS + len(data)) == b'\x33' * BS


def test_block_zero_is_written_last(tmp_path, mirrors, monkeypatch):
    data, manifest = make_image(16)
    mirror = mirrors(_block_files(data))
    disk = make_disk(tmp_path / 'disk', len(data))
    events = []
    real_write, real_fsync = blocks.disk.write_all, blocks.os.fsync

    def write_all(fd, data_, offset):
        events.append(('write', offset))
        return real_write(fd, data_, offset)

    def fsync(fd):
        events.append(('fsync',))
        return real_fsync(fd)

    monkeypatch.setattr(blocks.disk, 'write_all', write_all)
    monkeypatch.setattr(blocks.os, 'fsync', fsync)
    blocks.write_blocks(disk, manifest, [mirror.base], workers=4)
    assert events[-3:] == [('fsync',), ('write', 0), ('fsync',)]
    assert sorted(e[1] for e in events[:-3] if len(e) > 1) == [
        i * BS for i in range(1, 16)]
    assert read(disk) == data


def test_repeated_blocks_are_fetched_once(tmp_path, mirrors):
    same = os.urandom(BS)
    data = b''.join(same if i % 2 else os.urandom(BS) for i in range(20))
    manifest = mf.build(io.BytesIO(data), BS)
    mirror = mirrors(_block_files(data))
    disk = make_disk(tmp_path / 'disk', len(data))
    stats = blocks.write_blocks(disk, manifest, [mirror.base], workers=4)
    assert read(disk) == data
    assert mirror.gets[hashlib.sha256(same).hexdigest()] == 1
    assert stats['blocks_fetched'] == 11 and stats['blocks_copied'] == 9
    assert stats['bytes_written'] == len(data)


def test_repeated_blocks_without_ram_cache(tmp_path, mirrors):
    same = os.urandom(BS)
    data = b''.join(same if i % 2 else os.urandom(BS) for i in range(10))
    manifest = mf.build(io.BytesIO(data), BS)
    mirror = mirrors(_block_files(data))
    disk = make_disk(tmp_path / 'disk', len(data))
    stats = blocks.write_blocks(disk, manifest, [mirror.base], workers=2,
                                ram_cache_bytes=0)
    assert read(disk) == data
    assert stats['blocks_fetched'] + stats['blocks_copied'] == 10


def test_block_held_elsewhere_on_the_disk_is_copied(tmp_path, mirrors):
    data, manifest = make_image(6)
    disk = make_disk(tmp_path / 'disk', len(data))
    with open(disk, 'r+b') as f:
        f.write(data)
    moved = bytearray(data)
    moved[4 * BS:5 * BS] = data[1 * BS:2 * BS]   # block 1 also at 4
    moved = bytes(moved)
    new = mf.build(io.BytesIO(moved), BS)
    mirror = mirrors(_block_files(moved))
    stats = blocks.write_blocks(disk, new, [mirror.base])
    assert read(disk) == moved
    assert not mirror.gets
    assert stats['blocks_copied'] == 1 and stats['blocks_reused'] == 5
    assert stats['bytes_written'] == BS and stats['bytes_fetched'] == 0


def test_progress(tmp_path, mirrors, monkeypatch):
    monkeypatch.setattr(blocks, 'PROGRESS_INTERVAL', 0.01)
    data, manifest = make_image(30, zeros={2})
    mirror = mirrors(_block_files(data), delay=0.005)
    disk = make_disk(tmp_path / 'disk', len(data))
    seen = []
    blocks.write_blocks(disk, manifest, [mirror.base], workers=1,
                        progress=seen.append)
    assert seen and {p['phase'] for p in seen} <= {'reading disk',
                                                   'fetching'}
    last = seen[-1]
    assert last['phase'] == 'fetching' and last['device'] == disk
    assert last['bytes_written'] == last['bytes_total'] - BS
    assert last['blocks_fetched'] == 29 and last['blocks_total'] == 30
    assert last['blocks_zero'] == 1 and last['bytes_fetched'] == 29 * BS


def test_progress_callback_failure_stops_everything(tmp_path, mirrors,
                                                    monkeypatch):
    monkeypatch.setattr(blocks, 'PROGRESS_INTERVAL', 0.01)
    data, manifest = make_image(40)
    mirror = mirrors(_block_files(data), delay=0.02)
    disk = make_disk(tmp_path / 'disk', len(data), fill=b'\x44')

    def cancel(fields):
        if fields['phase'] == 'fetching':
            raise KeyboardInterrupt()

    with pytest.raises(KeyboardInterrupt):
        blocks.write_blocks(disk, manifest, [mirror.base], progress=cancel)
    assert _no_writer_threads()
    assert read(disk, BS) == b'\x44' * BS
    assert mirror.fetched < 40


def test_bad_sources_write_nothing(tmp_path):
    data, manifest = make_image(2)
    disk = make_disk(tmp_path / 'disk', len(data), fill=b'\x11')
    for sources in ([], ['ftp://x/blocks'], ['http://h/b?sig=1'], [None],
                    ['http://h:99999/b']):
        with pytest.raises(ImageError, match='nothing was written'):
            blocks.write_blocks(disk, manifest, sources)
    with pytest.raises(ImageError, match='invalid image manifest.*nothing'):
        blocks.write_blocks(disk, dict(manifest, size=1), ['http://h/b'])
    assert read(disk) == b'\x11' * len(data)


def test_refuses_a_directory(tmp_path):
    _data, manifest = make_image(1)
    with pytest.raises(ImageError, match='neither a block device'):
        blocks.write_blocks(str(tmp_path), manifest, ['http://h/b'])


# -- fetch_manifest ----------------------------------------------------------

def test_fetch_manifest(mirrors):
    _data, manifest = make_image(3)
    raw = mf.dumps(manifest)
    mirror = mirrors({'m.json': raw, 'bad.json': b'{"format": 1}'},
                     prefix='')
    url = 'http://127.0.0.1:%d/x/m.json' % mirror.server.server_port
    assert blocks.fetch_manifest(url, mf.digest(raw)) == manifest
    assert blocks.fetch_manifest(url, 'sha256:' + mf.digest(raw).upper()) \
        == manifest
    with pytest.raises(ImageError, match='checksum mismatch.*expected '
                       'sha256:0{64}, got sha256:%s' % mf.digest(raw)):
        blocks.fetch_manifest(url, '0' * 64)
    bad = url.replace('m.json', 'bad.json')
    with pytest.raises(ImageError, match='invalid image manifest'):
        blocks.fetch_manifest(bad, mf.digest(b'{"format": 1}'))
    with pytest.raises(ImageError, match='HTTP 404'):
        blocks.fetch_manifest(url.replace('m.json', 'nope'), '0' * 64)
