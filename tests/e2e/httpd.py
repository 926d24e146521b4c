"""A throwaway static HTTP server on 127.0.0.1 for the harness self-test.

It checks the boot harness (QEMU, relay, kernel, initrd, disk) without
the service, so that a failure of the service test can be told apart from
a harness that cannot boot anything on this machine.  It records the
paths the guest asked for: iPXE prints nothing on the serial port.
"""

import functools
import http.server
import threading


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the directory; remembers each request's path."""

    def log_message(self, fmt, *args):
        self.server.requests.append(self.path)


class FileServer:
    """Serve a directory on 127.0.0.1 (free port) from a thread."""

    def __init__(self, directory):
        handler = functools.partial(_Handler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     handler)
        self.httpd.daemon_threads = True
        self.httpd.requests = []
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    @property
    def port(self):
        return self.httpd.server_address[1]

    @property
    def requests(self):
        return list(self.httpd.requests)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        return False
