"""The block manifest format: building, canonical bytes, strict parsing."""

import hashlib
import io
import json
import os

import pytest

from bootflow.agent.imaging import formats
from bootflow.agent.imaging import manifest as mf

BS = 65536


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _image(*parts):
    return b''.join(parts)


class _Trickle(io.RawIOBase):
    """A pipe-like file: reads return at most 1000 bytes."""

    def __init__(self, data):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def read(self, size=-1):
        return self._data.read(min(size, 1000) if size >= 0 else 1000)


def test_build_names_blocks_by_hash_and_zero_blocks_null():
    a, b = os.urandom(BS), os.urandom(BS)
    tail = os.urandom(1234)
    data = _image(a, bytes(BS), b, a, tail)
    stored = []
    manifest = mf.build(io.BytesIO(data), BS,
                        store=lambda h, d: stored.append((h, d)))
    assert manifest == {
        'format': mf.FORMAT, 'block_size': BS, 'size': len(data),
        'blocks': [_sha(a), None, _sha(b), _sha(a), _sha(tail)],
        'image_sha256': _sha(data)}
    # every non-zero block, in order, repeats included
    assert [h for h, _ in stored] == [_sha(a), _sha(b), _sha(a), _sha(tail)]
    assert stored[3][1] == tail
    mf.validate(manifest)


def test_build_short_zero_tail_and_exact_multiple():
    manifest = mf.build(io.BytesIO(os.urandom(BS) + bytes(10)), BS)
    assert manifest['blocks'][1] is None and manifest['size'] == BS + 10
    exact = mf.build(io.BytesIO(os.urandom(2 * BS)), BS)
    assert len(exact['blocks']) == 2
    empty = mf.build(io.BytesIO(b''), BS)
    assert empty['blocks'] == [] and empty['size'] == 0
    assert mf.loads(mf.dumps(empty)) == empty


def test_iter_blocks_copes_with_short_reads():
    data = os.urandom(3 * BS + 7)
    got = list(mf.iter_blocks(_Trickle(data), BS))
    assert [i for i, _, _ in got] == [0, 1, 2, 3]
    assert b''.join(d for _, _, d in got) == data
    assert got[3][1] == _sha(data[3 * BS:])


@pytest.mark.parametrize('size', [0, 1000, BS - 1, BS * 3, 1 << 31])
def test_build_refuses_bad_block_sizes(size):
    with pytest.raises(mf.ManifestError, match='power of two'):
        mf.build(io.BytesIO(b'x'), size)


def test_dumps_is_canonical_and_digest_stable():
    manifest = mf.build(io.BytesIO(os.urandom(BS) + bytes(BS)), BS)
    data = mf.dumps(manifest)
    assert data == json.dumps(manifest, sort_keys=True,
                              separators=(',', ':')).encode()
    shuffled = dict(reversed(list(manifest.items())))
    assert mf.dumps(shuffled) == data
    assert mf.digest(data) == _sha(data)
    assert mf.loads(data) == manifest
    assert mf.loads(data.decode()) == manifest


def _valid(**changes):
    manifest = {'format': mf.FORMAT, 'block_size': BS, 'size': BS + 1,
                'blocks': ['a' * 64, None], 'image_sha256': 'b' * 64}
    manifest.update(changes)
    return manifest


@pytest.mark.parametrize('changes, message', [
    ({'format': 'bootflow-blocks/2'}, 'unsupported manifest format'),
    ({'format': 1}, '"format" must be a string'),
    ({'block_size': 65535}, 'power of two'),
    ({'block_size': 3 * BS}, 'power of two'),
    ({'block_size': 32768}, 'power of two'),
    ({'block_size': True}, '"block_size" must be an integer'),
    ({'block_size': 65536.0}, '"block_size" must be an integer'),
    ({'size': -1, 'blocks': []}, 'negative'),
    ({'size': '1'}, '"size" must be an integer'),
    ({'size': 2 * BS + 1}, '2 blocks listed'),
    ({'size': BS}, '2 blocks listed'),
    ({'blocks': ['a' * 64]}, '1 blocks listed'),
    ({'blocks': 'a' * 64}, '"blocks" must be a list'),
    ({'blocks': ['A' * 64, None]}, 'block 0'),
    ({'blocks': ['a' * 63, None]}, 'block 0'),
    ({'blocks': [None, '../../etc/passwd']}, 'block 1'),
    ({'blocks': [None, 0]}, 'block 1'),
    ({'image_sha256': 'z' * 64}, 'image_sha256'),
    ({'blocks_url': ''}, 'blocks_url is empty'),
    ({'blocks_url': 7}, '"blocks_url" must be a string'),
    ({'extra': 1}, 'unknown keys: extra'),
])
def test_loads_is_strict(changes, message):
    with pytest.raises(mf.ManifestError, match=message):
        mf.loads(mf.dumps(_valid(**changes)))


@pytest.mark.parametrize('key', ['format', 'block_size', 'size', 'blocks',
                                 'image_sha256'])
def test_loads_requires_every_key(key):
    manifest = _valid()
    del manifest[key]
    with pytest.raises(mf.ManifestError, match='"%s" is missing' % key):
        mf.loads(mf.dumps(manifest))


@pytest.mark.parametrize('data, message', [
    (b'\xff\xfe', 'UTF-8'),
    (b'{"format":', 'not valid JSON'),
    (b'[]', 'JSON object, not list'),
    (b'{"size": NaN}', 'NaN is not valid'),
    (b'{"size": 1, "size": 2}', "duplicate key 'size'"),
])
def test_loads_refuses_bad_json(data, message):
    with pytest.raises(mf.ManifestError, match=message):
        mf.loads(data)


def test_loads_refuses_other_types():
    with pytest.raises(mf.ManifestError, match='bytes, not int'):
        mf.loads(5)
    assert issubclass(mf.ManifestError, ValueError)


def test_loads_accepts_blocks_url():
    manifest = _valid(blocks_url='http://mirror/x/')
    assert mf.loads(mf.dumps(manifest)) == manifest


def test_block_paths():
    h = _sha(b'x')
    assert mf.block_relpath(h) == '%s/%s' % (h[:2], h)
    assert mf.block_url('http://m/blocks', h) == \
        'http://m/blocks/%s/%s' % (h[:2], h)
    assert mf.block_url('http://m/blocks/', h) == \
        'http://m/blocks/%s/%s' % (h[:2], h)
    for bad in ('../' + h[3:], h.upper(), h[:-1], None):
        with pytest.raises(mf.ManifestError):
            mf.block_relpath(bad)


@pytest.mark.parametrize('blocks_url, expected', [
    (None, 'http://h/dir/blocks'),
    ('blocks/', 'http://h/dir/blocks'),
    ('../store', 'http://h/store'),
    ('/abs/blocks', 'http://h/abs/blocks'),
    ('https://other:8443/b', 'https://other:8443/b'),
])
def test_blocks_base(blocks_url, expected):
    manifest = _valid() if blocks_url is None else _valid(
        blocks_url=blocks_url)
    assert mf.blocks_base(manifest, 'http://h/dir/img.manifest.json') == \
        expected


def test_is_manifest_on_whole_and_truncated_manifests():
    manifest = mf.build(io.BytesIO(os.urandom(BS)), BS)
    assert mf.is_manifest(mf.dumps(manifest))
    assert mf.is_manifest(b'  \n' + json.dumps(manifest, indent=2).encode())
    # a big image: the canonical form puts "format" after the blocks
    big = dict(manifest, size=5000 * BS, blocks=[_sha(b'%d' % i)
                                                 for i in range(5000)])
    head = mf.dumps(big)[:formats.HEAD_BYTES]
    assert b'"format"' not in head
    assert mf.is_manifest(head)
    assert formats.detect(head) == 'bootflow-blocks'
    zeros = dict(big, blocks=[None] * 5000)
    assert mf.is_manifest(mf.dumps(zeros)[:100])
    # hand-written with "format" first, cut short
    text = b'{"format": "bootflow-blocks/1", "blocks": ["' + b'a' * 64
    assert mf.is_manifest(text)
    # another version is still recognised (loads then explains)
    assert mf.is_manifest(mf.dumps(dict(manifest, format='bootflow-blocks/9')))


@pytest.mark.parametrize('head', [
    b'', bytes(65536), os.urandom(4096), b'\x7fELF' + bytes(100),
    b'{"name": "something else"}', b'{"format": "other/1"}',
    b'{"block_size": 4, "other": [', b'[1, 2, 3]',
    b'{"blocks": "not canonical and no format key"'])
def test_is_manifest_rejects_the_rest(head):
    assert not mf.is_manifest(head)
