"""The ramdisk's root file system: assembled from packages, then pruned.

Packages are merged into a /usr-merged tree (``/bin``, ``/sbin``,
``/lib`` and ``/lib64`` are symlinks into ``/usr``, as on Debian 12
itself), busybox fills in the commands no package brings, the agent's
sources are copied with a dist-info so entry points resolve, and then
everything a ramdisk has no use for goes: docs, locales, headers,
Python's test suites, and every shared library no kept program needs.
"""

import fnmatch
import os
import shutil
import struct

from bootflow.bootos.build import elf
from bootflow.bootos.build.common import LOG

MERGED = ('bin', 'sbin', 'lib', 'lib64')
LIB_DIRS = ('usr/lib/x86_64-linux-gnu', 'usr/lib', 'usr/lib64')
SKELETON = ('dev', 'proc', 'sys', 'run', 'tmp', 'mnt', 'root', 'etc',
            'var/lib', 'var/log', 'var/tmp', 'usr/bin', 'usr/sbin',
            'usr/lib', 'usr/lib64', 'usr/share/udhcpc')
PRUNE = (
    'usr/share/doc', 'usr/share/doc-base', 'usr/share/man',
    'usr/share/info', 'usr/share/locale', 'usr/share/lintian',
    'usr/share/bug', 'usr/share/menu', 'usr/share/common-licenses',
    'usr/share/bash-completion', 'usr/share/zsh', 'usr/share/fish',
    'usr/share/pixmaps', 'usr/share/applications', 'usr/share/python3',
    'usr/share/binfmts', 'usr/share/gdb', 'usr/share/initramfs-tools',
    'usr/share/debconf', 'usr/share/perl5', 'usr/share/pkgconfig',
    'usr/share/ca-certificates', 'usr/share/mime', 'usr/include',
    'usr/lib/*/pkgconfig', 'usr/lib/pkgconfig', 'usr/lib/*/gconv',
    'usr/lib/*/audit', 'usr/lib/systemd', 'usr/lib/udev',
    'usr/lib/tmpfiles.d', 'usr/lib/sysusers.d', 'usr/lib/cron',
    'etc/init.d', 'etc/cron.*', 'etc/logrotate.d', 'etc/systemd',
    'etc/rc?.d', 'etc/default', 'etc/modprobe.d', 'etc/initramfs-tools',
    'usr/lib/python3.11/test', 'usr/lib/python3.11/idlelib',
    'usr/lib/python3.11/tkinter', 'usr/lib/python3.11/turtledemo',
    'usr/lib/python3.11/turtle.py', 'usr/lib/python3.11/lib2to3',
    'usr/lib/python3.11/ensurepip', 'usr/lib/python3.11/pydoc_data',
    'usr/lib/python3.11/distutils', 'usr/lib/python3.11/venv',
    'usr/lib/python3.11/config-*', 'usr/lib/python3.11/*/test',
    'usr/lib/python3.11/*/tests', 'usr/lib/python3.11/__phello__',
    'usr/lib/python3.11/lib-dynload/_test*',
    'usr/lib/python3.11/lib-dynload/_xxtestfuzz*',
    'usr/lib/python3.11/lib-dynload/xxlimited*',
    'usr/lib/python3/dist-packages/*/tests',
    'usr/lib/python3/dist-packages/*/benchmarks',
    'usr/bin/pydoc3*', 'usr/bin/pygettext3*', 'usr/bin/2to3*',
    'usr/sbin/xfs_scrub*', 'usr/lib/*/xfs_scrub*',
    '*.a', '*.la', '*.h',
)
# Loaded with dlopen(), so no DT_NEEDED names them: the library
# collection must keep them.
DLOPENED = ('ld-linux-x86-64.so.2', 'libgcc_s.so.1', 'libnss_*',
            'libresolv.so.*')


def merged_path(rel):
    """Where a package's path lands in the /usr-merged tree."""
    top, _, rest = rel.partition('/')
    if top in MERGED:
        return os.path.join('usr', top, rest) if rest else 'usr/' + top
    return rel


def skeleton(root):
    for rel in SKELETON:
        os.makedirs(os.path.join(root, rel), exist_ok=True)
    for top in MERGED:
        os.symlink('usr/' + top, os.path.join(root, top))


def _place(src, dest):
    """Put one file at dest: a hard link into the cache where possible
    (nothing later writes into a placed file, it only unlinks)."""
    if os.path.lexists(dest) or os.path.islink(dest):
        os.unlink(dest)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dest)
        return
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def merge(unpacked, root):
    """Copy one unpacked package into root, /usr-merged."""
    for dirpath, dirnames, filenames in os.walk(unpacked):
        rel_dir = os.path.relpath(dirpath, unpacked)
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            rel = merged_path(os.path.normpath(os.path.join(rel_dir, name)))
            dest = os.path.join(root, rel)
            if os.path.islink(full):
                _place(full, dest)
            elif not os.path.isdir(dest):
                if os.path.lexists(dest):
                    os.unlink(dest)
                os.makedirs(dest)
        for name in sorted(filenames):
            rel = merged_path(os.path.normpath(os.path.join(rel_dir, name)))
            _place(os.path.join(dirpath, name), os.path.join(root, rel))


def busybox_links(root, applets):
    """Symlink busybox applets no package provides (util-linux's real
    tools win over busybox's smaller ones)."""
    made = 0
    for applet in applets:
        rel = merged_path(applet.strip().lstrip('/'))
        dest = os.path.join(root, rel)
        if not rel or os.path.lexists(dest):
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.symlink('/usr/bin/busybox', dest)
        made += 1
    return made


def write_file(root, rel, data, mode=0o644):
    path = os.path.join(root, rel.lstrip('/'))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)
    return path


def ca_bundle(root):
    """/etc/ssl/certs/ca-certificates.crt, as update-ca-certificates
    would write it at install (Debian ships the certificates only)."""
    source = os.path.join(root, 'usr/share/ca-certificates')
    certs = []
    for dirpath, _, filenames in os.walk(source):
        certs += [os.path.join(dirpath, n) for n in filenames
                  if n.endswith('.crt')]
    data = b''
    for path in sorted(certs):
        with open(path, 'rb') as f:
            data += f.read().rstrip(b'\n') + b'\n'
    write_file(root, 'etc/ssl/certs/ca-certificates.crt', data)
    ssl_dir = os.path.join(root, 'usr/lib/ssl')
    os.makedirs(ssl_dir, exist_ok=True)
    for name, target in (('certs', '/etc/ssl/certs'),
                         ('cert.pem', '/etc/ssl/certs/ca-certificates.crt')):
        if not os.path.lexists(os.path.join(ssl_dir, name)):
            os.symlink(target, os.path.join(ssl_dir, name))
    return len(certs)


def prune(root, patterns=PRUNE):
    """Remove every path matching patterns; return bytes freed."""
    freed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in list(dirnames) + filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if not any(fnmatch.fnmatchcase(rel, p) for p in patterns):
                continue
            full = os.path.join(dirpath, name)
            if name in dirnames and not os.path.islink(full):
                freed += _du(full)
                shutil.rmtree(full)
                dirnames.remove(name)
            else:
                freed += os.lstat(full).st_size
                os.unlink(full)
    return freed


def _du(path):
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _read_elf(path):
    try:
        with open(path, 'rb') as f:
            head = f.read(4)
            if not elf.is_elf(head):
                return None
            return head + f.read()
    except OSError:
        return None


def _library_files(root):
    """{soname or file name: [relative paths]} in the library dirs."""
    found = {}
    for lib_dir in LIB_DIRS:
        full_dir = os.path.join(root, lib_dir)
        if not os.path.isdir(full_dir) or os.path.islink(full_dir):
            continue
        for name in sorted(os.listdir(full_dir)):
            if '.so' in name:
                found.setdefault(name, []).append(
                    os.path.join(lib_dir, name))
    return found


def _elf_roots(root, libs):
    """Relative paths of every ELF file that is not a library in the
    library dirs: programs, Python extensions, helper binaries."""
    lib_paths = {p for paths in libs.values() for p in paths}
    roots = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if rel in lib_paths or os.path.islink(full):
                continue
            if os.path.isfile(full) and _read_elf(full) is not None:
                roots.append(rel)
    return sorted(roots)


def collect_libraries(root, keep=DLOPENED):
    """Delete shared libraries that no kept ELF file needs, directly or
    through other libraries (e.g. libicu, needed only by xfs_scrub,
    which is pruned).  Returns the removed file names."""
    libs = _library_files(root)
    todo = _elf_roots(root, libs)
    todo += [p for name, paths in libs.items()
             if any(fnmatch.fnmatchcase(name, k) for k in keep)
             for p in paths]
    live, seen = set(), set()
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        full = os.path.join(root, rel)
        real = os.path.relpath(os.path.realpath(full), root)
        live.update((rel, real))
        data = _read_elf(full)
        if data is None:
            continue
        try:
            names = elf.needed(data)
        except (ValueError, IndexError, struct.error):
            continue
        for soname in names:
            for path in libs.get(soname, ()):
                todo.append(path)
    removed = []
    for name, paths in sorted(libs.items()):
        for rel in paths:
            full = os.path.join(root, rel)
            if rel in live or not os.path.lexists(full):
                continue
            real = os.path.relpath(os.path.realpath(full), root)
            if os.path.islink(full) and real in live:
                continue
            if os.path.isdir(full) and not os.path.islink(full):
                continue
            os.unlink(full)
            removed.append(name)
    LOG.info('removed %d unused libraries', len(removed))
    return removed

