"""Fetch a boot file (kernel, ramdisk, ISO) from where its reference points.

This is the default downloader of :class:`bootflow.images.cache.ImageCache`:
it only knows how to move bytes to ``dest_path``. Verifying them, and making
sure nobody ever sees a half-written file, is the cache's job: it hands us a
temporary path and renames it into place only once the checksum matches.

Supported references:

* ``http://`` and ``https://``: streamed with ``requests`` in 1 MiB chunks,
  so a multi-gigabyte ISO never has to fit in memory;
* ``file://``: a local path (or ``file://localhost/...``), copied; only a
  regular file (a device, a FIFO or a directory is refused).

Optional caps bound what one download may cost: ``max_bytes`` (a source
that never ends must not fill the disk) and ``deadline`` (seconds for the
whole transfer, so a source trickling a byte a minute cannot hold a
conductor worker forever; ``timeout`` only bounds each wait for data).

Anything else is refused with :class:`ImageRefValidationFailed`, so a typo
in a node's ``driver_info`` is reported as the caller's mistake (400) rather
than a server fault.
"""

import os
import stat
import time
import urllib.parse
import urllib.request

import requests
import urllib3

from bootflow.common import exception

CHUNK_SIZE = 1024 * 1024
HTTP_SCHEMES = ('http', 'https')
MIB = 1024 * 1024


def fetch(source, dest_path, timeout=60, max_bytes=None, deadline=None):
    """Write the image at ``source`` to ``dest_path``.

    ``timeout`` (seconds) bounds connecting and each wait for data, not the
    whole transfer: a slow but steady download of a big ISO must not fail.
    ``max_bytes`` and ``deadline`` (seconds), when given, bound the size
    and the duration of the whole transfer; exceeding either fails with
    :class:`ImageDownloadFailed`, leaving a partial ``dest_path`` for the
    caller to remove.
    """
    scheme = _scheme(source)
    limits = _Limits(source, max_bytes, deadline)
    if scheme in HTTP_SCHEMES:
        _fetch_http(source, dest_path, timeout, limits)
    elif scheme == 'file':
        _fetch_file(source, dest_path, limits)
    else:
        raise exception.ImageRefValidationFailed(
            image_href=source,
            reason='unsupported scheme %r; expected http, https or file'
            % scheme)


def human_size(n):
    """'96 MiB' for a whole number of MiB, else bytes: what an operator
    compares with a ``*_mb`` option."""
    if n >= MIB and n % MIB == 0:
        return '%d MiB' % (n // MIB)
    return '%d bytes' % n


class _Limits:
    """The caps of one transfer, checked after every read."""

    def __init__(self, source, max_bytes, deadline):
        self.source = source
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.started = time.monotonic()
        self.written = 0

    def announced(self, length):
        if self.max_bytes is not None and length is not None \
                and length > self.max_bytes:
            self._fail('it is %s, more than the limit of %s'
                       % (human_size(length), human_size(self.max_bytes)))

    def add(self, count):
        self.written += count
        if self.max_bytes is not None and self.written > self.max_bytes:
            self._fail('it is larger than the limit of %s (the source '
                       'sent more and was cut off)'
                       % human_size(self.max_bytes))
        if self.deadline is not None and \
                time.monotonic() - self.started > self.deadline:
            self._fail('the download took longer than %s seconds (%s '
                       'received)' % (self.deadline,
                                      human_size(self.written)))

    def _fail(self, reason):
        raise exception.ImageDownloadFailed(image_href=self.source,
                                            reason=reason)


def expected_size(source, timeout=10):
    """Best-effort size of the image in bytes, or None if unknown.

    Lets the cache make room *before* downloading. Never raises: not
    knowing the size only means the cache is trimmed after the download.
    """
    try:
        scheme = _scheme(source)
        if scheme == 'file':
            return os.path.getsize(file_path(source))
        if scheme in HTTP_SCHEMES:
            resp = requests.head(source, timeout=timeout,
                                 allow_redirects=True)
            length = resp.headers.get('Content-Length')
            if resp.status_code == 200 and length is not None:
                return int(length)
    except (exception.BootflowException, OSError, ValueError,
            requests.RequestException):
        pass
    return None


def _scheme(source):
    if not isinstance(source, str) or not source:
        raise exception.ImageRefValidationFailed(
            image_href=source, reason='an image reference must be a URL')
    return urllib.parse.urlsplit(source).scheme.lower()


def _fetch_http(source, dest_path, timeout, limits):
    try:
        with requests.get(source, stream=True, timeout=timeout) as resp:
            _save(source, resp, dest_path, limits)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise exception.ImageDownloadFailed(
            image_href=source, reason=str(exc)) from exc


def save_response(source, resp, dest_path, max_bytes=None, deadline=None):
    """Write the streamed ``requests`` response ``resp`` (opened by
    someone else: an authenticated session, for Glance) to ``dest_path``
    with the same caps and checks as :func:`fetch`."""
    try:
        _save(source, resp, dest_path, _Limits(source, max_bytes, deadline))
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise exception.ImageDownloadFailed(
            image_href=source, reason=str(exc)) from exc


def _save(source, resp, dest_path, limits):
    if resp.status_code != 200:
        raise exception.ImageDownloadFailed(
            image_href=source,
            reason='HTTP status %d %s' % (resp.status_code, resp.reason))
    if not resp.headers.get('Content-Encoding'):
        limits.announced(_int(resp.headers.get('Content-Length')))
    try:
        written = _write_chunks(resp, dest_path, limits)
    except (requests.RequestException, urllib3.exceptions.HTTPError):
        raise       # a read failed (requests' errors are OSErrors too)
    except OSError as exc:
        raise exception.ImageDownloadFailed(
            image_href=source,
            reason='cannot write %s: %s' % (dest_path, exc)) from exc
    _check_length(source, resp, written)


def _int(text):
    return int(text) if text is not None and text.isdigit() else None


def _chunks(resp):
    """The decoded body, a read at a time.

    ``read1`` returns whatever one socket read brought, so the caps are
    checked at least once per ``timeout``; ``iter_content`` would block
    until a whole chunk arrived (urllib3 1.x, which lacks ``read1``, gets
    that, with the deadline checked per chunk).
    """
    raw = resp.raw
    if not hasattr(raw, 'read1'):
        yield from resp.iter_content(chunk_size=CHUNK_SIZE)
        return
    while True:
        chunk = raw.read1(CHUNK_SIZE, decode_content=True)
        if not chunk:
            return
        yield chunk


def _write_chunks(resp, dest_path, limits):
    with open(dest_path, 'wb') as out:
        for chunk in _chunks(resp):
            limits.add(len(chunk))
            out.write(chunk)
    return limits.written


def _check_length(source, resp, written):
    """Refuse a body shorter than announced.

    Without a checksum this is the only defence against a connection that
    closed early. Skipped for encoded bodies, whose announced length is that
    of the encoded bytes, not of the decoded ones we count.
    """
    length = resp.headers.get('Content-Length')
    if length is None or resp.headers.get('Content-Encoding'):
        return
    if length.isdigit() and int(length) != written:
        raise exception.ImageDownloadFailed(
            image_href=source,
            reason='got %d bytes, Content-Length announced %s'
            % (written, length))


def file_path(source):
    """The local path a ``file://`` reference names."""
    parts = urllib.parse.urlsplit(source)
    if parts.netloc not in ('', 'localhost'):
        raise exception.ImageRefValidationFailed(
            image_href=source,
            reason='file:// references must be local, not on host %r'
            % parts.netloc)
    return urllib.request.url2pathname(parts.path)


def _fetch_file(source, dest_path, limits):
    """Copy a local file, refusing anything but a regular file.

    Checked on the opened descriptor, not the name, so a path swapped
    for a device or a FIFO between a check and the copy is still refused;
    O_NONBLOCK keeps opening a FIFO from waiting for a writer.
    """
    path = file_path(source)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise exception.ImageRefValidationFailed(
            image_href=source,
            reason='%s cannot be opened: %s' % (path, exc.strerror))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise exception.ImageRefValidationFailed(
                image_href=source, reason='%s is not a regular file' % path)
        os.set_blocking(fd, True)
        limits.announced(st.st_size)
    except BaseException:
        os.close(fd)
        raise
    with open(fd, 'rb', closefd=True) as src:
        try:
            with open(dest_path, 'wb') as out:
                for chunk in iter(lambda: src.read(CHUNK_SIZE), b''):
                    limits.add(len(chunk))
                    out.write(chunk)
        except OSError as exc:
            raise exception.ImageDownloadFailed(
                image_href=source, reason=str(exc)) from exc
