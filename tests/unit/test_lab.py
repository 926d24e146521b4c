"""bootflow.lab without QEMU: the state files and the QEMU command line."""

import json
import os
import stat

import pytest

from bootflow.lab import machine as machinelib
from bootflow.lab import state as statelib


# -- state ------------------------------------------------------------------

def test_default_lab_dir_env_and_xdg(tmp_path):
    assert statelib.default_lab_dir({'BOOTFLOW_LAB_DIR': '/x/lab'}) == \
        statelib.Path('/x/lab')
    assert statelib.default_lab_dir({'XDG_STATE_HOME': '/s'}) == \
        statelib.Path('/s/bootflow/lab')
    home = statelib.default_lab_dir({})
    assert str(home).endswith('.local/state/bootflow/lab')


def test_macs_are_stable_and_unique():
    macs = {statelib.mac_address(i) for i in range(300)}
    assert len(macs) == 300
    assert statelib.mac_address(0) == '52:54:00:6c:00:00'
    assert statelib.mac_address(257) == '52:54:00:6c:01:01'
    with pytest.raises(ValueError):
        statelib.mac_address(1 << 16)


def test_machine_record_paths_and_serial(tmp_path):
    record = statelib.machine_record(tmp_path, 3)
    assert record['name'] == 'lab-3' and record['index'] == 3
    assert record['qmp_socket'] == str(tmp_path / 'machines' / 'lab-3' /
                                       'qmp.sock')
    assert len(record['disk_serial']) <= statelib.SERIAL_MAX
    assert record['disk_serial'].startswith('lab-3-')
    assert record['uuid'] != statelib.machine_record(tmp_path, 3)['uuid']


def test_lab_state_round_trip_private(tmp_path):
    state = statelib.LabState(tmp_path / 'lab')
    assert not state.exists
    state.new({'count': 2, 'memory_mib': 256, 'password': None})
    state.pids['bmc'] = 42
    state.save()
    mode = stat.S_IMODE(os.stat(state.path).st_mode)
    assert mode == 0o600, oct(mode)
    again = statelib.LabState(tmp_path / 'lab')
    assert again.config['memory_mib'] == 256
    assert again.config['password'] == 'password'   # default kept
    assert [m['name'] for m in again.machines] == ['lab-0', 'lab-1']
    assert again.machine('lab-1') == again.machines[1]
    assert again.machine(again.machines[0]['uuid'])['name'] == 'lab-0'
    assert again.pids == {'bmc': 42}
    with pytest.raises(KeyError):
        again.machine('nope')


def test_boot_state_defaults_and_updates(tmp_path):
    boot = statelib.BootState(tmp_path)
    assert boot.get('u1') == statelib.DEFAULT_BOOT
    boot.set('u1', device='Pxe')
    boot.set('u2', once='Pxe')
    assert boot.get('u1')['device'] == 'Pxe'
    assert boot.get('u2') == {'device': 'Hdd', 'enabled': 'Continuous',
                              'once': 'Pxe'}
    assert json.loads((tmp_path / 'bmc.json').read_text())['u1'][
        'device'] == 'Pxe'


# -- QEMU command line ---------------------------------------------------

def _record_and_config(tmp_path):
    record = statelib.machine_record(
        tmp_path, 1, 'b0f1ab1e-0000-4000-8000-000000000001')
    config = dict(statelib.DEFAULTS, memory_mib=512, cpus=2,
                  api_port=16385, http_port=18080)
    return record, config


def test_command_line(tmp_path):
    record, config = _record_and_config(tmp_path)
    argv = machinelib.command(record, config, tmp_path / 'tftp')
    text = ' '.join(argv)
    for part in ('-nodefaults', '-machine pc', '-accel tcg,tb-size=64',
                 '-smp 2', '-m 512', '-S', '-no-shutdown',
                 '-uuid b0f1ab1e-0000-4000-8000-000000000001',
                 '-qmp unix:%s,server=on,wait=off' % record['qmp_socket'],
                 '-serial file:%s' % record['serial_log'],
                 '-display none'):
        assert part in text, part
    drive = argv[argv.index('-drive') + 1]
    assert drive == 'if=none,id=d0,format=qcow2,file=%s' % record['disk']
    devices = [argv[i + 1] for i, a in enumerate(argv) if a == '-device']
    assert ('virtio-blk-pci,id=disk0,drive=d0,serial=%s,bootindex=1'
            % record['disk_serial']) in devices
    assert ('virtio-net-pci,id=nic0,netdev=n0,mac=52:54:00:6c:00:01,'
            'bootindex=2') in devices
    net = argv[argv.index('-netdev') + 1]
    assert net.startswith('user,id=n0,restrict=on,tftp=%s,'
                          'bootfile=boot.ipxe,' % (tmp_path / 'tftp'))
    assert 'guestfwd=tcp:10.0.2.100:80-cmd:' in net
    assert 'guestfwd=tcp:10.0.2.100:6385-cmd:' in net
    assert '127.0.0.1 18080' in net and '127.0.0.1 16385' in net
    assert str(machinelib.RELAY) in net


def test_command_line_escapes_commas_and_refuses_long_sockets(tmp_path):
    record, config = _record_and_config(tmp_path / 'a,b')
    argv = machinelib.command(record, config, tmp_path / 'tftp')
    assert 'file=%s' % record['disk'].replace(',', ',,') in ' '.join(argv)
    record['qmp_socket'] = '/' + 'x' * 200
    with pytest.raises(machinelib.MachineError, match='too long'):
        machinelib.command(record, config, tmp_path)


def test_tftp_bootstrap(tmp_path):
    machinelib.write_tftp_dir(tmp_path / 't')
    assert (tmp_path / 't' / 'boot.ipxe').read_text() == \
        '#!ipxe\nchain http://10.0.2.100/boot.ipxe\n'


def test_boot_order():
    assert machinelib.boot_order_for('Pxe') == ['nic0', 'disk0']
    assert machinelib.boot_order_for('Hdd') == ['disk0', 'nic0']
    with pytest.raises(machinelib.MachineError):
        machinelib.boot_order_for('Floppy')


def test_pid_alive_checks_the_command_line():
    assert machinelib.pid_alive(os.getpid())
    assert not machinelib.pid_alive(os.getpid(), 'no-such-marker-xyz')
    assert not machinelib.pid_alive(None)


def test_more_nics_get_their_own_macs_and_reach_nothing(tmp_path):
    record = statelib.machine_record(tmp_path, 2, nics=3)
    assert record['macs'] == ['52:54:00:6c:00:02', '52:54:00:6d:00:02',
                              '52:54:00:6e:00:02']
    assert record['mac'] == record['macs'][0]
    args = machinelib._extra_nics(record)
    assert args == [
        '-netdev', 'user,id=n1,restrict=on',
        '-device', 'virtio-net-pci,id=nic1,netdev=n1,mac=52:54:00:6d:00:02',
        '-netdev', 'user,id=n2,restrict=on',
        '-device', 'virtio-net-pci,id=nic2,netdev=n2,mac=52:54:00:6e:00:02']
