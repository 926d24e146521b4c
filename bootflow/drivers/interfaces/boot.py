import abc

from bootflow.drivers import base


class BootInterface(base.BaseInterface):
    """Prepares how a node boots: the ramdisk (BootOS) or the instance."""

    interface_type = 'boot'

    @abc.abstractmethod
    def prepare_ramdisk(self, task, ramdisk_params):
        """Make the next boot load the BootOS ramdisk."""

    @abc.abstractmethod
    def clean_up_ramdisk(self, task):
        """Undo :meth:`prepare_ramdisk`."""

    @abc.abstractmethod
    def prepare_instance(self, task):
        """Make the node boot the deployed instance (from its disk)."""

    @abc.abstractmethod
    def clean_up_instance(self, task):
        """Undo :meth:`prepare_instance`."""
