import abc

from bootflow.common import states
from bootflow.drivers import base


class PowerInterface(base.BaseInterface):
    interface_type = 'power'

    @abc.abstractmethod
    def get_power_state(self, task):
        """Return the state the hardware reports (a ``states.POWER_*``)."""

    @abc.abstractmethod
    def set_power_state(self, task, power_state, timeout=None):
        """Bring the node to ``power_state`` and return when it is there."""

    @abc.abstractmethod
    def reboot(self, task, timeout=None):
        """Power cycle the node, leaving it powered on."""

    def get_supported_power_states(self, task):
        return [states.POWER_ON, states.POWER_OFF, states.REBOOT]
