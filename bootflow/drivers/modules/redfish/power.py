"""Redfish power: ComputerSystem.Reset, then wait until the system says
it is there.

A Reset answers before the power actually changes (often seconds later),
so every change waits, bounded by ``[redfish]power_state_change_timeout``,
until the system REPORTS the target state; an already reached target
sends no Reset at all. Reading the power state of a node whose BMC
connection is cached costs one GET.
"""

from oslo_log import log
import sushy

from bootflow.common import exception
from bootflow.common import states
from bootflow.conf import CONF
from bootflow.drivers.interfaces import power
from bootflow.drivers.modules.redfish import utils

LOG = log.getLogger(__name__)

# What the API shows for what the BMC reports. A transition is shown as
# where it is heading, as Ironic does; waits still need the final state.
POWER_STATES = {
    sushy.PowerState.ON: states.POWER_ON,
    sushy.PowerState.POWERING_ON: states.POWER_ON,
    sushy.PowerState.OFF: states.POWER_OFF,
    sushy.PowerState.POWERING_OFF: states.POWER_OFF,
}
_ON, _OFF = sushy.PowerState.ON, sushy.PowerState.OFF
_Reset = sushy.ResetType


class RedfishPower(power.PowerInterface):
    """Power of a Redfish ComputerSystem."""

    def get_properties(self):
        return dict(utils.COMMON_PROPERTIES)

    def validate(self, task):
        utils.parse_driver_info(task.node)

    def bmc_key(self, task):
        return utils.bmc_key(task.node)

    def get_supported_power_states(self, task):
        return [states.POWER_ON, states.POWER_OFF, states.REBOOT,
                states.SOFT_REBOOT, states.SOFT_POWER_OFF]

    def get_power_state(self, task):
        with utils.errors(task.node, 'power state read'):
            system = utils.get_system(task.node)
        return POWER_STATES.get(system.power_state, states.ERROR)

    def set_power_state(self, task, power_state, timeout=None):
        if power_state not in states.POWER_TARGETS:
            raise exception.InvalidParameterValue(
                err='Unknown power state %s for node %s'
                    % (power_state, task.node.uuid))
        timeout = timeout or CONF.redfish.power_state_change_timeout
        with utils.errors(task.node, 'power change to "%s"' % power_state):
            system = utils.get_system(task.node)
            current = system.power_state
            if power_state == states.POWER_ON:
                self._power_on(task, system, current, timeout)
            elif power_state in (states.POWER_OFF, states.SOFT_POWER_OFF):
                soft = power_state == states.SOFT_POWER_OFF
                self._power_off(task, system, current, timeout, soft)
            else:
                soft = power_state == states.SOFT_REBOOT
                self._reboot(task, system, current, timeout, soft)

    def reboot(self, task, timeout=None):
        self.set_power_state(task, states.REBOOT, timeout)

    # --- the steps --------------------------------------------------------

    def _power_on(self, task, system, current, timeout):
        if current == _ON:
            return
        if current != sushy.PowerState.POWERING_ON:
            _restore_boot_device(task, system)
            self._reset(task, system, _Reset.ON)
        self._wait(task, system, _ON, timeout)

    def _power_off(self, task, system, current, timeout, soft):
        if current == _OFF:
            return
        if current != sushy.PowerState.POWERING_OFF:
            self._reset(task, system, _Reset.GRACEFUL_SHUTDOWN if soft
                        else _Reset.FORCE_OFF)
        self._wait(task, system, _OFF, timeout)

    def _reboot(self, task, system, current, timeout, soft):
        """Restart a running node; a node that is off is just powered on
        (there is nothing to restart)."""
        if current in (_OFF, sushy.PowerState.POWERING_OFF):
            if current == sushy.PowerState.POWERING_OFF:
                self._wait(task, system, _OFF, timeout)
            self._power_on(task, system, _OFF, timeout)
            return
        restart = _Reset.GRACEFUL_RESTART if soft else _Reset.FORCE_RESTART
        allowed = system.get_allowed_reset_system_values()
        _restore_boot_device(task, system)
        if restart in allowed:
            self._reset(task, system, restart)
        else:
            # No restart action: the same effect in two steps.
            LOG.debug('Node %s: the BMC does not offer %s, powering off '
                      'and on instead', task.node.uuid, restart.value)
            self._power_off(task, system, current, timeout, soft)
            self._reset(task, system, _Reset.ON)
        self._wait(task, system, _ON, timeout)

    def _reset(self, task, system, reset_type):
        LOG.info('Node %(node)s: Redfish reset %(type)s',
                 {'node': task.node.uuid, 'type': reset_type.value})
        system.reset_system(reset_type)

    def _wait(self, task, system, target, timeout):
        def reached():
            utils.retry(system.refresh, 'power state read')
            return system.power_state == target

        utils.wait_for(reached, timeout, CONF.redfish.power_poll_interval,
                       'node %s to report power %s'
                       % (task.node.uuid, target.value))


def _restore_boot_device(task, system):
    """Before the node boots, let the management interface re-apply a
    persistent boot device the BMC may have forgotten."""
    management = getattr(getattr(task, 'driver', None), 'management', None)
    restore = getattr(management, 'restore_boot_device', None)
    if restore is not None:
        restore(task, system)
