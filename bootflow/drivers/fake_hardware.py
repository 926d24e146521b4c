from bootflow.drivers import hardware_type


class FakeHardware(hardware_type.AbstractHardwareType):
    """Every interface kind backed by the in-memory fakes."""

    supported_bios_interfaces = ['fake', 'no-bios']
    supported_boot_interfaces = ['fake']
    supported_console_interfaces = ['no-console', 'fake']
    supported_deploy_interfaces = ['fake']
    supported_firmware_interfaces = ['fake', 'no-firmware']
    supported_inspect_interfaces = ['fake', 'no-inspect']
    supported_management_interfaces = ['fake', 'noop']
    supported_network_interfaces = ['noop', 'flat']
    supported_power_interfaces = ['fake']
    supported_raid_interfaces = ['fake', 'no-raid']
    supported_rescue_interfaces = ['fake', 'no-rescue']
    supported_storage_interfaces = ['noop']
    supported_vendor_interfaces = ['fake', 'no-vendor']
