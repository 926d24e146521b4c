import abc

from bootflow.drivers import base


class InspectInterface(base.BaseInterface):
    interface_type = 'inspect'

    @abc.abstractmethod
    def inspect_hardware(self, task):
        """Discover properties and ports; returns ``MANAGEABLE`` when done
        or ``INSPECTWAIT`` when the ramdisk will report back."""

    def abort(self, task):
        """Stop an inspection waiting for the ramdisk."""

    def complete(self, task):
        """Tidy up after a successful inspection (power off, boot config),
        once whatever ran on the node has finished."""
