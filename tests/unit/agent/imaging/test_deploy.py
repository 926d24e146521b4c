"""image.write, disk.erase_metadata and disk.erase end to end: a real
HTTP server on 127.0.0.1, regular files under a fixture root as the
node's disks, and the real sfdisk, blkid, mkfs.ext4 and xorriso (a test
is skipped only when a tool it needs is missing)."""

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import threading

import pytest

from bootflow.agent.config import base
from bootflow.agent.imaging import deploy
from bootflow.agent.imaging import ImageError
from bootflow.agent.imaging import layout

MIB = 1024 * 1024
DISK = 128 * MIB
LINUX = '0FC63DAF-8483-4772-8E79-3D69D8477DE4'
TOOLS = base.Tools()


def _needs(*tools):
    missing = [t for t in tools if TOOLS.which(t) is None]
    return pytest.mark.skipif(bool(missing), reason='%s not installed'
                              % ', '.join(missing))


needs_sfdisk = _needs('sfdisk', 'blkid')
needs_partition_tools = _needs('sfdisk', 'blkid', 'mkfs.ext4')
needs_xorriso = _needs('xorriso')


def _tool(*argv, **kwargs):
    return subprocess.run([TOOLS.which(argv[0])] + list(argv[1:]),
                          capture_output=True, **kwargs)


# -- fixtures ------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass    # the client stopped reading, as it may

    def do_HEAD(self):
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()


class Server:
    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     _Handler)
        self.httpd.daemon_threads = True
        self.httpd.files = {}
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path):
        return 'http://127.0.0.1:%d/%s' % (self.httpd.server_port, path)

    def add(self, path, data):
        self.httpd.files['/' + path] = data
        return self.url(path)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.stop()


class Node:
    """A fixture root with file-backed disks, as the inventory sees them."""

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(os.path.join(self.root, 'dev'))
        self.disks = []

    def disk(self, name='vda', size=DISK, fill=b'\xa5'):
        path = os.path.join(self.root, 'dev', name)
        with open(path, 'wb') as stream:
            chunk = fill * MIB
            for _ in range(size // MIB):
                stream.write(chunk)
        self.disks.append({'name': '/dev/' + name, 'size': size})
        return path


@pytest.fixture
def node(tmp_path):
    return Node(tmp_path / 'root')


def read_at(path, offset, length):
    with open(path, 'rb') as stream:
        stream.seek(offset)
        return stream.read(length)


def digest_of(path):
    with open(path, 'rb') as stream:
        return hashlib.sha256(stream.read()).hexdigest()


def table(path):
    out = _tool('sfdisk', '--json', path, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)['partitiontable']


def probe(path, offset):
    out = _tool('blkid', '-p', '-O', str(offset), '-o', 'export', path,
                text=True)
    return dict(line.split('=', 1) for line in out.stdout.splitlines()
                if '=' in line)


def whole_disk_image(tmp_path, label='gpt', size=8 * MIB):
    """A raw whole-disk image: a table and random bytes in its
    partition."""
    path = str(tmp_path / ('image-%s.raw' % label))
    with open(path, 'wb') as stream:
        stream.truncate(size)
    script = ('label: %s\nstart=1MiB, size=%dMiB, type=%s\n'
              % ('gpt' if label == 'gpt' else 'dos', size // MIB - 2,
                 LINUX if label == 'gpt' else '83'))
    out = _tool('sfdisk', '--quiet', path, input=script, text=True)
    assert out.returncode == 0, out.stderr
    with open(path, 'r+b') as stream:
        stream.seek(MIB)
        stream.write(os.urandom(size - 3 * MIB))
    with open(path, 'rb') as stream:
        return stream.read()


def partition_image(tmp_path):
    """A root filesystem image: ext4 holding a file."""
    top = tmp_path / 'rootfs'
    (top / 'etc').mkdir(parents=True)
    (top / 'etc' / 'hostname').write_text('deployed\n')
    path = str(tmp_path / 'root.ext4')
    out = _tool('mkfs.ext4', '-F', '-q', '-L', 'img-root', '-d', str(top),
                path, '16M', text=True)
    assert out.returncode == 0, out.stderr
    with open(path, 'rb') as stream:
        return stream.read()


@pytest.fixture(scope='module')
def iso(tmp_path_factory):
    if TOOLS.which('xorriso') is None:
        pytest.skip('xorriso not installed')
    top = tmp_path_factory.mktemp('configdrive')
    latest = top / 'cd' / 'openstack' / 'latest'
    latest.mkdir(parents=True)
    (latest / 'meta_data.json').write_text('{"uuid": "0f9c"}')
    out = top / 'x.iso'
    subprocess.run([shutil.which('xorriso'), '-as', 'mkisofs', '-V',
                    'config-2', '-J', '-R', '-o', str(out), str(top / 'cd')],
                   check=True, capture_output=True)
    return out.read_bytes()


def packed(iso):
    return base64.b64encode(gzip.compress(iso)).decode()


def stream_params(server, data, name='image.raw', **extra):
    image = {'mode': 'stream', 'url': server.add(name, data),
             'checksum': 'sha256:' + hashlib.sha256(data).hexdigest(),
             'disk_format': 'raw', 'size': len(data)}
    image.update(extra.pop('image', {}))
    params = {'root_device': {'name': '/dev/vda'},
              'image_type': 'whole-disk', 'image': image,
              'configdrive': None, 'max_bytes': 1 << 30,
              'read_timeout': 10, 'workers': 2}
    params.update(extra)
    return params


def blocks_params(server, data, block_size=65536, **extra):
    from bootflow.agent.imaging import manifest
    store = {}
    found = manifest.build(io.BytesIO(data), block_size,
                           lambda h, block: store.__setitem__(h, block))
    for h, block in store.items():
        server.add('blocks/' + manifest.block_relpath(h), block)
    raw = manifest.dumps(found)
    params = stream_params(server, data, **extra)
    params['image'] = {'mode': 'blocks',
                       'manifest_url': server.add('image.json', raw),
                       'manifest_sha256': manifest.digest(raw),
                       'sources': [server.url('blocks')], 'reuse': True}
    return params


PARTITIONS = {'disk_label': 'msdos', 'root_mb': 0, 'swap_mb': 16,
              'ephemeral_mb': 24, 'ephemeral_format': 'ext4',
              'configdrive_mb': 64}


def write(node, params, **kwargs):
    return deploy.write_image(params, node.disks, root=node.root, **kwargs)


# -- whole-disk images -----------------------------------------------------

@needs_sfdisk
def test_whole_disk_raw_byte_identical(tmp_path, server, node):
    dev = node.disk()
    image = whole_disk_image(tmp_path)
    seen = []
    result = write(node, stream_params(server, image), progress=seen.append)
    assert read_at(dev, 0, len(image)) == image
    assert read_at(dev, len(image), MIB) == b'\xa5' * MIB   # untouched
    assert result['root_device'] == '/dev/vda'
    assert result['root_device_size'] == DISK
    assert result['image_type'] == 'whole-disk'
    assert result['bytes_written'] == len(image)
    assert result['configdrive_partition'] is None
    assert result['root_partition'] is None
    assert result['disk_identifier'] == table(dev)['id']
    assert result['checksum'] == 'sha256:' + hashlib.sha256(
        image).hexdigest()
    assert seen[-1]['phase'] == 'done'
    assert all(event['device'] == '/dev/vda' for event in seen)


@needs_sfdisk
@needs_xorriso
@pytest.mark.parametrize('label', ['gpt', 'msdos'])
def test_whole_disk_with_configdrive(tmp_path, server, node, iso, label):
    dev = node.disk()
    image = whole_disk_image(tmp_path, label)
    params = stream_params(server, image, configdrive={'data': packed(iso)})
    result = write(node, params)
    assert read_at(dev, MIB, len(image) - MIB) == image[MIB:]
    parts = table(dev)['partitions']
    assert len(parts) == 2
    cd = parts[1]
    offset = cd['start'] * 512
    if label == 'gpt':
        assert cd['name'] == 'config-2'
        assert offset + cd['size'] * 512 == DISK - 33 * 512
        verify = _tool('sfdisk', '--verify', dev, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    else:
        assert offset + cd['size'] * 512 == DISK
    assert result['configdrive_partition'] == 2
    assert read_at(dev, offset, len(iso)) == iso
    assert read_at(dev, offset + 32769, 5) == b'CD001'
    found = probe(dev, offset)
    assert found['TYPE'] == 'iso9660' and found['LABEL'] == 'config-2'
    # a redeploy ends the same way, not with a second config drive
    write(node, params)
    assert [p['start'] for p in table(dev)['partitions']] == [
        parts[0]['start'], cd['start']]


@needs_sfdisk
def test_whole_disk_blocks(tmp_path, server, node):
    pytest.importorskip('bootflow.agent.imaging.blocks')
    dev = node.disk()
    image = whole_disk_image(tmp_path)
    params = blocks_params(server, image)
    first = write(node, params)
    assert read_at(dev, 0, len(image)) == image
    assert first['blocks_total'] == len(image) // 65536
    assert first['blocks_zero'] > 0
    second = write(node, params)
    assert second['blocks_fetched'] == 0
    assert second['blocks_reused'] + second['blocks_zero'] == (
        second['blocks_total'])
    assert read_at(dev, 0, len(image)) == image


# -- partition images ------------------------------------------------------

@needs_partition_tools
@needs_xorriso
def test_partition_image(tmp_path, server, node, iso):
    dev = node.disk()
    image = partition_image(tmp_path)
    params = stream_params(server, image, image_type='partition',
                           partitions=PARTITIONS,
                           configdrive={'data': packed(iso)})
    result = write(node, params)
    written = table(dev)
    parts = written['partitions']
    assert written['label'] == 'dos'
    assert [p['type'] for p in parts] == ['83', '82', '83', '83']
    starts = [p['start'] * 512 for p in parts]
    sizes = [p['size'] * 512 for p in parts]
    assert starts[0] == MIB
    assert sizes[1:] == [16 * MIB, 24 * MIB, 64 * MIB]
    assert starts[1] == starts[0] + sizes[0]
    assert starts[2] == starts[1] + sizes[1]
    assert starts[3] + sizes[3] == DISK
    assert read_at(dev, MIB, len(image)) == image
    root = probe(dev, MIB)
    assert root['TYPE'] == 'ext4' and root['LABEL'] == 'img-root'
    assert probe(dev, starts[1])['TYPE'] == 'swap'
    ephemeral = probe(dev, starts[2])
    assert ephemeral['TYPE'] == 'ext4'
    assert ephemeral['LABEL'] == 'ephemeral0'
    assert read_at(dev, starts[3] + 32769, 5) == b'CD001'
    assert read_at(dev, starts[3], len(iso)) == iso
    assert result['root_partition'] == 1
    assert result['configdrive_partition'] == 4
    assert result['disk_identifier'] == written['id']
    assert result['partition_uuid'] == written['id'][2:] + '-01'
    assert result['bytes_written'] == len(image)


@needs_partition_tools
def test_partition_image_gpt_blocks_vfat(tmp_path, server, node):
    pytest.importorskip('bootflow.agent.imaging.blocks')
    if TOOLS.which('mkfs.vfat') is None:
        pytest.skip('mkfs.vfat not installed')
    dev = node.disk()
    image = partition_image(tmp_path)
    params = blocks_params(server, image, image_type='partition',
                           partitions=dict(PARTITIONS, disk_label='gpt',
                                           root_mb=32, swap_mb=0,
                                           ephemeral_format='vfat'))
    result = write(node, params)
    parts = table(dev)['partitions']
    assert [p['name'] for p in parts] == ['root', 'ephemeral']
    assert parts[0]['size'] * 512 == 32 * MIB
    assert read_at(dev, MIB, len(image)) == image
    assert probe(dev, parts[1]['start'] * 512)['TYPE'] == 'vfat'
    assert result['root_partition'] == 1
    assert result['configdrive_partition'] is None
    assert result['partition_uuid'] == parts[0]['uuid'].lower()


# -- refusals before writing -----------------------------------------------

def _unchanged(dev, before):
    assert digest_of(dev) == before


@needs_sfdisk
def test_image_bigger_than_the_disk(tmp_path, server, node):
    dev = node.disk(size=16 * MIB)
    before = digest_of(dev)
    image = whole_disk_image(tmp_path, size=24 * MIB)
    with pytest.raises(ImageError, match='does not fit on /dev/vda') as info:
        write(node, stream_params(server, image))
    assert 'nothing was written' in str(info.value)
    _unchanged(dev, before)
    # not announced: the server's Content-Length gives it away
    with pytest.raises(ImageError, match='nothing was written'):
        write(node, stream_params(server, image, image={'size': None}))
    _unchanged(dev, before)


@needs_sfdisk
def test_blocks_image_bigger_than_the_disk(tmp_path, server, node):
    pytest.importorskip('bootflow.agent.imaging.blocks')
    dev = node.disk(size=16 * MIB)
    before = digest_of(dev)
    image = whole_disk_image(tmp_path, size=24 * MIB)
    with pytest.raises(ImageError, match='does not fit on /dev/vda'):
        write(node, blocks_params(server, image))
    _unchanged(dev, before)


@needs_sfdisk
@needs_xorriso
def test_whole_disk_image_leaving_no_room_for_the_configdrive(
        tmp_path, server, node, iso):
    dev = node.disk(size=64 * MIB)
    before = digest_of(dev)
    image = whole_disk_image(tmp_path, size=8 * MIB)
    image += bytes(56 * MIB - len(image))   # 56 MiB: 64 MiB disk - 8
    with pytest.raises(ImageError, match='config drive'):
        write(node, stream_params(server, image,
                                  configdrive={'data': packed(iso)}))
    _unchanged(dev, before)


@needs_partition_tools
def test_partition_image_bigger_than_the_root_partition(tmp_path, server,
                                                        node):
    dev = node.disk()
    before = digest_of(dev)
    image = partition_image(tmp_path)
    params = stream_params(server, image, image_type='partition',
                           partitions=dict(PARTITIONS, root_mb=8))
    with pytest.raises(ImageError, match='root partition of /dev/vda'):
        write(node, params)
    _unchanged(dev, before)


def test_partitions_that_do_not_fit(server, node):
    dev = node.disk(size=64 * MIB)
    before = digest_of(dev)
    params = stream_params(server, b'x' * MIB, image_type='partition',
                           partitions=dict(PARTITIONS, swap_mb=60))
    with pytest.raises(ImageError, match='do not fit'):
        write(node, params)
    _unchanged(dev, before)


def test_bad_configdrive_refused_before_writing(server, node):
    dev = node.disk()
    before = digest_of(dev)
    params = stream_params(server, b'x' * MIB,
                           configdrive={'data': packed(b'not an iso')})
    with pytest.raises(ImageError, match='bad config drive.*ISO 9660'):
        write(node, params)
    params['configdrive'] = {'url': server.url('missing.iso')}
    with pytest.raises(ImageError, match='bad config drive.*HTTP 404'):
        write(node, params)
    _unchanged(dev, before)


@pytest.mark.parametrize('change, match', [
    ({'image_type': 'lvm'}, 'image_type'),
    ({'image': {'mode': 'ftp'}}, 'image.mode'),
    ({'image': {'mode': 'stream', 'url': 'http://x/i'}}, 'image.checksum'),
    ({'image': {'mode': 'blocks', 'manifest_url': 'http://x/m',
                'manifest_sha256': 'abc'}}, 'manifest_sha256'),
    ({'root_device': {'colour': 'red'}}, 'unknown root device hint'),
    ({'workers': 0}, 'workers'),
    ({'read_timeout': 'soon'}, 'read_timeout'),
    ({'image_type': 'partition', 'partitions': {'disk_label': 'sun'}},
     'disk_label'),
])
def test_bad_params(node, change, match):
    dev = node.disk(size=8 * MIB)
    before = digest_of(dev)
    params = {'root_device': None, 'image_type': 'whole-disk',
              'image': {'mode': 'stream', 'url': 'http://127.0.0.1:9/i',
                        'checksum': 'sha256:' + '0' * 64}}
    params.update(change)
    with pytest.raises(ImageError, match=match):
        write(node, params)
    _unchanged(dev, before)


def test_no_matching_root_device(server, node):
    node.disk()
    params = stream_params(server, b'x', root_device={'name': '/dev/sdz'})
    with pytest.raises(ImageError, match='no disk matches'):
        write(node, params)


@needs_sfdisk
def test_root_device_by_hint(tmp_path, server, node):
    small = node.disk('vda', size=16 * MIB)
    big = node.disk('vdb', size=64 * MIB)
    before = digest_of(small)
    image = whole_disk_image(tmp_path)
    params = stream_params(server, image, root_device={'name': 'vdb'})
    result = write(node, params)
    assert result['root_device'] == '/dev/vdb'
    assert read_at(big, 0, len(image)) == image
    _unchanged(small, before)


# -- failures after writing --------------------------------------------------

def _ends_zero(dev):
    size = os.path.getsize(dev)
    assert read_at(dev, 0, MIB) == bytes(MIB)
    assert read_at(dev, size - MIB, MIB) == bytes(MIB)


@needs_sfdisk
def test_failed_write_leaves_the_ends_zero(tmp_path, server, node):
    dev = node.disk()
    image = whole_disk_image(tmp_path)
    params = stream_params(server, image)
    params['image']['checksum'] = 'sha256:' + '0' * 64
    with pytest.raises(ImageError) as info:
        write(node, params)
    message = str(info.value)
    assert 'checksum mismatch' in message
    assert 'left unbootable' in message
    _ends_zero(dev)


@needs_partition_tools
def test_failed_partition_write_leaves_the_ends_zero(tmp_path, server,
                                                     node):
    dev = node.disk()
    image = partition_image(tmp_path)
    params = stream_params(server, image, image_type='partition',
                           partitions=PARTITIONS)
    params['image']['checksum'] = 'sha256:' + '1' * 64
    with pytest.raises(ImageError, match='checksum mismatch.*unbootable'):
        write(node, params)
    _ends_zero(dev)
    assert read_at(dev, MIB, MIB) == bytes(MIB)     # the root's head too


@needs_sfdisk
@needs_xorriso
def test_failed_configdrive_leaves_the_ends_zero(server, node, iso):
    dev = node.disk()
    image = os.urandom(4 * MIB)     # no partition table to add one to
    params = stream_params(server, image, configdrive={'data': packed(iso)})
    with pytest.raises(ImageError) as info:
        write(node, params)
    message = str(info.value)
    assert 'adding a config drive partition to /dev/vda failed' in message
    assert 'no partition table' in message
    assert '/dev/vda was wiped at both ends and left unbootable' in message
    _ends_zero(dev)


@needs_partition_tools
def test_failed_ephemeral_leaves_the_ends_zero(tmp_path, server, node,
                                               monkeypatch):
    dev = node.disk()
    image = partition_image(tmp_path)

    def broken(*args, **kwargs):
        raise OSError(5, 'Input/output error')

    monkeypatch.setattr(layout, 'make_ephemeral', broken)
    params = stream_params(server, image, image_type='partition',
                           partitions=PARTITIONS)
    with pytest.raises(ImageError, match='making the ephemeral filesystem '
                       'on /dev/vda failed: OSError.*unbootable'):
        write(node, params)
    _ends_zero(dev)


# -- config drive by URL ---------------------------------------------------

@pytest.mark.parametrize('body', ['packed', 'raw'])
def test_configdrive_from_url(server, body):
    iso = bytearray(b'\x07' * 65536)
    iso[32769:32774] = b'CD001'
    iso = bytes(iso)
    data = packed(iso).encode() if body == 'packed' else iso
    url = server.add('cd', data)
    assert layout.decode_configdrive({'url': url}, read_timeout=5) == iso


def test_configdrive_url_not_an_iso(server):
    url = server.add('cd', b'<html>hello</html>')
    with pytest.raises(ImageError, match='neither an ISO 9660 image'):
        layout.decode_configdrive({'url': url}, read_timeout=5)


# -- erasing -----------------------------------------------------------------

@needs_sfdisk
def test_erase_metadata_every_disk(tmp_path, node):
    image = whole_disk_image(tmp_path)
    devs = [node.disk('vda', 16 * MIB), node.disk('vdb', 16 * MIB)]
    for dev in devs:
        with open(dev, 'r+b') as stream:
            stream.write(image)
    result = deploy.erase_metadata({'devices': None}, node.disks,
                                   root=node.root)
    assert result == {'devices': {'/dev/vda': 'metadata',
                                  '/dev/vdb': 'metadata'}}
    for dev in devs:
        assert _tool('sfdisk', '--json', dev).returncode != 0
        _ends_zero(dev)


def test_erase_metadata_some(node):
    node.disk('vda', 4 * MIB)
    other = node.disk('vdb', 4 * MIB)
    before = digest_of(other)
    result = deploy.erase_metadata({'devices': ['vda']}, node.disks,
                                   root=node.root)
    assert result == {'devices': {'/dev/vda': 'metadata'}}
    _unchanged(other, before)


def test_erase_unknown_device(node):
    dev = node.disk('vda', 4 * MIB)
    before = digest_of(dev)
    with pytest.raises(ImageError, match='sdq is not a disk of this node'):
        deploy.erase_metadata({'devices': ['vda', 'sdq']}, node.disks,
                              root=node.root)
    _unchanged(dev, before)


def test_erase_devices(node):
    devs = [node.disk('vda', 4 * MIB), node.disk('vdb', 4 * MIB)]
    seen = []
    result = deploy.erase_devices({'devices': None, 'allow_shred': True},
                                  node.disks, root=node.root,
                                  progress=seen.append)
    assert result == {'devices': {'/dev/vda': 'zero-overwrite',
                                  '/dev/vdb': 'zero-overwrite'}}
    for dev in devs:
        assert read_at(dev, 0, 4 * MIB) == bytes(4 * MIB)
    assert {e.get('device') for e in seen if e['phase'] == 'erasing'} == {
        '/dev/vda', '/dev/vdb'}
    assert seen[-1] == {'phase': 'done'}


def test_erase_devices_without_shred(node):
    dev = node.disk('vda', 4 * MIB)
    before = digest_of(dev)
    with pytest.raises(ImageError, match='erasing /dev/vda failed: .*'
                       'erase_devices_allow_shred'):
        deploy.erase_devices({'devices': None}, node.disks, root=node.root)
    _unchanged(dev, before)
