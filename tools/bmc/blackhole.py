#!/usr/bin/env python3
"""A TCP port that never answers: the "unreachable BMC" of tests.

A BMC that is down or hung is the case where a client's timeouts matter:
a refused connection fails at once, a silent one holds a worker until its
timeout.  Two flavours:

  --mode accept (default)  connections are accepted and whatever the
      client sends is read and dropped; nothing is ever written, so the
      client waits for its *read* timeout (a hung BMC).
  --mode syn-drop  nothing is accepted and the listen queue is kept full
      (by connections of our own), so the kernel drops the clients' SYNs
      and they wait for their *connect* timeout (a BMC that is off the
      network), without root or a firewall rule.

  python tools/bmc/blackhole.py --port P [--mode syn-drop]

prints "READY <port>" on stdout once listening (--port 0 picks a port).
"""

import argparse
import selectors
import signal
import socket
import sys


def serve_accepting(listener):
    """Accept, read and drop, never write, until the process is ended."""
    selector = selectors.DefaultSelector()
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ)
    while True:
        for key, _events in selector.select():
            sock = key.fileobj
            if sock is listener:
                try:
                    conn, _addr = listener.accept()
                except OSError:
                    continue
                conn.setblocking(False)
                selector.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b''
            if not data:  # the client gave up
                selector.unregister(sock)
                sock.close()


def fill_backlog(listener, port):
    """Occupy the listen queue so that the kernel drops further SYNs.

    With a backlog of 0 Linux queues one connection; a couple more are
    made for kernels that count differently.  They are never accepted.
    """
    fillers = []
    for _ in range(4):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(0.5)
        try:
            sock.connect(('127.0.0.1', port))
        except OSError:
            sock.close()
            break  # the queue is full: this SYN was dropped
        fillers.append(sock)
    return fillers


def _stop(signum, frame):
    raise SystemExit(0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--port', type=int, default=0,
                        help='TCP port (0: any free one)')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--mode', choices=('accept', 'syn-drop'),
                        default='accept')
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    port = listener.getsockname()[1]
    if args.mode == 'accept':
        listener.listen(128)
        print('READY %d' % port, flush=True)
        serve_accepting(listener)
    else:
        listener.listen(0)
        fillers = fill_backlog(listener, port)  # noqa: F841 -- kept open
        print('READY %d' % port, flush=True)
        signal.pause()
    return 0


if __name__ == '__main__':
    sys.exit(main())
