"""``bootflow-image``: prepare images for the block store.

``bootflow-image manifest IMAGE -o DIR`` splits an image into
content-addressed blocks and writes the static layout any web server can
serve as an image_source (``DIR/<name>.manifest.json``) or as one of
``[image_store]mirrors`` (``DIR/blocks``). Conductors also build manifests
themselves on an image's first use.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from bootflow.agent.imaging import formats
from bootflow.images import blockstore

MIB = 1024 * 1024


def _raw_copy(path, declared, work):
    """The raw bytes to split: qcow2 is converted first (explicit -f, no
    backing files), as the conductor does."""
    with open(path, 'rb') as f:
        head = f.read(formats.HEAD_BYTES)
    detected = formats.detect(head)
    formats.check_declared(declared or (
        'qcow2' if detected == 'qcow2' else 'raw'), detected)
    if detected != 'qcow2':
        return path
    formats.check_qcow2(head)
    if not shutil.which('qemu-img'):
        raise SystemExit('qemu-img is needed to convert %s' % path)
    raw = os.path.join(work, 'image.raw')
    subprocess.run(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw',
                    path, raw], check=True)
    return raw


def _manifest(args):
    with tempfile.TemporaryDirectory() as work:
        raw = _raw_copy(args.image, args.format, work)
        if raw != args.image:
            named = os.path.join(work, os.path.basename(args.image))
            os.replace(raw, named)
            raw = named
        path, digest = blockstore.export(raw, args.output,
                                         args.block_size_mb * MIB)
    print('%s sha256:%s' % (path, digest))
    return 0


def parser():
    top = argparse.ArgumentParser(prog='bootflow-image',
                                  description=__doc__.split('\n\n')[0])
    sub = top.add_subparsers(dest='command', required=True)
    man = sub.add_parser('manifest', help='Split an image into blocks and '
                         'write its manifest.')
    man.add_argument('image', help='raw or qcow2 image file')
    man.add_argument('-o', '--output', required=True,
                     help='directory for <name>.manifest.json and blocks/')
    man.add_argument('--format', choices=('raw', 'qcow2'),
                     help='declared format (default: detected; it must '
                          'match)')
    man.add_argument('--block-size-mb', type=int, default=4)
    man.set_defaults(func=_manifest)
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:   # a CLI: one clear line, not a traceback
        print('bootflow-image: %s' % exc, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
