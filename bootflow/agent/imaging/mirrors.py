"""Block sources for the ``blocks`` mode: mirrors serving
``<base>/<h[0:2]>/<h>``, their health and speed, and getting one block
from one of them, verified.

Each source is probed once (a timed HEAD of the first block needed) and
the fastest available one is used. A source that fails (connection,
timeout, HTTP error, short or long body, wrong bytes) is set aside for
BACKOFF seconds and then tried again, first: that is how a mirror that
recovers comes back. A source whose probe failed has no latency yet and
is preferred once its backoff is over, for the same reason.

Connections are plain ``http.client`` ones kept alive per thread and per
source: a block is one request, and TLS and TCP set-up per block would
cost more than small blocks take to send. Redirects are not followed:
a mirror serves its blocks itself.

Standard library only: the BootOS agent imports this module.
"""

import hashlib
import http.client
import logging
import socket
import ssl
import threading
import time
import urllib.parse

from bootflow.agent.imaging import ImageError
from bootflow.agent.imaging import manifest as mf
from bootflow.agent.imaging import stream

LOG = logging.getLogger(__name__)

BACKOFF = 5.0           # seconds a failed source is set aside
LATENCY_WEIGHT = 0.3    # of the newest sample in a source's latency
_HEADERS = {'User-Agent': 'bootflow-agent', 'Accept-Encoding': 'identity'}
_DRAIN_MAX = 65536      # an error body up to this is read to reuse the
#                         connection; a longer one closes it


def describe(exc):
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return 'timed out'
    if isinstance(exc, http.client.IncompleteRead):
        return 'the connection closed %d bytes short' % (exc.expected or 0)
    if isinstance(exc, http.client.RemoteDisconnected):
        return 'the server closed the connection'
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class Failure(Exception):
    """One attempt at one block from one source failed."""

    def __init__(self, reason, mismatch=False):
        super().__init__(reason)
        self.mismatch = mismatch


class Source:
    """One base URL and what was learnt about it."""

    def __init__(self, base):
        parts = urllib.parse.urlsplit(base)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError:
            port = -1
        if scheme not in ('http', 'https') or not parts.hostname \
                or port == -1 or parts.query:
            raise ImageError('block source %r is not an http(s) base URL '
                             'without a query; nothing was written'
                             % stream.safe_url(base))
        self.base = base.rstrip('/')
        self.name = stream.safe_url(self.base)
        self.https = scheme == 'https'
        self.host, self.port = parts.hostname, port
        self.prefix = parts.path.rstrip('/')
        self.latency = None
        self.retry_at = 0.0     # set aside until then (monotonic)
        self.fetched = self.failures = 0
        self.last_error = None

    def path(self, h):
        return '%s/%s' % (self.prefix, mf.block_relpath(h))


class Sources:
    """Health and speed of the sources, shared by the fetching threads."""

    def __init__(self, bases, read_timeout, insecure):
        if isinstance(bases, str):
            bases = [bases]
        self.all = []
        for base in bases or ():
            if not isinstance(base, str):
                raise ImageError('block source %r is not a URL; nothing '
                                 'was written' % (base,))
            if not any(s.base == base.rstrip('/') for s in self.all):
                self.all.append(Source(base))
        if not self.all:
            raise ImageError('no block source was given; nothing was '
                             'written')
        self.read_timeout = read_timeout
        self._context = None
        if any(s.https for s in self.all):
            self._context = ssl.create_default_context()
            if insecure:
                self._context.check_hostname = False
                self._context.verify_mode = ssl.CERT_NONE
        self._lock = threading.Lock()

    def connect(self, source):
        if source.https:
            return http.client.HTTPSConnection(
                source.host, source.port, timeout=self.read_timeout,
                context=self._context)
        return http.client.HTTPConnection(source.host, source.port,
                                          timeout=self.read_timeout)

    def probe(self, h, length):
        """Time a HEAD of block ``h`` on every source at once."""
        threads = [threading.Thread(target=self._probe_one,
                                    args=(s, h, length), daemon=True)
                   for s in self.all]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        LOG.info('Block sources: %s', ', '.join(
            '%s %s' % (s.name, 'down (%s)' % s.last_error
                       if s.latency is None else '%.1f ms'
                       % (s.latency * 1000)) for s in self.all))

    def _probe_one(self, source, h, length):
        conn = self.connect(source)
        started = time.monotonic()
        try:
            conn.request('HEAD', source.path(h), headers=_HEADERS)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise Failure('HTTP %d %s on HEAD %s'
                              % (response.status, response.reason,
                                  source.path(h)))
            announced = response.getheader('Content-Length')
            if announced is not None and announced.strip() != str(length):
                raise Failure('HEAD %s announces %s bytes, not %d'
                              % (source.path(h), announced, length))
        except Failure as exc:
            self.failed(source, str(exc))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.failed(source, describe(exc))
        else:
            self.succeeded(source, time.monotonic() - started, fetched=False)
        finally:
            conn.close()

    def order(self):
        """The sources to try, best first: the available ones by latency,
        then those set aside, soonest back first. An available source not
        measured yet (its probe failed, its backoff is over) comes first:
        trying it is the only way to learn that it came back."""
        now = time.monotonic()
        with self._lock:
            ready = [s for s in self.all if s.retry_at <= now]
            waiting = [s for s in self.all if s.retry_at > now]
        ready.sort(key=lambda s: -1.0 if s.latency is None else s.latency)
        waiting.sort(key=lambda s: s.retry_at)
        return ready + waiting

    def succeeded(self, source, seconds, fetched=True):
        with self._lock:
            source.retry_at = 0.0
            if source.latency is None:
                source.latency = seconds
            else:
                source.latency += LATENCY_WEIGHT * (seconds - source.latency)
            if fetched:
                source.fetched += 1

    def failed(self, source, reason):
        with self._lock:
            source.failures += 1
            source.last_error = reason
            source.retry_at = time.monotonic() + BACKOFF
        LOG.warning('Block source %s failed (%s); trying it again in at '
                    'least %s s', source.name, reason, BACKOFF)

    def stats(self):
        with self._lock:
            return {s.base: {'fetched': s.fetched, 'failures': s.failures,
                             'latency': None if s.latency is None
                             else round(s.latency, 6)}
                    for s in self.all}


class Connections:
    """One thread's keep-alive connections, one per source; registered
    so that a stop can cut them (a read may otherwise wait for up to
    read_timeout)."""

    def __init__(self, sources, registry):
        self._sources = sources
        self._registry = registry
        self._by_base = {}

    def get(self, source):
        conn = self._by_base.get(source.base)
        if conn is None:
            conn = self._by_base[source.base] = self._sources.connect(source)
            self._registry.add(conn)
        return conn

    def drop(self, source):
        conn = self._by_base.pop(source.base, None)
        if conn is not None:
            self._registry.discard(conn)
            conn.close()

    def close(self):
        for base in list(self._by_base):
            conn = self._by_base.pop(base)
            self._registry.discard(conn)
            conn.close()


def get_block(conn, source, h, length):
    """Block ``h`` (``length`` bytes) from ``source``, verified; the
    seconds until the response began."""
    started = time.monotonic()
    conn.request('GET', source.path(h), headers=_HEADERS)
    response = conn.getresponse()
    waited = time.monotonic() - started
    if response.status != 200:
        announced = response.getheader('Content-Length', '')
        if announced.isdigit() and int(announced) <= _DRAIN_MAX:
            response.read()
        else:
            conn.close()
        raise Failure('HTTP %d %s' % (response.status, response.reason))
    announced = response.getheader('Content-Length')
    if announced is not None and announced.strip() != str(length):
        conn.close()
        raise Failure('%s bytes announced, the block has %d'
                      % (announced, length))
    data = bytearray(length)
    view = memoryview(data)
    got = 0
    while got < length:
        count = response.readinto(view[got:])
        if not count:
            conn.close()
            raise Failure('the body ended after %d of %d bytes'
                          % (got, length))
        got += count
    if announced is None and response.read(1):
        conn.close()
        raise Failure('the body is longer than the block (%d bytes)'
                      % length)
    if response.will_close:
        conn.close()
    if hashlib.sha256(data).hexdigest() != h:
        raise Failure('the bytes do not match the block\'s sha256',
                      mismatch=True)
    return data, waited
