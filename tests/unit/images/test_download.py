"""The default downloader, against a real HTTP server on 127.0.0.1."""

import functools
import hashlib
import http.server
import os
import socket
import threading

import pytest

from bootflow.common import exception
from bootflow.images import cache
from bootflow.images import download

BIG = os.urandom(download.CHUNK_SIZE * 2 + 12345)  # several chunks


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == '/truncated':
            # announces 100 bytes, sends 50 and hangs up
            self.send_response(200)
            self.send_header('Content-Length', '100')
            self.end_headers()
            self.wfile.write(b'x' * 50)
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def http_root(tmp_path):
    """Serve a temp dir; yields (dir, base URL)."""
    root = tmp_path / 'www'
    root.mkdir()
    (root / 'big.iso').write_bytes(BIG)
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield root, 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_streams_the_file(http_root, tmp_path):
    _, base = http_root
    dest = tmp_path / 'out'
    download.fetch(base + '/big.iso', str(dest))
    assert dest.read_bytes() == BIG


def test_http_404_fails_with_url_and_status(http_root, tmp_path):
    _, base = http_root
    with pytest.raises(exception.ImageDownloadFailed) as err:
        download.fetch(base + '/missing.iso', str(tmp_path / 'out'))
    assert base + '/missing.iso' in str(err.value)
    assert '404' in str(err.value)


def test_http_truncated_body_fails(http_root, tmp_path):
    _, base = http_root
    with pytest.raises(exception.ImageDownloadFailed) as err:
        download.fetch(base + '/truncated', str(tmp_path / 'out'))
    assert '/truncated' in str(err.value)


def test_http_connection_refused_fails(tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    url = 'http://127.0.0.1:%d/x.iso' % port
    with pytest.raises(exception.ImageDownloadFailed) as err:
        download.fetch(url, str(tmp_path / 'out'), timeout=5)
    assert url in str(err.value)


def test_file_url_is_copied(tmp_path):
    src = tmp_path / 'kernel'
    src.write_bytes(b'vmlinuz')
    for url in ('file://%s' % src, 'file://localhost%s' % src):
        dest = tmp_path / 'out'
        download.fetch(url, str(dest))
        assert dest.read_bytes() == b'vmlinuz'
        assert not os.path.samefile(src, dest)


@pytest.mark.parametrize('url', [
    'ftp://host/x.iso', 'glance://1234', '/plain/path', 'nonsense', '',
    'file://otherhost/x.iso', 'file:///definitely/not/here',
])
def test_bad_references_are_refused(url, tmp_path):
    with pytest.raises(exception.ImageRefValidationFailed) as err:
        download.fetch(url, str(tmp_path / 'out'))
    assert err.value.code == 400
    assert not (tmp_path / 'out').exists()


def test_expected_size(http_root, tmp_path):
    root, base = http_root
    assert download.expected_size(base + '/big.iso') == len(BIG)
    assert download.expected_size('file://%s/big.iso' % root) == len(BIG)
    assert download.expected_size(base + '/missing.iso') is None
    assert download.expected_size('ftp://host/x') is None
    assert download.expected_size('file:///not/here') is None


def test_cache_with_default_downloader_over_http(http_root, tmp_path):
    _, base = http_root
    c = cache.ImageCache(str(tmp_path / 'master'), 10 * len(BIG), 60)
    checksum = 'sha512:' + hashlib.sha512(BIG).hexdigest()
    for node in ('n1', 'n2'):
        c.fetch_image(base + '/big.iso', str(tmp_path / node), checksum)
    assert os.path.samefile(tmp_path / 'n1', tmp_path / 'n2')
    assert (tmp_path / 'n2').read_bytes() == BIG
    with pytest.raises(exception.ImageDownloadFailed):
        c.fetch_image(base + '/missing.iso', str(tmp_path / 'n3'))
    assert not (tmp_path / 'n3').exists()


# -- caps: size, overall deadline, non-regular files ------------------------

def test_max_bytes_announced_fails_before_downloading(http_root, tmp_path):
    _, base = http_root
    with pytest.raises(exception.ImageDownloadFailed) as err:
        download.fetch(base + '/big.iso', str(tmp_path / 'out'),
                       max_bytes=download.CHUNK_SIZE)
    assert 'more than the limit of 1 MiB' in str(err.value)
    download.fetch(base + '/big.iso', str(tmp_path / 'out'),
                   max_bytes=len(BIG))
    assert (tmp_path / 'out').read_bytes() == BIG


def test_endless_source_stops_at_max_bytes(tmp_path):
    import time
    from tests.unit.images.origin import Origin
    with Origin(tmp_path) as origin:
        started = time.monotonic()
        with pytest.raises(exception.ImageDownloadFailed) as err:
            download.fetch(origin.url + '/endless', str(tmp_path / 'out'),
                           max_bytes=8 * download.MIB, deadline=30)
        assert time.monotonic() - started < 10
    assert 'larger than the limit of 8 MiB' in str(err.value)
    assert os.path.getsize(tmp_path / 'out') <= 9 * download.MIB


def test_trickling_source_stops_at_the_deadline(tmp_path):
    import time
    from tests.unit.images.origin import Origin
    with Origin(tmp_path) as origin:
        started = time.monotonic()
        with pytest.raises(exception.ImageDownloadFailed) as err:
            download.fetch(origin.url + '/trickle', str(tmp_path / 'out'),
                           timeout=5, deadline=1)
        assert time.monotonic() - started < 4
    assert 'longer than 1 seconds' in str(err.value)


def test_file_copies_are_capped_and_regular_only(tmp_path):
    src = tmp_path / 'disk.img'
    src.write_bytes(b'x' * 5000)
    with pytest.raises(exception.ImageDownloadFailed) as err:
        download.fetch('file://%s' % src, str(tmp_path / 'out'),
                       max_bytes=4096)
    assert 'limit of 4096 bytes' in str(err.value)
    os.mkfifo(tmp_path / 'fifo')    # opening must not wait for a writer
    for path in ('/dev/zero', tmp_path / 'fifo', tmp_path):
        with pytest.raises(exception.ImageRefValidationFailed) as err:
            download.fetch('file://%s' % path, str(tmp_path / 'out2'),
                           max_bytes=4096)
        assert 'not a regular file' in str(err.value)
    assert not (tmp_path / 'out2').exists()
