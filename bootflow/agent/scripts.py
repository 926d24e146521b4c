"""Operator PRE/POST scripts: fetch, verify, run from memory, report.

The ramdisk must leave the machine's disks alone until a template says
otherwise, so a script never touches a filesystem: it is written into an
anonymous memory file (memfd) and executed through /proc/self/fd.  That
works for ELF binaries and for ``#!`` scripts alike, because the memfd is
created without close-on-exec, so the interpreter the kernel starts can
still open the path it is handed.  The script runs in its own process
group so a timeout kills everything it started, and only the tail of its
output is kept so a runaway script cannot eat the ramdisk's memory.
"""

import errno
import hashlib
import logging
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse

import requests

LOG = logging.getLogger(__name__)

OUTPUT_LIMIT = 64 * 1024
FETCH_TIMEOUT = (10.0, 120.0)
MFD_EXEC = 0x0010   # Linux >= 6.3; older kernels reject it with EINVAL.

_ALGORITHMS = ('md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512')
_BY_LENGTH = {32: 'md5', 40: 'sha1', 56: 'sha224', 64: 'sha256',
              96: 'sha384', 128: 'sha512'}
_HEX = re.compile(r'^[0-9a-fA-F]+$')


class ScriptError(Exception):
    """The script could not be fetched, verified or started."""


def parse_checksum(spec):
    """``(algorithm, hex digest)`` from ``algo:hex`` or a bare digest,
    whose length tells the algorithm (32 md5, 64 sha256, 128 sha512...).
    """
    spec = spec.strip()
    algorithm, sep, digest = spec.partition(':')
    if not sep:
        algorithm, digest = _BY_LENGTH.get(len(spec)), spec
    algorithm = (algorithm or '').lower()
    if algorithm not in _ALGORITHMS or not _HEX.match(digest or ''):
        raise ScriptError(
            'Invalid checksum %r: expected sha256:<hex>, sha512:<hex>, '
            'md5:<hex> or a bare hex digest' % spec)
    if len(digest) != hashlib.new(algorithm).digest_size * 2:
        raise ScriptError('Invalid checksum %r: a %s digest has %d hex '
                          'digits' % (spec, algorithm,
                                      hashlib.new(algorithm).digest_size * 2))
    return algorithm, digest.lower()


def verify(data, spec):
    """Raise unless ``data`` matches the checksum ``spec``."""
    algorithm, expected = parse_checksum(spec)
    got = hashlib.new(algorithm, data).hexdigest()
    if got != expected:
        raise ScriptError('Checksum mismatch: expected %s:%s, got %s:%s'
                          % (algorithm, expected, algorithm, got))


def fetch(url, timeout=FETCH_TIMEOUT, session=None):
    """The script's bytes; HTTP errors become ScriptError."""
    if urllib.parse.urlsplit(url).scheme not in ('http', 'https'):
        raise ScriptError('Cannot fetch %r: only http(s) URLs are '
                          'supported' % url)
    try:
        response = (session or requests).get(url, timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise ScriptError('Cannot fetch %s: %s: %s'
                          % (url, type(exc).__name__, exc))
    return response.content


def _memfd(name, data):
    """A read-only fd onto an executable memory file holding ``data``.

    The writable fd is closed before returning: a file open for writing
    cannot be executed on kernels that enforce ETXTBSY for memfds.
    """
    try:
        fd = os.memfd_create(name, MFD_EXEC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        fd = os.memfd_create(name, 0)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        return os.open('/proc/self/fd/%d' % fd, os.O_RDONLY)
    finally:
        os.close(fd)


class _Tail(threading.Thread):
    """Drains a pipe, keeping only the last ``limit`` bytes, so the
    child never blocks on a full pipe and memory stays bounded."""

    def __init__(self, pipe, limit=OUTPUT_LIMIT):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.limit = limit
        self.data = bytearray()

    def run(self):
        for chunk in iter(lambda: self.pipe.read1(65536), b''):
            self.data += chunk
            if len(self.data) > self.limit:
                del self.data[:len(self.data) - self.limit]

    def text(self):
        return bytes(self.data).decode('utf-8', errors='replace')


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def execute(data, env, timeout, name='script'):
    """Run ``data`` from memory; returns ``(rc, output, error)``.

    ``rc`` is None when the program never ran or was killed for its
    timeout (then ``error`` says why).  Leftover processes of the group
    are killed when the script exits: they would hold the output pipe
    open and keep the agent waiting forever.
    """
    fd = _memfd('bootflow-%s' % name, data)
    try:
        try:
            proc = subprocess.Popen(
                ['/proc/self/fd/%d' % fd], pass_fds=(fd,), env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise ScriptError('Cannot execute the %s script: %s'
                              % (name, exc))
        tail = _Tail(proc.stdout)
        tail.start()
        error = None
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.wait()
            rc = None
            error = ('The %s script timed out after %ss and was killed'
                     % (name, timeout))
        _kill_group(proc.pid)
        # A grandchild that left the group may still hold the pipe: don't
        # wait for it beyond a moment, the tail so far is what we report.
        tail.join(5)
        proc.stdout.close()
        return rc, tail.text(), error
    finally:
        os.close(fd)


def environment(phase, node_uuid, api_url, developer):
    """What a script learns about its context, on top of our own env."""
    env = dict(os.environ)
    env.update({'BOOTFLOW_NODE_UUID': node_uuid or '',
                'BOOTFLOW_API_URL': api_url or '',
                'BOOTFLOW_PHASE': phase,
                'DEVELOPER': '1' if developer else '0'})
    return env


def run(phase, url, checksum=None, timeout=600, node_uuid=None,
        api_url=None, developer=False, session=None):
    """Fetch, verify and run one script; the event to report.

    Never raises: whatever went wrong is in the event's ``error``, which
    is what the operator needs to see in the node's history.
    """
    event = {'kind': 'script', 'name': phase, 'url': url, 'rc': None,
             'output': '', 'duration': 0.0, 'error': None,
             'checksum_ok': None}
    start = time.monotonic()
    try:
        data = fetch(url, session=session)
        if checksum:
            try:
                verify(data, checksum)
            except ScriptError:
                event['checksum_ok'] = False
                raise
            event['checksum_ok'] = True
        LOG.info('Running the %s script from %s (%d bytes)', phase, url,
                 len(data))
        env = environment(phase, node_uuid, api_url, developer)
        rc, output, error = execute(data, env, timeout, name=phase)
        event.update(rc=rc, output=output, error=error)
    except (ScriptError, OSError) as exc:
        event['error'] = str(exc)
    event['duration'] = round(time.monotonic() - start, 3)
    _log_outcome(event)
    return event


def failed(event):
    """Whether a script event means the script did not succeed."""
    return bool(event) and (event['error'] is not None or event['rc'] != 0)


def _log_outcome(event):
    if failed(event):
        LOG.error('The %s script failed (rc=%s): %s', event['name'],
                  event['rc'], event['error'] or 'non-zero exit status')
    else:
        LOG.info('The %s script succeeded in %.1fs', event['name'],
                 event['duration'])
    if event['output']:
        LOG.info('Output of the %s script (tail):\n%s', event['name'],
                 event['output'].rstrip('\n'))
