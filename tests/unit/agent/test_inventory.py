"""Inventory collection on real file trees: two fixture hosts and this one.

``tests/fixtures/hosts/server`` is a hand-written Dell R640 (see the README
there), ``tests/fixtures/hosts/vm`` was captured from the CI VM with
tools/capture_host.py.  Nothing of the agent is mocked: the collectors run
through stevedore against the trees exactly as they would against ``/``.
"""

import importlib.util
import os
import pathlib
import shutil

import pytest
from stevedore import extension

from bootflow.agent import collectors
from bootflow.agent import inventory
from bootflow.agent import system as system_mod

HOSTS = pathlib.Path(__file__).resolve().parents[2] / 'fixtures' / 'hosts'
SERVER = HOSTS / 'server'
VM = HOSTS / 'vm'
PXE_MAC = 'e4:43:4b:5a:1c:60'
GiB = 2 ** 30


def copy_tree(src, dest):
    shutil.copytree(src, dest, symlinks=True)
    return system_mod.System(dest)


@pytest.fixture
def server_copy(tmp_path):
    """A writable copy of the server tree, to remove parts of it."""
    return copy_tree(SERVER, tmp_path / 'server')


def by_name(items):
    return {item['name']: item for item in items}


# -- the hand-written server -------------------------------------------


def test_server_cpu_and_memory():
    inv, _ = inventory.collect(system_mod.System(SERVER))
    cpu = inv['cpu']
    assert cpu['model_name'] == 'Intel(R) Xeon(R) Silver 4114 CPU @ 2.20GHz'
    assert (cpu['count'], cpu['socket_count']) == (40, 2)
    assert cpu['architecture'] == 'x86_64'
    assert cpu['frequency'] == '3000'  # cpufreq max, not the current MHz
    assert 'avx512f' in cpu['flags'] and 'vmx' in cpu['flags']
    # 12 x 16 GB DIMMs; "Volatile Size: 16 GB" lines are not added twice
    assert inv['memory'] == {'total': 196493292 * 1024,
                             'physical_mb': 12 * 16 * 1024}


def test_server_disks():
    inv, notes = inventory.collect(system_mod.System(SERVER))
    disks = inv['disks']
    assert [d['name'] for d in disks] == ['/dev/sda', '/dev/sdb', '/dev/sdc',
                                          '/dev/sdd']
    assert [d['size'] for d in disks] == [480103981056] * 2 + \
        [2000398934016] * 2
    assert [d['rotational'] for d in disks] == [False, False, True, True]
    sda = disks[0]
    # lsblk's (udev) model is whole; sysfs cuts it at 16 characters
    assert sda == {
        'name': '/dev/sda', 'model': 'INTEL SSDSC2KB480G8',
        'size': 480103981056, 'rotational': False,
        'wwn': '0x55cd2e414f2c3d8e', 'serial': 'PHYF9123004C480BGN',
        'vendor': 'ATA', 'hctl': '0:0:0:0',
        'by_path': '/dev/disk/by-path/pci-0000:18:00.0-scsi-0:0:0:0'}
    assert [d['serial'] for d in disks[2:]] == ['ZC1A7KQ3', 'ZC1A7M2X']
    assert 'disks: block devices skipped as not disks: loop0 (virtual), ' \
        'sr0 (optical)' in notes


def test_server_interfaces_and_pxe():
    inv, _ = inventory.collect(system_mod.System(SERVER))
    ifaces = by_name(inv['interfaces'])
    assert sorted(ifaces) == ['eno1', 'eno2', 'ens2f0', 'ens2f1']  # no lo
    assert {n: i['mac_address'] for n, i in ifaces.items()} == {
        'eno1': 'e4:43:4b:5a:1c:60', 'eno2': 'e4:43:4b:5a:1c:61',
        'ens2f0': '0c:42:a1:3e:77:f4', 'ens2f1': '0c:42:a1:3e:77:f5'}
    assert {n: i['speed_mbps'] for n, i in ifaces.items()} == {
        'eno1': 1000, 'eno2': None, 'ens2f0': 25000, 'ens2f1': 25000}
    assert [n for n, i in ifaces.items() if i['has_carrier']] == \
        ['eno1', 'ens2f0', 'ens2f1']
    assert ifaces['eno1']['ipv4_address'] == '10.20.0.57'
    assert ifaces['eno1']['ipv6_address'] == 'fe80::e643:4bff:fe5a:1c60'
    assert (ifaces['ens2f0']['vendor'], ifaces['ens2f0']['product']) == \
        ('0x15b3', '0x1015')
    # BOOTIF=01-e4-43-4b-5a-1c-60 on the tree's kernel command line
    assert inv['boot'] == {'current_boot_mode': 'uefi',
                           'pxe_interface': PXE_MAC}
    assert [n for n, i in ifaces.items() if i['pxe_enabled']] == ['eno1']


def test_server_vendor_bmc_and_notes():
    inv, notes = inventory.collect(system_mod.System(SERVER))
    assert inv['system_vendor'] == {
        'product_name': 'PowerEdge R640', 'serial_number': '4FJ8QK2',
        'manufacturer': 'Dell Inc.',
        'firmware': {'vendor': 'Dell Inc.', 'version': '2.17.1',
                     'build_date': '11/14/2022'}}
    assert (inv['bmc_address'], inv['bmc_mac'], inv['bmc_v6address']) == \
        ('10.0.0.42', 'e4:43:4b:5a:1c:64', '2001:db8:10::42')
    assert inv['hostname'] == 'r640-07'
    # every source is there: the only notes are about skipped devices
    assert [n.split(':')[0] for n in notes] == ['disks', 'interfaces']


def test_server_inventory_has_ironic_keys():
    inv, _ = inventory.collect(system_mod.System(SERVER))
    assert list(inv) == ['cpu', 'memory', 'disks', 'interfaces',
                         'system_vendor', 'boot', 'bmc_address',
                         'bmc_v6address', 'bmc_mac', 'hostname']
    assert set(inv['interfaces'][0]) == {
        'name', 'mac_address', 'ipv4_address', 'ipv6_address', 'has_carrier',
        'lldp', 'vendor', 'product', 'client_id', 'biosdevname',
        'speed_mbps', 'pxe_enabled'}


# -- the captured VM ---------------------------------------------------


def test_vm_inventory():
    inv, notes = inventory.collect(system_mod.System(VM))
    assert (inv['cpu']['count'], inv['cpu']['socket_count']) == (2, 1)
    assert inv['cpu']['architecture'] == 'x86_64'
    assert inv['memory'] == {'total': 24683652 * 1024, 'physical_mb': 24576}
    assert [(d['name'], d['size'], d['rotational']) for d in inv['disks']] \
        == [('/dev/vda', 256 * GiB, True)]
    assert [(i['name'], i['mac_address'], i['ipv4_address'])
            for i in inv['interfaces']] == \
        [('eth0', '02:fc:00:00:00:01', '192.0.2.2')]
    assert inv['boot'] == {'current_boot_mode': 'bios',
                           'pxe_interface': '02:fc:00:00:00:01'}
    assert inv['system_vendor']['manufacturer'] is None
    assert inv['bmc_address'] is None
    assert 'system_vendor: sys/class/dmi/id absent (no SMBIOS/DMI): ' \
        'system_vendor not collected' in notes
    assert any(n.startswith('memory: dmidecode -t memory failed (rc 1: '
                            '/dev/mem: No such file or directory)')
               and 'estimated from MemTotal' in n for n in notes)
    assert any(n.startswith('bmc: ipmitool lan print failed (rc 1')
               for n in notes)


# -- missing sources ---------------------------------------------------


def test_absent_tools_become_notes(server_copy):
    shutil.rmtree(server_copy.path('commands'))
    inv, notes = inventory.collect(server_copy)
    assert 'bmc: ipmitool not found: bmc_address, bmc_v6address and ' \
        'bmc_mac not collected' in notes
    assert 'disks: lsblk not found: disk serial and wwn from sysfs only' \
        in notes
    assert 'memory: dmidecode not found: memory.physical_mb estimated ' \
        'from MemTotal (192512)' in notes
    assert any(n.startswith('interfaces: ip not found') for n in notes)
    assert inv['memory']['physical_mb'] == 188 * 1024
    assert inv['bmc_address'] is None
    sda = inv['disks'][0]
    assert (sda['model'], sda['serial'], sda['wwn']) == \
        ('INTEL SSDSC2KB48', None, '0x55cd2e414f2c3d8e')
    eno1 = by_name(inv['interfaces'])['eno1']
    # IPv6 still known from proc/net/if_inet6, IPv4 is not
    assert (eno1['ipv4_address'], eno1['ipv6_address']) == \
        (None, 'fe80::e643:4bff:fe5a:1c60')


def test_failing_tool_says_why(server_copy):
    answer = server_copy.path('commands/ipmitool_lan_print')
    with open(answer + '.rc', 'w') as f:
        f.write('1\n')
    with open(answer + '.stderr', 'w') as f:
        f.write('Get Channel Info command failed\n')
    inv, notes = inventory.collect(server_copy)
    assert inv['bmc_address'] is None
    assert 'bmc: ipmitool lan print failed (rc 1: Get Channel Info command ' \
        'failed): bmc_address, bmc_v6address and bmc_mac not collected' \
        in notes


def test_missing_dmi_efi_and_arch(server_copy):
    os.unlink(server_copy.path('sys/class/dmi/id/product_serial'))
    shutil.rmtree(server_copy.path('sys/firmware/efi'))
    os.unlink(server_copy.path('proc/sys/kernel/arch'))
    inv, notes = inventory.collect(server_copy)
    assert inv['boot']['current_boot_mode'] == 'bios'
    assert inv['system_vendor']['serial_number'] is None
    assert inv['system_vendor']['manufacturer'] == 'Dell Inc.'
    # a fixture tree is not the test runner: no platform.machine() here
    assert inv['cpu']['architecture'] is None
    assert 'cpu: cpu architecture could not be determined' in notes
    assert any('product_serial unreadable' in n for n in notes)


# -- BOOTIF ------------------------------------------------------------


@pytest.mark.parametrize('given,mac', [
    ('01-0C-42-A1-3E-77-F4', '0c:42:a1:3e:77:f4'),
    ('0c:42:a1:3e:77:f4', '0c:42:a1:3e:77:f4'),
    ('0c-42-a1-3e-77-f4', '0c:42:a1:3e:77:f4'),
    (' 0C:42:A1:3E:77:F4\n', '0c:42:a1:3e:77:f4'),
    ('06-0c-42-a1-3e-77-f4', None),  # not Ethernet's ARP type
    ('0c:42:a1:3e:77', None),
    ('eno1', None),
    ('', None),
])
def test_normalize_mac(given, mac):
    assert collectors.normalize_mac(given) == mac


def test_given_bootif_wins_over_cmdline():
    inv, _ = inventory.collect(system_mod.System(SERVER),
                               bootif='01-0c-42-a1-3e-77-f4')
    assert inv['boot']['pxe_interface'] == '0c:42:a1:3e:77:f4'
    assert [i['name'] for i in inv['interfaces'] if i['pxe_enabled']] == \
        ['ens2f0']


def test_bad_or_unknown_bootif(server_copy):
    inv, notes = inventory.collect(server_copy, bootif='not-a-mac')
    assert inv['boot']['pxe_interface'] is None
    assert "boot: given BOOTIF 'not-a-mac' is not a MAC address: " \
        "boot.pxe_interface not set" in notes
    assert 'pxe_enabled' not in inv['interfaces'][0]
    inv, notes = inventory.collect(server_copy, bootif='aa:bb:cc:dd:ee:ff')
    assert inv['boot']['pxe_interface'] == 'aa:bb:cc:dd:ee:ff'
    assert 'interfaces: BOOTIF aa:bb:cc:dd:ee:ff matches no interface' \
        in notes
    os.unlink(server_copy.path('proc/cmdline'))
    inv, notes = inventory.collect(server_copy)
    assert inv['boot'] == {'current_boot_mode': 'uefi',
                           'pxe_interface': None}
    assert 'boot: no BOOTIF given nor on the kernel command line: ' \
        'boot.pxe_interface not set' in notes


# -- plugins -----------------------------------------------------------


def installed_but(name, plugin):
    """The installed collectors with ``name`` replaced by ``plugin``."""
    manager, notes = inventory.load_collectors()
    assert not notes and 'cpu' in manager.names()
    exts = [e for e in manager.extensions if e.name != name]
    exts.append(extension.Extension(name, None, plugin, None))
    return extension.ExtensionManager.make_test_instance(exts)


def test_crashing_collector_becomes_note():
    def cpu(system, context=None):
        raise RuntimeError('cpuinfo exploded')

    inv, notes = inventory.collect(system_mod.System(SERVER),
                                   extensions=installed_but('cpu', cpu))
    assert 'cpu: collector crashed (RuntimeError: cpuinfo exploded), left ' \
        'empty' in notes
    assert inv['cpu'] == inventory.EMPTY['cpu']
    assert inv['memory']['physical_mb'] == 196608
    assert len(inv['disks']) == 4 and inv['bmc_address'] == '10.0.0.42'


def test_crashing_bmc_and_boot_keep_their_keys():
    def boom(system, context=None):
        raise OSError('no')

    exts = installed_but('bmc', boom)
    exts = extension.ExtensionManager.make_test_instance(
        [e for e in exts.extensions if e.name != 'boot'] +
        [extension.Extension('boot', None, boom, None)])
    inv, notes = inventory.collect(system_mod.System(SERVER),
                                   extensions=exts)
    assert (inv['bmc_address'], inv['bmc_mac']) == (None, None)
    # the caller's BOOTIF is still reported without the boot collector
    assert inv['boot'] == {'current_boot_mode': None,
                           'pxe_interface': PXE_MAC}
    assert len([n for n in notes if 'collector crashed' in n]) == 2


def test_bad_answer_and_site_collector():
    exts = installed_but('memory', lambda system, context=None: 42)
    exts = extension.ExtensionManager.make_test_instance(
        exts.extensions + [extension.Extension(
            'rack', None,
            lambda system, context=None: ({'row': 'B'}, ['guessed']), None)])
    inv, notes = inventory.collect(system_mod.System(SERVER),
                                   extensions=exts)
    assert inv['memory'] == inventory.EMPTY['memory']
    assert 'memory: collector returned int instead of (value, notes), ' \
        'left empty' in notes
    assert inv['rack'] == {'row': 'B'} and 'rack: guessed' in notes


def test_collectors_plain_contract_call():
    """``f(system)`` without a context still works (BOOTIF from cmdline)."""
    value, notes = collectors.boot(system_mod.System(SERVER))
    assert value == {'current_boot_mode': 'uefi', 'pxe_interface': PXE_MAC}
    assert collectors.cpu(system_mod.System(SERVER))[0]['count'] == 40


# -- System ------------------------------------------------------------


def test_symlinks_stay_inside_root(tmp_path):
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'etc' / 'hostname').write_text('inside\n')
    (tmp_path / 'sys').mkdir()
    os.symlink('/etc', tmp_path / 'sys' / 'abs')
    os.symlink('../../../../../../etc', tmp_path / 'sys' / 'up')
    system = system_mod.System(tmp_path)
    assert system.resolve('sys/abs/hostname') == 'etc/hostname'
    assert system.value('/sys/up/hostname') == 'inside'
    assert system.value('sys/abs/missing', 'dflt') == 'dflt'
    assert system.listdir('nowhere') == []
    assert system.islink('sys/abs') and not system.islink('etc')


@pytest.mark.parametrize('argv,name', [
    (['ipmitool', 'lan', 'print'], 'ipmitool_lan_print'),
    (['dmidecode', '-t', 'memory'], 'dmidecode_-t_memory'),
    (['ls', '/dev/my_disk', 'a b'], 'ls_%2Fdev%2Fmy%5Fdisk_a%20b'),
])
def test_command_filename(argv, name):
    assert system_mod.command_filename(argv) == name


def test_fixture_commands():
    system = system_mod.System(SERVER)
    assert system.which('ipmitool') and not system.which('ipmi')
    assert not system.which('racadm')
    assert system.run(['racadm', 'getsysinfo']) is None
    assert 'IP Address' in system.run(['ipmitool', 'lan', 'print'])
    # the tool is there but this invocation was never captured
    result = system.run_result(['ipmitool', 'sel', 'list'])
    assert result.found and result.rc is None
    vm = system_mod.System(VM).run_result(['ipmitool', 'lan', 'print'])
    assert (vm.found, vm.rc) == (True, 1) and '/dev/ipmi0' in vm.stderr


def test_live_commands():
    system = system_mod.System('/')
    assert system.live
    assert system.run(['echo', 'hi']) == 'hi\n'
    assert system.run(['false']) is None
    assert system.run(['no-such-tool-bootflow']) is None
    slow = system.run_result(['sleep', '5'], timeout=0.2)
    assert slow.found and slow.rc is None and 'timed out' in slow.stderr


def test_this_machine():
    inv, notes = inventory.collect(system_mod.System('/'))
    assert inv['cpu']['count'] >= 1
    assert inv['cpu']['architecture']
    assert inv['memory']['total'] > 0
    assert any(i['mac_address'] for i in inv['interfaces'])
    assert inv['boot']['current_boot_mode'] in ('uefi', 'bios')
    assert all(isinstance(n, str) for n in notes)


# -- tools/capture_host.py ---------------------------------------------


def load_capture_tool():
    path = HOSTS.parents[2] / 'tools' / 'capture_host.py'
    spec = importlib.util.spec_from_file_location('capture_host', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_capture_reproduces_the_inventory(tmp_path, capsys):
    """Capturing the server tree gives a tree with the same inventory."""
    tool = load_capture_tool()
    dest = tmp_path / 'captured'
    assert tool.main(['--root', str(SERVER), str(dest)]) == 0
    assert '"bmc_address": "10.0.0.42"' in capsys.readouterr().out
    captured = inventory.collect(system_mod.System(dest))
    assert captured == inventory.collect(system_mod.System(SERVER))
    assert os.path.islink(dest / 'sys' / 'class' / 'net' / 'eno1')
    assert (dest / 'sys' / 'firmware' / 'efi').is_dir()
    assert not (dest / 'sys' / 'devices' / 'virtual' / 'net' / 'lo'
                / 'address').exists()  # never read: not copied
    with pytest.raises(SystemExit):
        tool.main(['--root', str(SERVER), str(dest)])  # no --force


def test_capture_this_machine(tmp_path, capsys):
    tool = load_capture_tool()
    dest = tmp_path / 'me'
    rc = tool.main(['--cmdline', 'BOOTIF=01-aa-bb-cc-dd-ee-ff', str(dest)])
    assert rc == 0
    assert (dest / 'proc' / 'cmdline').read_text() == \
        'BOOTIF=01-aa-bb-cc-dd-ee-ff\n'
    inv, _ = inventory.collect(system_mod.System(dest))
    assert inv['boot']['pxe_interface'] == 'aa:bb:cc:dd:ee:ff'
    assert inv['interfaces']
