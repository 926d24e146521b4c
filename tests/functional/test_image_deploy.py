"""Image deployment end to end: nodes whose "disk" is a file written by
the real BootOS agent process, images served by a local origin server,
the real ``baremetal`` CLI where it is the point (config drive, progress).

What is proved here: raw, qcow2 and partition images land byte for byte;
the config drive is a readable ISO labelled config-2 at the end of the
disk; a second deploy of the same image fetches nothing from the origin
and nothing from the conductor; a redeploy after a change fetches only
the changed blocks; cleaning erases the disk's metadata. The refusals are
in test_image_refusals.py.
"""

import hashlib
import json
import os
import shutil
import subprocess

import pytest

from tests.functional import imaging
from tests.functional.imaging import BLOCK
from tests.functional.imaging import DISK_SIZE
from tests.functional.imaging import MIB
from tests.functional.imaging import _sha256
from tests.functional.imaging import deploy
from tests.functional.imaging import host_tree
from tests.functional.imaging import last_write
from tests.functional.imaging import new_node
from tests.functional.imaging import raw_info
from tests.functional.imaging import read
from tests.functional.imaging import url
from tests.functional.test_bootos import finish
from tests.functional.test_bootos import history
from tests.functional.test_bootos import start_agent
from tests.functional.test_bootos import wait_state

pytestmark = pytest.mark.functional

# the shared fixtures, one instance per module (one service each)
origin = imaging.origin
deploy_env = imaging.deploy_env
images = imaging.images


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
