"""The conductor's block store: atomic blocks and manifests, idempotent
single-flight ingest, filling from origins over real HTTP, and the static
mirror layout of ``export`` served to the agent's block writer."""

import collections
import functools
import hashlib
import http.server
import io
import json
import os
import threading

import pytest

from bootflow.agent.imaging import blocks
from bootflow.agent.imaging import manifest as mf
from bootflow.common import exception
from bootflow.images import blockstore
from bootflow.images import http_server

BS = 65536


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _image(path, count, zeros=(), tail=0, repeat=()):
    """``count`` random blocks (zero at ``zeros``; block 1's bytes again at
    ``repeat``) and a short tail; its bytes."""
    parts = [bytes(BS) if i in zeros else os.urandom(BS)
             for i in range(count)]
    for i in repeat:
        parts[i] = parts[1]
    data = b''.join(parts) + os.urandom(tail)
    with open(path, 'wb') as f:
        f.write(data)
    return data


class _Counting(http.server.SimpleHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        with self.server.lock:
            self.server.gets[self.path.rsplit('/', 1)[-1]] += 1
        super().do_GET()


class Origin:
    """A static server over ``root`` counting GETs by file name."""

    def __init__(self, root):
        handler = functools.partial(_Counting, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      handler)
        self.server.gets = collections.Counter()
        self.server.lock = threading.Lock()
        threading.Thread(target=self.server.serve_forever, args=(0.05,),
                         daemon=True).start()
        self.url = 'http://127.0.0.1:%d' % self.server.server_port

    @property
    def gets(self):
        return self.server.gets

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origins():
    made = []

    def make(root):
        made.append(Origin(root))
        return made[-1]

    yield make
    for origin in made:
        origin.stop()


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, names in os.walk(root) for f in names)


def test_blocks_are_stored_atomically_by_hash(tmp_path):
    store = blockstore.BlockStore(str(tmp_path / 'b'))
    assert store.manifests_dir == str(tmp_path / 'b' / 'manifests')
    data = os.urandom(1000)
    h = _sha(data)
    assert store.block_path(h) == str(tmp_path / 'b' / h[:2] / h)
    assert not store.has_block(h)
    assert store.put_block(h, data) is True
    assert store.has_block(h)
    with open(store.block_path(h), 'rb') as f:
        assert f.read() == data
    assert os.stat(store.block_path(h)).st_mode & 0o777 == 0o644
    assert store.put_block(h, data) is False
    with pytest.raises(exception.ImageChecksumError):
        store.put_block(h, data + b'x')
    with pytest.raises(ValueError):
        store.block_path('../../etc/passwd')
    # no temporary file is left behind
    assert _files(str(tmp_path / 'b')) == [os.path.join(h[:2], h)]


def test_manifests_save_and_load(tmp_path):
    store = blockstore.BlockStore(str(tmp_path / 'b'), str(tmp_path / 'm'))
    data = os.urandom(BS) + bytes(BS)
    manifest = mf.build(io.BytesIO(data), BS, store=store.put_block)
    sha = store.save_manifest('img', manifest)
    path = store.manifest_path('img')
    assert path == str(tmp_path / 'm' / 'img.json')
    with open(path, 'rb') as f:
        assert _sha(f.read()) == sha
    assert store.load_manifest('img') == (manifest, sha)
    assert store.load_manifest('other') is None
    assert store.missing(manifest) == []
    os.unlink(store.block_path(manifest['blocks'][0]))
    assert store.missing(manifest) == [manifest['blocks'][0]]
    assert store.load_manifest('img') is None
    with open(path, 'w') as f:
        f.write('{"format": "garbage"}')
    assert store.load_manifest('img') is None
    for key in ('../x', '.hidden', 'a/b', ''):
        with pytest.raises(ValueError):
            store.manifest_path(key)
    with pytest.raises(ValueError):
        store.save_manifest('bad', dict(manifest, size=-1))


def test_ingest_is_idempotent(tmp_path):
    raw = str(tmp_path / 'image.raw')
    data = _image(raw, 10, zeros={4}, tail=77, repeat={6})
    store = blockstore.BlockStore(str(tmp_path / 'b'))
    manifest, sha = store.ingest(raw, 'k', BS)
    assert manifest == mf.build(io.BytesIO(data), BS)
    assert manifest['blocks'][4] is None
    assert manifest['blocks'][6] == manifest['blocks'][1]
    for h in manifest['blocks']:
        if h is not None:
            with open(store.block_path(h), 'rb') as f:
                assert _sha(f.read()) == h
    # nine distinct non-zero blocks, the manifest, its lock file
    names = _files(store.blocks_dir)
    assert len(names) == 9 + 2
    assert [n for n in names if '/.' in n] == [
        os.path.join('manifests', '.ingest-k.lock')]
    os.unlink(raw)                  # not read again
    assert store.ingest(raw, 'k', BS) == (manifest, sha)
    with pytest.raises(FileNotFoundError):
        store.ingest(raw, 'k', 2 * BS)  # another block size: re-split


def test_ingest_writes_only_new_blocks(tmp_path):
    raw = str(tmp_path / 'image.raw')
    data = _image(raw, 8)
    store = blockstore.BlockStore(str(tmp_path / 'b'))
    first, _ = store.ingest(raw, 'v1', BS)
    inodes = {h: os.stat(store.block_path(h)).st_ino
              for h in first['blocks']}
    changed = bytearray(data)
    changed[3 * BS] ^= 1
    with open(raw, 'wb') as f:
        f.write(changed)
    second, _ = store.ingest(raw, 'v2', BS)
    assert [i for i in range(8)
            if first['blocks'][i] != second['blocks'][i]] == [3]
    for h in first['blocks']:
        assert os.stat(store.block_path(h)).st_ino == inodes[h]
    assert store.has_block(second['blocks'][3])
    assert store.load_manifest('v1')[0] == first


def test_ingest_is_single_flight(tmp_path, monkeypatch):
    raw = str(tmp_path / 'image.raw')
    _image(raw, 6)
    store = blockstore.BlockStore(str(tmp_path / 'b'))
    builds = []
    real_build = mf.build
    gate = threading.Event()

    def slow_build(*args, **kwargs):
        builds.append(1)
        gate.wait(5)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(blockstore.mf, 'build', slow_build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        store.ingest(raw, 'k', BS))) for _ in range(4)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert len(results) == 4 and len({r[1] for r in results}) == 1


def test_fill_fetches_only_missing_blocks(tmp_path, origins):
    raw = str(tmp_path / 'image.raw')
    _image(raw, 12, zeros={2}, tail=5, repeat={7})
    source = blockstore.BlockStore(str(tmp_path / 'origin' / 'blocks'))
    manifest, _ = source.ingest(raw, 'k', BS)
    origin = origins(tmp_path / 'origin')
    store = blockstore.BlockStore(str(tmp_path / 'mine'))
    present = [manifest['blocks'][i] for i in (0, 5, 9)]
    for h in present:
        with open(source.block_path(h), 'rb') as f:
            store.put_block(h, f.read())
    stats = store.fill(manifest, [origin.url + '/blocks/'])
    wanted = set(manifest['blocks']) - {None} - set(present)
    assert stats == {'fetched': len(wanted), 'present': 3,
                     'bytes': len(wanted) * BS - BS + 5}
    assert set(origin.gets) == wanted and max(origin.gets.values()) == 1
    assert store.missing(manifest) == []
    assert store.fill(manifest, [origin.url + '/blocks']) == {
        'fetched': 0, 'bytes': 0, 'present': len(wanted) + 3}
    assert sum(origin.gets.values()) == len(wanted)


def test_fill_fails_over_between_bases(tmp_path, origins):
    raw = str(tmp_path / 'image.raw')
    data = _image(raw, 6)
    source = blockstore.BlockStore(str(tmp_path / 'origin' / 'blocks'))
    manifest, _ = source.ingest(raw, 'k', BS)
    # a corrupted copy of block 2 on the first base, block 4 lacking
    broken = blockstore.BlockStore(str(tmp_path / 'broken' / 'blocks'))
    for index, h in enumerate(manifest['blocks']):
        if index == 4:
            continue
        path = broken.block_path(h)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            block = data[index * BS:(index + 1) * BS]
            f.write(block[::-1] if index == 2 else block)
    bad, good = origins(tmp_path / 'broken'), origins(tmp_path / 'origin')
    dead = 'http://127.0.0.1:9/blocks'
    store = blockstore.BlockStore(str(tmp_path / 'mine'))
    stats = store.fill(manifest, [dead, bad.url + '/blocks',
                                  good.url + '/blocks'], workers=1,
                       timeout=5)
    assert stats['fetched'] == 6
    assert good.gets[manifest['blocks'][2]] == 1
    assert good.gets[manifest['blocks'][4]] == 1
    assert store.missing(manifest) == []
    for h in manifest['blocks']:
        with open(store.block_path(h), 'rb') as f:
            assert _sha(f.read()) == h


def test_fill_fails_when_no_base_has_a_block(tmp_path, origins):
    raw = str(tmp_path / 'image.raw')
    _image(raw, 3)
    source = blockstore.BlockStore(str(tmp_path / 'origin' / 'blocks'))
    manifest, _ = source.ingest(raw, 'k', BS)
    os.unlink(source.block_path(manifest['blocks'][1]))
    origin = origins(tmp_path / 'origin')
    store = blockstore.BlockStore(str(tmp_path / 'mine'))
    with pytest.raises(exception.ImageDownloadFailed,
                       match='%s.*HTTP 404' % manifest['blocks'][1]):
        store.fill(manifest, [origin.url + '/blocks'])
    assert not store.has_block(manifest['blocks'][1])
    with pytest.raises(exception.ImageRefValidationFailed):
        store.fill(manifest, ['ftp://x/blocks'])


def test_fill_from_file_urls(tmp_path, conf):
    raw = str(tmp_path / 'image.raw')
    _image(raw, 3)
    source = blockstore.BlockStore(str(tmp_path / 'origin' / 'blocks'))
    manifest, _ = source.ingest(raw, 'k', BS)
    store = blockstore.BlockStore(str(tmp_path / 'mine'))
    base = 'file://%s' % source.blocks_dir
    conf.set_override('file_url_allowed_paths', [str(tmp_path / 'else')],
                      'conductor')
    with pytest.raises(exception.InvalidParameterValue,
                       match='file_url_allowed_paths'):
        store.fill(manifest, [base])
    conf.set_override('file_url_allowed_paths', [str(tmp_path)],
                      'conductor')
    assert store.fill(manifest, [base])['fetched'] == 3
    assert store.missing(manifest) == []


def test_export_makes_a_mirror_the_agent_deploys_from(tmp_path):
    raw = str(tmp_path / 'disk.raw')
    data = _image(raw, 20, zeros={3, 4}, tail=100, repeat={9})
    out = tmp_path / 'mirror'
    path, sha = blockstore.export(raw, str(out), BS)
    assert path == str(out / 'disk.raw.manifest.json')
    with open(path, 'rb') as f:
        raw_manifest = f.read()
    assert _sha(raw_manifest) == sha
    manifest = mf.loads(raw_manifest)
    assert manifest == mf.build(io.BytesIO(data), BS)
    assert 'blocks_url' not in manifest
    for h in set(manifest['blocks']) - {None}:
        assert (out / 'blocks' / h[:2] / h).is_file()
    # again, after a change: read anew, only the new block added
    with open(raw, 'r+b') as f:
        f.seek(5 * BS)
        f.write(b'changed')
    again, sha2 = blockstore.export(raw, str(out), BS)
    assert again == path and sha2 != sha
    with open(path, 'rb') as f:
        changed = mf.loads(f.read())
    assert (out / 'blocks' / changed['blocks'][5][:2] /
            changed['blocks'][5]).is_file()

    server = http_server.make_server(str(out), '127.0.0.1', 0)
    server.start()
    try:
        url = 'http://127.0.0.1:%d/disk.raw.manifest.json' % server.port
        fetched = blocks.fetch_manifest(url, sha2)
        base = mf.blocks_base(fetched, url)
        assert base == 'http://127.0.0.1:%d/blocks' % server.port
        disk = str(tmp_path / 'disk')
        with open(disk, 'wb') as f:
            f.truncate(len(data) + BS)
        stats = blocks.write_blocks(disk, fetched, [base])
    finally:
        server.stop()
    with open(raw, 'rb') as f:
        expected = f.read()
    with open(disk, 'rb') as f:
        assert f.read(len(expected)) == expected
    assert stats['blocks_fetched'] + stats['blocks_copied'] == 19
    assert stats['blocks_zero'] == 2
    assert json.loads(raw_manifest)['format'] == mf.FORMAT
