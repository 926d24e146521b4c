"""Resource drivers behind tools/bmc/redfish_emulator.py.

sushy-tools' fake systems driver answers power and boot requests only;
everything else (BIOS, firmware versions, processors, storage, volumes)
needs libvirt in sushy-tools.  These subclasses fill the gaps, so a test
can drive every Redfish feature bootflow uses against an emulated machine
whose complete state is one plain dict ("the record") per system.

Records live in memory, not in sushy-tools' sqlite-backed PersistentDict:
the emulator is one process, and with sqlite each GET of a system costs a
dozen database round trips (about 90 GETs/s for 1000 systems instead of
several hundred) and 1000 systems take 4 s just to be written at start-up.
State therefore does not survive a restart of the emulator.
"""

import copy
import itertools
import os
import random
import threading
import time
from urllib import parse as urlparse

import flask
import requests
from sushy_tools import error
from sushy_tools.emulator.resources import drives as drives_res
from sushy_tools.emulator.resources import indicators as indicators_res
from sushy_tools.emulator.resources import storage as storage_res
from sushy_tools.emulator.resources.systems import fakedriver
from sushy_tools.emulator.resources.systems import libvirtdriver
from sushy_tools.emulator.resources import vmedia as vmedia_res
from sushy_tools.emulator.resources import volumes as volumes_res

# The attribute registry sushy-tools serves (BiosAttributeRegistryP89)
# describes exactly libvirt driver's defaults, so a client validating
# against the registry accepts what the emulator reports.
DEFAULT_BIOS = dict(libvirtdriver.LibvirtDriver.DEFAULT_BIOS_ATTRIBUTES)
# sushy-tools' SimpleUpdate bumps the second component: 1.0.0 -> 1.1.0.
DEFAULT_VERSIONS = {'BiosVersion': '1.0.0'}
DISK_BYTES = 480 * 10 ** 9
STORAGE_ID = '1'
HISTORY_LENGTH = 50

# ResetType -> power state the machine ends up in; restarts pass through
# Off first (what sushy-tools' fake driver does too).
RESET_TARGETS = {'On': 'On', 'ForceOn': 'On', 'ForceOff': 'Off',
                 'GracefulShutdown': 'Off', 'ForceRestart': 'restart',
                 'GracefulRestart': 'restart'}
BOOT_OVERRIDE_VALUES = ('Once', 'Continuous', 'Disabled')
# RAIDType <-> VolumeType, to fill in whichever a client left out.
RAID_VOLUME_TYPES = {'RAID0': 'NonRedundant', 'RAID1': 'Mirrored',
                     'RAID5': 'StripedWithParity',
                     'RAID6': 'StripedWithParity',
                     'RAID10': 'SpannedMirrors',
                     'RAID50': 'SpannedStripesWithParity',
                     'RAID60': 'SpannedStripesWithParity'}
VOLUME_RAID_TYPES = {'NonRedundant': 'RAID0', 'Mirrored': 'RAID1',
                     'StripedWithParity': 'RAID5',
                     'SpannedMirrors': 'RAID10',
                     'SpannedStripesWithParity': 'RAID50'}


def system_uuid(prefix, index):
    """Deterministic UUID of system `index`: tests can compute it."""
    return '%s-0000-4000-8000-%012x' % (prefix, index)


def mac_address(index, nic=0):
    """52:54:00:xx:xx:xx from the system index (52:54:<nic>:... for
    further NICs), unique per index so ports never collide."""
    return '52:54:%02x:%02x:%02x:%02x' % (
        nic, (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff)


def build_record(index, uuid_prefix, nics=1, disks=2):
    """The initial record of one emulated machine."""
    return {
        'uuid': system_uuid(uuid_prefix, index),
        'name': 'node-%d' % index,
        'power_state': 'Off',
        'pending_power': None,
        'boot_device': 'Hdd',
        'boot_override_enabled': 'Continuous',
        'boot_mode': 'UEFI',
        'secure_boot': False,
        'external_notifier': False,
        'nics': [{'mac': mac_address(index, n)} for n in range(nics)],
        'bios': dict(DEFAULT_BIOS),
        'bios_pending': {},
        'versions': dict(DEFAULT_VERSIONS),
        'memory_gib': 32,
        'cpu_sockets': 2,
        'cpu_cores': 4,
        'cpu_model': 'Emulated x86-64 CPU',
        'disks': [{'id': 'Disk%d' % n, 'capacity_bytes': DISK_BYTES,
                   'protocol': 'SATA'} for n in range(disks)],
        'volumes': {STORAGE_ID: []},
        'reset_history': [],
        'boot_history': [],
        'nmi_count': 0,
    }


def _tail(items, item):
    return (list(items or ()) + [item])[-HISTORY_LENGTH:]


class EmulatedSystems(fakedriver.FakeDriver):
    """sushy-tools' fake driver plus BIOS, firmware, hardware and volumes.

    Configuration keys (besides sushy-tools' own):
    EMULATOR_POWER_DELAY -- (min, max) seconds before a power change is
    seen (sushy-tools' 1-11 s makes every test slow);
    EMULATOR_BIOS_APPLY_ON_REBOOT -- BIOS changes stay pending until the
    next power-on, as on real hardware (default: applied at once).
    """

    def __init__(self):
        # FakeDriver.__init__ is deliberately not called: it copies every
        # system into sqlite one row at a time (see the module docstring).
        # It sets up nothing else than the two attributes below.
        self._lock = threading.RLock()
        self._systems = {
            system['uuid']: copy.deepcopy(system)
            for system in self._config['SUSHY_EMULATOR_FAKE_SYSTEMS']}
        self._by_name = {system['name']: uuid
                         for uuid, system in self._systems.items()}
        self._power_delay = self._config.get('EMULATOR_POWER_DELAY',
                                             (0.0, 1.0))
        self._bios_on_reboot = self._config.get(
            'EMULATOR_BIOS_APPLY_ON_REBOOT', False)
        self._volume_seq = itertools.count(1)

    # -- record access ------------------------------------------------------

    def _get(self, identity):
        # the base applies due power changes while reading: keep that and
        # every read-modify-write below atomic across server threads
        with self._lock:
            return super()._get(identity)

    def _update_if_needed(self, system):
        pending = system.get('pending_power')
        if pending and time.time() >= pending['apply_time']:
            changes = {'power_state': pending['power_state'],
                       'pending_power': None}
            if pending['power_state'] == 'On':
                changes.update(self._power_on_changes(system))
            self._update(system, **changes)
        return system

    def _power_on_changes(self, system):
        """What a machine's boot does: apply pending BIOS settings, use up
        a one-time boot override, remember what it booted from."""
        override = system.get('boot_override_enabled', 'Continuous')
        device = system.get('boot_device') if override != 'Disabled' else None
        changes = {'boot_history': _tail(system.get('boot_history'), {
            'device': device or 'Hdd', 'override': override,
            'mode': system.get('boot_mode'), 'time': time.time()})}
        if override == 'Once':
            changes['boot_override_enabled'] = 'Disabled'
        if system.get('bios_pending'):
            changes['bios'] = dict(system['bios'], **system['bios_pending'])
            changes['bios_pending'] = {}
        return changes

    def record(self, identity):
        """A deep copy of the record, for /_emulator/systems/<id>."""
        with self._lock:
            return copy.deepcopy(self._get(self.uuid(identity)))

    def patch_record(self, identity, changes):
        """Replace top-level keys of a record (test set-up)."""
        if not isinstance(changes, dict) or 'uuid' in changes:
            raise error.BadRequest('Expected an object of record keys '
                                   'other than "uuid"')
        with self._lock:
            self._update(self.uuid(identity), **copy.deepcopy(changes))
            return self.record(identity)

    # -- power -----------------------------------------------------------

    def _delay(self):
        low, high = self._power_delay
        return random.uniform(low, high) if high > low else low

    def set_power_state(self, identity, state):
        with self._lock:
            system = self._get(identity)
            changes = {'reset_history': _tail(system.get('reset_history'),
                                              state)}
            if state == 'Nmi':
                changes['nmi_count'] = system.get('nmi_count', 0) + 1
                self._update(system, **changes)
                return
            try:
                target = RESET_TARGETS[state]
            except KeyError:
                raise error.BadRequest('Unsupported ResetType %s' % state)
            if target == 'restart':
                changes['power_state'] = 'Off'
                target = 'On'
            elif system['power_state'] == target:
                # already there: also drop a contrary change in flight
                self._update(system, pending_power=None, **changes)
                return
            changes['pending_power'] = {
                'power_state': target, 'reset_type': state,
                'apply_time': time.time() + self._delay()}
            self._update(system, **changes)
            self._update_if_needed(system)

    def set_boot_override_enabled(self, identity, enabled):
        if enabled not in BOOT_OVERRIDE_VALUES:
            raise error.BadRequest(
                'BootSourceOverrideEnabled must be one of %s' %
                ', '.join(BOOT_OVERRIDE_VALUES))
        with self._lock:
            self._update(identity, boot_override_enabled=enabled)

    def get_boot_override_enabled(self, identity):
        return self._get(identity).get('boot_override_enabled',
                                       'Continuous')

    # -- BIOS and firmware versions ----------------------------------------

    def get_bios(self, identity):
        return dict(self._get(identity)['bios'])

    def get_bios_pending(self, identity):
        """What the BIOS settings will be after the next boot."""
        system = self._get(identity)
        return dict(system['bios'], **system.get('bios_pending', {}))

    def set_bios(self, identity, attributes):
        if not isinstance(attributes, dict) or not attributes:
            raise error.BadRequest('Attributes must be a non-empty object')
        with self._lock:
            system = self._get(identity)
            unknown = sorted(set(attributes) - set(system['bios']))
            if unknown:
                raise error.BadRequest('Unknown BIOS attributes: %s' %
                                       ', '.join(unknown))
            if self._bios_on_reboot:
                self._update(system, bios_pending=dict(
                    system.get('bios_pending', {}), **attributes))
            else:
                self._update(system, bios=dict(system['bios'], **attributes))

    def reset_bios(self, identity):
        with self._lock:
            if self._bios_on_reboot:
                self._update(identity, bios_pending=dict(DEFAULT_BIOS))
            else:
                self._update(identity, bios=dict(DEFAULT_BIOS),
                             bios_pending={})

    def get_versions(self, identity):
        return dict(self._get(identity)['versions'])

    def set_versions(self, identity, firmware_versions):
        with self._lock:
            system = self._get(identity)
            self._update(system, versions=dict(system['versions'],
                                               **firmware_versions))

    def reset_versions(self, identity):
        with self._lock:
            self._update(identity, versions=dict(DEFAULT_VERSIONS))

    # -- hardware ----------------------------------------------------------

    def get_total_memory(self, identity):
        return self._get(identity)['memory_gib']

    def get_total_cpus(self, identity):
        system = self._get(identity)
        return system['cpu_sockets'] * system['cpu_cores']

    def get_processors(self, identity):
        system = self._get(identity)
        # both 'id' and 'Id': sushy-tools' templates use either
        return [{'id': 'CPU%d' % n, 'Id': 'CPU%d' % n,
                 'socket': 'CPU %d' % n, 'model': system['cpu_model'],
                 'vendor': 'GenuineIntel', 'cores': system['cpu_cores'],
                 'threads': system['cpu_cores']}
                for n in range(system['cpu_sockets'])]

    def get_simple_storage_collection(self, identity):
        disks = self._get(identity)['disks']
        if not disks:
            return {}
        return {'SATA': {'Id': 'SATA', 'Name': 'SATA', 'DeviceList': [
            {'Name': disk['id'], 'CapacityBytes': disk['capacity_bytes']}
            for disk in disks]}}

    def get_storage(self, identity):
        disks = self._get(identity)['disks']
        return [{'Id': STORAGE_ID, 'Name': 'Local Storage Controller',
                 'StorageControllers': [{'MemberId': '0',
                                         'Name': 'Emulated RAID controller',
                                         'SpeedGbps': 12}],
                 'Drives': [disk['id'] for disk in disks]}]

    def get_drives(self, identity, storage_id):
        if storage_id != STORAGE_ID:
            raise error.NotFound('No storage %s' % storage_id)
        return [{'Id': disk['id'], 'Name': disk['id'],
                 'CapacityBytes': disk['capacity_bytes'],
                 'Protocol': disk.get('protocol', 'SATA')}
                for disk in self._get(identity)['disks']]

    # -- volumes -----------------------------------------------------------

    def find_or_create_storage_volume(self, data):
        """sushy-tools calls this for each listed volume (find) and for a
        POSTed one (create).  The POST handler makes its Id from the pid
        and the time of day, so two volumes created within a second would
        collide: a new unique Id is written into `data`, which is the dict
        the handler then stores.  RAIDType and Links.Drives, which the
        handler drops, are taken from the request body."""
        if not (flask.has_request_context()
                and flask.request.method == 'POST'):
            return data.get('Id')
        capacity = data.get('CapacityBytes')
        if (not isinstance(capacity, int) or isinstance(capacity, bool)
                or capacity <= 0):
            raise error.BadRequest('CapacityBytes must be a positive integer')
        body = flask.request.get_json(silent=True) or {}
        raid_type = body.get('RAIDType')
        volume_type = data.get('VolumeType') or RAID_VOLUME_TYPES.get(
            raid_type)
        volume_id = 'Volume%d' % next(self._volume_seq)
        data.update({
            'Id': volume_id, 'libvirtVolName': volume_id,
            'Name': data.get('Name') or volume_id,
            'VolumeType': volume_type,
            'RAIDType': raid_type or VOLUME_RAID_TYPES.get(volume_type),
            'Drives': [link.get('@odata.id') for link in
                       (body.get('Links') or {}).get('Drives') or []
                       if isinstance(link, dict)]})
        return volume_id

    def get_volumes(self, identity, storage_id):
        volumes = self._get(identity)['volumes']
        if storage_id not in volumes:
            raise error.NotFound('No storage %s' % storage_id)
        return copy.deepcopy(volumes[storage_id])

    def add_volume(self, identity, storage_id, volume):
        with self._lock:
            system = self._get(identity)
            volumes = copy.deepcopy(system['volumes'])
            if storage_id not in volumes:
                raise error.NotFound('No storage %s' % storage_id)
            volumes[storage_id].append(dict(volume))
            self._update(system, volumes=volumes)

    def delete_volume(self, identity, storage_id, volume_id):
        with self._lock:
            system = self._get(identity)
            volumes = copy.deepcopy(system['volumes'])
            kept = [vol for vol in volumes.get(storage_id, ())
                    if vol['Id'] != volume_id]
            if len(kept) == len(volumes.get(storage_id, ())):
                raise error.NotFound('No volume %s' % volume_id)
            volumes[storage_id] = kept
            self._update(system, volumes=volumes)


class EmulatedVolumes(volumes_res.StaticDriver):
    """Volumes kept in the system records instead of sqlite."""

    def __init__(self, config, logger, systems):
        super().__init__(config, logger)
        self._systems = systems

    def get_volumes_col(self, identity, storage_id):
        return self._systems.get_volumes(identity, storage_id)

    def add_volume(self, uu_identity, storage_id, vol):
        self._systems.add_volume(uu_identity, storage_id, vol)

    def delete_volume(self, uu_identity, storage_id, vol):
        self._systems.delete_volume(uu_identity, storage_id, vol['Id'])


class EmulatedStorage(storage_res.StaticDriver):
    """Storage derived from each record's disks (not static config)."""

    def __init__(self, config, logger, systems):
        super().__init__(config, logger)
        self._systems = systems

    def get_storage_col(self, identity):
        return self._systems.get_storage(identity)

    def get_all_storage(self):
        return [(uuid, STORAGE_ID) for uuid in self._systems.systems]


class EmulatedDrives(drives_res.StaticDriver):
    """Drives derived from each record's disks (not static config)."""

    def __init__(self, config, logger, systems):
        super().__init__(config, logger)
        self._systems = systems

    def get_drives(self, identity, storage_id):
        return self._systems.get_drives(identity, storage_id)

    def get_all_drives(self):
        return [(uuid, STORAGE_ID, drive['Id'])
                for uuid in self._systems.systems
                for drive in self._systems.get_drives(uuid, STORAGE_ID)]


class EmulatedIndicators(indicators_res.StaticDriver):
    """Indicator LEDs in memory (each system GET reads one)."""

    def __init__(self, config, logger):
        super().__init__(config, logger)
        self._indicators = dict(
            config.get('SUSHY_EMULATOR_INDICATOR_LEDS', {}))


class EmulatedVirtualMedia(vmedia_res.StaticDriver):
    """Virtual media in memory; an inserted image is fetched and thrown
    away instead of being stored under /tmp.

    sushy-tools downloads the image on insert (without a timeout) and
    fails the insert when it cannot, which is what catches a wrong URL;
    keeping the bytes would fill the disk in a 1000-node benchmark.
    EMULATOR_FETCH_IMAGES False skips the download altogether.  The same
    check serves SimpleUpdate's firmware images.
    """

    FETCH_TIMEOUT = (10, 120)

    def __init__(self, config, logger):
        super().__init__(config, logger)
        self._devices = {}
        self._fetch = config.get('EMULATOR_FETCH_IMAGES', True)

    def _get_image(self, image_url, auth, verify_media_cert, custom_cert):
        if not image_url:
            raise error.BadRequest('Image is required')
        name = (os.path.basename(urlparse.urlparse(image_url).path)
                or 'image.iso')
        self.fetch(image_url, auth, verify_media_cert)
        # no local file: nothing for eject_image to remove
        return name, ''

    def fetch(self, url, auth=None, verify=False):
        """Download `url` and drop the bytes (unless fetching is off);
        FishyError (400 or 502) when that fails."""
        if not self._fetch:
            return
        try:
            with requests.get(url, stream=True, auth=auth, verify=verify,
                              timeout=self.FETCH_TIMEOUT) as rsp:
                if rsp.status_code >= 400:
                    raise error.FishyError(
                        'Cannot download virtual media: got error %s from '
                        'the server' % rsp.status_code,
                        code=502 if rsp.status_code >= 500 else 400)
                for _chunk in rsp.iter_content(1 << 20):
                    pass
        except requests.RequestException as exc:
            raise error.FishyError('Cannot download virtual media from %s: '
                                   '%s' % (url, exc), code=400)

    def insert_image(self, identity, device, image_url, inserted=True,
                     write_protected=True, username=None, password=None):
        super().insert_image(identity, device, image_url, inserted,
                             write_protected, username, password)
        # what the systems driver records as the boot image
        return image_url

    def device_states(self, *identities):
        """Media of the devices of one system (by UUID or name)."""
        result = {}
        for (owner, device), info in list(self._devices.items()):
            if owner in identities:
                result[device] = {
                    key: info.get(key, default) for key, default in (
                        ('Image', ''), ('ImageName', ''),
                        ('Inserted', False), ('WriteProtected', False),
                        ('UserName', ''), ('Verify', False))}
        return result
