"""Fetch a boot file (kernel, ramdisk, ISO) from where its reference points.

This is the default downloader of :class:`bootflow.images.cache.ImageCache`:
it only knows how to move bytes to ``dest_path``. Verifying them, and making
sure nobody ever sees a half-written file, is the cache's job: it hands us a
temporary path and renames it into place only once the checksum matches.

Supported references:

* ``http://`` and ``https://``: streamed with ``requests`` in 1 MiB chunks,
  so a multi-gigabyte ISO never has to fit in memory;
* ``file://``: a local path (or ``file://localhost/...``), copied.

Anything else is refused with :class:`ImageRefValidationFailed`, so a typo
in a node's ``driver_info`` is reported as the caller's mistake (400) rather
than a server fault.
"""

import os
import shutil
import urllib.parse
import urllib.request

import requests

from bootflow.common import exception

CHUNK_SIZE = 1024 * 1024
HTTP_SCHEMES = ('http', 'https')


def fetch(source, dest_path, timeout=60):
    """Write the image at ``source`` to ``dest_path``.

    ``timeout`` (seconds) bounds connecting and each wait for data, not the
    whole transfer: a slow but steady download of a big ISO must not fail.
    """
    scheme = _scheme(source)
    if scheme in HTTP_SCHEMES:
        _fetch_http(source, dest_path, timeout)
    elif scheme == 'file':
        _fetch_file(source, dest_path)
    else:
        raise exception.ImageRefValidationFailed(
            image_href=source,
            reason='unsupported scheme %r; expected http, https or file'
            % scheme)


def expected_size(source, timeout=10):
    """Best-effort size of the image in bytes, or None if unknown.

    Lets the cache make room *before* downloading. Never raises: not
    knowing the size only means the cache is trimmed after the download.
    """
    try:
        scheme = _scheme(source)
        if scheme == 'file':
            return os.path.getsize(_file_path(source))
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


def _fetch_http(source, dest_path, timeout):
    try:
        with requests.get(source, stream=True, timeout=timeout) as resp:
            if resp.status_code != 200:
                raise exception.ImageDownloadFailed(
                    image_href=source,
                    reason='HTTP status %d %s' % (resp.status_code,
                                                  resp.reason))
            written = _write_chunks(resp, dest_path)
            _check_length(source, resp, written)
    except requests.RequestException as exc:
        raise exception.ImageDownloadFailed(
            image_href=source, reason=str(exc)) from exc
    except OSError as exc:
        raise exception.ImageDownloadFailed(
            image_href=source,
            reason='cannot write %s: %s' % (dest_path, exc)) from exc


def _write_chunks(resp, dest_path):
    written = 0
    with open(dest_path, 'wb') as out:
        for chunk in resp.iter_content(chunk_size=CHUNK_SIZE):
            out.write(chunk)
            written += len(chunk)
    return written


def _check_length(source, resp, written):
    """Refuse a body shorter than announced.

    Without a checksum this is the only defence against a connection that
    closed early. Skipped for encoded bodies, whose announced length is that
    of the encoded bytes, not of what ``iter_content`` yields.
    """
    length = resp.headers.get('Content-Length')
    if length is None or resp.headers.get('Content-Encoding'):
        return
    if length.isdigit() and int(length) != written:
        raise exception.ImageDownloadFailed(
            image_href=source,
            reason='got %d bytes, Content-Length announced %s'
            % (written, length))


def _file_path(source):
    parts = urllib.parse.urlsplit(source)
    if parts.netloc not in ('', 'localhost'):
        raise exception.ImageRefValidationFailed(
            image_href=source,
            reason='file:// references must be local, not on host %r'
            % parts.netloc)
    return urllib.request.url2pathname(parts.path)


def _fetch_file(source, dest_path):
    path = _file_path(source)
    if not os.path.isfile(path):
        raise exception.ImageRefValidationFailed(
            image_href=source, reason='%s is not a regular file' % path)
    try:
        shutil.copyfile(path, dest_path)
    except OSError as exc:
        raise exception.ImageDownloadFailed(
            image_href=source, reason=str(exc)) from exc
