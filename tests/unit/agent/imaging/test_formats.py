"""Format detection and the qcow2 safety checks, on handmade headers and
on images made by the real qemu-img (skipped when it is missing)."""

import json
import shutil
import struct
import subprocess

import pytest

from bootflow.agent.imaging import formats
from bootflow.agent.imaging import ImageError

QEMU_IMG = shutil.which('qemu-img')
needs_qemu_img = pytest.mark.skipif(QEMU_IMG is None,
                                    reason='qemu-img is not installed')


def at(offset, magic, size=formats.HEAD_BYTES):
    head = bytearray(size)
    head[offset:offset + len(magic)] = magic
    return bytes(head)


def qcow2(version=3, backing=(0, 0), cluster_bits=16, size=1 << 30,
          crypt=0, features=0, header_length=104):
    head = bytearray(4096)
    struct.pack_into('>4sIQIIQI', head, 0, b'QFI\xfb', version,
                     backing[0], backing[1], cluster_bits, size, crypt)
    if version >= 3:
        struct.pack_into('>Q', head, 72, features)
        struct.pack_into('>I', head, 100, header_length)
    return bytes(head)


def qemu_img(*args):
    proc = subprocess.run([QEMU_IMG] + [str(a) for a in args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize('head, kind', [
    (at(0, b'QFI\xfb'), 'qcow2'),
    (at(0, b'QED\x00'), 'qed'),
    (at(0, b'KDMV'), 'vmdk'),
    (b'# Disk DescriptorFile\nversion=1\n', 'vmdk'),
    (at(0, b'vhdxfile'), 'vhdx'),
    (at(0x40, b'\x7f\x10\xda\xbe'), 'vdi'),
    (at(0, b'conectix'), 'vpc'),
    (at(0, b'LUKS\xba\xbe\x00\x02'), 'luks'),
    (at(0x8001, b'CD001'), 'iso'),
    (at(512, b'EFI PART', 1024), 'gpt'),
    (at(4096, b'EFI PART'), 'gpt'),
    (at(510, b'\x55\xaa', 512), 'mbr'),
    (bytes(formats.HEAD_BYTES), 'raw'),
    (b'', 'raw'),
    (b'hello', 'raw'),
])
def test_detect(head, kind):
    assert formats.detect(head) == kind


def test_containers_win_over_tables():
    """A qcow2 whose header bytes happen to end in 55 AA at 510 (or hold
    an ISO signature) is still a qcow2."""
    head = bytearray(at(0x8001, b'CD001'))
    head[0:4] = b'QFI\xfb'
    head[510:512] = b'\x55\xaa'
    assert formats.detect(bytes(head)) == 'qcow2'


def test_gpt_wins_over_protective_mbr():
    head = bytearray(at(512, b'EFI PART'))
    head[510:512] = b'\x55\xaa'
    assert formats.detect(bytes(head)) == 'gpt'


def test_detect_manifest():
    manifest = {'format': 'bootflow-blocks/1', 'block_size': 4194304,
                'size': 4194304, 'blocks': [None], 'image_sha256': '0' * 64}
    try:
        from bootflow.agent.imaging import manifest as module
    except ImportError:
        data = json.dumps(manifest, sort_keys=True,
                          separators=(',', ':')).encode()
    else:
        data = module.dumps(manifest)
    assert formats.detect(data) == 'bootflow-blocks'


@pytest.mark.parametrize('detected', sorted(formats.RAW_KINDS))
def test_declared_raw_accepts_raw_kinds(detected):
    formats.check_declared('raw', detected)


@pytest.mark.parametrize('declared, detected', [
    ('raw', 'qcow2'), ('raw', 'vmdk'), ('raw', 'luks'),
    ('raw', 'bootflow-blocks'), ('qcow2', 'raw'), ('qcow2', 'mbr'),
    ('qcow2', 'qed')])
def test_declared_mismatch(declared, detected):
    with pytest.raises(ImageError) as err:
        formats.check_declared(declared, detected)
    assert 'declared %s but the image is %s' % (declared, detected) in (
        str(err.value))
    assert 'nothing was written' in str(err.value)


@pytest.mark.parametrize('declared', ['vmdk', 'iso', 'vhd', '', None])
def test_declared_unsupported(declared):
    with pytest.raises(ImageError, match='supported: raw, qcow2'):
        formats.check_declared(declared, 'raw')


def test_qcow2_header_fields():
    info = formats.qcow2_header(qcow2(size=12345 << 16, features=1))
    assert info == {'version': 3, 'virtual_size': 12345 << 16,
                    'cluster_bits': 16, 'backing_file_offset': 0,
                    'backing_file_size': 0, 'crypt_method': 0,
                    'incompatible_features': 1,
                    'has_external_data_file': False, 'header_length': 104}
    assert formats.qcow2_header(qcow2(version=2))['header_length'] == 72
    assert formats.qcow2_header(qcow2(features=4))['has_external_data_file']
    # version 2 has no feature fields: bytes at 72 are something else
    v2 = bytearray(qcow2(version=2))
    struct.pack_into('>Q', v2, 72, 4)
    assert not formats.qcow2_header(bytes(v2))['has_external_data_file']


def test_qcow2_header_not_qcow2():
    with pytest.raises(ImageError, match='not a qcow2'):
        formats.qcow2_header(bytes(512))
    with pytest.raises(ImageError, match='truncated'):
        formats.qcow2_header(qcow2()[:50])
    with pytest.raises(ImageError, match='truncated'):
        formats.qcow2_header(qcow2()[:90])


@pytest.mark.parametrize('head', [
    qcow2(), qcow2(version=2), qcow2(features=1), qcow2(cluster_bits=9),
    qcow2(cluster_bits=21), qcow2(features=0x18)])
def test_check_qcow2_accepts(head):
    assert formats.check_qcow2(head)['virtual_size'] == 1 << 30


@pytest.mark.parametrize('head, why', [
    (qcow2(backing=(4096, 20)), 'backing file'),
    (qcow2(backing=(0, 20)), 'backing file'),
    (qcow2(features=4), 'external data file'),
    (qcow2(crypt=1), 'encrypted'),
    (qcow2(crypt=2), 'encrypted'),
    (qcow2(version=1), 'version 1'),
    (qcow2(version=4), 'version 4'),
    (qcow2(cluster_bits=8), 'cluster size'),
    (qcow2(cluster_bits=22), 'cluster size'),
    (qcow2(features=2), 'corrupt'),
    (qcow2(features=0x20), 'unknown incompatible features'),
    (qcow2(header_length=72), 'header length'),
])
def test_check_qcow2_refuses(head, why):
    with pytest.raises(ImageError, match=why) as err:
        formats.check_qcow2(head)
    assert 'nothing was written' in str(err.value)


@needs_qemu_img
def test_real_qcow2_images(tmp_path):
    plain = tmp_path / 'plain.qcow2'
    qemu_img('create', '-f', 'qcow2', plain, '10M')
    head = plain.read_bytes()[:formats.HEAD_BYTES]
    assert formats.detect(head) == 'qcow2'
    assert formats.check_qcow2(head)['virtual_size'] == 10 << 20

    old = tmp_path / 'old.qcow2'
    qemu_img('create', '-f', 'qcow2', '-o', 'compat=0.10', old, '1M')
    assert formats.check_qcow2(old.read_bytes())['version'] == 2

    backing = tmp_path / 'base.raw'
    backing.write_bytes(bytes(1 << 20))
    child = tmp_path / 'child.qcow2'
    qemu_img('create', '-f', 'qcow2', '-b', backing, '-F', 'raw', child)
    with pytest.raises(ImageError, match='backing file'):
        formats.check_qcow2(child.read_bytes())

    external = tmp_path / 'external.qcow2'
    qemu_img('create', '-f', 'qcow2', '-o',
             'data_file=%s' % (tmp_path / 'data.raw'), external, '1M')
    assert formats.qcow2_header(
        external.read_bytes())['has_external_data_file']
    with pytest.raises(ImageError, match='external data file'):
        formats.check_qcow2(external.read_bytes())


@needs_qemu_img
def test_real_encrypted_qcow2(tmp_path):
    secret = tmp_path / 'secret.qcow2'
    argv = [QEMU_IMG, 'create', '-f', 'qcow2', '--object',
            'secret,id=s0,data=pass', '-o',
            'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10',
            str(secret), '1M']
    for _attempt in range(3):
        # LUKS times its key derivation, which fails on a busy machine
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode == 0:
            break
    else:
        pytest.skip('qemu-img cannot make an encrypted image here: %s'
                    % proc.stderr.strip())
    with pytest.raises(ImageError, match='encrypted'):
        formats.check_qcow2(secret.read_bytes())


@needs_qemu_img
@pytest.mark.parametrize('fmt, kind', [
    ('qed', 'qed'), ('vmdk', 'vmdk'), ('vhdx', 'vhdx'), ('vdi', 'vdi'),
    ('vpc', 'vpc')])
def test_real_containers(tmp_path, fmt, kind):
    path = tmp_path / ('img.' + fmt)
    qemu_img('create', '-f', fmt, path, '4M')
    with open(path, 'rb') as stream:
        assert formats.detect(stream.read(formats.HEAD_BYTES)) == kind
