"""Redfish out-of-band inspection: the inventory read from the BMC, in the
shape the BootOS agent reports, so that the same processing
(:func:`bootflow.bootos.inspection.process`) stores it, derives the
node's properties and creates its ports.

What the BMC does not say is left out rather than guessed: the BMC knows
no kernel device names, so disks are named by their Redfish Id, and it
does not know which NIC network-boots, so every port is PXE-enabled.
"""

from oslo_log import log
import sushy
from sushy import exceptions as sushy_exc

from bootflow.bootos import inspection
from bootflow.common import states
from bootflow.db import node_data
from bootflow.drivers.interfaces import inspect as inspect_iface
from bootflow.drivers.modules.redfish import utils

LOG = log.getLogger(__name__)

_Set, _Arch = sushy.InstructionSet, sushy.ProcessorArchitecture
# What `uname -m` says on such a CPU, as the agent reports it.
ARCHITECTURES = {
    _Set.X86_64: 'x86_64', _Set.X86: 'i686', _Set.ARM_A64: 'aarch64',
    _Set.ARM_A32: 'armv7l', _Set.IA_64: 'ia64', _Set.MIPS64: 'mips64',
    _Set.MIPS32: 'mips', _Set.POWER_ISA: 'ppc64le',
    # ProcessorArchitecture only, when the InstructionSet is not given
    _Arch.X86: 'x86_64', _Arch.ARM: 'aarch64', _Arch.IA_64: 'ia64',
    _Arch.MIPS: 'mips64',
}
BOOT_MODES = {sushy.BootSourceOverrideMode.UEFI: 'uefi',
              sushy.BootSourceOverrideMode.LEGACY: 'bios'}
MEDIA_ROTATIONAL = {'HDD': True, 'SSD': False}
# Links the BMC may not offer, or answer 404 for: that part is unknown.
_ABSENT = (sushy_exc.MissingAttributeError, sushy_exc.ResourceNotFoundError)


def _raw(resource, key):
    doc = resource.json if isinstance(resource.json, dict) else {}
    return doc.get(key)


def _members(node, what, get_collection):
    """Members of a sub-collection, or None if the BMC does not have it."""
    try:
        return get_collection().get_members()
    except _ABSENT as exc:
        LOG.debug('Node %s: no %s from the BMC: %s', node.uuid, what, exc)
        return None


def _cpu(node, system):
    processors = _members(node, 'processors', lambda: system.processors)
    cpus = [p for p in processors or ()
            if p.processor_type in (None, sushy.ProcessorType.CPU)]
    cpu = {}
    count = sum(p.total_threads or p.total_cores or 0 for p in cpus)
    if not count:
        summary = _raw(system, 'ProcessorSummary') or {}
        # not Count: that counts sockets, the agent counts logical CPUs
        count = summary.get('LogicalProcessorCount')
    if count:
        cpu['count'] = int(count)
    for proc in cpus:
        arch = ARCHITECTURES.get(proc.instruction_set) or \
            ARCHITECTURES.get(proc.processor_architecture)
        if arch and 'architecture' not in cpu:
            cpu['architecture'] = arch
        if proc.model and 'model_name' not in cpu:
            cpu['model_name'] = proc.model
        if proc.max_speed_mhz and 'frequency' not in cpu:
            cpu['frequency'] = str(proc.max_speed_mhz)
    return cpu


def _wwn(resource):
    for ident in resource.identifiers or ():
        if ident.durable_name_format == sushy.DurableNameFormat.NAA and \
                ident.durable_name:
            return '0x' + ident.durable_name.lower().replace(':', '')
    return None


def _disk(resource, **extra):
    disk = {'name': resource.identity,
            'size': int(resource.capacity_bytes or 0)}
    disk.update(extra)
    wwn = _wwn(resource)
    if wwn:
        disk['wwn'] = wwn
    return {k: v for k, v in disk.items() if v is not None}


def _drive(drive):
    return _disk(drive, model=drive.model, serial=drive.serial_number,
                 vendor=drive.manufacturer,
                 rotational=MEDIA_ROTATIONAL.get(
                     str(drive.media_type or '').upper()))


def _storage_disks(node, storage):
    """What the host sees behind one controller: its volumes, and the
    drives no volume is built on (all drives when it has no volumes)."""
    volumes = _members(node, 'volumes', lambda: storage.volumes) or []
    in_volumes = set()
    for volume in volumes:
        links = _raw(volume, 'Links')
        if not isinstance(links, dict) or 'Drives' not in links:
            # Which drives are hidden is unknown: the volumes only.
            return [_disk(v) for v in volumes]
        in_volumes.update(link.get('@odata.id') for link in
                          links['Drives'] or () if isinstance(link, dict))
    disks = [_disk(v) for v in volumes]
    disks.extend(_drive(d) for d in storage.drives
                 if d.path not in in_volumes)
    return disks


def _disks(node, system):
    storages = _members(node, 'storage', lambda: system.storage)
    if storages:
        disks = []
        for storage in storages:
            disks.extend(_storage_disks(node, storage))
        return [d for d in disks if d['size']]
    simple = _members(node, 'simple storage', lambda: system.simple_storage)
    if simple is None:
        return None if storages is None else []
    disks = []
    for controller in simple:
        for device in controller.devices or ():
            if device.capacity_bytes:  # optical drives have none
                disks.append({k: v for k, v in (
                    ('name', device.name), ('size', device.capacity_bytes),
                    ('model', device.model)) if v is not None})
    return disks


def _interfaces(node, system):
    nics = _members(node, 'NICs', lambda: system.ethernet_interfaces)
    if nics is None:
        return None
    interfaces = []
    for nic in nics:
        mac = nic.mac_address or nic.permanent_mac_address
        if not mac:
            continue
        iface = {'name': nic.identity, 'mac_address': mac.lower()}
        link = _raw(nic, 'LinkStatus')
        if link:
            iface['has_carrier'] = link == 'LinkUp'
        interfaces.append(iface)
    return interfaces


def build_inventory(node, system):
    """The inventory of ``system`` in the agent's shape."""
    inventory = {}
    cpu = _cpu(node, system)
    if cpu:
        inventory['cpu'] = cpu
    size_gib = system.memory_summary.size_gib if system.memory_summary \
        else None
    if size_gib:
        inventory['memory'] = {'physical_mb': int(size_gib * 1024)}
    disks = _disks(node, system)
    if disks is not None:
        inventory['disks'] = disks
    interfaces = _interfaces(node, system)
    if interfaces is not None:
        inventory['interfaces'] = interfaces
    vendor = {k: v for k, v in (('manufacturer', system.manufacturer),
                                ('product_name', system.model),
                                ('serial_number', system.serial_number))
              if v}
    if vendor:
        inventory['system_vendor'] = vendor
    mode = BOOT_MODES.get(system.boot.mode) if system.boot else None
    if mode:
        inventory['boot'] = {'current_boot_mode': mode}
    return inventory


class RedfishInspect(inspect_iface.InspectInterface):
    """Inspection from what the BMC reports; no ramdisk is booted."""

    def get_properties(self):
        return dict(utils.COMMON_PROPERTIES)

    def validate(self, task):
        utils.parse_driver_info(task.node)

    def inspect_hardware(self, task):
        node = task.node
        with utils.errors(node, 'inspection'):
            inventory = build_inventory(node, utils.get_system(node))
        summary = inspection.process(node, inventory, {'source': 'redfish'})
        node.save()
        LOG.info('Node %s: out-of-band inspection: %s', node.uuid, summary)
        node_data.record_event(node, 'Inspection (redfish): ' + summary,
                               'introspection', error=False)
        return states.MANAGEABLE
