import os
import types

import pytest
import sushy

from bootflow.common import exception
from bootflow.drivers.modules.netboot import sources
from bootflow.drivers.modules.redfish import boot
from bootflow.drivers.modules.redfish import management
from tests.unit.drivers import redfish as rf

CD = sushy.VirtualMediaType.CD
HTTP_URL = 'http://192.0.2.1:8088'


@pytest.fixture
def env(conf, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    (images / 'bootos.iso').write_bytes(b'ISO' * 1000)
    conf.set_override('http_root', str(tmp_path / 'http'), 'deploy')
    conf.set_override('http_url', HTTP_URL, 'deploy')
    conf.set_override('tftp_root', str(tmp_path / 'tftp'), 'pxe')
    conf.set_override('instance_master_path', str(tmp_path / 'master'),
                      'pxe')
    conf.set_override('file_url_allowed_paths', [str(images)], 'conductor')
    sources._CACHE = None
    yield types.SimpleNamespace(tmp=tmp_path, images=images)
    sources._CACHE = None


@pytest.fixture
def bmc(conf):
    with rf.patched_sushy() as fake:
        fake.cd = rf.make_vmedia('Cd', [CD])
        fake.system.virtual_media.get_members.return_value = [fake.cd]
        yield fake


@pytest.fixture
def task(env):
    node = rf.make_node(
        deploy_iso='file://%s' % (env.images / 'bootos.iso'))
    return rf.make_task(node=node,
                        management=management.RedfishManagement(),
                        boot=boot.RedfishVirtualMediaBoot())


def published(env, task):
    return env.tmp / 'http' / task.node.uuid / 'boot.iso'


def test_properties(task):
    assert list(task.driver.boot.get_properties()) == ['deploy_iso']


def test_validate(bmc, task):
    task.driver.boot.validate(task)


def test_validate_needs_deploy_iso(task):
    del task.node.driver_info['deploy_iso']
    with pytest.raises(exception.MissingParameterValue) as err:
        task.driver.boot.validate(task)
    assert 'driver_info/deploy_iso' in str(err.value)


def test_validate_rejects_unlisted_file(task):
    task.node.driver_info['deploy_iso'] = 'file:///etc/shadow'
    with pytest.raises(exception.InvalidParameterValue) as err:
        task.driver.boot.validate(task)
    assert 'file_url_allowed_paths' in str(err.value)


def test_validate_checks_redfish_info(task):
    del task.node.driver_info['redfish_address']
    with pytest.raises(exception.MissingParameterValue) as err:
        task.driver.boot.validate(task)
    assert 'redfish_address' in str(err.value)


def test_validate_needs_redfish_management(task):
    task.driver.management = object()
    with pytest.raises(exception.InvalidParameterValue) as err:
        task.driver.boot.validate(task)
    assert 'needs the redfish management interface' in str(err.value)


def test_prepare_ramdisk(bmc, env, task):
    task.driver.boot.prepare_ramdisk(task, {'foo': 'bar'})
    url = '%s/%s/boot.iso' % (HTTP_URL, task.node.uuid)
    assert published(env, task).read_bytes() == b'ISO' * 1000
    bmc.cd.insert_media.assert_called_once_with(url, inserted=True,
                                                write_protected=True)
    assert bmc.cd.inserted and bmc.cd.image == url
    bmc.system.set_system_boot_options.assert_called_once_with(
        target=sushy.BootSource.CD,
        enabled=sushy.BootSourceOverrideEnabled.ONCE)
    assert task.node.driver_internal_info['redfish_boot_iso'] == url
    assert task.node.saves >= 1


def test_prepare_ramdisk_ejects_old_media_first(bmc, env, task):
    bmc.cd.inserted, bmc.cd.image = True, 'http://old/boot.iso'
    task.driver.boot.prepare_ramdisk(task, {})
    calls = [c[0] for c in bmc.cd.method_calls
             if c[0] in ('eject_media', 'insert_media')]
    assert calls == ['eject_media', 'insert_media']
    assert bmc.cd.image == '%s/%s/boot.iso' % (HTTP_URL, task.node.uuid)


def test_clean_up_ramdisk(bmc, env, task):
    task.driver.boot.prepare_ramdisk(task, {})
    assert published(env, task).exists()
    task.driver.boot.clean_up_ramdisk(task)
    bmc.cd.eject_media.assert_called_once_with()
    assert not bmc.cd.inserted
    assert not published(env, task).exists()
    assert not os.path.exists(published(env, task).parent)
    assert 'redfish_boot_iso' not in task.node.driver_internal_info


def test_prepare_instance_boots_disk_without_cd(bmc, env, task):
    bmc.cd.inserted, bmc.cd.image = True, 'http://x/boot.iso'
    bmc.system.boot.enabled = sushy.BootSourceOverrideEnabled.ONCE
    task.driver.boot.prepare_instance(task)
    bmc.cd.eject_media.assert_called_once_with()
    bmc.system.set_system_boot_options.assert_called_once_with(
        target=sushy.BootSource.HDD,
        enabled=sushy.BootSourceOverrideEnabled.CONTINUOUS)
    assert task.node.driver_internal_info['redfish_boot_device'] == 'disk'


def test_clean_up_instance_ejects(bmc, env, task):
    bmc.cd.inserted, bmc.cd.image = True, 'http://x/boot.iso'
    task.driver.boot.clean_up_instance(task)
    bmc.cd.eject_media.assert_called_once_with()
    bmc.system.set_system_boot_options.assert_not_called()
