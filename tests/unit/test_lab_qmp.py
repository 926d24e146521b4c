"""bootflow.lab's QMP client and power rules against a fake QEMU on a
socket pair, the BMC's boot override bookkeeping, enrolment and CLI."""

import json
import logging
import socket
import threading
import time

import pytest

from bootflow.cmd import aio
from bootflow.lab import bmc as bmclib
from bootflow.lab import cli
from bootflow.lab import enroll as enrolllib
from bootflow.lab import lab as lablib
from bootflow.lab import machine as machinelib
from bootflow.lab import qmp as qmplib

GREETING = {'QMP': {'version': {'qemu': {'major': 7}}, 'capabilities': []}}


class FakeQEMU:
    """Answers QMP commands from ``handlers`` on one end of a socket pair
    per session, sending each reply in two pieces (framing must not
    care)."""

    def __init__(self, handlers=None, greeting=GREETING):
        self.handlers = dict(handlers or {})
        self.received = []
        self.state = 'prelaunch'
        self.props = {'disk0': 1, 'nic0': 2, 'cdrom0': -1}
        self._greeting = greeting

    @property
    def order(self):
        """The bootable devices' indexes (the empty CD drive has none)."""
        return {dev: index for dev, index in self.props.items()
                if index >= 0}

    @staticmethod
    def _send(server, *messages):
        data = b''.join(json.dumps(m).encode() + b'\r\n' for m in messages)
        half = len(data) // 2
        server.sendall(data[:half])
        server.sendall(data[half:])

    def _serve(self, server):
        with server:
            self._send(server, self._greeting)
            for line in server.makefile('rb'):
                message = json.loads(line)
                self.received.append(message)
                try:
                    self._send(server, *self._answer(
                        message['execute'], message.get('arguments') or {}))
                except OSError:
                    return

    def _answer(self, command, args):
        if command in self.handlers:
            return self.handlers[command](args)
        if command == 'query-status':
            return [{'return': {'status': self.state,
                                'running': self.state == 'running'}}]
        if command == 'system_reset':
            if self.state != 'running':
                self.state = 'prelaunch'
            return [{'return': {}}, {'event': 'RESET', 'data': {}}]
        if command == 'cont':
            self.state = 'running'
        elif command == 'stop':
            self.state = 'paused'
        elif command == 'qom-set':
            if args['value'] != -1 and args['value'] in [
                    v for k, v in self.props.items() if k != args['path']]:
                return [{'error': {'class': 'GenericError',
                                   'desc': 'bootindex in use'}}]
            self.props[args['path']] = args['value']
        elif command == 'qom-get':
            return [{'return': self.props[args['path']]}]
        return [{'return': {}}]

    def qmp(self):
        client, server = socket.socketpair()
        threading.Thread(target=self._serve, args=(server,),
                         daemon=True).start()
        return qmplib.QMP('fake', sock=client, timeout=5)

    def commands(self):
        return [m['execute'] for m in self.received]


def test_greeting_capabilities_and_commands():
    qemu = FakeQEMU()
    with qemu.qmp() as qmp:
        assert qmp.greeting == GREETING
        assert qmp.status() == 'prelaunch'
    assert qemu.commands() == ['qmp_capabilities', 'query-status']


def test_events_between_replies_are_kept_and_waited_for():
    qemu = FakeQEMU({'system_powerdown': lambda args: [
        {'event': 'POWERDOWN'}, {'return': {}}]})
    with qemu.qmp() as qmp:
        qmp.execute('system_powerdown')
        assert qmp.events == [{'event': 'POWERDOWN'}]
        qmp.execute('system_reset')
        assert qmp.wait_event('RESET') == {'event': 'RESET', 'data': {}}
        assert qmp.wait_event('POWERDOWN')['event'] == 'POWERDOWN'
        assert qmp.events == []


def test_errors_and_broken_conversations():
    qemu = FakeQEMU({'bad': lambda args: [
        {'error': {'class': 'CommandNotFound', 'desc': 'no bad'}}]})
    with qemu.qmp() as qmp:
        with pytest.raises(qmplib.QMPError, match='no bad') as info:
            qmp.execute('bad')
        assert info.value.error_class == 'CommandNotFound'
    with pytest.raises(qmplib.QMPError, match='did not greet'):
        FakeQEMU(greeting={'hello': 1}).qmp()
    with pytest.raises(qmplib.QMPError, match='cannot connect'):
        qmplib.QMP('/nonexistent/qmp.sock', timeout=1)


def test_encode_is_one_json_line():
    data = qmplib.QMP.encode('qom-set', {'path': 'nic0', 'value': 1})
    assert data.endswith(b'\n') and data.count(b'\n') == 1
    assert json.loads(data) == {'execute': 'qom-set', 'arguments': {
        'path': 'nic0', 'value': 1}}
    assert json.loads(qmplib.QMP.encode('cont')) == {'execute': 'cont'}


class FakePower(machinelib.Power):
    def __init__(self, qemu):
        super().__init__('fake')
        self.qemu = qemu

    def _session(self):
        return self.qemu.qmp()


def test_power_rules():
    qemu = FakeQEMU()
    power = FakePower(qemu)
    assert power.power_on('Pxe') is True
    assert qemu.state == 'running'
    assert qemu.order == {'nic0': 1, 'disk0': 2}
    assert power.power_on() is False            # already on: nothing
    assert power.force_off() is True and qemu.state == 'prelaunch'
    assert power.force_off() is False
    assert power.graceful_shutdown() is False   # off: nothing to press
    power.set_boot_order('Hdd')
    assert power.boot_order() == {'disk0': 1, 'nic0': 2}
    assert power.restart() is True and qemu.state == 'running'
    commands = qemu.commands()
    # bootindex cleared before any is taken, reset before cont
    first_on = commands[:commands.index('cont') + 1]
    assert first_on.index('system_reset') > max(
        i for i, c in enumerate(first_on) if c == 'qom-set')


# -- the BMC's boot override ---------------------------------------------

class Systems(bmclib.QMPSystems):
    """QMPSystems on a lab dir, with a fake QEMU per machine."""

    def __init__(self, lab_dir, qemus):
        type(self)._config = {'LAB_DIR': str(lab_dir)}
        self.qemus = qemus
        super().__init__()

    def _power(self, record):
        return FakePower(self.qemus[record['name']])


@pytest.fixture
def systems(tmp_path):
    state = lablib.statelib.LabState(tmp_path)
    state.new({'count': 1, 'memory_mib': 2048, 'cpus': 2})
    state.save()
    return Systems(tmp_path, {'lab-0': FakeQEMU()})


def test_bmc_once_then_continuous(systems, monkeypatch):
    monkeypatch.setattr(bmclib, 'ONCE_HOLD', 0.05)
    uuid = systems.systems[0]
    qemu = systems.qemus['lab-0']
    assert systems.boot_override(uuid) == ('Hdd', 'Continuous')
    systems.set_boot_device(uuid, 'Pxe', 'Once')
    assert systems.boot_override('lab-0') == ('Pxe', 'Once')
    assert qemu.order == {'nic0': 1, 'disk0': 2}     # applied now
    systems.set_power_state(uuid, 'On')
    assert systems.get_power_state(uuid) == 'On'
    # used up by the power on, but QEMU keeps it first while the
    # firmware has yet to read the order...
    assert systems.boot_override(uuid) == ('Hdd', 'Continuous')
    assert qemu.order == {'nic0': 1, 'disk0': 2}
    # ...and goes back to the disk after the hold
    deadline = time.monotonic() + 5
    while qemu.order != {'disk0': 1, 'nic0': 2}:
        assert time.monotonic() < deadline, qemu.props
        time.sleep(0.01)
    systems.set_power_state(uuid, 'ForceOff')
    assert systems.get_power_state(uuid) == 'Off'


def test_bmc_once_revert_is_superseded(systems, monkeypatch):
    """A boot device set during the hold wins over the pending revert."""
    monkeypatch.setattr(bmclib, 'ONCE_HOLD', 0.2)
    uuid = systems.systems[0]
    qemu = systems.qemus['lab-0']
    systems.set_boot_device(uuid, 'Pxe', 'Once')
    systems.set_power_state(uuid, 'On')
    systems.set_boot_device(uuid, 'Pxe', 'Continuous')
    time.sleep(0.4)     # past the hold: the revert must not have run
    assert qemu.order == {'nic0': 1, 'disk0': 2}
    assert systems.boot_override(uuid) == ('Pxe', 'Continuous')


def test_bmc_continuous_disabled_and_refusals(systems):
    uuid = systems.systems[0]
    systems.set_boot_device(uuid, 'Pxe', 'Continuous')
    assert systems.boot_override(uuid) == ('Pxe', 'Continuous')
    systems.set_boot_device(uuid, 'Hdd')             # keeps Continuous
    assert systems.boot_override(uuid) == ('Hdd', 'Continuous')
    systems.set_boot_enabled(uuid, 'Disabled')
    assert bmclib.effective_device(systems._boot.get(uuid)) == 'Hdd'
    with pytest.raises(bmclib.error.BadRequest):
        systems.set_boot_device(uuid, 'Floppy')
    with pytest.raises(bmclib.error.BadRequest):
        systems.set_boot_mode(uuid, 'UEFI')
    systems.set_boot_mode(uuid, 'Legacy')
    with pytest.raises(bmclib.error.BadRequest):
        systems.set_power_state(uuid, 'PushPowerButton')
    with pytest.raises(bmclib.error.NotFound):
        systems.uuid('lab-9')
    assert systems.get_total_memory(uuid) == 2
    assert systems.get_total_cpus(uuid) == 2
    assert systems.get_nics(uuid) == [{'id': '52:54:00:6c:00:00',
                                       'mac': '52:54:00:6c:00:00'}]


def test_bmc_state_survives_a_new_driver(systems, tmp_path):
    uuid = systems.systems[0]
    systems.set_boot_device(uuid, 'Pxe', 'Continuous')
    again = Systems(tmp_path, systems.qemus)
    assert again.boot_override(uuid) == ('Pxe', 'Continuous')


def test_bmc_without_qemu_is_unavailable(tmp_path):
    state = lablib.statelib.LabState(tmp_path)
    state.new({'count': 1})
    state.save()
    bmclib.QMPSystems._config = {'LAB_DIR': str(tmp_path)}
    drv = bmclib.QMPSystems()
    with pytest.raises(bmclib.error.FishyError) as info:
        drv.get_power_state('lab-0')
    assert info.value.code == 503
    # a boot device change is kept for the next power on
    drv.set_boot_device('lab-0', 'Pxe', 'Continuous')
    assert drv.boot_override('lab-0') == ('Pxe', 'Continuous')


# -- enrolment and CLI ---------------------------------------------------

def _machine(tmp_path):
    record = lablib.statelib.machine_record(tmp_path, 0)
    return lablib.MachineInfo.from_record(record)


def test_node_body(tmp_path):
    machine = _machine(tmp_path)
    body = enrolllib.node_body(
        machine, 'http://127.0.0.1:8000', 'admin', 'pw',
        {'cpus': 2, 'memory_mib': 1024, 'disk_size': '10G'},
        {'deploy_kernel': 'http://k', 'boot_interface': None})
    assert body['name'] == 'lab-0' and body['driver'] == 'redfish'
    info = body['driver_info']
    assert info['redfish_system_id'] == '/redfish/v1/Systems/' + \
        machine.uuid
    assert info['redfish_verify_ca'] == 'false'
    assert info['kernel_append_params'] == 'console=ttyS0,115200'
    assert info['deploy_kernel'] == 'http://k'
    assert 'deploy_ramdisk' not in info
    assert body['boot_interface'] == 'ipxe'
    assert body['properties']['local_gb'] == 10


def test_patch_ops_only_what_differs(tmp_path):
    body = enrolllib.node_body(_machine(tmp_path), 'http://b', 'u', 'p',
                               {}, {})
    node = dict(body, uuid='n1', driver_info=dict(
        body['driver_info'], redfish_password='******'))
    assert enrolllib._patch_ops(node, body) == []
    node['driver_info']['redfish_address'] = 'http://old'
    node['deploy_interface'] = 'fake'
    paths = [op['path'] for op in enrolllib._patch_ops(node, body)]
    assert paths == ['/driver_info/redfish_address', '/deploy_interface']


def test_disk_gib():
    assert enrolllib.disk_gib('2G') == 2
    assert enrolllib.disk_gib('512M') == 1
    assert enrolllib.disk_gib('3T') == 3072
    assert enrolllib.disk_gib(str(5 * 1024 ** 3)) == 5


def test_cli_arguments():
    args = cli._parser().parse_args(['create', '--count', '3', '--memory',
                                     '512', '--lab-dir', '/l'])
    assert (args.count, args.memory, args.cpus, args.disk_size) == \
        (3, 512, 1, '2G')
    assert (args.api_port, args.http_port, args.bmc_port) == \
        (6385, 8080, 8000)
    args = cli._parser().parse_args(['enroll', '--resource-class', 'x'])
    assert args.url == 'http://127.0.0.1:6385'
    assert (args.boot_interface, args.deploy_interface,
            args.inspect_interface, args.resource_class) == \
        ('ipxe', 'direct', 'agent', 'x')


def test_cli_without_a_lab_says_so(tmp_path, capsys):
    assert aio.main(['lab', 'list', '--lab-dir', str(tmp_path)]) == 1
    assert 'no lab in' in capsys.readouterr().err


def test_ipmi_side_maps_to_the_systems_driver(systems):
    """The IPMI endpoint's boot flags and chassis control land in the
    same systems driver (and boot state) as Redfish requests."""
    from pyghmi.ipmi.private import session as ipmisession

    from bootflow.lab import ipmi
    uuid = systems.systems[0]
    bmc = ipmi.MachineBmc({'admin': 'pw'}, 0, systems, uuid)
    try:
        assert bmc.port != 0
        valid, persistent = ipmi.FLAG_VALID, ipmi.FLAG_PERSISTENT
        assert bmc._set_boot_flags([valid | persistent, 0x1 << 2]) == 0
        assert systems.boot_override(uuid) == ('Pxe', 'Continuous')
        assert bmc._set_boot_flags([valid, 0x2 << 2]) == 0
        assert systems.boot_override(uuid) == ('Hdd', 'Once')
        # a floppy, which a lab machine lacks, and a truncated request
        assert bmc._set_boot_flags([valid, 0xf << 2]) == ipmi.INVALID_FIELD
        assert bmc._set_boot_flags([valid]) == ipmi.INVALID_FIELD
        # reset and soft off need the machine on, as on many BMCs
        assert bmc.power_reset() == ipmi.NOT_IN_PRESENT_STATE
        assert bmc.power_shutdown() == ipmi.NOT_IN_PRESENT_STATE
        assert bmc.power_on() == ipmi.OK
        assert bmc.get_power_state() == 'on'
        assert systems.get_power_state(uuid) == 'On'
        assert bmc.power_off() == ipmi.OK
        assert bmc.get_power_state() == 'off'
    finally:
        ipmisession.Session.bmc_handlers.pop(bmc.serversocket, None)
        bmc.serversocket.close()


def test_virtual_media_fetches_guest_urls_through_the_relayed_port(
        systems, monkeypatch):
    """What the conductor publishes for its guests (10.0.2.100) the BMC,
    on the host, fetches from the port the lab relays it from; any
    other URL as it is."""
    fetched = []
    monkeypatch.setattr(bmclib.vmedia_base.StaticDriver, 'insert_image',
                        lambda self, identity, device, url, *a, **k:
                        fetched.append(url) or '/tmp/x.iso')
    lab_dir = systems._lab_dir
    port = lablib.statelib.LabState(lab_dir).config['http_port']
    media = bmclib.LabVirtualMedia({'LAB_DIR': lab_dir,
                                    'SUSHY_EMULATOR_STATE_DIR': lab_dir},
                                   logging.getLogger(__name__))
    assert media.insert_image('lab-0', 'Cd', 'http://10.0.2.100/u/boot'
                              '.iso') == '/tmp/x.iso'
    media.insert_image('lab-0', 'Cd', 'http://10.0.2.1000/a.iso')
    media.insert_image('lab-0', 'Cd', 'https://images.example/b.iso')
    assert fetched == ['http://127.0.0.1:%d/u/boot.iso' % port,
                       'http://10.0.2.1000/a.iso',
                       'https://images.example/b.iso']
