"""Power control through ipmitool's ``power`` commands.

A BMC acknowledges a power command before the machine has changed
state (a soft power off only asks the OS to shut down), so every change
is followed by reading ``power status`` until the BMC reports the
target, within ``[ipmi] power_state_change_timeout``. A node already in
the target state is left alone: some BMCs fail a power off of a machine
that is off, and a soft power off of one that is off can never finish.
"""

import re
import time

from bootflow.common import exception
from bootflow.common import states
from bootflow.conf import CONF
from bootflow.drivers.interfaces import power
from bootflow.drivers.modules.ipmi import ipmitool
from bootflow.drivers.modules.ipmi import management

_STATUS = re.compile(r'^\s*Chassis Power is (on|off)\s*$',
                     re.IGNORECASE | re.MULTILINE)
_STATES = {'on': states.POWER_ON, 'off': states.POWER_OFF}


def parse_power_status(output):
    """``states.POWER_ON``/``POWER_OFF`` from ``power status`` output;
    None when ipmitool said something else."""
    match = _STATUS.search(output or '')
    return _STATES[match.group(1).lower()] if match else None


def power_state(node, budget=None):
    output = ipmitool.run(node, 'power', 'status', budget=budget)
    state = parse_power_status(output)
    if state is None:
        raise exception.DriverOperationError(
            err='IPMI power status failed for node %s: unexpected answer '
                '%r' % (node.uuid, (output or '').strip()[:200]))
    return state


def _wait_for(task, target, timeout, action):
    """Poll ``power status`` until the BMC reports ``target``. A failed
    read while waiting is not fatal (BMCs can be slow to answer while
    the machine changes state); only the deadline is."""
    node = task.node
    seconds = timeout or CONF.ipmi.power_state_change_timeout
    deadline = time.monotonic() + seconds
    interval = CONF.ipmi.power_poll_interval
    seen, error = None, None
    while True:
        remaining = deadline - time.monotonic()
        try:
            seen = power_state(node, budget=max(1.0, remaining))
            error = None
        except exception.DriverOperationError as e:
            error = e
        if seen == target and error is None:
            return
        if time.monotonic() + interval > deadline:
            break
        time.sleep(interval)
    if error is not None:
        last = 'the last read failed: %s' % error
    else:
        last = 'the BMC still reports %s' % seen
    raise exception.DriverOperationError(
        err='IPMI %s of node %s timed out after %ss: %s'
            % (action, node.uuid, seconds, last))


class IPMIPower(power.PowerInterface):
    """Power on/off, soft power off, reboot and soft reboot via ipmitool.
    Ironic's name for this interface is ``ipmitool`` too."""

    def get_properties(self):
        return dict(ipmitool.COMMON_PROPERTIES)

    def validate(self, task):
        ipmitool.parse_driver_info(task.node)

    def bmc_key(self, task):
        return ipmitool.bmc_key(task.node)

    def get_power_state(self, task):
        return power_state(task.node)

    def get_supported_power_states(self, task):
        return [states.POWER_ON, states.POWER_OFF, states.REBOOT,
                states.SOFT_POWER_OFF, states.SOFT_REBOOT]

    def set_power_state(self, task, power_state, timeout=None):
        if power_state not in self.get_supported_power_states(task):
            raise exception.InvalidParameterValue(
                err='IPMI cannot set power state %s of node %s'
                    % (power_state, task.node.uuid))
        if power_state == states.REBOOT:
            return self.reboot(task, timeout)
        if power_state == states.SOFT_REBOOT:
            return self._soft_reboot(task, timeout)
        if power_state == states.POWER_ON:
            return self._power_on(task, timeout)
        soft = power_state == states.SOFT_POWER_OFF
        if self.get_power_state(task) != states.POWER_OFF:
            self._power_off(task, timeout, soft)

    def _power_on(self, task, timeout):
        if self.get_power_state(task) == states.POWER_ON:
            return
        management.reapply_boot_device(task)
        ipmitool.run(task.node, 'power', 'on')
        _wait_for(task, states.POWER_ON, timeout, 'power on')

    def _power_off(self, task, timeout, soft=False):
        ipmitool.run(task.node, 'power', 'soft' if soft else 'off')
        _wait_for(task, states.POWER_OFF, timeout,
                  'soft power off' if soft else 'power off')

    def reboot(self, task, timeout=None):
        """Off (if on), then on: ``power cycle`` is refused by many BMCs
        when the machine is off, and reading the state between the two
        steps proves the machine really went down."""
        if self.get_power_state(task) != states.POWER_OFF:
            self._power_off(task, timeout)
        management.reapply_boot_device(task)
        ipmitool.run(task.node, 'power', 'on')
        _wait_for(task, states.POWER_ON, timeout, 'reboot')

    def _soft_reboot(self, task, timeout):
        if self.get_power_state(task) != states.POWER_OFF:
            self._power_off(task, timeout, soft=True)
        management.reapply_boot_device(task)
        ipmitool.run(task.node, 'power', 'on')
        _wait_for(task, states.POWER_ON, timeout, 'soft reboot')
