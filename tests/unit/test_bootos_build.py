"""Unit tests of the BootOS image builder's pure parts (no apt, no root)."""

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bootflow.bootos.build import agent
from bootflow.bootos.build import cli
from bootflow.bootos.build import cpio
from bootflow.bootos.build import debs
from bootflow.bootos.build import elf
from bootflow.bootos.build import iso
from bootflow.bootos.build import kmod
from bootflow.bootos.build import rootfs
from bootflow.bootos.build.builder import parse_file_spec
from bootflow.bootos.build.common import BuildError

BUILD_DIR = Path(kmod.__file__).resolve().parent


def entry(depends=(), softdep=(), alias=()):
    return {'path': 'x.ko', 'depends': list(depends),
            'softdep': list(softdep), 'alias': list(alias)}


# -- kernel modules ---------------------------------------------------------

def test_resolve_puts_dependencies_first():
    index = {'virtio_net': entry(['net_failover', 'virtio']),
             'net_failover': entry(['failover']), 'failover': entry(),
             'virtio': entry(['virtio_ring']), 'virtio_ring': entry(),
             'ext4': entry(['jbd2', 'mbcache'], softdep=['crc32c']),
             'jbd2': entry(), 'mbcache': entry(),
             'crc32c_generic': entry(alias=['crypto-crc32c', 'crc32c'])}
    order, missing = kmod.resolve(['virtio_net', 'ext4', 'nope'], index)
    assert missing == ['nope']
    assert sorted(order) == sorted(index)
    for name, item in index.items():
        for dep in item['depends']:
            assert order.index(dep) < order.index(name)
    assert order.index('crc32c_generic') < order.index('ext4')
    assert len(order) == len(set(order))


def test_resolve_reports_loops_and_missing_hard_dependencies():
    loop = {'a': entry(['b']), 'b': entry(['a'])}
    with pytest.raises(BuildError, match='loop'):
        kmod.resolve(['a'], loop)
    with pytest.raises(BuildError, match='lacks'):
        kmod.resolve(['a'], {'a': entry(['gone'])})
    # A missing softdep is only best effort.
    order = kmod.resolve(['a'], {'a': entry(softdep=['gone'])})
    assert order == (['a'], [])


def test_module_names_and_softdeps():
    assert kmod.module_name('kernel/fs/nls/nls-cp437.ko.xz') == 'nls_cp437'
    assert kmod.module_name('a/b/sd_mod.ko') == 'sd_mod'
    assert kmod._softdeps(['pre: crc32c foo post: bar']) == ['crc32c',
                                                             'foo']


def test_decompress_xz_module():
    import lzma
    assert kmod.decompress('a.ko.xz', lzma.compress(b'ELF')) == b'ELF'
    assert kmod.decompress('a.ko', b'ELF') == b'ELF'


def test_copy_modules_writes_load_order(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    paths = {}
    for name in ('b', 'a'):
        paths[name] = src / (name + '.ko')
        paths[name].write_bytes(name.encode())
    listing = kmod.copy_modules(paths, ['b', 'a'], str(tmp_path / 'dest'))
    assert listing == 'b.ko\na.ko\n'
    assert (tmp_path / 'dest' / 'a.ko').read_bytes() == b'a'


# -- ELF ----------------------------------------------------------------------

def test_needed_of_a_host_program():
    data = Path(os.path.realpath(sys.executable)).read_bytes()
    assert elf.is_elf(data)
    names = elf.needed(data)
    assert any(n.startswith('libc.so') for n in names) or names == []
    with pytest.raises(ValueError):
        elf.needed(b'#!/bin/sh\n')


# -- Debian packages --------------------------------------------------------

DEPENDS_OUTPUT = """python3-jsonschema
  Depends: python3-attr
 |Depends: python3-importlib-metadata
  Depends: python3
  Depends: <python3:any>
    python3
  Recommends: python3-idna
mdadm
  PreDepends: init-system-helpers
 |Depends: debconf
  Depends: <debconf-2.0>
    cdebconf
    debconf
  Depends: libc6
"""


def test_parse_depends_groups_alternatives_and_virtuals():
    parsed = debs.parse_depends(DEPENDS_OUTPUT)
    groups = parsed['python3-jsonschema']
    assert groups[0] == [('python3-attr', None)]
    assert groups[1] == [('python3-importlib-metadata', None),
                         ('python3', None)]
    assert groups[2] == [('python3', ['python3'])]
    assert len(groups) == 3           # Recommends are ignored
    assert parsed['mdadm'][1] == [('debconf', None),
                                  ('debconf-2.0', ['cdebconf', 'debconf'])]


FAKE_APT = {
    'root': [[('backport', None), ('python3', None)], [('lib', None)],
             [('debconf', None)]],
    'lib': [[('python3', None)]],
    'python3': [[('libc6', None)]],
    'libc6': [],
}


def _fake_run(cmd, **kwargs):
    names = [a for a in cmd[2:] if not a.startswith('-')
             and not a.startswith('APT::')]
    out = ''
    for name in names:
        out += name + '\n'
        for group in FAKE_APT.get(name, []):
            for i, (alt, _) in enumerate(group):
                bar = '|' if i < len(group) - 1 else ' '
                out += ' %sDepends: %s\n' % (bar, alt)
    return out


def test_closure_prefers_needed_alternative_and_drops_excluded(
        monkeypatch):
    monkeypatch.setattr(debs, 'run', _fake_run)
    assert debs.closure(['root']) == ['lib', 'libc6', 'python3', 'root']


def test_deb_name_encodes_epoch():
    assert debs.deb_name('busybox-static', '1:1.35.0-4', 'amd64') == \
        'busybox-static_1%3a1.35.0-4_amd64.deb'
    assert debs.excluded('perl-modules-5.36')
    assert not debs.excluded('python3')


# -- cpio -----------------------------------------------------------------

def _tree(base, stamp):
    root = base / 'root'
    (root / 'usr/bin').mkdir(parents=True)
    (root / 'dev').mkdir()
    (root / 'init').write_text('#!/bin/sh\n')
    os.chmod(root / 'init', 0o755)
    (root / 'usr/bin/tool').write_bytes(b'x' * 1000)
    os.link(root / 'usr/bin/tool', root / 'usr/bin/tool2')
    os.symlink('usr/bin', root / 'bin')
    for path in root.rglob('*'):
        os.utime(path, (stamp, stamp), follow_symlinks=False)
    return root


def _entries(data):
    """(name, mode, uid, gid, mtime, body) of each newc entry."""
    result, pos = [], 0
    while True:
        head = data[pos:pos + 110]
        assert head[:6] == b'070701'
        fields = [int(head[6 + i * 8:14 + i * 8], 16) for i in range(13)]
        namesize, size = fields[11], fields[6]
        start = pos + 110
        name = data[start:start + namesize - 1].decode()
        body_at = start + namesize + (-(110 + namesize) % 4)
        body = data[body_at:body_at + size]
        result.append((name, fields[1], fields[2], fields[3], fields[5],
                       body))
        if name == 'TRAILER!!!':
            return result
        pos = body_at + size + (-size % 4)


def test_cpio_is_deterministic_and_normalised(tmp_path):
    one = _tree(tmp_path / 'a', 1000)
    two = _tree(tmp_path / 'b', 2000000)
    cpio.build(str(one), str(tmp_path / 'one.gz'), 12345)
    cpio.build(str(two), str(tmp_path / 'two.gz'), 12345)
    raw = (tmp_path / 'one.gz').read_bytes()
    assert raw == (tmp_path / 'two.gz').read_bytes()
    assert raw[4:8] == b'\0\0\0\0'            # gzip mtime 0
    entries = _entries(gzip.decompress(raw))
    names = [e[0] for e in entries]
    assert names == ['bin', 'dev', 'init', 'usr', 'usr/bin', 'usr/bin/tool',
                     'usr/bin/tool2', 'dev/console', 'TRAILER!!!']
    assert {(e[2], e[3]) for e in entries} == {(0, 0)}
    assert {e[4] for e in entries[:-1]} == {12345}
    by_name = {e[0]: e for e in entries}
    assert by_name['usr/bin/tool2'][5] == b'/usr/bin/tool'   # link
    assert by_name['init'][1] & 0o777 == 0o755


# -- agent, ISO, rootfs helpers ---------------------------------------------

def test_agent_files_follow_imports():
    files = agent.agent_files()
    assert 'bootflow/__init__.py' in files
    assert 'bootflow/agent/main.py' in files
    assert 'bootflow/bootos/templates.py' in files
    assert 'bootflow/bootos/template_schema.py' in files
    assert 'bootflow/bootos/__init__.py' in files
    assert not any(f.startswith(('bootflow/conductor', 'bootflow/api'))
                   for f in files)


def test_entry_points_hold_agent_groups_only():
    text = agent.agent_entry_points()
    assert '[bootflow.agent.collectors]' in text
    assert '[bootflow.agent.hardware_managers]' in text
    assert 'bootflow.hardware.types' not in text
    assert 'cpu = bootflow.agent.collectors:cpu' in text


def test_merged_paths():
    assert rootfs.merged_path('bin/busybox') == 'usr/bin/busybox'
    assert rootfs.merged_path('lib/x86_64-linux-gnu/libc.so.6') == \
        'usr/lib/x86_64-linux-gnu/libc.so.6'
    assert rootfs.merged_path('lib64') == 'usr/lib64'
    assert rootfs.merged_path('etc/mdadm') == 'etc/mdadm'


def test_prune_removes_patterns(tmp_path):
    for rel in ('usr/share/doc/x/copyright', 'usr/lib/python3.11/test/a.py',
                'usr/lib/python3.11/os.py', 'usr/lib/libx.a'):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text('x')
    rootfs.prune(str(tmp_path))
    assert (tmp_path / 'usr/lib/python3.11/os.py').exists()
    assert not (tmp_path / 'usr/share/doc').exists()
    assert not (tmp_path / 'usr/lib/python3.11/test').exists()
    assert not (tmp_path / 'usr/lib/libx.a').exists()


def test_isolinux_config_bakes_in_params():
    cfg = iso.isolinux_cfg(' ipa-api-url=http://x:6385 console=ttyS0 ')
    assert 'APPEND ipa-api-url=http://x:6385 console=ttyS0\n' in cfg
    assert 'INITRD /boot/initrd.gz' in cfg


# -- command line -----------------------------------------------------------

def test_cli_options(tmp_path):
    tool = tmp_path / 'tool'
    tool.write_text('#!/bin/sh\n')
    args = cli.build_parser().parse_args([
        '--output', 'out', '--cache-dir', 'c', '--kernel-abi', '6.1.0-9',
        '--package', 'qemu-utils', '--package', 'lldpd', '--module', 'bnxt_en',
        '--module-file', 'x.ko', '--file', '%s:/usr/bin/tool' % tool,
        '--no-iso', '--iso-append', 'a=b', '--no-cache'])
    opts = cli.options(args)
    assert opts == {'output': 'out', 'cache_dir': 'c',
                    'kernel_abi': '6.1.0-9',
                    'packages': ['qemu-utils', 'lldpd'],
                    'modules': ['bnxt_en'], 'module_files': ['x.ko'],
                    'files': ['%s:/usr/bin/tool' % tool],
                    'iso_image': False, 'iso_append': 'a=b',
                    'no_cache': True}
    defaults = cli.options(cli.build_parser().parse_args([]))
    assert defaults['output'] == 'bootos' and defaults['iso_image']
    assert defaults['cache_dir'] is None and not defaults['no_cache']
    assert parse_file_spec('%s:/usr/bin/tool' % tool) == (
        str(tool), '/usr/bin/tool')
    for bad in ('nocolon', '%s:relative' % tool, '/no/such:/x'):
        with pytest.raises(BuildError):
            parse_file_spec(bad)


# -- /init ------------------------------------------------------------------

@pytest.mark.parametrize('script', ['init', 'udhcpc.script'])
def test_scripts_parse_with_busybox_sh(script):
    busybox = shutil.which('busybox')
    if busybox is None:
        pytest.skip('busybox not installed (busybox-static)')
    proc = subprocess.run([busybox, 'sh', '-n', str(BUILD_DIR / script)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_init_prints_the_markers():
    text = (BUILD_DIR / 'init').read_text()
    for marker in ('BOOTOS: init', 'BOOTOS: network up', 'BOOTOS: agent '
                   'start', 'BOOTOS: agent exited'):
        assert marker in text
