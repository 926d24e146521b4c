"""Where a deploy image comes from and what it must hash to.

Both are set by whoever owns the node's instance_info, so both are
policy: the checksum decides what the conductor and the agent will accept
as the image (md5 only when an operator allows it, sha1 never: both have
practical collisions), and the source decides what the conductor reads
(http(s) anywhere, ``file://`` only inside
``[conductor]file_url_allowed_paths``, and only a regular file there).
"""

import os
import posixpath
import re
import stat
import tempfile
from urllib import parse

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.drivers.modules.netboot import sources
from bootflow.images import cache
from bootflow.images import download

ACCEPTED = ('sha256', 'sha512')
CHECKSUM_FILE_MAX = 1024 * 1024
CHECKSUM_FILE_DEADLINE = 60
# Kernel pseudo-filesystems: their "regular files" are not images, and
# reading some of them (kcore, a sysfs attribute) never ends or hurts.
_PSEUDO_ROOTS = ('/proc', '/sys', '/dev')
_GNU_LINE = re.compile(r'^\\?([0-9A-Fa-f]+)\s+\*?(.+)$')
_BSD_LINE = re.compile(r'^([A-Za-z0-9-]+)\s*\((.+)\)\s*=\s*([0-9A-Fa-f]+)$')
_BARE_LINE = re.compile(r'^([0-9A-Fa-f]+)$')


def is_http_url(value):
    if not isinstance(value, str):
        return False
    parts = parse.urlsplit(value.strip())
    return parts.scheme.lower() in ('http', 'https') and bool(parts.netloc)


def checksum_of(instance_info, allow_md5, fetch=True):
    """The image's checksum as ``'algo:hex'``, from Ironic's fields.

    ``image_os_hash_algo`` + ``image_os_hash_value`` win over the legacy
    ``image_checksum`` (md5, ``algo:hex`` or a bare digest), as in Ironic.
    Either value may be the http(s) URL of a checksums file (as
    ``sha256sum`` writes it); it is fetched, unless ``fetch`` is False
    (validation, which must not touch the network: then the URL is only
    checked to be one, and returned as it is).
    """
    info = instance_info or {}
    algo = info.get('image_os_hash_algo')
    value = info.get('image_os_hash_value')
    if algo or value:
        if not (algo and value):
            raise exception.MissingParameterValue(
                err='instance_info/image_os_hash_algo and '
                    'image_os_hash_value must be given together (image '
                    'checksum)')
        algo = str(algo).strip().lower()
        _check_policy(algo, allow_md5)
        given, prefix = value, algo + ':'
    elif info.get('image_checksum'):
        given, prefix = info['image_checksum'], ''
    else:
        raise exception.MissingParameterValue(
            err='An image checksum is required: set instance_info/'
                'image_os_hash_algo and image_os_hash_value (sha256 or '
                'sha512), or image_checksum')
    if not isinstance(given, str):
        raise exception.InvalidParameterValue(
            err='The image checksum must be a string, not %r' % (given,))
    if is_http_url(given):
        if not fetch:
            return given.strip()
        text = from_checksum_file(given.strip(), info.get('image_source'))
    else:
        text = prefix + given.strip()
    found, digest = cache.parse_checksum(text)
    if algo and found != algo:
        raise exception.InvalidParameterValue(
            err='The image checksum is a %s digest but '
                'image_os_hash_algo says %s' % (found, algo))
    _check_policy(found, allow_md5)
    return '%s:%s' % (found, digest)


def _check_policy(algo, allow_md5):
    if algo in ACCEPTED or (algo == 'md5' and allow_md5):
        return
    if algo == 'md5':
        raise exception.InvalidParameterValue(
            err='md5 image checksums are refused ([agent]'
                'allow_md5_checksum is off): give a sha256 or sha512 '
                'checksum (image_os_hash_algo/image_os_hash_value)')
    raise exception.InvalidParameterValue(
        err='Image checksum algorithm %r is not accepted; use sha256 or '
            'sha512%s' % (algo, ' (or md5 if allowed)' if allow_md5
                          else ''))


def from_checksum_file(url, image_source):
    """The ``'algo:hex'`` that the checksums file at ``url`` lists for
    the file name of ``image_source``.

    A file of one entry is that entry, whatever its name says (a
    ``<image>.sha256`` next to the image often names the file as it was
    on the build host).
    """
    with tempfile.TemporaryDirectory(prefix='bootflow-sum-') as tmp:
        path = os.path.join(tmp, 'sums')
        download.fetch(url, path, timeout=CONF.deploy.image_read_timeout,
                       max_bytes=CHECKSUM_FILE_MAX,
                       deadline=CHECKSUM_FILE_DEADLINE)
        with open(path, 'rb') as f:
            text = f.read().decode('utf-8', 'replace')
    entries = parse_checksum_file(text)
    name = _file_name(image_source)
    for listed, checksum in entries:
        if listed is not None and name and (
                listed == name or posixpath.basename(listed) == name):
            return checksum
    if len(entries) == 1:
        return entries[0][1]
    raise exception.InvalidParameterValue(
        err='The image checksums file %s has %s for %r' % (
            url, 'no entry' if not entries else 'no line', name))


def parse_checksum_file(text):
    """``[(file name or None, 'algo:hex' or bare hex)]`` of the lines of
    a checksums file: GNU (``<hex>  <name>``, ``<hex> *<name>``), BSD
    (``SHA256 (<name>) = <hex>``) or a bare digest."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        bsd = _BSD_LINE.match(line)
        if bsd:
            algo = bsd.group(1).lower().replace('-', '')
            entries.append((_clean_name(bsd.group(2)),
                            '%s:%s' % (algo, bsd.group(3))))
            continue
        gnu = _GNU_LINE.match(line)
        if gnu:
            entries.append((_clean_name(gnu.group(2)), gnu.group(1)))
            continue
        bare = _BARE_LINE.match(line)
        if bare:
            entries.append((None, bare.group(1)))
    return entries


def _clean_name(name):
    name = name.strip()
    while name.startswith('./'):
        name = name[2:]
    return name


def _file_name(image_source):
    if not isinstance(image_source, str):
        return None
    path = parse.unquote(parse.urlsplit(image_source).path)
    return posixpath.basename(path) or None


def check_source(url, must_exist=True):
    """``('http', url)`` or ``('file', realpath)`` for an image source
    the conductor may read; anything else raises.

    ``file://`` must resolve (symlinks and ``..`` followed) inside
    ``[conductor]file_url_allowed_paths`` and be a non-empty regular file
    outside the kernel's pseudo-filesystems. ``must_exist=False`` checks
    only the allow-list: for a source whose bytes are already cached.
    """
    if not isinstance(url, str) or not url.strip():
        raise exception.MissingParameterValue(
            err='instance_info/image_source is required')
    sources.check(url, 'image_source')
    if is_http_url(url):
        return 'http', url
    path = os.path.realpath(download.file_path(url))
    if any(path == root or path.startswith(root + '/')
           for root in _PSEUDO_ROOTS):
        raise exception.ImageRefValidationFailed(
            image_href=url, reason='%s is in a kernel pseudo-filesystem, '
            'not an image file' % path)
    if must_exist:
        _check_regular(url, path)
    return 'file', path


def _check_regular(url, path):
    try:
        st = os.stat(path)
    except OSError as exc:
        raise exception.ImageRefValidationFailed(
            image_href=url, reason='%s: %s' % (path, exc.strerror))
    if not stat.S_ISREG(st.st_mode):
        raise exception.ImageRefValidationFailed(
            image_href=url, reason='%s is not a regular file' % path)
    if not st.st_size:
        raise exception.ImageRefValidationFailed(
            image_href=url, reason='%s is empty' % path)
