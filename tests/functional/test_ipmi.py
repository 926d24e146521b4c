"""The ipmi hardware type through a running service and the real
``baremetal`` CLI, against pyghmi's BMC framework speaking IPMI 2.0."""

import shutil

import pytest

from .bmc_emulators import IPMIBmc
from .conftest import BaremetalCLI, HttpApi, start_service, wait_for

pytestmark = [
    pytest.mark.functional,
    pytest.mark.skipif(shutil.which('ipmitool') is None,
                       reason='ipmitool is not installed'),
]

PASSWORD = 'n0t-in-any-log-IPMI'


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp('ipmi')


@pytest.fixture(scope='module')
def bmc(workdir):
    emulator = IPMIBmc(workdir, password=PASSWORD)
    yield emulator
    emulator.stop()


@pytest.fixture(scope='module')
def svc(workdir):
    service = start_service('sqlite', workdir, extra_config={
        'DEFAULT': {'debug': 'True'},
        'ipmi': {'min_command_interval': '0', 'command_retry_timeout': '10',
                 'command_timeout': '5', 'power_poll_interval': '0.2',
                 'power_state_change_timeout': '20'},
        'conductor': {'sync_power_state_interval': '0'},
    })
    yield service
    service.stop()


def test_power_and_boot_device_through_ipmi(svc, bmc):
    cli, api = BaremetalCLI(svc), HttpApi(svc)
    args = ['node', 'create', '--driver', 'ipmi', '--name', 'ipmi-0']
    for key, value in bmc.driver_info().items():
        args += ['--driver-info', '%s=%s' % (key, value)]
    node = cli.json(*args)
    assert node['driver_info']['ipmi_password'] == '******'
    assert node['power_interface'] == 'ipmitool'
    api.move_to(node['uuid'], 'manageable', timeout=60)

    cli.run('node', 'power', 'on', node['uuid'])
    wait_for(lambda: api.node(node['uuid'])['power_state'] == 'power on',
             timeout=30, message='power on recorded')
    assert bmc.state()['power'] == 'on'
    cli.run('node', 'power', 'off', node['uuid'])
    wait_for(lambda: api.node(node['uuid'])['power_state'] == 'power off',
             timeout=30, message='power off recorded')
    assert bmc.state()['power'] == 'off'

    cli.run('node', 'boot', 'device', 'set', node['uuid'], 'pxe',
            '--persistent')
    state = bmc.state()
    assert state['boot_device'] == 'pxe' and state['persistent'] is True
    shown = cli.json('node', 'boot', 'device', 'show', node['uuid'])
    assert shown == {'boot_device': 'pxe', 'persistent': True}

    for body in (api.get('/v1/nodes/%s' % node['uuid']).text,
                 cli.run('node', 'list', '--long', '-f', 'json').stdout):
        assert PASSWORD not in body
    log = svc.log_path.read_text(errors='replace')
    assert 'ipmitool' in log
    assert PASSWORD not in log
