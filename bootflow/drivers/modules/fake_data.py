"""What a fake machine reports about itself: BIOS settings with their
registry, firmware components, indicators and an inspection inventory.

Plausible rather than real, so that every API that shows hardware data
has something to show for a fake-hardware node.
"""

import hashlib
import posixpath
import urllib.parse


def _enum(name, value, choices, reset_required=True):
    return {'name': name, 'value': value, 'attribute_type': 'Enumeration',
            'allowable_values': list(choices), 'read_only': False,
            'reset_required': reset_required, 'unique': False}


BIOS_DEFAULTS = (
    _enum('BootMode', 'Uefi', ('Bios', 'Uefi')),
    _enum('HyperThreading', 'Enabled', ('Enabled', 'Disabled')),
    _enum('ProcVirtualization', 'Enabled', ('Enabled', 'Disabled')),
    _enum('NumLock', 'On', ('On', 'Off'), reset_required=False),
    {'name': 'AssetTag', 'value': '', 'attribute_type': 'String',
     'min_length': 0, 'max_length': 32, 'read_only': False,
     'reset_required': False, 'unique': True},
    {'name': 'PowerOnDelaySeconds', 'value': '0',
     'attribute_type': 'Integer', 'lower_bound': 0, 'upper_bound': 300,
     'read_only': False, 'reset_required': False, 'unique': False},
    {'name': 'SystemModel', 'value': 'Fake Machine',
     'attribute_type': 'String', 'read_only': True,
     'reset_required': False, 'unique': False},
)


def bios_settings(applied):
    """The defaults with what was applied on top (name -> value)."""
    settings = []
    for default in BIOS_DEFAULTS:
        setting = dict(default)
        if setting['name'] in applied:
            setting['value'] = str(applied[setting['name']])
        settings.append(setting)
    known = {s['name'] for s in BIOS_DEFAULTS}
    settings.extend({'name': name, 'value': str(value)}
                    for name, value in sorted(applied.items())
                    if name not in known)
    return settings


FIRMWARE_DEFAULTS = {'bios': '1.0.0', 'bmc': '1.0.0'}


def _serial(node_uuid, salt):
    return hashlib.sha1(('%s:%s' % (node_uuid, salt)).encode()
                        ).hexdigest()[:12].upper()


def firmware_components(node_uuid, versions):
    return [{'component': name, 'current_version': version,
             'vendor': 'bootflow', 'model': 'fake-%s' % name,
             'serial_number': _serial(node_uuid, name)}
            for name, version in sorted(versions.items())]


def flashed_version(setting):
    """The version a firmware update of ``setting`` installs: given as
    ``version``, else named after the image file in ``url``."""
    if setting.get('version'):
        return str(setting['version'])[:255]
    path = urllib.parse.urlparse(str(setting.get('url') or '')).path
    name = posixpath.basename(path) or 'unknown'
    return name.rsplit('.', 1)[0][:255] or name[:255]


INDICATORS = {
    'chassis': {'led-0': {'readonly': True, 'states': ['off', 'on']}},
    'system': {'led': {'readonly': False,
                       'states': ['blinking', 'off', 'on']}},
}

# Virtual media devices as a Redfish BMC lists them.
VMEDIA_TYPES = {'cdrom': ['CD', 'DVD'], 'disk': ['USBStick'],
                'floppy': ['Floppy']}


def virtual_media(attached):
    return [{'media_types': types, 'inserted': device in attached,
             'image': attached.get(device, '')}
            for device, types in sorted(VMEDIA_TYPES.items())]


def inventory(node, ports, boot_mode):
    """An inventory as the BootOS agent reports one, from the node's
    ports and properties."""
    props = node.properties or {}
    cpus = int(props.get('cpus') or 4)
    memory_mb = int(props.get('memory_mb') or 8192)
    disk_gb = int(props.get('local_gb') or 100)
    disk = {'name': '/dev/sda', 'model': 'Fake Disk', 'size': disk_gb << 30,
            'rotational': False, 'serial': _serial(node.uuid, 'sda'),
            'vendor': 'bootflow', 'by_path': '/dev/disk/by-path/fake-0'}
    interfaces = [{'name': 'eth%d' % i, 'mac_address': p['address'],
                   'ipv4_address': None, 'ipv6_address': None,
                   'has_carrier': True, 'vendor': '0x1af4',
                   'product': '0x0001'}
                  for i, p in enumerate(ports)]
    data = {
        'cpu': {'model_name': 'Fake CPU', 'count': cpus,
                'architecture': props.get('cpu_arch') or 'x86_64',
                'frequency': '2400', 'flags': ['lm', 'vmx']},
        'memory': {'physical_mb': memory_mb, 'total': memory_mb << 20},
        'disks': [disk],
        'interfaces': interfaces,
        'bmc_address': '0.0.0.0',
        'system_vendor': {'manufacturer': 'bootflow',
                          'product_name': 'fake-hardware',
                          'serial_number': _serial(node.uuid, 'system')},
        'boot': {'current_boot_mode': boot_mode, 'pxe_interface': (
            interfaces[0]['mac_address'] if interfaces else None)},
        'hostname': 'fake-%s' % node.uuid[:8],
    }
    plugin_data = {'root_disk': disk, 'all_interfaces': {
        i['name']: {'mac': i['mac_address'], 'ip': None}
        for i in interfaces}}
    return data, plugin_data
