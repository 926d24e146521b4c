"""The lab BMC's IPMI side: IPMI 2.0 (lanplus) per machine, on UDP.

A real server's BMC speaks Redfish and IPMI at once; so does the lab's.
pyghmi's BMC framework (what virtualbmc is built on) answers the
protocol; each machine gets its own port (``ipmi_port`` + its index),
and every command goes to the same :class:`~bootflow.lab.bmc.QMPSystems`
the Redfish side uses, so both see one power state and one boot
override, and the ``ipmi`` hardware type drives the machines through the
real ipmitool.

Chassis control: power on, off (forced), soft (ACPI power button),
reset and cycle (refused with 0xd5 when off, as many BMCs do), diag
(NMI).  Boot flags (system boot options parameter 5): PXE, disk or CD,
valid once or persistent; other devices are refused.
"""

import logging
import threading

from pyghmi.ipmi import bmc as pyghmi_bmc
from sushy_tools import error

LOG = logging.getLogger('bootflow.lab.ipmi')

OK = 0x00
PARAM_NOT_SUPPORTED = 0x80
INVALID_FIELD = 0xcc
NOT_IN_PRESENT_STATE = 0xd5
BOOT_FLAGS = 5
FLAG_VALID = 0x80
FLAG_PERSISTENT = 0x40
# boot flags byte 2, bits 5:2, as IPMI 2.0 table 28-14 numbers them
DEVICE_CODES = {'Pxe': 0x1, 'Hdd': 0x2, 'Cd': 0x5}
CODE_DEVICES = {code: device for device, code in DEVICE_CODES.items()}


class MachineBmc(pyghmi_bmc.Bmc):
    """One machine's IPMI endpoint, backed by the lab's systems driver."""

    def __init__(self, authdata, port, systems, identity,
                 address='127.0.0.1'):
        super().__init__(authdata, port=port, address=address)
        # pyghmi finds a client's session by the port its packet came in
        # on: that must be the bound one, also when port 0 was asked for.
        self.port = self.serversocket.getsockname()[1]
        self.systems = systems
        self.identity = identity

    def _reset(self, kind, needs_on=False):
        try:
            if needs_on and self.get_power_state() != 'on':
                return NOT_IN_PRESENT_STATE
            self.systems.set_power_state(self.identity, kind)
        except error.FishyError as exc:
            LOG.warning('%s: %s failed: %s', self.identity, kind, exc)
            return NOT_IN_PRESENT_STATE
        return OK

    def get_power_state(self):
        on = self.systems.get_power_state(self.identity) == 'On'
        return 'on' if on else 'off'

    def power_on(self):
        return self._reset('On')

    def power_off(self):
        return self._reset('ForceOff')

    def power_shutdown(self):
        return self._reset('GracefulShutdown', needs_on=True)

    def power_reset(self):
        return self._reset('ForceRestart', needs_on=True)

    def power_cycle(self):
        return self._reset('ForceRestart', needs_on=True)

    def pulse_diag(self):
        return self._reset('Nmi', needs_on=True)

    def cold_reset(self):
        return OK

    def get_system_boot_options(self, request, session):
        if request['data'][0] & 0x7f != BOOT_FLAGS:
            return session.send_ipmi_response(code=PARAM_NOT_SUPPORTED)
        target, enabled = self.systems.boot_override(self.identity)
        flags = FLAG_VALID if enabled != 'Disabled' else 0
        if enabled == 'Continuous':
            flags |= FLAG_PERSISTENT
        code = DEVICE_CODES.get(target, 0)
        session.send_ipmi_response(
            data=[1, BOOT_FLAGS, flags, code << 2, 0, 0, 0])

    def set_system_boot_options(self, request, session):
        data = list(request['data'])
        if data[0] & 0x7f != BOOT_FLAGS:
            # set-in-progress, boot info acknowledge, valid bit clearing:
            # nothing to keep for a lab machine
            return session.send_ipmi_response()
        session.send_ipmi_response(code=self._set_boot_flags(data[1:]))

    def _set_boot_flags(self, flags):
        if len(flags) < 2:
            return INVALID_FIELD
        if not flags[0] & FLAG_VALID:
            return OK
        device = CODE_DEVICES.get((flags[1] >> 2) & 0xf)
        if device is None:
            return INVALID_FIELD
        enabled = 'Continuous' if flags[0] & FLAG_PERSISTENT else 'Once'
        try:
            self.systems.set_boot_device(self.identity, device, enabled)
        except error.FishyError as exc:
            LOG.warning('%s: boot device %s failed: %s', self.identity,
                        device, exc)
            return NOT_IN_PRESENT_STATE
        return OK


def start(systems, records, base_port, username, password,
          address='127.0.0.1'):
    """A MachineBmc per lab machine (port base_port + its index), served
    by pyghmi's loop in a daemon thread; {machine name: port}."""
    authdata = {username: password}
    bmcs = [MachineBmc(authdata, base_port + record['index'], systems,
                       record['uuid'], address=address)
            for record in records]
    thread = threading.Thread(target=pyghmi_bmc.Bmc.listen,
                              kwargs={'timeout': 30}, daemon=True,
                              name='lab-ipmi')
    thread.start()
    return {record['name']: bmc.port for record, bmc in zip(records, bmcs)}
