"""stream_image for real: a local HTTP server, file-backed disks and the
real qemu-img (tests that need it are skipped when it is missing).

The server serves bytes from a table the test fills in, and can
misbehave the ways real sources do: lie about Content-Length, never end,
or stall.
"""

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from bootflow.agent.imaging import disk
from bootflow.agent.imaging import ImageError
from bootflow.agent.imaging import stream

MIB = 1024 * 1024
QEMU_IMG = shutil.which('qemu-img')
needs_qemu_img = pytest.mark.skipif(QEMU_IMG is None,
                                    reason='qemu-img is not installed')


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        spec = self.server.routes.get(self.path)
        if spec is None:
            self.send_error(404)
            return
        data = spec.get('data', b'')
        mode = spec.get('mode', 'normal')
        self.send_response(200)
        if mode == 'stall-headers':
            self.server.release.wait(30)
            return
        length = spec.get('length', len(data))
        if length is not None and mode != 'forever':
            self.send_header('Content-Length', str(length))
        self.end_headers()
        try:
            if mode == 'forever':
                chunk = bytes(MIB)
                while not self.server.release.is_set():
                    self.wfile.write(chunk)
                return
            self.wfile.write(data)
            if mode == 'stall':
                self.wfile.flush()
                self.server.release.wait(30)
        except OSError:
            pass    # the client gave up, as it should


class Server:
    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}
        self.httpd.release = threading.Event()
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def add(self, path, data=b'', **spec):
        self.httpd.routes['/' + path] = dict(spec, data=data)
        return 'http://127.0.0.1:%d/%s' % (self.httpd.server_port, path)

    def stop(self):
        self.httpd.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.stop()


def sha256(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def image(size, seed=b'x'):
    """Recognizably non-zero bytes with an MBR signature."""
    block = hashlib.sha512(seed).digest() * (MIB // 64)
    data = bytearray((block * (size // MIB + 1))[:size])
    data[510:512] = b'\x55\xaa'
    return bytes(data)


def target(tmp_path, size, fill=b'\0', name='disk.img'):
    path = tmp_path / name
    path.write_bytes(fill * size)
    return str(path)


def read(path):
    with open(path, 'rb') as stream_:
        return stream_.read()


def qemu_img(*args):
    proc = subprocess.run([QEMU_IMG] + [str(a) for a in args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_raw_byte_identical(server, tmp_path):
    data = image(10 * MIB + 12345)
    url = server.add('img.raw', data)
    dev = target(tmp_path, 16 * MIB, fill=b'\xff')
    seen = []
    result = stream.stream_image(dev, url, sha256(data), 'raw',
                                 progress=seen.append)
    disk_bytes = read(dev)
    assert disk_bytes[:len(data)] == data
    assert disk_bytes[len(data):] == b'\xff' * (16 * MIB - len(data))
    assert len(disk_bytes) == 16 * MIB      # never truncated or grown
    assert result['bytes_written'] == len(data)
    assert result['bytes_fetched'] == len(data)
    assert result['checksum'] == sha256(data)
    assert result['seconds'] >= 0
    assert seen[-1]['phase'] == 'writing'
    assert seen[-1]['bytes_written'] == len(data)
    assert seen[-1]['bytes_total'] == len(data)


def test_first_chunk_written_last(server, tmp_path, monkeypatch):
    """Until the whole image is written and verified, the disk has no
    partition table or boot loader from it."""
    data = image(20 * MIB)
    url = server.add('img', data)
    dev = target(tmp_path, 24 * MIB, fill=b'\xaa')
    synced = []
    real_sync = disk.sync

    def sync(fd):
        real_sync(fd)
        synced.append(read(dev))

    monkeypatch.setattr(disk, 'sync', sync)
    stream.stream_image(dev, url, sha256(data), 'raw')
    first, last = synced
    assert first[:stream.CHUNK] == b'\xaa' * stream.CHUNK
    assert first[stream.CHUNK:len(data)] == data[stream.CHUNK:]
    assert last[:len(data)] == data


def test_small_raw_and_other_checksums(server, tmp_path):
    data = image(100000)
    url = server.add('small', data)
    dev = target(tmp_path, 4 * MIB)
    for checksum in ('sha512:' + hashlib.sha512(data).hexdigest(),
                     hashlib.sha512(data).hexdigest(),
                     hashlib.sha256(data).hexdigest().upper()):
        stream.stream_image(dev, url, checksum, 'raw')
        assert read(dev)[:len(data)] == data


def test_chunked_body_without_length(server, tmp_path):
    data = image(5 * MIB)
    url = server.add('nolength', data, length=None)
    dev = target(tmp_path, 8 * MIB)
    stream.stream_image(dev, url, sha256(data), 'raw')
    assert read(dev)[:len(data)] == data


def test_bad_checksum_wipes_ends(server, tmp_path):
    data = image(12 * MIB)
    url = server.add('img', data)
    dev = target(tmp_path, 16 * MIB, fill=b'\xaa')
    with pytest.raises(ImageError) as err:
        stream.stream_image(dev, url, 'sha256:' + 'ab' * 32, 'raw')
    message = str(err.value)
    assert 'checksum mismatch' in message
    assert 'expected sha256:' + 'ab' * 32 in message
    assert sha256(data) in message
    assert 'nothing bootable was left on %s' % dev in message
    disk_bytes = read(dev)
    assert disk_bytes[:MIB] == bytes(MIB)
    assert disk_bytes[-MIB:] == bytes(MIB)
    # the image itself was never made whole: its first chunk is held back
    assert disk_bytes[MIB:4 * MIB] == b'\xaa' * (3 * MIB)


def test_qcow2_declared_raw_writes_nothing(server, tmp_path):
    if QEMU_IMG is None:
        pytest.skip('qemu-img is not installed')
    qcow = tmp_path / 'img.qcow2'
    qemu_img('create', '-f', 'qcow2', qcow, '8M')
    data = qcow.read_bytes()
    url = server.add('img', data)
    dev = target(tmp_path, 16 * MIB)
    with pytest.raises(ImageError) as err:
        stream.stream_image(dev, url, sha256(data), 'raw')
    assert 'declared raw but the image is qcow2' in str(err.value)
    assert 'nothing was written' in str(err.value)
    assert read(dev) == bytes(16 * MIB)


def test_raw_declared_qcow2_writes_nothing(server, tmp_path):
    data = image(2 * MIB)
    url = server.add('img', data)
    dev = target(tmp_path, 8 * MIB)
    with pytest.raises(ImageError) as err:
        stream.stream_image(dev, url, sha256(data), 'qcow2',
                            work_dir=str(tmp_path))
    assert 'declared qcow2 but the image is mbr' in str(err.value)
    assert read(dev) == bytes(8 * MIB)
    assert sorted(os.listdir(tmp_path)) == ['disk.img']


def test_unsupported_disk_format(server, tmp_path):
    dev = target(tmp_path, MIB)
    with pytest.raises(ImageError, match='unsupported disk_format'):
        stream.stream_image(dev, server.add('x', b'x'), sha256(b'x'),
                            'vmdk')


def test_content_length_too_large_refused(server, tmp_path):
    data = image(9 * MIB)
    url = server.add('big', data)
    dev = target(tmp_path, 8 * MIB, fill=b'\xaa')
    with pytest.raises(ImageError) as err:
        stream.stream_image(dev, url, sha256(data), 'raw')
    assert 'larger than the space on' in str(err.value)
    assert 'nothing was written' in str(err.value)
    assert read(dev) == b'\xaa' * (8 * MIB)
    dev = target(tmp_path, 16 * MIB, name='big.img')
    with pytest.raises(ImageError, match='image size limit'):
        stream.stream_image(dev, url, sha256(data), 'raw',
                            max_bytes=8 * MIB)
    assert read(dev) == bytes(16 * MIB)


def test_streamed_body_too_large_refused(server, tmp_path):
    data = image(9 * MIB)
    url = server.add('big', data, length=None)
    dev = target(tmp_path, 8 * MIB, fill=b'\xaa')
    with pytest.raises(ImageError) as err:
        stream.stream_image(dev, url, sha256(data), 'raw')
    assert 'larger than the space on' in str(err.value)
    assert 'nothing bootable was left' in str(err.value)
    disk_bytes = read(dev)
    assert disk_bytes[:MIB] == bytes(MIB)
    assert disk_bytes[-MIB:] == bytes(MIB)


def test_endless_source_refused(server, tmp_path):
    url = server.add('forever', mode='forever')
    dev = target(tmp_path, 64 * MIB)
    started = time.monotonic()
    with pytest.raises(ImageError) as err:
        stream.stream_image(dev, url, sha256(b''), 'raw',
                            max_bytes=16 * MIB)
    assert time.monotonic() - started < 20
    assert 'larger than the image size limit (%d bytes)' % (16 * MIB) in (
        str(err.value))
    assert os.path.getsize(dev) == 64 * MIB


def test_lying_content_length(server, tmp_path):
    data = image(6 * MIB)
    short = server.add('short', data, length=len(data) + MIB)
    dev = target(tmp_path, 8 * MIB, fill=b'\xaa')
    with pytest.raises(ImageError) as err:
        stream.stream_image(dev, short, sha256(data), 'raw',
                            read_timeout=5)
    assert 'nothing bootable was left' in str(err.value)
    assert read(dev)[:MIB] == bytes(MIB)
    # a Content-Length below the real size cuts the image: checksum fails
    cut = server.add('cut', data, length=len(data) - MIB)
    with pytest.raises(ImageError, match='checksum mismatch'):
        stream.stream_image(dev, cut, sha256(data), 'raw')


@pytest.mark.parametrize('mode', ['stall', 'stall-headers'])
def test_stalled_source_times_out(server, tmp_path, mode):
    data = image(5 * MIB)
    url = server.add('slow', data, length=len(data) + MIB, mode=mode)
    dev = target(tmp_path, 8 * MIB)
    started = time.monotonic()
    with pytest.raises(ImageError) as err:
        stream.stream_image(dev, url, sha256(data), 'raw', read_timeout=1)
    assert time.monotonic() - started < 5
    assert 'no data for 1 s' in str(err.value)


def test_http_error(server, tmp_path):
    dev = target(tmp_path, MIB)
    with pytest.raises(ImageError, match='HTTP 404'):
        stream.stream_image(dev, server.add('x') + 'missing', sha256(b''),
                            'raw')


@pytest.mark.parametrize('url', ['file:///etc/passwd', 'ftp://x/y'])
def test_only_http(tmp_path, url):
    with pytest.raises(ImageError, match='only http and https'):
        stream.stream_image(target(tmp_path, MIB), url, sha256(b''), 'raw')


def test_md5_only_when_allowed(server, tmp_path):
    data = image(MIB)
    url = server.add('img', data)
    dev = target(tmp_path, 2 * MIB)
    md5 = hashlib.md5(data).hexdigest()
    for checksum in (md5, 'md5:' + md5):
        with pytest.raises(ImageError, match='md5 image checksums are '
                                             'refused'):
            stream.stream_image(dev, url, checksum, 'raw')
    assert read(dev) == bytes(2 * MIB)
    result = stream.stream_image(dev, url, md5, 'raw', allow_md5=True)
    assert result['checksum'] == 'md5:' + md5
    assert read(dev)[:MIB] == data


@pytest.mark.parametrize('checksum', [
    'sha1:' + 'a' * 40, 'a' * 40, '', None, 'sha256:abc', 'crc32:1234',
    'sha256:' + 'g' * 64])
def test_bad_checksums_refused(checksum):
    with pytest.raises(ImageError):
        stream.parse_checksum(checksum, allow_md5=True)


def test_partition_offset_write(server, tmp_path):
    data = image(6 * MIB + 999)
    url = server.add('part', data)
    dev = target(tmp_path, 32 * MIB, fill=b'\xaa')
    stream.stream_image(dev, url, sha256(data), 'raw', offset=4 * MIB,
                        limit=8 * MIB)
    disk_bytes = read(dev)
    assert disk_bytes[4 * MIB:4 * MIB + len(data)] == data
    assert disk_bytes[:4 * MIB] == b'\xaa' * (4 * MIB)
    assert disk_bytes[4 * MIB + len(data):] == b'\xaa' * (
        28 * MIB - len(data))
    # too big for the partition, though not for the disk
    big = image(9 * MIB)
    with pytest.raises(ImageError, match='from offset'):
        stream.stream_image(dev, server.add('big', big), sha256(big), 'raw',
                            offset=4 * MIB, limit=8 * MIB)


def test_partition_failure_wipes_partition_start_only(server, tmp_path):
    data = image(6 * MIB)
    url = server.add('part', data)
    dev = target(tmp_path, 32 * MIB, fill=b'\xaa')
    with pytest.raises(ImageError, match='nothing bootable'):
        stream.stream_image(dev, url, 'sha256:' + '0' * 64, 'raw',
                            offset=4 * MIB, limit=8 * MIB)
    disk_bytes = read(dev)
    assert disk_bytes[4 * MIB:5 * MIB] == bytes(MIB)
    assert disk_bytes[:4 * MIB] == b'\xaa' * (4 * MIB)     # the table
    assert disk_bytes[-MIB:] == b'\xaa' * MIB


def test_refuses_odd_targets(server, tmp_path):
    url = server.add('x', b'x')
    with pytest.raises(ImageError, match='neither a block device'):
        stream.stream_image(str(tmp_path), url, sha256(b'x'), 'raw')
    with pytest.raises(ImageError, match='neither a block device'):
        stream.stream_image('/dev/null', url, sha256(b'x'), 'raw')
    with pytest.raises(ImageError, match='cannot open'):
        stream.stream_image(str(tmp_path / 'none'), url, sha256(b'x'),
                            'raw')


def _raw_source(tmp_path):
    """A raw image with data, holes and zeros, and its qcow2."""
    raw = bytearray(image(8 * MIB + 4096))
    raw[2 * MIB:3 * MIB] = bytes(MIB)
    raw[5 * MIB + 17:6 * MIB] = bytes(MIB - 17)
    raw = bytes(raw)
    path = tmp_path / 'src.raw'
    path.write_bytes(raw)
    qcow = tmp_path / 'src.qcow2'
    qemu_img('convert', '-f', 'raw', '-O', 'qcow2', path, qcow)
    return raw, qcow.read_bytes()


@needs_qemu_img
def test_qcow2_converted_byte_identical(server, tmp_path):
    raw, qcow = _raw_source(tmp_path)
    url = server.add('img.qcow2', qcow)
    work = tmp_path / 'work'
    work.mkdir()
    dev = target(tmp_path, 16 * MIB, fill=b'\xff')
    seen = []
    result = stream.stream_image(dev, url, sha256(qcow), 'qcow2',
                                 work_dir=str(work), progress=seen.append)
    disk_bytes = read(dev)
    # zeros of the image overwrite the old bytes instead of being skipped
    assert disk_bytes[:len(raw)] == raw
    assert disk_bytes[len(raw):] == b'\xff' * (16 * MIB - len(raw))
    assert result['bytes_written'] == len(raw)
    assert result['bytes_fetched'] == len(qcow)
    assert result['checksum'] == sha256(qcow)
    phases = [p['phase'] for p in seen]
    assert 'downloading' in phases and phases[-1] == 'converting'
    assert phases.index('downloading') < phases.index('converting')
    assert os.listdir(work) == []


@needs_qemu_img
def test_qcow2_at_offset(server, tmp_path):
    raw, qcow = _raw_source(tmp_path)
    url = server.add('img.qcow2', qcow)
    dev = target(tmp_path, 24 * MIB, fill=b'\xff')
    stream.stream_image(dev, url, sha256(qcow), 'qcow2', offset=3 * MIB,
                        limit=12 * MIB, work_dir=str(tmp_path))
    disk_bytes = read(dev)
    assert disk_bytes[3 * MIB:3 * MIB + len(raw)] == raw
    assert disk_bytes[:3 * MIB] == b'\xff' * (3 * MIB)
    assert disk_bytes[3 * MIB + len(raw):] == b'\xff' * (
        21 * MIB - len(raw))


@needs_qemu_img
def test_qcow2_larger_than_the_disk(server, tmp_path):
    qcow = tmp_path / 'big.qcow2'
    qemu_img('create', '-f', 'qcow2', qcow, '64M')
    url = server.add('big.qcow2', qcow.read_bytes())
    dev = target(tmp_path, 16 * MIB)
    with pytest.raises(ImageError, match='virtual size'):
        stream.stream_image(dev, url, sha256(qcow.read_bytes()), 'qcow2',
                            work_dir=str(tmp_path))
    assert read(dev) == bytes(16 * MIB)


@needs_qemu_img
def test_qcow2_bad_checksum_writes_nothing(server, tmp_path):
    _raw, qcow = _raw_source(tmp_path)
    url = server.add('img.qcow2', qcow)
    work = tmp_path / 'work'
    work.mkdir()
    dev = target(tmp_path, 16 * MIB)
    with pytest.raises(ImageError, match='checksum mismatch'):
        stream.stream_image(dev, url, 'sha256:' + '1' * 64, 'qcow2',
                            work_dir=str(work))
    assert read(dev) == bytes(16 * MIB)
    assert os.listdir(work) == []


@needs_qemu_img
def test_qcow2_backing_file_refused(server, tmp_path):
    secret = tmp_path / 'host-secret.raw'
    secret.write_bytes(b'secret' * 100000)
    qcow = tmp_path / 'evil.qcow2'
    qemu_img('create', '-f', 'qcow2', '-b', secret, '-F', 'raw', qcow)
    data = qcow.read_bytes()
    dev = target(tmp_path, 16 * MIB)
    with pytest.raises(ImageError) as err:
        stream.stream_image(dev, server.add('evil', data), sha256(data),
                            'qcow2', work_dir=str(tmp_path))
    assert 'backing file' in str(err.value)
    assert 'nothing was written' in str(err.value)
    assert read(dev) == bytes(16 * MIB)


@needs_qemu_img
def test_qcow2_data_file_refused(server, tmp_path):
    secret = tmp_path / 'host-disk.raw'
    secret.write_bytes(b'secret' * 100000)
    qcow = tmp_path / 'evil.qcow2'
    qemu_img('create', '-f', 'qcow2', '-o',
             'data_file=%s,data_file_raw=on' % secret, qcow, '4M')
    data = qcow.read_bytes()
    dev = target(tmp_path, 16 * MIB)
    with pytest.raises(ImageError) as err:
        stream.stream_image(dev, server.add('evil', data), sha256(data),
                            'qcow2', work_dir=str(tmp_path))
    assert 'external data file' in str(err.value)
    assert read(dev) == bytes(16 * MIB)


class _FakeTools:
    def __init__(self, report):
        self.report = report
        self.calls = []

    def which(self, tool):
        return None

    def run(self, argv, input=None, timeout=None):
        self.calls.append(argv)
        return json.dumps(self.report)


@needs_qemu_img
@pytest.mark.parametrize('report, why', [
    ({'backing-filename': '/etc/shadow'}, 'backing file'),
    ({'format-specific': {'type': 'qcow2',
                          'data': {'data-file': '/dev/sda'}}},
     'external data file'),
    ({'format': 'raw'}, 'is raw to qemu-img'),
    ({'encrypted': True}, 'encrypted'),
])
def test_qemu_img_info_double_check(server, tmp_path, report, why):
    """Whatever the header check missed, qemu-img's own reading of the
    image refuses before anything is converted."""
    _raw, qcow = _raw_source(tmp_path)
    url = server.add('img.qcow2', qcow)
    base = {'format': 'qcow2', 'virtual-size': 8 * MIB + 4096}
    tools = _FakeTools(dict(base, **report))
    dev = target(tmp_path, 16 * MIB)
    with pytest.raises(ImageError, match=why):
        stream.stream_image(dev, url, sha256(qcow), 'qcow2',
                            work_dir=str(tmp_path), tools=tools)
    assert [c[:2] for c in tools.calls] == [['qemu-img', 'info']]
    assert read(dev) == bytes(16 * MIB)


def test_safe_url_hides_credentials_and_query():
    assert stream.safe_url('https://u:p@h:8080/a/b?temp_url_sig=x') == (
        'https://h:8080/a/b')


def test_disk_helpers(tmp_path):
    dev = target(tmp_path, 4 * MIB, fill=b'\xaa')
    assert disk.device_path('/', '/dev/sda') == '/dev/sda'
    assert disk.device_path('/fix', '/dev/sda') == '/fix/dev/sda'
    assert not disk.is_block(dev)
    fd = disk.open_device(dev)
    try:
        assert disk.device_size(fd) == 4 * MIB
        disk.write_all(fd, b'abc', 10)
        disk.sync(fd)
    finally:
        os.close(fd)
    assert disk.wipe_ends(dev, nbytes=MIB)
    data = read(dev)
    assert data[:MIB] == bytes(MIB) and data[-MIB:] == bytes(MIB)
    assert data[MIB:-MIB] == b'\xaa' * (2 * MIB)
    assert not disk.wipe_ends(str(tmp_path / 'missing'))
    assert not disk.reread_partitions(dev, None)
