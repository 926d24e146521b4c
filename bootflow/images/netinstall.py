"""Netinstall: where a distribution's install repository keeps its
network-boot kernel and initrd, and what its installer wants on the
command line.

A small table, keyed by distribution name; adding a distribution is one
entry. No default mirrors: the operator names the repository (often a
local mirror), and may pre-seed kernels and initrds in
``[netinstall]cache_dir`` so nothing is downloaded from it at all.
"""

import collections
import os

from bootflow.common import exception
from bootflow.conf import CONF

Installer = collections.namedtuple('Installer', 'kernel ramdisk params')

# How each family names CPU architectures in its repository paths.
_DEBIAN_ARCH = {'x86_64': 'amd64', 'aarch64': 'arm64'}
_SAME_ARCH = {'x86_64': 'x86_64', 'aarch64': 'aarch64'}


def _debian_params(repo, config):
    host, _, directory = repo.split('://', 1)[1].partition('/')
    return [('auto', 'true'), ('priority', 'critical'),
            ('url', config),
            ('mirror/http/hostname', host),
            ('mirror/http/directory', '/' + directory.strip('/'))]


def _anaconda_params(repo, config):
    return [('inst.repo', repo), ('inst.ks', config)]


def _suse_params(repo, config):
    return [('install', repo), ('autoyast', config)]


_D_I = '{repo}/dists/{release}/main/installer-{arch}/current/'
DISTROS = {
    'debian': {
        'arch': _DEBIAN_ARCH,
        'kernel': _D_I + 'images/netboot/debian-installer/{arch}/linux',
        'ramdisk': _D_I + 'images/netboot/debian-installer/{arch}/initrd.gz',
        'params': _debian_params,
    },
    # Ubuntu's debian-installer netboot images, as focal still ships
    # them; later releases install from the live ISO (grub-iso).
    'ubuntu': {
        'arch': _DEBIAN_ARCH,
        'kernel': _D_I + 'legacy-images/netboot/ubuntu-installer/{arch}/'
                         'linux',
        'ramdisk': _D_I + 'legacy-images/netboot/ubuntu-installer/{arch}/'
                          'initrd.gz',
        'params': _debian_params,
    },
    'opensuse': {
        'arch': _SAME_ARCH,
        'kernel': '{repo}/boot/{arch}/loader/linux',
        'ramdisk': '{repo}/boot/{arch}/loader/initrd',
        'params': _suse_params,
    },
}
# The Enterprise Linux family: the repository is the BaseOS tree
# (.../BaseOS/x86_64/os), which carries images/pxeboot.
for _name in ('centos', 'rocky', 'alma', 'rhel', 'fedora'):
    DISTROS[_name] = {
        'arch': _SAME_ARCH,
        'kernel': '{repo}/images/pxeboot/vmlinuz',
        'ramdisk': '{repo}/images/pxeboot/initrd.img',
        'params': _anaconda_params,
    }


def _cached(distro, release, arch):
    """Pre-seeded ``kernel`` and ``initrd`` for this release, if any."""
    base = os.path.join(CONF.netinstall.cache_dir, distro, release, arch)
    kernel = os.path.join(base, 'kernel')
    initrd = os.path.join(base, 'initrd')
    if os.path.isfile(kernel) and os.path.isfile(initrd):
        return 'file://' + kernel, 'file://' + initrd
    return None


def resolve(distro, release, repo, arch='x86_64', config_url=None):
    """The installer to boot for ``distro``/``release`` from ``repo``."""
    entry = DISTROS.get(distro)
    if entry is None:
        raise exception.InvalidParameterValue(
            err='Unknown netinstall distribution %r; known: %s. Name the '
                'installer with instance_info kernel and ramdisk instead.'
                % (distro, ', '.join(sorted(DISTROS))))
    repo_arch = entry['arch'].get(arch)
    if repo_arch is None:
        raise exception.InvalidParameterValue(
            err='Architecture %r is not known for %s; known: %s'
                % (arch, distro, ', '.join(sorted(entry['arch']))))
    if not release or '/' in release or '..' in release:
        raise exception.InvalidParameterValue(
            err='Invalid netinstall release %r' % (release,))
    repo = repo.rstrip('/')
    values = {'repo': repo, 'release': release, 'arch': repo_arch}
    kernel, ramdisk = _cached(distro, release, arch) or (
        entry['kernel'].format(**values), entry['ramdisk'].format(**values))
    params = [(k, v) for k, v in entry['params'](repo, config_url)
              if v is not None]
    return Installer(kernel, ramdisk, params)
