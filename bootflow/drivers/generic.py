from bootflow.drivers import hardware_type


class ManualManagementHardware(hardware_type.AbstractHardwareType):
    """Machines without a BMC bootflow can drive: an operator powers them
    and picks boot devices by hand; bootflow still deploys them."""

    supported_boot_interfaces = ['fake', 'ipxe', 'pxe', 'http',
                                 'grub-iso']
    supported_deploy_interfaces = ['fake', 'netinstall', 'bootos',
                                   'direct']
    supported_inspect_interfaces = ['no-inspect', 'fake', 'agent']
    supported_management_interfaces = ['noop']
    supported_power_interfaces = ['fake']
