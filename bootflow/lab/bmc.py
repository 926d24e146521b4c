"""The lab's Redfish BMC: sushy-tools' emulator backed by QMP.

sushy-tools' Flask application provides the Redfish surface a real client
sees (service root, Systems, Managers, Chassis, their JSON templates);
its systems driver is replaced by :class:`QMPSystems`, which turns each
request into QMP commands on the machine's QEMU.  The production
``redfish`` driver therefore runs unchanged against the lab: a node's
power on really starts the guest's firmware.

Power: On runs the guest (reset first, so the firmware reads the boot
order again), ForceOff halts and resets it, GracefulShutdown presses the
ACPI power button (the guest then ends in QMP status ``shutdown``, Off),
ForceRestart resets it.  Boot device: Pxe, Hdd or Cd, set as the devices'
``bootindex`` QOM property; a Once override is used by the next power on
the BMC does.  Redfish shows it used up at once, but QEMU keeps it first
for ONCE_HOLD seconds more: SeaBIOS reads the boot order a moment after
the guest starts running, not at the reset, so putting the continuous
device back straight away sent every guest but the first to its disk.
A later boot device or power request supersedes the pending revert.
Virtual media: sushy-tools' VirtualMedia resource (a Cd device only)
downloads the image; :meth:`QMPSystems.set_boot_image` puts it in the
machine's CD drive (QMP ``blockdev-change-medium``) or ejects it.
Boot mode: Legacy (BIOS) only.  The boot overrides are kept in
``bmc.json`` in the lab directory, so a restarted BMC still has them.

  python -m bootflow.lab.bmc --lab-dir D --port P --username U --password W
"""

import argparse
import functools
import json
import logging
import os
import signal
import sys
import threading
import time

import bcrypt
from cheroot import wsgi
import flask
from sushy_tools import error
from sushy_tools.emulator import main as emu_main
from sushy_tools.emulator import memoize
from sushy_tools.emulator.resources import vmedia as vmedia_base
from sushy_tools.emulator.resources.systems import base as systems_base

from bootflow.lab import machine as machinelib
from bootflow.lab import qmp as qmplib
from bootflow.lab import state as statelib

LOG = logging.getLogger('bootflow.lab.bmc')
BOOT_TARGETS = ('Pxe', 'Hdd', 'Cd')
# the one virtual-media device of a lab machine
VMEDIA_DEVICE = 'Cd'
OVERRIDE_VALUES = ('Once', 'Continuous', 'Disabled')
BOOT_MODE = 'Legacy'
RESETS = ('On', 'ForceOn', 'ForceOff', 'GracefulShutdown', 'ForceRestart',
          'GracefulRestart', 'Nmi')
# Seconds a used Once device stays first in QEMU's boot order; firmware
# under TCG reads it within about a second of running.
ONCE_HOLD = 10.0


class QMPSystems(systems_base.AbstractSystemsDriver):
    """The lab's machines as Redfish ComputerSystems.

    Machines come from lab.json (read again when an unknown identity is
    asked for); each request opens a short QMP session, serialised per
    machine, as QEMU serves one QMP client at a time.
    """

    @classmethod
    def initialize(cls, config, logger, *args, **kwargs):
        super().initialize(config, logger)
        return cls

    def __init__(self):
        self._lab_dir = self._config['LAB_DIR']
        self._boot = statelib.BootState(self._lab_dir)
        self._boot_lock = threading.Lock()
        self._locks = {}
        self._records = {}
        # per machine: bumped by every boot order change, so a pending
        # revert of a Once device knows it was superseded
        self._generation = {}
        self._load()

    def _load(self):
        lab = statelib.LabState(self._lab_dir)
        if lab.exists:
            self._records = {r['uuid']: r for r in lab.machines}
        for uuid in self._records:
            self._locks.setdefault(uuid, threading.RLock())

    def _record(self, identity):
        for attempt in range(2):
            if identity in self._records:
                return self._records[identity]
            for record in self._records.values():
                if record['name'] == identity:
                    return record
            if attempt == 0:
                self._load()
        raise error.NotFound('No lab machine %s' % identity)

    def _power(self, record):
        return machinelib.Power(record['qmp_socket'])

    def _qmp(self, record, func):
        """Run ``func(Power)`` under the machine's lock; QMP failures are
        a 503 (QEMU not running: the lab is stopped)."""
        with self._locks[record['uuid']]:
            try:
                return func(self._power(record))
            except (qmplib.QMPError, machinelib.MachineError) as exc:
                raise error.FishyError('Machine %s: %s' % (record['name'],
                                                           exc), code=503)

    @property
    def driver(self):
        return '<bootflow-lab-qmp>'

    @property
    def systems(self):
        self._load()
        return list(self._records)

    def uuid(self, identity):
        return self._record(identity)['uuid']

    def name(self, identity):
        return self._record(identity)['name']

    # -- power -----------------------------------------------------------

    def get_power_state(self, identity):
        record = self._record(identity)
        return 'On' if self._qmp(record, lambda p: p.is_on()) else 'Off'

    def set_power_state(self, identity, state):
        if state not in RESETS:
            raise error.BadRequest('Unsupported ResetType %s' % state)
        record = self._record(identity)
        LOG.info('%s: reset %s', record['name'], state)
        if state in ('On', 'ForceOn'):
            self._boot_and(record, lambda p, dev: p.power_on(dev))
        elif state in ('ForceRestart', 'GracefulRestart'):
            self._boot_and(record, lambda p, dev: p.restart(dev))
        elif state == 'ForceOff':
            self._qmp(record, lambda p: p.force_off())
        elif state == 'GracefulShutdown':
            self._qmp(record, lambda p: p.graceful_shutdown())
        else:
            self._qmp(record, lambda p: p.nmi())

    def _boot_and(self, record, action):
        """Power the machine on with its effective boot device; a Once
        override is used up only when the firmware really started, and
        QEMU's boot order goes back to the continuous device ONCE_HOLD
        seconds later (a reboot the guest does itself boots that)."""
        with self._locks[record['uuid']]:
            boot = self._boot.get(record['uuid'])
            generation = self._bump(record)
            started = self._qmp(
                record, lambda p: action(p, effective_device(boot)))
            if started and boot.get('once'):
                with self._boot_lock:
                    boot = self._boot.set(record['uuid'], once=None)
                timer = threading.Timer(ONCE_HOLD, self._revert_once,
                                        (record, generation))
                timer.daemon = True
                timer.start()

    def _bump(self, record):
        with self._boot_lock:
            value = self._generation.get(record['uuid'], 0) + 1
            self._generation[record['uuid']] = value
            return value

    def _revert_once(self, record, generation):
        with self._locks[record['uuid']]:
            if self._generation.get(record['uuid']) != generation:
                return
            boot = self._boot.get(record['uuid'])
            try:
                self._qmp(record, lambda p: p.set_boot_order(
                    effective_device(boot)))
            except error.FishyError as exc:
                LOG.warning('%s; the boot order is set at the next power '
                            'on', exc)

    # -- boot device and mode ----------------------------------------------

    def boot_override(self, identity):
        """(target, enabled) as Redfish shows them."""
        boot = self._boot.get(self.uuid(identity))
        if boot.get('once'):
            return boot['once'], 'Once'
        return boot['device'], boot['enabled']

    def get_boot_device(self, identity):
        return self.boot_override(identity)[0]

    def set_boot_device(self, identity, boot_source, enabled=None):
        if boot_source not in BOOT_TARGETS:
            raise error.BadRequest('Boot device %s is not one of %s'
                                   % (boot_source, ', '.join(BOOT_TARGETS)))
        if enabled is None and flask.has_request_context():
            enabled = flask.g.get('boot_override_enabled')
        self._store_boot(self._record(identity), boot_source, enabled)

    def set_boot_enabled(self, identity, enabled):
        """BootSourceOverrideEnabled alone (target unchanged)."""
        target = self.boot_override(identity)[0]
        self._store_boot(self._record(identity), target, enabled)

    def _store_boot(self, record, target, enabled):
        if enabled not in (None,) + OVERRIDE_VALUES:
            raise error.BadRequest('BootSourceOverrideEnabled must be one '
                                   'of %s' % ', '.join(OVERRIDE_VALUES))
        with self._boot_lock:
            boot = self._boot.get(record['uuid'])
            if enabled is None:
                enabled = 'Once' if boot.get('once') else 'Continuous'
            if enabled == 'Once':
                changes = {'once': target}
            elif enabled == 'Continuous':
                changes = {'device': target, 'enabled': enabled,
                           'once': None}
            else:
                changes = {'enabled': enabled, 'once': None}
            boot = self._boot.set(record['uuid'], **changes)
        self._bump(record)
        try:
            # Applied now; QEMU reads it at the next reset or power on.
            self._qmp(record, lambda p: p.set_boot_order(
                effective_device(boot)))
        except error.FishyError as exc:
            LOG.warning('%s; the boot order is set at the next power on',
                        exc)

    def get_boot_mode(self, identity):
        self._record(identity)
        return BOOT_MODE

    def set_boot_mode(self, identity, boot_mode):
        self._record(identity)
        if boot_mode != BOOT_MODE:
            raise error.BadRequest('Lab machines boot in Legacy (BIOS) mode '
                                   'only, not %s' % boot_mode)

    # -- virtual media -----------------------------------------------------

    def set_boot_image(self, identity, device, boot_image=None,
                       write_protected=True):
        """The image sushy-tools' virtual media fetched, into (or, with
        None, out of) the machine's CD drive."""
        if device != VMEDIA_DEVICE:
            raise error.NotSupportedError('A lab machine has no %s drive'
                                          % device)
        record = self._record(identity)
        if boot_image:
            self._qmp(record, lambda p: p.insert_cd(boot_image))
        else:
            self._qmp(record, lambda p: p.eject_cd())

    # -- hardware ----------------------------------------------------------

    def _config_value(self, key):
        lab = statelib.LabState(self._lab_dir)
        return (lab.config if lab.exists else statelib.DEFAULTS)[key]

    def get_total_memory(self, identity):
        self._record(identity)
        return max(1, int(self._config_value('memory_mib')) // 1024)

    def get_total_cpus(self, identity):
        self._record(identity)
        return int(self._config_value('cpus'))

    def get_nics(self, identity):
        record = self._record(identity)
        return [{'id': mac, 'mac': mac}
                for mac in record.get('macs') or [record['mac']]]


def effective_device(boot):
    """What the machine boots from next: the Once device, else the
    continuous one; with the override Disabled, the disk (then the NIC)."""
    if boot.get('once'):
        return boot['once']
    if boot.get('enabled') == 'Disabled':
        return 'Hdd'
    return boot.get('device') or 'Hdd'


class LabVirtualMedia(vmedia_base.StaticDriver):
    """sushy-tools' virtual media, fetching an image the conductor
    published for its guests (at 10.0.2.100) from the loopback port the
    lab relays that address to: the BMC runs on the host, not inside."""

    def insert_image(self, identity, device, image_url, *args, **kwargs):
        guest = machinelib.GUEST_HTTP_URL
        if image_url and (image_url + '/').startswith(guest + '/'):
            lab = statelib.LabState(self._config['LAB_DIR'])
            port = (lab.config if lab.exists else statelib.DEFAULTS)[
                'http_port']
            image_url = 'http://127.0.0.1:%d%s' % (int(port),
                                                   image_url[len(guest):])
        return super().insert_image(identity, device, image_url, *args,
                                    **kwargs)


class LabApplication(emu_main.Application):
    """sushy-tools' Application whose systems and virtual media drivers
    are ours."""

    @property
    @memoize.memoize()
    def systems(self):
        return QMPSystems.initialize(self.config, self.logger)()

    @property
    @memoize.memoize()
    def vmedia(self):
        return LabVirtualMedia(self.config, self.logger)


def _system_view(original):
    """sushy-tools' ComputerSystem view, with the boot override as the
    BMC keeps it: its template always says Continuous and offers Cd,
    which a lab machine does not have."""

    @functools.wraps(original)
    def view(identity):
        systems = flask.current_app.systems
        if flask.request.method == 'PATCH':
            return _patch_system(original, systems, identity)
        response = original(identity)
        if response.status_code != 200:
            return response
        body = json.loads(response.get_data())
        target, enabled = systems.boot_override(identity)
        boot = body.setdefault('Boot', {})
        boot['BootSourceOverrideTarget'] = target
        boot['BootSourceOverrideEnabled'] = enabled
        boot['BootSourceOverrideTarget@Redfish.AllowableValues'] = list(
            BOOT_TARGETS)
        boot['BootSourceOverrideMode'] = BOOT_MODE
        response.set_data(json.dumps(body))
        return response

    return view


def _patch_system(original, systems, identity):
    body = flask.request.get_json(silent=True) or {}
    boot = body.get('Boot') or {}
    enabled = boot.get('BootSourceOverrideEnabled')
    if enabled is not None and enabled not in OVERRIDE_VALUES:
        raise error.BadRequest('BootSourceOverrideEnabled must be one of %s'
                               % ', '.join(OVERRIDE_VALUES))
    mode = boot.get('BootSourceOverrideMode')
    if mode is not None:
        # before the target changes: a refused PATCH changes nothing
        systems.set_boot_mode(identity, mode)
    if set(boot) - {'BootSourceOverrideEnabled'} or set(body) - {'Boot'}:
        # the driver's set_boot_device reads it from here
        flask.g.boot_override_enabled = enabled
        return original(identity)
    if enabled is not None:
        systems.set_boot_enabled(identity, enabled)
    return flask.Response(status=204)


def write_auth_file(lab_dir, username, password):
    """The htpasswd file sushy-tools' basic authentication reads (bcrypt
    at its cheapest cost: it is checked on every request)."""
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))
    path = os.path.join(lab_dir, 'htpasswd')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as stream:
        stream.write('%s:%s\n' % (username, digest.decode()))
    return path


def install(lab_dir, username=None, password=None):
    """sushy-tools' module-level app (its routes are registered on it)
    switched to our systems driver and views; checked, so a sushy-tools
    that reaches its drivers another way fails here, not on a request."""
    app = emu_main.app
    app.__class__ = LabApplication
    config = {'LAB_DIR': str(lab_dir),
              'SUSHY_EMULATOR_STATE_DIR': str(lab_dir),
              # a lab machine has a CD drive, no removable disk
              'SUSHY_EMULATOR_VMEDIA_DEVICES': {
                  VMEDIA_DEVICE: {'Name': 'Virtual CD',
                                  'MediaTypes': ['CD', 'DVD']}}}
    if username:
        config['SUSHY_EMULATOR_AUTH_FILE'] = write_auth_file(
            str(lab_dir), username, password or '')
    app.configure(extra_config=config)
    if username and not isinstance(app.wsgi_app,
                                   emu_main.RedfishAuthMiddleware):
        raise RuntimeError('sushy-tools did not set up authentication')
    if not isinstance(app.systems, QMPSystems):
        raise RuntimeError('sushy-tools app.systems is not the lab driver')
    if 'system_resource' not in app.view_functions:
        raise RuntimeError('sushy-tools has no system_resource view')
    app.view_functions['system_resource'] = _system_view(
        app.view_functions['system_resource'])
    return app


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m bootflow.lab.bmc',
        description='Redfish BMC of a bootflow lab (QMP behind it).')
    parser.add_argument('--lab-dir', required=True)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8000)
    parser.add_argument('--ipmi-port', type=int, default=None,
                        help='also answer IPMI 2.0 for each machine, on '
                             'UDP ports from this one up (needs '
                             '--username)')
    parser.add_argument('--username')
    parser.add_argument('--password')
    parser.add_argument('--password-env', metavar='VAR',
                        help='read the password from this environment '
                             'variable (kept off the command line)')
    parser.add_argument('-v', '--verbose', action='store_true')
    args = parser.parse_args(argv)
    if args.password_env:
        args.password = os.environ.get(args.password_env)
    if bool(args.username) != bool(args.password):
        parser.error('--username and --password go together')
    if args.ipmi_port is not None and not args.username:
        parser.error('IPMI needs --username and --password')
    return args


def _stop(signum, frame):
    raise SystemExit(0)


def main(argv=None):
    started = time.monotonic()
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    app = install(args.lab_dir, args.username, args.password)
    server = wsgi.Server((args.host, args.port), app, numthreads=8,
                         shutdown_timeout=1,
                         server_name='bootflow-lab-bmc')
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.prepare()
    if args.ipmi_port is not None:
        from bootflow.lab import ipmi   # pyghmi: only when asked for
        ports = ipmi.start(app.systems,
                           statelib.LabState(args.lab_dir).machines,
                           args.ipmi_port, args.username, args.password,
                           address=args.host)
        LOG.info('IPMI on 127.0.0.1 UDP %s', ', '.join(
            '%s:%d' % item for item in sorted(ports.items())))
    LOG.info('lab BMC for %s on http://%s:%d, ready in %.2fs',
             args.lab_dir, args.host, server.bind_addr[1],
             time.monotonic() - started)
    print('READY %d' % server.bind_addr[1], flush=True)
    try:
        server.serve()
    finally:
        server.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
