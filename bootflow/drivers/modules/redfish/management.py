"""Redfish management: boot device, boot mode, secure boot, NMI and
virtual media of a ComputerSystem.

A persistent boot device is also remembered on the node
(``driver_internal_info['redfish_boot_device']``): some BMCs drop a
Continuous override after a firmware update or a BMC reset, and the power
interface asks :meth:`RedfishManagement.restore_boot_device` to put it
back before it powers the node on, from the system it has already read
(no extra request).
"""

from oslo_log import log
import sushy
from sushy import exceptions as sushy_exc

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.drivers.interfaces import management
from bootflow.drivers.modules.redfish import utils

LOG = log.getLogger(__name__)

_Source = sushy.BootSource
BOOT_DEVICES = {
    management.PXE: _Source.PXE,
    management.DISK: _Source.HDD,
    management.CDROM: _Source.CD,
    management.BIOS: _Source.BIOS_SETUP,
    management.UEFIHTTP: _Source.UEFI_HTTP,
    management.FLOPPY: _Source.FLOPPY,
}
DEVICE_OF = {source: device for device, source in BOOT_DEVICES.items()}
# sushy itself swaps Cd for UsbCd on SuperMicro, so read it back as cdrom.
DEVICE_OF[_Source.USB_CD] = management.CDROM

BOOT_MODES = {'bios': sushy.BootSourceOverrideMode.LEGACY,
              'uefi': sushy.BootSourceOverrideMode.UEFI}
MODE_OF = {mode: name for name, mode in BOOT_MODES.items()}

_Media = sushy.VirtualMediaType
VMEDIA_TYPES = {
    management.CDROM: {_Media.CD, _Media.DVD},
    management.DISK: {_Media.USB_STICK},
    management.FLOPPY: {_Media.FLOPPY},
}
VMEDIA_POLL_INTERVAL = 1.0
BOOT_DEVICE_KEY = 'redfish_boot_device'


def _check_vmedia_types(node, device_types):
    invalid = [d for d in device_types if d not in VMEDIA_TYPES]
    if invalid:
        raise exception.InvalidParameterValue(
            err='Invalid virtual media device type(s) %s for node %s; '
                'valid are %s' % (', '.join(map(str, invalid)), node.uuid,
                                  ', '.join(sorted(VMEDIA_TYPES))))


def vmedia_devices(system):
    """The system's VirtualMedia devices: the system's own collection
    (Redfish 1.13+) if it has one, else its managers'."""
    try:
        devices = system.virtual_media.get_members()
    except sushy_exc.MissingAttributeError:
        devices = []
    if devices:
        return devices
    for manager in system.managers:
        try:
            devices = manager.virtual_media.get_members()
        except sushy_exc.MissingAttributeError:
            continue
        if devices:
            return devices
    return []


def _media_of(device):
    return set(device.media_types or ())


class RedfishManagement(management.ManagementInterface):
    """Management of a Redfish ComputerSystem."""

    def get_properties(self):
        return dict(utils.COMMON_PROPERTIES)

    def validate(self, task):
        utils.parse_driver_info(task.node)

    # --- boot device ------------------------------------------------------

    def get_supported_boot_devices(self, task):
        with utils.errors(task.node, 'boot devices read'):
            system = utils.get_system(task.node)
        allowed = system.boot.allowed_values if system.boot else None
        if not allowed:
            return sorted(BOOT_DEVICES)
        return sorted(d for d, source in BOOT_DEVICES.items()
                      if source.value in allowed)

    def set_boot_device(self, task, device, persistent=False):
        node = task.node
        if device not in BOOT_DEVICES:
            raise exception.InvalidParameterValue(
                err='Invalid boot device %s specified for node %s; valid '
                    'are %s' % (device, node.uuid,
                                ', '.join(sorted(BOOT_DEVICES))))
        with utils.errors(node, 'boot device change to %s' % device):
            system = utils.get_system(node)
            allowed = system.boot.allowed_values if system.boot else None
            if allowed and BOOT_DEVICES[device].value not in allowed:
                raise exception.InvalidParameterValue(
                    err='The BMC of node %s cannot boot from %s (it allows '
                        '%s)' % (node.uuid, device, ', '.join(allowed)))
            self._apply(system, device, persistent)
        info = dict(node.driver_internal_info or {})
        if persistent:
            info[BOOT_DEVICE_KEY] = device
        else:
            # A one-time device replaces the override; what was
            # persistent before is no longer what the node should boot.
            info.pop(BOOT_DEVICE_KEY, None)
        if info != (node.driver_internal_info or {}):
            node.driver_internal_info = info
            node.save()

    @staticmethod
    def _apply(system, device, persistent):
        enabled = (sushy.BootSourceOverrideEnabled.CONTINUOUS if persistent
                   else sushy.BootSourceOverrideEnabled.ONCE)
        # Sending an unchanged BootSourceOverrideEnabled makes some BMCs
        # fail the PATCH, so only what changes is sent.
        if system.boot and system.boot.enabled == enabled:
            enabled = None
        system.set_system_boot_options(target=BOOT_DEVICES[device],
                                       enabled=enabled)

    def get_boot_device(self, task):
        with utils.errors(task.node, 'boot device read'):
            system = utils.get_system(task.node)
        boot = system.boot
        if not boot:
            return {'boot_device': None, 'persistent': None}
        persistent = None
        if boot.enabled is not None:
            persistent = (boot.enabled ==
                          sushy.BootSourceOverrideEnabled.CONTINUOUS)
        return {'boot_device': DEVICE_OF.get(boot.target),
                'persistent': persistent}

    def restore_boot_device(self, task, system):
        """Re-apply the remembered persistent boot device if the BMC no
        longer has it; a failure is logged, not raised: the node may still
        boot, and the power action must not fail for it."""
        device = (task.node.driver_internal_info or {}).get(BOOT_DEVICE_KEY)
        if device not in BOOT_DEVICES or not system.boot:
            return
        if (DEVICE_OF.get(system.boot.target) == device and
                system.boot.enabled ==
                sushy.BootSourceOverrideEnabled.CONTINUOUS):
            return
        LOG.info('Node %s: the BMC lost the persistent boot device %s; '
                 'setting it again', task.node.uuid, device)
        try:
            self._apply(system, device, True)
        except sushy_exc.SushyError as exc:
            LOG.warning('Node %s: could not restore boot device %s: %s',
                        task.node.uuid, device, exc)

    # --- boot mode and secure boot ----------------------------------------

    def get_boot_mode(self, task):
        with utils.errors(task.node, 'boot mode read'):
            system = utils.get_system(task.node)
        return MODE_OF.get(system.boot.mode) if system.boot else None

    def set_boot_mode(self, task, mode):
        if mode not in BOOT_MODES:
            raise exception.InvalidParameterValue(
                err='Invalid boot mode %s specified for node %s; valid are '
                    '%s' % (mode, task.node.uuid, ', '.join(BOOT_MODES)))
        with utils.errors(task.node, 'boot mode change to %s' % mode):
            system = utils.get_system(task.node)
            if system.boot and system.boot.mode == BOOT_MODES[mode]:
                return
            system.set_system_boot_options(mode=BOOT_MODES[mode])

    def _secure_boot(self, task, operation):
        with utils.errors(task.node, operation):
            system = utils.get_system(task.node)
            try:
                return system.secure_boot
            except sushy_exc.MissingAttributeError:
                raise exception.UnsupportedDriverExtension(
                    driver=task.node.driver,
                    extension='secure boot (the BMC of node %s has no '
                              'SecureBoot resource)' % task.node.uuid)

    def get_secure_boot_state(self, task):
        return bool(self._secure_boot(task, 'secure boot read').enabled)

    def set_secure_boot_state(self, task, state):
        secure_boot = self._secure_boot(task, 'secure boot change')
        if bool(secure_boot.enabled) == bool(state):
            return
        with utils.errors(task.node, 'secure boot change'):
            secure_boot.set_enabled(bool(state))

    def inject_nmi(self, task):
        with utils.errors(task.node, 'NMI injection'):
            system = utils.get_system(task.node)
            system.reset_system(sushy.ResetType.NMI)

    # --- virtual media ----------------------------------------------------

    def get_virtual_media(self, task):
        with utils.errors(task.node, 'virtual media read'):
            devices = vmedia_devices(utils.get_system(task.node))
        return [{'media_types': sorted(t.value for t in _media_of(d)),
                 'inserted': bool(d.inserted),
                 'image': d.image or ''}
                for d in devices]

    def attach_virtual_media(self, task, device_type, image_url):
        node = task.node
        _check_vmedia_types(node, [device_type])
        wanted = VMEDIA_TYPES[device_type]
        with utils.errors(node, 'virtual media attach (%s)' % device_type):
            devices = [d for d in vmedia_devices(utils.get_system(node))
                       if _media_of(d) & wanted]
            if not devices:
                raise exception.InvalidParameterValue(
                    err='The BMC of node %s has no virtual media device '
                        'for %s' % (node.uuid, device_type))
            if any(d.inserted and d.image == image_url for d in devices):
                return
            free = [d for d in devices if not d.inserted]
            if not free:
                raise exception.InvalidStateForOperation(
                    err='Every %s virtual media device of node %s already '
                        'has an image inserted (%s); detach it first'
                        % (device_type, node.uuid,
                           ', '.join(d.image or '?' for d in devices)))
            device = free[0]
            LOG.info('Node %(node)s: inserting %(url)s as %(type)s into '
                     'virtual media %(dev)s',
                     {'node': node.uuid, 'url': image_url,
                      'type': device_type, 'dev': device.identity})
            device.insert_media(image_url, inserted=True,
                                write_protected=True)
            _wait_media(node, device, True)

    def detach_virtual_media(self, task, device_types=None):
        node = task.node
        device_types = list(device_types or VMEDIA_TYPES)
        _check_vmedia_types(node, device_types)
        wanted = set().union(*(VMEDIA_TYPES[t] for t in device_types))
        with utils.errors(node, 'virtual media detach (%s)'
                          % ', '.join(device_types)):
            for device in vmedia_devices(utils.get_system(node)):
                if not device.inserted or not (_media_of(device) & wanted):
                    continue
                LOG.info('Node %(node)s: ejecting %(url)s from virtual '
                         'media %(dev)s', {'node': node.uuid,
                                           'url': device.image,
                                           'dev': device.identity})
                device.eject_media()
                _wait_media(node, device, False)


def _wait_media(node, device, inserted):
    def done():
        utils.retry(device.refresh, 'virtual media read')
        return bool(device.inserted) == inserted

    utils.wait_for(done, CONF.redfish.vmedia_timeout, VMEDIA_POLL_INTERVAL,
                   'virtual media %s of node %s to be %s'
                   % (device.identity, node.uuid,
                      'inserted' if inserted else 'ejected'))
