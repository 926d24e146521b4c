"""A small QMP client: QEMU's JSON monitor over a unix socket.

The lab's BMC, CLI and tests all talk to a machine's QEMU through its one
QMP socket.  QEMU serves one QMP client at a time on a socket (a second
one waits in the listen backlog until the first hangs up), so callers
open a connection per operation and close it at once (``with
QMP(path) as qmp: ...``) instead of holding one.

Framing: QEMU sends one JSON object per line: a greeting, then for each
command either ``{"return": ...}`` or ``{"error": ...}``, with
asynchronous ``{"event": ...}`` lines possibly in between.  Events are
kept (``events``) so a caller can wait for one, e.g. ``RESET`` after
``system_reset``, which QEMU carries out after answering.
"""

import json
import socket
import time

DEFAULT_TIMEOUT = 10.0
MAX_LINE = 16 * 1024 * 1024


class QMPError(Exception):
    """QEMU refused a command, or the conversation broke down."""

    def __init__(self, message, error_class=None):
        super().__init__(message)
        self.error_class = error_class


class QMP:
    """One QMP session: greeting read and capabilities negotiated."""

    def __init__(self, path, timeout=DEFAULT_TIMEOUT, sock=None):
        self.path = str(path)
        self.timeout = timeout
        self.events = []
        self._buffer = b''
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(self.path)
            except OSError as exc:
                sock.close()
                raise QMPError('cannot connect to QMP socket %s: %s'
                               % (self.path, exc))
        else:
            sock.settimeout(timeout)
        self._sock = sock
        try:
            self.greeting = self._read_message()
            if 'QMP' not in self.greeting:
                raise QMPError('%s did not greet with QMP: %r'
                               % (self.path, self.greeting))
            self.execute('qmp_capabilities')
        except BaseException:
            self.close()
            raise

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- framing ---------------------------------------------------------

    def _read_line(self):
        while b'\n' not in self._buffer:
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                raise QMPError('QMP %s: no answer within %.0fs'
                               % (self.path, self.timeout))
            if not chunk:
                raise QMPError('QMP %s: connection closed by QEMU'
                               % self.path)
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE:
                raise QMPError('QMP %s: line too long' % self.path)
        line, self._buffer = self._buffer.split(b'\n', 1)
        return line

    def _read_message(self):
        while True:
            line = self._read_line().strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except ValueError:
                raise QMPError('QMP %s: not JSON: %r' % (self.path, line))
            if not isinstance(message, dict):
                raise QMPError('QMP %s: not an object: %r'
                               % (self.path, message))
            return message

    @staticmethod
    def encode(command, arguments=None):
        """One command as the bytes QEMU expects (a JSON line)."""
        message = {'execute': command}
        if arguments:
            message['arguments'] = arguments
        return (json.dumps(message, sort_keys=True) + '\n').encode()

    # -- commands and events ----------------------------------------------

    def execute(self, command, **arguments):
        """Run a command; its ``return`` value, or QMPError."""
        self._sock.sendall(self.encode(command, arguments))
        while True:
            message = self._read_message()
            if 'event' in message:
                self.events.append(message)
                continue
            if 'error' in message:
                error = message['error'] or {}
                raise QMPError('%s: %s' % (command, error.get('desc', error)),
                               error.get('class'))
            if 'return' in message:
                return message['return']
            raise QMPError('QMP %s: unexpected message %r'
                           % (self.path, message))

    def wait_event(self, name, timeout=None):
        """The first event called ``name`` (seen already or arriving)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for index, event in enumerate(self.events):
                if event.get('event') == name:
                    return self.events.pop(index)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QMPError('QMP %s: no %s event' % (self.path, name))
            self._sock.settimeout(remaining)
            try:
                message = self._read_message()
            finally:
                self._sock.settimeout(self.timeout)
            if 'event' in message:
                self.events.append(message)

    def status(self):
        """QEMU's run state: running, prelaunch, paused, shutdown..."""
        return self.execute('query-status')['status']


def status(path, timeout=DEFAULT_TIMEOUT):
    """The run state of the QEMU behind ``path`` (one short session)."""
    with QMP(path, timeout=timeout) as qmp:
        return qmp.status()
