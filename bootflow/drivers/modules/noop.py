"""Null interfaces: a node always has every kind, so callers never test for
None; these answer "unsupported" instead."""

from bootflow.common import exception
from bootflow.drivers.interfaces import inspect as inspect_iface
from bootflow.drivers.interfaces import management
from bootflow.drivers.interfaces import optional


def _unsupported(kind):
    def fail(self, task, *args, **kwargs):
        raise exception.UnsupportedDriverExtension(
            driver=task.node.driver, extension=kind)
    return fail


class _Null:
    supported = False

    def get_properties(self):
        return {}

    def validate(self, task):
        _unsupported(self.interface_type)(self, task)


class NoBIOS(_Null, optional.BIOSInterface):
    apply_configuration = _unsupported('bios')
    factory_reset = _unsupported('bios')

    def cache_bios_settings(self, task):
        pass


class NoRAID(_Null, optional.RAIDInterface):
    create_configuration = _unsupported('raid')
    delete_configuration = _unsupported('raid')
    validate_raid_config = _unsupported('raid')


class NoFirmware(_Null, optional.FirmwareInterface):
    update = _unsupported('firmware')

    def cache_firmware_components(self, task):
        pass


class NoConsole(_Null, optional.ConsoleInterface):
    start_console = _unsupported('console')
    stop_console = _unsupported('console')
    get_console = _unsupported('console')


class NoRescue(_Null, optional.RescueInterface):
    rescue = _unsupported('rescue')
    unrescue = _unsupported('rescue')


class NoVendor(_Null, optional.VendorInterface):
    pass


class NoInspect(_Null, inspect_iface.InspectInterface):
    inspect_hardware = _unsupported('inspect')


class NoopStorage(optional.StorageInterface):
    """Nodes boot from local disk; no volumes to attach."""

    def get_properties(self):
        return {}

    def validate(self, task):
        pass


class NoopManagement(management.ManagementInterface):
    """For machines managed by hand: boot device changes are accepted and
    remembered by nobody; an operator sets the device at the console."""

    def get_properties(self):
        return {}

    def validate(self, task):
        pass

    def get_supported_boot_devices(self, task):
        return [management.PXE, management.DISK]

    def set_boot_device(self, task, device, persistent=False):
        pass

    def get_boot_device(self, task):
        return {'boot_device': None, 'persistent': None}
