#!/usr/bin/env python3
"""A Redfish BMC emulator for bootflow's tests and benchmarks.

It serves sushy-tools' emulator application -- its Flask routes and JSON
templates, i.e. the Redfish surface a real client sees -- with its fake
systems driver, extended (redfish_drivers.py) with what that driver
lacks: BIOS attributes, firmware versions, processors, memory, storage,
drives, volumes, and power changes that land after a configurable delay.
Many emulated machines run behind one port, each with a deterministic
UUID, name and MACs, so a test can predict them and a benchmark can
enrol a thousand nodes against one process.

It runs under cheroot's threaded WSGI server (sushy-emulator's own
`app.run` is Flask's development server), and a middleware counts every
Redfish request and serves /_emulator/, which is not Redfish:

  GET  /_emulator/requests        {"total", "by_path", "by_method",
                                   "by_request": {"GET /path": n}}
  POST /_emulator/requests/reset  zero the counters (answers the old ones)
  GET  /_emulator/systems         [{"uuid", "name"}] of every system
  GET  /_emulator/systems/<id>    the system's record: its real state
  PATCH /_emulator/systems/<id>   replace top-level keys of the record

/_emulator/ requests are neither counted nor authenticated.

  python tools/bmc/redfish_emulator.py --port P --systems N --state-dir D \
      [--username U --password W] [--power-delay 0.5 | 0.2-1]

prints "READY <port>" on stdout once it serves (--port 0 picks a port);
logs go to stderr.
"""

import argparse
import collections
import functools
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time

import bcrypt
from cheroot import wsgi
import flask
from sushy_tools import error
from sushy_tools.emulator import auth_basic
from sushy_tools.emulator import main as emu_main
from sushy_tools.emulator import memoize

import redfish_drivers as drivers

DEFAULT_UUID_PREFIX = 'b0f10000'
VOLUME_RULE = ('/redfish/v1/Systems/<identity>/Storage/<stg_id>/Volumes/'
               '<vol_id>')
# sushy-tools' views this tool wraps; they must exist under these names
SIMPLE_UPDATE = 'UpdateService.update_service_simple_update'
WRAPPED_VIEWS = ('system_resource', 'bios_settings', 'volume', SIMPLE_UPDATE)


class EmulatorApplication(emu_main.Application):
    """sushy-tools' Application whose resource drivers are ours.

    Each property mirrors the base one (memoized: one driver per app).
    """

    @property
    @memoize.memoize()
    def systems(self):
        return drivers.EmulatedSystems.initialize(self.config, self.logger)()

    @property
    @memoize.memoize()
    def vmedia(self):
        return drivers.EmulatedVirtualMedia(self.config, self.logger)

    @property
    @memoize.memoize()
    def volumes(self):
        return drivers.EmulatedVolumes(self.config, self.logger,
                                       self.systems)

    @property
    @memoize.memoize()
    def storage(self):
        return drivers.EmulatedStorage(self.config, self.logger,
                                       self.systems)

    @property
    @memoize.memoize()
    def drives(self):
        return drivers.EmulatedDrives(self.config, self.logger,
                                      self.systems)

    @property
    @memoize.memoize()
    def indicators(self):
        return drivers.EmulatedIndicators(self.config, self.logger)


class CachingAuthMiddleware(emu_main.RedfishAuthMiddleware):
    """sushy-tools' basic authentication, remembering the credentials
    that passed.

    It checks the bcrypt digest of the auth file on every request: even
    at the cheapest cost that doubles the CPU time of serving a GET.  The
    checks themselves are sushy-tools' functions.
    """

    MAX_REMEMBERED = 64

    def __call__(self, env, start_response):
        if env.get('PATH_INFO', '').strip('/') in self._EXCLUDE_PATHS:
            return self.app(env, start_response)
        remembered = self.__dict__.setdefault('_verified', {})
        header = env.get('HTTP_AUTHORIZATION')
        identity = remembered.get(header)
        if identity is None:
            try:
                username, password = auth_basic.parse_token(
                    auth_basic.parse_header(dict(env)))
                identity = auth_basic.authenticate(self.auth_file, username,
                                                   password)
            except error.FishyError as exc:
                return self.format_exception(exc)(env, start_response)
            if len(remembered) >= self.MAX_REMEMBERED:
                remembered.clear()
            remembered[header] = identity
        env.pop('HTTP_AUTHORIZATION', None)
        env.update(identity)
        return self.app(env, start_response)


def install(config):
    """Make sushy-tools' module-level app use our drivers and views.

    sushy-tools registers its routes on the `app` instance its main
    module creates at import time, so a fresh Application would have no
    routes.  Instead that instance's class is switched to the subclass
    above: every `app.systems`, `flask.current_app.vmedia`... (the routes
    and blueprints reach the drivers only through these properties) then
    builds our drivers, without patching sushy-tools' modules.  The
    drivers are created here, before serving, and checked, so a
    sushy-tools release that reaches its drivers some other way fails at
    start-up instead of silently serving its own fake driver.
    """
    app = emu_main.app
    app.__class__ = EmulatorApplication
    app.configure(extra_config=config)
    if config.get('SUSHY_EMULATOR_AUTH_FILE'):
        # configure() wrapped the app in sushy-tools' auth middleware
        if not isinstance(app.wsgi_app, emu_main.RedfishAuthMiddleware):
            raise RuntimeError('sushy-tools did not set up authentication')
        app.wsgi_app.__class__ = CachingAuthMiddleware
    expected = {'systems': drivers.EmulatedSystems,
                'vmedia': drivers.EmulatedVirtualMedia,
                'volumes': drivers.EmulatedVolumes,
                'storage': drivers.EmulatedStorage,
                'drives': drivers.EmulatedDrives,
                'indicators': drivers.EmulatedIndicators}
    for name, cls in expected.items():
        if not isinstance(getattr(app, name), cls):
            raise RuntimeError('sushy-tools app.%s is not %s' %
                               (name, cls.__name__))
    app.managers  # noqa: B018 -- built now rather than on a first request
    missing = [name for name in WRAPPED_VIEWS
               if name not in app.view_functions]
    if missing:
        raise RuntimeError('sushy-tools has no view %s' % ', '.join(missing))
    views = app.view_functions
    views['system_resource'] = _system_view(views['system_resource'])
    views['bios_settings'] = _bios_settings_view(views['bios_settings'])
    views['volume'] = _volume_view
    views[SIMPLE_UPDATE] = _simple_update_view(views[SIMPLE_UPDATE])
    app.add_url_rule(VOLUME_RULE, 'emulator_volume_delete',
                     _volume_delete_view, methods=['DELETE'])
    return app


# -- views replacing or wrapping sushy-tools' ones ---------------------------

def _json(body, status=200):
    return flask.Response(json.dumps(body), status=status,
                          content_type='application/json')


def _system_view(original):
    """BootSourceOverrideEnabled: sushy-tools ignores it and always shows
    Continuous; here a one-time override is kept and used up by the next
    boot.  BiosSetup is added to the allowed boot targets (the fake
    driver stores any target)."""

    @functools.wraps(original)
    def view(identity):
        systems = flask.current_app.systems
        if flask.request.method == 'PATCH':
            return _patch_system(original, systems, identity)
        response = original(identity)
        if response.status_code != 200:
            return response
        body = json.loads(response.get_data())
        boot = body.setdefault('Boot', {})
        boot['BootSourceOverrideEnabled'] = (
            systems.get_boot_override_enabled(identity))
        allowed = boot.get('BootSourceOverrideTarget@Redfish.AllowableValues')
        if allowed is not None and 'BiosSetup' not in allowed:
            allowed.append('BiosSetup')
        if boot.get('HttpBootUri') == 'None':
            del boot['HttpBootUri']  # a template artefact, not a URI
        response.set_data(json.dumps(body))
        return response

    return view


def _patch_system(original, systems, identity):
    body = flask.request.get_json(silent=True) or {}
    boot = body.get('Boot') or {}
    enabled = boot.get('BootSourceOverrideEnabled')
    if enabled is not None and enabled not in drivers.BOOT_OVERRIDE_VALUES:
        raise error.BadRequest('BootSourceOverrideEnabled must be one of %s'
                               % ', '.join(drivers.BOOT_OVERRIDE_VALUES))
    response = None
    # sushy-tools refuses a PATCH that only sets BootSourceOverrideEnabled
    if set(boot) - {'BootSourceOverrideEnabled'} or set(body) - {'Boot'}:
        response = original(identity)
        if response.status_code >= 300:
            return response
    if enabled is not None:
        systems.set_boot_override_enabled(systems.uuid(identity), enabled)
    return response or flask.Response(status=204)


def _bios_settings_view(original):
    """GET shows what the settings will be after the next boot (sushy-tools
    shows the current ones, which only differ with
    --bios-apply-on-reboot)."""

    @functools.wraps(original)
    def view(identity):
        app = flask.current_app
        if flask.request.method != 'GET' or app.feature_set != 'full':
            return original(identity)
        pending = app.systems.get_bios_pending(identity)
        return flask.Response(
            app.render_template(
                'bios_settings.json', identity=identity,
                bios_pending_attributes=json.dumps(pending, sort_keys=True)),
            content_type='application/json')

    return view


def _simple_update_view(original):
    """Fetch the firmware image first, as a BMC would: sushy-tools bumps
    the BIOS version for any ImageURI, even one that does not exist."""

    @functools.wraps(original)
    def view():
        body = flask.request.get_json(silent=True) or {}
        if body.get('ImageURI'):
            flask.current_app.vmedia.fetch(body['ImageURI'])
        return original()

    return view


def _find_volume(identity, stg_id, vol_id):
    systems = flask.current_app.systems
    for volume in systems.get_volumes(systems.uuid(identity), stg_id):
        if volume['Id'] == vol_id:
            return volume
    raise error.NotFound('No volume %s' % vol_id)


def _volume_view(identity, stg_id, vol_id):
    """A volume with the RAIDType and drives it was created with
    (sushy-tools' template has neither)."""
    volume = _find_volume(identity, stg_id, vol_id)
    path = '/redfish/v1/Systems/%s/Storage/%s/Volumes/%s' % (
        identity, stg_id, vol_id)
    body = {
        '@odata.type': '#Volume.v1_3_1.Volume',
        '@odata.id': path,
        'Id': volume['Id'],
        'Name': volume.get('Name') or volume['Id'],
        'Status': {'State': 'Enabled', 'Health': 'OK'},
        'Encrypted': False,
        'CapacityBytes': volume['CapacityBytes'],
        'Links': {'Drives': [{'@odata.id': drive}
                             for drive in volume.get('Drives') or ()]},
    }
    for key in ('VolumeType', 'RAIDType'):
        if volume.get(key):
            body[key] = volume[key]
    return _json(body)


def _volume_delete_view(identity, stg_id, vol_id):
    systems = flask.current_app.systems
    _find_volume(identity, stg_id, vol_id)
    systems.delete_volume(systems.uuid(identity), stg_id, vol_id)
    return flask.Response(status=204)


# -- the counting middleware and /_emulator/ ----------------------------------

class EmulatorMiddleware:
    """Counts every Redfish request and answers /_emulator/ itself, in
    front of sushy-tools' authentication."""

    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()
        self._zero()

    def _zero(self):
        self._total = 0
        self._by_path = collections.Counter()
        self._by_method = collections.Counter()
        self._by_request = collections.Counter()

    def _snapshot(self):
        return {'total': self._total, 'by_path': dict(self._by_path),
                'by_method': dict(self._by_method),
                'by_request': dict(self._by_request)}

    def counts(self):
        with self._lock:
            return self._snapshot()

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO') or '/'
        if path == '/_emulator' or path.startswith('/_emulator/'):
            return self._control(environ, start_response, path)
        method = environ.get('REQUEST_METHOD', 'GET')
        with self._lock:
            self._total += 1
            self._by_path[path] += 1
            self._by_method[method] += 1
            self._by_request['%s %s' % (method, path)] += 1
        return self.app(environ, start_response)

    def _control(self, environ, start_response, path):
        method = environ.get('REQUEST_METHOD', 'GET')
        parts = path.strip('/').split('/')[1:]
        try:
            status, body = self._dispatch(method, parts, environ)
        except error.FishyError as exc:
            status, body = exc.code, {'error': str(exc)}
        except ValueError as exc:
            status, body = 400, {'error': 'Invalid JSON: %s' % exc}
        data = json.dumps(body, indent=2, sort_keys=True,
                          default=str).encode()
        start_response('%d %s' % (status, _REASONS.get(status, 'Error')),
                       [('Content-Type', 'application/json'),
                        ('Content-Length', str(len(data)))])
        return [data]

    def _dispatch(self, method, parts, environ):
        systems = self.app.systems
        if parts == ['requests'] and method == 'GET':
            return 200, self.counts()
        if parts == ['requests', 'reset'] and method == 'POST':
            with self._lock:
                old = self._snapshot()
                self._zero()
            return 200, old
        if parts == ['systems'] and method == 'GET':
            return 200, [{'uuid': uuid, 'name': systems.name(uuid)}
                         for uuid in systems.systems]
        if len(parts) == 2 and parts[0] == 'systems':
            if method == 'GET':
                record = systems.record(parts[1])
            elif method == 'PATCH':
                record = systems.patch_record(parts[1], _read_json(environ))
            else:
                return 405, {'error': 'Method not allowed'}
            record['virtual_media'] = self.app.vmedia.device_states(
                record['uuid'], record['name'])
            return 200, record
        return 404, {'error': 'No such emulator resource'}


_REASONS = {200: 'OK', 400: 'Bad Request', 404: 'Not Found',
            405: 'Method Not Allowed', 500: 'Internal Server Error'}


def _read_json(environ):
    length = int(environ.get('CONTENT_LENGTH') or 0)
    return json.loads(environ['wsgi.input'].read(length) or b'null')


# -- configuration and start-up ---------------------------------------------

def write_auth_file(state_dir, username, password):
    """An htpasswd file for sushy-tools' basic authentication.

    bcrypt's cheapest cost: the file is checked on every request, and at
    the default cost each check takes a quarter of a second of CPU.
    """
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))
    path = os.path.join(state_dir, 'htpasswd')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as stream:
        stream.write('%s:%s\n' % (username, digest.decode()))
    return path


def build_config(args):
    records = [drivers.build_record(index, args.uuid_prefix, args.nics,
                                    args.disks)
               for index in range(args.first_index,
                                  args.first_index + args.systems)]
    config = {
        'SUSHY_EMULATOR_FAKE_DRIVER': True,
        'SUSHY_EMULATOR_FAKE_SYSTEMS': records,
        # whatever sushy-tools still keeps in sqlite stays in this run's
        # directory instead of the shared /tmp/sushy-emulator
        'SUSHY_EMULATOR_STATE_DIR': args.state_dir,
        'EMULATOR_POWER_DELAY': args.power_delay,
        'EMULATOR_BIOS_APPLY_ON_REBOOT': args.bios_apply_on_reboot,
        'EMULATOR_FETCH_IMAGES': not args.no_image_fetch,
    }
    if args.username:
        config['SUSHY_EMULATOR_AUTH_FILE'] = write_auth_file(
            args.state_dir, args.username, args.password)
    return config


def power_delay(text):
    """'0.5' (fixed) or '0.2-1' (uniformly random in the range)."""
    match = re.fullmatch(r'\s*([0-9.]+)\s*(?:-\s*([0-9.]+)\s*)?', text)
    try:
        low = float(match.group(1))
        high = float(match.group(2) or low)
    except (AttributeError, ValueError):
        raise argparse.ArgumentTypeError('expected SECONDS or MIN-MAX')
    if high < low:
        raise argparse.ArgumentTypeError('MIN is above MAX')
    return low, high


def uuid_prefix(text):
    if not re.fullmatch(r'[0-9a-fA-F]{1,8}', text):
        raise argparse.ArgumentTypeError('expected 1 to 8 hex digits')
    return text.lower().ljust(8, '0')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add = parser.add_argument
    add('--port', type=int, default=8000, help='TCP port (0: any free one)')
    add('--host', default='127.0.0.1', help='address to listen on')
    add('--systems', type=int, default=1, help='number of machines')
    add('--state-dir', help='directory for this run (default: a new one)')
    add('--username', help='require HTTP basic auth with this user')
    add('--password', help='the password of --username')
    add('--power-delay', type=power_delay, default=(0.0, 1.0),
        help='seconds until a power change is seen, or MIN-MAX for a '
             'random delay (default 0-1)')
    add('--uuid-prefix', type=uuid_prefix, default=DEFAULT_UUID_PREFIX,
        help='first UUID group of every system (hex)')
    add('--first-index', type=int, default=0,
        help='index of the first system (names, UUIDs and MACs derive '
             'from it): give each emulator of one test its own range')
    add('--nics', type=int, default=1, help='NICs per machine')
    add('--disks', type=int, default=2, help='disks per machine')
    add('--bios-apply-on-reboot', action='store_true',
        help='BIOS changes wait for the next power-on')
    add('--no-image-fetch', action='store_true',
        help='do not download virtual media and firmware images (by '
             'default they are fetched, then dropped, so a wrong URL '
             'fails as on a real BMC)')
    add('--threads', type=int, default=32, help='server worker threads')
    add('-v', '--verbose', action='count', default=0,
        help='log requests handled (-vv: debug)')
    args = parser.parse_args(argv)
    if bool(args.username) != bool(args.password):
        parser.error('--username and --password go together')
    if args.systems < 1 or args.first_index < 0 or not 1 <= args.nics < 256:
        parser.error('--systems, --first-index or --nics out of range')
    if not 1 <= args.first_index + args.systems <= 1 << 24:
        parser.error('too many systems for distinct MAC addresses')
    return args


def _stop(signum, frame):
    raise SystemExit(0)


def main(argv=None):
    started = time.monotonic()
    args = parse_args(argv)
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[
            min(args.verbose, 2)],
        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    args.state_dir = args.state_dir or tempfile.mkdtemp(
        prefix='redfish-emulator-')
    os.makedirs(args.state_dir, exist_ok=True)
    app = install(build_config(args))
    server = wsgi.Server(
        (args.host, args.port), EmulatorMiddleware(app),
        numthreads=args.threads, request_queue_size=1024,
        shutdown_timeout=1, server_name='bootflow-redfish-emulator')
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.prepare()
    port = server.bind_addr[1]
    sys.stderr.write('redfish emulator: %d systems on %s:%d, ready in '
                     '%.2fs\n' % (args.systems, args.host, port,
                                  time.monotonic() - started))
    print('READY %d' % port, flush=True)
    try:
        server.serve()
    finally:
        server.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
