"""Debian packages: which ones, which versions, downloaded and unpacked.

Nothing is installed on the build host: packages come from the host's
apt lists with ``apt-get download`` into a cache, and ``dpkg-deb -x``
unpacks each one once into its own cached directory that the rootfs is
assembled from.  The dependency closure is computed from
``apt-cache depends``, level by level, leaving out what only an
installed Debian system needs (debconf, perl, dpkg, systemd, ...): a
ramdisk never runs maintainer scripts.
"""

import fnmatch
import hashlib
import json
import os
import re
import shutil
import tempfile

from bootflow.bootos.build.common import BuildError
from bootflow.bootos.build.common import LOG
from bootflow.bootos.build.common import run

# Needed only by package management, init systems or interactive logins.
EXCLUDE = (
    'debconf', 'debconf-2.0', 'cdebconf', 'perl', 'perl-base',
    'perl-modules-*', 'libperl*', 'dpkg', 'install-info', 'systemd',
    'systemd-sysv', 'systemd-timesyncd', 'init-system-helpers',
    'sysvinit-utils', 'lsb-base', 'adduser', 'passwd', 'login', 'ucf',
    'udev', 'initramfs-tools*', 'cron', 'logrotate', 'debianutils',
    'sensible-utils', 'tzdata', 'readline-common', 'openssl',
    'libpam-modules*', 'libpam-runtime', 'python3-distutils',
    'python3-lib2to3', 'python3-setuptools', 'python3-pkg-resources',
    'default-mta', 'mail-transport-agent', 'exim4*', 'dmsetup',
)
_DEP_KINDS = ('Depends', 'PreDepends')
_NO_EXTRAS = ['--no-recommends', '--no-suggests', '--no-conflicts',
              '--no-breaks', '--no-replaces', '--no-enhances']
_APT_OPTS = ['-o', 'APT::Architecture=amd64']


def excluded(name, patterns=EXCLUDE):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def kernel_abi():
    """The ABI linux-image-amd64 depends on right now, e.g. '6.1.0-57'."""
    out = run(['apt-cache', 'depends', 'linux-image-amd64'])
    match = re.search(r'Depends: linux-image-(\S+)-amd64', out)
    if not match:
        raise BuildError('apt-cache knows no linux-image-amd64 (run '
                         'apt-get update, or pass --kernel-abi)')
    return match.group(1)


def parse_depends(text):
    """``apt-cache depends`` output -> {package: [[alternative, ...]]}.

    Each alternative is (name, providers): providers is a list when the
    name is virtual (shown as <name>), else None.  A line starting with
    '|' is ORed with the next one, which is how apt prints alternatives.
    """
    result, current, group, last = {}, None, [], None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(' '):
            current = line.strip()
            result[current] = []
            group, last = [], None
            continue
        stripped = line.strip()
        kind, sep, rest = stripped.lstrip('|').partition(': ')
        if sep and kind in _DEP_KINDS + ('Recommends', 'Suggests',
                                         'Conflicts', 'Breaks',
                                         'Replaces', 'Enhances'):
            if kind not in _DEP_KINDS:
                last = None
                continue
            name = rest.strip()
            virtual = name.startswith('<')
            name = name.strip('<>').split(':')[0]
            last = (name, [] if virtual else None)
            group.append(last)
            if not stripped.startswith('|'):
                result[current].append(group)
                group = []
        elif last is not None and last[1] is not None:
            last[1].append(stripped.split(':')[0])
    return result


def _options(group, exclude):
    """The usable package names of one dependency group, in apt's order
    (virtual names expand to their providers)."""
    options = []
    for name, providers in group:
        options.extend(providers if providers is not None else [name])
    return [n for n in options if not excluded(n, exclude)]


def closure(roots, exclude=EXCLUDE):
    """Sorted package names: roots plus their dependencies.

    Dependencies with a single usable choice are followed first; groups
    with alternatives wait until nothing else is left, so ``backport |
    python3`` takes python3 when something else needs it anyway.  A
    group whose choices are all excluded is dropped: the ramdisk does
    without it.  One ``apt-cache depends`` call per level of the walk.
    """
    chosen, todo, pending = set(), sorted(set(roots)), []
    while todo:
        chosen.update(todo)
        out = run(['apt-cache', 'depends'] + _NO_EXTRAS + _APT_OPTS + todo)
        found = parse_depends(out)
        missing = set(todo) - set(found)
        if missing:
            raise BuildError('apt knows no package %s' % ' '.join(
                sorted(missing)))
        new = set()
        for name in todo:
            for group in found[name]:
                options = _options(group, exclude)
                if len(options) == 1:
                    new.add(options[0])
                elif options:
                    pending.append(options)
        todo = sorted(new - chosen)
        if not todo:
            todo = _first_unsatisfied(pending, chosen)
    return sorted(chosen)


def _first_unsatisfied(pending, chosen):
    """[the first choice of the first group nothing chosen satisfies]."""
    for options in pending:
        if not chosen.intersection(options):
            return [options[0]]
    return []


def candidates(names):
    """{name: (version, architecture)} of the versions apt would fetch."""
    out = run(['apt-cache', 'show', '--no-all-versions'] + list(names))
    found = {}
    for stanza in out.split('\n\n'):
        fields = dict(re.findall(r'^([A-Za-z-]+): (.*)$', stanza, re.M))
        if 'Package' in fields:
            found[fields['Package']] = (fields['Version'],
                                        fields['Architecture'])
    missing = set(names) - set(found)
    if missing:
        raise BuildError('no installable version of %s' % ' '.join(
            sorted(missing)))
    return found


def deb_name(name, version, arch):
    """The file name apt-get download gives (epoch ':' as '%3a')."""
    return '%s_%s_%s.deb' % (name, version.replace(':', '%3a'), arch)


def download(packages, debdir):
    """Paths of the .debs for {name: (version, arch)}, fetching only the
    ones the cache lacks (all in one apt-get call)."""
    os.makedirs(debdir, exist_ok=True)
    paths = {n: os.path.join(debdir, deb_name(n, *va))
             for n, va in packages.items()}
    wanted = sorted('%s=%s' % (n, packages[n][0])
                    for n, p in paths.items() if not os.path.exists(p))
    if wanted:
        LOG.info('downloading %d packages', len(wanted))
        with tempfile.TemporaryDirectory(dir=debdir) as tmp:
            # apt drops to the _apt user to download: let it write here.
            os.chmod(tmp, 0o777)
            run(['apt-get', 'download', '-q'] + wanted, cwd=tmp)
            for fname in os.listdir(tmp):
                if fname.endswith('.deb'):
                    os.replace(os.path.join(tmp, fname),
                               os.path.join(debdir, fname))
    for name, path in paths.items():
        if not os.path.exists(path):
            raise BuildError('apt-get download left no %s' % path)
    return paths


def unpack(deb, unpackdir):
    """The directory holding deb's files, unpacked once and cached."""
    dest = os.path.join(unpackdir, os.path.basename(deb)[:-4])
    if os.path.isdir(dest):
        return dest
    os.makedirs(unpackdir, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=unpackdir, prefix='.unpack-')
    try:
        run(['dpkg-deb', '-x', deb, tmp])
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _lists_state():
    """What apt's package lists are right now (names, sizes, mtimes):
    a resolution done against the same lists gives the same answer."""
    lists = '/var/lib/apt/lists'
    try:
        names = sorted(os.listdir(lists))
    except OSError:
        names = []
    state = []
    for name in names:
        if name.endswith('_Packages') or name.endswith('Release'):
            st = os.stat(os.path.join(lists, name))
            state.append([name, st.st_size, int(st.st_mtime)])
    return state


def resolve(roots, extra, cache_dir):
    """(closure of roots, {name: (version, arch)} of closure + extra),
    remembered in cache_dir until apt's lists change (resolving takes
    seconds; a cached build should not)."""
    blob = json.dumps([sorted(roots), sorted(extra), EXCLUDE,
                       _lists_state()]).encode()
    path = os.path.join(cache_dir, 'resolved',
                        hashlib.sha256(blob).hexdigest()[:32] + '.json')
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
        return data['names'], {n: tuple(v)
                               for n, v in data['versions'].items()}
    names = closure(roots)
    versions = candidates(names + list(extra))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.part', 'w') as f:
        json.dump({'names': names, 'versions': versions}, f, sort_keys=True)
    os.replace(path + '.part', path)
    return names, versions
