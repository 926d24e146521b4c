"""qemu-img, run as if the image were hostile (it may be).

An image is user input handed to a complex parser. So: the format is
always given explicitly (``-f``: qemu-img must never guess, a raw image
that looks like a qcow2 header would otherwise be read as one); ``info``
runs with capped memory and CPU (a crafted header can make it allocate or
loop); everything runs under a timeout; and :func:`check_safe` refuses an
image that would make qemu-img read other files of this host (a backing
file or an external data file: their bytes would end up on the node's
disk — CVE-2024-32498, CVE-2024-44082).
"""

import json
import os
import resource
import subprocess
import uuid

from oslo_log import log

from bootflow.common import exception

LOG = log.getLogger(__name__)

QEMU_IMG = 'qemu-img'
INFO_ADDRESS_SPACE = 1024 * 1024 * 1024
INFO_CPU_SECONDS = 30
_ERR_TAIL = 2000


def _info_limits():
    """preexec_fn: caps for ``qemu-img info`` (as Ironic and Nova do)."""
    resource.setrlimit(resource.RLIMIT_AS,
                       (INFO_ADDRESS_SPACE, INFO_ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CPU,
                       (INFO_CPU_SECONDS, INFO_CPU_SECONDS))


def _path(path):
    # Absolute, so that no file name can read as a qemu protocol or a
    # "json:{...}" pseudo-file name.
    return os.path.abspath(path)


def _run(argv, image, timeout, preexec_fn=None, error=None):
    env = dict(os.environ, LC_ALL='C', LANG='C')
    error = error or exception.ImageUnacceptable
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout,
                              preexec_fn=preexec_fn, env=env, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise error(image=image,
                    reason='%s did not finish within %s seconds'
                    % (' '.join(argv[:2]), timeout))
    except OSError as exc:
        raise exception.ImageConvertFailed(
            image=image, reason='cannot run %s: %s' % (argv[0], exc))
    if proc.returncode != 0:
        err = proc.stderr.decode('utf-8', 'replace').strip()[-_ERR_TAIL:]
        raise error(image=image, reason='%s failed (exit status %d): %s'
                    % (' '.join(argv[:2]), proc.returncode,
                       err or 'no error output'))
    return proc.stdout


def info(path, fmt, timeout):
    """``qemu-img info`` of ``path`` read as ``fmt``, as a dict.

    Without ``--backing-chain``, qemu-img does not open a backing file;
    call :func:`check_safe` on the result before anything else opens the
    image.
    """
    out = _run([QEMU_IMG, 'info', '-f', fmt, '--output=json', _path(path)],
               path, timeout, preexec_fn=_info_limits)
    try:
        data = json.loads(out)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise exception.ImageUnacceptable(
            image=path, reason='qemu-img info gave no JSON object')
    return data


def check_safe(image_info, expected_format):
    """Refuse what qemu-img would read besides the image itself, and an
    image that is not in ``expected_format``; returns ``image_info``."""
    name = image_info.get('filename') or 'the image'
    found = image_info.get('format')
    if found != expected_format:
        raise exception.ImageUnacceptable(
            image=name, reason='qemu-img reads it as %s, not %s'
            % (found, expected_format))
    for key in ('backing-filename', 'full-backing-filename'):
        if image_info.get(key):
            raise exception.ImageUnacceptable(
                image=name, reason='it has a backing file (%s), which '
                'would be read from this host; flatten it first (qemu-img '
                'convert -O qcow2)' % image_info[key])
    specific = image_info.get('format-specific') or {}
    data = specific.get('data') if isinstance(specific, dict) else None
    if isinstance(data, dict) and data.get('data-file'):
        raise exception.ImageUnacceptable(
            image=name, reason='it has an external data file (%s), which '
            'would be read from this host' % data['data-file'])
    return image_info


def convert_to_raw(src, dst, timeout):
    """Convert the qcow2 ``src`` into the raw ``dst``.

    Written under a temporary name in ``dst``'s directory and renamed:
    ``dst`` is complete or absent, never half a disk. The output is
    sparse (qemu-img skips zeros), so a mostly empty image costs little.
    """
    dst = _path(dst)
    tmp = os.path.join(os.path.dirname(dst), '.%s.%s.converting'
                       % (os.path.basename(dst), uuid.uuid4().hex))
    LOG.info('Converting %s to raw', src)
    try:
        _run([QEMU_IMG, 'convert', '-q', '-f', 'qcow2', '-O', 'raw',
              _path(src), tmp], src, timeout,
             error=exception.ImageConvertFailed)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dst)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    return dst
