from bootflow.drivers import hardware_type


class IPMIHardware(hardware_type.AbstractHardwareType):
    """Servers with an IPMI 2.0 BMC, driven through ipmitool.

    IPMI gives power and boot device only; BIOS, RAID and inventory come
    from BootOS in-band. Preferences follow Ironic's ipmi hardware type.
    """

    supported_boot_interfaces = ['ipxe', 'pxe', 'http', 'grub-iso']
    supported_deploy_interfaces = ['direct', 'bootos', 'netinstall']
    supported_inspect_interfaces = ['no-inspect', 'agent']
    supported_management_interfaces = ['ipmitool', 'noop']
    supported_power_interfaces = ['ipmitool']
