"""The netinstall table: installer paths and command lines per family,
and the pre-seeded cache preferred over the repository."""

import pytest

from bootflow.common import exception
from bootflow.images import netinstall

REPO = 'http://mirror.internal/debian'


def test_debian():
    found = netinstall.resolve('debian', 'bookworm', REPO + '/',
                               config_url='http://h/preseed.cfg')
    base = REPO + '/dists/bookworm/main/installer-amd64/current/images/' \
        'netboot/debian-installer/amd64/'
    assert found.kernel == base + 'linux'
    assert found.ramdisk == base + 'initrd.gz'
    assert ('url', 'http://h/preseed.cfg') in found.params
    assert ('mirror/http/hostname', 'mirror.internal') in found.params
    assert ('mirror/http/directory', '/debian') in found.params


@pytest.mark.parametrize('distro', ['centos', 'rocky', 'alma'])
def test_enterprise_linux(distro):
    repo = 'http://m/rocky/9/BaseOS/x86_64/os'
    found = netinstall.resolve(distro, '9', repo,
                               config_url='http://h/ks.cfg')
    assert found.kernel == repo + '/images/pxeboot/vmlinuz'
    assert found.ramdisk == repo + '/images/pxeboot/initrd.img'
    assert found.params == [('inst.repo', repo),
                            ('inst.ks', 'http://h/ks.cfg')]


def test_opensuse_without_config():
    found = netinstall.resolve('opensuse', '15.6', 'http://m/leap/15.6/repo/'
                               'oss', arch='aarch64')
    assert found.kernel.endswith('/oss/boot/aarch64/loader/linux')
    assert found.params == [('install', 'http://m/leap/15.6/repo/oss')]


def test_ubuntu_legacy_netboot():
    found = netinstall.resolve('ubuntu', 'focal', 'http://m/ubuntu')
    assert '/legacy-images/netboot/ubuntu-installer/amd64/linux' in \
        found.kernel


def test_cache_is_preferred(conf, tmp_path):
    conf.set_override('cache_dir', str(tmp_path), 'netinstall')
    base = tmp_path / 'debian' / 'bookworm' / 'x86_64'
    base.mkdir(parents=True)
    (base / 'kernel').write_bytes(b'k')
    (base / 'initrd').write_bytes(b'i')
    found = netinstall.resolve('debian', 'bookworm', REPO)
    assert found.kernel == 'file://%s' % (base / 'kernel')
    assert found.ramdisk == 'file://%s' % (base / 'initrd')
    # Another release is not cached: the repository it is.
    assert netinstall.resolve('debian', 'trixie', REPO).kernel.startswith(
        REPO)


@pytest.mark.parametrize('args', [
    ('windows', '11', REPO), ('debian', '../x', REPO), ('debian', '', REPO),
])
def test_unknown_or_bad_is_refused(args):
    with pytest.raises(exception.InvalidParameterValue):
        netinstall.resolve(*args)


def test_unknown_arch_is_refused():
    with pytest.raises(exception.InvalidParameterValue):
        netinstall.resolve('debian', 'bookworm', REPO, arch='sparc')
