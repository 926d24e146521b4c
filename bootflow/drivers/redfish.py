from bootflow.drivers import hardware_type


class RedfishHardware(hardware_type.AbstractHardwareType):
    """Servers with a Redfish BMC, driven through sushy.

    Out-of-band everything the BMC offers (power, boot device and mode,
    BIOS, firmware, RAID volumes, inventory, virtual media); the image
    still goes on through BootOS, booted from the network or, with
    ``redfish-virtual-media``, from an ISO the BMC inserts. Preferences
    follow Ironic's redfish hardware type.
    """

    supported_bios_interfaces = ['redfish', 'no-bios']
    supported_boot_interfaces = ['ipxe', 'pxe', 'http', 'grub-iso',
                                 'redfish-virtual-media']
    supported_deploy_interfaces = ['direct', 'bootos', 'netinstall']
    supported_firmware_interfaces = ['redfish', 'no-firmware']
    supported_inspect_interfaces = ['redfish', 'agent', 'no-inspect']
    supported_management_interfaces = ['redfish']
    supported_power_interfaces = ['redfish']
    supported_raid_interfaces = ['redfish', 'no-raid']
