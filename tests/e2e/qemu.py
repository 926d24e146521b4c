"""A QEMU virtual machine that plays a bare-metal node for the e2e tests.

The guest runs under TCG (this CI has no usable KVM), with QEMU's user
network restricted (``restrict=on``): it gets slirp's DHCP and a TFTP
directory (holding only the tiny iPXE bootstrap script, or for pxelinux
the service's tftp_root), and it can reach one address,
``10.0.2.100:80``, which QEMU relays (``relay.py``, one process per
connection) to an HTTP server on 127.0.0.1.  iPXE, SeaBIOS and pxelinux
(without a ``SERIAL`` line) print only to the (absent) VGA, so what the
tests can see is the serial port: the kernel, the initrd and the disk's
boot sector.
"""

import ctypes
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.assets import Unavailable

QEMU_ENV = 'BOOTFLOW_TEST_E2E_QEMU'
TIMEOUT_ENV = 'BOOTFLOW_TEST_E2E_TIMEOUT'
BOOT_TIMEOUT = float(os.environ.get(TIMEOUT_ENV, '300'))
GUEST_HTTP_ADDR = '10.0.2.100'
GUEST_HTTP_URL = 'http://%s' % GUEST_HTTP_ADDR
BOOTSTRAP_SCRIPT = '#!ipxe\nchain %s/boot.ipxe\n' % GUEST_HTTP_URL
IPXE_ROM = Path('/usr/lib/ipxe/qemu/efi-virtio.rom')
# bootflow.lab runs the same relay; the file is executed, not imported
RELAY = Path(__file__).resolve().parents[2] / 'bootflow' / 'lab' / 'relay.py'
POLL = 0.2
_RELAYED = re.compile(r'guest->server (\d+) B, server->guest (\d+) B')
PR_SET_PDEATHSIG = 1


class BootFailed(AssertionError):
    """The guest did not show what was expected before its deadline."""


def find_qemu():
    """The qemu-system-x86_64 to use, or Unavailable saying why not."""
    path = os.environ.get(QEMU_ENV) or shutil.which('qemu-system-x86_64')
    if not path or not os.access(path, os.X_OK):
        raise Unavailable('qemu-system-x86_64 not found (install '
                          'qemu-system-x86, or set %s)' % QEMU_ENV)
    if not IPXE_ROM.exists():
        raise Unavailable('%s missing: the NIC cannot network-boot '
                          '(install ipxe-qemu)' % IPXE_ROM)
    return path


def _opt(value):
    """Escape a value for QEMU's option syntax, where ',' is doubled."""
    return str(value).replace(',', ',,')


def _die_with_parent():
    """In the child: get SIGKILL when the test process dies, however.

    Linux's PR_SET_PDEATHSIG; best effort, so a pytest killed by a CI
    timeout leaves no QEMU burning CPU behind.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _tail(path, lines):
    try:
        text = Path(path).read_text(errors='replace')
    except FileNotFoundError:
        return ''
    return '\n'.join(text.splitlines()[-lines:])


def write_tftp_dir(directory):
    """A TFTP root with only the bootstrap: chain to the HTTP server."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / 'boot.ipxe').write_text(BOOTSTRAP_SCRIPT)
    return directory


class Machine:
    """One QEMU guest, network-first; killed on exit whatever happened.

    ``http_port`` is the 127.0.0.1 port the guest's 10.0.2.100:80 reaches.
    ``disk`` is a raw image attached as the second boot device; with
    ``strict`` the BIOS tries the NIC only and never falls back to it.
    ``tftp`` is the directory QEMU's TFTP server serves and ``bootfile``
    the program its DHCP names (default: a fresh directory holding only
    the iPXE bootstrap script); pxelinux tests serve the service's
    tftp_root itself, as an operator's TFTP server would.  ``api_port``,
    when given, is the 127.0.0.1 port 10.0.2.100:6385 reaches (for a
    real agent).
    """

    def __init__(self, workdir, mac, http_port, disk=None, strict=False,
                 name='vm', qemu=None, tftp=None, bootfile='boot.ipxe',
                 memory_mib=512, api_port=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.mac = mac
        self.http_port = int(http_port)
        self.disk = disk
        self.strict = strict
        self.qemu = qemu or find_qemu()
        self.tftp = Path(tftp or write_tftp_dir(self.workdir / 'tftp'))
        self.bootfile = bootfile
        self.memory_mib = int(memory_mib)
        self.api_port = api_port
        self.serial_log = self.workdir / 'serial.log'
        self.stderr_log = self.workdir / 'qemu.stderr'
        self.relay_log = self.workdir / 'relay.log'
        self.proc = None
        self.started = None
        self.timings = {'name': name}

    def _relay(self, port):
        return _opt(shlex.join([sys.executable, str(RELAY), '127.0.0.1',
                                str(port), str(self.relay_log)]))

    def _netdev(self):
        netdev = ('user,id=n0,restrict=on,tftp=%s,bootfile=%s,'
                  'guestfwd=tcp:%s:80-cmd:%s'
                  % (_opt(self.tftp), _opt(self.bootfile), GUEST_HTTP_ADDR,
                     self._relay(self.http_port)))
        if self.api_port:
            netdev += ',guestfwd=tcp:%s:6385-cmd:%s' % (
                GUEST_HTTP_ADDR, self._relay(self.api_port))
        return netdev

    def _disk_args(self):
        if self.disk is None:
            return []
        return ['-drive', 'if=none,id=d0,format=raw,file=%s'
                % _opt(self.disk),
                '-device', 'virtio-blk-pci,drive=d0'
                + ('' if self.strict else ',bootindex=2')]

    def command(self):
        """The QEMU command line: TCG, serial to a file, NIC first."""
        return [
            self.qemu, '-nodefaults', '-machine', 'pc',
            '-accel', 'tcg,tb-size=64', '-smp', '1',
            '-m', str(self.memory_mib),
            '-display', 'none', '-monitor', 'none', '-no-reboot',
            '-serial', 'file:%s' % _opt(self.serial_log),
            '-boot', 'order=n' + (',strict=on' if self.strict else ''),
            '-netdev', self._netdev(),
            '-device', 'virtio-net-pci,netdev=n0,mac=%s,bootindex=1'
            % self.mac,
            '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
        ] + self._disk_args()

    def start(self):
        """Start QEMU in its own process group (with its relays)."""
        with open(self.stderr_log, 'wb') as err:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL,
                stdout=err, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent)
        self.started = time.monotonic()
        return self

    def elapsed(self):
        return time.monotonic() - self.started

    def serial(self):
        """Everything the guest printed on its serial port so far."""
        try:
            return self.serial_log.read_bytes().decode('utf-8', 'replace')
        except FileNotFoundError:
            return ''

    def relayed(self):
        """[(bytes guest->server, bytes server->guest)] per connection
        the guest made to 10.0.2.100, from the relays' log."""
        try:
            text = self.relay_log.read_text()
        except FileNotFoundError:
            return []
        return [tuple(map(int, m.groups()))
                for m in _RELAYED.finditer(text)]

    def describe(self, lines=40):
        """Serial, relay and QEMU stderr tails, for failure messages."""
        tail = '\n'.join(self.serial().splitlines()[-lines:])
        return ('%s: %s\n--- serial tail ---\n%s\n'
                '--- relayed connections ---\n%s\n--- qemu stderr ---\n%s'
                % (self.name, ' '.join(self.command()), tail,
                   _tail(self.relay_log, 20), _tail(self.stderr_log, 20)))

    def wait_for_text(self, text, timeout=BOOT_TIMEOUT):
        """Seconds from start until text is on the serial console."""
        deadline = self.started + timeout
        while True:
            if text in self.serial():
                self.timings[text] = round(self.elapsed(), 1)
                return self.timings[text]
            if self.proc.poll() is not None and text not in self.serial():
                raise BootFailed('QEMU exited (code %s) after %.1fs without '
                                 'printing %r\n%s' % (
                                     self.proc.returncode, self.elapsed(),
                                     text, self.describe()))
            if time.monotonic() > deadline:
                raise BootFailed('no %r on the serial console after %.0fs'
                                 '\n%s' % (text, timeout, self.describe()))
            time.sleep(POLL)

    def wait_exit(self, timeout=BOOT_TIMEOUT):
        """QEMU's exit code, once the guest has ended it."""
        remaining = self.started + timeout - time.monotonic()
        try:
            code = self.proc.wait(timeout=max(remaining, 0.1))
        except subprocess.TimeoutExpired:
            raise BootFailed('QEMU still running after %.0fs\n%s'
                             % (timeout, self.describe()))
        self.timings['exit'] = round(self.elapsed(), 1)
        self.timings['exit_code'] = code
        return code

    def summary(self):
        """One line of timings: what appeared when, and how QEMU ended."""
        events = ', '.join('%s at %.1fs' % (key, value)
                           for key, value in self.timings.items()
                           if key not in ('name', 'exit_code'))
        return '%s: %s (exit code %s)' % (
            self.name, events or 'nothing seen',
            self.timings.get('exit_code', 'none: killed'))

    def kill(self):
        """Kill QEMU's process group: QEMU and any relay still running.

        The group outlives QEMU while a relay waits for its server, so it
        is signalled even when QEMU itself has already exited.
        """
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(timeout=30)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()
        return False
