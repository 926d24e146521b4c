"""One lab machine: a QEMU process that stays alive while "off".

QEMU starts stopped (``-S``) with ``-no-shutdown``, so its process is the
chassis and the guest's run state is the power: running is On, anything
else (prelaunch, paused, shutdown) is Off.  Power and boot device are
QMP commands (see :class:`Power`); nothing here needs libvirt.

The guest network is QEMU's user network with ``restrict=on``: slirp's
DHCP and a TFTP directory holding only an iPXE bootstrap, and two
addresses relayed to loopback ports (one relay process per guest
connection): 10.0.2.100:80 to the service's boot file server and
10.0.2.100:6385 to its API.  The guest reaches nothing else.
"""

import ctypes
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from bootflow.lab import qmp as qmplib

GUEST_ADDR = '10.0.2.100'
GUEST_HTTP_URL = 'http://%s' % GUEST_ADDR
GUEST_API_URL = 'http://%s:6385' % GUEST_ADDR
BOOTSTRAP_SCRIPT = '#!ipxe\nchain %s/boot.ipxe\n' % GUEST_HTTP_URL
RELAY = Path(__file__).resolve().with_name('relay.py')
PR_SET_PDEATHSIG = 1
SOCKET_PATH_MAX = 107
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Boot devices a lab BMC can select, and the QOM device ids they mean.
BOOT_DEVICES = {'Pxe': 'nic0', 'Hdd': 'disk0', 'Cd': 'cdrom0'}
DEVICE_ORDER = ('disk0', 'nic0')
# The virtual-media drive: bootable only while it is the boot device, as
# a BMC's virtual CD is used by the one boot it is selected for.
CD_DEVICE = 'cdrom0'
OFF_STATES = ('prelaunch', 'paused', 'shutdown', 'guest-panicked',
              'internal-error', 'io-error', 'watchdog', 'suspended')


class MachineError(RuntimeError):
    """A machine could not be started, stopped or controlled."""


def die_with_parent():
    """In a child: SIGKILL when the parent dies (Linux PR_SET_PDEATHSIG),
    so a test killed by a CI timeout leaves no QEMU behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def qemu_opt(value):
    """Escape a value for QEMU's option syntax, where ',' is doubled."""
    return str(value).replace(',', ',,')


def write_tftp_dir(directory):
    """The TFTP root: only the bootstrap chaining to the HTTP server."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / 'boot.ipxe').write_text(BOOTSTRAP_SCRIPT)
    return directory


def relay_command(port, log):
    return shlex.join([sys.executable, str(RELAY), '127.0.0.1', str(port),
                       str(log)])


def netdev(record, tftp_dir, http_port, api_port):
    """The -netdev value: restricted slirp, TFTP bootstrap, two relays."""
    log = Path(record['dir']) / 'relay.log'
    forwards = ','.join(
        'guestfwd=tcp:%s:%d-cmd:%s' % (GUEST_ADDR, guest_port,
                                       qemu_opt(relay_command(port, log)))
        for guest_port, port in ((80, http_port), (6385, api_port)))
    return ('user,id=n0,restrict=on,tftp=%s,bootfile=boot.ipxe,%s'
            % (qemu_opt(tftp_dir), forwards))


def command(record, config, tftp_dir, qemu='qemu-system-x86_64'):
    """The QEMU command line of one machine (stopped, TCG, serial to a
    file, virtio disk and NIC with QOM ids the BMC addresses)."""
    if len(record['qmp_socket']) > SOCKET_PATH_MAX:
        raise MachineError('QMP socket path too long for a unix socket '
                           '(%d > %d): use a shorter --lab-dir: %s'
                           % (len(record['qmp_socket']), SOCKET_PATH_MAX,
                              record['qmp_socket']))
    return [
        qemu, '-nodefaults', '-machine', 'pc',
        '-accel', 'tcg,tb-size=64',
        '-smp', str(config['cpus']), '-m', str(config['memory_mib']),
        '-S', '-no-shutdown', '-uuid', record['uuid'],
        '-name', record['name'],
        '-qmp', 'unix:%s,server=on,wait=off' % qemu_opt(record['qmp_socket']),
        '-serial', 'file:%s' % qemu_opt(record['serial_log']),
        '-display', 'none', '-monitor', 'none',
        '-drive', 'if=none,id=d0,format=qcow2,file=%s'
        % qemu_opt(record['disk']),
        '-device', 'virtio-blk-pci,id=disk0,drive=d0,serial=%s,bootindex=1'
        % qemu_opt(record['disk_serial']),
        '-netdev', netdev(record, tftp_dir, config['http_port'],
                          config['api_port']),
        '-device', 'virtio-net-pci,id=nic0,netdev=n0,mac=%s,bootindex=2'
        % record['mac'],
        # an empty CD drive for the BMC's virtual media
        '-drive', 'if=none,id=cd0,media=cdrom,readonly=on',
        '-device', 'ide-cd,id=%s,drive=cd0,bus=ide.1' % CD_DEVICE,
    ] + _extra_nics(record)


def _extra_nics(record):
    """NICs after the first: restricted user networks that reach nothing,
    as unplugged server ports would; inspection still finds them."""
    args = []
    for nic, mac in enumerate(record.get('macs', [])[1:], start=1):
        args += ['-netdev', 'user,id=n%d,restrict=on' % nic,
                 '-device', 'virtio-net-pci,id=nic%d,netdev=n%d,mac=%s'
                 % (nic, nic, mac)]
    return args


def create_disk(path, size):
    """A sparse qcow2 disk (kept as it is when it exists already)."""
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2',
                             str(path), str(size)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise MachineError('qemu-img create %s failed: %s'
                           % (path, result.stderr.strip()))
    return path


def pid_alive(pid, marker=None):
    """Whether ``pid`` runs and (with ``marker``) its command line holds
    the marker: a pid from lab.json may since belong to someone else."""
    if not pid:
        return False
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as stream:
            cmdline = stream.read().decode('utf-8', 'replace')
        with open('/proc/%d/stat' % pid) as stream:
            if stream.read().rsplit(')', 1)[1].split()[0] == 'Z':
                return False
    except (OSError, IndexError):
        return False
    return marker is None or marker in cmdline


def spawn(argv, log_path, die_with_parent_=False, env=None):
    """Start a lab process in its own session, output to ``log_path``."""
    with open(log_path, 'ab') as log:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, env=env,
            preexec_fn=die_with_parent if die_with_parent_ else None)


def terminate(pid, marker, timeout=STOP_TIMEOUT, proc=None):
    """SIGTERM the process group of ``pid``, SIGKILL after ``timeout``."""
    if not pid_alive(pid, marker):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                break
            if proc is None and not pid_alive(pid, marker):
                return
            time.sleep(0.05)
        if proc is not None and proc.poll() is not None:
            break
    if proc is not None:
        proc.wait(timeout=timeout)
    _kill_group(pid)


def _kill_group(pgid):
    """What is left of the group (relays waiting on a server)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_qmp(path, proc=None, timeout=START_TIMEOUT):
    """Wait until QEMU answers on its QMP socket; its run state."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise MachineError('QEMU exited with code %s' % proc.returncode)
        if os.path.exists(path):
            try:
                return qmplib.status(path, timeout=5)
            except qmplib.QMPError as exc:
                last = exc
        time.sleep(0.05)
    raise MachineError('no QMP on %s after %.0fs (%s)' % (path, timeout,
                                                          last))


class Power:
    """Power and boot order of one machine, one QMP session per call."""

    def __init__(self, qmp_socket, timeout=qmplib.DEFAULT_TIMEOUT):
        self.qmp_socket = str(qmp_socket)
        self.timeout = timeout

    def _session(self):
        return qmplib.QMP(self.qmp_socket, timeout=self.timeout)

    def status(self):
        with self._session() as qmp:
            return qmp.status()

    def is_on(self):
        return self.status() == 'running'

    @staticmethod
    def _reset(qmp):
        """system_reset, waiting until QEMU has really done it: QEMU
        answers first and resets in its main loop."""
        qmp.events.clear()
        qmp.execute('system_reset')
        qmp.wait_event('RESET')

    def power_on(self, device=None):
        """Off -> On: boot order, reset (firmware from the start, boot
        order read again), run.  Already on: nothing."""
        with self._session() as qmp:
            if qmp.status() == 'running':
                return False
            if device:
                _set_boot_order(qmp, device)
            self._reset(qmp)
            qmp.execute('cont')
        return True

    def force_off(self):
        """Halt the CPUs and reset, so the next On starts the firmware."""
        with self._session() as qmp:
            if qmp.status() != 'running':
                return False
            qmp.execute('stop')
            self._reset(qmp)
        return True

    def graceful_shutdown(self):
        """ACPI power button: the guest decides (QMP status shutdown)."""
        with self._session() as qmp:
            if qmp.status() != 'running':
                return False
            qmp.execute('system_powerdown')
        return True

    def restart(self, device=None):
        """Hard reset of a running machine; an off one is powered on."""
        with self._session() as qmp:
            if device:
                _set_boot_order(qmp, device)
            state = qmp.status()
            self._reset(qmp)
            if state != 'running':
                qmp.execute('cont')
        return True

    def nmi(self):
        with self._session() as qmp:
            qmp.execute('inject-nmi')

    def insert_cd(self, path):
        """The ISO at path into the CD drive (closing its tray)."""
        with self._session() as qmp:
            qmp.execute('blockdev-change-medium', id=CD_DEVICE,
                        filename=str(path), format='raw',
                        **{'read-only-mode': 'read-only'})

    def eject_cd(self):
        with self._session() as qmp:
            qmp.execute('eject', id=CD_DEVICE, force=True)

    def cd_medium(self):
        """The file in the CD drive, or None."""
        with self._session() as qmp:
            for device in qmp.execute('query-block'):
                if device.get('qdev') in (CD_DEVICE, '/machine/peripheral/'
                                          + CD_DEVICE):
                    return (device.get('inserted') or {}).get('file')
        return None

    def set_boot_order(self, device):
        """Put ``device`` (Pxe/Hdd) first; QEMU uses it at the next
        reset."""
        with self._session() as qmp:
            _set_boot_order(qmp, device)

    def boot_order(self):
        """{QOM id: bootindex} of the boot devices (the CD only while
        it is bootable)."""
        with self._session() as qmp:
            order = {dev: qmp.execute('qom-get', path=dev,
                                      property='bootindex')
                     for dev in DEVICE_ORDER + (CD_DEVICE,)}
        if order[CD_DEVICE] < 0:
            del order[CD_DEVICE]
        return order


def boot_order_for(device):
    """The devices in boot order with ``device`` (Pxe/Hdd/Cd) first."""
    if device not in BOOT_DEVICES:
        raise MachineError('boot device %s is not one of %s'
                           % (device, ', '.join(sorted(BOOT_DEVICES))))
    first = BOOT_DEVICES[device]
    return [first] + [dev for dev in DEVICE_ORDER if dev != first]


def _set_boot_order(qmp, device):
    order = boot_order_for(device)
    # Clear first: QEMU refuses a bootindex another device holds.
    for dev in order + [CD_DEVICE] * (CD_DEVICE not in order):
        qmp.execute('qom-set', path=dev, property='bootindex', value=-1)
    for index, dev in enumerate(order, 1):
        qmp.execute('qom-set', path=dev, property='bootindex', value=index)
