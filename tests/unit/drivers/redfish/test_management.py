from unittest import mock

import pytest
import sushy
from sushy import exceptions as sushy_exc

from bootflow.common import exception
from bootflow.drivers.modules.redfish import management
from tests.unit.drivers import redfish as rf

ONCE = sushy.BootSourceOverrideEnabled.ONCE
CONTINUOUS = sushy.BootSourceOverrideEnabled.CONTINUOUS
CD, DVD = sushy.VirtualMediaType.CD, sushy.VirtualMediaType.DVD
FLOPPY = sushy.VirtualMediaType.FLOPPY
USB = sushy.VirtualMediaType.USB_STICK
ISO = 'http://192.0.2.1:8088/node/boot.iso'


@pytest.fixture
def bmc(conf):
    with rf.patched_sushy() as fake:
        yield fake


@pytest.fixture
def task():
    return rf.make_task(management=management.RedfishManagement())


@pytest.fixture
def mgmt(task):
    return task.driver.management


# --- boot devices ----------------------------------------------------------


def test_supported_boot_devices_from_bmc(bmc, task, mgmt):
    assert mgmt.get_supported_boot_devices(task) == [
        'cdrom', 'disk', 'pxe', 'uefi-http']


def test_supported_boot_devices_when_bmc_does_not_say(bmc, task, mgmt):
    bmc.system.boot.allowed_values = None
    assert mgmt.get_supported_boot_devices(task) == sorted(
        ['pxe', 'disk', 'cdrom', 'bios', 'uefi-http', 'floppy'])


def test_set_boot_device_once(bmc, task, mgmt):
    mgmt.set_boot_device(task, 'pxe', persistent=False)
    bmc.system.set_system_boot_options.assert_called_once_with(
        target=sushy.BootSource.PXE, enabled=ONCE)
    assert 'redfish_boot_device' not in task.node.driver_internal_info


def test_set_boot_device_persistent_is_remembered(bmc, task, mgmt):
    bmc.system.boot.enabled = ONCE
    mgmt.set_boot_device(task, 'cdrom', persistent=True)
    bmc.system.set_system_boot_options.assert_called_once_with(
        target=sushy.BootSource.CD, enabled=CONTINUOUS)
    assert task.node.driver_internal_info['redfish_boot_device'] == 'cdrom'
    assert task.node.saves == 1


def test_set_boot_device_unchanged_enabled_not_sent(bmc, task, mgmt):
    mgmt.set_boot_device(task, 'disk', persistent=True)
    bmc.system.set_system_boot_options.assert_called_once_with(
        target=sushy.BootSource.HDD, enabled=None)


def test_one_time_device_forgets_persistent_one(bmc, task, mgmt):
    task.node.driver_internal_info = {'redfish_boot_device': 'disk',
                                      'other': 1}
    mgmt.set_boot_device(task, 'pxe')
    assert task.node.driver_internal_info == {'other': 1}
    assert task.node.saves == 1


def test_set_boot_device_invalid_name(bmc, task, mgmt):
    with pytest.raises(exception.InvalidParameterValue) as err:
        mgmt.set_boot_device(task, 'tape')
    assert 'Invalid boot device tape' in str(err.value)
    bmc.system.set_system_boot_options.assert_not_called()


def test_set_boot_device_not_allowed_by_bmc(bmc, task, mgmt):
    with pytest.raises(exception.InvalidParameterValue) as err:
        mgmt.set_boot_device(task, 'bios')
    assert 'cannot boot from bios (it allows Pxe, Cd, Hdd, UefiHttp)' in \
        str(err.value)
    bmc.system.set_system_boot_options.assert_not_called()


@pytest.mark.parametrize('target, enabled, expected', [
    (sushy.BootSource.PXE, ONCE, {'boot_device': 'pxe',
                                  'persistent': False}),
    (sushy.BootSource.HDD, CONTINUOUS, {'boot_device': 'disk',
                                        'persistent': True}),
    (sushy.BootSource.USB_CD, ONCE, {'boot_device': 'cdrom',
                                     'persistent': False}),
    (sushy.BootSource.UEFI_SHELL, None, {'boot_device': None,
                                         'persistent': None}),
])
def test_get_boot_device(bmc, task, mgmt, target, enabled, expected):
    bmc.system.boot.target = target
    bmc.system.boot.enabled = enabled
    assert mgmt.get_boot_device(task) == expected


# --- boot mode, secure boot, NMI -------------------------------------------


def test_get_boot_mode(bmc, task, mgmt):
    assert mgmt.get_boot_mode(task) == 'uefi'
    bmc.system.boot.mode = sushy.BootSourceOverrideMode.LEGACY
    assert mgmt.get_boot_mode(task) == 'bios'


def test_set_boot_mode(bmc, task, mgmt):
    mgmt.set_boot_mode(task, 'bios')
    bmc.system.set_system_boot_options.assert_called_once_with(
        mode=sushy.BootSourceOverrideMode.LEGACY)


def test_set_boot_mode_already_set(bmc, task, mgmt):
    mgmt.set_boot_mode(task, 'uefi')
    bmc.system.set_system_boot_options.assert_not_called()


def test_set_boot_mode_invalid(bmc, task, mgmt):
    with pytest.raises(exception.InvalidParameterValue):
        mgmt.set_boot_mode(task, 'efi')


def test_secure_boot(bmc, task, mgmt):
    bmc.system.secure_boot.enabled = False
    assert mgmt.get_secure_boot_state(task) is False
    mgmt.set_secure_boot_state(task, True)
    bmc.system.secure_boot.set_enabled.assert_called_once_with(True)


def test_secure_boot_unchanged_not_sent(bmc, task, mgmt):
    bmc.system.secure_boot.enabled = True
    mgmt.set_secure_boot_state(task, True)
    bmc.system.secure_boot.set_enabled.assert_not_called()


def test_secure_boot_unsupported(bmc, task, mgmt):
    type(bmc.system).secure_boot = mock.PropertyMock(
        side_effect=sushy_exc.MissingAttributeError(
            attribute='SecureBoot', resource=rf.SYSTEM_PATH))
    with pytest.raises(exception.UnsupportedDriverExtension) as err:
        mgmt.get_secure_boot_state(task)
    assert 'has no SecureBoot resource' in str(err.value)


def test_inject_nmi(bmc, task, mgmt):
    mgmt.inject_nmi(task)
    bmc.system.reset_system.assert_called_once_with(sushy.ResetType.NMI)


# --- virtual media ---------------------------------------------------------


@pytest.fixture
def devices(bmc):
    cd = rf.make_vmedia('Cd', [CD, DVD])
    usb = rf.make_vmedia('Usb', [FLOPPY, USB])
    bmc.system.virtual_media.get_members.return_value = [cd, usb]
    return cd, usb


def test_get_virtual_media(devices, task, mgmt):
    devices[1].inserted, devices[1].image = True, 'http://x/f.img'
    assert mgmt.get_virtual_media(task) == [
        {'media_types': ['CD', 'DVD'], 'inserted': False, 'image': ''},
        {'media_types': ['Floppy', 'USBStick'], 'inserted': True,
         'image': 'http://x/f.img'}]


def test_virtual_media_from_manager_when_system_has_none(bmc, task, mgmt):
    type(bmc.system).virtual_media = mock.PropertyMock(
        side_effect=sushy_exc.MissingAttributeError(
            attribute='VirtualMedia', resource=rf.SYSTEM_PATH))
    cd = rf.make_vmedia('Cd', [CD])
    bmc.system.managers = [rf.make_manager([cd])]
    mgmt.attach_virtual_media(task, 'cdrom', ISO)
    cd.insert_media.assert_called_once_with(ISO, inserted=True,
                                            write_protected=True)
    assert cd.inserted and cd.image == ISO


def test_attach_picks_device_of_the_type(devices, task, mgmt):
    cd, usb = devices
    mgmt.attach_virtual_media(task, 'disk', ISO)
    usb.insert_media.assert_called_once_with(ISO, inserted=True,
                                             write_protected=True)
    cd.insert_media.assert_not_called()
    assert usb.inserted


def test_attach_same_image_again_is_noop(devices, task, mgmt):
    cd = devices[0]
    cd.inserted, cd.image = True, ISO
    mgmt.attach_virtual_media(task, 'cdrom', ISO)
    cd.insert_media.assert_not_called()


def test_attach_to_occupied_device_refused(devices, task, mgmt):
    cd = devices[0]
    cd.inserted, cd.image = True, 'http://other/old.iso'
    with pytest.raises(exception.InvalidStateForOperation) as err:
        mgmt.attach_virtual_media(task, 'cdrom', ISO)
    assert 'http://other/old.iso' in str(err.value)
    cd.insert_media.assert_not_called()


def test_attach_without_suitable_device(bmc, task, mgmt):
    bmc.system.virtual_media.get_members.return_value = [
        rf.make_vmedia('Usb', [USB])]
    with pytest.raises(exception.InvalidParameterValue) as err:
        mgmt.attach_virtual_media(task, 'cdrom', ISO)
    assert 'no virtual media device for cdrom' in str(err.value)


def test_attach_invalid_device_type(devices, task, mgmt):
    with pytest.raises(exception.InvalidParameterValue):
        mgmt.attach_virtual_media(task, 'tape', ISO)
    assert not devices[0].insert_media.called


def test_attach_waits_for_insertion_and_times_out(devices, task, mgmt,
                                                  conf):
    conf.set_override('vmedia_timeout', 1, 'redfish')
    cd = devices[0]
    cd.refresh.side_effect = None
    with pytest.raises(exception.DriverOperationError) as err:
        mgmt.attach_virtual_media(task, 'cdrom', ISO)
    assert str(err.value) == (
        'Timed out after 1s waiting for virtual media Cd of node %s to be '
        'inserted' % rf.NODE_UUID)


def test_attach_error_from_bmc(devices, task, mgmt):
    devices[0].insert_media.side_effect = rf.http_error(
        sushy_exc.ServerSideError, 500, 'Failed fetching image')
    with pytest.raises(exception.DriverOperationError) as err:
        mgmt.attach_virtual_media(task, 'cdrom', ISO)
    assert ('Redfish virtual media attach (cdrom) failed for node %s: the '
            'BMC at %s answered HTTP 500: Failed fetching image'
            % (rf.NODE_UUID, rf.ADDRESS)) == str(err.value)


def test_detach_only_the_asked_types(devices, task, mgmt):
    cd, usb = devices
    cd.inserted, cd.image = True, ISO
    usb.inserted, usb.image = True, 'http://x/f.img'
    mgmt.detach_virtual_media(task, ['cdrom'])
    cd.eject_media.assert_called_once_with()
    usb.eject_media.assert_not_called()
    assert not cd.inserted and usb.inserted


def test_detach_all_skips_empty_devices(devices, task, mgmt):
    cd, usb = devices
    usb.inserted, usb.image = True, 'http://x/f.img'
    mgmt.detach_virtual_media(task)
    cd.eject_media.assert_not_called()
    usb.eject_media.assert_called_once_with()
    assert not usb.inserted


def test_detach_invalid_type(devices, task, mgmt):
    with pytest.raises(exception.InvalidParameterValue):
        mgmt.detach_virtual_media(task, ['cdrom', 'tape'])
    assert not devices[0].eject_media.called
