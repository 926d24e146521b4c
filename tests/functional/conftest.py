"""Fixtures for bootflow's functional tests.

The tests drive a real bootflow all-in-one process (API + conductor) through
the real OpenStack clients (the ``baremetal`` CLI of python-ironicclient and
openstacksdk's baremetal proxy) and through raw HTTP.

Environment variables:

``BOOTFLOW_TEST_ENDPOINT``
    Use an already running server (e.g. ``http://127.0.0.1:16385``) instead
    of starting one.  PostgreSQL variants and the tests which need the
    ``fake_*_delay`` driver_info keys are skipped in this mode.
``BOOTFLOW_TEST_ENDPOINT_SLOW_DEPLOY``
    Only with ``BOOTFLOW_TEST_ENDPOINT``: set it to ``1`` when the external
    server's deployments take long enough for the node-locked tests (e.g. a
    reference Ironic started with ``[fake] deploy_delay``); those tests then
    run instead of being skipped.
``BOOTFLOW_TEST_START_TIMEOUT``
    Seconds to wait for a started service to become ready (default 45).
"""

import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
ENDPOINT_ENV = 'BOOTFLOW_TEST_ENDPOINT'
SLOW_DEPLOY_ENV = 'BOOTFLOW_TEST_ENDPOINT_SLOW_DEPLOY'
CONDUCTOR_HOST = 'ft-conductor'
VERSION_HEADER = 'X-OpenStack-Ironic-API-Version'
MIN_VERSION_HEADER = 'X-OpenStack-Ironic-API-Minimum-Version'
MAX_VERSION_HEADER = 'X-OpenStack-Ironic-API-Maximum-Version'
START_TIMEOUT = float(os.environ.get('BOOTFLOW_TEST_START_TIMEOUT', '45'))
STOP_TIMEOUT = 15.0
HTTP_TIMEOUT = 30.0


# --------------------------------------------------------------------------
# pytest hooks
# --------------------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line(
        'markers',
        'functional: functional test against a running bootflow service '
        '(starts bootflow.cmd.aio, or uses BOOTFLOW_TEST_ENDPOINT)')
    config.addinivalue_line(
        'markers',
        'incremental: steps of one scenario; once a step fails the later '
        'steps of the same scenario (and parameter) are skipped')
    config.addinivalue_line(
        'markers',
        'needs_fake_delay: needs the driver_info fake_*_delay keys of the '
        'service (skipped against an external endpoint)')


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        try:
            inside = Path(str(item.fspath)).resolve().is_relative_to(here)
        except (AttributeError, ValueError):
            inside = False
        if inside:
            item.add_marker(pytest.mark.functional)


_INCREMENTAL_FAILED = {}


def _incremental_key(item):
    callspec = getattr(item, 'callspec', None)
    param_id = callspec.id if callspec is not None else ''
    scope = item.cls if item.cls is not None else item.module
    return (id(scope), param_id)


def pytest_runtest_setup(item):
    if item.get_closest_marker('incremental') is not None:
        failed = _INCREMENTAL_FAILED.get(_incremental_key(item))
        if failed:
            pytest.skip('previous step failed: %s' % failed)
    if item.get_closest_marker('needs_fake_delay') is not None:
        if os.environ.get(ENDPOINT_ENV) and \
                os.environ.get(SLOW_DEPLOY_ENV) != '1':
            pytest.skip('needs driver_info fake_*_delay support, not '
                        'available with %s' % ENDPOINT_ENV)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    if item.get_closest_marker('incremental') is not None:
        _INCREMENTAL_FAILED.setdefault(_incremental_key(item), item.name)
    seen = set()
    for value in getattr(item, 'funcargs', {}).values():
        svc = value if isinstance(value, Service) else \
            getattr(value, 'service', None)
        if isinstance(svc, Service) and id(svc) not in seen:
            seen.add(id(svc))
            tail = svc.log_tail()
            if tail:
                rep.sections.append(
                    ('service log tail (%s)' % svc.backend, tail))


# --------------------------------------------------------------------------
# Small helpers shared by the test modules
# --------------------------------------------------------------------------

def unique(prefix='ft'):
    """A short unique name, safe to reuse against a long-lived server."""
    return '%s-%s' % (prefix, uuid.uuid4().hex[:10])


def random_mac():
    """A random locally administered unicast MAC address."""
    octets = [0x52, 0x54] + list(os.urandom(4))
    return ':'.join('%02x' % o for o in octets)


def wait_for(predicate, timeout=60.0, interval=0.25, message='condition'):
    """Poll ``predicate`` until it returns a truthy value or time runs out.

    Returns the truthy value.  On timeout raises AssertionError showing the
    last value returned (or exception raised) by the predicate.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
        except Exception as exc:  # keep polling, but remember why
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError('timed out after %.0fs waiting for %s; '
                                 'last value: %r' % (timeout, message, last))
        time.sleep(interval)


def decode_error(response):
    """Decode Ironic's error body.

    Ironic wraps its error document as a JSON *string* in ``error_message``:
    ``{"error_message": "{\\"faultstring\\": ..., \\"faultcode\\": ...,
    \\"debuginfo\\": ...}"}``.  Returns the inner dict.
    """
    body = response.json()
    assert isinstance(body, dict) and 'error_message' in body, \
        'no error_message in error body: %r' % (body,)
    inner = body['error_message']
    assert isinstance(inner, str), \
        'error_message must be a JSON string, got %r' % (inner,)
    decoded = json.loads(inner)
    assert isinstance(decoded, dict), decoded
    return decoded


def assert_ironic_error(response, status, *fragments):
    """Assert an Ironic-style fault with the given status and message."""
    assert response.status_code == status, \
        'expected HTTP %s, got %s: %s' % (status, response.status_code,
                                          response.text[:2000])
    fault = decode_error(response)
    assert set(fault) >= {'faultstring', 'faultcode', 'debuginfo'}, fault
    assert isinstance(fault['faultstring'], str) and fault['faultstring']
    expected_code = 'Client' if status < 500 else 'Server'
    assert fault['faultcode'] == expected_code, fault
    for fragment in fragments:
        assert fragment.lower() in fault['faultstring'].lower(), \
            '%r not in faultstring %r' % (fragment, fault['faultstring'])
    for header in (MIN_VERSION_HEADER, MAX_VERSION_HEADER, VERSION_HEADER):
        assert header in response.headers, \
            '%s missing from error response headers %r' % (
                header, dict(response.headers))
    return fault


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def free_udp_ports(count):
    """The first of ``count`` consecutive free UDP ports on 127.0.0.1 (a
    lab's IPMI endpoints count up from one)."""
    for _ in range(50):
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)]
        try:
            socks[0].bind(('127.0.0.1', 0))
            base = socks[0].getsockname()[1]
            for port in range(base + 1, base + count):
                socks.append(socket.socket(socket.AF_INET,
                                           socket.SOCK_DGRAM))
                socks[-1].bind(('127.0.0.1', port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError('no %d consecutive free UDP ports' % count)


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------

def _pg_connect(dbname='postgres'):
    import psycopg2
    return psycopg2.connect(host='127.0.0.1', user='postgres',
                            dbname=dbname, connect_timeout=3)


def _rabbit_listening():
    try:
        socket.create_connection(('127.0.0.1', 5672), timeout=2).close()
        return True
    except OSError:
        return False


def ensure_rabbit():
    """None when RabbitMQ answers on 127.0.0.1:5672 (starting it if it is
    installed but stopped), else why not."""
    if _rabbit_listening():
        return None
    try:
        subprocess.run(['rabbitmq-server', '-detached'], timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 'RabbitMQ is not running and cannot be started: %s' % e
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if _rabbit_listening():
            return None
        time.sleep(1)
    return 'RabbitMQ did not start listening on 127.0.0.1:5672'


def _pg_available():
    """Return None when PostgreSQL is reachable, else the reason it is not."""
    try:
        importlib.import_module('psycopg2')
    except ImportError as exc:
        return 'psycopg2 not importable: %s' % exc
    try:
        _pg_connect().close()
        return None
    except Exception as exc:
        first_error = exc
    # Best effort: start the local cluster, then retry for a short while.
    try:
        versions = os.listdir('/etc/postgresql')
    except OSError:
        versions = []
    for version in versions:
        try:
            subprocess.run(['pg_ctlcluster', '--skip-systemctl-redirect',
                            version, 'main', 'start'],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60,
                           check=False)
        except Exception:
            pass
    if not versions:
        return 'PostgreSQL not reachable: %s' % first_error
    deadline = time.monotonic() + 15
    while True:
        try:
            _pg_connect().close()
            return None
        except Exception as exc:
            if time.monotonic() > deadline:
                return 'PostgreSQL not reachable: %s' % exc
            time.sleep(0.5)


def _pg_create_database():
    name = 'bf_ft_%s' % uuid.uuid4().hex[:12]
    conn = _pg_connect()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute('CREATE DATABASE "%s"' % name)
    finally:
        conn.close()
    return name


def _pg_drop_database(name):
    conn = _pg_connect()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            try:
                cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
            except Exception:
                cur.execute('DROP DATABASE IF EXISTS "%s"' % name)
    finally:
        conn.close()


# --------------------------------------------------------------------------
# The service under test
# --------------------------------------------------------------------------

class Service:
    """A bootflow all-in-one process (or an external endpoint)."""

    def __init__(self, backend, endpoint, workdir, managed, proc=None,
                 log_path=None, pg_database=None, host=CONDUCTOR_HOST):
        self.host = host
        self.backend = backend
        self.endpoint = endpoint.rstrip('/')
        self.workdir = Path(workdir)
        self.managed = managed
        self.proc = proc
        self.log_path = log_path
        self.pg_database = pg_database
        self.auth = None
        # HOME for the CLI, so ironicclient's version cache (~/.cache) is
        # private to this server.
        self.home = self.workdir / 'home'
        self.home.mkdir(parents=True, exist_ok=True)

    def __repr__(self):
        return '<Service %s %s>' % (self.backend, self.endpoint)

    def url(self, path=''):
        if path.startswith('http://') or path.startswith('https://'):
            return path
        return self.endpoint + '/' + path.lstrip('/')

    @property
    def conductor_host(self):
        return self.host if self.managed else None

    def log_tail(self, lines=60):
        if not self.log_path:
            return ''
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 64 * 1024))
                data = f.read().decode('utf-8', 'replace')
        except OSError:
            return ''
        return '\n'.join(data.splitlines()[-lines:])

    def signal(self, sig):
        """Signal the service's process group; False once it is gone."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return False
        # The service runs in its own session (start_new_session=True), so
        # its process group id is its pid: signal that group only.
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            proc.send_signal(sig)
        return True

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL if it is still running after timeout."""
        if not self.signal(signal.SIGTERM):
            return
        self.wait_stopped(timeout)

    def wait_stopped(self, timeout=STOP_TIMEOUT):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            sys.stderr.write('%r ignored SIGTERM for %.0fs; killing it\n'
                             % (self, timeout))
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def _write_config(workdir, port, connection, extra=None,
                  host=CONDUCTOR_HOST):
    conf = workdir / 'bootflow.conf'
    sections = ''
    extra = dict(extra or {})
    # The boot file server of every service binds a loopback port of its
    # own, so parallel services never collide on the default 8088.
    deploy = dict(extra.get('deploy') or {})
    deploy.setdefault('http_server_host', '127.0.0.1')
    deploy.setdefault('http_server_port', str(_free_port()))
    extra['deploy'] = deploy
    for section, options in extra.items():
        sections += '[%s]\n' % section
        sections += ''.join('%s = %s\n' % item for item in options.items())
        sections += '\n'
    standard = (
        '[DEFAULT]\n'
        'host = %(host)s\n'
        'state_path = %(state)s\n'
        '\n'
        '[api]\n'
        'host_ip = 127.0.0.1\n'
        'port = %(port)d\n'
        '\n'
        '[database]\n'
        'connection = %(conn)s\n'
        % {'host': host, 'state': workdir, 'port': port,
           'conn': connection})
    conf.write_text(sections + standard)
    return conf


def _child_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env['PYTHONUNBUFFERED'] = '1'
    env['PYTHONPATH'] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in env.get('PYTHONPATH', '').split(
            os.pathsep) if p])
    return env


def _wait_ready(svc):
    deadline = time.monotonic() + START_TIMEOUT
    last = 'no answer yet'
    url = svc.url('/v1/conductors')
    while True:
        rc = svc.proc.poll()
        if rc is not None:
            raise RuntimeError(
                'bootflow (%s) exited early with code %s; log tail:\n%s'
                % (svc.backend, rc, svc.log_tail(80)))
        try:
            resp = requests.get(url, headers={VERSION_HEADER: 'latest'},
                                auth=svc.auth, timeout=5)
            if resp.status_code == 200:
                conductors = resp.json().get('conductors', [])
                # Check the hostname too: should another server have grabbed
                # the port, this must not mistake it for ours.
                if any(c.get('alive') is True and
                       c.get('hostname') == svc.host
                       for c in conductors):
                    return
                last = 'conductors: %r' % (conductors,)
            else:
                last = 'HTTP %s: %s' % (resp.status_code, resp.text[:500])
        except (requests.RequestException, ValueError) as exc:
            last = repr(exc)
        if time.monotonic() > deadline:
            raise RuntimeError(
                'bootflow (%s) not ready after %.0fs (last: %s); log tail:\n'
                '%s' % (svc.backend, START_TIMEOUT, last, svc.log_tail(80)))
        time.sleep(0.2)


def start_service(backend, base_tmp, extra_config=None, auth=None):
    """Start bootflow.cmd.aio on a fresh database; return a ready Service.

    ``extra_config`` maps section -> {option: value}, written before the
    standard options (which win where both name the same one); ``auth`` is
    the (user, password) the readiness check sends.
    """
    workdir = Path(tempfile.mkdtemp(prefix='bf-%s-' % backend,
                                    dir=str(base_tmp)))
    pg_database = None
    if backend == 'sqlite':
        connection = 'sqlite:///%s' % (workdir / 'bootflow.sqlite')
    elif backend == 'postgresql':
        reason = _pg_available()
        if reason:
            pytest.skip(reason)
        pg_database = _pg_create_database()
        connection = 'postgresql+psycopg2://postgres@127.0.0.1/%s' % \
            pg_database
    else:
        raise ValueError(backend)
    port = _free_port()
    conf = _write_config(workdir, port, connection, extra_config)
    log_path = workdir / 'service.log'
    log = open(log_path, 'wb')
    try:
        proc = subprocess.Popen(
            [sys.executable, '-m', 'bootflow.cmd.aio', '--config-file',
             str(conf)],
            cwd=str(REPO_ROOT), env=_child_env(), stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()
    svc = Service(backend, 'http://127.0.0.1:%d' % port, workdir,
                  managed=True, proc=proc, log_path=log_path,
                  pg_database=pg_database)
    svc.auth = auth
    try:
        _wait_ready(svc)
    except Exception as exc:
        svc.stop()
        if pg_database:
            _drop_quietly(pg_database)
        pytest.fail(str(exc), pytrace=False)
    return svc


def _drop_quietly(name):
    try:
        _pg_drop_database(name)
    except Exception as exc:  # pragma: no cover - best effort
        sys.stderr.write('could not drop database %s: %s\n' % (name, exc))


class ServiceManager:
    """Starts at most one service per backend and stops them at the end."""

    def __init__(self, base_tmp):
        self.base_tmp = base_tmp
        self.services = {}
        self.failures = {}

    def get(self, backend):
        external = os.environ.get(ENDPOINT_ENV)
        if external:
            if backend != 'sqlite':
                pytest.skip('%s variant skipped: %s is set'
                            % (backend, ENDPOINT_ENV))
            if backend not in self.services:
                workdir = Path(tempfile.mkdtemp(prefix='bf-external-',
                                                dir=str(self.base_tmp)))
                self.services[backend] = Service('external', external,
                                                 workdir, managed=False)
            return self.services[backend]
        if backend in self.failures:
            # Do not retry a start that failed: fail fast with the reason.
            pytest.fail(self.failures[backend], pytrace=False)
        if backend not in self.services:
            try:
                self.services[backend] = start_service(backend,
                                                       self.base_tmp)
            except pytest.fail.Exception as exc:
                self.failures[backend] = str(exc)
                raise
        svc = self.services[backend]
        if svc.proc is not None and svc.proc.poll() is not None:
            pytest.fail('bootflow (%s) died (code %s); log tail:\n%s'
                        % (backend, svc.proc.returncode, svc.log_tail(80)),
                        pytrace=False)
        return svc

    def stop_all(self):
        # Signal all first so that they shut down in parallel.
        running = [svc for svc in self.services.values()
                   if svc.signal(signal.SIGTERM)]
        for svc in running:
            svc.wait_stopped()
        for svc in self.services.values():
            if svc.pg_database:
                _drop_quietly(svc.pg_database)


@pytest.fixture(scope='session')
def service_manager(tmp_path_factory):
    manager = ServiceManager(tmp_path_factory.mktemp('bootflow-ft'))
    yield manager
    manager.stop_all()


@pytest.fixture(scope='module', params=['sqlite', 'postgresql'])
def service(request, service_manager):
    """The service under test, once per database backend."""
    return service_manager.get(request.param)


@pytest.fixture(scope='session')
def sqlite_service(service_manager):
    """The SQLite-backed service (shared with the sqlite ``service``)."""
    return service_manager.get('sqlite')


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------

class HttpApi:
    """Raw HTTP access to the service, defaulting to the latest version."""

    def __init__(self, service, version='latest'):
        self.service = service
        self.session = requests.Session()
        if version:
            self.session.headers[VERSION_HEADER] = version

    def request(self, method, path, **kwargs):
        kwargs.setdefault('timeout', HTTP_TIMEOUT)
        return self.session.request(method, self.service.url(path), **kwargs)

    def get(self, path, **kwargs):
        return self.request('GET', path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request('POST', path, json=json, **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.request('PATCH', path, json=json, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self.request('PUT', path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.request('DELETE', path, **kwargs)

    # Convenience wrappers that assert success.
    def create_node(self, **body):
        body.setdefault('driver', 'fake-hardware')
        body.setdefault('name', unique('ft-node'))
        resp = self.post('/v1/nodes', json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def create_port(self, node_uuid, address=None, **body):
        body.update(node_uuid=node_uuid, address=address or random_mac())
        resp = self.post('/v1/ports', json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def node(self, ident):
        resp = self.get('/v1/nodes/%s' % ident)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def patch_node(self, ident, ops):
        resp = self.patch('/v1/nodes/%s' % ident, json=ops)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def provision(self, ident, target, expect=202):
        resp = self.put('/v1/nodes/%s/states/provision' % ident,
                        json={'target': target})
        assert resp.status_code == expect, resp.text
        return resp

    def wait_provision_state(self, ident, state, timeout=60):
        def check():
            # done means unlocked too: the conductor still writes the
            # end of its flow for a moment after the state changes
            node = self.node(ident)
            if node['provision_state'] == state and not \
                    node.get('target_provision_state') and \
                    node.get('reservation') is None:
                return node
            return False
        return wait_for(check, timeout=timeout,
                        message='node %s to reach %s' % (ident, state))

    def move_to(self, ident, state, timeout=60):
        """Walk a fresh node from enroll to manageable/available/active."""
        path = {'manageable': ['manage'],
                'available': ['manage', 'provide'],
                'active': ['manage', 'provide', 'active']}[state]
        reached = {'manage': 'manageable', 'provide': 'available',
                   'active': 'active'}
        node = None
        for verb in path:
            self.provision(ident, verb)
            node = self.wait_provision_state(ident, reached[verb], timeout)
        return node

    def delete_node_quietly(self, ident):
        """Best-effort removal of a test node, whatever its state."""
        try:
            resp = self.get('/v1/nodes/%s' % ident)
            if resp.status_code == 404:
                return
            node = resp.json()
            if node.get('maintenance'):
                self.delete('/v1/nodes/%s/maintenance' % ident)
            if node.get('instance_uuid'):
                self.patch('/v1/nodes/%s' % ident,
                           json=[{'op': 'remove', 'path': '/instance_uuid'}])
            if node.get('provision_state') in ('active', 'deploy failed'):
                self.put('/v1/nodes/%s/states/provision' % ident,
                         json={'target': 'deleted'})
                try:
                    node = wait_for(
                        lambda: self._undeploy_settled(ident), timeout=60,
                        interval=0.1, message='node %s undeployed' % ident)
                except AssertionError:
                    node = None
                if node is not None and node['provision_state'] in (
                        'clean wait', 'clean failed'):
                    # Cleaning that waits for an agent (e.g. the direct
                    # deploy interface) never ends without one: waiting
                    # for 'available' only ran into the timeout, then
                    # the delete was refused. In maintenance it is not.
                    self.put('/v1/nodes/%s/maintenance' % ident, json={})
            self.delete('/v1/nodes/%s' % ident)
        except requests.RequestException:
            pass

    def _undeploy_settled(self, ident):
        """The node once its undeploy no longer moves on by itself:
        available, or parked unlocked waiting for (or failed by) an
        agent's cleaning."""
        node = self.node(ident)
        if node.get('reservation') is not None:
            return False
        state = node['provision_state']
        if state == 'available' and not node.get('target_provision_state'):
            return node
        if state in ('clean wait', 'clean failed'):
            return node
        return False


@pytest.fixture(scope='module')
def api(service):
    return HttpApi(service)


@pytest.fixture(scope='session')
def sqlite_api(sqlite_service):
    return HttpApi(sqlite_service)


@pytest.fixture
def node_cleanup(request):
    """Collect (api, node ident) pairs; delete those nodes after the test."""
    created = []
    yield created
    for client, ident in reversed(created):
        client.delete_node_quietly(ident)


class BaremetalCLI:
    """Runs the real ``baremetal`` CLI (python-ironicclient OSC plugin)."""

    def __init__(self, service):
        self.service = service
        exe = Path(sys.executable).parent / 'baremetal'
        if not exe.exists():
            found = shutil.which('baremetal')
            if not found:
                pytest.skip('the baremetal CLI is not installed')
            exe = Path(found)
        self.exe = str(exe)

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
        env['HOME'] = str(self.service.home)
        env.pop('XDG_CACHE_HOME', None)
        env.pop('XDG_CONFIG_HOME', None)
        return env

    def run(self, *args, check=True, timeout=180):
        cmd = [self.exe, '--os-auth-type', 'none',
               '--os-endpoint', self.service.endpoint] + [str(a) for a in args]
        proc = subprocess.run(cmd, env=self.env(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(
                'baremetal %s failed with code %s\nstdout:\n%s\nstderr:\n%s'
                % (' '.join(str(a) for a in args), proc.returncode,
                   proc.stdout[-3000:], proc.stderr[-3000:]))
        return proc

    def json(self, *args, timeout=180):
        proc = self.run(*(list(args) + ['-f', 'json']), timeout=timeout)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise AssertionError('baremetal %s printed no JSON:\n%s\n%s'
                                 % (' '.join(args), proc.stdout,
                                    proc.stderr))

    def fails(self, *args, timeout=180):
        """Run a command expected to fail; return its CompletedProcess."""
        proc = self.run(*args, check=False, timeout=timeout)
        assert proc.returncode != 0, \
            'baremetal %s unexpectedly succeeded:\n%s' % (
                ' '.join(str(a) for a in args), proc.stdout)
        return proc


@pytest.fixture(scope='module')
def cli(service):
    return BaremetalCLI(service)


@pytest.fixture(scope='session')
def sqlite_cli(sqlite_service):
    return BaremetalCLI(sqlite_service)


class SdkClient:
    """An openstacksdk Connection bound to the service, with no auth."""

    def __init__(self, service):
        import openstack
        self.service = service
        self.conn = openstack.connect(
            auth_type='none',
            baremetal_endpoint_override=service.endpoint,
            # Fail fast on 409 instead of retrying for ~10 s: the tests
            # want to see conflicts.
            baremetal_status_code_retries=0,
            load_yaml_config=False,
            load_envvars=False,
        )
        self.baremetal = self.conn.baremetal

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


@pytest.fixture(scope='module')
def sdk(service):
    client = SdkClient(service)
    yield client
    client.close()
