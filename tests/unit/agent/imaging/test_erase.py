"""erase: metadata wipes with the real wipefs/sfdisk/blkid on file disks;
hardware secure erase through fake nvme/hdparm/blkdiscard scripts (no
test machine has drives to spare), with the device taken for a block
device."""

import os
import shutil
import stat
import subprocess

import pytest

from bootflow.agent.config import base
from bootflow.agent.imaging import disk
from bootflow.agent.imaging import erase
from bootflow.agent.imaging import ImageError

MIB = 1024 * 1024
SYSTEM = base.Tools()
CAT = shutil.which('cat')


def _needs(*tools):
    missing = [t for t in tools if SYSTEM.which(t) is None]
    return pytest.mark.skipif(bool(missing), reason='%s not installed'
                              % ', '.join(missing))


def _tool(*argv, **kwargs):
    return subprocess.run([SYSTEM.which(argv[0])] + list(argv[1:]),
                          capture_output=True, text=True, **kwargs)


def patterned(path, size):
    chunk = bytes(range(256)) * 4096    # 1 MiB
    with open(path, 'wb') as stream:
        for _ in range(size // MIB):
            stream.write(chunk)
    return str(path)


def read_at(path, offset, length):
    with open(path, 'rb') as stream:
        stream.seek(offset)
        return stream.read(length)


@_needs('sfdisk', 'wipefs', 'blkid', 'mkfs.ext4')
def test_erase_metadata(tmp_path):
    dev = patterned(tmp_path / 'vda', 64 * MIB)
    _tool('sfdisk', '--quiet', dev, input='label: gpt\nstart=1MiB\n',
          check=True)
    _tool('mkfs.ext4', '-F', '-q', '-E', 'offset=%d' % MIB, dev, '32M',
          check=True)
    assert erase.erase_metadata(dev, SYSTEM) == 'metadata'
    assert _tool('sfdisk', '--json', dev).returncode != 0
    assert _tool('blkid', '-p', dev).returncode != 0
    assert _tool('blkid', '-p', '-O', str(MIB), dev).returncode != 0
    assert read_at(dev, 0, MIB) == bytes(MIB)
    assert read_at(dev, 63 * MIB, MIB) == bytes(MIB)
    # metadata only: the data in between stays
    assert read_at(dev, 40 * MIB, 256) == bytes(range(256))


@_needs('wipefs')
def test_erase_metadata_small_file(tmp_path):
    dev = tmp_path / 'tiny'
    dev.write_bytes(b'\xff' * 4096)
    assert erase.erase_metadata(str(dev), SYSTEM) == 'metadata'
    assert dev.read_bytes() == bytes(4096)


def test_erase_device_refuses_without_shred(tmp_path):
    dev = patterned(tmp_path / 'vda', 4 * MIB)
    before = read_at(dev, 0, 4 * MIB)
    with pytest.raises(ImageError) as info:
        erase.erase_device(dev, SYSTEM)
    message = str(info.value)
    assert 'no hardware secure erase' in message
    assert '[deploy]erase_devices_allow_shred' in message
    assert read_at(dev, 0, 4 * MIB) == before


def test_erase_device_zero_overwrite(tmp_path, monkeypatch):
    monkeypatch.setattr(erase, 'PROGRESS_INTERVAL', 0)
    dev = patterned(tmp_path / 'vda', 10 * MIB)
    seen = []
    assert erase.erase_device(dev, SYSTEM, allow_shred=True,
                              progress=seen.append) == 'zero-overwrite'
    assert read_at(dev, 0, 10 * MIB) == bytes(10 * MIB)
    assert os.path.getsize(dev) == 10 * MIB
    assert seen[-1] == {'phase': 'erasing', 'device': dev,
                        'bytes_written': 10 * MIB,
                        'bytes_total': 10 * MIB}
    assert [p['bytes_written'] for p in seen[:3]] == [4 * MIB, 8 * MIB,
                                                      10 * MIB]


# -- hardware erase, with fake tools -------------------------------------

class Fakes:
    """A directory of fake tools logging their argv to ``log``."""

    def __init__(self, top):
        self.dir = top / 'bin'
        self.dir.mkdir()
        self.log = top / 'log'
        self.log.write_text('')
        for name in ('wipefs', 'partx', 'blockdev'):
            self.add(name)

    def add(self, name, out='', rc=0):
        script = self.dir / name
        (self.dir / (name + '.out')).write_text(out)
        script.write_text(
            '#!/bin/sh\necho "%s $*" >> %s\n%s %s\nexit %d\n'
            % (name, self.log, CAT, self.dir / (name + '.out'), rc))
        script.chmod(script.stat().st_mode | stat.S_IEXEC)

    def calls(self):
        return self.log.read_text().splitlines()

    def tools(self):
        return base.Tools(path=str(self.dir))


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    monkeypatch.setattr(disk, 'is_block', lambda path: True)
    return Fakes(tmp_path)


HDPARM = """
Security:
\tMaster password revision code = 65534
\t\tsupported
\tnot\tenabled
\tnot\tlocked
\t%s
\tnot\texpired: security count
\t\tsupported: enhanced erase
\t2min for SECURITY ERASE UNIT. 2min for ENHANCED SECURITY ERASE UNIT.
"""


def test_nvme_format(tmp_path, fakes):
    dev = patterned(tmp_path / 'nvme0n1', MIB)
    fakes.add('nvme', out='{"oacs": 23}')
    assert erase.erase_device(dev, fakes.tools()) == 'nvme-format'
    calls = fakes.calls()
    assert 'nvme format %s -s 1 --force' % dev in calls
    assert 'wipefs --all --force %s' % dev in calls
    assert read_at(dev, 0, MIB) == bytes(MIB)   # and the ends zeroed


def test_nvme_without_format_support_falls_through(tmp_path, fakes):
    dev = patterned(tmp_path / 'nvme0n1', MIB)
    fakes.add('nvme', out='{"oacs": 0}')
    fakes.add('blkdiscard')
    assert erase.erase_device(dev, fakes.tools()) == 'secure-discard'
    assert not any(c.startswith('nvme format') for c in fakes.calls())


def test_nvme_format_failure(tmp_path, fakes):
    dev = patterned(tmp_path / 'nvme0n1', MIB)
    fakes.add('nvme', out='{"oacs": 2}', rc=1)
    # id-ctrl fails too with this script: the format is still tried
    with pytest.raises(ImageError, match='NVMe secure erase'):
        erase.erase_device(dev, fakes.tools(), allow_shred=True)


def test_ata_enhanced_erase(tmp_path, fakes):
    dev = patterned(tmp_path / 'sda', MIB)
    fakes.add('hdparm', out=HDPARM % 'not\tfrozen')
    assert (erase.erase_device(dev, fakes.tools())
            == 'ata-secure-erase-enhanced')
    calls = fakes.calls()
    assert calls[:3] == [
        'hdparm -I %s' % dev,
        'hdparm --user-master u --security-set-pass NULL %s' % dev,
        'hdparm --user-master u --security-erase-enhanced NULL %s' % dev]


def test_ata_frozen_falls_back_to_discard(tmp_path, fakes):
    dev = patterned(tmp_path / 'sda', MIB)
    fakes.add('hdparm', out=HDPARM % 'frozen')
    fakes.add('blkdiscard')
    assert erase.erase_device(dev, fakes.tools()) == 'secure-discard'
    assert not any('security' in c for c in fakes.calls())
    assert 'blkdiscard --secure %s' % dev in fakes.calls()


def test_ata_erase_failure(tmp_path, fakes):
    dev = patterned(tmp_path / 'sda', MIB)
    fakes.add('hdparm', out=HDPARM % 'not\tfrozen')
    script = fakes.dir / 'hdparm'
    script.write_text('#!/bin/sh\n'
                      'case "$*" in *--security-erase*) exit 5;; esac\n'
                      '%s %s\n' % (CAT, fakes.dir / 'hdparm.out'))
    with pytest.raises(ImageError, match='ATA enhanced secure erase'):
        erase.erase_device(dev, fakes.tools())


def test_no_hardware_erase_no_shred(tmp_path, fakes):
    dev = patterned(tmp_path / 'vda', MIB)
    before = read_at(dev, 0, MIB)
    fakes.add('hdparm', rc=1)
    fakes.add('blkdiscard', rc=1)
    with pytest.raises(ImageError, match='erase_devices_allow_shred'):
        erase.erase_device(dev, fakes.tools())
    assert read_at(dev, 0, MIB) == before


def test_no_hardware_erase_shred(tmp_path, fakes):
    dev = patterned(tmp_path / 'vda', 2 * MIB)
    fakes.add('blkdiscard', rc=1)
    assert (erase.erase_device(dev, fakes.tools(), allow_shred=True)
            == 'zero-overwrite')
    assert read_at(dev, 0, 2 * MIB) == bytes(2 * MIB)


def test_nvme_format_with_an_old_nvme_cli(tmp_path, fakes):
    dev = patterned(tmp_path / 'nvme0n1', MIB)
    fakes.add('nvme', out='{"oacs": 2}')
    script = fakes.dir / 'nvme'
    script.write_text(
        '#!/bin/sh\necho "nvme $*" >> %s\n'
        'case "$*" in *--force*) echo "unrecognized option \'--force\'" >&2;'
        ' exit 1;; esac\n%s %s\n' % (fakes.log, CAT,
                                     fakes.dir / 'nvme.out'))
    assert erase.erase_device(dev, fakes.tools()) == 'nvme-format'
    assert [c for c in fakes.calls() if c.startswith('nvme format')] == [
        'nvme format %s -s 1 --force' % dev, 'nvme format %s -s 1' % dev]


def test_ata_erase_that_kept_the_password(tmp_path, fakes):
    dev = patterned(tmp_path / 'sda', MIB)
    fakes.add('hdparm', out=HDPARM % 'not\tfrozen')
    kept = (HDPARM % 'not\tfrozen').replace('not\tenabled', 'enabled')
    (fakes.dir / 'kept.out').write_text(kept)
    state = tmp_path / 'erased'
    script = fakes.dir / 'hdparm'
    script.write_text(
        '#!/bin/sh\necho "hdparm $*" >> %(log)s\n'
        'case "$*" in *--security-erase*) : > %(state)s; exit 0;; esac\n'
        'case "$*" in -I*) if [ -e %(state)s ]; then %(cat)s %(kept)s; '
        'else %(cat)s %(out)s; fi;; esac\n'
        % {'log': fakes.log, 'state': state, 'cat': CAT,
           'kept': fakes.dir / 'kept.out', 'out': fakes.dir / 'hdparm.out'})
    assert (erase.erase_device(dev, fakes.tools())
            == 'ata-secure-erase-enhanced')
    assert ('hdparm --user-master u --security-disable NULL %s' % dev
            in fakes.calls())
