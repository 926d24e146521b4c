"""Every refusal of an image deployment, with the real agent writing a
file disk: the node ends in ``deploy failed`` with a clear last_error,
its lock released, and no bootable bytes on the disk (first and last MiB
zero): bad checksum (streamed by the agent, and through the block
store), format mismatch, qcow2 with a backing file, an image larger than
the disk, file:// outside the allow-list, a source that never ends."""

import shutil
import subprocess

import pytest

from tests.functional import imaging
from tests.functional.imaging import MIB
from tests.functional.imaging import _refusal
from tests.functional.imaging import _sha256
from tests.functional.imaging import raw_info
from tests.functional.imaging import whole_disk_image

pytestmark = pytest.mark.functional

# the shared fixtures, one instance per module (one service each)
origin = imaging.origin
deploy_env = imaging.deploy_env
images = imaging.images


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
