"""Interface kinds a node may leave out (each has a ``no-*`` null object).

They are small, so they share a module; the mandatory kinds have one each.
"""

import abc

from bootflow.drivers import base


class BIOSInterface(base.BaseInterface):
    interface_type = 'bios'

    @abc.abstractmethod
    def apply_configuration(self, task, settings):
        """Apply a list of ``{'name': ..., 'value': ...}`` BIOS settings."""

    @abc.abstractmethod
    def factory_reset(self, task):
        """Reset BIOS settings to factory defaults."""

    @abc.abstractmethod
    def cache_bios_settings(self, task):
        """Read the current settings and store them for the API."""


class RAIDInterface(base.BaseInterface):
    interface_type = 'raid'

    @abc.abstractmethod
    def create_configuration(self, task, create_root_volume=True,
                             create_nonroot_volumes=True):
        """Build ``node.target_raid_config``."""

    @abc.abstractmethod
    def delete_configuration(self, task):
        """Delete every logical disk."""


class FirmwareInterface(base.BaseInterface):
    interface_type = 'firmware'

    @abc.abstractmethod
    def update(self, task, settings):
        """Flash the firmware components listed in ``settings``."""

    @abc.abstractmethod
    def cache_firmware_components(self, task):
        """Read component versions and store them for the API."""


class ConsoleInterface(base.BaseInterface):
    interface_type = 'console'

    @abc.abstractmethod
    def start_console(self, task):
        pass

    @abc.abstractmethod
    def stop_console(self, task):
        pass

    @abc.abstractmethod
    def get_console(self, task):
        """``{'type': ..., 'url': ...}`` for a client to attach."""


class RescueInterface(base.BaseInterface):
    interface_type = 'rescue'

    @abc.abstractmethod
    def rescue(self, task):
        """Boot the rescue ramdisk; returns ``RESCUE`` or ``RESCUEWAIT``."""

    @abc.abstractmethod
    def unrescue(self, task):
        """Return the node to its instance; returns ``ACTIVE``."""

    def clean_up(self, task):
        """Undo a rescue that failed half-way (rescue boot config)."""


class StorageInterface(base.BaseInterface):
    interface_type = 'storage'

    def attach_volumes(self, task):
        pass

    def detach_volumes(self, task):
        pass

    def should_write_image(self, task):
        return True


class VendorInterface(base.BaseInterface):
    interface_type = 'vendor'
