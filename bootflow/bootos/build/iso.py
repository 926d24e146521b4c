"""A BIOS-bootable ISO (El Torito, ISOLINUX) holding kernel + initramfs.

Virtual media cannot pass kernel parameters the way a network boot
does, so the ones the agent needs are written into isolinux.cfg.
ISOLINUX comes from Debian's isolinux and syslinux-common packages (the
same download cache as everything else); only xorriso is needed on the
build host.  The ISO is also an isohybrid image, so it can be dd'ed to
a USB stick.
"""

import os
import shutil
import subprocess
import tempfile

from bootflow.bootos.build.common import BuildError
from bootflow.bootos.build.common import require_tool

PACKAGES = ('isolinux', 'syslinux-common')
ISOLINUX_BIN = 'usr/lib/ISOLINUX/isolinux.bin'
ISOHDPFX = 'usr/lib/ISOLINUX/isohdpfx.bin'
LDLINUX = 'usr/lib/syslinux/modules/bios/ldlinux.c32'
DEFAULT_APPEND = 'console=tty0 console=ttyS0,115200n8'
VOLUME_ID = 'BOOTOS'


def isolinux_cfg(append):
    """ISOLINUX's config: boot at once, mirror its messages on COM1."""
    return ('SERIAL 0 115200\nDEFAULT bootos\nPROMPT 0\nTIMEOUT 0\n'
            'LABEL bootos\n  KERNEL /boot/vmlinuz\n'
            '  INITRD /boot/initrd.gz\n  APPEND %s\n' % append.strip())


def _find(unpacked, rel):
    for directory in unpacked:
        path = os.path.join(directory, rel)
        if os.path.isfile(path):
            return path
    raise BuildError('%s is in none of the %s packages'
                     % (rel, ' '.join(PACKAGES)))


def build(dest, kernel, initramfs, unpacked, append, mtime):
    """Write dest; unpacked are the isolinux/syslinux-common dirs."""
    xorriso = require_tool('xorriso', 'xorriso')
    with tempfile.TemporaryDirectory(dir=os.path.dirname(dest)) as tmp:
        tree = os.path.join(tmp, 'tree')
        for sub in ('boot', 'isolinux'):
            os.makedirs(os.path.join(tree, sub))
        # Copies, never links: the boot info table is patched into the
        # boot image, which must not be the cached package file.
        shutil.copyfile(kernel, os.path.join(tree, 'boot/vmlinuz'))
        shutil.copyfile(initramfs, os.path.join(tree, 'boot/initrd.gz'))
        shutil.copyfile(_find(unpacked, ISOLINUX_BIN),
                        os.path.join(tree, 'isolinux/isolinux.bin'))
        shutil.copyfile(_find(unpacked, LDLINUX),
                        os.path.join(tree, 'isolinux/ldlinux.c32'))
        with open(os.path.join(tree, 'isolinux/isolinux.cfg'), 'w') as f:
            f.write(isolinux_cfg(append))
        for dirpath, dirnames, filenames in os.walk(tree):
            for name in dirnames + filenames:
                os.utime(os.path.join(dirpath, name), (mtime, mtime))
        os.utime(tree, (mtime, mtime))
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(int(mtime)))
        cmd = [xorriso, '-as', 'mkisofs', '-quiet', '-o', dest + '.part',
               '-V', VOLUME_ID, '-R', '-J',
               '-isohybrid-mbr', _find(unpacked, ISOHDPFX),
               '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat',
               '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
               tree]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise BuildError('xorriso failed (%s): %s' % (
                proc.returncode, proc.stderr.strip()[-1500:]))
    os.replace(dest + '.part', dest)
    return dest
