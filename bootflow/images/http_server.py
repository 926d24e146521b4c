"""The built-in HTTP server for boot files under ``http_root``.

Nodes fetch kernels, ramdisks, ISOs (hundreds of MB) and per-node scripts
(iPXE, grub.cfg) over HTTP. A WSGI stack would copy each byte through
Python, so this is the standard library's threaded HTTP server sending
bodies with ``socket.sendfile`` (zero-copy) from a file opened per request:
memory does not grow with file size, and a file replaced by ``os.replace``
mid-download keeps feeding that download the old content.

GET and HEAD only (else 405 with Allow). One byte range per request (206;
416 with ``bytes */SIZE`` past the end); several ranges, unknown units or
malformed values get the whole file (200), as RFC 7233 allows, and so does
Range on HEAD or under a stale If-Range. Regular files only, no listings;
``..``, NUL and symlinks resolving out of the root are 404. Everything is
``Cache-Control: no-cache`` (scripts change between boots; revalidating
with ETag / If-Modified-Since gives 304).

One daemon thread per keep-alive connection, ``threads`` at most (others
wait in the listen backlog); connections idle for ``keepalive_timeout`` or
stalled mid-request for ``timeout`` seconds are closed.
"""

import email.utils
import http
import http.server
import os
import re
import socket
import socketserver
import stat
import sys
import threading
import time
import urllib.parse

from oslo_log import log

LOG = log.getLogger(__name__)

TYPES = dict.fromkeys(('.ipxe', '.cfg', '.conf', '.txt', '.sh'), 'text/plain')
TYPES.update({'.json': 'application/json',
              '.iso': 'application/x-iso9660-image'})
# An extension-less file this small is a per-node script (pxelinux.cfg/01-
# <mac>); a larger one a kernel or ramdisk (<node>/kernel).
SCRIPT_MAX_SIZE = 1 << 20
_RANGE = re.compile(r'bytes=(\d*)-(\d*)', re.ASCII | re.IGNORECASE)
_MSG_MORE = getattr(socket, 'MSG_MORE', 0)


class Unsatisfiable(Exception):
    """The range asked for starts beyond the end of the file (416)."""


def parse_range(header, size):
    """(first, last) inclusive, or None for the whole file. One range
    only: GRUB and iPXE never ask for more, multipart is not worth it."""
    match = _RANGE.fullmatch(header.strip())
    if not match or match.groups() == ('', ''):
        return None
    first, last = match.groups()
    if not first:
        if int(last) == 0 or size == 0:
            raise Unsatisfiable()
        return max(size - int(last), 0), size - 1
    first = int(first)
    if last and int(last) < first:
        return None    # syntactically invalid: ignored
    if first >= size:
        raise Unsatisfiable()
    return first, min(int(last or size - 1), size - 1)


def resolve(root, target):
    """Real path under ``root`` (a real path) for a request target, or
    None. Decoded once; ``..`` and NUL are refused outright, empty segments
    dropped (``//etc``, ``%2Fetc`` stay inside), and the result with
    symlinks resolved must still be under root."""
    if target[:8].lower().startswith(('http://', 'https://')):
        target = urllib.parse.urlsplit(target).path or '/'
    elif not target.startswith('/'):
        return None
    path = target.split('?', 1)[0].split('#', 1)[0]
    name = urllib.parse.unquote(path, errors='surrogateescape')
    parts = name.split('/')
    if '\x00' in name or '..' in parts:
        return None
    real = os.path.realpath(os.path.join(
        root, *[p for p in parts if p not in ('', '.')]))
    return real if os.path.commonpath([root, real]) == root else None


def open_regular(path):
    """(file, fstat) for a regular file, else None. Checked before opening
    too: opening a FIFO blocks, opening a device can act."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except (OSError, ValueError):
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, 'rb', buffering=0), info


def content_type(path, size):
    ext = os.path.splitext(path)[1].lower()
    if not ext and size <= SCRIPT_MAX_SIZE:
        return 'text/plain'
    return TYPES.get(ext, 'application/octet-stream')


class BootFileHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True    # headers are held back by MSG_MORE

    def version_string(self):
        return 'bootflow'

    def handle_one_request(self):
        self._status, self._sent, self._note = None, 0, ''
        self._started = time.monotonic()
        self.connection.settimeout(self.server.keepalive_timeout)
        super().handle_one_request()
        if self._status is not None:
            LOG.debug('%s "%s" %s %d %.3fs%s', self.client_address[0],
                      self.requestline, self._status, self._sent,
                      time.monotonic() - self._started, self._note)

    def parse_request(self):
        self._started = time.monotonic()
        if not super().parse_request():
            return False
        self.connection.settimeout(self.server.io_timeout)
        if (self.headers.get('Content-Length', '0').strip() != '0'
                or 'Transfer-Encoding' in self.headers):
            self.close_connection = True    # a body this will never read
        if self.command in ('GET', 'HEAD'):
            return True
        self.close_connection = True
        self._reply(405, 'Method Not Allowed\n', [('Allow', 'GET, HEAD')])
        return False

    def do_GET(self):
        """GET and HEAD: a file, its validators, maybe a range of it."""
        path = resolve(self.server.root, self.path)
        opened = open_regular(path) if path else None
        if opened is None:
            return self._reply(404, 'Not Found\n')
        f, info = opened
        with f:
            size = info.st_size
            etag = '"%x-%x-%x"' % (info.st_ino, size, info.st_mtime_ns)
            modified = email.utils.formatdate(info.st_mtime, usegmt=True)
            headers = [('Last-Modified', modified), ('ETag', etag),
                       ('Cache-Control', 'no-cache'),
                       ('Accept-Ranges', 'bytes')]
            if self._not_modified(info, etag):
                return self._start(304, headers + [
                    ('Content-Length', str(size))])
            try:
                wanted = self._wanted_range(size, (etag, modified))
            except Unsatisfiable:
                headers.append(('Content-Range', 'bytes */%d' % size))
                return self._reply(416, 'Range Not Satisfiable\n', headers)
            first, last = wanted or (0, size - 1)
            if wanted:
                headers.append(('Content-Range', 'bytes %d-%d/%d' % (
                    first, last, size)))
            headers += [('Content-Type', content_type(path, size)),
                        ('Content-Length', str(last - first + 1))]
            more = self.command == 'GET' and last >= first
            if self._start(206 if wanted else 200, headers, more=more):
                if more:
                    self._send_file(f, first, last - first + 1)

    do_HEAD = do_GET

    def _not_modified(self, info, etag):
        """If-None-Match, when sent, decides alone (RFC 7232 6)."""
        tags = self.headers.get('If-None-Match')
        if tags is not None:
            tags = [t.strip().removeprefix('W/') for t in tags.split(',')]
            return '*' in tags or etag in tags
        try:
            since = email.utils.parsedate_to_datetime(
                self.headers.get('If-Modified-Since')).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return int(info.st_mtime) <= since

    def _wanted_range(self, size, validators):
        """Range counts on GET only, and under If-Range only while that
        validator is current (RFC 7233 3.1, 3.2)."""
        header, if_range = self.headers['Range'], self.headers['If-Range']
        if header is None or self.command != 'GET' or (
                if_range is not None and if_range.strip() not in validators):
            return None
        return parse_range(header, size)

    def _reply(self, status, text, headers=()):
        body = text.encode()
        self._start(status, list(headers) + [
            ('Content-Type', 'text/plain; charset=utf-8'),
            ('Content-Length', str(len(body)))],
            b'' if self.command == 'HEAD' else body)

    def send_error(self, code, message=None, explain=None):
        """For malformed requests: a plain reply like ours, with a status
        line even when the request looked like HTTP/0.9."""
        self.close_connection = True
        if self.request_version == 'HTTP/0.9':
            self.request_version = 'HTTP/1.0'
        phrase = message or http.HTTPStatus(code).phrase
        self._reply(code, '%d %s\n' % (code, phrase))

    def _start(self, status, headers, body=b'', more=False):
        """Status, headers and ``body`` in one write (``more``: held for the
        first sendfile bytes). False if the client is gone."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header('Connection', 'close')
        elif self.request_version == 'HTTP/1.0':
            self.send_header('Connection', 'keep-alive')
        data = b''.join(self._headers_buffer) + b'\r\n' + body
        self._headers_buffer = []
        try:
            self.connection.sendall(data, _MSG_MORE if more else 0)
        except OSError as exc:
            self.close_connection, self._note = True, ' (%s)' % exc
            return False
        self._sent = len(body)
        return True

    def _send_file(self, f, offset, count):
        try:
            self.connection.sendfile(f, offset, count)
        except OSError as exc:    # hung up, or stalled past the timeout
            self._note = ' (%s)' % (exc or type(exc).__name__)
        self._sent = f.tell() - offset
        if self._sent < count:    # also when the file shrank meanwhile
            self.close_connection = True
            self._note = self._note or ' (file shrank)'

    def log_request(self, code='-', size='-'):
        self._status = int(code)    # logged once the response is sent

    def log_message(self, format, *args):
        LOG.debug('%s %s', self.client_address[0], format % args)


class BootFileServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, root, address, threads=64, timeout=60.0,
                 keepalive_timeout=15.0):
        if ':' in address[0]:
            self.address_family = socket.AF_INET6
        self.root = os.path.realpath(root)
        self.io_timeout, self.keepalive_timeout = timeout, keepalive_timeout
        self._slots = threading.BoundedSemaphore(threads)
        self._stopping = threading.Event()
        self._active = set()
        self._idle = threading.Condition()
        self._thread = None
        super().__init__(address, BootFileHandler)

    @property
    def port(self):
        return self.server_address[1]

    @property
    def active_connections(self):
        return len(self._active)

    def server_bind(self):
        """Skips HTTPServer's getfqdn(), a reverse DNS lookup that can
        stall start-up where DNS does not answer."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        """Waits for a free slot rather than starting threads without
        bound; connections queue in the listen backlog meanwhile."""
        while not self._slots.acquire(timeout=0.2):
            if self._stopping.is_set():
                return self.shutdown_request(request)
        with self._idle:
            self._active.add(request)
        try:
            threading.Thread(target=self.process_request_thread,
                             args=(request, client_address), daemon=True,
                             name='httpboot-conn').start()
        except RuntimeError:
            LOG.exception('No thread for %s', client_address[0])
            self._finished(request)
            self.shutdown_request(request)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._finished(request)

    def _finished(self, request):
        with self._idle:
            self._active.discard(request)
            self._idle.notify_all()
        self._slots.release()

    def handle_error(self, request, client_address):
        """Logs, where socketserver prints; clients hanging up is routine."""
        exc = sys.exc_info()[1]
        (LOG.debug if isinstance(exc, OSError) else LOG.exception)(
            'Connection from %s ended: %s', client_address[0], exc)

    def wait_idle(self, timeout):
        """True once no connection is open, False after ``timeout`` s."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._active, timeout)

    def start(self):
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={'poll_interval': 0.1},
            name='httpboot', daemon=True)
        self._thread.start()
        LOG.info('Serving boot files from %s on http://%s:%d/', self.root,
                 self.server_address[0], self.port)

    def stop(self, timeout=5.0):
        """Stops accepting, cuts open connections and waits up to
        ``timeout`` s for their threads to end."""
        self._stopping.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        self.server_close()
        with self._idle:
            for sock in list(self._active):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if not self.wait_idle(timeout):
            LOG.warning('%d boot file connections still open',
                        len(self._active))


def make_server(root, host, port, threads=64, timeout=60.0,
                keepalive_timeout=15.0):
    """A BootFileServer for the files under ``root`` on ``host``:``port``
    (0 picks a free one: read ``.port``). ``threads`` bounds concurrent
    connections; ``.start()`` serves in the background, ``.stop()`` ends."""
    return BootFileServer(root, (host, port), threads, timeout,
                          keepalive_timeout)
