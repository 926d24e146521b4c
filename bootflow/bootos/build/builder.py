"""Builds the BootOS ramdisk: kernel, initramfs, ISO and a manifest.

One function, ``build()``, ties the steps together (packages, kernel
modules, rootfs, cpio, ISO) and keeps finished images in the cache under
a key that covers every input: the builder's version, the options, the
exact package versions apt resolved and a hash of the agent's sources.
The same inputs therefore reuse the same image, and a rebuild from the
same inputs gives the same bytes.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile

from bootflow.bootos.build import agent
from bootflow.bootos.build import cpio
from bootflow.bootos.build import debs
from bootflow.bootos.build import iso
from bootflow.bootos.build import kmod
from bootflow.bootos.build import rootfs
from bootflow.bootos.build.common import BuildError
from bootflow.bootos.build.common import LOG
from bootflow.bootos.build.common import replace_tree
from bootflow.bootos.build.common import sha256_file

BUILDER_VERSION = '1'
HERE = os.path.dirname(os.path.abspath(__file__))
INIT_SCRIPT = os.path.join(HERE, 'init')
UDHCPC_SCRIPT = os.path.join(HERE, 'udhcpc.script')
OUTPUTS = {'kernel': 'bootos.kernel', 'initramfs': 'bootos.initramfs',
           'iso': 'bootos.iso'}
MANIFEST = 'bootos.json'
MODULES_DIR = 'usr/lib/bootos/modules'
DEFAULT_PACKAGES = (
    'busybox-static', 'python3-minimal', 'libpython3.11-minimal',
    'libpython3.11-stdlib', 'python3-requests', 'python3-urllib3',
    'python3-idna', 'python3-certifi', 'python3-charset-normalizer',
    'python3-stevedore', 'python3-yaml', 'python3-jsonschema',
    'ca-certificates', 'util-linux', 'fdisk', 'gdisk', 'e2fsprogs',
    'dosfstools', 'xfsprogs', 'mdadm', 'dmidecode', 'ipmitool',
    'kexec-tools', 'hdparm', 'nvme-cli')
ETC_FILES = {
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    'etc/group': 'root:x:0:\ntty:x:5:\ndisk:x:6:\n',
    'etc/hosts': '127.0.0.1\tlocalhost bootos\n::1\tlocalhost\n',
    'etc/hostname': 'bootos\n',
    'etc/os-release': 'NAME="BootOS"\nID=bootos\nID_LIKE=debian\n'
                      'PRETTY_NAME="bootflow BootOS"\n',
}


def default_cache_dir():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'bootflow', 'bootos')


def parse_file_spec(spec):
    """'SRC:DEST' -> (absolute SRC, DEST inside the ramdisk)."""
    src, sep, dest = spec.rpartition(':')
    if not sep or not src or not dest.startswith('/'):
        raise BuildError('--file %r: expected SRC:/ABSOLUTE/DEST' % spec)
    if not os.path.isfile(src):
        raise BuildError('--file %r: %s is not a file' % (spec, src))
    return os.path.abspath(src), os.path.normpath(dest)


def _file_digest(path):
    return '%s:%o' % (sha256_file(path), os.stat(path).st_mode & 0o7777)


def build_key(options, versions, agent_hash):
    """The cache key: every input that can change the outputs."""
    scripts = [sha256_file(p) for p in (INIT_SCRIPT, UDHCPC_SCRIPT)]
    data = {
        'builder': BUILDER_VERSION, 'scripts': scripts,
        'kernel_abi': options['kernel_abi'],
        'packages': sorted('%s=%s' % (n, v[0]) for n, v in versions.items()),
        'modules': sorted(options['modules']),
        'module_files': [_file_digest(p) for p in options['module_files']],
        'files': [(d, _file_digest(s)) for s, d in options['files']],
        'iso': options['iso'], 'iso_append': options['iso_append'],
        'agent': agent_hash,
        'epoch': os.environ.get('SOURCE_DATE_EPOCH'),
    }
    blob = json.dumps(data, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _normalise(output, cache_dir, kernel_abi, packages, modules,
               module_files, files, iso_image, iso_append):
    return {
        'output': os.path.abspath(output or 'bootos'),
        'cache_dir': os.path.abspath(cache_dir or default_cache_dir()),
        'kernel_abi': kernel_abi or debs.kernel_abi(),
        'packages': sorted(set(packages or ())),
        'modules': list(dict.fromkeys(kmod.DEFAULT_MODULES
                                      + tuple(modules or ()))),
        'module_files': [os.path.abspath(p) for p in module_files or ()],
        'files': [parse_file_spec(s) if isinstance(s, str) else tuple(s)
                  for s in files or ()],
        'iso': bool(iso_image),
        'iso_append': (iso.DEFAULT_APPEND if iso_append is None
                       else iso_append),
    }


def build(output=None, cache_dir=None, kernel_abi=None, packages=(),
          modules=(), module_files=(), files=(), iso_image=True,
          iso_append=None, no_cache=False):
    """Build (or reuse from the cache) the BootOS image into output.

    Returns the manifest with absolute output paths added under
    'kernel', 'initramfs' and 'iso' (None without an ISO) and 'cached'.
    """
    opts = _normalise(output, cache_dir, kernel_abi, packages, modules,
                      module_files, files, iso_image, iso_append)
    for path in opts['module_files']:
        if not os.path.isfile(path):
            raise BuildError('--module-file %s: no such file' % path)
    kernel_pkg = 'linux-image-%s-amd64' % opts['kernel_abi']
    extra = [kernel_pkg] + (list(iso.PACKAGES) if opts['iso'] else [])
    names, versions = debs.resolve(
        DEFAULT_PACKAGES + tuple(opts['packages']), extra, opts['cache_dir'])
    key = build_key(opts, versions, agent.source_hash())
    image_dir = os.path.join(opts['cache_dir'], 'images', key)
    cached = os.path.isfile(os.path.join(image_dir, MANIFEST))
    if not cached or no_cache:
        _build_image(opts, names, versions, kernel_pkg, key, image_dir)
    manifest = _publish(image_dir, opts['output'])
    manifest['cached'] = cached and not no_cache
    return manifest


def _publish(image_dir, output):
    """Copy the cached image into output; the manifest with paths."""
    with open(os.path.join(image_dir, MANIFEST)) as f:
        manifest = json.load(f)
    os.makedirs(output, exist_ok=True)
    for fname in list(manifest['outputs']) + [MANIFEST]:
        dest = os.path.join(output, fname)
        tmp = dest + '.part'
        shutil.copyfile(os.path.join(image_dir, fname), tmp)
        os.replace(tmp, dest)
    for key, fname in OUTPUTS.items():
        manifest[key] = (os.path.join(output, fname)
                         if fname in manifest['outputs'] else None)
    manifest['manifest'] = os.path.join(output, MANIFEST)
    return manifest


def _build_image(opts, names, versions, kernel_pkg, key, image_dir):
    """Do the real build into a fresh directory, then move it to
    image_dir (so an interrupted build never looks finished)."""
    cache = opts['cache_dir']
    paths = debs.download(versions, os.path.join(cache, 'debs'))
    unpack_dir = os.path.join(cache, 'unpacked')
    work = os.path.join(cache, 'work')
    os.makedirs(work, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=work, prefix=key + '.')
    try:
        root = os.path.join(tmp, 'rootfs')
        out = os.path.join(tmp, 'out')
        os.makedirs(out)
        unpacked = {n: debs.unpack(paths[n], unpack_dir) for n in names}
        epoch = _epoch(unpacked.values())
        kernel = kmod.Kernel(paths[kernel_pkg], opts['kernel_abi'], cache)
        modules = _assemble(root, opts, unpacked, kernel)
        count = cpio.build(root, os.path.join(out, OUTPUTS['initramfs']),
                           epoch)
        shutil.copyfile(kernel.vmlinuz, os.path.join(out, OUTPUTS['kernel']))
        if opts['iso']:
            iso_dirs = [debs.unpack(paths[n], unpack_dir)
                        for n in iso.PACKAGES]
            iso.build(os.path.join(out, OUTPUTS['iso']),
                      os.path.join(out, OUTPUTS['kernel']),
                      os.path.join(out, OUTPUTS['initramfs']), iso_dirs,
                      opts['iso_append'], epoch)
        manifest = _manifest(opts, names, versions, key, epoch, modules,
                             out, count)
        with open(os.path.join(out, MANIFEST), 'w') as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write('\n')
        os.makedirs(os.path.dirname(image_dir), exist_ok=True)
        replace_tree(out, image_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _epoch(unpacked_dirs):
    """SOURCE_DATE_EPOCH, else the newest file date in the packages."""
    if os.environ.get('SOURCE_DATE_EPOCH'):
        return int(os.environ['SOURCE_DATE_EPOCH'])
    newest = 0
    for directory in unpacked_dirs:
        for dirpath, _, filenames in os.walk(directory):
            for name in filenames:
                st = os.lstat(os.path.join(dirpath, name))
                newest = max(newest, int(st.st_mtime))
    return newest


def _assemble(root, opts, unpacked, kernel):
    """Fill root: packages, busybox, modules, agent, init; then prune.
    Returns what went into the module lists."""
    rootfs.skeleton(root)
    for name in sorted(unpacked):
        rootfs.merge(unpacked[name], root)
    busybox = os.path.join(root, 'usr/bin/busybox')
    applets = _busybox_applets(busybox)
    rootfs.busybox_links(root, applets)
    rootfs.ca_bundle(root)
    modules = _install_modules(root, opts, kernel)
    agent.install(root)
    rootfs.write_file(root, 'init', _read(INIT_SCRIPT), 0o755)
    rootfs.write_file(root, 'usr/share/udhcpc/default.script',
                      _read(UDHCPC_SCRIPT), 0o755)
    for rel, text in ETC_FILES.items():
        rootfs.write_file(root, rel, text)
    if not os.path.lexists(os.path.join(root, 'etc/mtab')):
        os.symlink('/proc/self/mounts', os.path.join(root, 'etc/mtab'))
    for src, dest in opts['files']:
        rootfs.write_file(root, dest, _read(src, binary=True),
                          os.stat(src).st_mode & 0o7777)
    freed = rootfs.prune(root)
    removed = rootfs.collect_libraries(root)
    LOG.info('pruned %.1f MB and %d libraries', freed / 1e6, len(removed))
    agent.compile_tree(root)
    return modules


def _busybox_applets(busybox):
    """busybox's applet paths, asked of the (static) binary itself."""
    try:
        out = subprocess.run([busybox, '--list-full'], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError('cannot run %s --list-full: %s' % (busybox, exc))
    return sorted(out.split())


def _install_modules(root, opts, kernel):
    """Copy the modules and write the load lists /init reads."""
    index = kernel.index()
    wanted = list(opts['modules'])
    extra_files = []
    for path in opts['module_files']:
        data = kmod.decompress(path, _read(path, binary=True))
        entry = kmod.index_entry(path, data)
        wanted += entry['depends'] + entry['softdep']
        extra_files.append((kmod.module_name(path), data))
    order, missing = kmod.resolve(wanted, index)
    for name in missing:
        LOG.warning('module %s is not in kernel %s: skipped', name,
                    opts['kernel_abi'])
    dest = os.path.join(root, MODULES_DIR)
    listing = kmod.copy_modules(kernel.fetch(order), order, dest)
    rootfs.write_file(root, MODULES_DIR + '/modules.load', listing)
    extra = []
    for name, data in extra_files:
        rootfs.write_file(root, '%s/%s.ko' % (MODULES_DIR, name), data)
        extra.append(name + '.ko')
    if extra:
        rootfs.write_file(root, MODULES_DIR + '/modules.extra',
                          ''.join(e + '\n' for e in extra))
    return {'modules': order, 'missing': missing, 'extra': extra}


def _read(path, binary=False):
    with open(path, 'rb' if binary else 'r') as f:
        return f.read()


def _manifest(opts, names, versions, key, epoch, modules, out, count):
    outputs = {}
    for fname in sorted(os.listdir(out)):
        full = os.path.join(out, fname)
        outputs[fname] = {'sha256': sha256_file(full),
                          'size': os.path.getsize(full)}
    return {
        'builder_version': BUILDER_VERSION, 'key': key,
        'kernel_abi': opts['kernel_abi'],
        'packages': ['%s=%s' % (n, versions[n][0]) for n in names],
        'modules': modules['modules'], 'modules_missing': modules['missing'],
        'module_files': modules['extra'],
        'files': [d for _, d in opts['files']],
        'agent_version': agent.version(),
        'agent_source_hash': agent.source_hash(),
        'iso_append': opts['iso_append'] if opts['iso'] else None,
        'source_date_epoch': epoch, 'initramfs_entries': count,
        'outputs': outputs,
    }
