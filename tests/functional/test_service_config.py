"""The service under non-default configurations: HTTP basic auth, a
saturated worker pool, and a conductor killed in the middle of work."""

import base64
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest
import requests

from tests.functional import conftest as ft

pytestmark = pytest.mark.functional
HEADERS = {ft.VERSION_HEADER: '1.115'}
BAREMETAL = str(Path(sys.executable).parent / 'baremetal') \
    if (Path(sys.executable).parent / 'baremetal').exists() \
    else shutil.which('baremetal')


@pytest.fixture
def managed_only():
    if os.environ.get('BOOTFLOW_TEST_ENDPOINT'):
        pytest.skip('needs a service this test starts itself')


def _start(tmp_path_factory, extra, auth=None):
    return ft.start_service('sqlite', tmp_path_factory.mktemp('cfg'),
                            extra_config=extra, auth=auth)


def _cli(svc, *args, auth_args=()):
    env = dict(os.environ, HOME=str(svc.home))
    env = {k: v for k, v in env.items() if not k.startswith('OS_')}
    return subprocess.run(
        [BAREMETAL, *auth_args, '--os-endpoint', svc.endpoint, *args],
        capture_output=True, text=True, env=env, timeout=120)


def test_http_basic_auth(managed_only, tmp_path_factory, tmp_path):
    htpasswd = tmp_path / 'htpasswd'
    hashed = bcrypt.hashpw(b's3cret', bcrypt.gensalt(rounds=5)).decode()
    htpasswd.write_text('admin:%s\n' % hashed.replace('$2b$', '$2y$'))
    svc = _start(tmp_path_factory,
                 {'DEFAULT': {'auth_strategy': 'http_basic',
                              'http_basic_auth_user_file': htpasswd}},
                 auth=('admin', 's3cret'))
    try:
        # version discovery needs no credentials, everything else does
        assert requests.get(svc.url('/'), timeout=10).status_code == 200
        resp = requests.get(svc.url('/v1/nodes'), headers=HEADERS,
                            timeout=10)
        assert resp.status_code == 401
        ft.assert_ironic_error(resp, 401)
        assert resp.headers['WWW-Authenticate'].startswith('Basic')
        ok = _cli(svc, 'node', 'create', '--driver', 'fake-hardware',
                  '--name', 'basic1', '-f', 'value', '-c', 'name',
                  auth_args=('--os-auth-type', 'http_basic',
                             '--os-username', 'admin',
                             '--os-password', 's3cret'))
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.strip() == 'basic1'
        bad = _cli(svc, 'node', 'list',
                   auth_args=('--os-auth-type', 'http_basic',
                              '--os-username', 'admin',
                              '--os-password', 'wrong'))
        assert bad.returncode != 0
        assert 'Incorrect username or password' in bad.stderr or \
            '401' in bad.stderr, bad.stderr
        token = base64.b64encode(b'admin:s3cret').decode()
        resp = requests.get(svc.url('/v1/nodes/basic1'), timeout=10,
                            headers=dict(HEADERS,
                                         Authorization='Basic ' + token))
        assert resp.json()['name'] == 'basic1'
    finally:
        svc.stop()


def _create_available(api_url, name, delay):
    resp = requests.post(api_url + '/v1/nodes', headers=HEADERS, timeout=10,
                         json={'driver': 'fake-hardware', 'name': name,
                               'driver_info': {'fake_deploy_delay': delay}})
    assert resp.status_code == 201, resp.text
    for target, state in (('manage', 'manageable'),
                          ('provide', 'available')):
        # the lock outlives the state change by a moment: clients retry
        # 409 (ironicclient does)
        url = api_url + '/v1/nodes/%s/states/provision' % name

        def attempt():
            r = requests.put(url, json={'target': target}, headers=HEADERS,
                             timeout=10)
            return None if r.status_code == 409 else r
        resp = ft.wait_for(attempt, timeout=30)
        assert resp.status_code == 202, resp.text
        ft.wait_for(lambda: requests.get(
            api_url + '/v1/nodes/' + name, headers=HEADERS,
            timeout=10).json()['provision_state'] == state, timeout=30)


def _node(svc, name):
    return requests.get(svc.url('/v1/nodes/' + name), headers=HEADERS,
                        timeout=10).json()


def test_saturated_pool_answers_503_and_leaves_node_untouched(
        managed_only, tmp_path_factory):
    svc = _start(tmp_path_factory, {'conductor': {'workers_pool_size': 3}})
    try:
        names = ['busy%d' % i for i in range(3)] + ['spare']
        for name in names:
            _create_available(svc.endpoint, name,
                              '0' if name == 'spare' else '4')
        for name in names[:3]:
            resp = requests.put(
                svc.url('/v1/nodes/%s/states/provision' % name),
                json={'target': 'active'}, headers=HEADERS, timeout=10)
            assert resp.status_code == 202, resp.text
        resp = requests.put(svc.url('/v1/nodes/spare/states/provision'),
                            json={'target': 'active'}, headers=HEADERS,
                            timeout=10)
        assert resp.status_code == 503, resp.text
        ft.assert_ironic_error(resp, 503, 'free conductor workers')
        spare = _node(svc, 'spare')
        assert spare['provision_state'] == 'available'
        assert spare['reservation'] is None
        # once the pool drains, the same request goes through
        ft.wait_for(lambda: all(_node(svc, n)['provision_state'] == 'active'
                                for n in names[:3]), timeout=60)
        resp = requests.put(svc.url('/v1/nodes/spare/states/provision'),
                            json={'target': 'active'}, headers=HEADERS,
                            timeout=10)
        assert resp.status_code == 202, resp.text
        ft.wait_for(lambda: _node(svc, 'spare')['provision_state']
                    == 'active', timeout=30)
    finally:
        svc.stop()


def test_killed_all_in_one_resumes_its_deploys(managed_only,
                                               tmp_path_factory):
    """kill -9 in the middle of deploys; after a restart each one goes on
    from its last finished step and ends active — none stays locked or
    half-way, none is failed for the crash."""
    svc = _start(tmp_path_factory, {})
    names = ['victim%d' % i for i in range(4)]
    try:
        for name in names:
            _create_available(svc.endpoint, name, '3')
        for name in names:
            resp = requests.put(
                svc.url('/v1/nodes/%s/states/provision' % name),
                json={'target': 'active'}, headers=HEADERS, timeout=10)
            assert resp.status_code == 202, resp.text
        ft.wait_for(lambda: all(_node(svc, n)['deploy_step'] for n in names),
                    timeout=30)
        # the deploy step is running on every node right now
        assert all(_node(svc, n)['reservation'] == ft.CONDUCTOR_HOST
                   for n in names)
        svc.signal(signal.SIGKILL)
        svc.proc.wait(timeout=30)
        conf = svc.workdir / 'bootflow.conf'
        log = open(svc.log_path, 'ab')
        svc.proc = subprocess.Popen(
            [sys.executable, '-m', 'bootflow.cmd.aio', '--config-file',
             str(conf)], cwd=str(ft.REPO_ROOT), env=ft._child_env(),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        ft._wait_ready(svc)
        ft.wait_for(lambda: all(_node(svc, n)['provision_state'] == 'active'
                                for n in names), timeout=60)
        for name in names:
            node = _node(svc, name)
            assert node['reservation'] is None, node
            assert node['last_error'] is None, node
            assert node['power_state'] == 'power on', node
            assert node['deploy_step'] == {}, node
        with open(svc.log_path) as f:
            assert 'Resuming 4 node(s)' in f.read()
    finally:
        svc.stop()


def _rabbit_available():
    import socket
    try:
        socket.create_connection(('127.0.0.1', 5672), timeout=2).close()
        return True
    except OSError:
        return False


def test_split_api_and_conductor_over_rabbitmq(managed_only, tmp_path):
    """bootflow-api and bootflow-conductor as separate processes, talking
    over RabbitMQ on an exchange of their own."""
    if not _rabbit_available():
        pytest.skip('RabbitMQ is not listening on 127.0.0.1:5672')
    port = ft._free_port()
    # RabbitMQ queues are named after topic and host, whatever the
    # exchange: a host of its own keeps other runs on this broker out
    host = ft.unique('split')
    conf = ft._write_config(tmp_path, port,
                            'sqlite:///%s' % (tmp_path / 'bf.sqlite'), {
                                'DEFAULT': {
                                    'transport_url':
                                        'rabbit://guest:guest@127.0.0.1:5672/',
                                    'control_exchange':
                                        'bf-ft-%s' % ft.unique('x')}},
                            host=host)
    procs = []
    try:
        subprocess.run([sys.executable, '-m', 'bootflow.cmd.dbsync',
                        '--config-file', str(conf), 'upgrade'],
                       check=True, cwd=str(ft.REPO_ROOT), env=ft._child_env(),
                       capture_output=True, timeout=120)
        for module in ('conductor', 'api'):
            log = open(tmp_path / ('%s.log' % module), 'wb')
            procs.append(subprocess.Popen(
                [sys.executable, '-m', 'bootflow.cmd.%s' % module,
                 '--config-file', str(conf)], cwd=str(ft.REPO_ROOT),
                env=ft._child_env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True))
            log.close()
        svc = ft.Service('sqlite', 'http://127.0.0.1:%d' % port, tmp_path,
                         managed=True, proc=procs[-1],
                         log_path=tmp_path / 'api.log', host=host)
        ft._wait_ready(svc)
        url = svc.url('/v1/nodes')
        resp = requests.post(url, json={'driver': 'fake-hardware',
                                        'name': 'split1'},
                             headers=HEADERS, timeout=10)
        assert resp.status_code == 201, resp.text
        resp = requests.put(url + '/split1/states/provision',
                            json={'target': 'manage'}, headers=HEADERS,
                            timeout=30)
        assert resp.status_code == 202, resp.text
        node = ft.wait_for(lambda: (lambda n: n if n['provision_state'] ==
                                    'manageable' else None)(
            requests.get(url + '/split1', headers=HEADERS,
                         timeout=10).json()), timeout=30)
        assert node['power_state'] == 'power off'
        # a synchronous call answered by the other process
        resp = requests.get(url + '/split1/validate', headers=HEADERS,
                            timeout=30)
        assert resp.json()['power'] == {'result': True}
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
