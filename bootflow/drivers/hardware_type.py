"""Hardware types compose interfaces; they hold no logic of their own.

Each ``supported_<kind>_interfaces`` lists interface *names* (entry points
in ``bootflow.hardware.interfaces.<kind>``) in order of preference: the
first one that is also enabled is the default for new nodes.
"""

from bootflow.conf import drivers as driver_opts


class AbstractHardwareType:
    supported_bios_interfaces = ['no-bios']
    supported_boot_interfaces = []
    supported_console_interfaces = ['no-console']
    supported_deploy_interfaces = []
    supported_firmware_interfaces = ['no-firmware']
    supported_inspect_interfaces = ['no-inspect']
    supported_management_interfaces = []
    supported_network_interfaces = ['noop', 'flat', 'neutron']
    supported_power_interfaces = []
    supported_raid_interfaces = ['no-raid']
    supported_rescue_interfaces = ['no-rescue']
    supported_storage_interfaces = ['noop']
    supported_vendor_interfaces = ['no-vendor']

    def supported(self, kind):
        return list(getattr(self, 'supported_%s_interfaces' % kind))

    def get_properties(self):
        return {}


INTERFACE_KINDS = driver_opts.INTERFACE_KINDS
