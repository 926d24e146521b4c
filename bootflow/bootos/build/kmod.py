"""The kernel: vmlinuz and the modules the ramdisk loads, from the .deb.

The kernel package (~70 MB, ~400 MB unpacked) is never unpacked whole:
its data tarball is streamed once to index every module's ``.modinfo``
(name, depends, softdep, aliases) and keep vmlinuz, and a second time
only if modules the cache lacks are wanted.  Dependencies come from the
modules themselves, so no depmod is needed, and /init loads them from a
list file in dependency order (a module after everything it needs).
"""

import json
import lzma
import os
import shutil
import subprocess
import tarfile
import tempfile

from bootflow.bootos.build import elf
from bootflow.bootos.build.common import BuildError
from bootflow.bootos.build.common import LOG

DEFAULT_MODULES = (
    # virtual machines
    'virtio_pci', 'virtio_net', 'virtio_blk', 'virtio_scsi',
    # disks and CDs: SATA, NVMe, the common server RAID/HBA controllers
    'sd_mod', 'sr_mod', 'ahci', 'ata_piix', 'nvme', 'megaraid_sas',
    'mpt3sas', 'hpsa',
    # NICs: Intel 1/10/25/100G, Broadcom, Mellanox
    'e1000', 'e1000e', 'igb', 'ixgbe', 'i40e', 'ice', 'bnxt_en', 'tg3',
    'mlx5_core',
    # what the configuration and the warm reboot mount and assemble
    'ext4', 'xfs', 'vfat', 'nls_cp437', 'nls_iso8859_1', 'isofs',
    'md_mod', 'raid0', 'raid1', 'raid10', 'raid456')
SUFFIXES = ('.ko', '.ko.xz', '.ko.zst')
INDEX_VERSION = 1


def module_name(path):
    """Kernel module name from a file name: 'nls-cp437.ko.xz' -> nls_cp437."""
    base = os.path.basename(path)
    for suffix in SUFFIXES:
        if base.endswith(suffix):
            base = base[:-len(suffix)]
    return base.replace('-', '_')


def decompress(name, data):
    """A module's plain ELF bytes; busybox insmod needs them uncompressed."""
    if name.endswith('.ko.xz'):
        return lzma.decompress(data)
    if name.endswith('.ko.zst'):
        try:
            return subprocess.run(['zstd', '-dc'], input=data, check=True,
                                  capture_output=True).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            raise BuildError('cannot decompress %s (install zstd): %s'
                             % (name, exc))
    return data


def _softdeps(values):
    """Module names from ``softdep=pre: a b post: c`` (pre only: the
    ones a module wants loaded before itself)."""
    names, pre = [], False
    for value in values:
        for word in value.split():
            if word.endswith(':'):
                pre = word == 'pre:'
            elif pre:
                names.append(word.replace('-', '_'))
    return names


def index_entry(member, data):
    info = elf.modinfo(data)
    depends = [d.replace('-', '_') for v in info.get('depends', [])
               for d in v.split(',') if d]
    return {'path': member,
            'depends': sorted(set(depends)),
            'softdep': _softdeps(info.get('softdep', [])),
            'alias': sorted(a for a in info.get('alias', [])
                            if not any(c in a for c in '*?['))}


def _tar_stream(deb):
    try:
        return subprocess.Popen(['dpkg-deb', '--fsys-tarfile', deb],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise BuildError('dpkg-deb not found: %s' % exc)


def _each_member(deb, want):
    """(member name, bytes) for the regular files want(name) accepts."""
    proc = _tar_stream(deb)
    try:
        with tarfile.open(fileobj=proc.stdout, mode='r|') as tar:
            for info in tar:
                name = info.name.lstrip('./')
                if info.isfile() and want(name):
                    yield name, tar.extractfile(info).read()
    finally:
        proc.stdout.close()
        proc.wait()


class Kernel:
    """The cached pieces of one kernel ABI: vmlinuz, index, modules."""

    def __init__(self, deb, abi, cache_dir):
        self.deb = deb
        self.abi = abi
        self.dir = os.path.join(cache_dir, 'kernel', abi)
        self.vmlinuz = os.path.join(self.dir, 'vmlinuz')
        self.index_path = os.path.join(self.dir, 'modules.json')
        self.ko_dir = os.path.join(self.dir, 'ko')
        self._index = None

    def _prefix(self):
        return 'lib/modules/%s-amd64/' % self.abi

    def index(self):
        """{module name: entry}; built (and vmlinuz kept) on first use."""
        if self._index is None:
            if not os.path.exists(self.index_path):
                self._build_index()
            with open(self.index_path) as f:
                data = json.load(f)
            self._index = data['modules']
        return self._index

    def _build_index(self):
        LOG.info('indexing the modules of %s', os.path.basename(self.deb))
        os.makedirs(self.dir, exist_ok=True)
        vmlinuz = 'boot/vmlinuz-%s-amd64' % self.abi
        prefix = self._prefix()
        modules = {}
        for name, data in _each_member(self.deb, lambda n: n == vmlinuz or (
                n.startswith(prefix) and n.endswith(SUFFIXES))):
            if name == vmlinuz:
                _write_atomic(self.vmlinuz, data)
            else:
                modules[module_name(name)] = index_entry(
                    name, decompress(name, data))
        if not os.path.exists(self.vmlinuz):
            raise BuildError('%s holds no %s' % (self.deb, vmlinuz))
        _write_atomic(self.index_path, json.dumps(
            {'version': INDEX_VERSION, 'modules': modules},
            sort_keys=True).encode())

    def fetch(self, names):
        """{name: cached plain .ko path}, extracting the missing ones."""
        index = self.index()
        paths = {n: os.path.join(self.ko_dir, n + '.ko') for n in names}
        missing = {index[n]['path']: n for n, p in paths.items()
                   if not os.path.exists(p)}
        if missing:
            os.makedirs(self.ko_dir, exist_ok=True)
            for member, data in _each_member(self.deb,
                                             lambda m: m in missing):
                _write_atomic(paths[missing[member]],
                              decompress(member, data))
        return paths


def _write_atomic(path, data):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(fd, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def _provider(name, index, aliases):
    """The module a dependency or softdep name means (modules are also
    named by alias, e.g. softdep 'crc32c' -> crc32c_generic)."""
    if name in index:
        return name
    found = aliases.get(name) or aliases.get(name.replace('_', '-'))
    return sorted(found)[0] if found else None


def resolve(wanted, index):
    """(load order, missing): wanted modules and all they depend on, each
    after its dependencies; missing names are not in this kernel.

    Hard dependencies must come first or insmod fails; softdeps (pre)
    are added too, best effort, as modprobe would.
    """
    aliases = {}
    for name, entry in index.items():
        for alias in entry['alias']:
            aliases.setdefault(alias, set()).add(name)
    order, state, missing = [], {}, []

    def visit(name, chain):
        if state.get(name) == 'done':
            return
        if state.get(name) == 'active':
            raise BuildError('module dependency loop: %s'
                             % ' -> '.join(chain + [name]))
        state[name] = 'active'
        entry = index[name]
        for dep in entry['depends'] + entry['softdep']:
            target = _provider(dep, index, aliases)
            if target is None:
                if dep in entry['depends']:
                    raise BuildError('module %s needs %s, which this '
                                     'kernel lacks' % (name, dep))
                continue
            visit(target, chain + [name])
        state[name] = 'done'
        order.append(name)

    for name in wanted:
        target = _provider(name.replace('-', '_'), index, aliases)
        if target is None:
            missing.append(name)
            continue
        visit(target, [])
    return order, missing


def copy_modules(paths, order, dest_dir):
    """Copy modules to dest_dir; return the list file's text (one file
    name a line, in load order) that /init reads."""
    os.makedirs(dest_dir, exist_ok=True)
    lines = []
    for name in order:
        shutil.copyfile(paths[name], os.path.join(dest_dir, name + '.ko'))
        lines.append(name + '.ko')
    return ''.join(line + '\n' for line in lines)
