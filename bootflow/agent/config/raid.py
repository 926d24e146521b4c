"""The ``raid`` section: hardware controllers through vendor plugins,
software RAID through mdadm.

No hardware controller support ships with bootflow: vendor CLIs (storcli,
perccli, ssacli) differ too much to drive honestly without the hardware to
test on. A vendor package adds one by declaring a ``RaidController``
subclass under the entry point group ``bootflow.agent.raid_controllers``.

``software``: ``true`` always uses mdadm; ``false`` needs a controller
plugin (none: skipped in user mode, ConfigError in developer mode);
``auto`` (default) uses a controller plugin that recognises the machine,
else mdadm over the disks the machine shows. Arrays are created as
/dev/md/<name> with 1.2 metadata and ``--homehost=any`` so they assemble
under the same name on the deployed system, whatever its hostname.
"""

import logging
import os

from bootflow.agent.config import base

LOG = logging.getLogger(__name__)
ConfigError = base.ConfigError

CONTROLLER_TOOLS = ('storcli', 'perccli', 'ssacli')
PLUGIN_GROUP = 'bootflow.agent.raid_controllers'
MDSTAT = '/proc/mdstat'
GIB = 1024 ** 3


class RaidController:
    """What a hardware RAID plugin implements.

    ``detect`` says whether this controller (and its tool) is present;
    ``plan`` returns the human-readable changes ``volumes`` (the section's
    list, already validated) would make without touching anything;
    ``create`` makes them and returns the changes made. Both raise
    ConfigError on failure.
    """
    name = 'controller'

    def detect(self, ctx):
        return False

    def plan(self, volumes, ctx):
        raise NotImplementedError

    def create(self, volumes, ctx):
        raise NotImplementedError


def controllers():
    return base.plugins(PLUGIN_GROUP)


def _data_disks(level, count):
    return {'0': count, '1': 1, '5': count - 1, '10': count // 2}[level]


def _select(selector, ctx, where, used):
    """Inventory disks for {count, min_size_gb, rotational}, in inventory
    order, skipping members of earlier volumes."""
    minimum = selector.get('min_size_gb', 0) * GIB
    fitting = [d['name'] for d in base.inventory_disks(ctx.inventory)
               if (d.get('size') or 0) >= minimum
               and ('rotational' not in selector
                    or d.get('rotational') is selector['rotational'])
               and d['name'] not in used]
    count = selector['count']
    if len(fitting) < count:
        wanted = ' of at least %g GiB' % selector['min_size_gb'] if (
            'min_size_gb' in selector) else ''
        raise ConfigError('%s.disks: needs %d disks%s, found %d%s'
                          % (where, count, wanted, len(fitting),
                             ' (%s)' % ', '.join(fitting) if fitting else ''))
    return fitting[:count]


def _members(disks, ctx, where, used):
    if not isinstance(disks, list):
        members = _select(disks, ctx, where, used)
    else:
        members = list(disks)
        for device in members:
            if not os.path.exists(device):
                raise ConfigError('%s.disks: %s does not exist'
                                  % (where, device))
            if device in used:
                raise ConfigError('%s.disks: %s is already in %s'
                                  % (where, device, used[device]))
    used.update((m, where) for m in members)
    return members


def _existing_level(device, tools):
    """"raid1" for an array already at ``device``, None if there is none."""
    if not os.path.exists(device):
        return None
    rc, out, _err = tools.call(['mdadm', '--detail', '--export', device])
    if rc != 0:
        return None
    info = dict(line.split('=', 1) for line in out.splitlines()
                if '=' in line)
    return info.get('MD_LEVEL', 'unknown')


def create_argv(device, level, members, size_gb):
    argv = ['mdadm', '--create', device, '--level=%s' % level,
            '--raid-devices=%d' % len(members), '--metadata=1.2',
            '--homehost=any', '--run']
    if size_gb != 'MAX':
        per_disk = -(-size_gb * GIB // _data_disks(level, len(members)))
        argv.append('--size=%dK' % (per_disk // 1024))
    return argv + members


def _plan_software(volumes, ctx):
    steps, changes, used = [], [], {}
    for index, volume in enumerate(volumes):
        where = 'raid.volumes[%d]' % index
        level = str(volume['level'])
        device = '/dev/md/%s' % volume.get('name', index)
        members = _members(volume['disks'], ctx, where, used)
        existing = _existing_level(device, ctx.tools)
        if existing == 'raid%s' % level:
            LOG.info('%s: %s already exists', where, device)
            continue
        if existing:
            raise ConfigError('%s: %s already exists as %s, not RAID %s; '
                              'stop it and clear its members first'
                              % (where, device, existing, level))
        size_gb = volume.get('size_gb', 'MAX')
        steps.append(create_argv(device, level, members, size_gb))
        changes.append('%s: new RAID %s over %s (%s)' % (
            device, level, ', '.join(members),
            'all space' if size_gb == 'MAX' else '%d GiB' % size_gb))
    return steps, changes


def _software(volumes, ctx):
    if ctx.tools.which('mdadm') is None:
        return ctx.unsupported('raid', 'mdadm not found: cannot build '
                                       'software RAID')
    if not os.path.exists(MDSTAT) and not ctx.developer:
        return ctx.result('raid', [], skipped=(
            'the kernel has no software RAID (md) support (%s is missing)'
            % MDSTAT))
    steps, changes = _plan_software(volumes, ctx)
    if not ctx.dry_run:
        for argv in steps:
            ctx.tools.run(argv)
    return ctx.result('raid', changes)


def _hardware(controller, volumes, ctx):
    changes = controller.plan(volumes, ctx)
    if not ctx.dry_run and changes:
        changes = controller.create(volumes, ctx)
    return ctx.result('raid', changes)


def run(spec, ctx):
    """Apply (or plan) the ``raid`` section."""
    volumes = spec.get('volumes') or []
    if not volumes:
        return ctx.result('raid', [])
    software = spec.get('software', 'auto')
    if software is not True:
        for controller in controllers():
            if controller.detect(ctx):
                return _hardware(controller, volumes, ctx)
        if software is False:
            return ctx.unsupported('raid', (
                'no supported RAID controller tool found (%s)'
                % '/'.join(CONTROLLER_TOOLS)))
        present = [t for t in CONTROLLER_TOOLS if ctx.tools.which(t)]
        if present:
            LOG.warning('%s present but no bootflow plugin drives it; '
                        'using software RAID', ', '.join(present))
    return _software(volumes, ctx)
