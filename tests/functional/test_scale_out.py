"""Two conductors and two API processes on RabbitMQ and PostgreSQL.

Nodes are spread over the conductors by the hash ring; one conductor is
killed with SIGKILL in the middle of 50 deploys; the other takes its
nodes over and every deploy ends (none locked, none half-way); the killed
conductor comes back and joins the ring again.
"""

import os
import signal
import subprocess
import sys
import uuid

import pytest
import requests

from tests.functional import conftest as ft

pytestmark = pytest.mark.functional
HEADERS = {ft.VERSION_HEADER: '1.115'}
NODES = 50


class Cluster:
    """The processes of one deployment, each with its own config file."""

    def __init__(self, workdir, database):
        self.workdir = workdir
        self.database = database
        tag = uuid.uuid4().hex[:8]
        self.exchange = 'bf-scale-%s' % tag
        # RabbitMQ queues are named after topic and host, whatever the
        # exchange: hosts of their own keep other runs on this broker out
        self.prefix = 'so%s-' % tag
        self.procs = {}
        self.ports = {}

    def config(self, name, port=None):
        path = self.workdir / ('%s.conf' % name)
        path.write_text(
            '[DEFAULT]\n'
            'host = %(prefix)s%(name)s\n'
            'state_path = %(state)s\n'
            'transport_url = rabbit://guest:guest@127.0.0.1:5672/\n'
            'control_exchange = %(exchange)s\n'
            'hash_ring_reset_interval = 1\n'
            '\n[api]\nhost_ip = 127.0.0.1\nport = %(port)d\n'
            '\n[database]\n'
            'connection = postgresql+psycopg2://postgres@127.0.0.1/%(db)s\n'
            '\n[conductor]\n'
            'heartbeat_interval = 1\n'
            'heartbeat_timeout = 5\n'
            'check_provision_state_interval = 1\n'
            'sync_power_state_interval = 0\n'
            'node_locked_retry_attempts = 5\n'
            % {'name': name, 'prefix': self.prefix,
               'state': self.workdir / name,
               'exchange': self.exchange, 'port': port or 0,
               'db': self.database})
        return path

    def run(self, *args):
        subprocess.run([sys.executable, '-m', *args], check=True,
                       cwd=str(ft.REPO_ROOT), env=ft._child_env(),
                       capture_output=True, timeout=120)

    def start(self, name, module, port=None):
        conf = self.config(name, port)
        if port:
            self.ports[name] = port
        log = open(self.workdir / ('%s.log' % name), 'ab')
        self.procs[name] = subprocess.Popen(
            [sys.executable, '-m', 'bootflow.cmd.%s' % module,
             '--config-file', str(conf)], cwd=str(ft.REPO_ROOT),
            env=ft._child_env(), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def kill(self, name):
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self):
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def url(self, api, path):
        return 'http://127.0.0.1:%d%s' % (self.ports[api], path)

    def get(self, api, path):
        resp = requests.get(self.url(api, path), headers=HEADERS,
                            timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def log_tail(self, name, lines=40):
        try:
            with open(self.workdir / ('%s.log' % name)) as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return ''


@pytest.fixture
def cluster(tmp_path):
    if os.environ.get('BOOTFLOW_TEST_ENDPOINT'):
        pytest.skip('needs processes this test starts itself')
    reason = ft._pg_available() or ft.ensure_rabbit()
    if reason:
        pytest.skip(reason)
    name = ft._pg_create_database()
    c = Cluster(tmp_path, name)
    try:
        yield c
    finally:
        c.stop_all()
        for proc in ('c1', 'c2', 'a1', 'a2'):
            tail = c.log_tail(proc)
            if 'Traceback' in tail:
                print('--- %s log tail ---\n%s' % (proc, tail))
        ft._pg_drop_database(name)


def _short(cluster, host):
    return host[len(cluster.prefix):] if host else host


def _alive(cluster, api='a1'):
    return {_short(cluster, c['hostname']): c['alive']
            for c in cluster.get(api, '/v1/conductors')['conductors']}


def _nodes(cluster, api='a1'):
    """Nodes, with conductor and reservation as short names (c1, c2)."""
    nodes = cluster.get(api, '/v1/nodes/detail')['nodes']
    for node in nodes:
        node['conductor'] = _short(cluster, node['conductor'])
        node['reservation'] = _short(cluster, node['reservation'])
    return nodes


def _provision_all(cluster, names, target):
    for i, name in enumerate(names):
        api = ('a1', 'a2')[i % 2]
        resp = requests.put(
            cluster.url(api, '/v1/nodes/%s/states/provision' % name),
            json={'target': target}, headers=HEADERS, timeout=60)
        assert resp.status_code == 202, (name, resp.text)


def _wait_all(cluster, names, states, timeout=120):
    wanted = set(names)

    def done():
        nodes = [n for n in _nodes(cluster) if n['name'] in wanted]
        if all(n['provision_state'] in states and n['reservation'] is None
               for n in nodes):
            return nodes
        return None
    return ft.wait_for(done, timeout=timeout, interval=0.5,
                       message='all nodes in %s' % (states,))


def test_two_conductors_survive_a_kill(cluster):
    cluster.run('bootflow.cmd.dbsync', '--config-file',
                str(cluster.config('dbsync')), 'upgrade')
    cluster.start('c1', 'conductor')
    cluster.start('c2', 'conductor')
    cluster.start('a1', 'api', ft._free_port())
    cluster.start('a2', 'api', ft._free_port())
    # both APIs must answer, not only the one _alive asks
    ft.wait_for(lambda: _alive_or_none(cluster) == {'c1': True, 'c2': True}
                and _alive_or_none(cluster, 'a2') is not None,
                timeout=60, message='both conductors alive, both APIs up')

    names = ['so-%02d' % i for i in range(NODES)]
    for i, name in enumerate(names):
        resp = requests.post(
            cluster.url(('a1', 'a2')[i % 2], '/v1/nodes'), headers=HEADERS,
            timeout=30, json={'driver': 'fake-hardware', 'name': name,
                              'driver_info': {'fake_deploy_delay': '2-4'}})
        assert resp.status_code == 201, resp.text
    _provision_all(cluster, names, 'manage')
    _wait_all(cluster, names, {'manageable'})
    _provision_all(cluster, names, 'provide')
    nodes = _wait_all(cluster, names, {'available'})
    # the ring spreads the nodes over both conductors
    owners = {n['name']: n['conductor'] for n in nodes}
    assert set(owners.values()) == {'c1', 'c2'}, owners
    on_c1 = [name for name, host in owners.items() if host == 'c1']

    _provision_all(cluster, names, 'active')
    ft.wait_for(lambda: any(n['reservation'] == 'c1' and n['deploy_step']
                            for n in _nodes(cluster)),
                timeout=30, message='c1 deploying')
    cluster.kill('c1')
    ft.wait_for(lambda: _alive_or_none(cluster) == {'c1': False,
                                                    'c2': True},
                timeout=30, message='c1 seen dead')
    nodes = _wait_all(cluster, names, {'active', 'deploy failed'},
                      timeout=180)
    for node in nodes:
        if node['provision_state'] == 'deploy failed':
            assert node['last_error'], node
    # c2 now answers for every node
    assert {n['conductor'] for n in nodes} == {'c2'}
    taken_over = [n for n in nodes if n['name'] in on_c1]
    assert taken_over and all(n['provision_state'] == 'active'
                              for n in taken_over), [
        (n['name'], n['provision_state'], n['last_error'])
        for n in taken_over if n['provision_state'] != 'active']

    # the killed conductor comes back and takes its share again
    cluster.start('c1', 'conductor')
    ft.wait_for(lambda: _alive_or_none(cluster) == {'c1': True, 'c2': True},
                timeout=60, message='c1 back')
    ft.wait_for(lambda: {n['conductor'] for n in _nodes(cluster, 'a2')}
                == {'c1', 'c2'}, timeout=30, message='c1 back on the ring')
    back = [n['name'] for n in _nodes(cluster) if n['conductor'] == 'c1']
    _provision_all(cluster, back[:5], 'deleted')
    _wait_all(cluster, back[:5], {'available'})


def _alive_or_none(cluster, api='a1'):
    try:
        return _alive(cluster, api)
    except (requests.RequestException, AssertionError):
        return None
