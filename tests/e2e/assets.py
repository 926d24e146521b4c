"""What the test machine boots: a Debian kernel, a tiny initrd, a disk.

(And, for the ``pxe`` boot interface, the lpxelinux boot loader from the
Debian packages an operator installs for it.)

The kernel is a real Debian kernel, taken from the package archive with
``apt-get download`` (never installed) and cached, so repeated runs do not
download again.  The initrd and the disk's boot sector are built here, so
the test knows exactly what each one prints on the serial console.
"""

import fcntl
import gzip
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path

CACHE_ENV = 'BOOTFLOW_TEST_E2E_CACHE'
INITRD_MARKER = 'BOOTFLOW-E2E-INITRD-UP'
CMDLINE_TAG = 'BOOTFLOW-E2E-CMDLINE:'
DISK_MARKER = 'BOOTED-FROM-DISK'
DISK_EXIT_CODE = 33           # QEMU exits with (value << 1) | 1
_DISK_EXIT_VALUE = 0x10
BUSYBOX_PATHS = ('/bin/busybox', '/usr/bin/busybox')
APT_TIMEOUT = 600


class Unavailable(Exception):
    """A prerequisite of the real boot test is missing on this machine."""


def cache_dir():
    """Persistent cache: $BOOTFLOW_TEST_E2E_CACHE, else XDG's cache dir."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
    return Path(base) / 'bootflow-e2e'


@contextmanager
def _locked(directory):
    """Hold an exclusive lock on directory, so pytest workers take turns."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --------------------------------------------------------------------------
# Kernel
# --------------------------------------------------------------------------

def _run(cmd, **kwargs):
    """Run a command; a missing program or a failure raises Unavailable."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True,
                              check=True, stdin=subprocess.DEVNULL,
                              timeout=APT_TIMEOUT, **kwargs).stdout
    except FileNotFoundError as exc:
        raise Unavailable('%s not found: %s' % (cmd[0], exc))
    except subprocess.CalledProcessError as exc:
        raise Unavailable('%s failed (code %s): %s' % (
            ' '.join(cmd), exc.returncode, exc.stderr.strip()[-800:]))
    except subprocess.TimeoutExpired:
        raise Unavailable('%s timed out' % ' '.join(cmd))


def _abi_from_apt():
    """The ABI linux-image-amd64 depends on, e.g. '6.1.0-57'; or None."""
    try:
        out = _run(['apt-cache', 'depends', 'linux-image-amd64'])
    except Unavailable:
        return None
    match = re.search(r'Depends: linux-image-(\S+)-amd64', out)
    return match.group(1) if match else None


def kernel_abi():
    """Find the current kernel ABI, refreshing apt's lists once if needed."""
    abi = _abi_from_apt()
    if abi is None and shutil.which('apt-get') and os.geteuid() == 0:
        _run(['apt-get', 'update'])
        abi = _abi_from_apt()
    if abi is None:
        raise Unavailable('apt-cache knows no linux-image-amd64 (is this '
                          'Debian with apt lists? try apt-get update)')
    return abi


def _extract_vmlinuz(deb, member, dest):
    """Stream the package's data tarball and write only member to dest."""
    # Stopping early breaks dpkg-deb's pipe, and it says so on stderr:
    # that is expected, so stderr is dropped.
    try:
        proc = subprocess.Popen(['dpkg-deb', '--fsys-tarfile', str(deb)],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise Unavailable('dpkg-deb not found: %s' % exc)
    try:
        with tarfile.open(fileobj=proc.stdout, mode='r|') as tar:
            for info in tar:
                if info.name == member:
                    with open(dest, 'wb') as out:
                        shutil.copyfileobj(tar.extractfile(info), out)
                    return
    finally:
        proc.stdout.close()
        code = proc.wait()
    raise Unavailable('%s not in %s (dpkg-deb exit code %s)'
                      % (member, deb.name, code))


def _download_kernel(abi, dest):
    """apt-get download the kernel package and keep only its vmlinuz."""
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        # apt drops to user _apt for downloads: let it write here.
        os.chmod(tmp, 0o777)
        package = 'linux-image-%s-amd64' % abi
        _run(['apt-get', 'download', package], cwd=tmp)
        debs = sorted(Path(tmp).glob(package + '_*.deb'))
        if not debs:
            raise Unavailable('apt-get download left no %s .deb' % package)
        part = Path(tmp) / 'vmlinuz.part'
        _extract_vmlinuz(debs[0], './boot/vmlinuz-%s-amd64' % abi, part)
        os.replace(part, dest)


def _cached_kernels(directory):
    """Kernels already in the cache, newest first."""
    return sorted(directory.glob('vmlinuz-*'), key=os.path.getmtime,
                  reverse=True)


def debian_kernel():
    """Path of a cached Debian vmlinuz, downloading it the first time.

    Falls back to an older cached kernel when apt cannot tell the current
    one or download it (e.g. offline), since any recent kernel will do.
    """
    directory = cache_dir()
    with _locked(directory):
        try:
            abi = kernel_abi()
            dest = directory / ('vmlinuz-%s-amd64' % abi)
            if not dest.exists():
                _download_kernel(abi, dest)
            return dest
        except Unavailable:
            cached = _cached_kernels(directory)
            if cached:
                return cached[0]
            raise


# --------------------------------------------------------------------------
# Initrd: a newc cpio archive, gzipped
# --------------------------------------------------------------------------

def _pad4(length):
    return b'\0' * (-length % 4)


class Cpio:
    """Writes a newc ("070701") cpio archive in memory, as the kernel reads.

    Each entry is a 110-byte ASCII header of 13 eight-digit hex fields,
    the NUL-terminated name, padding to 4 bytes, the data, padding again.
    """

    def __init__(self):
        self.chunks = []
        self.ino = 0

    def add(self, name, mode, data=b'', rdev=(0, 0)):
        self.ino += 1
        name = name.encode() + b'\0'
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0,
                  rdev[0], rdev[1], len(name), 0)
        header = b'070701' + b''.join(b'%08X' % f for f in fields)
        self.chunks += [header, name, _pad4(len(header) + len(name)),
                        data, _pad4(len(data))]

    def directory(self, name):
        self.add(name, stat.S_IFDIR | 0o755)

    def file(self, name, data, perm=0o644):
        self.add(name, stat.S_IFREG | perm, data)

    def symlink(self, name, target):
        self.add(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor):
        self.add(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self):
        """Append the trailer entry and return the archive's bytes."""
        self.ino = -1
        self.add('TRAILER!!!', 0)
        return b''.join(self.chunks)


INIT_SCRIPT = """#!/bin/sh
# bootflow e2e initrd: say we are up, show the command line, power off.
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb dmesg -n 1
echo
echo %(marker)s
echo "%(tag)s $($bb cat /proc/cmdline)"
$bb sync
$bb poweroff -f
""" % {'marker': INITRD_MARKER, 'tag': CMDLINE_TAG}


def printed_cmdline(serial):
    """The kernel parameters the initrd printed from /proc/cmdline."""
    for line in serial.splitlines():
        if line.startswith(CMDLINE_TAG):
            return line[len(CMDLINE_TAG):].split()
    return None


def find_busybox():
    """A statically linked busybox (busybox-static), or Unavailable."""
    for path in BUSYBOX_PATHS:
        if os.path.isfile(path):
            return Path(path)
    raise Unavailable('no busybox at %s (install busybox-static)'
                      % ' or '.join(BUSYBOX_PATHS))


def build_initrd(dest, busybox=None):
    """Write dest: gzipped cpio with busybox, /bin/sh and the /init."""
    busybox = Path(busybox or find_busybox())
    cpio = Cpio()
    for name in ('bin', 'dev', 'proc'):
        cpio.directory(name)
    cpio.chardev('dev/console', 5, 1)
    cpio.file('bin/busybox', busybox.read_bytes(), 0o755)
    cpio.symlink('bin/sh', 'busybox')
    cpio.file('init', INIT_SCRIPT.encode(), 0o755)
    Path(dest).write_bytes(gzip.compress(cpio.finish(), mtime=0))
    return Path(dest)


# --------------------------------------------------------------------------
# Disk: an MBR whose boot code prints a marker on COM1 and ends QEMU
# --------------------------------------------------------------------------

_ORIGIN = 0x7C00
COM1 = 0x3F8


def _assemble(program):
    """Two-pass assembly of a tiny program of fixed-size items.

    Items are bytes, a label name (str), or a tuple: ('rel8', opcode,
    label) for a short jump, ('abs16', opcode, label) for an instruction
    taking a label's absolute address as a 16-bit immediate.
    """
    def size(item):
        if isinstance(item, str):
            return 0
        if isinstance(item, tuple):
            return len(item[1]) + (1 if item[0] == 'rel8' else 2)
        return len(item)

    labels, offset = {}, 0
    for item in program:
        if isinstance(item, str):
            labels[item] = offset
        offset += size(item)
    code, offset = bytearray(), 0
    for item in program:
        offset += size(item)
        if isinstance(item, tuple):
            kind, opcode, label = item
            if kind == 'rel8':
                rel = labels[label] - offset
                assert -128 <= rel < 128, item
                code += opcode + (rel & 0xFF).to_bytes(1, 'little')
            else:
                code += opcode + (_ORIGIN + labels[label]).to_bytes(
                    2, 'little')
        elif not isinstance(item, str):
            code += item
    return bytes(code)


def boot_sector_code(message):
    """16-bit real-mode code: write message to COM1, then isa-debug-exit.

    It waits for the UART's transmit register to be empty before each
    byte (line status bit 5), so no byte is dropped.
    """
    lsr = (COM1 + 5).to_bytes(2, 'little')
    return _assemble([
        b'\xFA',                            # cli
        b'\x31\xC0',                        # xor ax, ax
        b'\x8E\xD8',                        # mov ds, ax
        b'\xFC',                            # cld
        ('abs16', b'\xBE', 'message'),      # mov si, message
        'next',
        b'\xAC',                            # lodsb
        b'\x84\xC0',                        # test al, al
        ('rel8', b'\x74', 'done'),          # jz done
        b'\x88\xC4',                        # mov ah, al
        b'\xBA' + lsr,                      # mov dx, COM1 + 5
        'busy',
        b'\xEC',                            # in al, dx
        b'\xA8\x20',                        # test al, 0x20
        ('rel8', b'\x74', 'busy'),          # jz busy
        b'\xBA' + COM1.to_bytes(2, 'little'),   # mov dx, COM1
        b'\x88\xE0',                        # mov al, ah
        b'\xEE',                            # out dx, al
        ('rel8', b'\xEB', 'next'),          # jmp next
        'done',
        b'\xBA\xF4\x00',                    # mov dx, 0xf4 (isa-debug-exit)
        b'\xB0' + bytes([_DISK_EXIT_VALUE]),    # mov al, value
        b'\xEE',                            # out dx, al
        'halt',
        b'\xF4',                            # hlt
        ('rel8', b'\xEB', 'halt'),          # jmp halt
        'message',
        b'\r\n' + message.encode() + b'\r\n\0',
    ])


def build_disk(dest, size_mib=1, message=DISK_MARKER):
    """Write a raw disk image whose MBR boots and prints message."""
    code = boot_sector_code(message)
    assert len(code) <= 446, 'boot code overlaps the partition table'
    sector = code.ljust(510, b'\0') + b'\x55\xAA'
    with open(dest, 'wb') as disk:
        disk.write(sector)
        disk.truncate(size_mib * 1024 * 1024)
    return Path(dest)


# --------------------------------------------------------------------------
# lpxelinux: the BIOS PXE boot loader the ``pxe`` boot interface writes for
# --------------------------------------------------------------------------

# What an operator copies into [pxe]tftp_root, and the package of each.
PXELINUX_FILES = (
    ('lpxelinux.0', Path('/usr/lib/PXELINUX/lpxelinux.0'), 'pxelinux'),
    ('ldlinux.c32', Path('/usr/lib/syslinux/modules/bios/ldlinux.c32'),
     'syslinux-common'),
)


def install_pxelinux(tftp_root):
    """Copy lpxelinux.0 and ldlinux.c32 into tftp_root, as an operator does.

    lpxelinux (not pxelinux.0) because only it speaks HTTP, and bootflow
    sends kernels and initrds over HTTP only.  Unavailable names the
    Debian package of a missing file.
    """
    missing = ['%s (package %s)' % (source, package)
               for _, source, package in PXELINUX_FILES
               if not source.is_file()]
    if missing:
        raise Unavailable('no %s: install pxelinux and syslinux-common'
                          % ', '.join(missing))
    tftp_root = Path(tftp_root)
    tftp_root.mkdir(parents=True, exist_ok=True)
    for name, source, _ in PXELINUX_FILES:
        shutil.copyfile(source, tftp_root / name)
    return tftp_root


# --------------------------------------------------------------------------
# GRUB: the i386-pc PXE image the ``http`` and ``grub-iso`` interfaces'
# configs are read by, and an ISO for GRUB's ``loopback`` to open
# --------------------------------------------------------------------------

GRUB_PC_DIR = Path('/usr/lib/grub/i386-pc')
GRUB_MARKER = 'BOOTFLOW-E2E-GRUB-UP'
# Everything the configs bootflow writes use, built in: with a prefix on
# (http,...) GRUB would fetch any other module from the HTTP server,
# which holds none.
GRUB_MODULES = (
    'pxe', 'net', 'tftp', 'http', 'normal', 'configfile', 'echo', 'test',
    'regexp', 'loopback', 'iso9660', 'linux', 'chain', 'biosdisk',
    'part_msdos', 'serial', 'terminal')
# Embedded, run before normal mode: GRUB's messages go to COM1 too, so a
# failure shows on the serial log (SeaBIOS and iPXE print to VGA only).
GRUB_EARLY_CFG = """serial --unit=0 --speed=115200
terminal_output --append serial
echo %s prefix=$prefix mac=$net_default_mac
""" % GRUB_MARKER
ISO_PAD_MIB = 64


def _require_tool(name, package):
    """The program's path, or Unavailable naming its Debian package."""
    path = shutil.which(name)
    if path is None:
        raise Unavailable('%s not found (install %s)' % (name, package))
    return path


def grub_version():
    """E.g. '2.06-13+deb12u2', from grub-mkimage --version."""
    out = _run([_require_tool('grub-mkimage', 'grub-common'), '--version'])
    return out.split()[-1] if out.split() else 'unknown'


def build_grub_pxe(dest, prefix):
    """Write dest: GRUB i386-pc as a PXE boot program (``core.0``).

    SeaBIOS' PXE (the NIC's iPXE ROM) loads it over TFTP; it takes the
    PXE stack's DHCP lease and reads ``prefix``/grub.cfg in normal mode.
    """
    mkimage = _require_tool('grub-mkimage', 'grub-common')
    missing = [m for m in GRUB_MODULES
               if not (GRUB_PC_DIR / (m + '.mod')).is_file()]
    if missing:
        raise Unavailable('no GRUB i386-pc modules %s in %s (install '
                          'grub-pc-bin)' % (' '.join(missing), GRUB_PC_DIR))
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    early = dest.with_name(dest.name + '.early.cfg')
    early.write_text(GRUB_EARLY_CFG)
    _run([mkimage, '-d', str(GRUB_PC_DIR), '-O', 'i386-pc-pxe',
          '-o', str(dest), '-p', prefix, '-c', str(early)]
         + list(GRUB_MODULES))
    return dest


def build_iso(dest, members, pad_mib=ISO_PAD_MIB):
    """Write dest: an ISO 9660 (Rock Ridge, Joliet) holding ``members``.

    ``members`` maps paths inside the ISO to files here.  No El Torito:
    GRUB's loopback only reads files.  ``pad_mib`` MiB of zeros in
    /pad/zero make the ISO much bigger than what booting reads, so the
    bytes a boot transfers show whether GRUB seeks or downloads it all.
    """
    xorriso = _require_tool('xorriso', 'xorriso')
    dest = Path(dest)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        for inside, source in members.items():
            target = Path(tmp, inside.lstrip('/'))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        if pad_mib:
            (Path(tmp) / 'pad').mkdir()
            with open(Path(tmp) / 'pad' / 'zero', 'wb') as pad:
                pad.truncate(pad_mib * 1024 * 1024)
        _run([xorriso, '-as', 'mkisofs', '-quiet', '-o', str(dest),
              '-R', '-J', tmp])
    return dest
