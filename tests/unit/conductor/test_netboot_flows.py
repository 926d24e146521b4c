"""Network boot inside the real flows: the ramdisk config while the
deploy waits, the switch to local boot when it ends — also when the
conductor died in between — rebuild switching back, and tear-down
removing everything."""

import pathlib

import pytest

from bootflow.common import exception
from bootflow.common import states
from bootflow.conductor import periodics
from bootflow.db import api as db_api
from bootflow.drivers.modules import fake
from bootflow.drivers.modules.netboot import sources
from tests.unit.conductor.helpers import make_node
from tests.unit.conductor.helpers import wait_state
from tests.unit.conductor.test_flows import _run_until

MAC = '52:54:00:12:34:56'
SCRIPT = 'ipxe/52-54-00-12-34-56.ipxe'


@pytest.fixture
def netboot(conf, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    (images / 'vmlinuz').write_bytes(b'kernel')
    (images / 'initrd').write_bytes(b'initrd')
    conf.set_override('http_root', str(tmp_path / 'http'), 'deploy')
    conf.set_override('tftp_root', str(tmp_path / 'tftp'), 'pxe')
    conf.set_override('instance_master_path', str(tmp_path / 'master'),
                      'pxe')
    conf.set_override('file_url_allowed_paths', [str(images)], 'conductor')
    sources._CACHE = None
    yield tmp_path
    sources._CACHE = None


def _node(netboot, **driver_info):
    images = netboot / 'images'
    node = make_node(
        provision_state=states.AVAILABLE, power_state=states.POWER_OFF,
        boot_interface='ipxe',
        driver_info=dict(deploy_kernel='file://%s' % (images / 'vmlinuz'),
                         deploy_ramdisk='file://%s' % (images / 'initrd'),
                         **driver_info))
    db_api.create_port({'node_id': node['id'], 'address': MAC,
                        'pxe_enabled': True})
    return node


def _script(netboot):
    return (pathlib.Path(netboot) / 'http' / SCRIPT).read_text()


def _assert_local(netboot, node):
    text = _script(netboot)
    assert 'sanboot' in text and 'kernel' not in text
    assert not (netboot / 'http' / node['uuid']).exists()
    machine = fake._MACHINES[node['uuid']]
    assert (machine['boot_device'], machine['persistent']) == ('disk', True)


def test_deploy_boots_ramdisk_then_switches_to_local_disk(service, netboot):
    node = _node(netboot, fake_deploy_wait=True)
    service.manager.do_provisioning_action(None, node['id'], 'deploy')
    wait_state(node['id'], states.DEPLOYWAIT)
    assert 'kernel --name kernel http://' in _script(netboot)
    assert 'bootflow_node=%s' % node['uuid'] in _script(netboot)
    assert (netboot / 'http' / node['uuid'] / 'deploy_kernel').read_bytes() \
        == b'kernel'
    service.manager.heartbeat(None, node['id'], 'http://127.0.0.1:9')
    wait_state(node['id'], states.ACTIVE)
    _assert_local(netboot, node)

    service.manager.do_provisioning_action(None, node['id'], 'rebuild')
    wait_state(node['id'], states.DEPLOYWAIT)
    assert 'kernel --name kernel' in _script(netboot)
    service.manager.heartbeat(None, node['id'], 'http://127.0.0.1:9')
    wait_state(node['id'], states.ACTIVE)
    _assert_local(netboot, node)

    service.manager.do_provisioning_action(None, node['id'], 'deleted')
    row = wait_state(node['id'], states.AVAILABLE)
    assert not (netboot / 'http' / SCRIPT).exists()
    assert 'netboot_files' not in row['driver_internal_info']


def test_local_boot_switch_survives_a_conductor_crash(service, netboot):
    """The conductor dies after the deploy steps, before the switch: the
    resumed flow still switches, so the node cannot boot the ramdisk
    again."""
    node = _node(netboot)
    done, _steps = _run_until(service, node, 'deploy', 'deploy_steps')
    assert done == ['prepare_ramdisk', 'deploy_steps']
    assert 'kernel --name kernel' in _script(netboot)
    db_api.update_node(node['id'], {'reservation': 'gone-host'})
    assert periodics.take_over_orphans(service) == 1
    wait_state(node['id'], states.ACTIVE)
    _assert_local(netboot, node)


def test_failed_deploy_removes_the_ramdisk_config(service, netboot):
    node = _node(netboot, fake_power_fail='no power')
    service.manager.do_provisioning_action(None, node['id'], 'deploy')
    row = wait_state(node['id'], states.DEPLOYFAIL)
    assert 'no power' in row['last_error']
    assert not (netboot / 'http' / SCRIPT).exists()
    assert not (netboot / 'http' / node['uuid']).exists()
    assert 'netboot_files' not in row['driver_internal_info']


def test_netinstall_boots_the_installer_then_its_disk(service, netboot,
                                                      conf):
    """The installer comes from the pre-seeded cache, with the repository
    and kickstart on its command line; its call-back ends the deploy."""
    cache = netboot / 'netinstall' / 'rocky' / '9' / 'x86_64'
    cache.mkdir(parents=True)
    (cache / 'kernel').write_bytes(b'installer kernel')
    (cache / 'initrd').write_bytes(b'installer initrd')
    conf.set_override('cache_dir', str(netboot / 'netinstall'),
                      'netinstall')
    repo = 'http://mirror.internal/rocky/9/BaseOS/x86_64/os'
    node = _node(netboot)
    db_api.update_node(node['id'], {
        'deploy_interface': 'netinstall',
        'instance_info': {'netinstall_distro': 'rocky',
                          'netinstall_release': '9',
                          'netinstall_repo': repo,
                          'netinstall_config': 'http://cfg.internal/ks'}})
    service.manager.do_provisioning_action(None, node['id'], 'deploy')
    row = wait_state(node['id'], states.DEPLOYWAIT)
    assert row['power_state'] == states.POWER_ON
    script = _script(netboot)
    assert 'inst.repo=%s inst.ks=http://cfg.internal/ks bootflow_node=%s' \
        % (repo, node['uuid']) in script
    assert (netboot / 'http' / node['uuid'] / 'installer_kernel') \
        .read_bytes() == b'installer kernel'
    service.manager.heartbeat(None, node['id'], 'http://127.0.0.1:9')
    wait_state(node['id'], states.ACTIVE)
    _assert_local(netboot, node)


def test_netinstall_refuses_an_unknown_distribution(service, netboot):
    node = _node(netboot)
    db_api.update_node(node['id'], {
        'deploy_interface': 'netinstall',
        'instance_info': {'netinstall_distro': 'plan9',
                          'netinstall_release': '4',
                          'netinstall_repo': 'http://m/plan9'}})
    with pytest.raises(exception.InvalidParameterValue, match='plan9'):
        service.manager.do_provisioning_action(None, node['id'], 'deploy')
    row = db_api.get_node(node['id'])
    assert row['provision_state'] == states.AVAILABLE
    assert row['reservation'] is None
    assert not (netboot / 'http' / node['uuid']).exists()
