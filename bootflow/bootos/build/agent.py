"""The agent inside the ramdisk: its sources, metadata and bytecode.

Only what the agent imports is copied (``bootflow/agent`` plus the
bootflow modules it reaches, found by reading the import statements),
with a ``bootflow-<version>.dist-info`` whose entry_points.txt carries
the ``bootflow.agent.*`` groups: stevedore and importlib.metadata find
the collectors and hardware managers through it, exactly as on a host
where bootflow is pip-installed.
"""

import ast
import configparser
import hashlib
import importlib.metadata
import os
import shutil
import subprocess

import bootflow
from bootflow.bootos.build.common import BuildError
from bootflow.bootos.build.common import LOG

SITE = 'usr/lib/python3/dist-packages'
STDLIB = 'usr/lib/python3.11'
GROUP_PREFIX = 'bootflow.agent.'
LAUNCHER = '''#!/usr/bin/python3
"""BootOS agent launcher (written by bootflow-build-bootos)."""
import sys

from bootflow.agent.main import main

sys.exit(main())
'''


def source_dir():
    """The directory holding the bootflow package being built from."""
    return os.path.dirname(os.path.dirname(os.path.abspath(
        bootflow.__file__)))


def _module_file(src, dotted):
    """Relative path of module dotted under src, or None."""
    base = os.path.join(*dotted.split('.'))
    for rel in (base + '.py', os.path.join(base, '__init__.py')):
        if os.path.isfile(os.path.join(src, rel)):
            return rel
    return None


def _imports(src, rel):
    """bootflow module names one source file imports."""
    with open(os.path.join(src, rel), 'rb') as f:
        tree = ast.parse(f.read(), rel)
    package = os.path.dirname(rel).replace(os.sep, '.')
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')
                parts = parts[:len(parts) - node.level + 1]
                base = '.'.join(parts + ([base] if base else []))
            names.append(base)
            names += ['%s.%s' % (base, a.name) for a in node.names]
    return [n for n in names if n == 'bootflow' or
            n.startswith('bootflow.')]


def agent_files(src=None):
    """Sorted relative paths: bootflow/__init__.py, all of bootflow/agent
    and every bootflow module reachable from their imports (with the
    __init__.py of each package on the way)."""
    src = src or source_dir()
    todo = ['bootflow/__init__.py']
    for dirpath, dirnames, filenames in os.walk(
            os.path.join(src, 'bootflow', 'agent')):
        dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
        todo += [os.path.relpath(os.path.join(dirpath, n), src)
                 for n in filenames if n.endswith('.py')]
    found = set()
    while todo:
        rel = todo.pop()
        if rel in found:
            continue
        found.add(rel)
        parts = os.path.dirname(rel).split(os.sep)
        for i in range(1, len(parts) + 1):
            init = os.path.join(*parts[:i], '__init__.py')
            if os.path.isfile(os.path.join(src, init)):
                todo.append(init)
        for name in _imports(src, rel):
            module = _module_file(src, name)
            if module:
                todo.append(module)
    return sorted(found)


def agent_entry_points(src=None):
    """entry_points.txt text holding the bootflow.agent.* groups, from
    setup.cfg beside the sources, else from the installed metadata."""
    src = src or source_dir()
    groups = {}
    cfg_path = os.path.join(src, 'setup.cfg')
    if os.path.isfile(cfg_path):
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(cfg_path)
        for group, value in cfg.items('entry_points'):
            if group.startswith(GROUP_PREFIX):
                groups[group] = [line.strip() for line in value.splitlines()
                                 if line.strip()]
    else:
        for ep in importlib.metadata.entry_points():
            if ep.group.startswith(GROUP_PREFIX):
                groups.setdefault(ep.group, []).append(
                    '%s = %s' % (ep.name, ep.value))
    if not groups:
        raise BuildError('no %s* entry points found in %s or the installed '
                         'bootflow metadata' % (GROUP_PREFIX, cfg_path))
    return ''.join('[%s]\n%s\n\n' % (g, '\n'.join(lines))
                   for g, lines in sorted(groups.items()))


def version():
    try:
        return importlib.metadata.version('bootflow')
    except importlib.metadata.PackageNotFoundError:
        return '0+unknown'


def source_hash(src=None):
    """sha256 of what the agent copy depends on: its files, its entry
    points and its version; part of the cache key."""
    src = src or source_dir()
    digest = hashlib.sha256(version().encode() + b'\0')
    digest.update(agent_entry_points(src).encode())
    for rel in agent_files(src):
        with open(os.path.join(src, rel), 'rb') as f:
            digest.update(rel.encode() + b'\0' + f.read())
    return digest.hexdigest()


def install(root, src=None):
    """Copy the agent into root's site-packages with its dist-info and
    the /usr/bin/bootos-agent launcher; return the copied files."""
    src = src or source_dir()
    files = agent_files(src)
    for rel in files:
        dest = os.path.join(root, SITE, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(os.path.join(src, rel), dest)
        os.chmod(dest, 0o644)
    info = os.path.join(root, SITE, 'bootflow-%s.dist-info' % version())
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\nName: bootflow\nVersion: %s\n'
                'Summary: BootOS agent of bootflow\n' % version())
    with open(os.path.join(info, 'entry_points.txt'), 'w') as f:
        f.write(agent_entry_points(src))
    with open(os.path.join(info, 'top_level.txt'), 'w') as f:
        f.write('bootflow\n')
    launcher = os.path.join(root, 'usr/bin/bootos-agent')
    with open(launcher, 'w') as f:
        f.write(LAUNCHER)
    os.chmod(launcher, 0o755)
    return files


def _target_python(root):
    """argv and env that run root's own python3.11 on this host, so the
    bytecode is exactly what the ramdisk's interpreter writes."""
    loader = os.path.join(root, 'usr/lib64/ld-linux-x86-64.so.2')
    exe = os.path.join(root, 'usr/bin/python3.11')
    libs = ':'.join(os.path.join(root, d) for d in
                    ('usr/lib/x86_64-linux-gnu', 'usr/lib'))
    env = {'PYTHONHOME': os.path.join(root, 'usr'), 'LC_ALL': 'C',
           'PATH': '/usr/bin:/bin', 'PYTHONHASHSEED': '0'}
    return [loader, '--library-path', libs, exe, '-S', '-B'], env


def compile_tree(root):
    """Byte-compile the stdlib, dist-packages and the agent in place.

    unchecked-hash .pyc files are never compared with their source at
    import, so a ramdisk whose files all carry one fixed mtime never
    recompiles, and the bytes do not depend on when the build ran.
    """
    argv, env = _target_python(root)
    dirs = [os.path.join(root, d) for d in (STDLIB, SITE)
            if os.path.isdir(os.path.join(root, d))]
    cmd = argv + ['-m', 'compileall', '-q', '-j', '1', '-s', root, '-p',
                  '/', '--invalidation-mode', 'unchecked-hash'] + dirs
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if proc.returncode not in (0, 1):
        raise BuildError('byte-compiling with the ramdisk python failed '
                         '(%s): %s' % (proc.returncode, proc.stderr[-1500:]))
    if proc.returncode == 1:
        LOG.warning('some files did not compile: %s',
                    (proc.stdout + proc.stderr).strip()[-800:])
