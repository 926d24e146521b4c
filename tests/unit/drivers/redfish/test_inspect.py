import pytest

from bootflow.common import exception
from bootflow.common import states
from bootflow.db import api as db_api
from bootflow.db import node_data
from bootflow.drivers.modules.redfish import inspect
from tests.unit.drivers import redfish as rf
from tests.unit.drivers.redfish import fakebmc

GiB = 1024 ** 3
SYS = fakebmc.SYSTEM
STORAGE = SYS + '/Storage/1'
MAC0, MAC1 = '52:54:00:AA:BB:01', '52:54:00:AA:BB:02'


def links(*paths):
    return [{'@odata.id': p} for p in paths]


def collection(fake, path, members):
    fake.add(path, {'Name': path.rsplit('/', 1)[-1],
                    'Members': links(*members)})


@pytest.fixture
def fake(conf, db):
    with fakebmc.running(conf) as bmc:
        yield bmc


def full_machine(fake, volumes=()):
    """Two 16-thread CPUs and a GPU, 64 GiB, three drives (volumes on
    some, if asked), two NICs and one without a MAC."""
    fake.add(SYS, fakebmc.system_doc(
        MemorySummary={'TotalSystemMemoryGiB': 64},
        ProcessorSummary={'Count': 2},
        Processors={'@odata.id': SYS + '/Processors'},
        Storage={'@odata.id': SYS + '/Storage'},
        SimpleStorage={'@odata.id': SYS + '/SimpleStorage'},
        EthernetInterfaces={'@odata.id': SYS + '/EthernetInterfaces'}))
    collection(fake, SYS + '/Processors', [SYS + '/Processors/%s' % p
                                           for p in ('CPU0', 'CPU1', 'GPU')])
    for name in ('CPU0', 'CPU1'):
        fake.add(SYS + '/Processors/' + name, {
            'Id': name, 'ProcessorType': 'CPU',
            'ProcessorArchitecture': 'x86', 'InstructionSet': 'x86-64',
            'Model': 'Contoso C9', 'MaxSpeedMHz': 3000, 'TotalCores': 8,
            'TotalThreads': 16})
    fake.add(SYS + '/Processors/GPU', {
        'Id': 'GPU', 'ProcessorType': 'GPU', 'TotalCores': 1000})
    collection(fake, SYS + '/Storage', [STORAGE])
    drives = ['Disk0', 'Disk1', 'Disk2']
    fake.add(STORAGE, {'Id': '1', 'Name': 'RAID',
                       'Drives': links(*[STORAGE + '/Drives/' + d
                                         for d in drives]),
                       'Volumes': {'@odata.id': STORAGE + '/Volumes'}})
    for n, name in enumerate(drives):
        fake.add(STORAGE + '/Drives/' + name, {
            'Id': name, 'Name': name, 'CapacityBytes': (n + 1) * 100 * GiB,
            'MediaType': 'HDD' if n else 'SSD', 'Model': 'M%d' % n,
            'SerialNumber': 'S%d' % n, 'Manufacturer': 'Contoso',
            'Identifiers': [{'DurableNameFormat': 'NAA',
                             'DurableName': '5000C5000000000%d' % n}]})
    collection(fake, STORAGE + '/Volumes', [STORAGE + '/Volumes/' + v
                                            for v, _ in volumes])
    for name, on in volumes:
        fake.add(STORAGE + '/Volumes/' + name, {
            'Id': name, 'CapacityBytes': 150 * GiB, 'RAIDType': 'RAID1',
            'Links': {'Drives': links(*[STORAGE + '/Drives/' + d
                                        for d in on])}})
    collection(fake, SYS + '/EthernetInterfaces', [
        SYS + '/EthernetInterfaces/' + n for n in ('NIC1', 'NIC2', 'BMC')])
    fake.add(SYS + '/EthernetInterfaces/NIC1', {
        'Id': 'NIC1', 'MACAddress': MAC0, 'LinkStatus': 'LinkUp'})
    fake.add(SYS + '/EthernetInterfaces/NIC2', {
        'Id': 'NIC2', 'PermanentMACAddress': MAC1,
        'LinkStatus': 'LinkDown'})
    fake.add(SYS + '/EthernetInterfaces/BMC', {'Id': 'BMC'})


@pytest.fixture
def task(db):
    return rf.db_task(provision_state=states.INSPECTING,
                      properties={'capabilities': 'foo:bar'})


@pytest.fixture
def iface():
    return inspect.RedfishInspect()


def inventory(fake, task):
    return inspect.build_inventory(task.node, fake.system())


def test_full_inventory(fake, task):
    full_machine(fake)
    inv = inventory(fake, task)
    assert inv['cpu'] == {'count': 32, 'architecture': 'x86_64',
                          'model_name': 'Contoso C9', 'frequency': '3000'}
    assert inv['memory'] == {'physical_mb': 65536}
    assert inv['disks'] == [
        {'name': 'Disk%d' % n, 'size': (n + 1) * 100 * GiB,
         'model': 'M%d' % n, 'serial': 'S%d' % n, 'vendor': 'Contoso',
         'rotational': bool(n), 'wwn': '0x5000c5000000000%d' % n}
        for n in range(3)]
    assert inv['interfaces'] == [
        {'name': 'NIC1', 'mac_address': MAC0.lower(), 'has_carrier': True},
        {'name': 'NIC2', 'mac_address': MAC1.lower(), 'has_carrier': False}]
    assert inv['system_vendor'] == {'manufacturer': 'Contoso',
                                    'product_name': 'R1000',
                                    'serial_number': 'SN-1'}
    assert inv['boot'] == {'current_boot_mode': 'uefi'}


def test_volumes_hide_their_drives(fake, task):
    full_machine(fake, volumes=[('Mirror', ['Disk0', 'Disk1'])])
    disks = inventory(fake, task)['disks']
    assert [(d['name'], d['size']) for d in disks] == [
        ('Mirror', 150 * GiB), ('Disk2', 300 * GiB)]


def test_volumes_without_drive_links_are_all_there_is(fake, task):
    full_machine(fake, volumes=[('V', [])])
    del fake.docs[STORAGE + '/Volumes/V']['Links']
    assert [d['name'] for d in inventory(fake, task)['disks']] == ['V']


def test_simple_storage_when_there_is_no_storage(fake, task):
    full_machine(fake)
    del fake.docs[SYS]['Storage']
    collection(fake, SYS + '/SimpleStorage', [SYS + '/SimpleStorage/1'])
    fake.add(SYS + '/SimpleStorage/1', {'Id': '1', 'Devices': [
        {'Name': 'SATA disk', 'CapacityBytes': 500 * GiB, 'Model': 'X1'},
        {'Name': 'DVD'}]})
    assert inventory(fake, task)['disks'] == [
        {'name': 'SATA disk', 'size': 500 * GiB, 'model': 'X1'}]


def test_what_the_bmc_does_not_say_is_left_out(fake, task):
    fake.add(SYS, {'Id': '1', 'Links': {}, 'Boot': {},
                   'ProcessorSummary': {'Count': 2}})
    assert inventory(fake, task) == {}
    fake.docs[SYS]['ProcessorSummary']['LogicalProcessorCount'] = 12
    assert inventory(fake, task) == {'cpu': {'count': 12}}


def test_inspect_hardware_stores_and_applies(fake, task, iface):
    full_machine(fake)
    assert iface.inspect_hardware(task) == states.MANAGEABLE
    stored = node_data.get_inventory(task.node.id)
    assert stored['inventory']['cpu']['count'] == 32
    assert stored['plugin_data'] == {'source': 'redfish'}
    node = db_api.get_node(task.node.id)
    props = node['properties']
    assert (props['cpus'], props['memory_mb'], props['cpu_arch']) == (
        32, 65536, 'x86_64')
    assert props['local_gb'] == 99  # the smallest disk, less one GiB
    assert props['capabilities'] == 'foo:bar,boot_mode:uefi'
    ports = db_api.list_ports(filters={'node_id': task.node.id})
    assert sorted((p['address'], p['pxe_enabled']) for p in ports) == [
        (MAC0.lower(), True), (MAC1.lower(), True)]
    [event] = node_data.list_history(task.node.id)
    assert event['event'].startswith('Inspection (redfish): inventory')
    assert event['severity'] == 'INFO'
    assert event['event_type'] == 'introspection'


def test_inspect_unreachable_bmc(fake, task, iface):
    full_machine(fake)
    fake.unreachable = 100
    with pytest.raises(exception.DriverOperationError) as err:
        iface.inspect_hardware(task)
    assert 'Redfish inspection failed' in str(err.value)
    assert node_data.get_inventory(task.node.id) is None


def test_properties_and_validate(task, iface):
    assert 'redfish_address' in iface.get_properties()
    iface.validate(task)
    task.node.driver_info = {'redfish_address': 'ftp://x'}
    with pytest.raises(exception.InvalidParameterValue):
        iface.validate(task)
