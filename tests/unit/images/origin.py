"""A local origin server for image tests: static files from a directory,
request counts per path, and misbehaving endpoints."""

import collections
import functools
import http.server
import threading
import time

MIB = 1024 * 1024


class _Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.counts[self.path] += 1
        if self.path == '/endless':
            return self._forever(b'\xab' * MIB, 0)
        if self.path == '/trickle':
            return self._forever(b'.', 0.05)
        return super().do_GET()

    def do_HEAD(self):
        self.server.counts['HEAD ' + self.path] += 1
        return super().do_HEAD()

    def _forever(self, chunk, pause):
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Connection', 'close')
        self.end_headers()
        self.close_connection = True
        try:
            while not self.server.stopping.is_set():
                self.wfile.write(chunk)
                self.wfile.flush()
                if pause:
                    time.sleep(pause)
        except OSError:
            pass


class Origin:
    """``with Origin(root) as o: o.url + '/file'``; ``o.counts`` counts
    GETs per path (HEADs as 'HEAD <path>')."""

    def __init__(self, root):
        self.root = root
        handler = functools.partial(_Handler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      handler)
        self.server.daemon_threads = True
        self.server.counts = collections.Counter()
        self.server.stopping = threading.Event()
        self.counts = self.server.counts
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={'poll_interval': 0.05}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    def gets(self):
        return sum(n for path, n in self.counts.items()
                   if not path.startswith('HEAD '))
