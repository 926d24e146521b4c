"""Replacing a file so its readers see the old text or the new, never
half of either.

Boot configs are read by booting nodes through the HTTP server, and
dnsmasq reads its host and option files the moment they change: both
must only ever find complete files. The temporary file is a dotfile in
the same directory (same file system, so the rename is atomic; dnsmasq
skips dotfiles), and it is fsynced together with the directory, so after
a crash the file holds one version or the other.
"""

import os
import tempfile

TEMP_PREFIX = '.bootflow-'


def read(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def write(path, text, mode=0o644, parents=False):
    """``parents``: create missing directories (boot file trees are made
    on demand; dnsmasq's directories must exist, a missing one is the
    operator's error)."""
    directory = os.path.dirname(path) or '.'
    if parents:
        os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX,
                               suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def write_if_changed(path, text, mode=0o644, parents=False):
    """:func:`write` unless ``path`` already holds ``text``; True when it
    wrote."""
    if read(path) == text:
        return False
    write(path, text, mode, parents)
    return True


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
