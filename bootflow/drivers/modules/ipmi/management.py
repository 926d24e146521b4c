"""Boot device and NMI through ipmitool's ``chassis`` commands.

The boot device lives in the BMC's "boot flags" (system boot options
parameter 5): a device, a valid bit, persistent or next-boot-only, and
legacy or EFI. ``efiboot`` is asked for when the node boots UEFI, since
firmware given a legacy override may boot the wrong way or ignore it.

Two BMC habits are worked around, as Ironic does and with its
driver_info keys: many BMCs drop a boot device that is not used within
60 seconds, so before setting one the timeout is switched off
(``ipmi_disable_boot_timeout``, default on); and some forget a
persistent device after one boot, so with ``ipmi_force_boot_device``
the device is kept in driver_internal_info and set again (one-time)
before every power on.
"""

import re

from oslo_log import log

from bootflow.common import exception
from bootflow.drivers.interfaces import management
from bootflow.drivers.modules.ipmi import ipmitool
from bootflow.drivers.modules.netboot import interfaces as netboot

LOG = log.getLogger(__name__)

# API boot device -> ipmitool ``chassis bootdev`` argument
BOOT_DEVICES = {
    management.PXE: 'pxe',
    management.DISK: 'disk',
    management.CDROM: 'cdrom',
    management.BIOS: 'bios',
    management.SAFE: 'safe',
}

# ipmitool's "Boot Device Selector" texts, checked in order.
_SELECTORS = (
    ('pxe', management.PXE),
    ('safe', management.SAFE),
    ('hard-drive', management.DISK),
    ('bios setup', management.BIOS),
    ('cd/dvd', management.CDROM),
    ('floppy', management.FLOPPY),
    ('no override', None),
)
_SELECTOR = re.compile(r'Boot Device Selector\s*:\s*(.*)$', re.MULTILINE)

# driver_internal_info keys (Ironic's names)
PERSISTENT_DEVICE = 'persistent_boot_device'
NEXT_PERSISTENT = 'is_next_boot_persistent'

# raw "set system boot options", parameter 3 (valid bit clearing): do not
# clear the boot flags on the 60 s timeout.
_DISABLE_BOOT_TIMEOUT = ('raw', '0x00', '0x08', '0x03', '0x08')


def parse_boot_flags(output):
    """``{'boot_device', 'persistent', 'efiboot'}`` from ``chassis
    bootparam get 5``. Flags marked invalid mean no override is set: the
    machine boots as its firmware decides, so the device is None."""
    text = output or ''
    if 'Boot parameter 5' not in text and 'Boot Flags' not in text:
        raise ValueError('no boot flags in %r' % text.strip()[:200])
    if 'Boot Flag Invalid' in text:
        return {'boot_device': None, 'persistent': None, 'efiboot': None}
    device = None
    match = _SELECTOR.search(text)
    if match:
        selector = match.group(1).lower()
        for needle, name in _SELECTORS:
            if needle in selector:
                device = name
                break
    return {'boot_device': device,
            'persistent': 'Options apply to all future boots' in text,
            'efiboot': 'BIOS EFI boot' in text}


def _save_internal(node, **changes):
    info = dict(node.driver_internal_info or {})
    for key, value in changes.items():
        if value is None:
            info.pop(key, None)
        else:
            info[key] = value
    node.driver_internal_info = info
    node.save()


def reapply_boot_device(task):
    """Before a power on of a node with ipmi_force_boot_device: set its
    remembered persistent device again, unless a one-time device was set
    for exactly this boot."""
    node = task.node
    if not ipmitool.parse_driver_info(node)['force_boot_device']:
        return
    internal = node.driver_internal_info or {}
    if internal.get(NEXT_PERSISTENT) is False:
        _save_internal(node, **{NEXT_PERSISTENT: None})
        return
    device = internal.get(PERSISTENT_DEVICE)
    if device:
        _set(task, device, persistent=False)


def _set(task, device, persistent):
    node = task.node
    info = ipmitool.parse_driver_info(node)
    if info['disable_boot_timeout']:
        try:
            ipmitool.run(node, *_DISABLE_BOOT_TIMEOUT)
        except ipmitool.IPMICommandError as e:
            if e.kind != ipmitool.COMMAND:
                raise
            LOG.warning('The BMC of node %s did not accept disabling the '
                        'boot device timeout, setting %s anyway: %s',
                        node.uuid, device, e)
    options = []
    if persistent:
        options.append('persistent')
    if netboot.boot_mode(task) == 'uefi':
        options.append('efiboot')
    args = ['chassis', 'bootdev', BOOT_DEVICES[device]]
    if options:
        args.append('options=%s' % ','.join(options))
    ipmitool.run(node, *args)


class IPMIManagement(management.ManagementInterface):
    """Boot device (PXE, disk, CD, BIOS setup, safe mode) and NMI."""

    def get_properties(self):
        return dict(ipmitool.COMMON_PROPERTIES)

    def validate(self, task):
        ipmitool.parse_driver_info(task.node)

    def get_supported_boot_devices(self, task):
        return list(BOOT_DEVICES)

    def set_boot_device(self, task, device, persistent=False):
        if device not in BOOT_DEVICES:
            raise exception.InvalidParameterValue(
                err='Invalid boot device %s specified; IPMI supports %s.'
                    % (device, ', '.join(BOOT_DEVICES)))
        node = task.node
        if ipmitool.parse_driver_info(node)['force_boot_device']:
            # The BMC cannot be trusted to keep it: a one-time setting
            # now, and bootflow remembers a persistent one.
            if persistent:
                _save_internal(node, **{PERSISTENT_DEVICE: device,
                                        NEXT_PERSISTENT: None})
            else:
                _save_internal(node, **{NEXT_PERSISTENT: False})
            persistent = False
        _set(task, device, persistent)

    def get_boot_device(self, task):
        node = task.node
        internal = node.driver_internal_info or {}
        if (ipmitool.parse_driver_info(node)['force_boot_device']
                and internal.get(PERSISTENT_DEVICE)
                and internal.get(NEXT_PERSISTENT) is not False):
            return {'boot_device': internal[PERSISTENT_DEVICE],
                    'persistent': True}
        output = ipmitool.run(node, 'chassis', 'bootparam', 'get', '5')
        try:
            flags = parse_boot_flags(output)
        except ValueError as e:
            raise exception.DriverOperationError(
                err='IPMI chassis bootparam get 5 failed for node %s: '
                    'unexpected answer: %s' % (node.uuid, e))
        return {'boot_device': flags['boot_device'],
                'persistent': flags['persistent']}

    def inject_nmi(self, task):
        ipmitool.run(task.node, 'power', 'diag')
