from bootflow.drivers import hardware_type


class FakeHardware(hardware_type.AbstractHardwareType):
    """Every interface kind backed by the in-memory fakes.

    Preferences follow Ironic's fake-hardware (the fake first, then the
    null or generic ones), so a node created with no interfaces named gets
    the same defaults as on Ironic with the same interfaces enabled.
    """

    supported_bios_interfaces = ['fake', 'no-bios']
    supported_boot_interfaces = ['fake', 'ipxe', 'pxe', 'http', 'grub-iso']
    supported_console_interfaces = ['fake', 'no-console']
    supported_deploy_interfaces = ['fake', 'netinstall', 'bootos',
                                   'direct']
    supported_firmware_interfaces = ['fake', 'no-firmware']
    supported_inspect_interfaces = ['fake', 'no-inspect', 'agent']
    supported_management_interfaces = ['fake', 'noop']
    supported_network_interfaces = ['flat', 'noop', 'neutron']
    supported_power_interfaces = ['fake']
    supported_raid_interfaces = ['fake', 'no-raid']
    supported_rescue_interfaces = ['fake', 'no-rescue']
    supported_storage_interfaces = ['fake', 'noop']
    supported_vendor_interfaces = ['fake', 'no-vendor']
