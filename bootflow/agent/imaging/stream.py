"""The ``stream`` mode: one HTTP(S) URL and a whole-image checksum.

A raw image goes straight from the socket to the disk, hashed on the way;
a qcow2 is downloaded to the (RAM) work dir, checked, and converted by
qemu-img, which cannot read from a pipe.

Nothing is trusted before it is checked: the format is judged from the
first bytes before anything is written (a qcow2 sent as raw would leave
an unbootable disk; a qcow2 naming a backing or data file would make
qemu-img copy host files onto the node: CVE-2024-44082), the size against
the space on the device and the ``max_bytes`` cap (a source that never
ends must not fill the disk and then some), the checksum while the bytes
go by. Of a raw image, the first 4 MiB (the partition table and the boot
loader) are written last, once everything else is written and verified,
so a failure never leaves a disk that firmware would try to boot: after
an error the ends of the disk are zeroed anyway.

Speed: the socket is read into large preallocated buffers in the calling
thread while another thread hashes and writes the previous buffers
(hashlib and os.pwrite release the GIL), so reading the network, hashing
and writing overlap.
"""

import hashlib
import http.client
import json
import logging
import os
import queue
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from bootflow.agent.config import base
from bootflow.agent.imaging import disk
from bootflow.agent.imaging import formats
from bootflow.agent.imaging import ImageError

LOG = logging.getLogger(__name__)

MIB = 1024 * 1024
CHUNK = 4 * MIB             # read/write unit; also what is held back
BUFFERS = 4                 # in flight between the reader and the writer
PROGRESS_INTERVAL = 0.5
WRITEBACK_LAG = 8 * CHUNK
_FADVISE = getattr(os, 'POSIX_FADV_DONTNEED', None)
QEMU_IMG_TIMEOUT = 1800     # [deploy]qemu_img_timeout's default
# qemu-img info on an untrusted image, as Ironic does (CVE-2015-5162).
INFO_LIMITS = ['prlimit', '--as=1073741824', '--cpu=30', '--']

DIGESTS = {'md5': 32, 'sha256': 64, 'sha512': 128}
BY_LENGTH = {32: 'md5', 40: 'sha1', 64: 'sha256', 128: 'sha512'}


def parse_checksum(checksum, allow_md5=False):
    """(algorithm, hex digest) of 'sha256:<hex>', 'sha512:<hex>' or a
    bare hex digest (the algorithm told by its length)."""
    text = str(checksum or '').strip().lower()
    if not text:
        raise ImageError('no image checksum given; refusing to write an '
                         'image that cannot be verified')
    algo, sep, digest = text.rpartition(':')
    if not sep:
        if not re.fullmatch('[0-9a-f]+', digest) or (
                len(digest) not in BY_LENGTH):
            raise ImageError('image checksum %r is neither '
                             '"<algorithm>:<hex>" nor a hex digest'
                             % checksum)
        algo = BY_LENGTH[len(digest)]
    if algo == 'sha1' or algo not in DIGESTS:
        raise ImageError('image checksum algorithm %r is not accepted (use '
                         'sha256 or sha512)' % algo)
    if algo == 'md5' and not allow_md5:
        raise ImageError('md5 image checksums are refused (md5 collisions '
                         'are cheap); give a sha256 or sha512 checksum, or '
                         'set [agent]allow_md5_checksum')
    if len(digest) != DIGESTS[algo] or not re.fullmatch('[0-9a-f]+',
                                                        digest):
        raise ImageError('image checksum %r is not a valid %s digest'
                         % (checksum, algo))
    return algo, digest


def safe_url(url):
    """The URL without credentials and query (temporary URLs carry their
    signature there), fit for last_error."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ''
        if parts.port:
            host = '%s:%d' % (host, parts.port)
    except ValueError:
        return '<invalid URL>'
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, '', ''))


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only (urllib also allows ftp)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in ('http', 'https'):
            raise ImageError('%s redirects to a %s URL; only http and https '
                             'are allowed' % (safe_url(req.full_url),
                                              scheme or 'relative'))
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def open_url(url, read_timeout=60, insecure=False):
    """The HTTP response for ``url``; its reads time out after
    ``read_timeout`` seconds without data, so a stalled source fails."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ('http', 'https'):
        raise ImageError('image URL %s: only http and https are supported'
                         % safe_url(url))
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), _Redirects())
    request = urllib.request.Request(url, headers={
        'Accept-Encoding': 'identity', 'User-Agent': 'bootflow-agent'})
    try:
        return opener.open(request, timeout=read_timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ImageError('cannot download %s: HTTP %d %s'
                         % (safe_url(url), exc.code, exc.reason)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise ImageError('cannot download %s: %s'
                         % (safe_url(url), _reason(exc, read_timeout))
                         ) from None


def _reason(exc, read_timeout):
    if isinstance(exc, urllib.error.URLError) and not isinstance(
            exc.reason, str):
        exc = exc.reason
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return 'no data for %s s (the source stalled)' % read_timeout
    if isinstance(exc, http.client.IncompleteRead):
        return ('the connection closed after %d bytes, %d short'
                % (len(exc.partial), exc.expected or 0))
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _content_length(response):
    value = response.headers.get('Content-Length')
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _Progress:
    """Calls ``callback`` at most every PROGRESS_INTERVAL s, plus once at
    the end. An exception from the callback aborts the write (callers
    use that to cancel)."""

    def __init__(self, callback, **fixed):
        self.callback = callback
        self.fixed = fixed
        self.last = 0.0

    def __call__(self, force=False, **values):
        if self.callback is None:
            return
        now = time.monotonic()
        if force or now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            self.callback(dict(self.fixed, **values))


class _Pipeline:
    """Hashes, then writes, the buffers the reader hands over: one thread
    per stage, so hashing one buffer overlaps writing the previous one
    (and the reader filling the next). Buffers come back to ``free``.

    A stage that failed keeps passing buffers on (without working on
    them) so nobody blocks; the reader checks ``error`` and stops. The
    writer also starts the kernel's writeback as it goes and drops what
    is written from the page cache: the ramdisk's memory stays free, and
    the final fsync has little left to do.
    """

    def __init__(self, fd, hasher):
        self.fd = fd
        self.hasher = hasher
        self.free = queue.Queue()
        self.hashing = queue.Queue()
        self.writing = queue.Queue()
        self.error = None
        self.written = 0
        self.threads = [
            threading.Thread(target=self._stage, name='image-' + name,
                             args=(work, inbox, outbox), daemon=True)
            for name, work, inbox, outbox in (
                ('hash', self._hash, self.hashing, self.writing),
                ('write', self._write, self.writing, None))]
        for _ in range(BUFFERS):
            self.free.put(memoryview(bytearray(CHUNK)))

    def start(self):
        for thread in self.threads:
            thread.start()

    def put(self, buf, offset):
        self.hashing.put((buf, offset))

    def finish(self):
        self.hashing.put(None)
        for thread in self.threads:
            thread.join()

    def _stage(self, work, inbox, outbox):
        while True:
            item = inbox.get()
            if item is not None and self.error is None:
                try:
                    work(*item)
                except BaseException as exc:   # noqa: B902 - reraised
                    self.error = exc
            if outbox is not None:
                outbox.put(item)
            elif item is not None:
                self.free.put(memoryview(item[0].obj))
            if item is None:
                return

    def _hash(self, buf, offset):
        self.hasher.update(buf)

    def _write(self, buf, offset):
        disk.write_all(self.fd, buf, offset)
        self.written += len(buf)
        if _FADVISE:
            # starts the writeback of this chunk, and drops the one
            # written WRITEBACK_LAG ago, clean by now, from the cache
            try:
                os.posix_fadvise(self.fd, offset, len(buf), _FADVISE)
                if offset >= WRITEBACK_LAG:
                    os.posix_fadvise(self.fd, offset - WRITEBACK_LAG,
                                     len(buf), _FADVISE)
            except OSError:
                pass    # only an optimization


def _fill(response, view):
    """Read until ``view`` is full or the body ends; bytes read."""
    got = 0
    while got < len(view):
        n = response.readinto(view[got:])
        if not n:
            break
        got += n
    return got


class _Pump:
    """Copies a response body to ``fd`` at ``offset``: at most ``cap``
    bytes (``cap_why`` says whose limit it is), the first chunk checked
    by ``check_head`` before anything is written and, with ``hold``,
    kept back for the caller to write last."""

    def __init__(self, response, fd, offset, cap, cap_why, hasher, hold,
                 progress):
        self.response = response
        self.length = _content_length(response)
        self.fd = fd
        self.offset = offset
        self.cap = cap
        self.cap_why = cap_why
        self.hasher = hasher
        self.hold = hold
        self.progress = progress
        self.total = 0
        self.started = False    # something may have been written
        self.head = None

    def _read(self, view):
        # one byte more than allowed tells "exactly cap" from "too much"
        room = self.cap + 1 - self.total
        got = _fill(self.response, view[:min(len(view), room)])
        self.total += got
        if self.total > self.cap:
            raise ImageError('the image is larger than %s (%d bytes); '
                             'refused' % (self.cap_why, self.cap))
        return got

    def run(self, check_head):
        first = memoryview(bytearray(CHUNK))
        got = self._read(first)
        if not got:
            raise ImageError('the image is empty')
        self.head = first[:got]
        check_head(bytes(self.head[:formats.HEAD_BYTES]))
        writer = _Pipeline(self.fd, self.hasher)
        if self.hold:
            self.hasher.update(self.head)
        else:
            writer.put(self.head, self.offset)
            self.started = True
        writer.start()
        try:
            self._loop(writer, got)
        finally:
            writer.finish()
        if writer.error is not None:
            raise writer.error
        return writer.written

    def _loop(self, writer, position):
        while writer.error is None:
            buf = writer.free.get()
            got = self._read(buf)
            if not got:
                writer.free.put(buf)
                break
            writer.put(buf[:got], self.offset + position)
            self.started = True
            position += got
            self.progress(bytes_written=writer.written,
                          bytes_fetched=self.total)
        # http.client's readinto takes a connection closed early for the
        # end of the body
        if (writer.error is None and self.length is not None
                and self.total != self.length):
            raise ImageError('the image download stopped after %d of its '
                             '%d bytes (the server closed the connection)'
                             % (self.total, self.length))


def stream_image(device, url, checksum, disk_format, offset=0, limit=None,
                 progress=None, read_timeout=60, max_bytes=None,
                 allow_md5=False, work_dir=None, tools=None,
                 insecure=False):
    """Write the image at ``url`` to ``device`` (at ``offset``, e.g. a
    partition's start); the result says how many bytes were written and
    fetched, how long it took and the verified checksum."""
    algo, expected = parse_checksum(checksum, allow_md5)
    if disk_format not in formats.SUPPORTED:
        formats.check_declared(disk_format, None)
    job = _Job(device, url, algo, expected, disk_format, offset, progress,
               read_timeout, max_bytes, insecure)
    fd = disk.open_device(device)
    try:
        job.set_limit(disk.device_size(fd), limit)
        if disk_format == 'raw':
            return job.raw(fd)
        job.fd = fd
        return job.qcow2(work_dir or tempfile.gettempdir(),
                         tools or base.Tools())
    finally:
        os.close(fd)


class _Job:
    """One stream_image call."""

    def __init__(self, device, url, algo, expected, disk_format, offset,
                 progress, read_timeout, max_bytes, insecure):
        self.device = device
        self.url = url
        self.algo = algo
        self.expected = expected
        self.disk_format = disk_format
        self.offset = offset
        self.callback = progress
        self.read_timeout = read_timeout
        self.max_bytes = max_bytes
        self.insecure = insecure
        self.started = time.monotonic()
        self.fd = None
        self.hasher = None

    def set_limit(self, size, limit):
        if self.offset < 0 or self.offset >= size:
            raise ImageError('offset %d is outside %s (%d bytes); nothing '
                             'was written' % (self.offset, self.device,
                                              size))
        space = size - self.offset
        self.limit = space if limit is None else min(limit, space)
        self.cap, self.cap_why = self.limit, 'the space on %s' % (
            self.device if not self.offset else '%s from offset %d' % (
                self.device, self.offset))
        if self.max_bytes and self.max_bytes < self.cap:
            self.cap, self.cap_why = self.max_bytes, 'the image size limit'

    def _open(self, cap, cap_why):
        response = open_url(self.url, self.read_timeout, self.insecure)
        length = _content_length(response)
        if length is not None and length > cap:
            response.close()
            raise ImageError('%s is %d bytes, larger than %s (%d bytes); '
                             'nothing was written'
                             % (safe_url(self.url), length, cap_why, cap))
        return response, length

    def _verify(self, hasher):
        got = hasher.hexdigest()
        if got != self.expected:
            raise ImageError('image checksum mismatch: expected %s:%s, got '
                             '%s:%s' % (self.algo, self.expected, self.algo,
                                        got))
        return '%s:%s' % (self.algo, got)

    def _result(self, written, fetched, digest):
        return {'bytes_written': written, 'bytes_fetched': fetched,
                'seconds': round(time.monotonic() - self.started, 3),
                'checksum': digest, 'device': self.device}

    def _failed(self, exc, started):
        """The ImageError for ``exc``, after scrubbing the device when
        something may have been written."""
        if isinstance(exc, ImageError):
            message = str(exc)
        else:
            message = 'cannot write %s to %s: %s' % (
                safe_url(self.url), self.device,
                _reason(exc, self.read_timeout))
        if not started:
            return ImageError(message)
        if self._scrub():
            return ImageError('%s; nothing bootable was left on %s'
                              % (message, self.device))
        return ImageError('%s; wiping %s failed too, so it may hold a '
                          'partial image: erase it before booting it'
                          % (message, self.device))

    def _scrub(self):
        if not self.offset:
            return disk.wipe_ends(self.device)
        try:
            disk.zero_range(self.fd, self.offset, min(MIB, self.limit))
            return True
        except OSError as exc:
            LOG.error('cannot wipe %s at %d: %s', self.device, self.offset,
                      exc)
            return False

    def raw(self, fd):
        self.fd = fd
        progress = _Progress(self.callback, phase='writing',
                             device=self.device)
        hasher = hashlib.new(self.algo)
        pump = None
        try:
            response, length = self._open(self.cap, self.cap_why)
            progress.fixed['bytes_total'] = length
            with response:
                pump = _Pump(response, fd, self.offset, self.cap,
                             self.cap_why, hasher, True, progress)
                pump.run(self._check_raw_head)
            digest = self._verify(hasher)
            disk.sync(fd)
            pump.started = True
            disk.write_all(fd, pump.head, self.offset)
            disk.sync(fd)
        except BaseException as exc:   # noqa: B902 - reraised
            error = self._failed(exc, pump is not None and pump.started)
            if isinstance(exc, Exception):
                raise error from None
            raise
        progress(force=True, bytes_written=pump.total,
                 bytes_fetched=pump.total)
        return self._result(pump.total, pump.total, digest)

    def _check_raw_head(self, head):
        formats.check_declared('raw', formats.detect(head))

    def _check_qcow2_head(self, head):
        formats.check_declared('qcow2', formats.detect(head))
        info = formats.check_qcow2(head)
        if info['virtual_size'] > self.cap:
            raise ImageError('the qcow2 image\'s virtual size (%d bytes) is '
                             'larger than %s (%d bytes); nothing was '
                             'written' % (info['virtual_size'], self.cap_why,
                                          self.cap))

    def qcow2(self, work_dir, tools):
        progress = _Progress(self.callback, device=self.device)
        tmp_fd, tmp = tempfile.mkstemp(prefix='bootflow-image-',
                                       suffix='.qcow2',
                                       dir=os.path.abspath(work_dir))
        converting = False
        try:
            fetched = self._download(tmp_fd, work_dir, progress)
            os.close(tmp_fd)
            tmp_fd = None
            digest, virtual = self._inspect(tmp, tools)
            progress(force=True, phase='converting', bytes_written=0,
                     bytes_total=virtual, bytes_fetched=fetched)
            converting = True
            tools.run(self._convert_argv(tmp, virtual),
                      timeout=QEMU_IMG_TIMEOUT)
            disk.sync(self.fd)
        except BaseException as exc:   # noqa: B902 - reraised
            error = self._failed(exc, converting)
            if isinstance(exc, Exception):
                raise error from None
            raise
        finally:
            if tmp_fd is not None:
                os.close(tmp_fd)
            try:
                os.unlink(tmp)
            except OSError as exc:
                LOG.warning('cannot remove %s: %s', tmp, exc)
        progress(force=True, phase='converting', bytes_written=virtual,
                 bytes_total=virtual, bytes_fetched=fetched)
        return self._result(virtual, fetched, digest)

    def _download(self, fd, work_dir, progress):
        cap, cap_why = self.cap, self.cap_why
        free = shutil.disk_usage(work_dir).free
        if free < cap:
            cap, cap_why = free, 'the free space in %s' % work_dir
        progress.fixed['phase'] = 'downloading'
        response, length = self._open(cap, cap_why)
        progress.fixed['bytes_total'] = length
        self.hasher = hashlib.new(self.algo)
        with response:
            pump = _Pump(response, fd, 0, cap, cap_why, self.hasher, False,
                         lambda **kw: progress(bytes_fetched=kw[
                             'bytes_fetched']))
            pump.run(self._check_qcow2_head)
        return pump.total

    def _inspect(self, path, tools):
        """Checksum, then what qemu-img itself says about the file (the
        header was checked already; this double-checks with the parser
        that will read it); the virtual size."""
        digest = self._verify(self.hasher)
        with open(path, 'rb') as stream:
            info = formats.check_qcow2(stream.read(formats.HEAD_BYTES))
        argv = ['qemu-img', 'info', '-f', 'qcow2', '--output=json', path]
        if tools.which('prlimit'):
            argv = INFO_LIMITS + argv
        try:
            report = json.loads(tools.run(argv, timeout=QEMU_IMG_TIMEOUT))
        except base.ConfigError as exc:
            raise ImageError('qemu-img cannot read the qcow2 image: %s; '
                             'nothing was written' % exc) from None
        except ValueError:
            raise ImageError('qemu-img info printed no JSON for the image; '
                             'nothing was written') from None
        data = (report.get('format-specific') or {}).get('data') or {}
        if report.get('backing-filename') or report.get(
                'full-backing-filename'):
            why = 'names a backing file'
        elif data.get('data-file'):
            why = 'uses an external data file'
        elif report.get('encrypted') or data.get('encrypt'):
            why = 'is encrypted'
        elif report.get('format') != 'qcow2':
            why = 'is %s to qemu-img' % report.get('format')
        else:
            virtual = int(report.get('virtual-size') or 0)
            if virtual != info['virtual_size']:
                why = 'has an inconsistent virtual size'
            else:
                return digest, virtual
        raise ImageError('unsafe qcow2 image refused: qemu-img says it %s; '
                         'nothing was written' % why)

    def _convert_argv(self, path, virtual):
        # absolute paths: qemu takes "name:" before any "/" for a protocol
        device = os.path.abspath(self.device)
        argv = ['qemu-img', 'convert', '-f', 'qcow2']
        if not self.offset:
            return argv + ['-O', 'raw', '-n', path, device]
        driver = 'host_device' if disk.is_block(device) else 'file'
        target = ('driver=raw,offset=%d,size=%d,file.driver=%s,'
                  'file.filename=%s' % (self.offset, virtual, driver,
                                        device.replace(',', ',,')))
        return argv + ['-n', path, '--target-image-opts', target]
