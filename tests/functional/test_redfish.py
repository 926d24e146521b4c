"""The redfish hardware type against sushy-tools' Redfish emulator, through
the real ``baremetal`` CLI and the HTTP API of a running service.

What the emulator records is the machine's truth: a test passes only when
the BMC really was told (power, boot device, BIOS, firmware, volumes).
"""

import functools
import http.server
import json
import threading
import time

import pytest

from .bmc_emulators import Blackhole, RedfishEmulator, free_port
from .conftest import (BaremetalCLI, HttpApi, assert_ironic_error,
                       start_service, wait_for)

pytestmark = pytest.mark.functional

PASSWORD = 'n0t-in-any-log-Redfish'


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp('redfish')


@pytest.fixture(scope='module')
def bmc(workdir):
    emulator = RedfishEmulator(workdir, systems=4, password=PASSWORD,
                               power_delay=0.2)
    yield emulator
    emulator.stop()


@pytest.fixture(scope='module')
def files(workdir):
    """A local HTTP server with a firmware image the BMC fetches."""
    root = workdir / 'files'
    root.mkdir()
    (root / 'bios-1.1.bin').write_bytes(b'\x55\xaa' * 4096)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='module')
def svc(workdir):
    http_port = free_port()
    service = start_service('sqlite', workdir, extra_config={
        'DEFAULT': {'debug': 'True'},
        'deploy': {'http_url': 'http://127.0.0.1:%d' % http_port,
                   'http_server_port': str(http_port),
                   'http_server_host': '127.0.0.1'},
        'redfish': {'connection_attempts': '2',
                    'connection_retry_interval': '0.2',
                    'connect_timeout': '2', 'read_timeout': '3',
                    'power_state_change_timeout': '30',
                    'power_poll_interval': '0.2',
                    'firmware_poll_interval': '0.2'},
        'conductor': {'sync_power_state_interval': '0'},
    })
    yield service
    service.stop()


@pytest.fixture(scope='module')
def api(svc):
    return HttpApi(svc)


@pytest.fixture(scope='module')
def cli(svc):
    return BaremetalCLI(svc)


def _enroll(cli, bmc, system_id, name, **extra):
    args = ['node', 'create', '--driver', 'redfish', '--name', name]
    for key, value in bmc.driver_info(system_id, **extra).items():
        args += ['--driver-info', '%s=%s' % (key, value)]
    return cli.json(*args)


def _lower(rows):
    """CLI JSON rows keyed the way the API names the fields."""
    return [{k.lower().replace(' ', '_'): v for k, v in row.items()}
            for row in rows]


def _power(bmc, system_id):
    return bmc.record(system_id)['power_state']


def _wait_parked(api, uuid, state, timeout=90):
    """``state`` reached and the node unlocked, whatever its target."""
    def check():
        row = api.node(uuid)
        return row if (row['provision_state'] == state
                       and not row['reservation']) else None
    return wait_for(check, timeout=timeout, message='%s %s' % (uuid, state))


def _clean(cli, api, uuid, steps, end='manageable', timeout=120):
    cli.run('node', 'clean', uuid, '--clean-steps', json.dumps(steps))
    return api.wait_provision_state(uuid, end, timeout=timeout)


@pytest.fixture(scope='module')
def node(cli, api, bmc):
    """A redfish node enrolled with the CLI and moved to manageable (its
    power state read through the BMC on the way)."""
    system = bmc.system_ids()[0]
    created = _enroll(cli, bmc, system, 'rf-main')
    api.move_to(created['uuid'], 'manageable', timeout=90)
    created['system'] = system
    return created


def test_password_masked_and_power_cycles_reach_the_bmc(cli, api, bmc,
                                                        node):
    shown = cli.json('node', 'show', node['uuid'])
    assert shown['driver_info']['redfish_password'] == '******'
    assert shown['power_state'] in ('power on', 'power off')
    cli.run('node', 'power', 'on', node['uuid'])
    wait_for(lambda: api.node(node['uuid'])['power_state'] == 'power on',
             timeout=60, message='power on recorded')
    assert _power(bmc, node['system']) == 'On'
    cli.run('node', 'power', 'off', node['uuid'])
    wait_for(lambda: api.node(node['uuid'])['power_state'] == 'power off',
             timeout=60, message='power off recorded')
    assert _power(bmc, node['system']) == 'Off'
    cli.run('node', 'reboot', node['uuid'])
    wait_for(lambda: api.node(node['uuid'])['power_state'] == 'power on',
             timeout=60, message='reboot leaves the node on')
    assert _power(bmc, node['system']) == 'On'
    validated = {row['Interface']: row['Result'] for row in cli.json(
        'node', 'validate', node['uuid'])}
    assert validated['power'] is True and validated['management'] is True


def test_boot_device_once_and_persistent(cli, bmc, node):
    cli.run('node', 'boot', 'device', 'set', node['uuid'], 'pxe')
    record = bmc.record(node['system'])
    assert (record['boot_device'], record['boot_override_enabled']) == (
        'Pxe', 'Once')
    shown = cli.json('node', 'boot', 'device', 'show', node['uuid'])
    assert shown['boot_device'] == 'pxe' and shown['persistent'] is False
    cli.run('node', 'boot', 'device', 'set', node['uuid'], 'disk',
            '--persistent')
    record = bmc.record(node['system'])
    assert (record['boot_device'], record['boot_override_enabled']) == (
        'Hdd', 'Continuous')
    shown = cli.json('node', 'boot', 'device', 'show', node['uuid'])
    assert shown == {'boot_device': 'disk', 'persistent': True}


def test_bios_settings_applied_and_read_back(cli, api, bmc, node):
    before = {row['name']: row['value']
              for row in api.get('/v1/nodes/%s/bios' % node['uuid'])
              .json()['bios']}
    assert before, 'BIOS settings were cached when the node was managed'
    name = 'ProcTurboMode' if 'ProcTurboMode' in before else sorted(before)[0]
    assert before[name] == 'Enabled'
    _clean(cli, api, node['uuid'], [{
        'interface': 'bios', 'step': 'apply_configuration',
        'args': {'settings': [{'name': name, 'value': 'Disabled'}]}}])
    assert bmc.record(node['system'])['bios'][name] == 'Disabled'
    rows = cli.json('node', 'bios', 'setting', 'list', node['uuid'])
    assert {r['name']: r['value'] for r in _lower(rows)}[name] == \
        'Disabled'
    # factory reset brings the default back, on the BMC and in the API
    _clean(cli, api, node['uuid'], [{'interface': 'bios',
                                     'step': 'factory_reset'}])
    assert bmc.record(node['system'])['bios'][name] == 'Enabled'
    shown = cli.json('node', 'bios', 'setting', 'show', node['uuid'], name)
    assert (shown['name'], shown['value']) == (name, 'Enabled')


def test_bad_bios_setting_fails_before_touching_the_bmc(cli, api, bmc,
                                                        node):
    before = bmc.record(node['system'])['bios']
    cli.run('node', 'clean', node['uuid'], '--clean-steps', json.dumps([{
        'interface': 'bios', 'step': 'apply_configuration',
        'args': {'settings': [{'name': 'NoSuchSetting', 'value': 'x'}]}}]))
    # a failed manual cleaning keeps "manageable" as its target (Ironic)
    failed = _wait_parked(api, node['uuid'], 'clean failed')
    assert failed['target_provision_state'] == 'manageable'
    assert 'NoSuchSetting' in failed['last_error']
    assert bmc.record(node['system'])['bios'] == before
    api.provision(node['uuid'], 'manage')
    api.wait_provision_state(node['uuid'], 'manageable')


def test_firmware_update_runs_to_completion(cli, api, bmc, node, files):
    before = bmc.record(node['system'])['versions']['BiosVersion']
    _clean(cli, api, node['uuid'], [{
        'interface': 'firmware', 'step': 'update',
        'args': {'settings': [{'component': 'bios',
                               'url': files + '/bios-1.1.bin'}]}}],
           timeout=180)
    after = bmc.record(node['system'])['versions']['BiosVersion']
    assert after != before
    rows = _lower(cli.json('node', 'firmware', 'list', node['uuid']))
    bios = [r for r in rows if r['component'] == 'bios'][0]
    assert bios['current_version'] == after
    assert bios['initial_version'] == before


def test_raid_volumes_created_and_deleted(cli, api, bmc, node):
    cli.run('node', 'set', node['uuid'], '--target-raid-config', json.dumps(
        {'logical_disks': [{'size_gb': 10, 'raid_level': '1',
                            'is_root_volume': True}]}))
    _clean(cli, api, node['uuid'], [{'interface': 'raid',
                                     'step': 'create_configuration'}])
    volumes = [v for per_controller in
               bmc.record(node['system'])['volumes'].values()
               for v in per_controller]
    assert len(volumes) == 1
    raid = api.node(node['uuid'])['raid_config']
    assert raid['logical_disks'][0]['raid_level'] == '1'
    assert raid['logical_disks'][0]['size_gb'] == 10
    _clean(cli, api, node['uuid'], [{'interface': 'raid',
                                     'step': 'delete_configuration'}])
    assert not any(bmc.record(node['system'])['volumes'].values())
    assert api.node(node['uuid'])['raid_config'] == {}


def test_out_of_band_inspection_creates_ports(cli, api, bmc, node):
    record = bmc.record(node['system'])
    cli.run('node', 'inspect', node['uuid'])
    api.wait_provision_state(node['uuid'], 'manageable', timeout=90)
    ports = cli.json('port', 'list', '--node', node['uuid'])
    macs = {nic['mac'].lower() for nic in record['nics']}
    assert {p['address'] for p in _lower(ports)} == macs
    props = api.node(node['uuid'])['properties']
    assert int(props['cpus']) > 0 and int(props['memory_mb']) > 0
    inventory = api.get('/v1/nodes/%s/inventory' % node['uuid']).json()
    found = {i['mac_address'].lower()
             for i in inventory['inventory']['interfaces']}
    assert found == macs


def test_bios_settings_that_need_a_reboot_get_one(cli, api, workdir,
                                                  node_cleanup):
    """A BMC that stages BIOS changes until the next boot, as real ones
    do: the step reboots the node and waits for the values to apply."""
    staged = RedfishEmulator(workdir, systems=1, password=PASSWORD,
                             power_delay=0.2,
                             extra_args=['--bios-apply-on-reboot'])
    try:
        system = staged.system_ids()[0]
        created = _enroll(cli, staged, system, 'rf-staged')
        node_cleanup.append((api, created['uuid']))
        api.move_to(created['uuid'], 'manageable', timeout=90)
        resets = len(staged.record(system)['reset_history'])
        _clean(cli, api, created['uuid'], [{
            'interface': 'bios', 'step': 'apply_configuration',
            'args': {'settings': [{'name': 'EmbeddedSata',
                                   'value': 'Ahci'}]}}])
        record = staged.record(system)
        assert record['bios']['EmbeddedSata'] == 'Ahci'
        assert record['bios_pending'] in ({}, None)
        assert len(record['reset_history']) > resets
        rows = _lower(cli.json('node', 'bios', 'setting', 'list',
                               created['uuid']))
        assert {r['name']: r['value'] for r in rows}['EmbeddedSata'] == \
            'Ahci'
    finally:
        staged.stop()


def test_virtual_media_boot_inserts_the_iso_and_boots_it_once(
        cli, api, bmc, files, workdir, node_cleanup):
    """Inspection by BootOS booted from virtual media: the BMC fetches
    the ISO from our HTTP server, boots the CD once; an abort ejects."""
    iso = workdir / 'files' / 'bootos.iso'
    iso.write_bytes(b'\0' * 32768 + b'CD001' + b'\0' * 4096)
    system = bmc.system_ids()[1]
    created = _enroll(cli, bmc, system, 'rf-vmedia',
                      deploy_iso=files + '/bootos.iso')
    node_cleanup.append((api, created['uuid']))
    cli.run('node', 'set', created['uuid'], '--boot-interface',
            'redfish-virtual-media', '--inspect-interface', 'agent')
    api.move_to(created['uuid'], 'manageable', timeout=90)
    cli.run('node', 'inspect', created['uuid'])
    _wait_parked(api, created['uuid'], 'inspect wait')
    record = bmc.record(system)
    inserted = [m for m in record['virtual_media'].values()
                if m.get('Inserted')]
    assert len(inserted) == 1 and inserted[0]['Image'].endswith('.iso')
    assert inserted[0]['Image'].startswith(svc_http(api))
    assert (record['boot_device'], record['power_state']) == ('Cd', 'On')
    # the CD was booted once: the next boot goes back to the disk
    assert (record['boot_history'][-1]['device'],
            record['boot_history'][-1]['override']) == ('Cd', 'Once')
    cli.run('node', 'abort', created['uuid'])
    _wait_parked(api, created['uuid'], 'inspect failed')
    record = bmc.record(system)
    assert not any(m.get('Inserted')
                   for m in record['virtual_media'].values())


def svc_http(api):
    """Where the service publishes boot files (its [deploy]http_url)."""
    conf = (api.service.workdir / 'bootflow.conf').read_text()
    return [line.split('=', 1)[1].strip() for line in conf.splitlines()
            if line.startswith('http_url')][0]


def test_missing_and_invalid_driver_info_are_400(api, node_cleanup):
    created = api.create_node(driver='redfish', name='rf-empty')
    node_cleanup.append((api, created['uuid']))
    resp = api.put('/v1/nodes/%s/states/power' % created['uuid'],
                   json={'target': 'power on'})
    assert_ironic_error(resp, 400, 'redfish_address')
    api.patch_node(created['uuid'], [
        {'op': 'add', 'path': '/driver_info/redfish_address',
         'value': 'ftp://127.0.0.1/x'},
        {'op': 'add', 'path': '/driver_info/redfish_auth_type',
         'value': 'kerberos'}])
    resp = api.put('/v1/nodes/%s/states/power' % created['uuid'],
                   json={'target': 'power on'})
    assert_ironic_error(resp, 400, 'redfish_address', 'redfish_auth_type')


def test_unreachable_bmc_fails_clearly_without_hanging(
        cli, api, workdir, node_cleanup):
    hole = Blackhole(workdir)
    syn_drop = Blackhole(workdir, mode='syn-drop')
    try:
        dead = {'refused': 'http://127.0.0.1:%d' % free_port(),
                'silent': hole.address, 'unrouted': syn_drop.address}
        nodes = {}
        for kind, address in dead.items():
            created = api.create_node(
                driver='redfish', name='rf-dead-%s' % kind,
                driver_info={'redfish_address': address,
                             'redfish_system_id': '/redfish/v1/Systems/x',
                             'redfish_username': 'admin',
                             'redfish_password': PASSWORD})
            node_cleanup.append((api, created['uuid']))
            nodes[created['uuid']] = address
        started = time.monotonic()
        for uuid in nodes:
            api.provision(uuid, 'manage')
        for uuid, address in nodes.items():
            row = api.wait_provision_state(uuid, 'enroll', timeout=60)
            assert row['power_state'] is None
            assert address in row['last_error'], row['last_error']
        # one read, with its bounded retries, per dead BMC; not one per
        # cached property (boot mode, BIOS, firmware...)
        assert time.monotonic() - started < 20
    finally:
        hole.stop()
        syn_drop.stop()


def test_password_in_no_response_and_no_log_line(cli, api, svc, node):
    bodies = [api.get('/v1/nodes/%s' % node['uuid']).text,
              api.get('/v1/nodes/detail').text,
              api.get('/v1/nodes/%s/history' % node['uuid']).text,
              cli.run('node', 'show', node['uuid'], '-f', 'json').stdout,
              cli.run('node', 'list', '--long', '-f', 'json').stdout]
    for body in bodies:
        assert PASSWORD not in body
    log = svc.log_path.read_text(errors='replace')
    assert 'redfish' in log.lower()     # the log did see the driver work
    assert PASSWORD not in log
