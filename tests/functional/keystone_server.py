"""A real Keystone for the tests: the ``keystone`` package on SQLite.

``keystone-manage db_sync`` + ``fernet_setup`` + ``bootstrap``, then its
WSGI application served by cheroot on a free loopback port, in its own
process. Setting it up takes about 5 s, so test modules share one per
module.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

ADMIN_PASSWORD = 'keystone-admin-secret'
REGION = 'RegionOne'
START_TIMEOUT = 60

_SERVE = '''
import os
from cheroot import wsgi as cheroot_wsgi
from keystone.server import wsgi
app = wsgi.initialize_public_application()
port = int(os.environ['BOOTFLOW_TEST_KEYSTONE_PORT'])
server = cheroot_wsgi.Server(('127.0.0.1', port), app,
                             numthreads=8)
server.start()
'''


def _manage():
    exe = Path(sys.executable).parent / 'keystone-manage'
    return str(exe)


class KeystoneServer:
    def __init__(self, workdir, port, token_expiration=3600):
        self.workdir = Path(workdir)
        self.port = port
        self.url = 'http://127.0.0.1:%d/v3' % port
        self.token_expiration = token_expiration
        self.proc = None
        self.conf = self.workdir / 'keystone.conf'
        self.log_path = self.workdir / 'keystone.log'
        self._admin = None

    def _write_conf(self):
        w = self.workdir
        self.conf.write_text(
            '[DEFAULT]\nlog_file = %(log)s\n\n'
            '[database]\nconnection = sqlite:///%(w)s/keystone.sqlite\n\n'
            '[token]\nprovider = fernet\nexpiration = %(exp)d\n\n'
            '[fernet_tokens]\nkey_repository = %(w)s/fernet\n\n'
            '[fernet_receipts]\nkey_repository = %(w)s/receipts\n\n'
            '[credential]\nkey_repository = %(w)s/credential\n'
            % {'w': w, 'exp': self.token_expiration,
               'log': self.workdir / 'keystone-manage.log'})

    def _run_manage(self, *args):
        proc = subprocess.run(
            [_manage(), '--config-file', str(self.conf)] + list(args),
            capture_output=True, text=True, timeout=180,
            stdin=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:
            raise RuntimeError('keystone-manage %s failed: %s%s' % (
                args[0], proc.stdout[-2000:], proc.stderr[-2000:]))

    def start(self):
        self._write_conf()
        self._run_manage('db_sync')
        user = os.getuid()
        group = os.getgid()
        for cmd in ('fernet_setup', 'credential_setup'):
            self._run_manage(cmd, '--keystone-user', str(user),
                             '--keystone-group', str(group))
        self._run_manage(
            'bootstrap', '--bootstrap-password', ADMIN_PASSWORD,
            '--bootstrap-admin-url', self.url,
            '--bootstrap-public-url', self.url,
            '--bootstrap-internal-url', self.url,
            '--bootstrap-region-id', REGION)
        # keystone reads sys.argv as its own options: the port goes in the
        # environment
        env = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=str(self.conf),
                   BOOTFLOW_TEST_KEYSTONE_PORT=str(self.port))
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(
                [sys.executable, '-c', _SERVE], env=env,
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('keystone exited: %s' % self.log_tail())
            try:
                if requests.get(self.url, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError('keystone did not answer on %s: %s'
                                   % (self.url, self.log_tail()))
            time.sleep(0.2)

    def log_tail(self, lines=40):
        try:
            text = self.log_path.read_text(errors='replace')
        except OSError:
            return ''
        return '\n'.join(text.splitlines()[-lines:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)

    # -- identity administration ---------------------------------------------

    def session(self, username, password, project=None, system=False):
        """A keystoneauth1 session for a user, project- or system-scoped."""
        kwargs = dict(auth_url=self.url, username=username,
                      password=password, user_domain_id='default')
        if system:
            kwargs['system_scope'] = 'all'
        elif project:
            kwargs.update(project_name=project, project_domain_id='default')
        return ks_session.Session(auth=v3.Password(**kwargs))

    @property
    def admin(self):
        if self._admin is None:
            self._admin = self.session('admin', ADMIN_PASSWORD, system=True)
        return self._admin

    def _post(self, path, key, body):
        resp = self.admin.post(self.url + path, json={key: body})
        return resp.json()[key]

    def _find(self, path, key, name):
        found = self.admin.get(self.url + path, params={'name': name}
                               ).json()[key]
        return found[0] if found else None

    def role(self, name):
        return (self._find('/roles', 'roles', name)
                or self._post('/roles', 'role', {'name': name}))

    def project(self, name):
        return (self._find('/projects', 'projects', name)
                or self._post('/projects', 'project',
                              {'name': name, 'domain_id': 'default'}))

    def user(self, name, password, project, roles):
        """A user with ``roles`` on ``project``; returns the project's id."""
        project_id = self.project(project)['id']
        user = self._find('/users', 'users', name) or self._post(
            '/users', 'user', {'name': name, 'password': password,
                               'domain_id': 'default',
                               'default_project_id': project_id})
        for role in roles:
            self.admin.put(self.url + '/projects/%s/users/%s/roles/%s' % (
                project_id, user['id'], self.role(role)['id']))
        return project_id

    def system_user(self, name, password, roles):
        user = self._find('/users', 'users', name) or self._post(
            '/users', 'user', {'name': name, 'password': password,
                               'domain_id': 'default'})
        for role in roles:
            self.admin.put(self.url + '/system/users/%s/roles/%s' % (
                user['id'], self.role(role)['id']))

    def register_endpoint(self, service_type, name, url):
        """A catalog entry, as a deployer registers bootflow's API."""
        service = self._post('/services', 'service',
                             {'type': service_type, 'name': name})
        for interface in ('public', 'internal', 'admin'):
            self._post('/endpoints', 'endpoint', {
                'service_id': service['id'], 'interface': interface,
                'region_id': REGION, 'url': url})
        return service
