import abc

from bootflow.common import exception
from bootflow.drivers import base

# Boot devices, as the API names them.
PXE = 'pxe'
DISK = 'disk'
CDROM = 'cdrom'
BIOS = 'bios'
SAFE = 'safe'
WANBOOT = 'wanboot'
UEFIHTTP = 'uefi-http'


class ManagementInterface(base.BaseInterface):
    interface_type = 'management'

    @abc.abstractmethod
    def get_supported_boot_devices(self, task):
        """Boot devices this node can be set to."""

    @abc.abstractmethod
    def set_boot_device(self, task, device, persistent=False):
        """Make the next boot (or every boot) use ``device``."""

    @abc.abstractmethod
    def get_boot_device(self, task):
        """``{'boot_device': str or None, 'persistent': bool or None}``."""

    def get_sensors_data(self, task):
        raise exception.UnsupportedDriverExtension(
            driver=task.node.driver, extension='get_sensors_data')

    def inject_nmi(self, task):
        raise exception.UnsupportedDriverExtension(
            driver=task.node.driver, extension='inject_nmi')
