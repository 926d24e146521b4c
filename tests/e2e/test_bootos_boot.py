"""Boot the real BootOS image in QEMU until the agent calls the API.

The image is built with ``bootflow-build-bootos``'s Python API (cached
in the user's builder cache, or $BOOTFLOW_TEST_BOOTOS_CACHE), booted
directly (-kernel/-initrd) under TCG with 1 GiB and a restricted user
network whose only reachable address, 10.0.2.100:6385, QEMU relays to
a stub HTTP server on 127.0.0.1.  The test measures the seconds from
QEMU's start to the agent's first request.
"""

import http.server
import os
import re
import shlex
import subprocess
import sys
import threading
import time

import pytest

from bootflow.bootos import build as bootos_build
from bootflow.bootos.build import builder
from tests.e2e import assets
from tests.e2e import qemu
from tests.e2e.conftest import require

API_ADDR = '10.0.2.100'
API_PORT = 6385
MEMORY_MIB = 1024
_MEMORY_LINE = re.compile(r'machine (\d+) MiB used of (\d+) MiB')


class StubAPI:
    """Answers every request 404 (no node yet) and records them."""

    def __init__(self):
        self.requests = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get('Content-Length') or 0)
                if length:
                    self.rfile.read(length)
                stub.requests.append((time.monotonic(), self.command,
                                      self.path))
                body = b'{"error_message": "no node"}'
                self.send_response(404)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = _any

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _build_image(directory):
    try:
        # Default options, so the image the functional tests and
        # bootflow-build-bootos cached is reused.
        return bootos_build.build(
            output=str(directory),
            cache_dir=os.environ.get('BOOTFLOW_TEST_BOOTOS_CACHE')
            or builder.default_cache_dir())
    except bootos_build.BuildError as exc:
        raise assets.Unavailable('cannot build BootOS: %s' % exc)


def _command(qemu_binary, image, workdir, port):
    relay = shlex.join([sys.executable, str(qemu.RELAY), '127.0.0.1',
                        str(port), str(workdir / 'relay.log')])
    netdev = ('user,id=n0,restrict=on,guestfwd=tcp:%s:%d-cmd:%s'
              % (API_ADDR, API_PORT, relay.replace(',', ',,')))
    return [qemu_binary, '-nodefaults', '-machine', 'pc',
            '-accel', 'tcg,tb-size=64', '-smp', '1', '-m', str(MEMORY_MIB),
            '-display', 'none', '-monitor', 'none', '-no-reboot',
            '-serial', 'file:%s' % (workdir / 'serial.log'),
            '-kernel', image['kernel'], '-initrd', image['initramfs'],
            '-append', 'console=ttyS0 ipa-api-url=http://%s:%d'
            % (API_ADDR, API_PORT),
            '-netdev', netdev,
            '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:42:00:01']


def _serial(workdir):
    try:
        return (workdir / 'serial.log').read_bytes().decode('utf-8',
                                                            'replace')
    except FileNotFoundError:
        return ''


@pytest.fixture
def stub_api():
    stub = StubAPI()
    yield stub
    stub.close()


def test_bootos_boots_to_the_agent(qemu_binary, tmp_path, stub_api,
                                   record_property):
    image = require(_build_image, tmp_path / 'image')
    workdir = tmp_path / 'vm'
    workdir.mkdir()
    started = time.monotonic()
    proc = subprocess.Popen(
        _command(qemu_binary, image, workdir, stub_api.port),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(workdir / 'qemu.stderr', 'wb'),
        start_new_session=True, preexec_fn=qemu._die_with_parent)
    seen = {}
    try:
        deadline = started + qemu.BOOT_TIMEOUT
        while not stub_api.requests or 'BOOTOS: agent start' not in seen:
            text = _serial(workdir)
            for marker in ('BOOTOS: init', 'BOOTOS: network up',
                           'BOOTOS: agent start'):
                if marker in text and marker not in seen:
                    seen[marker] = round(time.monotonic() - started, 1)
            assert proc.poll() is None, 'QEMU exited:\n' + text[-3000:]
            assert time.monotonic() < deadline, (
                'no agent request after %.0fs:\n%s'
                % (qemu.BOOT_TIMEOUT, text[-3000:]))
            time.sleep(0.2)
        first_at, method, path = stub_api.requests[0]
        first = round(first_at - started, 1)
        time.sleep(1)
        text = _serial(workdir)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=30)
    assert path.startswith('/v1/lookup'), (method, path)
    assert 'BOOTOS: network up eth0 10.0.2.15' in text
    assert 'Traceback' not in text, text[-3000:]
    memory = _MEMORY_LINE.search(text)
    summary = ('initramfs %.1f MiB; %s; first API request %s %s at %.1fs'
               % (os.path.getsize(image['initramfs']) / 2 ** 20,
                  ', '.join('%r at %.1fs' % kv for kv in seen.items()),
                  method, path.split('?')[0], first))
    if memory:
        summary += '; guest memory used %s of %s MiB' % memory.groups()
    record_property('e2e_bootos', summary)
    print(summary)
