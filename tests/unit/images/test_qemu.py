"""qemu-img wrappers, on real images made by the real qemu-img."""

import os
import shutil
import subprocess

import pytest

from bootflow.common import exception
from bootflow.images import qemu

pytestmark = pytest.mark.skipif(not shutil.which('qemu-img'),
                                reason='needs qemu-img')
MIB = 1024 * 1024


def _img(*args):
    subprocess.run(['qemu-img'] + list(args), check=True,
                   capture_output=True)


@pytest.fixture
def raw(tmp_path):
    path = tmp_path / 'disk.raw'
    with open(path, 'wb') as f:
        f.truncate(4 * MIB)
        f.seek(MIB)
        f.write(b'payload' * 1000)
    return path


@pytest.fixture
def qcow2(tmp_path, raw):
    path = tmp_path / 'disk.qcow2'
    _img('convert', '-f', 'raw', '-O', 'qcow2', str(raw), str(path))
    return path


def test_info_and_check_safe(qcow2):
    info = qemu.info(str(qcow2), 'qcow2', timeout=30)
    assert info['format'] == 'qcow2'
    assert info['virtual-size'] == 4 * MIB
    assert qemu.check_safe(info, 'qcow2') is info


def test_info_with_explicit_format_does_not_guess(qcow2):
    # read as raw, a qcow2 is just bytes: qemu-img never probes
    info = qemu.info(str(qcow2), 'raw', timeout=30)
    assert info['format'] == 'raw'
    with pytest.raises(exception.ImageUnacceptable) as err:
        qemu.check_safe(info, 'qcow2')
    assert 'not qcow2' in str(err.value)


def test_info_of_garbage_fails_cleanly(tmp_path):
    bad = tmp_path / 'bad.qcow2'
    bad.write_bytes(b'QFI\xfb' + b'\xff' * 4096)
    with pytest.raises(exception.ImageUnacceptable) as err:
        qemu.info(str(bad), 'qcow2', timeout=30)
    assert 'qemu-img info failed' in str(err.value)


def test_info_timeout(tmp_path, qcow2, monkeypatch):
    fake = tmp_path / 'slow-qemu-img'
    fake.write_text('#!/bin/sh\nsleep 30\n')
    fake.chmod(0o755)
    monkeypatch.setattr(qemu, 'QEMU_IMG', str(fake))
    with pytest.raises(exception.ImageUnacceptable) as err:
        qemu.info(str(qcow2), 'qcow2', timeout=0.5)
    assert 'did not finish within 0.5 seconds' in str(err.value)


def test_info_runs_under_resource_limits(tmp_path, qcow2, monkeypatch):
    fake = tmp_path / 'show-limits'
    fake.write_text('#!/bin/sh\nprintf \'{"format": "%s %s"}\' '
                    '"$(ulimit -v)" "$(ulimit -t)"\n')
    fake.chmod(0o755)
    monkeypatch.setattr(qemu, 'QEMU_IMG', str(fake))
    info = qemu.info(str(qcow2), 'qcow2', timeout=10)
    assert info['format'] == '%d %d' % (qemu.INFO_ADDRESS_SPACE // 1024,
                                        qemu.INFO_CPU_SECONDS)


def test_backing_file_refused(tmp_path, raw):
    overlay = tmp_path / 'overlay.qcow2'
    _img('create', '-f', 'qcow2', '-b', str(raw), '-F', 'raw', str(overlay))
    info = qemu.info(str(overlay), 'qcow2', timeout=30)
    with pytest.raises(exception.ImageUnacceptable) as err:
        qemu.check_safe(info, 'qcow2')
    assert 'backing file' in str(err.value)
    assert str(raw) in str(err.value)


def test_external_data_file_refused(tmp_path):
    image = tmp_path / 'ext.qcow2'
    _img('create', '-f', 'qcow2', '-o',
         'data_file=%s' % (tmp_path / 'data.bin'), str(image), '1M')
    info = qemu.info(str(image), 'qcow2', timeout=30)
    with pytest.raises(exception.ImageUnacceptable) as err:
        qemu.check_safe(info, 'qcow2')
    assert 'external data file' in str(err.value)


@pytest.mark.parametrize('info, fragment', [
    ({'format': 'qcow2', 'full-backing-filename': '/etc/shadow'},
     'backing file'),
    ({'format': 'qcow2', 'format-specific': {
        'type': 'qcow2', 'data': {'data-file': '/dev/sda'}}}, 'data file'),
    ({'format': 'vmdk'}, 'not qcow2'),
    ({}, 'not qcow2'),
])
def test_check_safe_on_crafted_info(info, fragment):
    with pytest.raises(exception.ImageUnacceptable) as err:
        qemu.check_safe(info, 'qcow2')
    assert fragment in str(err.value)


def test_convert_to_raw(tmp_path, raw, qcow2):
    out = tmp_path / 'out' / 'disk.raw'
    out.parent.mkdir()
    assert qemu.convert_to_raw(str(qcow2), str(out), timeout=60) == str(out)
    assert out.read_bytes() == raw.read_bytes()
    assert os.listdir(out.parent) == ['disk.raw']


def test_convert_failure_leaves_nothing(tmp_path):
    bad = tmp_path / 'bad.qcow2'
    bad.write_bytes(b'not a qcow2 at all' * 100)
    out = tmp_path / 'out'
    out.mkdir()
    with pytest.raises(exception.ImageConvertFailed) as err:
        qemu.convert_to_raw(str(bad), str(out / 'disk.raw'), timeout=60)
    assert 'qemu-img convert failed' in str(err.value)
    assert os.listdir(out) == []
