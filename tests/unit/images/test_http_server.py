"""The boot-file HTTP server, through real sockets on 127.0.0.1.

Requests go through http.client (which sends the target verbatim, unlike
requests/urllib3 which would normalise ``..`` away) or raw sockets.
"""

import email.utils
import hashlib
import http.client
import logging
import os
import socket
import struct
import threading
import time
import tracemalloc
import urllib.parse

import pytest

from bootflow.images import http_server

BIG = 32 << 20           # well beyond loopback socket buffers
SMALL = bytes(range(256)) * 4


def wait_for(predicate, timeout=5.0):
    """True as soon as predicate() is, False after timeout seconds."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        event.wait(0.01)
    return True


def conn_threads():
    return [t for t in threading.enumerate() if t.name == 'httpboot-conn']


@pytest.fixture
def root(tmp_path):
    root = tmp_path / 'root'
    (root / 'sub').mkdir(parents=True)
    (root / 'pxelinux.cfg').mkdir()
    (root / 'boot.ipxe').write_bytes(b'#!ipxe\nchain kernel\n')
    (root / 'grub.cfg').write_bytes(b'linux /kernel\n')
    (root / 'pxelinux.cfg' / '01-52-54-00-aa-bb-01').write_bytes(b'#!ipxe\n')
    (root / 'small.bin').write_bytes(SMALL)
    (root / 'image.iso').write_bytes(b'CD001' * 10)
    (root / 'empty').write_bytes(b'')
    (root / 'sub' / 'index.html').write_bytes(b'<html>index</html>')
    (root / 'sub' / 'file.txt').write_bytes(b'in sub\n')
    (tmp_path / 'secret.txt').write_bytes(b'TOP SECRET\n')
    (tmp_path / 'outside').mkdir()
    (tmp_path / 'outside' / 'secret.txt').write_bytes(b'TOP SECRET\n')
    return root


@pytest.fixture
def big(root):
    data = os.urandom(BIG)
    (root / 'kernel').write_bytes(data)
    return data


def start(root, **kwargs):
    server = http_server.make_server(str(root), '127.0.0.1', 0, **kwargs)
    server.start()
    return server


@pytest.fixture
def server(root):
    server = start(root)
    yield server
    server.stop()
    assert wait_for(lambda: not conn_threads())


def get(server, path, method='GET', headers=None):
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw(server, data):
    """(status, headers, body) for raw request bytes."""
    sock = socket.create_connection(('127.0.0.1', server.port), timeout=10)
    with sock:
        sock.sendall(data)
        resp = http.client.HTTPResponse(sock, method='GET')
        resp.begin()
        return resp.status, dict(resp.getheaders()), resp.read()


def send_get(server, path):
    """A started download: (socket, response with headers read)."""
    sock = socket.create_connection(('127.0.0.1', server.port), timeout=10)
    sock.sendall(b'GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path.encode())
    resp = http.client.HTTPResponse(sock, method='GET')
    resp.begin()
    return sock, resp


def reset(sock, resp):
    """Close with RST, as a client killed mid-download does (the response
    holds a reference to the socket: closing only the socket would leave
    the connection open)."""
    resp.close()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack('ii', 1, 0))
    sock.close()


class TestBasics:
    def test_get_whole_file(self, server, root):
        status, headers, body = get(server, '/small.bin')
        assert (status, body) == (200, SMALL)
        assert headers['Content-Length'] == str(len(SMALL))
        assert headers['Content-Type'] == 'application/octet-stream'
        assert headers['Accept-Ranges'] == 'bytes'
        assert headers['Cache-Control'] == 'no-cache'
        mtime = os.stat(root / 'small.bin').st_mtime
        assert headers['Last-Modified'] == email.utils.formatdate(
            mtime, usegmt=True)

    def test_head_has_length_no_body(self, server):
        status, headers, body = get(server, '/small.bin', 'HEAD')
        assert (status, body) == (200, b'')
        assert headers['Content-Length'] == str(len(SMALL))

    def test_empty_file(self, server):
        status, headers, body = get(server, '/empty')
        assert (status, headers['Content-Length'], body) == (200, '0', b'')

    @pytest.mark.parametrize('path,ctype', [
        ('/boot.ipxe', 'text/plain'), ('/grub.cfg', 'text/plain'),
        ('/pxelinux.cfg/01-52-54-00-aa-bb-01', 'text/plain'),
        ('/sub/file.txt', 'text/plain'),
        ('/image.iso', 'application/x-iso9660-image'),
        ('/small.bin', 'application/octet-stream'),
    ])
    def test_content_type(self, server, path, ctype):
        assert get(server, path)[1]['Content-Type'] == ctype

    def test_large_extensionless_file_is_binary(self, server, big):
        headers = get(server, '/kernel', 'HEAD')[1]
        assert headers['Content-Type'] == 'application/octet-stream'

    @pytest.mark.parametrize('method', [
        'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'FOO'])
    def test_other_methods_405(self, server, method):
        status, headers, body = get(server, '/boot.ipxe', method)
        assert status == 405
        assert headers['Allow'] == 'GET, HEAD'
        assert headers['Content-Length'] == str(len(body))

    @pytest.mark.parametrize('method,status', [(b'GET', b'200'),
                                               (b'POST', b'405')])
    def test_request_body_is_not_taken_for_a_request(self, server, method,
                                                     status):
        request = (method + b' /boot.ipxe HTTP/1.1\r\nHost: x\r\n'
                   b'Content-Length: 34\r\n\r\n'
                   b'GET /small.bin HTTP/1.1\r\nHost: x\r\n\r\n')
        sock = socket.create_connection(('127.0.0.1', server.port), 10)
        with sock:
            sock.sendall(request)
            data = b''
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b'HTTP/1.1 %s ' % status)
        assert data.count(b'HTTP/1.1') == 1     # then closed

    def test_malformed_requests(self, server, capfd):
        status, headers, body = raw(server, b'GARBAGE\r\n\r\n')
        assert status == 400
        assert headers['Content-Length'] == str(len(body))
        status = raw(server, b'GET /%s HTTP/1.1\r\n\r\n' % (b'a' * 70000))[0]
        assert status == 414
        assert capfd.readouterr() == ('', '')

    def test_http10_closes(self, server):
        status, headers, body = raw(server, b'GET /boot.ipxe HTTP/1.0\r\n\r\n')
        assert (status, body) == (200, b'#!ipxe\nchain kernel\n')
        assert headers['Connection'] == 'close'

    def test_keep_alive(self, server):
        conn = http.client.HTTPConnection('127.0.0.1', server.port,
                                          timeout=10)
        try:
            seen = []
            for method, path, headers in [
                    ('GET', '/small.bin', {}), ('GET', '/nope', {}),
                    ('GET', '/small.bin', {'Range': 'bytes=0-9'}),
                    ('GET', '/small.bin', {'Range': 'bytes=9999-'}),
                    ('HEAD', '/small.bin', {}), ('GET', '/boot.ipxe', {})]:
                conn.request(method, path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                if method == 'GET':
                    assert len(body) == int(resp.getheader('Content-Length'))
                seen.append((resp.status, conn.sock))
            assert [s for s, _ in seen] == [200, 404, 206, 416, 200, 200]
            assert len({id(sock) for _, sock in seen}) == 1
            assert server.active_connections == 1
        finally:
            conn.close()


class TestRanges:
    @pytest.mark.parametrize('spec,first,last', [
        ('bytes=0-99', 0, 99), ('bytes=100-', 100, 1023),
        ('bytes=-100', 924, 1023), ('bytes=5-5', 5, 5),
        ('bytes=1000-5000', 1000, 1023), ('bytes=-5000', 0, 1023),
        ('BYTES=0-0', 0, 0),
    ])
    def test_single_range(self, server, spec, first, last):
        status, headers, body = get(server, '/small.bin',
                                    headers={'Range': spec})
        assert status == 206
        assert body == SMALL[first:last + 1]
        assert headers['Content-Length'] == str(last - first + 1)
        assert headers['Content-Range'] == 'bytes %d-%d/1024' % (first, last)

    @pytest.mark.parametrize('spec', [
        'bytes=0-1,5-6', 'bytes=5-1', 'items=0-1', 'bytes=abc',
        'bytes=-', 'bytes=1-2-3', 'bytes=+1-2'])
    def test_multiple_or_invalid_ranges_give_whole_file(self, server, spec):
        status, headers, body = get(server, '/small.bin',
                                    headers={'Range': spec})
        assert (status, body) == (200, SMALL)
        assert 'Content-Range' not in headers

    @pytest.mark.parametrize('path,spec,size', [
        ('/small.bin', 'bytes=1024-', 1024),
        ('/small.bin', 'bytes=5000-6000', 1024),
        ('/small.bin', 'bytes=-0', 1024),
        ('/empty', 'bytes=0-', 0),
    ])
    def test_unsatisfiable(self, server, path, spec, size):
        status, headers, body = get(server, path, headers={'Range': spec})
        assert status == 416
        assert headers['Content-Range'] == 'bytes */%d' % size
        assert headers['Content-Length'] == str(len(body))

    def test_range_deep_in_large_file(self, server, big):
        first = BIG - 100000
        spec = 'bytes=%d-%d' % (first, first + 65535)
        status, _, body = get(server, '/kernel', headers={'Range': spec})
        assert (status, body) == (206, big[first:first + 65536])

    def test_head_ignores_range(self, server):
        status, headers, _ = get(server, '/small.bin', 'HEAD',
                                 {'Range': 'bytes=0-9'})
        assert (status, headers['Content-Length']) == (200, '1024')

    def test_if_range(self, server):
        headers = get(server, '/small.bin', 'HEAD')[1]
        for validator in (headers['ETag'], headers['Last-Modified']):
            status = get(server, '/small.bin', headers={
                'Range': 'bytes=0-9', 'If-Range': validator})[0]
            assert status == 206
        status, _, body = get(server, '/small.bin', headers={
            'Range': 'bytes=0-9', 'If-Range': '"stale"'})
        assert (status, body) == (200, SMALL)


class TestConfinement:
    @pytest.mark.parametrize('path', ['/', '/sub', '/sub/', '/pxelinux.cfg/'])
    def test_no_directory_listing(self, server, path):
        status, _, body = get(server, path)
        assert status == 404
        assert b'index' not in body and b'file.txt' not in body

    def test_outside_paths_refused(self, server, tmp_path):
        secret = str(tmp_path / 'secret.txt')
        for path in [
                '/../secret.txt', '/sub/../../secret.txt',
                '/%2e%2e/secret.txt', '/%2E%2E%2Fsecret.txt',
                '/..%2fsecret.txt', '/sub/%2e%2e/%2e%2e/secret.txt',
                '/' + urllib.parse.quote(secret, safe=''), '/' + secret,
                '/' + urllib.parse.quote(secret), '../secret.txt',
                'secret.txt', 'http://127.0.0.1/../secret.txt',
                '/boot.ipxe%00', '/boot.ipxe%00.txt', '/%00/../secret.txt',
                '/sub/../boot.ipxe']:
            status, _, body = get(server, path)
            assert status in (400, 403, 404), path
            assert b'SECRET' not in body and b'ipxe' not in body, path

    def test_raw_nul_byte(self, server):
        assert raw(server, b'GET /boot.ipxe\x00 HTTP/1.1\r\n\r\n')[0] in (
            400, 404)

    @pytest.mark.parametrize('path', [
        '/%62oot.ipxe', '/boot.ipxe?x=1#y', '/./boot.ipxe', '//boot.ipxe',
        'http://127.0.0.1/boot.ipxe'])
    def test_decoded_paths_still_served(self, server, path):
        status, _, body = get(server, path)
        assert (status, body) == (200, b'#!ipxe\nchain kernel\n')

    def test_symlinks(self, server, root, tmp_path):
        os.symlink('boot.ipxe', root / 'in-link')
        os.symlink(root / 'sub', root / 'sub-link')
        os.symlink(tmp_path / 'secret.txt', root / 'out-link')
        os.symlink('../secret.txt', root / 'rel-out-link')
        os.symlink(tmp_path / 'outside', root / 'out-dir')
        os.symlink('/etc/passwd', root / 'passwd')
        os.symlink('/dev/zero', root / 'zero')
        os.symlink('missing', root / 'dangling')
        assert get(server, '/in-link')[0] == 200
        assert get(server, '/sub-link/file.txt')[2] == b'in sub\n'
        for path in ('/out-link', '/rel-out-link', '/out-dir/secret.txt',
                     '/passwd', '/zero', '/dangling'):
            status, _, body = get(server, path)
            assert status in (403, 404), path
            assert b'SECRET' not in body and b'root:' not in body

    def test_only_regular_files(self, root):
        os.mkfifo(root / 'fifo')
        nodes = ['/fifo']
        try:
            os.mknod(root / 'null', 0o600 | 0o020000, os.makedev(1, 3))
            nodes.append('/null')
        except PermissionError:
            pass
        server = start(root, timeout=2)
        try:
            for path in nodes:
                assert get(server, path)[0] == 404, path
        finally:
            server.stop()


class TestValidators:
    def test_if_modified_since(self, server):
        headers = get(server, '/boot.ipxe', 'HEAD')[1]
        status, resp, body = get(server, '/boot.ipxe', headers={
            'If-Modified-Since': headers['Last-Modified']})
        assert (status, body) == (304, b'')
        assert resp['Content-Length'] == headers['Content-Length']
        old = email.utils.formatdate(0, usegmt=True)
        for since in (old, 'not a date'):
            assert get(server, '/boot.ipxe', headers={
                'If-Modified-Since': since})[0] == 200

    def test_if_none_match_wins_and_follows_replace(self, server, root):
        headers = get(server, '/boot.ipxe', 'HEAD')[1]
        etag, modified = headers['ETag'], headers['Last-Modified']
        assert get(server, '/boot.ipxe', headers={
            'If-None-Match': 'W/"x", ' + etag})[0] == 304
        both = {'If-None-Match': '"other"', 'If-Modified-Since': modified}
        assert get(server, '/boot.ipxe', headers=both)[0] == 200
        (root / 'new').write_bytes(b'#!ipxe\nexit\n')
        os.replace(root / 'new', root / 'boot.ipxe')
        status, _, body = get(server, '/boot.ipxe',
                              headers={'If-None-Match': etag})
        assert (status, body) == (200, b'#!ipxe\nexit\n')


class TestStreaming:
    def test_body_goes_through_sendfile(self, server, big, monkeypatch):
        sent = []
        real = os.sendfile

        def counting(out_fd, in_fd, offset, count):
            n = real(out_fd, in_fd, offset, count)
            sent.append(n)
            return n
        monkeypatch.setattr(os, 'sendfile', counting)
        body = get(server, '/kernel')[2]
        assert hashlib.sha256(body).digest() == hashlib.sha256(big).digest()
        assert sum(sent) == BIG

    def test_memory_does_not_grow_with_file_size(self, server, big):
        conn = http.client.HTTPConnection('127.0.0.1', server.port,
                                          timeout=10)
        digest = hashlib.sha256()
        tracemalloc.start()
        try:
            conn.request('GET', '/kernel')
            resp = conn.getresponse()
            while chunk := resp.read(65536):
                digest.update(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            conn.close()
        assert digest.digest() == hashlib.sha256(big).digest()
        assert peak < 4 << 20

    def test_replace_during_download_keeps_old_content(
            self, server, root, big):
        sock, resp = send_get(server, '/kernel')
        with sock:
            first = resp.read(65536)
            (root / 'kernel.new').write_bytes(b'new kernel')
            os.replace(root / 'kernel.new', root / 'kernel')
            assert get(server, '/kernel')[2] == b'new kernel'
            rest = resp.read()
        assert hashlib.sha256(first + rest).digest() == hashlib.sha256(
            big).digest()

    def test_client_disconnects_mid_download(self, server, big, capfd):
        for _ in range(10):
            sock, resp = send_get(server, '/kernel')
            resp.read(65536)
            reset(sock, resp)
        sock, resp = send_get(server, '/boot.ipxe')
        resp.read()
        reset(sock, resp)            # while waiting for the next request
        assert server.wait_idle(10)
        assert wait_for(lambda: not conn_threads())
        assert get(server, '/boot.ipxe')[0] == 200
        assert capfd.readouterr() == ('', '')

    def test_slow_clients_do_not_block_others(self, root, big):
        server = start(root, threads=4)
        stalled, _ = send_get(server, '/kernel')     # never reads
        slowloris = socket.create_connection(('127.0.0.1', server.port), 10)
        slowloris.sendall(b'GET /boot.ipxe HTTP/1.1\r\nHost')
        try:
            started = time.monotonic()
            assert get(server, '/boot.ipxe')[0] == 200
            assert time.monotonic() - started < 2
        finally:
            stalled.close()
            slowloris.close()
            server.stop()

    def test_stalled_and_idle_connections_time_out(self, root, big):
        server = start(root, timeout=0.5, keepalive_timeout=0.5)
        try:
            stalled, _ = send_get(server, '/kernel')
            idle = socket.create_connection(('127.0.0.1', server.port), 10)
            with stalled, idle:
                assert server.wait_idle(5)
                assert idle.recv(1) == b''
        finally:
            server.stop()

    def test_threads_are_bounded(self, root):
        server = start(root, threads=2, keepalive_timeout=30)
        conns = [http.client.HTTPConnection('127.0.0.1', server.port,
                                            timeout=10) for _ in range(2)]
        try:
            for conn in conns:
                conn.request('GET', '/boot.ipxe')
                conn.getresponse().read()
            waiting = socket.create_connection(('127.0.0.1', server.port),
                                               timeout=0.5)
            waiting.sendall(b'GET /boot.ipxe HTTP/1.1\r\nHost: x\r\n\r\n')
            with pytest.raises(TimeoutError):
                waiting.recv(1)              # both threads are taken
            conns[0].close()
            waiting.settimeout(10)
            assert waiting.recv(12) == b'HTTP/1.1 200'
            assert len(conn_threads()) <= 2
            waiting.close()
        finally:
            for conn in conns:
                conn.close()
            server.stop()

    def test_stop_cuts_open_downloads(self, root, big):
        server = start(root)
        sock, _ = send_get(server, '/kernel')
        with sock:
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 5
            assert not conn_threads()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(('127.0.0.1', server.port), 2)


class TestLogging:
    def test_one_debug_line_per_request(self, server, caplog, capfd):
        caplog.set_level(logging.DEBUG, logger=http_server.__name__)
        conn = http.client.HTTPConnection('127.0.0.1', server.port,
                                          timeout=10)
        for path in ('/boot.ipxe', '/nope', '/../secret.txt'):
            conn.request('GET', path)
            conn.getresponse().read()
        conn.close()
        assert server.wait_idle(5)
        lines = [r for r in caplog.records if r.name == http_server.__name__
                 and 'HTTP/1.1' in r.getMessage()]
        assert [r.levelno for r in lines] == [logging.DEBUG] * 3
        messages = [r.getMessage() for r in lines]
        assert '"GET /boot.ipxe HTTP/1.1" 200 20' in messages[0]
        assert '"GET /nope HTTP/1.1" 404' in messages[1]
        assert '"GET /../secret.txt HTTP/1.1" 404' in messages[2]
        assert capfd.readouterr() == ('', '')


@pytest.mark.parametrize('header,size,expected', [
    ('bytes=0-0', 1, (0, 0)), ('bytes=-1', 1, (0, 0)),
    ('bytes=0-', 10, (0, 9)), ('bytes=3-100', 10, (3, 9)),
    ('bytes=0-1, 2-3', 10, None), ('bytes=٣-4', 10, None),
])
def test_parse_range(header, size, expected):
    assert http_server.parse_range(header, size) == expected


@pytest.mark.parametrize('header,size', [
    ('bytes=10-', 10), ('bytes=-0', 10), ('bytes=-5', 0), ('bytes=0-0', 0)])
def test_parse_range_unsatisfiable(header, size):
    with pytest.raises(http_server.Unsatisfiable):
        http_server.parse_range(header, size)
