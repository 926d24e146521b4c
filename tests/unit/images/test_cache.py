"""The master image cache: keyed, verified, single-flight, hard-linked."""

import errno
import hashlib
import os
import threading

import pytest

from bootflow.common import exception
from bootflow.images import cache

SRC = 'http://images.example/deploy.kernel'
DATA = b'kernel bytes ' * 1000
SHA256 = hashlib.sha256(DATA).hexdigest()


class Recorder:
    """A downloader writing canned bytes per source, counting its calls."""

    def __init__(self, data=None):
        self.data = data or {}
        self.calls = []
        self._lock = threading.Lock()

    def __call__(self, source, dest_path):
        with self._lock:
            self.calls.append((source, dest_path))
        with open(dest_path, 'wb') as f:
            f.write(self.data.get(source, DATA))


@pytest.fixture
def nodes(tmp_path):
    path = tmp_path / 'nodes'
    path.mkdir()
    return path


def _masters(master_dir):
    return sorted(n for n in os.listdir(master_dir) if not n.startswith('.'))


def _hidden_except_locks(master_dir):
    return [n for n in os.listdir(master_dir)
            if n.startswith('.') and not n.endswith('.lock')]


# --- parse_checksum and the key ------------------------------------------

@pytest.mark.parametrize('algo', ['md5', 'sha1', 'sha256', 'sha512'])
def test_parse_checksum_prefixed_and_bare(algo):
    digest = hashlib.new(algo, b'x').hexdigest()
    assert cache.parse_checksum('%s:%s' % (algo, digest)) == (algo, digest)
    assert cache.parse_checksum(digest) == (algo, digest)
    assert cache.parse_checksum(
        ' %s:%s ' % (algo.upper(), digest.upper())) == (algo, digest)


@pytest.mark.parametrize('bad', [
    None, '', '   ', 42, 'abc', 'crc32:' + 'a' * 8, 'sha256:' + 'z' * 64,
    'sha256:' + 'a' * 32, 'md5:' + 'a' * 64, 'g' * 64, 'a' * 63,
    'sha256:', ':' + 'a' * 64,
])
def test_parse_checksum_rejects(bad):
    with pytest.raises(exception.InvalidParameterValue) as err:
        cache.parse_checksum(bad)
    assert 'checksum' in str(err.value)
    assert err.value.code == 400


def test_key_depends_on_source_and_normalized_checksum():
    md5 = hashlib.md5(DATA).hexdigest()
    keys = {cache.master_key(SRC), cache.master_key(SRC, SHA256),
            cache.master_key(SRC, 'md5:' + md5),
            cache.master_key(SRC + '2', SHA256)}
    assert len(keys) == 4
    assert cache.master_key(SRC, SHA256) == cache.master_key(
        SRC, 'SHA256:' + SHA256.upper())


# --- fetching -------------------------------------------------------------

def test_first_fetch_downloads_then_reuses_the_master(tmp_path, nodes):
    dl = Recorder()
    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0, downloader=dl)
    d1, d2 = str(nodes / 'n1'), str(nodes / 'n2')
    assert c.fetch_image(SRC, d1, checksum='sha256:' + SHA256) == d1
    assert c.fetch_image(SRC, d2, checksum=SHA256) == d2
    assert len(dl.calls) == 1
    [name] = _masters(c.master_dir)
    master = os.path.join(c.master_dir, name)
    assert name == cache.master_key(SRC, SHA256)
    assert os.stat(master).st_nlink == 3
    assert os.path.samefile(master, d1) and os.path.samefile(master, d2)
    with open(d2, 'rb') as f:
        assert f.read() == DATA
    # the download went to a hidden temp file, not the master's name
    assert os.path.basename(dl.calls[0][1]).startswith('.')
    assert dl.calls[0][1].endswith('.part')


def test_other_checksum_is_another_master(tmp_path, nodes):
    other = b'another build'
    dl = Recorder()
    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0, downloader=dl)
    c.fetch_image(SRC, str(nodes / 'a'), checksum=SHA256)
    dl.data[SRC] = other
    c.fetch_image(SRC, str(nodes / 'b'),
                  checksum=hashlib.sha256(other).hexdigest())
    assert len(dl.calls) == 2
    assert len(_masters(c.master_dir)) == 2
    assert (nodes / 'a').read_bytes() == DATA
    assert (nodes / 'b').read_bytes() == other


def test_checksum_mismatch_leaves_nothing_and_retries(tmp_path, nodes):
    dl = Recorder({SRC: b'corrupted'})
    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0, downloader=dl)
    dest = nodes / 'n1'
    dest.write_bytes(b'previous image')
    with pytest.raises(exception.ImageChecksumError) as err:
        c.fetch_image(SRC, str(dest), checksum=SHA256)
    msg = str(err.value)
    assert SRC in msg and SHA256 in msg
    assert hashlib.sha256(b'corrupted').hexdigest() in msg
    assert _masters(c.master_dir) == []
    assert _hidden_except_locks(c.master_dir) == []
    assert dest.read_bytes() == b'previous image'
    assert os.listdir(nodes) == ['n1']

    dl.data[SRC] = DATA
    c.fetch_image(SRC, str(dest), checksum=SHA256)
    assert len(dl.calls) == 2
    assert dest.read_bytes() == DATA


@pytest.mark.parametrize('error, expected', [
    (OSError(errno.ECONNRESET, 'reset'), exception.ImageDownloadFailed),
    (exception.ImageRefValidationFailed(image_href=SRC, reason='no'),
     exception.ImageRefValidationFailed),
])
def test_failed_download_leaves_nothing(tmp_path, nodes, error, expected):
    def half_then_fail(source, dest_path):
        with open(dest_path, 'wb') as f:
            f.write(DATA[:100])
        raise error

    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0,
                         downloader=half_then_fail)
    with pytest.raises(expected) as err:
        c.fetch_image(SRC, str(nodes / 'n1'))
    assert SRC in str(err.value)
    assert _masters(c.master_dir) == []
    assert _hidden_except_locks(c.master_dir) == []
    assert os.listdir(nodes) == []


def test_downloader_that_writes_nothing_fails(tmp_path, nodes):
    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0,
                         downloader=lambda source, dest_path: None)
    with pytest.raises(exception.ImageDownloadFailed):
        c.fetch_image(SRC, str(nodes / 'n1'))
    assert _masters(c.master_dir) == []


def test_without_checksum_bytes_are_not_verified(tmp_path, nodes):
    dl = Recorder({SRC: b'whatever the server sent'})
    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0, downloader=dl)
    c.fetch_image(SRC, str(nodes / 'n1'))
    c.fetch_image(SRC, str(nodes / 'n2'))
    assert len(dl.calls) == 1
    assert _masters(c.master_dir) == [cache.master_key(SRC)]
    assert (nodes / 'n2').read_bytes() == b'whatever the server sent'


def test_reuse_refreshes_last_used_time(tmp_path, nodes):
    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0,
                         downloader=Recorder())
    c.fetch_image(SRC, str(nodes / 'n1'), checksum=SHA256)
    master = os.path.join(c.master_dir, cache.master_key(SRC, SHA256))
    os.utime(master, (1000, 1000))
    c.fetch_image(SRC, str(nodes / 'n2'), checksum=SHA256)
    assert os.stat(master).st_mtime > 1000 + 10 ** 9


def test_existing_dest_is_replaced(tmp_path, nodes):
    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0,
                         downloader=Recorder())
    dest = nodes / 'n1'
    dest.write_bytes(b'old')
    c.fetch_image(SRC, str(dest), checksum=SHA256)
    assert dest.read_bytes() == DATA
    # again, when dest already is a link of this very master
    c.fetch_image(SRC, str(dest), checksum=SHA256)
    assert os.listdir(nodes) == ['n1']
    master = os.path.join(c.master_dir, cache.master_key(SRC, SHA256))
    assert os.stat(master).st_nlink == 2


def test_cross_device_dest_gets_a_copy(tmp_path, nodes, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EXDEV, 'Invalid cross-device link')

    monkeypatch.setattr(os, 'link', no_link)
    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0,
                         downloader=Recorder())
    dest = str(nodes / 'n1')
    c.fetch_image(SRC, dest, checksum=SHA256)
    master = os.path.join(c.master_dir, cache.master_key(SRC, SHA256))
    assert not os.path.samefile(master, dest)
    assert os.stat(master).st_nlink == 1
    with open(dest, 'rb') as f:
        assert f.read() == DATA
    assert os.listdir(nodes) == ['n1']


def test_other_link_errors_propagate(tmp_path, nodes, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EPERM, 'Operation not permitted')

    monkeypatch.setattr(os, 'link', no_link)
    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0,
                         downloader=Recorder())
    with pytest.raises(PermissionError):
        c.fetch_image(SRC, str(nodes / 'n1'), checksum=SHA256)
    assert os.listdir(nodes) == []


def test_master_dir_is_created(tmp_path):
    cache.ImageCache(str(tmp_path / 'a' / 'b'), 0, 0)
    assert (tmp_path / 'a' / 'b').is_dir()


def test_key_cannot_be_forged_by_the_source():
    forged = cache.master_key('%s", ["sha256", "%s"]' % (SRC, SHA256))
    forged_nl = cache.master_key('%s\nchecksum=sha256:%s' % (SRC, SHA256))
    assert cache.master_key(SRC, SHA256) not in (forged, forged_nl)
