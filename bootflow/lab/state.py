"""The lab's state on disk: ``lab.json`` (what was created) and
``bmc.json`` (what the BMC was told).

Everything a later command needs is in the lab directory, so ``bootflow
lab list`` in a new shell, a restarted BMC or a test's Python API all see
the same lab.  The two files have one writer each (the CLI/API writes
lab.json, the BMC process bmc.json), and both are replaced atomically
(written aside, then renamed), so a reader never sees half a file.
"""

import json
import os
import uuid as uuidlib
from pathlib import Path

LAB_FILE = 'lab.json'
BMC_FILE = 'bmc.json'
VERSION = 1
MAC_PREFIX = '52:54:00'
NAME_PREFIX = 'lab'
# virtio-blk serials are at most 20 bytes
SERIAL_MAX = 20
DEFAULTS = {
    'count': 1, 'memory_mib': 1024, 'cpus': 1, 'disk_size': '2G',
    'api_port': 6385, 'http_port': 8080, 'bmc_port': 8000, 'nics': 1,
    'ipmi_port': 6230,
    'username': 'admin', 'password': 'password',
}
# What a BMC starts with for a machine: disk first, so a blank disk falls
# through to the network, as a new server with an empty disk does.
DEFAULT_BOOT = {'device': 'Hdd', 'enabled': 'Continuous', 'once': None}


def default_lab_dir(environ=None):
    """BOOTFLOW_LAB_DIR, else ${XDG_STATE_HOME:-~/.local/state}/bootflow/lab.
    """
    environ = os.environ if environ is None else environ
    if environ.get('BOOTFLOW_LAB_DIR'):
        return Path(environ['BOOTFLOW_LAB_DIR'])
    base = environ.get('XDG_STATE_HOME') or os.path.join(
        os.path.expanduser('~'), '.local', 'state')
    return Path(base) / 'bootflow' / 'lab'


def write_json(path, data):
    """Atomically replace ``path`` with ``data`` as JSON."""
    path = Path(path)
    tmp = path.with_name('.%s.%d.tmp' % (path.name, os.getpid()))
    # 0600: lab.json holds the BMC password
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as stream:
        json.dump(data, stream, indent=2, sort_keys=True)
        stream.write('\n')
    os.replace(tmp, path)


def read_json(path, default=None):
    try:
        with open(path) as stream:
            return json.load(stream)
    except FileNotFoundError:
        return default


def mac_address(index, nic=0):
    """52:54:00:NN:HH:LL from the machine index (HH:LL) and the NIC's
    (NN = 0x6c + nic): stable and unique in a lab, so ports enrolled once
    stay right across re-creation."""
    if not 0 <= index < 1 << 16:
        raise ValueError('machine index %d out of range' % index)
    if not 0 <= nic < 16:
        raise ValueError('NIC index %d out of range' % nic)
    return '%s:%02x:%02x:%02x' % (MAC_PREFIX, 0x6c + nic, index >> 8,
                                  index & 0xff)


def machine_record(lab_dir, index, machine_uuid=None, nics=1):
    """The description of machine ``index``: name, ids, paths. The first
    NIC network-boots; the others are there to be found by inspection."""
    name = '%s-%d' % (NAME_PREFIX, index)
    machine_uuid = machine_uuid or str(uuidlib.uuid4())
    directory = Path(lab_dir) / 'machines' / name
    return {
        'name': name, 'index': index, 'uuid': machine_uuid,
        'mac': mac_address(index),
        'macs': [mac_address(index, nic) for nic in range(int(nics))],
        'disk': str(directory / 'disk.qcow2'),
        'disk_serial': ('%s-%s' % (name, machine_uuid[:8]))[:SERIAL_MAX],
        'dir': str(directory),
        'serial_log': str(directory / 'serial.log'),
        'qmp_socket': str(directory / 'qmp.sock'),
    }


class LabState:
    """lab.json: settings, machines and the pids of running processes."""

    def __init__(self, lab_dir):
        self.lab_dir = Path(lab_dir)
        self.path = self.lab_dir / LAB_FILE
        self.data = read_json(self.path)

    @property
    def exists(self):
        return self.data is not None

    def new(self, settings):
        """Fresh state for a lab about to be created."""
        config = dict(DEFAULTS)
        config.update({k: v for k, v in settings.items() if v is not None})
        self.data = {
            'version': VERSION, 'config': config, 'pids': {},
            'machines': [machine_record(self.lab_dir, index,
                                        nics=config['nics'])
                         for index in range(int(config['count']))],
        }
        return self.data

    def save(self):
        self.lab_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.path, self.data)

    def reload(self):
        self.data = read_json(self.path)
        return self.data

    @property
    def config(self):
        return self.data['config']

    @property
    def machines(self):
        return self.data['machines']

    def machine(self, name):
        for record in self.machines:
            if name in (record['name'], record['uuid']):
                return record
        raise KeyError('no machine %s in the lab at %s'
                       % (name, self.lab_dir))

    @property
    def pids(self):
        return self.data.setdefault('pids', {})


class BootState:
    """bmc.json: the boot override the BMC keeps per machine UUID."""

    def __init__(self, lab_dir):
        self.path = Path(lab_dir) / BMC_FILE

    def load(self):
        return read_json(self.path, {}) or {}

    def get(self, machine_uuid):
        boot = dict(DEFAULT_BOOT)
        boot.update(self.load().get(machine_uuid) or {})
        return boot

    def set(self, machine_uuid, **changes):
        data = self.load()
        boot = dict(DEFAULT_BOOT)
        boot.update(data.get(machine_uuid) or {})
        boot.update(changes)
        data[machine_uuid] = boot
        write_json(self.path, data)
        return boot
