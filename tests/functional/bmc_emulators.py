"""The BMC emulators of tools/bmc/, started as processes for a test.

Each runs on a free loopback port with its own state, so tests on
parallel workers never share a BMC.
"""

import json
import os
import select
import socket
import subprocess
import sys
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = REPO_ROOT / 'tools' / 'bmc'
START_TIMEOUT = 60


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class _Process:
    def __init__(self, argv, workdir, name):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / ('%s.log' % name)
        self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(
            [sys.executable] + [str(a) for a in argv],
            stdout=subprocess.PIPE, stderr=self._log,
            stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT),
            env=dict(os.environ, PYTHONUNBUFFERED='1'))
        self._wait_ready()

    def _wait_ready(self):
        # the tools print one READY line once they serve; a tool that
        # dies first is reported with its log
        ready, _, _ = select.select([self.proc.stdout], [], [],
                                    START_TIMEOUT)
        line = (self.proc.stdout.readline().decode('utf-8', 'replace')
                if ready else '')
        if not line.startswith('READY'):
            self.stop()
            raise RuntimeError('%s did not start (%r); log:\n%s' % (
                self.proc.args, line, self.log_text()[-3000:]))

    def log_text(self):
        try:
            return self.log_path.read_text(errors='replace')
        except OSError:
            return ''

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class RedfishEmulator(_Process):
    """sushy-tools' emulator with its fake systems (tools/bmc/
    redfish_emulator.py), behind HTTP basic auth."""

    def __init__(self, workdir, systems=1, username='admin',
                 password='s3cret-bmc-pass', power_delay=0.2,
                 extra_args=()):
        self.port = free_port()
        self.username, self.password = username, password
        argv = [TOOLS / 'redfish_emulator.py', '--port', self.port,
                '--systems', systems, '--state-dir',
                Path(workdir) / 'redfish-state', '--power-delay', power_delay]
        if username:
            argv += ['--username', username, '--password', password]
        argv += list(extra_args)
        super().__init__(argv, workdir, 'redfish-emulator-%d' % self.port)
        self.address = 'http://127.0.0.1:%d' % self.port
        self.http = requests.Session()
        if username:
            self.http.auth = (username, password)

    def system_ids(self):
        resp = self.http.get(self.address + '/redfish/v1/Systems', timeout=30)
        resp.raise_for_status()
        return [m['@odata.id'] for m in resp.json()['Members']]

    def record(self, system_id):
        """The emulator's own record of a system (its real state)."""
        uuid = system_id.rstrip('/').rsplit('/', 1)[-1]
        resp = self.http.get(self.address + '/_emulator/systems/' + uuid,
                             timeout=30)
        resp.raise_for_status()
        return resp.json()

    def requests_seen(self):
        resp = self.http.get(self.address + '/_emulator/requests',
                             timeout=30)
        resp.raise_for_status()
        return resp.json()

    def reset_requests(self):
        self.http.post(self.address + '/_emulator/requests/reset',
                       timeout=30).raise_for_status()

    def driver_info(self, system_id, **extra):
        info = {'redfish_address': self.address,
                'redfish_system_id': system_id}
        if self.username:
            info.update(redfish_username=self.username,
                        redfish_password=self.password)
        info.update(extra)
        return info


class Blackhole(_Process):
    """A TCP port that accepts connections and never answers."""

    def __init__(self, workdir, mode='accept'):
        self.port = free_port()
        super().__init__([TOOLS / 'blackhole.py', '--port', self.port,
                          '--mode', mode],
                         workdir, 'blackhole-%s-%d' % (mode, self.port))
        self.address = 'http://127.0.0.1:%d' % self.port


class IPMIBmc(_Process):
    """pyghmi's BMC framework behind IPMI 2.0 on a UDP port
    (tools/bmc/ipmi_bmc.py); its state file is the machine's truth."""

    def __init__(self, workdir, username='admin',
                 password='s3cret-ipmi-pass'):
        self.port = free_port(socket.SOCK_DGRAM)
        self.username, self.password = username, password
        self.state_file = Path(workdir) / ('ipmi-%d.json' % self.port)
        super().__init__([TOOLS / 'ipmi_bmc.py', '--port', self.port,
                          '--username', username, '--password', password,
                          '--state-file', self.state_file],
                         workdir, 'ipmi-bmc-%d' % self.port)

    def state(self):
        return json.loads(self.state_file.read_text())

    def driver_info(self, **extra):
        info = {'ipmi_address': '127.0.0.1', 'ipmi_port': self.port,
                'ipmi_username': self.username,
                'ipmi_password': self.password}
        info.update(extra)
        return info
