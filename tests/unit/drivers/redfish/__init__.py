"""What the Redfish driver tests share: sushy (the external library)
replaced by spec'd mocks, and mocked systems that behave like BMCs — a
power change shows a read or two after the Reset, not at once.

Only sushy's objects are mocked; the driver code under test is real.
"""

import contextlib
import types
from unittest import mock

import sushy
from sushy import exceptions as sushy_exc
from sushy.resources.manager import manager as sushy_manager
from sushy.resources.manager import virtual_media as sushy_vmedia
from sushy.resources.system import system as sushy_system

from bootflow.drivers.modules.redfish import utils

ADDRESS = 'https://bmc.example.com:8443'
NODE_UUID = '5d1c7e4a-9a43-4c7b-9b5e-3f0d7c0f2a11'
SYSTEM_PATH = '/redfish/v1/Systems/1'
PASSWORD = 'Sup3r-s3cret!'


class Node(types.SimpleNamespace):
    def save(self):
        self.saves += 1


def make_node(**driver_info):
    info = {'redfish_address': ADDRESS, 'redfish_system_id': SYSTEM_PATH,
            'redfish_username': 'admin', 'redfish_password': PASSWORD}
    info.update(driver_info)
    info = {k: v for k, v in info.items() if v is not None}
    return Node(uuid=NODE_UUID, id=7, driver='redfish', saves=0,
                driver_info=info, driver_internal_info={}, instance_info={},
                properties={})


def make_task(node=None, management=None, power=None, boot=None):
    return types.SimpleNamespace(
        node=node or make_node(), ports=[],
        driver=types.SimpleNamespace(management=management, power=power,
                                     boot=boot))


def make_system(power_state=sushy.PowerState.OFF):
    system = mock.Mock(spec=sushy_system.System)
    system.identity = '1'
    system.path = SYSTEM_PATH
    system.power_state = power_state
    system.boot = types.SimpleNamespace(
        allowed_values=['Pxe', 'Cd', 'Hdd', 'UefiHttp'],
        target=sushy.BootSource.HDD,
        enabled=sushy.BootSourceOverrideEnabled.CONTINUOUS,
        mode=sushy.BootSourceOverrideMode.UEFI)
    system.get_allowed_reset_system_values.return_value = set(
        sushy.ResetType)
    system.managers = []
    system.virtual_media.get_members.return_value = []
    return system


def make_vmedia(identity, media_types, inserted=False, image=None):
    """A VirtualMedia device whose insert/eject show on the next read."""
    device = mock.Mock(spec=sushy_vmedia.VirtualMedia)
    device.identity = identity
    device.media_types = list(media_types)
    device.inserted = inserted
    device.image = image
    pending = {}

    def insert(image, inserted=True, write_protected=True, **kwargs):
        pending['state'] = (True, image)

    def eject():
        pending['state'] = (False, None)

    def refresh(force=True):
        if 'state' in pending:
            device.inserted, device.image = pending.pop('state')

    device.insert_media.side_effect = insert
    device.eject_media.side_effect = eject
    device.refresh.side_effect = refresh
    return device


def make_manager(devices):
    manager = mock.Mock(spec=sushy_manager.Manager)
    manager.virtual_media.get_members.return_value = devices
    return manager


_TARGETS = {
    sushy.ResetType.ON: sushy.PowerState.ON,
    sushy.ResetType.FORCE_ON: sushy.PowerState.ON,
    sushy.ResetType.FORCE_OFF: sushy.PowerState.OFF,
    sushy.ResetType.GRACEFUL_SHUTDOWN: sushy.PowerState.OFF,
    sushy.ResetType.FORCE_RESTART: sushy.PowerState.ON,
    sushy.ResetType.GRACEFUL_RESTART: sushy.PowerState.ON,
}


class PowerSwitch:
    """Drives a mocked system like a BMC: a Reset takes effect ``lag``
    reads later (passing through PoweringOn/Off); ``stuck`` never does."""

    def __init__(self, system, lag=2, stuck=False):
        self.system = system
        self.lag = lag
        self.stuck = stuck
        self.resets = []
        self._pending = None
        system.reset_system.side_effect = self._reset
        system.refresh.side_effect = self._refresh

    def _reset(self, reset_type):
        self.resets.append(reset_type)
        target = _TARGETS.get(reset_type)
        if target is not None and not self.stuck:
            self._pending = [target, self.lag]

    def _refresh(self, force=True):
        if not self._pending:
            return
        self._pending[1] -= 1
        if self._pending[1] <= 0:
            self.system.power_state = self._pending[0]
            self._pending = None
        elif self._pending[0] == sushy.PowerState.ON:
            self.system.power_state = sushy.PowerState.POWERING_ON
        else:
            self.system.power_state = sushy.PowerState.POWERING_OFF


@contextlib.contextmanager
def patched_sushy(system=None):
    """sushy.Sushy and its Connector replaced; yields a namespace with
    the mocked classes, root and system."""
    utils.clear_cache()
    system = system or make_system()
    with mock.patch('sushy.Sushy', autospec=True) as root_cls, \
            mock.patch.object(utils, '_Connector', autospec=True) as conn:
        root = root_cls.return_value
        root.get_system.return_value = system
        try:
            yield types.SimpleNamespace(root_cls=root_cls, connector=conn,
                                        root=root, system=system)
        finally:
            utils.clear_cache()


def http_error(cls, status, message='Something went wrong',
               url=ADDRESS + SYSTEM_PATH):
    response = mock.Mock(status_code=status)
    response.json.return_value = {'error': {
        'code': 'Base.1.0.GeneralError', 'message': message}}
    return cls('GET', url, response)


def connection_error(cause):
    """A sushy ConnectionError raised while handling ``cause``, as sushy's
    connector raises it (so it carries ``cause`` as its context)."""
    try:
        raise cause
    except Exception as exc:
        try:
            raise sushy_exc.ConnectionError(url=ADDRESS, error=exc)
        except sushy_exc.ConnectionError as wrapped:
            return wrapped


def db_task(with_power=False, **fields):
    """A task on a redfish node stored in the test database (for the
    interfaces that record BIOS settings, firmware or inventory), with the
    real Redfish power interface when the code under test reboots."""
    from bootflow.db import api as db_api
    from bootflow.db import records
    from bootflow.drivers.modules.redfish import power
    node = records.NodeRecord(db_api.create_node(dict(
        {'driver': 'redfish', 'driver_info': make_node().driver_info},
        **fields)))
    driver = (types.SimpleNamespace(power=power.RedfishPower(),
                                    management=None)
              if with_power else types.SimpleNamespace())
    return types.SimpleNamespace(node=node, ports=[], driver=driver)
