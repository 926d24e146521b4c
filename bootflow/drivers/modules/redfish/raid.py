"""Redfish RAID: volumes of the system's Storage controllers.

A target configuration is planned whole against the drives the BMC
reports (which controller, which drives, how many bytes) before the first
volume is created, so a configuration that cannot fit fails without
leaving half of it behind. Volumes are then created one by one (explicit
sizes first, ``MAX`` ones last, so "the rest" is known), each read back
from the BMC: ``node.raid_config`` is what the BMC says it built.

Drives already in a volume are not used again; within one configuration,
volumes that all set ``share_physical_disks`` may share drives.
"""

import math
import time

from oslo_log import log
from oslo_utils import timeutils
import sushy
from sushy import exceptions as sushy_exc
from sushy.resources.system.storage import volume as sushy_volume

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.drivers import base
from bootflow.drivers.interfaces import optional
from bootflow.drivers.modules.redfish import tasks
from bootflow.drivers.modules.redfish import utils

LOG = log.getLogger(__name__)

GiB = 1024 ** 3
_R, _V = sushy.RAIDType, sushy.VolumeType
# raid_level -> (RAIDType, VolumeType for older BMCs, fewest drives,
# drives' worth of data on n drives)
LEVELS = {
    '0': (_R.RAID0, _V.NON_REDUNDANT, 1, lambda n: n),
    '1': (_R.RAID1, _V.MIRRORED, 2, lambda n: 1),
    '5': (_R.RAID5, _V.STRIPED_WITH_PARITY, 3, lambda n: n - 1),
    '6': (_R.RAID6, _V.STRIPED_WITH_PARITY, 4, lambda n: n - 2),
    '1+0': (_R.RAID10, _V.SPANNED_MIRRORS, 4, lambda n: n // 2),
    '5+0': (_R.RAID50, _V.SPANNED_STRIPES_WITH_PARITY, 6, lambda n: n - 2),
    '6+0': (_R.RAID60, _V.SPANNED_STRIPES_WITH_PARITY, 8, lambda n: n - 4),
}
LEVEL_OF = {info[0]: level for level, info in LEVELS.items()}
_VOLUME_LEVELS = {_V.NON_REDUNDANT: '0', _V.MIRRORED: '1',
                  _V.SPANNED_MIRRORS: '1+0'}
DISK_TYPES = {'hdd': 'HDD', 'ssd': 'SSD'}
INTERFACE_TYPES = {'sata': 'SATA', 'sas': 'SAS', 'scsi': 'SCSI'}
_METHOD_NOT_ALLOWED = 405
_CREATE_ARGSINFO = {
    'create_root_volume': {
        'description': 'Whether to create the root volume (default true)',
        'required': False},
    'create_nonroot_volumes': {
        'description': 'Whether to create the other volumes (default '
                       'true)',
        'required': False},
    'delete_existing': {
        'description': 'Whether to delete every existing volume first '
                       '(default false)',
        'required': False},
}


def _invalid(node, problems):
    raise exception.InvalidParameterValue(
        err='RAID configuration of node %s cannot be built by the Redfish '
            'RAID interface: %s' % (node.uuid, '; '.join(problems)))


def check_disks(node, logical_disks):
    """What the schema allows but Redfish volumes cannot do."""
    problems = []
    for index, disk in enumerate(logical_disks):
        level = disk['raid_level']
        if level not in LEVELS:
            problems.append('disk %d: RAID level %s is not supported'
                            % (index, level))
            continue
        fewest = LEVELS[level][2]
        physical = disk.get('physical_disks')
        if physical and not all(isinstance(d, str) for d in physical):
            problems.append('disk %d: physical_disks must name drives '
                            '(their Redfish Id)' % index)
        count = disk.get('number_of_physical_disks') or len(physical or ())
        if count and count < fewest:
            problems.append('disk %d: RAID %s needs at least %d drives, '
                            'not %d' % (index, level, fewest, count))
        if physical and disk.get('number_of_physical_disks') and \
                len(physical) != disk['number_of_physical_disks']:
            problems.append('disk %d: %d physical_disks given but '
                            'number_of_physical_disks is %d'
                            % (index, len(physical),
                               disk['number_of_physical_disks']))
    if problems:
        _invalid(node, problems)


def _raw(resource, key):
    doc = resource.json if isinstance(resource.json, dict) else {}
    return doc.get(key)


def _linked_drives(volume):
    """Paths of the drives a volume is built on, or None if not shown."""
    links = _raw(volume, 'Links')
    if not isinstance(links, dict) or 'Drives' not in links:
        return None
    return [link.get('@odata.id') for link in links.get('Drives') or ()
            if isinstance(link, dict)]


def _controller_levels(storage):
    """RAID levels the storage's controllers support; empty if unknown."""
    types = set()
    for controller in storage.storage_controllers or ():
        types.update(controller.raid_types or ())
    if not types:
        try:
            for controller in storage.controllers.get_members():
                types.update(controller.raid_types or ())
        except sushy_exc.MissingAttributeError:
            pass
    return {LEVEL_OF[t] for t in types if t in LEVEL_OF}


def _storages(system):
    try:
        return system.storage.get_members()
    except sushy_exc.MissingAttributeError:
        return []


def _matches(storage, name):
    if name is None:
        return True
    names = {storage.identity, storage.name, storage.path}
    names.update(c.name for c in storage.storage_controllers or ())
    names.update(c.member_id for c in storage.storage_controllers or ())
    return name in names


class _Drive:
    """A drive and the bytes still free on it in this plan."""

    def __init__(self, drive, used):
        self.drive = drive
        self.free = 0 if used else int(drive.capacity_bytes or 0)
        self.shared = False  # only volumes sharing drives may add to it

    def names(self):
        return {self.drive.identity, self.drive.name, self.drive.path}

    def fits(self, disk):
        wanted = DISK_TYPES.get(disk.get('disk_type'))
        if wanted and str(self.drive.media_type or '').upper() != wanted:
            return False
        wanted = INTERFACE_TYPES.get(disk.get('interface_type'))
        protocol = _raw(self.drive, 'Protocol')
        if wanted and str(protocol or '').upper() != wanted:
            return False
        if self.shared and not disk.get('share_physical_disks'):
            return False
        return self.free > 0


class _Controller:
    def __init__(self, storage):
        self.storage = storage
        used = set()
        for volume in storage.volumes.get_members():
            used.update(_linked_drives(volume) or ())
        self.drives = [_Drive(d, d.path in used) for d in storage.drives]


def _order(disks):
    """Explicit sizes before MAX, the root volume first in each group."""
    return sorted(disks, key=lambda d: (d['size_gb'] == 'MAX',
                                        not d.get('is_root_volume')))


def _choose(controller, disk):
    """(drives, bytes) for ``disk`` on ``controller``, or a reason."""
    level = disk['raid_level']
    fewest, data = LEVELS[level][2], LEVELS[level][3]
    candidates = [d for d in controller.drives if d.fits(disk)]
    if disk.get('physical_disks'):
        wanted = disk['physical_disks']
        chosen = [d for d in candidates if d.names() & set(wanted)]
        if len(chosen) != len(wanted):
            return None, 'drives %s are not all free on controller %s' % (
                ', '.join(wanted), controller.storage.identity)
    else:
        count = disk.get('number_of_physical_disks') or fewest
        if len(candidates) < count:
            return None, ('controller %s has %d suitable free drives, %d '
                          'needed' % (controller.storage.identity,
                                      len(candidates), count))
        if disk['size_gb'] == 'MAX':
            chosen = sorted(candidates, key=lambda d: -d.free)[:count]
        else:
            per_drive = math.ceil(disk['size_gb'] * GiB / data(count))
            big = [d for d in candidates if d.free >= per_drive]
            chosen = sorted(big, key=lambda d: d.free)[:count]
            if len(chosen) < count:
                return None, ('controller %s has not %d free drives of %d '
                              'GiB' % (controller.storage.identity, count,
                                       math.ceil(per_drive / GiB)))
    usable = data(len(chosen)) * min(d.free for d in chosen)
    if disk['size_gb'] == 'MAX':
        size = usable // GiB * GiB
    else:
        size = disk['size_gb'] * GiB
    if size <= 0 or size > usable:
        return None, 'not enough free space for %s GiB on drives %s' % (
            disk['size_gb'], ', '.join(d.drive.identity for d in chosen))
    return chosen, size


def _take(disk, chosen, size):
    level = disk['raid_level']
    per_drive = math.ceil(size / LEVELS[level][3](len(chosen)))
    for drive in chosen:
        if disk.get('share_physical_disks'):
            drive.free -= per_drive
            drive.shared = True
        else:
            drive.free = 0


def plan(node, system, disks):
    """[(storage, disk, drives, bytes)] for each logical disk, in creation
    order; InvalidParameterValue naming every disk that cannot fit."""
    controllers = [_Controller(s) for s in _storages(system)]
    if not controllers:
        _invalid(node, ['the BMC reports no storage controllers'])
    steps, problems = [], []
    for disk in _order(disks):
        reasons = []
        for controller in controllers:
            if not _matches(controller.storage, disk.get('controller')):
                continue
            chosen, size = _choose(controller, disk)
            if chosen is None:
                reasons.append(size)
                continue
            _take(disk, chosen, size)
            steps.append((controller.storage, disk,
                          [d.drive for d in chosen], size))
            break
        else:
            problems.append('RAID %s of %s GiB: %s' % (
                disk['raid_level'], disk['size_gb'], '; '.join(
                    reasons) or 'no controller %s' % disk.get('controller')))
    if problems:
        _invalid(node, problems)
    return steps


def _payload(disk, drives, size):
    raid_type, volume_type = LEVELS[disk['raid_level']][:2]
    payload = {'RAIDType': raid_type.value, 'VolumeType': volume_type.value,
               'CapacityBytes': size,
               'Links': {'Drives': [{'@odata.id': d.path} for d in drives]}}
    if disk.get('volume_name'):
        payload['Name'] = disk['volume_name']
    return payload


def _read_back(storage, volume, disk, drives):
    """The logical disk as the BMC describes the volume it built."""
    linked = _linked_drives(volume)
    by_path = {d.path: d.identity for d in storage.drives}
    level = LEVEL_OF.get(volume.raid_type) or disk['raid_level']
    if volume.raid_type is None and volume.volume_type in _VOLUME_LEVELS:
        level = _VOLUME_LEVELS[volume.volume_type]
    result = {
        'raid_level': level,
        'size_gb': int(volume.capacity_bytes or 0) // GiB,
        'controller': storage.identity,
        'volume_name': volume.name or volume.identity,
        'physical_disks': [by_path.get(p, p) for p in linked]
        if linked else [d.identity for d in drives],
    }
    if disk.get('is_root_volume'):
        result['is_root_volume'] = True
    return result


class RedfishRAID(optional.RAIDInterface):
    """RAID volumes of a Redfish system's storage controllers."""

    def get_properties(self):
        return dict(utils.COMMON_PROPERTIES)

    def validate(self, task):
        utils.parse_driver_info(task.node)

    def validate_raid_config(self, task, raid_config):
        """The schema, what Redfish can build and, when the BMC says
        which, the RAID levels its controllers support. An unreachable
        BMC does not fail this check: creation would say so."""
        node = task.node
        optional.validate_raid_config(raid_config)
        disks = raid_config['logical_disks']
        check_disks(node, disks)
        try:
            with utils.errors(node, 'storage read'):
                storages = _storages(utils.get_system(node))
                supported = {}
                for storage in storages:
                    supported[storage.identity] = (storage,
                                                   _controller_levels(storage))
        except exception.DriverOperationError as exc:
            LOG.warning('Node %s: RAID levels not checked against the '
                        'controllers: %s', node.uuid, exc)
            return
        problems = []
        for index, disk in enumerate(disks):
            levels = set()
            for storage, known in supported.values():
                if _matches(storage, disk.get('controller')):
                    levels |= known if known else set(LEVELS)
            if disk['raid_level'] not in levels:
                problems.append(
                    'disk %d: no controller%s supports RAID %s'
                    % (index, ' %s' % disk['controller']
                       if disk.get('controller') else '',
                       disk['raid_level']))
        if problems:
            _invalid(node, problems)

    @base.clean_step(priority=0, argsinfo=_CREATE_ARGSINFO,
                     requires_ramdisk=False)
    @base.deploy_step(priority=0, argsinfo=_CREATE_ARGSINFO,
                      requires_ramdisk=False)
    def create_configuration(self, task, create_root_volume=True,
                             create_nonroot_volumes=True,
                             delete_existing=False):
        node = task.node
        if delete_existing:
            self.delete_configuration(task)
        target = node.target_raid_config or {}
        if not target.get('logical_disks'):
            raise exception.MissingParameterValue(
                err='Node %s has no target RAID configuration' % node.uuid)
        self.validate_raid_config(task, target)
        disks = [d for d in target['logical_disks']
                 if (create_root_volume if d.get('is_root_volume')
                     else create_nonroot_volumes)]
        if not disks:
            LOG.info('Node %s: no logical disks to create', node.uuid)
            return
        deadline = time.monotonic() + CONF.redfish.raid_timeout
        created = []
        with utils.errors(node, 'RAID configuration'):
            for storage, disk, drives, size in plan(
                    node, utils.get_system(node), disks):
                volume = self._create(node, storage, disk, drives, size,
                                      deadline)
                created.append(_read_back(storage, volume, disk, drives))
        self._record(node, created)

    def _create(self, node, storage, disk, drives, size, deadline):
        what = 'RAID %s volume of %d GiB on controller %s of node %s' % (
            disk['raid_level'], size // GiB, storage.identity, node.uuid)
        LOG.info('Node %s: creating a %s on drives %s', node.uuid, what,
                 ', '.join(d.identity for d in drives))
        volumes = storage.volumes
        before = set(volumes.members_identities)
        result = volumes.create(_payload(disk, drives, size),
                                timeout=CONF.redfish.read_timeout)
        if isinstance(result, sushy_volume.Volume):
            return result
        if tasks.is_task_monitor(result):
            tasks.wait_task(node, result,
                            max(deadline - time.monotonic(), 1),
                            'creation of the %s' % what,
                            interval=CONF.redfish.power_poll_interval)

        def appeared():
            tasks.reread(volumes)
            new = set(volumes.members_identities) - before
            return sorted(new)

        new = tasks.poll(node, appeared,
                         max(deadline - time.monotonic(), 1),
                         CONF.redfish.power_poll_interval,
                         'the new %s to show' % what)
        if len(new) != 1:
            raise exception.DriverOperationError(
                err='Creating the %s left %d new volumes (%s) where one '
                    'was expected' % (what, len(new), ', '.join(new)))
        return volumes.get_member(new[0])

    @staticmethod
    def _record(node, created):
        node.raid_config = {'logical_disks': created,
                            'last_updated': timeutils.utcnow().isoformat()}
        root = [d for d in created if d.get('is_root_volume')]
        if root:
            # As Ironic: the node's disk is now the root volume.
            node.properties = dict(node.properties or {},
                                   local_gb=root[0]['size_gb'])
        node.save()

    @base.clean_step(priority=0, requires_ramdisk=False)
    @base.deploy_step(priority=0, requires_ramdisk=False)
    def delete_configuration(self, task):
        node = task.node
        deadline = time.monotonic() + CONF.redfish.raid_timeout
        with utils.errors(node, 'RAID configuration removal'):
            for storage in _storages(utils.get_system(node)):
                self._delete_all(node, storage, deadline)
        node.raid_config = {}
        node.save()

    def _delete_all(self, node, storage, deadline):
        volumes = storage.volumes
        deleted = []
        for volume in volumes.get_members():
            if volume.raid_type is None and \
                    volume.volume_type == _V.RAW_DEVICE:
                continue  # a drive shown as a volume: nothing to undo
            what = 'deletion of volume %s on controller %s of node %s' % (
                volume.identity, storage.identity, node.uuid)
            LOG.info('Node %s: deleting volume %s', node.uuid,
                     volume.identity)
            try:
                result = volume.delete(timeout=CONF.redfish.read_timeout)
            except sushy_exc.HTTPError as exc:
                if exc.status_code != _METHOD_NOT_ALLOWED:
                    raise
                LOG.info('Node %s: the BMC does not allow deleting volume '
                         '%s; kept', node.uuid, volume.identity)
                continue
            if tasks.is_task_monitor(result):
                tasks.wait_task(node, result,
                                max(deadline - time.monotonic(), 1),
                                what,
                                interval=CONF.redfish.power_poll_interval)
            deleted.append(volume.identity)
        if not deleted:
            return

        def gone():
            tasks.reread(volumes)
            return not set(deleted) & set(volumes.members_identities)

        tasks.poll(node, gone, max(deadline - time.monotonic(), 1),
                   CONF.redfish.power_poll_interval,
                   'volumes %s of node %s to be deleted'
                   % (', '.join(deleted), node.uuid))
