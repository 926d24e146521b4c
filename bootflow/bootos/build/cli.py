"""``bootflow-build-bootos``: build the BootOS kernel, initramfs and ISO.

Prints the output paths (or the whole manifest with --json).  Exit code
0 on success, 1 when the build failed (the message says why).
"""

import argparse
import json
import logging
import sys
import time

from bootflow.bootos.build import builder
from bootflow.bootos.build import iso
from bootflow.bootos.build.common import BuildError


def build_parser():
    p = argparse.ArgumentParser(
        prog='bootflow-build-bootos',
        description='Build the BootOS ramdisk (Debian kernel + busybox + '
                    'Python + bootos-agent) from Debian packages.')
    p.add_argument('--output', default='bootos',
                   help='directory for the outputs (default ./bootos)')
    p.add_argument('--cache-dir', default=None,
                   help='download and image cache (default '
                        '${XDG_CACHE_HOME:-~/.cache}/bootflow/bootos)')
    p.add_argument('--kernel-abi', default=None,
                   help='kernel ABI, e.g. 6.1.0-57 (default: the one '
                        'linux-image-amd64 depends on)')
    p.add_argument('--package', action='append', default=[],
                   dest='packages', metavar='PKG',
                   help='extra Debian package (repeatable)')
    p.add_argument('--module', action='append', default=[],
                   dest='modules', metavar='NAME',
                   help='extra in-tree kernel module (repeatable)')
    p.add_argument('--module-file', action='append', default=[],
                   dest='module_files', metavar='PATH.ko',
                   help='out-of-tree module, loaded after the in-tree '
                        'ones (repeatable)')
    p.add_argument('--file', action='append', default=[], dest='files',
                   metavar='SRC:DEST',
                   help='copy a host file into the ramdisk (repeatable)')
    p.add_argument('--iso', dest='iso_image', action='store_true',
                   default=True, help='also build bootos.iso (default)')
    p.add_argument('--no-iso', dest='iso_image', action='store_false',
                   help='skip the ISO')
    p.add_argument('--iso-append', default=None, metavar='PARAMS',
                   help='kernel parameters baked into the ISO (default '
                        '%r); add ipa-api-url=... for virtual media'
                        % iso.DEFAULT_APPEND)
    p.add_argument('--no-cache', action='store_true',
                   help='rebuild even if the image cache has this build')
    p.add_argument('--json', action='store_true',
                   help='print the manifest as JSON')
    p.add_argument('-v', '--verbose', action='store_true')
    return p


def options(args):
    """The build() keyword arguments for parsed arguments."""
    return {key: getattr(args, key) for key in (
        'output', 'cache_dir', 'kernel_abi', 'packages', 'modules',
        'module_files', 'files', 'iso_image', 'iso_append', 'no_cache')}


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose
                        else logging.WARNING,
                        format='%(levelname)s %(message)s')
    started = time.monotonic()
    try:
        manifest = builder.build(**options(args))
    except BuildError as exc:
        print('bootflow-build-bootos: %s' % exc, file=sys.stderr)
        return 1
    manifest['build_seconds'] = round(time.monotonic() - started, 1)
    if args.json:
        json.dump(manifest, sys.stdout, indent=2, sort_keys=True)
        print()
        return 0
    for key in ('kernel', 'initramfs', 'iso', 'manifest'):
        if manifest.get(key):
            print(manifest[key])
    return 0


if __name__ == '__main__':
    sys.exit(main())
