#!/usr/bin/env python3
"""An IPMI 2.0 BMC on a UDP port, for testing the ipmitool driver.

It answers the real ipmitool (lanplus) so tests exercise the whole path:
session setup with RAKP authentication, privilege level, chassis power
control and status, and the boot flags parameter of the system boot
options. The machine behind it is imaginary but honest: power changes
stick (optionally after ``--power-delay`` seconds, so a driver must
really wait for them), a one-time boot device is consumed by the next
boot as on real hardware, and the persistent and EFI bits of the boot
flags are kept instead of being dropped.

Every change is written to ``--state-file`` as JSON, atomically (a temp
file renamed over it), so a test reads what the "hardware" did rather
than what the driver believes. Several emulators run side by side, each
with its own port and state file (pytest-xdist workers).

Usage::

    ipmi_bmc.py --port 0 --username admin --password secret \\
        --state-file /tmp/bmc.json [--power-delay 0.5] [--power on]

``--port 0`` binds a free port; the port is printed on stdout in one
line ``READY <port>`` once the BMC listens.

Limits, inherited from pyghmi's BMC side (pyghmi.ipmi.private.
serversession): only cipher suite 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96,
AES-CBC-128) is offered and negotiated whatever the client proposes,
and IPMI 1.5 sessions (``-I lan``) are not answered.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import threading

from pyghmi.ipmi import bmc as pyghmi_bmc
from pyghmi.ipmi.private import constants
from pyghmi.ipmi.private import serversession

# IPMI completion codes
OK = 0x00
INVALID_FIELD = 0xcc
NOT_IN_PRESENT_STATE = 0xd5
PARAM_NOT_SUPPORTED = 0x80
# RAKP message status: the user name is not known to the BMC
UNAUTHORIZED_NAME = 0x0d

# Boot flags, byte 2 bits 5:2 (IPMI 2.0 table 28-14), named as ipmitool's
# ``chassis bootdev`` names them.
DEVICES = {0x0: None, 0x1: 'pxe', 0x2: 'disk', 0x3: 'safe', 0x4: 'diag',
           0x5: 'cdrom', 0x6: 'bios', 0xf: 'floppy'}
DEVICE_CODES = {name: code for code, name in DEVICES.items()}

# Boot flags, byte 1
FLAG_VALID = 0x80
FLAG_PERSISTENT = 0x40
FLAG_EFI = 0x20

# System boot option parameters (table 28-14)
PARAM_SET_IN_PROGRESS = 0
PARAM_VALID_BIT_CLEARING = 3
PARAM_BOOT_INFO_ACK = 4
PARAM_BOOT_FLAGS = 5

HISTORY_LENGTH = 50


class _Session(serversession.ServerSession):
    """pyghmi's server session, with two things a test needs.

    pyghmi silently drops a RAKP 1 naming an unknown user, so a client
    cannot tell a wrong user name from a dead BMC; real BMCs answer with
    status "unauthorized name", and so does this one. And the BMC counts
    the sessions it opens, so tests can see how many ipmitool runs (one
    session each) an operation cost.
    """

    def _got_rakp1(self, data):
        name = bytes(data[28:]).decode('utf-8', 'replace')
        if data[27] and self.authdata.get(name) is None:
            reply = (bytearray([data[0], UNAUTHORIZED_NAME, 0, 0])
                     + self.clientsessionid)
            self.send_payload(reply, constants.payload_types['rakp2'],
                              retry=False)
            return
        super()._got_rakp1(data)

    def _send_rakp4(self, tagvalue, statuscode):
        super()._send_rakp4(tagvalue, statuscode)
        self.bmc.session_opened()


class EmulatedBmc(pyghmi_bmc.Bmc):
    """One imaginary server's BMC, its state mirrored to a JSON file."""

    def __init__(self, authdata, port, address, state_file,
                 power_delay=0.0, power='off', ignore_soft=False):
        super().__init__(authdata, port=port, address=address)
        # pyghmi files client sessions under self.port and finds them by
        # the port a packet arrived on: with --port 0 that must be the
        # port the kernel picked.
        self.port = self.serversocket.getsockname()[1]
        self.state_file = state_file
        self.power_delay = power_delay
        self.ignore_soft = ignore_soft
        self._lock = threading.RLock()
        self._timer = None
        self.state = {
            'power': power, 'boot_device': None, 'persistent': False,
            'efiboot': False, 'boot_flags_valid': False,
            'valid_bit_clearing': None, 'last_boot': None,
            'boot_count': 0, 'nmi_count': 0, 'sessions': 0,
            'history': [],
        }
        self._save()

    # -- state ------------------------------------------------------------

    def _save(self):
        directory = os.path.dirname(os.path.abspath(self.state_file))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.ipmi-bmc-')
        try:
            with os.fdopen(fd, 'w') as f:
                json.dump(self.state, f, indent=1, sort_keys=True)
            os.replace(tmp, self.state_file)
        except BaseException:
            os.unlink(tmp)
            raise

    def _record(self, event):
        history = self.state['history']
        history.append(event)
        del history[:-HISTORY_LENGTH]

    def session_opened(self):
        with self._lock:
            self.state['sessions'] += 1
            self._save()

    # -- power ------------------------------------------------------------

    def _boot(self):
        """Power on: the machine boots, consuming a one-time override."""
        state = self.state
        state['power'] = 'on'
        state['boot_count'] += 1
        device = state['boot_device'] if state['boot_flags_valid'] else None
        state['last_boot'] = {'device': device or 'disk',
                              'efiboot': bool(device and state['efiboot']),
                              'override': device is not None}
        if device is not None and not state['persistent']:
            state['boot_flags_valid'] = False

    def _later(self, change):
        """Apply ``change`` after the power delay: real servers take time
        to power off or on, and the driver must wait for the report."""
        def apply():
            with self._lock:
                change()
                self._save()
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            if self.power_delay <= 0:
                self._timer = None
                change()
                return
            self._timer = threading.Timer(self.power_delay, apply)
            self._timer.daemon = True
            self._timer.start()

    def _set_off(self):
        self.state['power'] = 'off'

    def _control(self, event, change, needs_on=False):
        with self._lock:
            if needs_on and self.state['power'] != 'on':
                self._record(event + ' refused: power is off')
                self._save()
                return NOT_IN_PRESENT_STATE
            self._record(event)
            self._later(change)
            self._save()
        return OK

    def get_power_state(self):
        with self._lock:
            return self.state['power']

    def power_on(self):
        def change():
            if self.state['power'] != 'on':
                self._boot()
        return self._control('power on', change)

    def power_off(self):
        return self._control('power off', self._set_off)

    def power_cycle(self):
        # Many BMCs refuse a cycle of a machine that is off (0xd5); the
        # driver must then power on instead, so the emulator refuses too.
        def change():
            self._set_off()
            self._boot()
        return self._control('power cycle', change, needs_on=True)

    def power_reset(self):
        def change():
            self._boot()
        return self._control('power reset', change, needs_on=True)

    def power_shutdown(self):
        if self.ignore_soft:
            with self._lock:
                self._record('power soft ignored')
                self._save()
            return OK
        return self._control('power soft', self._set_off, needs_on=True)

    def pulse_diag(self):
        def change():
            self.state['nmi_count'] += 1
        return self._control('power diag', change, needs_on=True)

    def cold_reset(self):
        with self._lock:
            self._record('mc reset cold')
            self._save()
        return OK

    # -- boot options -----------------------------------------------------

    def get_system_boot_options(self, request, session):
        param = request['data'][0] & 0x7f
        with self._lock:
            state = dict(self.state)
        if param == PARAM_BOOT_FLAGS:
            flags = 0
            if state['boot_flags_valid']:
                flags = FLAG_VALID
                if state['persistent']:
                    flags |= FLAG_PERSISTENT
                if state['efiboot']:
                    flags |= FLAG_EFI
            device = DEVICE_CODES.get(state['boot_device']) or 0
            data = [1, PARAM_BOOT_FLAGS, flags, device << 2, 0, 0, 0]
        elif param == PARAM_SET_IN_PROGRESS:
            data = [1, param, 0]
        elif param == PARAM_VALID_BIT_CLEARING:
            data = [1, param, state['valid_bit_clearing'] or 0]
        elif param == PARAM_BOOT_INFO_ACK:
            data = [1, param, 0, 0]
        else:
            return session.send_ipmi_response(code=PARAM_NOT_SUPPORTED)
        session.send_ipmi_response(data=data)

    def set_system_boot_options(self, request, session):
        data = list(request['data'])
        param = data[0] & 0x7f
        if param == PARAM_BOOT_FLAGS:
            return session.send_ipmi_response(
                code=self._set_boot_flags(data[1:]))
        if param == PARAM_VALID_BIT_CLEARING and len(data) > 1:
            with self._lock:
                self.state['valid_bit_clearing'] = data[1]
                self._record('valid bit clearing 0x%02x' % data[1])
                self._save()
        elif param not in (PARAM_SET_IN_PROGRESS, PARAM_BOOT_INFO_ACK):
            return session.send_ipmi_response(code=PARAM_NOT_SUPPORTED)
        session.send_ipmi_response()

    def _set_boot_flags(self, flags):
        if len(flags) < 2:
            return INVALID_FIELD
        code = (flags[1] >> 2) & 0xf
        if code not in DEVICES:
            return INVALID_FIELD
        device = DEVICES[code]
        with self._lock:
            state = self.state
            state['boot_flags_valid'] = bool(flags[0] & FLAG_VALID)
            state['boot_device'] = device
            state['persistent'] = bool(flags[0] & FLAG_PERSISTENT)
            state['efiboot'] = bool(flags[0] & FLAG_EFI)
            self._record('bootdev %s%s%s' % (
                device or 'none',
                ' persistent' if state['persistent'] else '',
                ' efiboot' if state['efiboot'] else ''))
            self._save()
        return OK


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--port', type=int, default=623,
                        help='UDP port; 0 picks a free one (printed).')
    parser.add_argument('--address', default='127.0.0.1')
    parser.add_argument('--username', default='admin')
    parser.add_argument('--password', default='password')
    parser.add_argument('--state-file', required=True)
    parser.add_argument('--power', choices=('on', 'off'), default='off',
                        help='Power state at start.')
    parser.add_argument('--power-delay', type=float, default=0.0,
                        help='Seconds before a power change takes effect.')
    parser.add_argument('--ignore-soft', action='store_true',
                        help='Ignore soft power off, like an OS that does '
                             'not handle ACPI.')
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse_args(argv)
    # pyghmi creates its sessions by this module-level name; point it at
    # the subclass (this process is nothing but the emulator).
    serversession.ServerSession = _Session
    bmc = EmulatedBmc({args.username: args.password}, args.port,
                      args.address, args.state_file,
                      power_delay=args.power_delay, power=args.power,
                      ignore_soft=args.ignore_soft)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print('READY %d' % bmc.port, flush=True)
    try:
        bmc.listen(timeout=30)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
