import pytest

from bootflow.common import exception
from bootflow.db import api as db_api
from bootflow.drivers.modules.redfish import raid
from tests.unit.drivers import redfish as rf
from tests.unit.drivers.redfish import fakebmc

GiB = 1024 ** 3
TB = 10 ** 12
STORAGE = fakebmc.SYSTEM + '/Storage/1'
VOLUMES = STORAGE + '/Volumes'
MONITOR = '/redfish/v1/TaskMonitors/vol'
# Disk0-3: 1 TB HDDs on SATA; Disk4-5: 480 GB SSDs on SAS
DRIVES = [('Disk%d' % n, TB, 'HDD', 'SATA') for n in range(4)] + [
    ('Disk%d' % n, 480 * 10 ** 9, 'SSD', 'SAS') for n in (4, 5)]


def drive_path(name):
    return STORAGE + '/Drives/' + name


class Controller:
    """The storage side of the fake BMC. ``mode`` of creations and
    deletions: 'sync' (201 with Location / 204), 'async' (202 and a task
    monitor answering 202 twice), 'no-location' (201 without one)."""

    def __init__(self, fake, mode='sync', raid_types=('RAID0', 'RAID1',
                                                      'RAID5', 'RAID10')):
        self.fake, self.mode = fake, mode
        self.volumes = {}
        self.posts, self.deleted = [], []
        self._polls, self._pending = 0, None
        fake.add(fakebmc.SYSTEM, fakebmc.system_doc(
            Storage={'@odata.id': fakebmc.SYSTEM + '/Storage'}))
        fake.add(fakebmc.SYSTEM + '/Storage', {
            'Name': 'Storage', 'Members': [{'@odata.id': STORAGE}]})
        controller = {'MemberId': '0', 'Name': 'RAID ctl'}
        if raid_types is not None:
            controller['SupportedRAIDTypes'] = list(raid_types)
        fake.add(STORAGE, {
            'Id': '1', 'Name': 'Local Storage',
            'StorageControllers': [controller],
            'Drives': [{'@odata.id': drive_path(d[0])} for d in DRIVES],
            'Volumes': {'@odata.id': VOLUMES}})
        for name, size, media, protocol in DRIVES:
            fake.add(drive_path(name), {
                'Id': name, 'Name': name, 'CapacityBytes': size,
                'MediaType': media, 'Protocol': protocol})
        fake.on('GET', VOLUMES, lambda _: fakebmc.Response(200, {
            '@odata.id': VOLUMES, 'Name': 'Volumes', 'Members': [
                {'@odata.id': p} for p in sorted(self.volumes)]}))
        fake.on('POST', VOLUMES, self._create)
        fake.on('GET', MONITOR, self._monitor)

    def add_volume(self, name, drives, size=100 * GiB, raid_type='RAID1',
                   volume_type=None, deletable=True):
        path = VOLUMES + '/' + name
        doc = {'Id': name, 'Name': name, 'CapacityBytes': size,
               'Links': {'Drives': [{'@odata.id': drive_path(d)}
                                    for d in drives]}}
        if raid_type:
            doc['RAIDType'] = raid_type
        if volume_type:
            doc['VolumeType'] = volume_type
        self.volumes[path] = self.fake.add(path, doc)
        self.fake.on('DELETE', path, (lambda _, p=path: self._delete(p))
                     if deletable else (lambda _: fakebmc.Response(
                         405, fakebmc.error_body('not deletable'))))
        return path

    def _create(self, data):
        self.posts.append(data)
        name = 'Volume%d' % len(self.posts)
        drives = [link['@odata.id'].rsplit('/', 1)[-1]
                  for link in data['Links']['Drives']]
        if self.mode == 'async':
            self._polls = 2
            self._pending = lambda: self.add_volume(
                name, drives, data['CapacityBytes'], data['RAIDType'])
            return fakebmc.Response(202, headers={'Location': MONITOR})
        path = self.add_volume(name, drives, data['CapacityBytes'],
                               data['RAIDType'])
        self.fake.docs[path]['Name'] = data.get('Name') or name
        if self.mode == 'no-location':
            return fakebmc.Response(201)
        return fakebmc.Response(201, headers={'Location': path})

    def _delete(self, path):
        if self.mode == 'async':
            self._polls = 2
            self._pending = lambda: self._drop(path)
            return fakebmc.Response(202, headers={'Location': MONITOR})
        self._drop(path)
        return fakebmc.Response(204)

    def _drop(self, path):
        self.deleted.append(path.rsplit('/', 1)[-1])
        del self.volumes[path]
        del self.fake.docs[path]

    def _monitor(self, data):
        if self._polls:
            self._polls -= 1
            return fakebmc.Response(202, {'Id': 'J1', 'Name': 'Job',
                                          'TaskState': 'Running'})
        if self._pending:
            self._pending()
            self._pending = None
        return fakebmc.Response(204)


@pytest.fixture
def fake(conf, db):
    with fakebmc.running(conf, power_poll_interval=0.01,
                         firmware_poll_interval=0.01) as bmc:
        yield bmc


@pytest.fixture
def task(db):
    return rf.db_task()


@pytest.fixture
def iface():
    return raid.RedfishRAID()


def target(task, *disks):
    task.node.target_raid_config = {'logical_disks': list(disks)}


def test_steps(iface):
    for kind in ('clean', 'deploy'):
        steps = {s['step']: s for s in iface.get_steps(kind)}
        assert set(steps) == {'create_configuration',
                              'delete_configuration'}
        assert all(s['priority'] == 0 and not s['requires_ramdisk']
                   for s in steps.values())
        assert set(steps['create_configuration']['argsinfo']) == {
            'create_root_volume', 'create_nonroot_volumes',
            'delete_existing'}


def test_create_plans_drives_and_reads_back(fake, task, iface):
    ctl = Controller(fake)
    target(task,
           {'raid_level': '5', 'size_gb': 'MAX', 'disk_type': 'hdd',
            'volume_name': 'data'},
           {'raid_level': '1', 'size_gb': 100, 'is_root_volume': True,
            'disk_type': 'ssd', 'interface_type': 'sas'})
    iface.create_configuration(task)
    # the explicit size first, MAX last
    first, second = ctl.posts
    assert first == {
        'RAIDType': 'RAID1', 'VolumeType': 'Mirrored',
        'CapacityBytes': 100 * GiB,
        'Links': {'Drives': [{'@odata.id': drive_path('Disk4')},
                             {'@odata.id': drive_path('Disk5')}]}}
    assert second['RAIDType'] == 'RAID5' and second['Name'] == 'data'
    assert [d['@odata.id'] for d in second['Links']['Drives']] == [
        drive_path('Disk%d' % n) for n in range(3)]
    assert second['CapacityBytes'] == 2 * TB // GiB * GiB
    config = task.node.raid_config
    assert config['logical_disks'] == [
        {'raid_level': '1', 'size_gb': 100, 'controller': '1',
         'volume_name': 'Volume1', 'physical_disks': ['Disk4', 'Disk5'],
         'is_root_volume': True},
        {'raid_level': '5', 'size_gb': 2 * TB // GiB, 'controller': '1',
         'volume_name': 'data',
         'physical_disks': ['Disk0', 'Disk1', 'Disk2']}]
    assert config['last_updated']
    assert task.node.properties['local_gb'] == 100
    saved = db_api.get_node(task.node.id)
    assert saved['raid_config']['logical_disks'] == config['logical_disks']


def test_create_only_nonroot(fake, task, iface):
    ctl = Controller(fake)
    target(task, {'raid_level': '1', 'size_gb': 100,
                  'is_root_volume': True},
           {'raid_level': '0', 'size_gb': 50})
    iface.create_configuration(task, create_root_volume=False)
    assert [p['RAIDType'] for p in ctl.posts] == ['RAID0']
    assert 'local_gb' not in task.node.properties


def test_configuration_that_cannot_fit_creates_nothing(fake, task, iface):
    ctl = Controller(fake)
    target(task, {'raid_level': '1', 'size_gb': 100},
           {'raid_level': '5', 'size_gb': 100, 'disk_type': 'ssd'},
           {'raid_level': '0', 'size_gb': 5000, 'disk_type': 'hdd'})
    with pytest.raises(exception.InvalidParameterValue) as err:
        iface.create_configuration(task)
    text = str(err.value)
    assert 'RAID 5 of 100 GiB: controller 1 has 0 suitable free drives' \
        in text  # the RAID 1 took the best-fitting SSDs
    assert 'RAID 0 of 5000 GiB' in text
    assert ctl.posts == []


def test_drives_in_existing_volumes_are_not_reused(fake, task, iface):
    ctl = Controller(fake)
    ctl.add_volume('Old', ['Disk4', 'Disk5'])
    target(task, {'raid_level': '1', 'size_gb': 10, 'disk_type': 'ssd'})
    with pytest.raises(exception.InvalidParameterValue):
        iface.create_configuration(task)
    target(task, {'raid_level': '1', 'size_gb': 10,
                  'physical_disks': ['Disk4', 'Disk0']})
    with pytest.raises(exception.InvalidParameterValue) as err:
        iface.create_configuration(task)
    assert 'drives Disk4, Disk0 are not all free' in str(err.value)
    assert ctl.posts == []


def test_named_drives_and_shared_drives(fake, task, iface):
    ctl = Controller(fake)
    target(task,
           {'raid_level': '1', 'size_gb': 100, 'is_root_volume': True,
            'physical_disks': ['Disk2', 'Disk3'],
            'share_physical_disks': True},
           {'raid_level': '0', 'size_gb': 'MAX', 'share_physical_disks': True,
            'physical_disks': ['Disk2', 'Disk3']})
    iface.create_configuration(task)
    root, rest = ctl.posts
    assert [d['@odata.id'] for d in root['Links']['Drives']] == [
        drive_path('Disk2'), drive_path('Disk3')]
    # what the mirror left on each drive, striped over both
    assert rest['CapacityBytes'] == 2 * (TB - 100 * GiB) // GiB * GiB


def test_async_creation_waits_for_the_job(fake, task, iface):
    Controller(fake, mode='async')
    target(task, {'raid_level': '1', 'size_gb': 100})
    iface.create_configuration(task)
    assert len(fake.requested('GET', MONITOR)) >= 3
    [disk] = task.node.raid_config['logical_disks']
    assert disk['volume_name'] == 'Volume1' and disk['size_gb'] == 100


def test_creation_without_location_finds_the_new_volume(fake, task, iface):
    ctl = Controller(fake, mode='no-location')
    ctl.add_volume('Old', ['Disk0', 'Disk1'])
    target(task, {'raid_level': '0', 'size_gb': 20, 'volume_name': 'new'})
    iface.create_configuration(task)
    [disk] = task.node.raid_config['logical_disks']
    assert disk['volume_name'] == 'new' and disk['size_gb'] == 20


def test_create_without_target(fake, task, iface):
    Controller(fake)
    with pytest.raises(exception.MissingParameterValue):
        iface.create_configuration(task)


def test_create_with_delete_existing(fake, task, iface):
    ctl = Controller(fake)
    ctl.add_volume('Old', ['Disk4', 'Disk5'])
    target(task, {'raid_level': '1', 'size_gb': 10, 'disk_type': 'ssd'})
    iface.create_configuration(task, delete_existing=True)
    assert ctl.deleted == ['Old']
    assert [p['Links']['Drives'] for p in ctl.posts] == [
        [{'@odata.id': drive_path('Disk4')},
         {'@odata.id': drive_path('Disk5')}]]


@pytest.mark.parametrize('mode', ['sync', 'async'])
def test_delete_keeps_what_cannot_be_deleted(fake, task, iface, mode):
    ctl = Controller(fake, mode=mode)
    ctl.add_volume('A', ['Disk0', 'Disk1'])
    ctl.add_volume('B', ['Disk2'], raid_type='RAID0')
    ctl.add_volume('Raw', ['Disk3'], raid_type=None,
                   volume_type='RawDevice')
    ctl.add_volume('Locked', ['Disk4'], raid_type='RAID0', deletable=False)
    task.node.raid_config = {'logical_disks': [{'raid_level': '1'}]}
    iface.delete_configuration(task)
    assert sorted(ctl.deleted) == ['A', 'B']
    assert sorted(p.rsplit('/', 1)[-1] for p in ctl.volumes) == [
        'Locked', 'Raw']
    assert fake.requested('DELETE', VOLUMES + '/Raw') == []
    assert task.node.raid_config == {}
    assert db_api.get_node(task.node.id)['raid_config'] == {}


def test_validate_raid_config(fake, task, iface):
    Controller(fake, raid_types=('RAID0', 'RAID1'))
    iface.validate_raid_config(task, {'logical_disks': [
        {'raid_level': '1', 'size_gb': 10}]})
    with pytest.raises(exception.InvalidParameterValue) as err:
        iface.validate_raid_config(task, {'logical_disks': [
            {'raid_level': '5', 'size_gb': 10},
            {'raid_level': 'JBOD', 'size_gb': 10},
            {'raid_level': '1', 'size_gb': 10,
             'number_of_physical_disks': 1}]})
    text = str(err.value)
    assert 'disk 1: RAID level JBOD is not supported' in text
    assert 'disk 2: RAID 1 needs at least 2 drives, not 1' in text
    with pytest.raises(exception.InvalidParameterValue) as err:
        iface.validate_raid_config(task, {'logical_disks': [
            {'raid_level': '5', 'size_gb': 10}]})
    assert 'disk 0: no controller supports RAID 5' in str(err.value)
    with pytest.raises(exception.InvalidParameterValue) as err:
        iface.validate_raid_config(task, {'logical_disks': [
            {'raid_level': '7', 'size_gb': 10}]})
    assert 'RAID config validation error' in str(err.value)


def test_validate_unknown_levels_and_unreachable_bmc(fake, task, iface):
    Controller(fake, raid_types=None)
    config = {'logical_disks': [{'raid_level': '6', 'size_gb': 10}]}
    iface.validate_raid_config(task, config)  # the BMC does not say
    fake.unreachable = 100
    iface.validate_raid_config(task, config)
    fake.unreachable = 0
    with pytest.raises(exception.InvalidParameterValue):
        iface.validate_raid_config(task, {'logical_disks': [
            {'raid_level': '1', 'size_gb': 10, 'controller': 'other'}]})
