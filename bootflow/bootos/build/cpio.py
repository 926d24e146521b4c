"""The initramfs: a gzipped newc cpio archive, byte-for-byte reproducible.

Entries are written in sorted order with inode numbers counted from 1,
owner root, one fixed mtime, and gzip's own timestamp zeroed, so the
same tree always gives the same bytes.  Files hard-linked to each other
become symlinks to the first of them: the kernel's unpacker handles
those without the newc hard-link dance.
"""

import gzip
import os
import stat

MAGIC = b'070701'
TRAILER = 'TRAILER!!!'
CHUNK = 1 << 20


def _pad(length):
    return b'\0' * (-length % 4)


def header(name, mode, size, ino, mtime, rdev=(0, 0), nlink=1):
    """One newc header plus the padded NUL-terminated name."""
    raw = name.encode() + b'\0'
    fields = (ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdev[0], rdev[1],
              len(raw), 0)
    head = MAGIC + b''.join(b'%08X' % f for f in fields)
    return head + raw + _pad(len(head) + len(raw))


class Writer:
    """Streams entries into a file object (plain or gzip)."""

    def __init__(self, out, mtime=0):
        self.out = out
        self.mtime = int(mtime)
        self.ino = 0
        self.count = 0

    def _entry(self, name, mode, data=b'', rdev=(0, 0)):
        self.ino += 1
        self.count += 1
        self.out.write(header(name, mode, len(data), self.ino, self.mtime,
                              rdev, 2 if stat.S_ISDIR(mode) else 1))
        self.out.write(data + _pad(len(data)))

    def directory(self, name, perm=0o755):
        self._entry(name, stat.S_IFDIR | perm)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, perm=0o600):
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def file(self, name, path, perm):
        """A regular file copied from path in chunks (no whole-file
        read: Python's libraries and the agent add up)."""
        size = os.path.getsize(path)
        self.ino += 1
        self.count += 1
        self.out.write(header(name, stat.S_IFREG | perm, size, self.ino,
                              self.mtime))
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(CHUNK), b''):
                self.out.write(chunk)
        self.out.write(_pad(size))

    def finish(self):
        self.ino = 0
        self._entry(TRAILER, 0)


def walk(root):
    """Relative paths under root, parents before children, sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        names = sorted(dirnames + filenames)
        for name in names:
            yield os.path.normpath(os.path.join(rel_dir, name))


def write_tree(writer, root, devices=()):
    """Every file under root, plus devices [(name, major, minor)]."""
    seen = {}
    skip = {d[0] for d in devices}
    for rel in walk(root):
        if rel in skip:
            continue
        full = os.path.join(root, rel)
        st = os.lstat(full)
        perm = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            writer.directory(rel, perm)
        elif stat.S_ISLNK(st.st_mode):
            writer.symlink(rel, os.readlink(full))
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in seen:
                writer.symlink(rel, '/' + seen[key])
                continue
            seen[key] = rel
            writer.file(rel, full, perm)
    # After the tree, so their directories exist when the kernel
    # unpacks them.
    for name, major, minor in devices:
        writer.chardev(name, major, minor)
    writer.finish()
    return writer.count


def build(root, dest, mtime, devices=(('dev/console', 5, 1),), level=9):
    """Write dest: root as a gzipped newc cpio; return the entry count."""
    tmp = dest + '.part'
    with open(tmp, 'wb') as raw:
        with gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0,
                           compresslevel=level) as gz:
            count = write_tree(Writer(gz, mtime), root, devices)
    os.replace(tmp, dest)
    return count
