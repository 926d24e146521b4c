"""fake-hardware's interfaces: a test double and a demo at once.

They keep honest in-memory state per node (power, boot device, RAID, BIOS),
so a power off really leaves the "machine" off until something turns it on,
and they take as long as configured ([fake] *_delay, or the node's
``driver_info['fake_<kind>_delay']``), so locks and timeouts can be seen.
"""

import random
import threading
import time

from oslo_utils import strutils

from bootflow.common import exception
from bootflow.common import states
from bootflow.conf import CONF
from bootflow.db import node_data
from bootflow.drivers import base
from bootflow.drivers.interfaces import boot
from bootflow.drivers.interfaces import deploy
from bootflow.drivers.interfaces import inspect as inspect_iface
from bootflow.drivers.interfaces import management
from bootflow.drivers.interfaces import optional
from bootflow.drivers.interfaces import power
from bootflow.drivers.modules import fake_data

_MACHINES = {}
_MACHINES_LOCK = threading.Lock()


def machine(node):
    """The fake machine behind ``node``, created powered off."""
    with _MACHINES_LOCK:
        return _MACHINES.setdefault(node.uuid, {
            'power': node.power_state or states.POWER_OFF,
            'boot_device': management.PXE, 'persistent': False,
            'bios': {}, 'raid': {}, 'console': False,
            'firmware': dict(fake_data.FIRMWARE_DEFAULTS),
            'boot_mode': node.boot_mode or 'uefi',
            'secure_boot': bool(node.secure_boot), 'vmedia': {},
            'indicators': {},
        })


def _parse_delay(value):
    text = str(value).strip()
    if '-' in text[1:]:
        low, high = (float(x) for x in text.split('-', 1))
        if low > high:
            raise exception.InvalidParameterValue(
                err='Invalid fake delay range %s' % text)
        return random.uniform(low, high)
    return float(text or 0)


def delay(task, kind):
    """Take the configured time, then fail if the node asks for it
    (``driver_info['fake_<kind>_fail'] = 'reason'``): failures on demand
    let tests and demos exercise every error path."""
    info = task.node.driver_info or {}
    value = info.get('fake_%s_delay' % kind)
    if value is None:
        value = getattr(CONF.fake, '%s_delay' % kind)
    seconds = _parse_delay(value)
    if seconds > 0:
        time.sleep(seconds)
    reason = info.get('fake_%s_fail' % kind)
    if reason:
        raise exception.DriverOperationError(
            err='fake %s failure: %s' % (kind, reason))


def waits_for_callback(task, kind):
    """``driver_info['fake_<kind>_wait']``: the operation behaves as if a
    ramdisk did the work — the node parks in ``* wait`` until a heartbeat
    (``POST /v1/heartbeat/{node}``) arrives, or its callback times out."""
    value = (task.node.driver_info or {}).get('fake_%s_wait' % kind)
    return strutils.bool_from_string(value)


class _Fake:
    def get_properties(self):
        return {}

    def validate(self, task):
        for kind in ('power', 'deploy', 'boot', 'management'):
            value = (task.node.driver_info or {}).get('fake_%s_delay' % kind)
            if value is not None:
                try:
                    _parse_delay(value)
                except ValueError:
                    raise exception.InvalidParameterValue(
                        err='driver_info/fake_%s_delay must be a number or '
                            'a range MIN-MAX, not %r' % (kind, value))


class FakePower(_Fake, power.PowerInterface):
    def get_power_state(self, task):
        return machine(task.node)['power']

    def set_power_state(self, task, power_state, timeout=None):
        if power_state not in states.POWER_TARGETS:
            raise exception.InvalidParameterValue(
                err='Unknown power state %s' % power_state)
        delay(task, 'power')
        if power_state in (states.REBOOT, states.SOFT_REBOOT):
            power_state = states.POWER_ON
        elif power_state == states.SOFT_POWER_OFF:
            power_state = states.POWER_OFF
        machine(task.node)['power'] = power_state

    def reboot(self, task, timeout=None):
        delay(task, 'power')
        machine(task.node)['power'] = states.POWER_ON

    def get_supported_power_states(self, task):
        return [states.POWER_ON, states.POWER_OFF, states.REBOOT,
                states.SOFT_REBOOT, states.SOFT_POWER_OFF]


class FakeManagement(_Fake, management.ManagementInterface):
    def get_supported_boot_devices(self, task):
        return [management.PXE, management.DISK, management.CDROM,
                management.BIOS, management.SAFE]

    def set_boot_device(self, task, device, persistent=False):
        if device not in self.get_supported_boot_devices(task):
            raise exception.InvalidParameterValue(
                err='Invalid boot device %s specified.' % device)
        delay(task, 'management')
        m = machine(task.node)
        m['boot_device'], m['persistent'] = device, bool(persistent)

    def get_boot_device(self, task):
        m = machine(task.node)
        return {'boot_device': m['boot_device'],
                'persistent': m['persistent']}

    def get_sensors_data(self, task):
        return {}

    def inject_nmi(self, task):
        delay(task, 'management')

    def get_boot_mode(self, task):
        return machine(task.node)['boot_mode']

    def set_boot_mode(self, task, mode):
        if mode not in management.BOOT_MODES:
            raise exception.InvalidParameterValue(
                err='Invalid boot mode %s specified.' % mode)
        delay(task, 'management')
        machine(task.node)['boot_mode'] = mode

    def get_secure_boot_state(self, task):
        return machine(task.node)['secure_boot']

    def set_secure_boot_state(self, task, state):
        if state and machine(task.node)['boot_mode'] != 'uefi':
            raise exception.DriverOperationError(
                err='Secure boot needs UEFI boot mode on node %s'
                    % task.node.uuid)
        delay(task, 'management')
        machine(task.node)['secure_boot'] = bool(state)

    def get_supported_indicators(self, task, component=None):
        return {c: dict(names) for c, names in fake_data.INDICATORS.items()
                if component in (None, c)}

    def _indicator(self, component, indicator):
        names = fake_data.INDICATORS.get(component)
        if names is None:
            raise exception.InvalidParameterValue(
                err='Invalid component %s specified.' % component)
        if indicator not in names:
            raise exception.InvalidParameterValue(
                err='Invalid indicator %s specified.' % indicator)
        return names[indicator]

    def get_indicator_state(self, task, component, indicator):
        self._indicator(component, indicator)
        return machine(task.node)['indicators'].get(
            '%s@%s' % (indicator, component), 'off')

    def set_indicator_state(self, task, component, indicator, state):
        spec = self._indicator(component, indicator)
        if spec['readonly']:
            raise exception.InvalidParameterValue(
                err='Indicator %s of component %s is read-only.'
                    % (indicator, component))
        if state not in spec['states']:
            raise exception.InvalidParameterValue(
                err='Invalid state %s for indicator %s; expected one of: '
                    '%s' % (state, indicator, ', '.join(spec['states'])))
        delay(task, 'management')
        machine(task.node)['indicators'][
            '%s@%s' % (indicator, component)] = state

    def get_virtual_media(self, task):
        return fake_data.virtual_media(machine(task.node)['vmedia'])

    def attach_virtual_media(self, task, device_type, image_url):
        delay(task, 'management')
        machine(task.node)['vmedia'][device_type] = image_url

    def detach_virtual_media(self, task, device_types=None):
        delay(task, 'management')
        attached = machine(task.node)['vmedia']
        for device in list(device_types or attached):
            attached.pop(device, None)


class FakeBoot(_Fake, boot.BootInterface):
    def prepare_ramdisk(self, task, ramdisk_params):
        delay(task, 'boot')
        machine(task.node)['boot_device'] = management.PXE

    def clean_up_ramdisk(self, task):
        delay(task, 'boot')

    def prepare_instance(self, task):
        delay(task, 'boot')
        machine(task.node)['boot_device'] = management.DISK

    def clean_up_instance(self, task):
        delay(task, 'boot')


class FakeDeploy(_Fake, deploy.DeployInterface):
    """Writes nothing, but boots the node as a real deploy would: the
    boot interface's ramdisk config first, so fake-hardware with a real
    boot interface (ipxe, pxe, ...) network-boots a real machine."""

    def prepare(self, task):
        task.driver.boot.prepare_ramdisk(task, {})

    def clean_up(self, task):
        task.driver.boot.clean_up_ramdisk(task)

    @base.deploy_step(priority=100)
    def deploy(self, task):
        delay(task, 'deploy')
        if waits_for_callback(task, 'deploy'):
            return states.DEPLOYWAIT
        return None

    @base.clean_step(priority=0)
    def erase_devices(self, task):
        delay(task, 'deploy')
        if waits_for_callback(task, 'clean'):
            return states.CLEANWAIT
        return None

    def tear_down(self, task):
        delay(task, 'deploy')
        return states.DELETED


class FakeInspect(_Fake, inspect_iface.InspectInterface):
    def inspect_hardware(self, task):
        """Done at once, the inventory stored as an agent would report
        it, unless the node asks to wait for a (simulated) ramdisk."""
        delay(task, 'inspect')
        if waits_for_callback(task, 'inspect'):
            return states.INSPECTWAIT
        inventory, plugin_data = fake_data.inventory(
            task.node, task.ports, machine(task.node)['boot_mode'])
        node_data.store_inventory(task.node.id, inventory, plugin_data)
        return states.MANAGEABLE


class FakeBIOS(_Fake, optional.BIOSInterface):
    @base.clean_step(priority=0, requires_ramdisk=False, argsinfo={
        'settings': {'description': 'List of BIOS settings',
                     'required': True}})
    def apply_configuration(self, task, settings):
        delay(task, 'bios')
        machine(task.node)['bios'].update(
            {s['name']: s['value'] for s in settings})
        node_data.set_bios_settings(task.node.id, settings)

    @base.clean_step(priority=0, requires_ramdisk=False)
    def factory_reset(self, task):
        delay(task, 'bios')
        machine(task.node)['bios'].clear()
        node_data.delete_bios_settings(task.node.id)

    def cache_bios_settings(self, task):
        node_data.set_bios_settings(
            task.node.id, fake_data.bios_settings(machine(task.node)['bios']),
            replace=True)


class FakeRAID(_Fake, optional.RAIDInterface):
    @base.clean_step(priority=0, requires_ramdisk=False)
    def create_configuration(self, task, create_root_volume=True,
                             create_nonroot_volumes=True):
        delay(task, 'raid')
        config = task.node.target_raid_config or {}
        machine(task.node)['raid'] = config
        task.node.raid_config = config

    @base.clean_step(priority=0, requires_ramdisk=False)
    def delete_configuration(self, task):
        delay(task, 'raid')
        machine(task.node)['raid'] = {}
        task.node.raid_config = {}


class FakeFirmware(_Fake, optional.FirmwareInterface):
    @base.clean_step(priority=0, requires_ramdisk=False, argsinfo={
        'settings': {'description': 'Components to update',
                     'required': True}})
    def update(self, task, settings):
        delay(task, 'firmware')
        versions = machine(task.node)['firmware']
        flashed = {s['component']: fake_data.flashed_version(s)
                   for s in settings if s.get('component')}
        versions.update(flashed)
        node_data.store_firmware_components(
            task.node.id, fake_data.firmware_components(task.node.uuid,
                                                        flashed),
            flashed=True)

    def cache_firmware_components(self, task):
        node_data.store_firmware_components(
            task.node.id, fake_data.firmware_components(
                task.node.uuid, machine(task.node)['firmware']))


class FakeConsole(_Fake, optional.ConsoleInterface):
    def start_console(self, task):
        machine(task.node)['console'] = True

    def stop_console(self, task):
        machine(task.node)['console'] = False

    def get_console(self, task):
        return {'type': 'fake', 'url': 'fake://%s' % task.node.uuid}


class FakeRescue(_Fake, optional.RescueInterface):
    def rescue(self, task):
        delay(task, 'rescue')
        if waits_for_callback(task, 'rescue'):
            return states.RESCUEWAIT
        return states.RESCUE

    def unrescue(self, task):
        delay(task, 'rescue')
        return states.ACTIVE


class FakeVendor(_Fake, optional.VendorInterface):
    pass


class FakeStorage(_Fake, optional.StorageInterface):
    """Volumes that attach and detach instantly; the node still boots
    from its local disk."""
