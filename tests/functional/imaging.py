"""What the image deployment tests share: an origin server counting
requests, a service configured for small file disks, images, and the
fixture tree of a machine whose disk is a file the real agent writes."""

import collections
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import threading

import pytest

from tests.functional import conftest as ft
from tests.functional.test_bootos import FIXTURES
from tests.functional.test_bootos import finish
from tests.functional.test_bootos import start_agent
from tests.functional.test_bootos import wait_state

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


def new_node(env, node_cleanup, tree):
    """An available node (cleaned by the real agent) with root device
    hints naming the fixture's disk. Set up through the API: the CLI's
    start-up costs seconds per call, and the CLI is what other tests
    prove."""
    api = env['api']
    node = api.create_node(deploy_interface='direct',
                           name=ft.unique('img'), properties={
                               'root_device': {'serial': 'BF-DISK-0001'}})
    node_cleanup.append((api, node['uuid']))
    api.provision(node['uuid'], 'manage')
    wait_state(api, node['uuid'], 'manageable')
    api.provision(node['uuid'], 'provide')
    wait_state(api, node['uuid'], 'clean wait')
    rc, out = finish(start_agent(env, tree, '--node-uuid', node['uuid']))
    assert rc == 0, out
    wait_state(env['api'], node['uuid'], 'available')
    return node['uuid']


def deploy(env, uuid, tree, instance_info, *cli_args, expect='active'):
    """Deploy and run the agent until ``expect``; with ``cli_args`` the
    deploy request goes through ``baremetal node deploy``."""
    api = env['api']
    api.patch_node(uuid, [{'op': 'add', 'path': '/instance_info/%s' % k,
                           'value': v} for k, v in instance_info.items()])
    if cli_args:
        env['cli'].run('node', 'deploy', uuid, *cli_args)
    else:
        api.provision(uuid, 'active')
    wait_state(api, uuid, 'wait call-back')
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
