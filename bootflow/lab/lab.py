"""A lab: QEMU machines and their BMC, driven from Python or the CLI.

Every step is idempotent and works from what is on disk, so ``bootflow
lab start`` in a new shell picks up the lab ``create`` made, and a
second ``create`` of an existing lab just makes sure it runs.  Processes
run in sessions of their own (they outlive the CLI); their pids are kept
in lab.json and checked against their command lines before any signal.
Tests pass ``die_with_parent=True``: the processes then get SIGKILL when
the test process dies, however it dies.
"""

import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bootflow.lab import enroll as enrolllib
from bootflow.lab import machine as machinelib
from bootflow.lab import qmp as qmplib
from bootflow.lab import state as statelib

BMC_START_TIMEOUT = 60.0
SYSTEMS_PATH = '/redfish/v1/Systems/'
PASSWORD_ENV = 'BOOTFLOW_LAB_BMC_PASSWORD'


class LabError(RuntimeError):
    """The lab is missing, or one of its processes would not start."""


@dataclass(frozen=True)
class MachineInfo:
    """What a test or an operator needs to know of one machine."""

    name: str
    index: int
    uuid: str
    mac: str
    disk: str
    disk_serial: str
    serial_log: str
    qmp_socket: str
    dir: str
    macs: tuple = ()

    @classmethod
    def from_record(cls, record):
        fields = {key: record[key] for key in cls.__dataclass_fields__
                  if key in record}
        fields['macs'] = tuple(record.get('macs') or (record['mac'],))
        return cls(**fields)

    @property
    def system_path(self):
        return SYSTEMS_PATH + self.uuid


class Lab:
    """The lab in ``lab_dir`` (default: BOOTFLOW_LAB_DIR or the XDG state
    directory)."""

    def __init__(self, lab_dir=None, die_with_parent=False):
        self.lab_dir = Path(lab_dir or statelib.default_lab_dir()).absolute()
        self.die_with_parent = die_with_parent
        self.state = statelib.LabState(self.lab_dir)
        self._procs = {}
        self.timings = {}

    # -- what the lab is -------------------------------------------------

    @property
    def exists(self):
        return self.state.reload() is not None

    def _require(self):
        if not self.exists:
            raise LabError('no lab in %s (run "bootflow lab create")'
                           % self.lab_dir)
        return self.state

    @property
    def config(self):
        return self._require().config

    @property
    def machines(self):
        return [MachineInfo.from_record(record)
                for record in self._require().machines]

    def machine(self, name):
        return MachineInfo.from_record(self._require().machine(name))

    @property
    def bmc_url(self):
        return 'http://127.0.0.1:%d' % int(self.config['bmc_port'])

    def ipmi_address(self, machine):
        """'127.0.0.1:<port>' of the machine's IPMI, or None."""
        base = self.config.get('ipmi_port')
        return '127.0.0.1:%d' % (int(base) + machine.index) if base else None

    @property
    def tftp_dir(self):
        return self.lab_dir / 'tftp'

    @property
    def bmc_log(self):
        return self.lab_dir / 'bmc.log'

    def service_config(self):
        """The bootflow options a service needs to serve this lab."""
        return {'deploy': {'http_url': machinelib.GUEST_HTTP_URL,
                           'http_server_port': str(self.config['http_port'])},
                'conductor': {'api_url': machinelib.GUEST_API_URL}}

    # -- life cycle ------------------------------------------------------

    def create(self, count=1, memory_mib=1024, cpus=1, disk_size='2G',
               api_port=6385, http_port=8080, bmc_port=8000,
               username='admin', password='password', die_with_parent=None,
               nics=1, ipmi_port=6230):
        """Disks, TFTP directory and lab.json, then :meth:`start` (the
        machines powered off).  An existing lab is kept as it is."""
        started = time.monotonic()
        if not self.exists:
            if int(count) < 1:
                raise LabError('a lab needs at least one machine')
            self.state.new({
                'count': int(count), 'memory_mib': int(memory_mib),
                'cpus': int(cpus), 'disk_size': str(disk_size),
                'api_port': int(api_port), 'http_port': int(http_port),
                'bmc_port': int(bmc_port), 'nics': int(nics),
                'ipmi_port': int(ipmi_port) if ipmi_port else None,
                'username': username,
                'password': password})
            self.state.save()
        for record in self.state.machines:
            Path(record['dir']).mkdir(parents=True, exist_ok=True)
            machinelib.create_disk(record['disk'],
                                   self.state.config['disk_size'])
        machinelib.write_tftp_dir(self.tftp_dir)
        self.start(die_with_parent)
        self.timings['create'] = round(time.monotonic() - started, 2)
        return self

    def start(self, die_with_parent=None):
        """Start whatever of the lab is not running: QEMU per machine
        (stopped: powered off) and the BMC."""
        if die_with_parent is not None:
            self.die_with_parent = die_with_parent
        state = self._require()
        started = time.monotonic()
        for record in state.machines:
            self._start_machine(state, record)
        self._start_bmc(state)
        self.timings['start'] = round(time.monotonic() - started, 2)
        return self

    def _save_pid(self, state, key, pid):
        state.reload()
        if pid is None:
            state.pids.pop(key, None)
        else:
            state.pids[key] = pid
        state.save()

    def _start_machine(self, state, record):
        key = 'machine:' + record['name']
        if machinelib.pid_alive(state.pids.get(key), record['qmp_socket']):
            return
        try:
            os.unlink(record['qmp_socket'])
        except FileNotFoundError:
            pass
        argv = machinelib.command(record, state.config, self.tftp_dir)
        proc = machinelib.spawn(argv, Path(record['dir']) / 'qemu.log',
                                self.die_with_parent)
        self._procs[key] = proc
        self._save_pid(state, key, proc.pid)
        try:
            machinelib.wait_qmp(record['qmp_socket'], proc)
        except machinelib.MachineError as exc:
            raise LabError('%s: %s\n%s' % (record['name'], exc, _tail(
                Path(record['dir']) / 'qemu.log')))

    def _bmc_marker(self):
        return '--lab-dir=%s' % self.lab_dir

    def _start_bmc(self, state):
        if machinelib.pid_alive(state.pids.get('bmc'), self._bmc_marker()):
            return
        config = state.config
        argv = [sys.executable, '-m', 'bootflow.lab.bmc',
                self._bmc_marker(), '--port', str(config['bmc_port'])]
        env = dict(os.environ)
        if config.get('username'):
            argv += ['--username', config['username'],
                     '--password-env', PASSWORD_ENV]
            env[PASSWORD_ENV] = config.get('password') or ''
            if config.get('ipmi_port'):
                argv += ['--ipmi-port', str(config['ipmi_port'])]
        proc = machinelib.spawn(argv, self.bmc_log, self.die_with_parent,
                                env=env)
        self._procs['bmc'] = proc
        self._save_pid(state, 'bmc', proc.pid)
        self._wait_bmc(proc)

    def _wait_bmc(self, proc, timeout=BMC_START_TIMEOUT):
        deadline = time.monotonic() + timeout
        url = self.bmc_url + '/redfish/v1/'
        while True:
            if proc.poll() is not None:
                raise LabError('the lab BMC exited with code %s:\n%s'
                               % (proc.returncode, _tail(self.bmc_log)))
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise LabError('the lab BMC did not answer on %s within '
                               '%.0fs:\n%s' % (url, timeout,
                                               _tail(self.bmc_log)))
            time.sleep(0.1)

    def stop(self):
        """Stop the BMC and every QEMU (their state stays on disk)."""
        if not self.exists:
            return self
        state = self.state
        self._stop(state, 'bmc', self._bmc_marker())
        for record in state.machines:
            self._stop(state, 'machine:' + record['name'],
                       record['qmp_socket'])
        return self

    def _stop(self, state, key, marker):
        pid = state.pids.get(key)
        machinelib.terminate(pid, marker, proc=self._procs.pop(key, None))
        self._save_pid(state, key, None)

    def destroy(self):
        """Stop, then remove the lab directory (only one with lab.json)."""
        self.stop()
        if (self.lab_dir / statelib.LAB_FILE).exists():
            shutil.rmtree(self.lab_dir)
        return self

    # -- machines --------------------------------------------------------

    def status(self, name):
        """QEMU's run state of a machine, or 'stopped' (no QEMU)."""
        record = self._require().machine(name)
        if not machinelib.pid_alive(self.state.pids.get(
                'machine:' + record['name']), record['qmp_socket']):
            return 'stopped'
        try:
            return qmplib.status(record['qmp_socket'])
        except qmplib.QMPError:
            return 'stopped'

    def power_state(self, name):
        """'on' while the guest runs, 'off' otherwise (None: no QEMU)."""
        status = self.status(name)
        if status == 'stopped':
            return None
        return 'on' if status == 'running' else 'off'

    def power(self, name):
        """The machine's QMP power control (what the BMC uses)."""
        return machinelib.Power(self.machine(name).qmp_socket)

    def rows(self):
        """One dict per machine, for ``bootflow lab list``."""
        return [{'name': m.name, 'uuid': m.uuid, 'mac': m.mac,
                 'power': self.power_state(m.name) or 'stopped',
                 'bmc_url': self.bmc_url + m.system_path,
                 'ipmi': self.ipmi_address(m),
                 'serial_log': m.serial_log}
                for m in self.machines]

    def enroll(self, api_url='http://127.0.0.1:6385', names=None,
               **options):
        """One node per machine (or per machine named in ``names``),
        redfish or (``driver='ipmi'``) ipmi (see bootflow.lab.enroll)."""
        config = self.config
        machines = [m for m in self.machines
                    if names is None or m.name in names]
        return enrolllib.enroll(
            api_url, machines, self.bmc_url, config['username'],
            config['password'], config, **options)


def _tail(path, lines=20):
    try:
        text = Path(path).read_text(errors='replace')
    except FileNotFoundError:
        return ''
    return '\n'.join(text.splitlines()[-lines:])
