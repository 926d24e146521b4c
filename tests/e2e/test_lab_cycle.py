"""The whole life of two virtual bare-metal machines, for real.

Two ``bootflow lab`` machines (QEMU under TCG behind the lab's BMC: the
first driven by the production ``redfish`` driver, the second by the
``ipmi`` one through the real ipmitool) run the
BootOS that ``bootflow-build-bootos`` builds, with the real agent in it.
Driven only with the ``baremetal`` CLI against the all-in-one service:
manage → inspect (the VM's own MACs, disk size and serial, CPU count) →
provide (cleaning wipes the disk's metadata) → deploy a whole-disk image
from the block store (raw on one machine, qcow2 on the other; checksums
and config drives) → each boots its disk: the first by a power cycle (its
MBR prints the disk marker), the second warm, by kexec into the kernel
the image carries → undeploy → available. Then a deploy with a wrong
checksum fails and leaves the disk unbootable.

The machines work in parallel: every phase is started on both nodes
before waiting for either. Each phase's seconds are recorded (shown in
the e2e timings summary). On failure, serial consoles, agent logs and the
service log are copied to ``$BOOTFLOW_TEST_ARTIFACTS`` (CI keeps them).
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e import assets
from tests.e2e import instance_image
from tests.e2e.conftest import require
from tests.functional.conftest import BaremetalCLI
from tests.functional.conftest import HttpApi
from tests.functional.conftest import _free_port
from tests.functional.conftest import free_udp_ports
from tests.functional.conftest import start_service
from tests.functional.conftest import wait_for

pytestmark = pytest.mark.e2e

STATE_TIMEOUT = float(os.environ.get('BOOTFLOW_TEST_E2E_TIMEOUT', 480))
ARTIFACTS_ENV = 'BOOTFLOW_TEST_ARTIFACTS'
GUEST_HTTP_URL = 'http://10.0.2.100'
GUEST_API_URL = 'http://10.0.2.100:6385'
MEMORY_MIB = 1024
CPUS = 1
DISK_SIZE = '1G'
DISK_BYTES = 1024 ** 3
MIB = 1024 * 1024
DRIVERS = ('redfish', 'ipmi')      # of lab-0 and lab-1
FAILED = ('deploy failed', 'clean failed', 'inspect failed', 'error')
# an MBR partition table the cleaning must wipe
STALE_TABLE = (b'\0' * 446 + b'\x80\xfe\xff\xff\x83\xfe\xff\xff'
               + (2048).to_bytes(4, 'little') + (4096).to_bytes(4, 'little')
               + b'\0' * 48 + b'\x55\xAA')


class Cycle:
    """The service, the lab and what the phases found out."""

    def __init__(self, service, lab, bootos, image, workdir):
        self.service = service
        self.lab = lab
        self.bootos = bootos
        self.image = image
        self.workdir = workdir
        self.api = HttpApi(service)
        self.cli = BaremetalCLI(service)
        self.nodes = {}          # machine name -> node uuid
        self.failed = None
        self.timings = {}

    @property
    def lab_machines(self):
        return list(self.lab.machines)

    @property
    def machines(self):
        """What the e2e report hook attaches to a failure: each console."""
        return [_Console(self, m) for m in self.lab_machines]

    def serial(self, machine):
        try:
            return Path(machine.serial_log).read_text(errors='replace')
        except OSError:
            return ''


class _Console:
    def __init__(self, cycle, machine):
        self.name = machine.name
        self._cycle, self._machine = cycle, machine

    def describe(self, lines=40):
        text = self._cycle.serial(self._machine).splitlines()[-lines:]
        return 'serial console (%s):\n%s' % (self._machine.serial_log,
                                             '\n'.join(text))


def _bootos(tmp_path_factory):
    from bootflow.bootos import build
    out = tmp_path_factory.mktemp('bootos')
    return build.build(output=str(out))


def _service_config(http_root, http_port, allowed):
    return {
        'DEFAULT': {
            'enabled_hardware_types': 'redfish,ipmi,fake-hardware',
            'enabled_boot_interfaces': 'ipxe,fake',
            'enabled_deploy_interfaces': 'direct,fake',
            'enabled_inspect_interfaces': 'agent,no-inspect,fake',
            'enabled_power_interfaces': 'redfish,ipmitool,fake',
            'enabled_management_interfaces': 'redfish,ipmitool,fake'},
        'deploy': {
            'http_root': str(http_root), 'http_url': GUEST_HTTP_URL,
            'http_server_host': '127.0.0.1',
            'http_server_port': str(http_port)},
        'conductor': {
            'api_url': GUEST_API_URL,
            'file_url_allowed_paths': str(allowed),
            # the machines are only off between boots; a sync that
            # "corrects" them would race the flows
            'sync_power_state_interval': '600'},
        'agent': {'poll_interval': '1',
                  'deploy_logs_local_path': str(http_root.parent / 'agent')},
    }


def _stale_metadata(machine):
    """Give the (stopped) machine a disk with a partition table on it."""
    raw = Path(str(machine.disk) + '.seed')
    with open(raw, 'wb') as f:
        f.write(STALE_TABLE)
        f.truncate(DISK_BYTES)
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2',
                    str(raw), str(machine.disk)], check=True,
                   capture_output=True)
    raw.unlink()


def read_disk(machine, length, offset=0):
    """Bytes of the machine's disk, read while QEMU holds it (-U)."""
    out = Path(str(machine.disk) + '.peek')
    subprocess.run(['qemu-img', 'convert', '-U', '-O', 'raw',
                    str(machine.disk), str(out)], check=True,
                   capture_output=True)
    try:
        with open(out, 'rb') as f:
            f.seek(offset)
            return f.read(length)
    finally:
        out.unlink()


@pytest.fixture(scope='module')
def cycle(qemu_binary, tmp_path_factory):
    from bootflow import lab as lab_mod
    base = tmp_path_factory.mktemp('lab-cycle')
    bootos = require(_bootos, tmp_path_factory)
    image = require(instance_image.build, base / 'image')
    http_root, http_port = base / 'httpboot', _free_port()
    allowed = '%s,%s' % (Path(bootos['kernel']).parent, base / 'image')
    service = start_service('sqlite', base, extra_config=_service_config(
        http_root, http_port, allowed))
    lab = lab_mod.Lab(base / 'lab', die_with_parent=True)
    try:
        api_port = int(service.endpoint.rsplit(':', 1)[1])
        lab.create(count=2, memory_mib=MEMORY_MIB, cpus=CPUS,
                   disk_size=DISK_SIZE, api_port=api_port,
                   http_port=http_port, bmc_port=_free_port(),
                   username='admin', password='password', nics=2,
                   ipmi_port=free_udp_ports(2))
        lab.stop()
        for machine in lab.machines:
            _stale_metadata(machine)
        lab.start()
        state = Cycle(service, lab, bootos, image, base)
        yield state
        if state.failed:
            _keep_artifacts(state)
    finally:
        lab.destroy()
        service.stop()


def _keep_artifacts(state):
    target = Path(os.environ.get(ARTIFACTS_ENV) or
                  state.workdir / 'artifacts') / 'lab-cycle'
    target.mkdir(parents=True, exist_ok=True)
    for machine in state.lab_machines:
        if os.path.exists(machine.serial_log):
            shutil.copy(machine.serial_log,
                        target / ('%s-serial.log' % machine.name))
    agent_logs = state.workdir / 'agent'
    if agent_logs.is_dir():
        shutil.copytree(agent_logs, target / 'agent-logs',
                        dirs_exist_ok=True)
    log = getattr(state.service, 'log_path', None)
    if log and os.path.exists(log):
        shutil.copy(log, target / 'service.log')
    print('e2e artifacts kept in %s' % target)


@pytest.fixture
def phase(cycle, record_property, request):
    """Skip once an earlier phase failed; time this one. (The e2e
    conftest attaches the consoles and the service log to a failure.)"""
    if cycle.failed:
        pytest.skip('an earlier phase failed: %s' % cycle.failed)
    failures = request.session.testsfailed
    started = time.monotonic()
    yield cycle
    seconds = round(time.monotonic() - started, 1)
    cycle.timings[request.node.name] = seconds
    record_property('e2e_phase', '%s %.1fs' % (request.node.name, seconds))
    if request.session.testsfailed > failures:
        cycle.failed = request.node.name


def _wait_all(cycle, uuids, state, also=()):
    """Wait until every node rests (unlocked) in state; fail on others."""
    def settled():
        nodes = [cycle.api.node(u) for u in uuids]
        # a failed state keeps its target (as in Ironic: 'deploy failed'
        # still aims at 'active'); a reached one has none
        if all(n['reservation'] is None and (
                n['provision_state'] in FAILED or
                n['provision_state'] in (state,) + tuple(also)
                and not n.get('target_provision_state'))
               for n in nodes):
            return nodes
        return None
    nodes = wait_for(settled, timeout=STATE_TIMEOUT, interval=1,
                     message='nodes %s to reach %s' % (uuids, state))
    for node in nodes:
        assert node['provision_state'] == state, (
            'node %s is %s, not %s: %s' % (
                node['name'], node['provision_state'], state,
                node.get('last_error')))
    return nodes


def _cli_all(cycle, *args):
    for uuid in cycle.nodes.values():
        cycle.cli.run('node', *[a if a != '{}' else uuid for a in args])


def test_01_enroll_and_manage(phase):
    """lab-0 behind the BMC's Redfish, lab-1 behind its IPMI: both
    production drivers run the whole cycle."""
    options = dict(deploy_kernel='file://%s' % phase.bootos['kernel'],
                   deploy_ramdisk='file://%s' % phase.bootos['initramfs'],
                   boot_interface='ipxe', deploy_interface='direct',
                   inspect_interface='agent')
    enrolled = phase.lab.enroll(phase.service.endpoint, names=['lab-0'],
                                **options)
    enrolled += phase.lab.enroll(phase.service.endpoint, names=['lab-1'],
                                 driver='ipmi', **options)
    assert len(enrolled) == 2
    for machine, node, driver in zip(phase.lab_machines, enrolled,
                                     DRIVERS):
        assert node['name'] == machine.name
        assert node['driver'] == driver
        phase.nodes[machine.name] = node['uuid']
    _cli_all(phase, 'manage', '{}')
    nodes = _wait_all(phase, list(phase.nodes.values()), 'manageable')
    assert all(n['power_state'] == 'power off' for n in nodes)


def test_02_inspect_reports_the_machines_own_hardware(phase):
    _cli_all(phase, 'inspect', '{}')
    _wait_all(phase, list(phase.nodes.values()), 'manageable')
    for machine in phase.lab_machines:
        uuid = phase.nodes[machine.name]
        inventory = phase.api.get('/v1/nodes/%s/inventory' % uuid).json()[
            'inventory']
        macs = {i['mac_address'].lower() for i in inventory['interfaces']}
        assert machine.mac.lower() in macs
        disk, = [d for d in inventory['disks'] if d['name'] == '/dev/vda']
        assert disk['size'] == DISK_BYTES
        assert disk['serial'] == machine.disk_serial
        assert inventory['cpu']['count'] == CPUS
        node = phase.cli.json('node', 'show', uuid)
        assert node['properties']['cpus'] == CPUS
        assert int(node['properties']['local_gb']) >= 0
        assert set(machine.macs) <= macs
        # enrolment registered the boot NIC; inspection adds the other
        ports = phase.api.get('/v1/ports?node=%s&detail=true'
                              % uuid).json()['ports']
        pxe = {p['address'].lower(): p['pxe_enabled'] for p in ports}
        assert set(pxe) == set(machine.macs)
        assert pxe == {mac: mac == machine.mac for mac in machine.macs}
        assert 'BOOTOS: agent start' in phase.serial(machine)


def test_03_provide_cleans_the_disks(phase):
    for machine in phase.lab_machines:
        assert read_disk(machine, 512)[510:] == b'\x55\xAA'
    _cli_all(phase, 'provide', '{}')
    _wait_all(phase, list(phase.nodes.values()), 'available')
    for machine in phase.lab_machines:
        assert read_disk(machine, 512) == b'\0' * 512, machine.name


def _deploy(phase, machine, fmt, kexec, checksum=None):
    uuid = phase.nodes[machine.name]
    image = phase.image
    phase.cli.run(
        'node', 'set', uuid,
        '--driver-info', 'bootos_kexec=%s' % ('true' if kexec else 'false'),
        '--instance-info', 'image_source=file://%s' % image[fmt],
        '--instance-info', 'image_checksum=%s'
        % (checksum or image[fmt + '_sha256']),
        '--instance-info', 'image_disk_format=%s' % fmt)
    phase.cli.run('node', 'deploy', uuid, '--config-drive', json.dumps(
        {'meta_data': {'hostname': machine.name, 'uuid': uuid}}))


def test_04_deploy_raw_cold_and_qcow2_warm(phase):
    cold, warm = phase.lab_machines
    offsets = {m.name: len(phase.serial(m)) for m in phase.lab_machines}
    _deploy(phase, cold, 'raw', kexec=False)
    _deploy(phase, warm, 'qcow2', kexec=True)
    _wait_all(phase, list(phase.nodes.values()), 'active')

    wait_for(lambda: assets.DISK_MARKER in phase.serial(cold)[
        offsets[cold.name]:], timeout=120, interval=1,
        message='%s to boot its disk' % cold.name)
    cold_boot = phase.serial(cold)[offsets[cold.name]:]
    assert instance_image.INSTANCE_MARKER not in cold_boot

    def warm_up():
        text = phase.serial(warm)[offsets[warm.name]:]
        return instance_image.INSTANCE_MARKER in text and text
    warm_boot = wait_for(warm_up, timeout=180, interval=1,
                         message='%s to kexec into its kernel' % warm.name)
    assert assets.DISK_MARKER not in warm_boot
    cmdline = assets.printed_cmdline(warm_boot.split(
        instance_image.INSTANCE_MARKER, 1)[1])
    assert instance_image.KEXEC_PARAM in cmdline
    history = phase.api.get('/v1/nodes/%s/history' % phase.nodes[
        warm.name]).json()['history']
    assert any('no power cycle' in h['event'] for h in history)

    for machine in phase.lab_machines:
        _check_disk(phase, machine)


def _check_disk(phase, machine):
    """The image is on the disk (its boot code and its partition), and a
    config drive follows it in a partition of its own."""
    image = Path(phase.image['raw']).read_bytes()
    disk = read_disk(machine, len(image))
    assert disk[:446] == image[:446]
    assert disk[512:] == image[512:]
    entry = disk[446 + 16:446 + 32]
    start = int.from_bytes(entry[8:12], 'little') * 512
    assert start >= len(image), 'no config drive partition after the image'
    volume = read_disk(machine, 2048, start + 0x8000)
    assert volume[1:6] == b'CD001'
    assert volume[40:48] == b'config-2'


def test_05_undeploy_cleans_and_makes_available(phase):
    _cli_all(phase, 'undeploy', '{}')
    _wait_all(phase, list(phase.nodes.values()), 'available')
    for machine in phase.lab_machines:
        assert read_disk(machine, 512) == b'\0' * 512


def test_06_bad_checksum_fails_and_the_disk_stays_unbootable(phase):
    machine = phase.lab_machines[0]
    uuid = phase.nodes[machine.name]
    _deploy(phase, machine, 'raw', kexec=False, checksum='0' * 64)
    node, = _wait_all(phase, [uuid], 'deploy failed')
    assert 'checksum' in (node['last_error'] or '').lower()
    assert node['power_state'] == 'power off'
    assert read_disk(machine, 512) == b'\0' * 512
