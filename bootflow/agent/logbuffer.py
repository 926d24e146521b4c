"""The agent's log: on the serial console and in a bounded memory buffer.

The ramdisk has no disk to write to and vanishes on reboot, so the only
lasting copy of what the agent did is the one it ships to the API.  The
buffer keeps the most recent lines within a line and byte budget, so a
chatty tool cannot exhaust the RAM the ramdisk lives in.  Secrets the
agent registers (its token) are masked in every line before it is kept
or printed.
"""

import collections
import logging
import sys
import threading

LOG = logging.getLogger(__name__)

DEFAULT_MAX_LINES = 5000
DEFAULT_MAX_BYTES = 1024 * 1024
FORMAT = '%(asctime)s %(levelname)s %(name)s: %(message)s'
MASK = '***'

_secrets = set()
_secrets_lock = threading.Lock()
_installed = []


def add_secret(value):
    """Mask ``value`` in everything logged from now on."""
    if value:
        with _secrets_lock:
            _secrets.add(value)


def redact(text):
    with _secrets_lock:
        secrets = list(_secrets)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter that masks registered secrets, tracebacks included."""

    def format(self, record):
        return redact(super().format(record))


class RingBufferHandler(logging.Handler):
    """Keeps the last ``max_lines`` lines, at most ``max_bytes`` of text
    (counted in characters: cheap, and close enough for a budget)."""

    def __init__(self, max_lines=DEFAULT_MAX_LINES,
                 max_bytes=DEFAULT_MAX_BYTES, level=logging.DEBUG):
        super().__init__(level)
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._lines = collections.deque()
        self._bytes = 0
        self.dropped = 0
        self.setFormatter(RedactingFormatter(FORMAT))

    def emit(self, record):
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self.lock:
            for line in text.splitlines() or ['']:
                self._append(line)

    def _append(self, line):
        # A single line longer than the budget keeps only its tail.
        if len(line) + 1 > self.max_bytes:
            line = line[-(self.max_bytes - 1):]
        self._lines.append(line)
        self._bytes += len(line) + 1
        while (len(self._lines) > self.max_lines
               or self._bytes > self.max_bytes):
            self._bytes -= len(self._lines.popleft()) + 1
            self.dropped += 1

    def text(self):
        """The buffered log, oldest line first."""
        with self.lock:
            lines = list(self._lines)
            dropped = self.dropped
        head = ['[%d earlier lines dropped]' % dropped] if dropped else []
        return '\n'.join(head + lines) + '\n'

    def ship(self, client, reason):
        """Post the log to the API; best effort.

        Called on the way out of failures, where raising would hide the
        original error, so every problem is logged and swallowed.
        """
        if client is None or not getattr(client, 'token', None):
            LOG.warning('Not shipping the log (%s): no agent token yet',
                        reason)
            return False
        try:
            client.upload_log(reason, self.text())
        except Exception as exc:
            LOG.warning('Could not ship the log (%s): %s: %s', reason,
                        type(exc).__name__, exc)
            return False
        LOG.info('Shipped the log to the API (%s)', reason)
        return True


def setup(level='INFO', stream=None, max_lines=DEFAULT_MAX_LINES,
          max_bytes=DEFAULT_MAX_BYTES):
    """Console (stderr, i.e. the serial console) plus buffer on the root
    logger; returns the buffer.  Calling it again replaces what an
    earlier call installed instead of doubling every line."""
    reset()
    root = logging.getLogger()
    console = logging.StreamHandler(stream or sys.stderr)
    console.setFormatter(RedactingFormatter(FORMAT))
    console.setLevel(_level(level))
    buffer = RingBufferHandler(max_lines=max_lines, max_bytes=max_bytes)
    for handler in (console, buffer):
        root.addHandler(handler)
        _installed.append(handler)
    root.setLevel(min(_level(level), logging.DEBUG))
    # urllib3 logs every connection at DEBUG; keep them out of the buffer
    # unless asked for, they would crowd out the agent's own lines.
    if _level(level) > logging.DEBUG:
        logging.getLogger('urllib3').setLevel(logging.INFO)
    return buffer


def reset():
    """Remove what setup() installed (tests, or a re-exec'ing caller)."""
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
    _installed.clear()


def installed_buffer():
    """The buffer setup() installed, if any."""
    for handler in _installed:
        if isinstance(handler, RingBufferHandler):
            return handler
    return None


def ship(client, reason, buffer=None):
    """Ship ``buffer`` (default: the installed one); never raises."""
    buffer = buffer or installed_buffer()
    if buffer is None:
        LOG.warning('Not shipping the log (%s): no log buffer', reason)
        return False
    return buffer.ship(client, reason)


def _level(level):
    if isinstance(level, int):
        return level
    value = logging.getLevelName(str(level).upper())
    return value if isinstance(value, int) else logging.INFO
