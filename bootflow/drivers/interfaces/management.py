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
FLOPPY = 'floppy'

# Devices virtual media can be attached as.
VMEDIA_DEVICES = (DISK, CDROM, FLOPPY)

# Boot modes and indicator states, as the API names them.
BOOT_MODES = ('bios', 'uefi')
INDICATOR_STATES = ('off', 'on', 'blinking', 'unknown')


def _unsupported(task, extension):
    raise exception.UnsupportedDriverExtension(driver=task.node.driver,
                                               extension=extension)


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
        _unsupported(task, 'inject_nmi')

    # Optional capabilities: a BMC may or may not offer them, so the
    # defaults answer "unsupported" rather than being abstract.

    def get_boot_mode(self, task):
        """The boot mode in effect ('bios' or 'uefi'), or None."""
        _unsupported(task, 'get_boot_mode')

    def set_boot_mode(self, task, mode):
        _unsupported(task, 'set_boot_mode')

    def get_secure_boot_state(self, task):
        _unsupported(task, 'get_secure_boot_state')

    def set_secure_boot_state(self, task, state):
        _unsupported(task, 'set_secure_boot_state')

    def get_supported_indicators(self, task, component=None):
        """``{component: {indicator: {'readonly': bool, 'states': [...]}}}``
        """
        _unsupported(task, 'get_supported_indicators')

    def get_indicator_state(self, task, component, indicator):
        _unsupported(task, 'get_indicator_state')

    def set_indicator_state(self, task, component, indicator, state):
        _unsupported(task, 'set_indicator_state')

    def get_virtual_media(self, task):
        """A list of ``{'media_types', 'inserted', 'image'}`` dicts."""
        _unsupported(task, 'get_virtual_media')

    def attach_virtual_media(self, task, device_type, image_url):
        _unsupported(task, 'attach_virtual_media')

    def detach_virtual_media(self, task, device_types=None):
        _unsupported(task, 'detach_virtual_media')
