"""Small helpers every builder step shares: errors, commands, hashes.

Kept apart so the step modules (debs, kmod, rootfs, cpio, iso) import
nothing from one another but what they really use.
"""

import hashlib
import logging
import os
import shutil
import subprocess

LOG = logging.getLogger('bootflow.bootos.build')
COMMAND_TIMEOUT = 900


class BuildError(Exception):
    """The image cannot be built; the message says what to fix."""


def run(cmd, cwd=None, env=None, stdin=subprocess.DEVNULL):
    """Run a command and return its stdout; any failure is a BuildError.

    The builder shells out only to apt, dpkg-deb and xorriso, whose
    messages are what an operator needs to see, so stderr's tail goes
    into the error.
    """
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=stdin,
                              capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT)
    except FileNotFoundError as exc:
        raise BuildError('%s not found: %s' % (cmd[0], exc))
    except subprocess.TimeoutExpired:
        raise BuildError('%s timed out after %ss'
                         % (' '.join(cmd), COMMAND_TIMEOUT))
    if proc.returncode != 0:
        raise BuildError('%s failed (exit code %s): %s' % (
            ' '.join(cmd), proc.returncode, proc.stderr.strip()[-1500:]))
    return proc.stdout


def require_tool(name, package):
    """The program's path, or a BuildError naming its Debian package."""
    path = shutil.which(name)
    if path is None:
        raise BuildError('%s not found on this host (install %s)'
                         % (name, package))
    return path


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def replace_tree(src, dest):
    """Move a finished directory into place, replacing an older one."""
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    os.replace(src, dest)
