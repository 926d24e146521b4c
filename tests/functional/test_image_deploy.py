"""Image deployment end to end: the real ``baremetal`` CLI deploys nodes
whose "disk" is a file written by the real BootOS agent process, with
images served by a local origin server.

What is proved here: raw, qcow2 and partition images land byte for byte;
the config drive is a readable ISO labelled config-2 at the end of the
disk; a second deploy of the same image fetches nothing from the origin
and nothing from the conductor; a redeploy after 1 % of the blocks
changed fetches only those; every refusal (bad checksum, format mismatch,
qcow2 backing file, oversize image, file:// outside the allow-list, an
endless source) ends in ``deploy failed`` with a clear last_error and no
bootable bytes on the disk; cleaning erases the disk's metadata.
"""

import collections
import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading

import pytest

from tests.functional import conftest as ft
from tests.functional.test_bootos import FIXTURES
from tests.functional.test_bootos import finish
from tests.functional.test_bootos import history
from tests.functional.test_bootos import start_agent
from tests.functional.test_bootos import wait_state

pytestmark = pytest.mark.functional

MIB = 1024 * 1024
DISK_SIZE = 64 * MIB
BLOCK = 4 * MIB


class _Origin(http.server.SimpleHTTPRequestHandler):
    """Static files, plus /endless (a body that never ends); counts
    requests per path so tests can tell what was fetched."""

    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        self.server.counts[self.path] += 1
        if self.path == '/endless':
            self.send_response(200)
            self.send_header('Content-Type', 'application/octet-stream')
            self.send_header('Connection', 'close')
            self.end_headers()
            chunk = b'\xab' * MIB
            try:
                while True:
                    self.wfile.write(chunk)
            except OSError:
                return
        return super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def origin(tmp_path_factory):
    root = tmp_path_factory.mktemp('origin')
    handler = functools.partial(_Origin, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    server.daemon_threads = True
    server.counts = collections.Counter()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {'root': root, 'counts': server.counts,
           'url': 'http://127.0.0.1:%d' % server.server_address[1]}
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='module')
def deploy_env(tmp_path_factory):
    if os.environ.get(ft.ENDPOINT_ENV):
        pytest.skip('needs a service this test starts itself')
    for tool in ('sfdisk', 'qemu-img', 'mkfs.ext4', 'blkid'):
        if not shutil.which(tool):
            pytest.skip('needs %s' % tool)
    work = tmp_path_factory.mktemp('imgdeploy')
    allowed = work / 'allowed'
    allowed.mkdir()
    port = ft._free_port()
    svc = ft.start_service('sqlite', work, extra_config={
        'agent': {'poll_interval': '0.2', 'progress_interval': '0.2',
                  'deploy_logs_local_path': work / 'ramdisk_logs'},
        'conductor': {'file_url_allowed_paths': allowed},
        'deploy': {'max_image_size_mb': '96', 'image_read_timeout': '5',
                   'configdrive_size_mb': '16',
                   'http_url': 'http://127.0.0.1:%d' % port,
                   'http_server_host': '127.0.0.1',
                   'http_server_port': port},
    })
    yield {'svc': svc, 'api': ft.HttpApi(svc), 'cli': ft.BaremetalCLI(svc),
           'work': work, 'allowed': allowed}
    svc.stop()


# -- images ------------------------------------------------------------

def _sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(MIB), b''):
            h.update(chunk)
    return h.hexdigest()


def whole_disk_image(path, size=24 * MIB, seed=b'bootflow'):
    """An msdos-labelled disk with one partition full of pseudo-random
    bytes (not compressible, not zero) and a marker."""
    with open(path, 'wb') as f:
        f.truncate(size)
    subprocess.run(['sfdisk', '--quiet', str(path)], check=True,
                   input='label: dos\n,,L\n', text=True,
                   capture_output=True)
    with open(path, 'r+b') as f:
        f.seek(MIB)
        block = hashlib.sha512(seed).digest() * (MIB // 64)
        for i in range((size - 2 * MIB) // MIB):
            f.write(bytes([i % 251]) + block[1:])
        f.seek(2 * MIB)
        f.write(b'BOOTFLOW-MARKER ' + seed)
    return path


@pytest.fixture(scope='module')
def images(origin):
    root = origin['root']
    raw = whole_disk_image(root / 'disk.raw')
    qcow = root / 'disk.qcow2'
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2',
                    str(raw), str(qcow)], check=True)
    return {'raw': raw, 'qcow2': qcow}


def url(origin, path):
    return '%s/%s' % (origin['url'], os.path.relpath(path, origin['root']))


# -- the machine -------------------------------------------------------

def host_tree(tmp_path, size=DISK_SIZE, serial='BF-DISK-0001'):
    """The captured VM's tree with its disk made a file of ``size``."""
    tree = tmp_path / 'host'
    shutil.copytree(FIXTURES / 'vm', tree, symlinks=True)
    (tree / 'sys' / 'block' / 'vda' / 'size').write_text(
        '%d\n' % (size // 512))
    (tree / 'sys' / 'block' / 'vda' / 'serial').write_text(serial + '\n')
    (tree / 'dev').mkdir()
    disk = tree / 'dev' / 'vda'
    with open(disk, 'wb') as f:
        f.truncate(size)
    return tree, disk


def new_node(env, node_cleanup, tree, **props):
    cli = env['cli']
    node = cli.json('node', 'create', '--driver', 'fake-hardware',
                    '--deploy-interface', 'direct', '--name',
                    ft.unique('img'), '--property',
                    'root_device=%s' % json.dumps({'serial': 'BF-DISK-0001'}))
    node_cleanup.append((env['api'], node['uuid']))
    cli.run('node', 'manage', node['uuid'])
    wait_state(env['api'], node['uuid'], 'manageable')
    cli.run('node', 'provide', node['uuid'])
    wait_state(env['api'], node['uuid'], 'clean wait')
    rc, out = finish(start_agent(env, tree, '--node-uuid', node['uuid']))
    assert rc == 0, out
    wait_state(env['api'], node['uuid'], 'available')
    return node['uuid']


def deploy(env, uuid, tree, instance_info, *extra, expect='active'):
    args = ['node', 'set', uuid]
    for key, value in instance_info.items():
        args += ['--instance-info', '%s=%s' % (key, value)]
    env['cli'].run(*args)
    env['cli'].run('node', 'deploy', uuid, *extra)
    wait_state(env['api'], uuid, 'wait call-back')
    proc = start_agent(env, tree, '--node-uuid', uuid)
    try:
        node = wait_state(env['api'], uuid, expect, timeout=120)
    except AssertionError:
        proc.kill()
        raise AssertionError(proc.communicate()[0][-6000:])
    if expect != 'active':
        # a real node is powered off now; fake power leaves it running
        proc.terminate()
    rc, out = finish(proc)
    if expect == 'active':
        assert rc == 0, out
    return node, out


def raw_info(origin, path, **extra):
    return dict({'image_source': url(origin, path),
                 'image_checksum': 'sha256:' + _sha256(path),
                 'image_disk_format': 'raw'}, **extra)


def read(path, offset, size):
    with open(path, 'rb') as f:
        f.seek(offset)
        return f.read(size)


def assert_unbootable(disk):
    assert read(disk, 0, MIB) == bytes(MIB)
    assert read(disk, DISK_SIZE - MIB, MIB) == bytes(MIB)


def last_write(node):
    return node['driver_internal_info']['agent_progress']


# -- tests -------------------------------------------------------------

def test_cleaning_erases_disk_metadata(deploy_env, node_cleanup, tmp_path,
                                       images):
    tree, disk = host_tree(tmp_path)
    shutil.copyfile(images['raw'], disk)
    os.truncate(disk, DISK_SIZE)
    uuid = new_node(deploy_env, node_cleanup, tree)
    assert read(disk, 0, MIB) == bytes(MIB)
    assert subprocess.run(['blkid', '-p', str(disk)],
                          capture_output=True).returncode != 0
    assert any('Disks erased: /dev/vda (metadata)' in e
               for e in history(deploy_env, uuid))


def test_raw_image_then_rebuild_fetches_nothing(
        deploy_env, node_cleanup, tmp_path, origin, images):
    env = deploy_env
    tree, disk = host_tree(tmp_path)
    uuid = new_node(env, node_cleanup, tree)
    before = origin['counts'].copy()
    node, _ = deploy(env, uuid, tree, raw_info(origin, images['raw']))
    size = os.path.getsize(images['raw'])
    assert node['last_error'] is None
    assert hashlib.sha256(read(disk, 0, size)).hexdigest() == \
        _sha256(images['raw'])
    progress = last_write(node)
    assert progress['phase'] == 'done' and progress['percent'] == 100.0
    assert progress['blocks_fetched'] > 0
    assert node['driver_internal_info']['is_whole_disk_image'] is True
    assert node['driver_internal_info']['root_device_used'] == '/dev/vda'
    assert origin['counts']['/disk.raw'] - before['/disk.raw'] == 1
    assert any('Image written to /dev/vda' in e for e in history(env, uuid))

    # Same image again: nothing from the origin, and the agent finds
    # every block already on its disk.
    env['cli'].run('node', 'rebuild', uuid)
    wait_state(env['api'], uuid, 'wait call-back')
    proc = start_agent(env, tree, '--node-uuid', uuid)
    node = wait_state(env['api'], uuid, 'active', timeout=120)
    assert finish(proc)[0] == 0
    assert origin['counts']['/disk.raw'] - before['/disk.raw'] == 1
    progress = last_write(node)
    assert progress['blocks_fetched'] == 0, progress
    assert progress['bytes_fetched'] == 0, progress
    assert progress['blocks_reused'] + progress['blocks_zero'] == \
        progress['blocks_total']
    assert hashlib.sha256(read(disk, 0, size)).hexdigest() == \
        _sha256(images['raw'])


def test_config_drive_partition_at_the_end(deploy_env, node_cleanup,
                                           tmp_path, origin, images):
    env = deploy_env
    tree, disk = host_tree(tmp_path)
    uuid = new_node(env, node_cleanup, tree)
    drive = {'meta_data': {'uuid': uuid, 'hostname': 'img-node'},
             'user_data': '#cloud-config\nfinal_message: hi\n'}
    deploy(env, uuid, tree, raw_info(origin, images['raw']),
           '--config-drive', json.dumps(drive))
    size = os.path.getsize(images['raw'])
    # the image is intact past its partition table, which gained a
    # last partition holding an ISO labelled config-2
    assert read(disk, MIB, size - MIB) == read(images['raw'], MIB,
                                               size - MIB)
    table = json.loads(subprocess.run(
        ['sfdisk', '--json', str(disk)], capture_output=True, text=True,
        check=True).stdout)['partitiontable']
    assert len(table['partitions']) == 2, table
    last = table['partitions'][-1]
    offset = last['start'] * 512
    assert offset >= size
    assert offset + last['size'] * 512 <= DISK_SIZE
    probe = subprocess.run(['blkid', '-p', '-O', str(offset), '-o',
                            'export', str(disk)], capture_output=True,
                           text=True).stdout
    assert 'LABEL=config-2' in probe and 'TYPE=iso9660' in probe, probe
    assert read(disk, offset + 32769, 5) == b'CD001'
    iso = read(disk, offset, last['size'] * 512)
    assert b'img-node' in iso and b'final_message: hi' in iso


def test_changed_blocks_only_are_fetched(
        deploy_env, node_cleanup, tmp_path, origin, images):
    env = deploy_env
    tree, disk = host_tree(tmp_path)
    uuid = new_node(env, node_cleanup, tree)
    deploy(env, uuid, tree, raw_info(origin, images['raw']))
    # version 2: one block of the image's six changed (the benchmark
    # measures 1 % of a large image)
    v2 = origin['root'] / 'disk-v2.raw'
    shutil.copyfile(images['raw'], v2)
    with open(v2, 'r+b') as f:
        f.seek(3 * BLOCK + 12345)
        f.write(b'version two')
    env['cli'].run('node', 'set', uuid, '--instance-info',
                   'image_source=%s' % url(origin, v2), '--instance-info',
                   'image_checksum=sha256:%s' % _sha256(v2))
    env['cli'].run('node', 'rebuild', uuid)
    wait_state(env['api'], uuid, 'wait call-back')
    proc = start_agent(env, tree, '--node-uuid', uuid)
    node = wait_state(env['api'], uuid, 'active', timeout=120)
    assert finish(proc)[0] == 0
    progress = last_write(node)
    assert progress['blocks_fetched'] == 1, progress
    assert progress['bytes_fetched'] == BLOCK
    assert hashlib.sha256(read(disk, 0, os.path.getsize(v2))).hexdigest() \
        == _sha256(v2)


def test_qcow2_image_is_converted(deploy_env, node_cleanup, tmp_path,
                                  origin, images):
    tree, disk = host_tree(tmp_path)
    uuid = new_node(deploy_env, node_cleanup, tree)
    node, _ = deploy(deploy_env, uuid, tree, {
        'image_source': url(origin, images['qcow2']),
        'image_os_hash_algo': 'sha512',
        'image_os_hash_value': hashlib.sha512(
            images['qcow2'].read_bytes()).hexdigest(),
        'image_disk_format': 'qcow2'})
    size = os.path.getsize(images['raw'])
    assert hashlib.sha256(read(disk, 0, size)).hexdigest() == \
        _sha256(images['raw'])


def test_partition_image_with_swap_and_ephemeral(
        deploy_env, node_cleanup, tmp_path, origin):
    content = tmp_path / 'rootfs'
    (content / 'etc').mkdir(parents=True)
    (content / 'etc' / 'hostname').write_text('partition-image\n')
    fs = origin['root'] / 'root-fs.img'
    subprocess.run(['mkfs.ext4', '-q', '-F', '-L', 'img-root', '-d',
                    str(content), str(fs), '16M'], check=True)
    tree, disk = host_tree(tmp_path)
    uuid = new_node(deploy_env, node_cleanup, tree)
    node, _ = deploy(deploy_env, uuid, tree, raw_info(
        origin, fs, image_type='partition', root_gb=0, swap_mb=8,
        ephemeral_gb=0))
    assert node['driver_internal_info']['is_whole_disk_image'] is False
    table = json.loads(subprocess.run(
        ['sfdisk', '--json', str(disk)], capture_output=True, text=True,
        check=True).stdout)['partitiontable']
    parts = table['partitions']
    assert len(parts) == 2, parts
    found = []
    for part in parts:
        found.append(subprocess.run(
            ['blkid', '-p', '-O', str(part['start'] * 512), '-o', 'export',
             str(disk)], capture_output=True, text=True).stdout)
    assert 'LABEL=img-root' in found[0] and 'TYPE=ext4' in found[0]
    assert 'TYPE=swap' in found[1]


def _refusal(env, node_cleanup, tmp_path, info, *fragments):
    tree, disk = host_tree(tmp_path)
    uuid = new_node(env, node_cleanup, tree)
    node, out = deploy(env, uuid, tree, info, expect='deploy failed')
    error = node['last_error'] or ''
    for fragment in fragments:
        assert fragment in error, (error, out[-2000:])
    assert node['reservation'] is None
    assert_unbootable(disk)
    return node


def test_refused_bad_checksum_streamed(deploy_env, node_cleanup, tmp_path,
                                       origin, images):
    """Streamed by the agent itself: the mismatch shows only at the end,
    after the bytes are on the disk, and the disk is left unbootable."""
    info = raw_info(origin, images['raw'], image_download_source='direct')
    info['image_checksum'] = 'sha256:' + '0' * 64
    _refusal(deploy_env, node_cleanup, tmp_path, info, 'checksum')


def test_refused_bad_checksum_blocks(deploy_env, node_cleanup, tmp_path,
                                     origin, images):
    info = raw_info(origin, images['raw'])
    info['image_checksum'] = 'sha256:' + 'f' * 64
    _refusal(deploy_env, node_cleanup, tmp_path, info, 'hecksum')


def test_refused_format_mismatch(deploy_env, node_cleanup, tmp_path,
                                 origin, images):
    info = raw_info(origin, images['qcow2'])      # declared raw
    _refusal(deploy_env, node_cleanup, tmp_path, info, 'raw', 'qcow2')


def test_refused_qcow2_with_backing_file(deploy_env, node_cleanup,
                                         tmp_path, origin, images):
    overlay = origin['root'] / 'overlay.qcow2'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b',
                    '/etc/hostname', '-F', 'raw', str(overlay)], check=True)
    info = raw_info(origin, overlay, image_disk_format='qcow2')
    _refusal(deploy_env, node_cleanup, tmp_path, info, 'backing')


def test_refused_image_larger_than_disk(deploy_env, node_cleanup, tmp_path,
                                        origin):
    big = whole_disk_image(origin['root'] / 'big.raw', size=72 * MIB,
                           seed=b'big')
    _refusal(deploy_env, node_cleanup, tmp_path, raw_info(origin, big),
             'does not fit', 'nothing was written')


def test_refused_file_outside_allow_list(deploy_env, node_cleanup,
                                         tmp_path, images):
    outside = tmp_path / 'secret.raw'
    shutil.copyfile(images['raw'], outside)
    link = deploy_env['allowed'] / 'link.raw'
    link.symlink_to(outside)
    info = {'image_source': 'file://%s' % link,
            'image_checksum': 'sha256:' + _sha256(outside),
            'image_disk_format': 'raw'}
    _refusal(deploy_env, node_cleanup, tmp_path, info, 'file_url_allowed')


def test_refused_endless_source(deploy_env, node_cleanup, tmp_path,
                                origin):
    info = {'image_source': origin['url'] + '/endless',
            'image_checksum': 'sha256:' + 'a' * 64,
            'image_disk_format': 'raw'}
    _refusal(deploy_env, node_cleanup, tmp_path, info, 'MiB')


def test_allowed_file_source_deploys(deploy_env, node_cleanup, tmp_path,
                                     images):
    local = deploy_env['allowed'] / 'local.raw'
    shutil.copyfile(images['raw'], local)
    tree, disk = host_tree(tmp_path)
    uuid = new_node(deploy_env, node_cleanup, tree)
    deploy(deploy_env, uuid, tree, {
        'image_source': 'file://%s' % local,
        'image_checksum': _sha256(local), 'image_disk_format': 'raw'})
    size = os.path.getsize(local)
    assert hashlib.sha256(read(disk, 0, size)).hexdigest() == \
        _sha256(local)


def test_progress_command(deploy_env, node_cleanup, tmp_path, origin,
                          images):
    tree, _disk = host_tree(tmp_path)
    uuid = new_node(deploy_env, node_cleanup, tree)
    deploy(deploy_env, uuid, tree, raw_info(origin, images['raw']))
    out = deploy_env['cli'].run('node', 'progress', uuid).stdout
    assert '100.0%' in out and 'active' in out, out
