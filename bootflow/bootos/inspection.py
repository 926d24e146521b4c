"""What an inspection upload changes on the node: its stored inventory,
its properties and its ports.

Runs in the conductor with the node locked. Properties are derived the
way Ironic's inspection derives them, so nova's flavors and the
allocation scheduler see the same numbers either way: ``local_gb`` is the
root disk less one GiB (room for the partition table and alignment), the
root disk being the one the node's ``root_device`` hints name, else the
smallest disk of at least 4 GiB.
"""

from oslo_log import log
from oslo_utils import netutils

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.db import api as db_api
from bootflow.db import node_data

LOG = log.getLogger(__name__)

GiB = 1024 ** 3
MiB = 1024 ** 2
_MIN_ROOT_DISK = 4 * GiB


def macs(inventory):
    """Valid MACs of the inventory's interfaces, lower-case."""
    found = []
    for iface in (inventory or {}).get('interfaces') or ():
        mac = iface.get('mac_address')
        if mac and netutils.is_valid_mac(mac):
            found.append(mac.lower())
    return found


def pxe_mac(inventory):
    mac = ((inventory or {}).get('boot') or {}).get('pxe_interface')
    return mac.lower() if mac and netutils.is_valid_mac(mac) else None


def _hint_matches(disk, hints):
    for key, wanted in hints.items():
        if key == 'size':
            if int(disk.get('size') or 0) // GiB != int(wanted):
                return False
        elif key in ('name', 'serial', 'wwn', 'model', 'vendor', 'hctl',
                     'by_path'):
            value = str(disk.get(key) or '')
            if key == 'name' and not str(wanted).startswith('/dev/'):
                value = value.rsplit('/', 1)[-1]
            if value.lower() != str(wanted).lower():
                return False
        elif key == 'rotational':
            if bool(disk.get('rotational')) != bool(wanted):
                return False
    return True


def root_disk(inventory, hints=None):
    disks = [d for d in (inventory or {}).get('disks') or ()
             if int(d.get('size') or 0) >= _MIN_ROOT_DISK]
    if hints:
        disks = [d for d in disks if _hint_matches(d, hints)]
    return min(disks, key=lambda d: int(d['size']), default=None)


def _capabilities(text, **changes):
    caps = dict(item.split(':', 1) for item in (text or '').split(',')
                if ':' in item)
    caps.update({k: v for k, v in changes.items() if v})
    return ','.join('%s:%s' % kv for kv in caps.items())


def properties(current, inventory):
    """The node's properties updated from ``inventory``; what could not
    be derived is left as it was."""
    props = dict(current or {})
    cpu = inventory.get('cpu') or {}
    memory = inventory.get('memory') or {}
    if cpu.get('count'):
        props['cpus'] = int(cpu['count'])
    if cpu.get('architecture'):
        props['cpu_arch'] = cpu['architecture']
    if memory.get('physical_mb'):
        props['memory_mb'] = int(memory['physical_mb'])
    elif memory.get('total'):
        props['memory_mb'] = int(memory['total']) // MiB
    disk = root_disk(inventory, props.get('root_device'))
    if disk is not None:
        props['local_gb'] = int(disk['size']) // GiB - 1
    mode = (inventory.get('boot') or {}).get('current_boot_mode')
    if mode:
        props['capabilities'] = _capabilities(props.get('capabilities'),
                                              boot_mode=mode)
    return props


def _wanted_interfaces(inventory):
    how = CONF.inspector.add_ports
    if how == 'disabled':
        return []
    booted = pxe_mac(inventory)
    wanted = []
    for iface in inventory.get('interfaces') or ():
        mac = (iface.get('mac_address') or '').lower()
        if not netutils.is_valid_mac(mac):
            continue
        if how == 'pxe' and booted and mac != booted:
            continue
        if how == 'active' and not (iface.get('has_carrier') or
                                    iface.get('ipv4_address')):
            continue
        wanted.append((mac, iface))
    return wanted


def sync_ports(node, inventory):
    """Create ports for the interfaces found; pxe_enabled only on the one
    that network-booted (on every port when that is unknown). Returns
    ``(created, updated, conflicts)`` lists of MACs."""
    booted = pxe_mac(inventory)
    existing = {p['address'].lower(): p for p in db_api.list_ports(
        filters={'node_id': node.id})}
    created, updated, conflicts = [], [], []
    for mac, iface in _wanted_interfaces(inventory):
        pxe = booted is None or mac == booted
        port = existing.get(mac)
        if port is not None:
            if bool(port['pxe_enabled']) != pxe:
                db_api.update_port(port['id'], {'pxe_enabled': pxe})
                updated.append(mac)
            continue
        try:
            db_api.create_port({'node_id': node.id, 'address': mac,
                                'pxe_enabled': pxe,
                                'extra': {'interface': iface.get('name')}})
            created.append(mac)
        except exception.MACAlreadyExists:
            LOG.warning('Inspection of node %s found MAC %s, which is a '
                        'port of another node; not added', node.uuid, mac)
            conflicts.append(mac)
    return created, updated, conflicts


def process(node, inventory, plugin_data=None):
    """Store the inventory and apply it to ``node`` (a locked record, not
    saved here). Returns a one-line summary for the node's history."""
    node_data.store_inventory(node.id, inventory, plugin_data or {})
    if CONF.inspector.update_properties:
        node.properties = properties(node.properties, inventory)
    created, updated, conflicts = sync_ports(node, inventory)
    props = node.properties or {}
    summary = ('inventory stored: %s CPUs (%s), %s MiB RAM, local_gb %s; '
               'ports created: %s' % (
                   props.get('cpus'), props.get('cpu_arch'),
                   props.get('memory_mb'), props.get('local_gb'),
                   ', '.join(created) or 'none'))
    if updated:
        summary += '; pxe_enabled changed on %s' % ', '.join(updated)
    if conflicts:
        summary += '; MACs of other nodes, not added: %s' % ', '.join(
            conflicts)
    return summary
