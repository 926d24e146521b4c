"""Platform identity and firmware: what templates match vendors on."""

import socket

from bootflow.agent.collectors import base

_DMI = 'sys/class/dmi/id/'


def system_vendor(system, context=None):
    """system_vendor{product_name, serial_number, manufacturer,
    firmware{vendor, version, build_date}} from the kernel's DMI export.

    sysfs rather than dmidecode: it needs no tool and no /dev/mem.  VMs
    without SMBIOS (firecracker, some ARM boards) simply have no DMI.
    """
    def dmi(name):
        return system.value(_DMI + name)

    value = {
        'product_name': dmi('product_name'),
        'serial_number': dmi('product_serial'),
        'manufacturer': dmi('sys_vendor'),
        'firmware': {'vendor': dmi('bios_vendor'),
                     'version': dmi('bios_version'),
                     'build_date': dmi('bios_date')},
    }
    if not system.isdir(_DMI):
        return value, ['%s absent (no SMBIOS/DMI): system_vendor not '
                       'collected' % _DMI.rstrip('/')]
    notes = []
    if value['serial_number'] is None:
        notes.append('%sproduct_serial unreadable or empty (needs root): '
                     'system_vendor.serial_number not set' % _DMI)
    return value, notes


def boot(system, context=None):
    """boot{current_boot_mode, pxe_interface}.

    The kernel exposes sys/firmware/efi only when UEFI started it, which
    is the one reliable test from inside the booted ramdisk.
    """
    if context is not None:
        mac, notes = context.bootif, []
    else:
        mac, notes = base.resolve_bootif(system)
    mode = 'uefi' if system.isdir('sys/firmware/efi') else 'bios'
    return {'current_boot_mode': mode, 'pxe_interface': mac}, notes


def hostname(system, context=None):
    """Host name the ramdisk got (from DHCP), handy to spot the node."""
    name = system.value('proc/sys/kernel/hostname')
    if name is None and system.live:
        name = socket.gethostname() or None
    return name, [] if name else ['hostname not found']
