"""Relay one guest TCP connection to a loopback port: stdio <-> HOST:PORT.

QEMU's user network starts this once per guest connection to a
``guestfwd=tcp:ADDR:PORT-cmd:...`` address, with the connection on its
standard file descriptors.  (The ``tcp:`` chardev form of guestfwd carries
only one connection for QEMU's whole life, and iPXE opens several.)

Usage: ``python relay.py HOST PORT [LOGFILE]``.  Only loopback targets
are accepted: a lab or test machine must never reach anything but this
host's servers.  Diagnostics go to LOGFILE, never to stderr, which may be the
guest's connection itself.  Standard library only: QEMU may run it with
any Python.
"""

import ipaddress
import os
import selectors
import socket
import sys
import time

CHUNK = 65536


def loopback_target(host, port):
    """Return (host, port) or raise ValueError unless host is loopback."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError('refusing non-loopback target %s' % host)
    port = int(port)
    if not 0 < port < 65536:
        raise ValueError('bad port %s' % port)
    return host, port


def _close_write(fd):
    """Send EOF on stdout: shut a socket down, or close a pipe."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        os.close(fd)
        return
    with sock:
        sock.shutdown(socket.SHUT_WR)


def _write_all(write, data):
    """Write all of data, as os.write and send may write only part."""
    view = memoryview(data)
    while view:
        view = view[write(view):]


def pump(upstream, fd_in=0, fd_out=1, counts=None):
    """Copy both ways until the server ends its stream; return counts.

    ``counts`` (bytes each way) is updated as data passes, so a caller
    still knows how much went through when a side hangs up midway.
    """
    if counts is None:
        counts = {'guest': 0, 'server': 0}
    sel = selectors.DefaultSelector()
    sel.register(fd_in, selectors.EVENT_READ, 'guest')
    sel.register(upstream, selectors.EVENT_READ, 'server')
    while True:
        for key, _ in sel.select():
            if key.data == 'guest':
                data = os.read(fd_in, CHUNK)
                if not data:
                    # The guest half-closed: pass it on, keep reading.
                    sel.unregister(fd_in)
                    upstream.shutdown(socket.SHUT_WR)
                    continue
                _write_all(upstream.send, data)
            else:
                data = upstream.recv(CHUNK)
                if not data:
                    _close_write(fd_out)
                    return counts
                _write_all(lambda d: os.write(fd_out, d), data)
            counts[key.data] += len(data)


def _log(path, message):
    if path:
        with open(path, 'a') as log:
            log.write('%s relay[%d] %s\n' % (
                time.strftime('%H:%M:%S'), os.getpid(), message))


def relay(host, port):
    """Connect and pump; return the line to log about this connection.

    A connection cut midway (GRUB closes its HTTP connection when it has
    read what it wanted, the guest's kernel starts without closing) is
    logged with the bytes that went through and why it ended, so a
    test can add up what the guest really transferred.
    """
    started = time.monotonic()
    counts = {'guest': 0, 'server': 0}
    with socket.create_connection(loopback_target(host, port),
                                  timeout=30) as upstream:
        upstream.settimeout(None)
        try:
            pump(upstream, counts=counts)
            ended = ''
        except OSError as exc:
            ended = ', cut: %s' % exc
    return '%s:%s guest->server %d B, server->guest %d B, %.2fs%s' % (
        host, port, counts['guest'], counts['server'],
        time.monotonic() - started, ended)


def main(argv):
    """Relay one connection; exit status 2 if the target is refused."""
    if len(argv) not in (3, 4):
        return 2
    log = argv[3] if len(argv) == 4 else None
    try:
        _log(log, relay(argv[1], argv[2]))
    except ValueError as exc:
        _log(log, str(exc))
        return 2
    except OSError as exc:
        _log(log, '%s:%s failed: %s' % (argv[1], argv[2], exc))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
