"""Low-level access to the disk an image goes to.

A device is a path to a block device or to a regular file: tests and
developers deploy to file-backed disks through the very same code, so
nothing here may assume a block device (no ioctls for the size: seeking
to the end works for both) and nothing may truncate or recreate the
target. Anything else (a directory, a FIFO, a character device such as
/dev/zero) is refused before it is opened for writing.
"""

import errno
import logging
import os
import stat

from bootflow.agent.config import base
from bootflow.agent.imaging import ImageError

LOG = logging.getLogger(__name__)

MIB = 1024 * 1024


def device_path(root, name):
    """Where disk ``name`` (from the inventory) is: under a fixture root
    when the agent runs against one instead of the real /dev."""
    if not root or root == '/':
        return name
    return os.path.join(root, name.lstrip('/'))


def is_block(path):
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


def _check_kind(path, mode):
    if not (stat.S_ISBLK(mode) or stat.S_ISREG(mode)):
        raise ImageError('%s is neither a block device nor a regular file; '
                         'refusing to write an image to it' % path)


def open_device(path, write=True):
    """A file descriptor on the device (the caller closes it)."""
    try:
        _check_kind(path, os.stat(path).st_mode)
        fd = os.open(path, (os.O_RDWR if write else os.O_RDONLY)
                     | os.O_CLOEXEC)
    except OSError as exc:
        raise ImageError('cannot open %s: %s' % (
            path, exc.strerror or exc)) from None
    try:
        # the path may have been swapped between stat and open
        _check_kind(path, os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def device_size(fd):
    """Bytes of a block device or file, from an open descriptor."""
    size = os.lseek(fd, 0, os.SEEK_END)
    os.lseek(fd, 0, os.SEEK_SET)
    return size


def write_all(fd, data, offset):
    """pwrite all of ``data`` at ``offset`` (pwrite may write less)."""
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        if done <= 0:
            raise OSError(errno.EIO, 'short write at offset %d' % offset)
        view = view[done:]
        offset += done


def sync(fd):
    os.fsync(fd)


def zero_range(fd, offset, length):
    """Overwrite ``length`` bytes at ``offset`` with zeros, then fsync."""
    chunk = bytes(min(length, MIB))
    end = offset + length
    while offset < end:
        size = min(len(chunk), end - offset)
        write_all(fd, memoryview(chunk)[:size], offset)
        offset += size
    os.fsync(fd)


def wipe_ends(path, nbytes=MIB):
    """Zero the first and last ``nbytes`` of a device: the MBR/GPT and
    the backup GPT, so firmware finds nothing to boot from a failed
    write. Runs while another error propagates, so it never raises:
    False (logged) when the wipe itself failed."""
    try:
        fd = open_device(path)
    except ImageError as exc:
        LOG.error('cannot wipe %s: %s', path, exc)
        return False
    try:
        size = device_size(fd)
        head = min(nbytes, size)
        zero_range(fd, 0, head)
        tail = max(size - nbytes, head)
        if tail < size:
            zero_range(fd, tail, size - tail)
        return True
    except OSError as exc:
        LOG.error('cannot wipe %s: %s', path, exc.strerror or exc)
        return False
    finally:
        os.close(fd)


def reread_partitions(path, tools):
    """Tell the kernel about the partition table just written (block
    devices only; best effort: a disk in use keeps its old view, which
    the next boot fixes). partx -u, then blockdev --rereadpt as well,
    since partx alone missed new partitions on loop devices. True when
    either worked."""
    if not is_block(path):
        return False
    tools = tools or base.Tools()
    done = False
    for argv in (['partx', '-u', path], ['blockdev', '--rereadpt', path]):
        try:
            rc, _out, err = tools.call(argv)
        except base.ConfigError as exc:
            LOG.warning('%s', exc)
            continue
        if rc == 0:
            done = True
        else:
            LOG.warning('%s failed (exit %d): %s', ' '.join(argv), rc,
                        err.strip())
    return done
