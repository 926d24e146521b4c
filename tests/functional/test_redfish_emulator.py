"""tools/bmc/redfish_emulator.py and blackhole.py work as the BMC tests
rely on, checked with the real sushy client (the library bootflow's
Redfish driver uses), so a failing driver test points at the driver."""

import functools
import http.server
import socket
import threading
import time

import pytest
import requests

from tests.functional import bmc_emulators
from tests.functional.conftest import wait_for

sushy = pytest.importorskip('sushy')
pytest.importorskip('sushy_tools')
pytest.importorskip('cheroot')

POWER_DELAY = 0.3
DISK_BYTES = 480 * 10 ** 9
BIOS_DEFAULTS = {'BootMode': 'Uefi', 'ProcTurboMode': 'Enabled',
                 'EmbeddedSata': 'Raid', 'NicBoot1': 'NetworkBoot'}


def uuid_of(index):
    return 'b0f10000-0000-4000-8000-%012x' % index


def system_path(index):
    return '/redfish/v1/Systems/' + uuid_of(index)


class _ImageHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requested.append(self.path)
        super().do_GET()


@pytest.fixture(scope='module')
def image_server(tmp_path_factory):
    """Serves boot.iso and bios.bin on loopback (the emulator downloads
    what it is asked to insert or flash)."""
    root = tmp_path_factory.mktemp('images')
    (root / 'boot.iso').write_bytes(b'\0' * (2 * 1024 * 1024))
    (root / 'bios.bin').write_bytes(b'firmware')
    handler = functools.partial(_ImageHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    server.requested = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = 'http://127.0.0.1:%d' % server.server_address[1]
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='module')
def emulator(tmp_path_factory):
    emu = bmc_emulators.RedfishEmulator(
        tmp_path_factory.mktemp('redfish'), systems=3,
        power_delay=POWER_DELAY)
    yield emu
    emu.stop()


@pytest.fixture(scope='module')
def conn(emulator):
    return sushy.Sushy(emulator.address + '/redfish/v1',
                       auth=sushy.auth.BasicAuth(emulator.username,
                                                 emulator.password))


def test_systems_have_deterministic_ids_and_macs(emulator, conn):
    assert emulator.system_ids() == [system_path(i) for i in range(3)]
    system = conn.get_system(system_path(2))
    assert system.name == 'node-2'
    assert system.uuid == uuid_of(2)
    macs = [nic.mac_address
            for nic in system.ethernet_interfaces.get_members()]
    assert macs == ['52:54:00:00:00:02']


def test_basic_auth_is_enforced(emulator):
    url = emulator.address + system_path(0)
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=(emulator.username, 'wrong'),
                        timeout=10).status_code == 401
    assert requests.get(url, auth=(emulator.username, emulator.password),
                        timeout=10).status_code == 200
    bad = sushy.Sushy(emulator.address + '/redfish/v1',
                      auth=sushy.auth.BasicAuth(emulator.username, 'wrong'))
    with pytest.raises(sushy.exceptions.AccessError):
        bad.get_system(system_path(0))


def test_power_changes_land_after_the_delay(emulator, conn):
    system = conn.get_system(system_path(0))
    assert system.power_state == sushy.PowerState.OFF
    started = time.monotonic()
    system.reset_system(sushy.ResetType.ON)

    def is_on():
        system.refresh()
        return system.power_state == sushy.PowerState.ON

    wait_for(is_on, message='power on')
    assert time.monotonic() - started >= POWER_DELAY
    assert emulator.record(system_path(0))['power_state'] == 'On'

    system.reset_system(sushy.ResetType.FORCE_RESTART)
    record = emulator.record(system_path(0))
    assert record['power_state'] == 'Off'  # restarting: off first
    wait_for(is_on, message='restart')
    system.reset_system(sushy.ResetType.NMI)
    system.reset_system(sushy.ResetType.FORCE_OFF)
    wait_for(lambda: emulator.record(system_path(0))['power_state'] == 'Off',
             message='power off')
    record = emulator.record(system_path(0))
    assert record['reset_history'][-4:] == ['On', 'ForceRestart', 'Nmi',
                                            'ForceOff']
    assert record['nmi_count'] == 1
    assert len(record['boot_history']) == 2  # two boots: on and restart


def test_bios_read_set_reset(conn):
    bios = conn.get_system(system_path(1)).bios
    assert BIOS_DEFAULTS.items() <= bios.attributes.items()
    registry = bios.get_attribute_registry()
    names = {attr.name for attr in registry.registry_entries.attributes}
    assert set(bios.attributes) <= names  # every value is described

    bios.set_attributes({'ProcTurboMode': 'Disabled'})
    bios.refresh()
    assert bios.attributes['ProcTurboMode'] == 'Disabled'
    with pytest.raises(sushy.exceptions.BadRequestError):
        bios.set_attributes({'NoSuchSetting': 'x'})
    bios.reset_bios()
    bios.refresh()
    assert bios.attributes['ProcTurboMode'] == 'Enabled'


def test_bios_changes_can_wait_for_a_reboot(tmp_path):
    emu = bmc_emulators.RedfishEmulator(
        tmp_path, username=None, power_delay=0.1,
        extra_args=['--bios-apply-on-reboot'])
    port = emu.port
    try:
        conn = sushy.Sushy('http://127.0.0.1:%d/redfish/v1' % port,
                           auth=sushy.auth.BasicAuth('any', 'any'))
        system = conn.get_system(system_path(0))
        system.bios.set_attributes({'ProcTurboMode': 'Disabled'})
        system.bios.refresh()
        assert system.bios.attributes['ProcTurboMode'] == 'Enabled'
        assert system.bios.pending_attributes['ProcTurboMode'] == 'Disabled'
        system.reset_system(sushy.ResetType.ON)

        def applied():
            system.bios.refresh()
            return system.bios.attributes['ProcTurboMode'] == 'Disabled'

        wait_for(applied, message='BIOS settings applied by the boot')
    finally:
        emu.stop()


def test_boot_options_and_one_time_override(emulator, conn):
    system = conn.get_system(system_path(1))
    system.set_system_boot_options(
        sushy.BootSource.PXE, enabled=sushy.BootSourceOverrideEnabled.ONCE,
        mode=sushy.BootSourceOverrideMode.UEFI)
    system.refresh()
    assert system.boot.target == sushy.BootSource.PXE
    assert system.boot.enabled == sushy.BootSourceOverrideEnabled.ONCE
    assert system.boot.mode == sushy.BootSourceOverrideMode.UEFI
    assert emulator.record(system_path(1))['boot_device'] == 'Pxe'

    system.reset_system(sushy.ResetType.ON)
    record = wait_for(
        lambda: (lambda r: r['power_state'] == 'On' and r)(
            emulator.record(system_path(1))), message='power on')
    assert record['boot_history'][-1]['device'] == 'Pxe'
    assert record['boot_override_enabled'] == 'Disabled'  # used up
    system.refresh()
    assert system.boot.enabled == sushy.BootSourceOverrideEnabled.DISABLED


def test_simple_update_bumps_the_bios_version(emulator, conn,
                                              image_server):
    system = conn.get_system(system_path(2))
    assert system.bios_version == '1.0.0'
    updates = conn.get_update_service()
    with pytest.raises(sushy.exceptions.BadRequestError):
        updates.simple_update(image_server.url + '/missing.bin',
                              targets=[system.path])
    monitor = updates.simple_update(image_server.url + '/bios.bin',
                                    targets=[system.path])
    assert monitor.get_task().task_state == sushy.TaskState.COMPLETED
    system.refresh()
    assert system.bios_version == '1.1.0'
    assert emulator.record(system.path)['versions'] == {
        'BiosVersion': '1.1.0'}
    assert image_server.requested.count('/bios.bin') == 1


def test_hardware_summary_and_storage(conn):
    system = conn.get_system(system_path(0))
    assert system.memory_summary.size_gib == 32
    assert system.processors.summary.count == 8
    devices = [device for storage in system.simple_storage.get_members()
               for device in storage.devices]
    assert [d.capacity_bytes for d in devices] == [DISK_BYTES] * 2
    storage = system.storage.get_members()[0]
    assert [drive.capacity_bytes for drive in storage.drives] == [
        DISK_BYTES] * 2


def test_volume_create_and_delete(emulator, conn):
    system = conn.get_system(system_path(0))
    storage = system.storage.get_members()[0]
    drives = [{'@odata.id': drive.path} for drive in storage.drives]
    volume = storage.volumes.create({
        'Name': 'root', 'RAIDType': 'RAID1', 'CapacityBytes': 10 ** 11,
        'Links': {'Drives': drives}})
    assert volume.raid_type == sushy.RAIDType.RAID1
    assert volume.volume_type == sushy.VolumeType.MIRRORED
    assert volume.capacity_bytes == 10 ** 11
    second = storage.volumes.create({'RAIDType': 'RAID0',
                                     'CapacityBytes': 10 ** 9})
    assert second.identity != volume.identity
    record = emulator.record(system.path)
    assert [v['Id'] for v in record['volumes']['1']] == [
        volume.identity, second.identity]
    assert record['volumes']['1'][0]['Drives'] == [
        d['@odata.id'] for d in drives]

    volume.delete()
    second.delete()
    fresh = system.storage.get_member(storage.path)
    assert fresh.volumes.members_identities == ()
    assert emulator.record(system.path)['volumes'] == {'1': []}


def test_virtual_media_insert_eject(emulator, conn, image_server):
    manager = conn.get_system(system_path(1)).managers[0]
    cd = manager.virtual_media.get_member(manager.virtual_media.path +
                                          '/Cd')
    with pytest.raises(sushy.exceptions.BadRequestError):
        cd.insert_media(image_server.url + '/missing.iso')
    cd.insert_media(image_server.url + '/boot.iso', inserted=True,
                    write_protected=True)
    cd.refresh()
    assert cd.inserted
    assert cd.image == image_server.url + '/boot.iso'
    assert image_server.requested.count('/boot.iso') == 1
    media = emulator.record(system_path(1))['virtual_media']
    assert media['Cd']['Inserted'] is True

    cd.eject_media()
    cd.refresh()
    assert not cd.inserted
    assert emulator.record(system_path(1))['virtual_media']['Cd'][
        'Inserted'] is False


def test_request_counters(emulator):
    emulator.reset_requests()
    url = emulator.address + system_path(2)
    for _ in range(2):
        emulator.http.get(url, timeout=10).raise_for_status()
    emulator.http.patch(url, json={'Boot': {
        'BootSourceOverrideTarget': 'Hdd'}}, timeout=10).raise_for_status()
    seen = emulator.requests_seen()  # /_emulator/ itself is not counted
    assert seen['total'] == 3
    assert seen['by_path'] == {system_path(2): 3}
    assert seen['by_request']['GET ' + system_path(2)] == 2
    assert seen['by_method'] == {'GET': 2, 'PATCH': 1}


def test_record_lookup_and_patch(emulator):
    base = emulator.address + '/_emulator/systems/'
    by_name = requests.get(base + 'node-2', timeout=10).json()
    assert by_name['uuid'] == uuid_of(2)
    assert requests.get(base + 'node-9', timeout=10).status_code == 404
    resp = requests.patch(base + uuid_of(2), json={'memory_gib': 64},
                          timeout=10)
    assert resp.status_code == 200, resp.text
    system = emulator.http.get(emulator.address + system_path(2),
                               timeout=10).json()
    assert system['MemorySummary']['TotalSystemMemoryGiB'] == 64


def test_thousand_systems_start_quickly(tmp_path):
    started = time.monotonic()
    emu = bmc_emulators.RedfishEmulator(tmp_path, systems=1000,
                                        username=None)
    try:
        elapsed = time.monotonic() - started
        assert elapsed < 15, 'took %.1fs' % elapsed
        ids = emu.system_ids()
        assert len(ids) == 1000
        assert ids[-1] == system_path(999)
        system = emu.http.get(emu.address + ids[-1], timeout=10).json()
        assert system['Name'] == 'node-999'
    finally:
        emu.stop()


def test_blackhole_never_answers(tmp_path):
    hole = bmc_emulators.Blackhole(tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(hole.address + '/redfish/v1', timeout=(2, 0.5))
        assert time.monotonic() - started < 5
    finally:
        hole.stop()


def test_blackhole_syn_drop_times_out_on_connect(tmp_path):
    hole = bmc_emulators.Blackhole(tmp_path, mode='syn-drop')
    port = hole.port
    try:
        with pytest.raises(socket.timeout):
            socket.create_connection(('127.0.0.1', port), timeout=0.5)
    finally:
        hole.stop()
