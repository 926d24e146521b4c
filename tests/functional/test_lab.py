"""``bootflow lab`` for real: QEMU machines (kept stopped with -S unless
a node is powered on), the lab's Redfish BMC, and a running service
whose production ``redfish`` driver controls them.

What QEMU says over QMP is the truth: a test passes only when the guest
really runs, stops, or has its devices' bootindex changed.
"""

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from bootflow.lab import Lab
from bootflow.lab import bmc as bmclib

from .conftest import HttpApi, free_udp_ports, start_service, wait_for

pytestmark = pytest.mark.functional

PASSWORD = 'lab-Redfish-pw'


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _needs_qemu():
    for tool in ('qemu-system-x86_64', 'qemu-img'):
        if not shutil.which(tool):
            pytest.skip('%s not installed' % tool)


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp('lab')


@pytest.fixture(scope='module')
def svc(workdir):
    _needs_qemu()
    http_port = _free_port()
    service = start_service('sqlite', workdir, extra_config={
        'deploy': {'http_url': 'http://10.0.2.100',
                   'http_server_port': str(http_port),
                   'http_server_host': '127.0.0.1'},
        'conductor': {'api_url': 'http://10.0.2.100:6385',
                      'sync_power_state_interval': '0'},
        'redfish': {'connection_attempts': '2',
                    'connection_retry_interval': '0.2',
                    'connect_timeout': '2', 'read_timeout': '10',
                    'power_state_change_timeout': '30',
                    'power_poll_interval': '0.2'},
    })
    service.http_port = http_port
    yield service
    service.stop()


@pytest.fixture(scope='module')
def api(svc):
    return HttpApi(svc)


@pytest.fixture(scope='module')
def lab(workdir, svc):
    lab = Lab(workdir / 'lab', die_with_parent=True)
    lab.create(count=2, memory_mib=128, cpus=1, disk_size='64M',
               api_port=int(svc.endpoint.rsplit(':', 1)[1]),
               http_port=svc.http_port, bmc_port=_free_port(),
               username='admin', password=PASSWORD,
               ipmi_port=free_udp_ports(2))
    sys.stderr.write('lab create: %s\n' % lab.timings)
    yield lab
    lab.destroy()


@pytest.fixture(scope='module')
def nodes(lab, svc):
    return {node['name']: node for node in lab.enroll(svc.endpoint)}


def _power(api, uuid, target):
    resp = api.put('/v1/nodes/%s/states/power' % uuid,
                   json={'target': target})
    assert resp.status_code == 202, resp.text
    return wait_for(lambda: api.node(uuid)['power_state'] == target and
                    api.node(uuid)['target_power_state'] is None,
                    timeout=60, message='%s %s' % (uuid, target))


def _boot_device(api, uuid, device, persistent):
    resp = api.put('/v1/nodes/%s/management/boot_device' % uuid,
                   json={'boot_device': device, 'persistent': persistent})
    assert resp.status_code == 204, resp.text


def test_lab_machines_start_off(lab):
    assert [m.name for m in lab.machines] == ['lab-0', 'lab-1']
    assert len({m.mac for m in lab.machines}) == 2
    for machine in lab.machines:
        assert lab.status(machine.name) == 'prelaunch'
        assert lab.power_state(machine.name) == 'off'
        assert Path(machine.disk).exists()
    assert (lab.tftp_dir / 'boot.ipxe').read_text().startswith('#!ipxe')


def test_bmc_serves_redfish_with_basic_auth(lab):
    machine = lab.machines[0]
    url = lab.bmc_url + machine.system_path
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=('admin', 'wrong'),
                        timeout=10).status_code == 401
    body = requests.get(url, auth=('admin', PASSWORD), timeout=10).json()
    assert body['UUID'] == machine.uuid
    assert body['PowerState'] == 'Off'
    assert body['Boot']['BootSourceOverrideMode'] == 'Legacy'
    assert body['Boot']['BootSourceOverrideTarget@Redfish.AllowableValues'] \
        == ['Pxe', 'Hdd', 'Cd']


def test_enroll_creates_redfish_nodes_and_ports(lab, api, nodes):
    assert sorted(nodes) == ['lab-0', 'lab-1']
    for machine in lab.machines:
        node = nodes[machine.name]
        info = node['driver_info']
        assert node['driver'] == 'redfish'
        assert info['redfish_address'] == lab.bmc_url
        assert info['redfish_system_id'] == machine.system_path
        assert info['kernel_append_params'] == 'console=ttyS0,115200'
        assert node['properties']['root_device'] == {
            'serial': machine.disk_serial}
        assert (node['boot_interface'], node['deploy_interface'],
                node['resource_class']) == ('ipxe', 'direct', 'lab')
        ports = api.get('/v1/ports', params={
            'node_uuid': node['uuid'], 'fields': 'address,pxe_enabled'})
        assert [(p['address'], p['pxe_enabled'])
                for p in ports.json()['ports']] == [(machine.mac, True)]
    # a hint an operator removed comes back on the next enrolment
    api.patch_node('lab-1', [{'op': 'remove',
                              'path': '/properties/root_device'}])
    again = lab.enroll(api.service.endpoint)
    assert again[1]['properties']['root_device'] == {
        'serial': lab.machines[1].disk_serial}
    assert [n['uuid'] for n in again] == [
        nodes['lab-0']['uuid'], nodes['lab-1']['uuid']]
    assert len(api.get('/v1/ports').json()['ports']) == 2


def test_power_on_and_off_through_the_redfish_driver(lab, api, nodes):
    uuid = nodes['lab-0']['uuid']
    started = time.monotonic()
    _power(api, uuid, 'power on')
    on_seconds = time.monotonic() - started
    try:
        assert lab.status('lab-0') == 'running'
        assert lab.status('lab-1') == 'prelaunch'   # only that machine
    finally:
        _power(api, uuid, 'power off')
    assert lab.status('lab-0') != 'running'
    assert api.node(uuid)['power_state'] == 'power off'
    sys.stderr.write('power on through the API: %.2fs\n' % on_seconds)


def test_boot_device_sets_qom_bootindex(lab, api, nodes):
    uuid = nodes['lab-1']['uuid']
    power = lab.power('lab-1')
    _boot_device(api, uuid, 'pxe', True)
    assert power.boot_order() == {'nic0': 1, 'disk0': 2}
    shown = api.get('/v1/nodes/%s/management/boot_device' % uuid).json()
    assert shown == {'boot_device': 'pxe', 'persistent': True}
    _boot_device(api, uuid, 'disk', True)
    assert power.boot_order() == {'disk0': 1, 'nic0': 2}


def test_one_time_boot_device_is_used_by_the_next_power_on(lab, api, nodes):
    uuid = nodes['lab-1']['uuid']
    power = lab.power('lab-1')
    _boot_device(api, uuid, 'disk', True)
    _boot_device(api, uuid, 'pxe', False)
    assert power.boot_order() == {'nic0': 1, 'disk0': 2}
    _power(api, uuid, 'power on')
    try:
        assert lab.status('lab-1') == 'running'
        # the firmware reads the order after a moment: kept for it...
        assert power.boot_order() == {'nic0': 1, 'disk0': 2}
        # ...then the next boot the guest does itself is from the disk
        wait_for(lambda: power.boot_order() == {'disk0': 1, 'nic0': 2},
                 timeout=bmclib.ONCE_HOLD + 10, interval=0.5,
                 message='the disk first again after the Once boot')
        shown = api.get('/v1/nodes/%s/management/boot_device' % uuid)
        assert shown.json()['boot_device'] == 'disk'
    finally:
        _power(api, uuid, 'power off')
    assert lab.status('lab-1') != 'running'


def test_stop_and_start_keep_the_bmc_state(lab, api, nodes):
    uuid = nodes['lab-0']['uuid']
    _boot_device(api, uuid, 'pxe', True)
    lab.stop()
    assert lab.power_state('lab-0') is None
    lab.start()
    assert lab.status('lab-0') == 'prelaunch'
    shown = api.get('/v1/nodes/%s/management/boot_device' % uuid).json()
    assert shown == {'boot_device': 'pxe', 'persistent': True}
    _power(api, uuid, 'power on')
    try:
        assert lab.power('lab-0').boot_order() == {'nic0': 1, 'disk0': 2}
    finally:
        _power(api, uuid, 'power off')


def _bootflow():
    script = Path(sys.executable).with_name('bootflow')
    if script.exists():
        return [str(script)]
    return [sys.executable, '-c',
            'import sys; from bootflow.cmd import aio; '
            'sys.exit(aio.main())']


def _cli(*args, env=None):
    proc = subprocess.run(_bootflow() + ['lab'] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


def test_cli_create_list_enroll_destroy(workdir, svc, api, nodes):
    """Last: its enrolment takes the nodes of the same names over."""
    lab_dir = workdir / 'cli-lab'
    env = dict(os.environ, BOOTFLOW_LAB_DIR=str(lab_dir))
    bmc_port = _free_port()
    try:
        out = _cli('create', '--count', 1, '--memory', 128, '--disk-size',
                   '64M', '--bmc-port', bmc_port, '--http-port',
                   svc.http_port, '--ipmi-port', free_udp_ports(1),
                   env=env)
        assert 'http_url = http://10.0.2.100' in out
        assert 'api_url = http://10.0.2.100:6385' in out
        assert 'http_server_port = %d' % svc.http_port in out
        rows = json.loads(_cli('list', '--json', env=env))
        assert [(r['name'], r['power']) for r in rows] == [('lab-0', 'off')]
        assert rows[0]['bmc_url'].startswith('http://127.0.0.1:%d/redfish/'
                                             % bmc_port)
        out = _cli('enroll', '--url', svc.endpoint, '--lab-dir', lab_dir)
        assert out.startswith('lab-0 %s ' % nodes['lab-0']['uuid'])
        info = api.node('lab-0')['driver_info']
        assert info['redfish_system_id'].endswith(rows[0]['uuid'])
        assert info['redfish_address'] == 'http://127.0.0.1:%d' % bmc_port
    finally:
        subprocess.run(_bootflow() + ['lab', 'destroy'], env=env,
                       timeout=60, check=False)
    assert not lab_dir.exists()


def test_ipmi_drives_the_same_machines(lab, api, nodes, svc):
    """The lab BMC's IPMI side, through the ipmi hardware type and the
    real ipmitool: power and boot device land on the same QEMU."""
    if not shutil.which('ipmitool'):
        pytest.skip('ipmitool not installed')
    machine = lab.machine('lab-1')
    try:
        node = lab.enroll(svc.endpoint, driver='ipmi')[1]
        assert node['driver'] == 'ipmi'
        assert node['power_interface'] == 'ipmitool'
        assert node['driver_info']['ipmi_port'] == \
            lab.config['ipmi_port'] + machine.index
        assert lab.rows()[1]['ipmi'] == '127.0.0.1:%d' % (
            lab.config['ipmi_port'] + machine.index)
        uuid = node['uuid']
        _boot_device(api, uuid, 'pxe', True)
        power = lab.power('lab-1')
        assert power.boot_order() == {'nic0': 1, 'disk0': 2}
        shown = api.get('/v1/nodes/%s/management/boot_device' % uuid)
        assert shown.json() == {'boot_device': 'pxe', 'persistent': True}
        _power(api, uuid, 'power on')
        assert lab.status('lab-1') == 'running'
        _power(api, uuid, 'power off')
        assert lab.status('lab-1') != 'running'
        _boot_device(api, uuid, 'disk', True)
        assert power.boot_order() == {'disk0': 1, 'nic0': 2}
    finally:
        lab.enroll(svc.endpoint)         # back to redfish


def test_virtual_media_puts_the_iso_in_the_cd_drive(lab, api, nodes, svc,
                                                    workdir):
    """Ironic's vmedia API → the redfish driver → the lab BMC's
    VirtualMedia (which downloads the image) → QEMU's CD drive, and
    boot from it once; detaching empties the drive."""
    source = workdir / 'origin'
    source.mkdir(exist_ok=True)
    (source / 'tiny.iso').write_bytes(b'CD001' * 2048)
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(
            http.server.SimpleHTTPRequestHandler, directory=str(source)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # enrolled again: the CLI test's own lab-0 took the name over
    uuid = lab.enroll(svc.endpoint, names=['lab-0'])[0]['uuid']
    power = lab.power('lab-0')
    try:
        resp = api.post('/v1/nodes/%s/vmedia' % uuid, json={
            'device_type': 'cdrom', 'image_url': 'http://127.0.0.1:%d/'
            'tiny.iso' % server.server_address[1]})
        assert resp.status_code == 204, resp.text
        medium = wait_for(power.cd_medium, timeout=60, interval=0.5,
                          message='an ISO in the CD drive')
        assert Path(medium).read_bytes() == b'CD001' * 2048
        _boot_device(api, uuid, 'cdrom', False)
        assert power.boot_order() == {'cdrom0': 1, 'disk0': 2, 'nic0': 3}
        resp = api.delete('/v1/nodes/%s/vmedia' % uuid)
        assert resp.status_code == 204, resp.text
        wait_for(lambda: power.cd_medium() is None, timeout=60,
                 interval=0.5, message='the CD drive empty again')
    finally:
        server.shutdown()
        server.server_close()
        _boot_device(api, uuid, 'disk', True)
