"""A real BootOS build from Debian packages, and what is inside it.

One build per module (the image cache makes repeat runs take about a
second): $BOOTFLOW_TEST_BOOTOS_CACHE, else the user's builder cache, so
the downloads are shared with ``bootflow-build-bootos`` runs.  Needs apt
lists, dpkg-deb and xorriso; the chroot checks need root.
"""

import gzip
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from bootflow.bootos import build as bootos_build
from bootflow.bootos.build import builder

CACHE_ENV = 'BOOTFLOW_TEST_BOOTOS_CACHE'
MAX_INITRAMFS = 60 * 1024 * 1024
TOOLS = ('sfdisk', 'blockdev', 'wipefs', 'blkid', 'lsblk', 'sgdisk',
         'mkfs.ext4', 'mkfs.vfat', 'mkfs.xfs', 'mkswap', 'mdadm',
         'dmidecode', 'ipmitool', 'kexec', 'udhcpc', 'ip', 'python3',
         'bootos-agent', 'insmod')


def cache_dir():
    return os.environ.get(CACHE_ENV) or builder.default_cache_dir()


def _missing_prerequisites():
    for tool in ('apt-get', 'apt-cache', 'dpkg-deb', 'xorriso'):
        if shutil.which(tool) is None:
            return '%s not installed' % tool
    return None


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    reason = _missing_prerequisites()
    if reason:
        pytest.skip('cannot build BootOS: ' + reason)
    out = tmp_path_factory.mktemp('bootos')
    return bootos_build.build(output=str(out), cache_dir=cache_dir())


def extract(archive, dest):
    """Unpack a gzipped newc cpio (dirs, files, symlinks; no devices)."""
    data = gzip.decompress(Path(archive).read_bytes())
    pos = 0
    while True:
        head = data[pos:pos + 110]
        fields = [int(head[6 + i * 8:14 + i * 8], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        at = pos + 110 + namesize + (-(110 + namesize) % 4)
        body = data[at:at + size]
        pos = at + size + (-size % 4)
        if name == 'TRAILER!!!':
            return dest
        path = os.path.join(dest, name)
        if stat.S_ISDIR(mode):
            os.makedirs(path, exist_ok=True)
        elif stat.S_ISLNK(mode):
            os.symlink(body.decode(), path)
        elif stat.S_ISREG(mode):
            with open(path, 'wb') as f:
                f.write(body)
            os.chmod(path, stat.S_IMODE(mode))


@pytest.fixture(scope='module')
def rootfs(image, tmp_path_factory):
    return extract(image['initramfs'], str(tmp_path_factory.mktemp('root')))


def test_outputs_and_manifest(image):
    for key in ('kernel', 'initramfs', 'iso'):
        assert os.path.isabs(image[key]) and os.path.isfile(image[key])
    on_disk = json.loads(Path(image['manifest']).read_text())
    for name, info in on_disk['outputs'].items():
        path = os.path.join(os.path.dirname(image['manifest']), name)
        assert os.path.getsize(path) == info['size']
    size = os.path.getsize(image['initramfs'])
    print('initramfs %.1f MiB' % (size / 2 ** 20))
    assert size <= MAX_INITRAMFS
    assert any(p.startswith('python3-minimal=') for p in on_disk['packages'])
    assert not any(p.startswith(('perl-base=', 'debconf=', 'systemd='))
                   for p in on_disk['packages'])
    assert 'virtio_net' in on_disk['modules']
    assert on_disk['modules'].index('virtio_ring') < \
        on_disk['modules'].index('virtio_net')
    assert on_disk['agent_source_hash'] and on_disk['kernel_abi']


def test_cached_build_reuses_the_image(image, tmp_path):
    again = bootos_build.build(output=str(tmp_path), cache_dir=cache_dir())
    assert again['cached'] and again['key'] == image['key']
    assert again['outputs'] == image['outputs']


def test_rebuild_is_byte_identical(image, tmp_path):
    fresh = bootos_build.build(output=str(tmp_path), cache_dir=cache_dir(),
                               no_cache=True)
    assert not fresh['cached']
    assert fresh['outputs'] == image['outputs']


def test_tools_present(rootfs):
    found = {}
    for tool in TOOLS:
        found[tool] = [d for d in ('usr/bin', 'usr/sbin')
                       if os.path.lexists(os.path.join(rootfs, d, tool))]
    assert [t for t, dirs in found.items() if not dirs] == []
    assert os.access(os.path.join(rootfs, 'init'), os.X_OK)
    assert os.path.isfile(os.path.join(
        rootfs, 'usr/lib/bootos/modules/modules.load'))
    assert not os.path.exists(os.path.join(rootfs, 'usr/share/doc'))
    assert not os.path.exists(os.path.join(rootfs, 'usr/lib/python3.11/test'))
    assert not os.path.exists(os.path.join(rootfs, 'usr/bin/qemu-img'))


AGENT_CHECK = '''
import bootflow.agent.main, bootflow.agent.inventory, bootflow.agent.hardware
import bootflow.agent.imaging.deploy, bootflow.agent.config
import importlib.metadata, sys
from stevedore import extension
names = extension.ExtensionManager('bootflow.agent.collectors').names()
assert sorted(names) == sorted(['cpu', 'memory', 'disks', 'interfaces',
                                'system_vendor', 'bmc', 'boot']), names
assert importlib.metadata.version('bootflow')
import requests, yaml, jsonschema, ssl
assert 'bootflow.bootos.templates' in sys.modules
assert sys.modules['bootflow.agent.main'].__cached__.endswith('.pyc')
print('ok')
'''


@pytest.fixture
def chroot(rootfs):
    if os.geteuid() != 0:
        pytest.skip('chroot needs root')

    def run(*argv):
        return subprocess.run(['chroot', rootfs] + list(argv),
                              capture_output=True, text=True, timeout=120,
                              env={'PATH': '/usr/sbin:/usr/bin',
                                   'LC_ALL': 'C.UTF-8'})
    return run


def test_agent_imports_and_collectors_load_in_chroot(chroot):
    proc = chroot('/usr/bin/python3', '-X', 'importtime', '-c', AGENT_CHECK)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == 'ok'
    # The bytecode is used as is: nothing is compiled at import.
    proc = chroot('/usr/bin/python3', '-c',
                  'import sys; sys.dont_write_bytecode = False; '
                  'import bootflow.agent.main')
    assert proc.returncode == 0, proc.stderr


def test_agent_runs_and_tools_start_in_chroot(chroot):
    proc = chroot('/usr/bin/bootos-agent', '--help')
    assert proc.returncode == 0 and 'bootos-agent' in proc.stdout
    for argv in (['sfdisk', '--version'], ['sgdisk', '--version'],
                 ['mkfs.xfs', '-V'], ['mdadm', '--version'],
                 ['kexec', '--version'], ['ipmitool', '-V'],
                 ['dmidecode', '--version'], ['lsblk', '--version']):
        proc = chroot(*argv)
        assert proc.returncode == 0, (argv, proc.stderr)


def test_iso_has_el_torito_boot_record(image):
    with open(image['iso'], 'rb') as f:
        f.seek(17 * 2048)
        record = f.read(2048)
    assert record[0] == 0 and record[1:6] == b'CD001'
    assert record[7:30] == b'EL TORITO SPECIFICATION'
    catalog = int.from_bytes(record[0x47:0x4B], 'little')
    with open(image['iso'], 'rb') as f:
        f.seek(catalog * 2048)
        entries = f.read(64)
    assert entries[0] == 1 and entries[0x1E:0x20] == b'\x55\xAA'
    assert entries[32] == 0x88           # the default entry is bootable
