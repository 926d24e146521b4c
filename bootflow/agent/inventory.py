"""The hardware inventory the agent posts to the server.

Collectors are plugins (stevedore group ``bootflow.agent.collectors``) so a
site can add or replace one without touching the agent.  The inventory has
Ironic's shape, so inspection rules and clients written for Ironic read it
unchanged.  Nothing here may take the agent down: an inventory with a gap
and a note saying why is always better than no lookup at all.
"""

import copy
import logging

from stevedore import extension

from bootflow.agent import collectors

LOG = logging.getLogger(__name__)

NAMESPACE = 'bootflow.agent.collectors'
ORDER = ('cpu', 'memory', 'disks', 'interfaces', 'system_vendor', 'boot',
         'bmc', 'hostname')

EMPTY = {
    'cpu': {'model_name': None, 'frequency': None, 'count': None,
            'architecture': None, 'flags': [], 'socket_count': None},
    'memory': {'total': None, 'physical_mb': None},
    'disks': [],
    'interfaces': [],
    'system_vendor': {'product_name': None, 'serial_number': None,
                      'manufacturer': None,
                      'firmware': {'vendor': None, 'version': None,
                                   'build_date': None}},
    'boot': {'current_boot_mode': None, 'pxe_interface': None},
    'bmc': {'bmc_address': None, 'bmc_v6address': None, 'bmc_mac': None},
}
"""What a collector's slot holds when it crashed, so consumers always find
the keys of Ironic's shape."""


def load_collectors():
    """(ExtensionManager, notes): the installed collectors, not yet run.

    A plugin that fails to import becomes a note instead of an exception:
    one broken site plugin must not stop the node from being found.
    """
    notes = []

    def failed(manager, entrypoint, exc):
        notes.append('collector %s could not be loaded: %s: %s'
                     % (entrypoint.name, type(exc).__name__, exc))

    manager = extension.ExtensionManager(
        namespace=NAMESPACE, invoke_on_load=False,
        on_load_failure_callback=failed)
    if not manager.extensions:
        notes.append('no collector registered in %s (is bootflow '
                     'installed?)' % NAMESPACE)
    return manager, notes


def _ordered(extensions):
    """Known collectors in the inventory's order, then the others by name,
    so two runs on the same machine give identical documents."""
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(extensions, key=lambda e: (rank.get(e.name, len(ORDER)),
                                             e.name))


def _run_one(ext, system, context):
    """(value, notes) of one collector; a crash or a bad answer -> note."""
    empty = copy.deepcopy(EMPTY.get(ext.name))
    try:
        answer = ext.plugin(system, context)
    except Exception as exc:
        LOG.exception('collector %s crashed', ext.name)
        return empty, ['%s: collector crashed (%s: %s), left empty'
                       % (ext.name, type(exc).__name__, exc)]
    if not (isinstance(answer, tuple) and len(answer) == 2
            and isinstance(answer[1], list)):
        return empty, ['%s: collector returned %s instead of (value, '
                       'notes), left empty'
                       % (ext.name, type(answer).__name__)]
    value, notes = answer
    return value, ['%s: %s' % (ext.name, note) for note in notes]


def collect(system, bootif=None, extensions=None):
    """(inventory, notes) of the machine behind ``system``.

    ``bootif`` is the MAC the node PXE-booted from, in any spelling the
    firmware uses (``01-aa-bb-...`` or ``aa:bb:...``); without it the
    machine's kernel command line is asked.  It becomes
    ``boot.pxe_interface`` and marks that interface ``pxe_enabled``.
    ``extensions`` (an ExtensionManager or a list of extensions) replaces
    the installed collectors, for tests and for callers that filter them.
    """
    notes = []
    mac, bootif_notes = collectors.resolve_bootif(system, bootif)
    notes.extend('boot: %s' % note for note in bootif_notes)
    if extensions is None:
        extensions, load_notes = load_collectors()
        notes.extend(load_notes)
    context = collectors.Context(bootif=mac)
    inventory = {}
    for ext in _ordered(list(extensions)):
        value, more = _run_one(ext, system, context)
        notes.extend(more)
        if ext.name in collectors.MERGED and isinstance(value, dict):
            inventory.update(value)
        else:
            inventory[ext.name] = value
    if 'hostname' not in inventory:
        inventory['hostname'], more = collectors.hostname(system, context)
        notes.extend('hostname: %s' % note for note in more)
    boot = inventory.get('boot')
    if not isinstance(boot, dict):
        boot = inventory['boot'] = copy.deepcopy(EMPTY['boot'])
    boot.setdefault('current_boot_mode', None)
    if mac is not None or 'pxe_interface' not in boot:
        boot['pxe_interface'] = mac
    return inventory, notes
