"""bootflow behind a real Keystone, driven by the ``baremetal`` CLI.

Keystone (the PyPI package, on SQLite) issues the tokens, keeps the
catalog the CLI finds bootflow in, and validates tokens for bootflow's
auth_token middleware with bootflow's own service user. Who sees and may
change which node follows the node's owner and lessee (Ironic's secure
RBAC defaults).
"""

import datetime
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import openstack
import pytest
import requests

from tests.functional import conftest
from tests.functional import nova_driver as nova
from tests.functional.keystone_server import ADMIN_PASSWORD
from tests.functional.keystone_server import KeystoneServer

# seconds the expiring token of test_expired_token_is_401 lives
SHORT_LIFETIME = 15
PASSWORD = 'user-secret'
VERSION = {'X-OpenStack-Ironic-API-Version': 'latest'}


class _TokenAuth(requests.auth.AuthBase):
    """requests auth from a keystoneauth1 session: a fresh token whenever
    the last one is about to expire."""

    def __init__(self, session):
        self.session = session

    def __call__(self, request):
        request.headers['X-Auth-Token'] = self.session.get_token()
        return request


@pytest.fixture(scope='module')
def keystone(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('keystone')
    server = KeystoneServer(workdir, conftest._free_port())
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture(scope='module')
def world(keystone, tmp_path_factory):
    """Projects, users, bootflow's service user, and bootflow itself."""
    ids = {
        'owner': keystone.user('alice', PASSWORD, 'owner-proj', ['member']),
        'lessee': keystone.user('bob', PASSWORD, 'lessee-proj', ['member']),
        'other': keystone.user('carol', PASSWORD, 'other-proj', ['member']),
    }
    keystone.user('bootflow', PASSWORD, 'service', ['service'])
    auth = {
        'www_authenticate_uri': keystone.url, 'auth_url': keystone.url,
        'auth_type': 'password', 'username': 'bootflow',
        'password': PASSWORD, 'project_name': 'service',
        'user_domain_name': 'Default', 'project_domain_name': 'Default',
    }
    base = tmp_path_factory.mktemp('bootflow-keystone')
    # an operator's override: system admins see BMC passwords
    policy_file = base / 'policy.yaml'
    policy_file.write_text(
        '"show_password": "role:admin and system_scope:all"\n')
    svc = conftest.start_service(
        'sqlite', base, {'DEFAULT': {'auth_strategy': 'keystone'},
                         'keystone_authtoken': auth,
                         'oslo_policy': {'policy_file': str(policy_file)}},
        auth=_TokenAuth(keystone.admin))
    keystone.register_endpoint('baremetal', 'bootflow', svc.endpoint)
    yield {'svc': svc, 'ids': ids, 'keystone': keystone}
    svc.stop()


class CLI:
    """The baremetal CLI with password credentials, endpoint from the
    catalog: what an operator with a clouds.yaml does."""

    def __init__(self, keystone, home, user, password, project=None):
        exe = Path(sys.executable).parent / 'baremetal'
        self.cmd = [str(exe)]
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith('OS_')}
        self.env.update(
            HOME=str(home), OS_AUTH_URL=keystone.url, OS_USERNAME=user,
            OS_PASSWORD=password, OS_USER_DOMAIN_NAME='Default',
            OS_IDENTITY_API_VERSION='3', OS_INTERFACE='public',
            OS_REGION_NAME='RegionOne',
            OS_BAREMETAL_API_VERSION='latest')
        if project:
            self.env.update(OS_PROJECT_NAME=project,
                            OS_PROJECT_DOMAIN_NAME='Default')
        else:
            self.env['OS_SYSTEM_SCOPE'] = 'all'

    def run(self, *args):
        return subprocess.run(self.cmd + [str(a) for a in args],
                              env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=180)

    def ok(self, *args):
        proc = self.run(*args)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    def json(self, *args):
        return json.loads(self.ok(*(list(args) + ['-f', 'json'])))

    def refused(self, *args):
        proc = self.run(*args)
        assert proc.returncode != 0, proc.stdout
        return proc.stderr


@pytest.fixture(scope='module')
def clis(world, tmp_path_factory):
    ks = world['keystone']
    home = tmp_path_factory.mktemp('cli-home')
    return {
        'admin': CLI(ks, home, 'admin', ADMIN_PASSWORD),
        'alice': CLI(ks, home, 'alice', PASSWORD, 'owner-proj'),
        'bob': CLI(ks, home, 'bob', PASSWORD, 'lessee-proj'),
        'carol': CLI(ks, home, 'carol', PASSWORD, 'other-proj'),
    }


class API:
    """Plain HTTP with a user's Keystone token (refreshed as it expires):
    the quick way to set up and check what the CLI tests rely on."""

    def __init__(self, svc, session):
        self.svc = svc
        self.auth = _TokenAuth(session)

    def call(self, method, path, **kwargs):
        return requests.request(method, self.svc.url(path), headers=VERSION,
                                auth=self.auth, timeout=30, **kwargs)

    def names(self):
        resp = self.call('GET', '/v1/nodes')
        assert resp.status_code == 200, resp.text
        return sorted(n['name'] for n in resp.json()['nodes'])

    def node(self, ident):
        resp = self.call('GET', '/v1/nodes/%s' % ident)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope='module')
def apis(world):
    ks = world['keystone']
    svc = world['svc']
    return {'admin': API(svc, ks.admin),
            'alice': API(svc, ks.session('alice', PASSWORD, 'owner-proj')),
            'bob': API(svc, ks.session('bob', PASSWORD, 'lessee-proj')),
            'carol': API(svc, ks.session('carol', PASSWORD, 'other-proj'))}


@pytest.fixture(scope='module')
def nodes(world, apis):
    """Three nodes: owned by owner-proj, owned and leased to
    lessee-proj, and nobody's."""
    ids = world['ids']
    made = {}
    for name, extra in (
            ('owned', {'owner': ids['owner']}),
            ('leased', {'owner': ids['owner'], 'lessee': ids['lessee']}),
            ('free', {})):
        resp = apis['admin'].call('POST', '/v1/nodes', json=dict(
            driver='fake-hardware', name=name,
            driver_info={'ipmi_address': '10.1.2.3',
                         'ipmi_password': 'bmc-secret'}, **extra))
        assert resp.status_code == 201, resp.text
        made[name] = resp.json()['uuid']
    return made


def _names(cli):
    return sorted(n['name'] if 'name' in n else n['Name']
                  for n in cli.json('node', 'list'))


def test_no_token_is_401_in_ironic_format(world, nodes):
    svc = world['svc']
    resp = requests.get(svc.url('/v1/nodes'), headers=VERSION, timeout=10)
    assert resp.status_code == 401
    fault = json.loads(resp.json()['error_message'])
    assert fault['faultcode'] == 'Client'
    assert 'authentication' in fault['faultstring']
    assert resp.headers['WWW-Authenticate'] == \
        'Keystone uri="%s"' % world['keystone'].url
    bogus = requests.get(svc.url('/v1/nodes'), timeout=10,
                         headers=dict(VERSION, **{'X-Auth-Token': 'bogus'}))
    assert bogus.status_code == 401
    # version discovery stays open, as in Ironic
    assert requests.get(svc.url('/v1'), timeout=10).status_code == 200


def test_cli_lists_what_each_user_may_see(clis, nodes):
    """The CLI finds bootflow in Keystone's catalog and authenticates
    with a password, system-scoped or project-scoped."""
    assert _names(clis['admin']) == ['free', 'leased', 'owned']
    assert _names(clis['alice']) == ['leased', 'owned']
    assert _names(clis['bob']) == ['leased']
    assert _names(clis['carol']) == []


def test_bmc_details_by_role(apis, nodes):
    info = apis['admin'].node('leased')['driver_info']
    assert info['ipmi_password'] == 'bmc-secret'   # the policy file's say
    info = apis['alice'].node('leased')['driver_info']
    assert info['ipmi_address'] == '10.1.2.3'
    assert info['ipmi_password'] == '******'
    info = apis['bob'].node('leased')['driver_info']
    assert 'ipmi_address' not in info and 'ipmi_password' not in info
    assert 'baremetal:node:get:driver_info' in info['content']
    listed = apis['bob'].call('GET', '/v1/nodes/detail').json()['nodes']
    assert 'ipmi_address' not in listed[0]['driver_info']


def test_other_projects_nodes_do_not_exist_for_a_user(clis, apis, nodes):
    assert 'could not be found' in clis['bob'].refused(
        'node', 'show', 'owned')
    resp = apis['carol'].call('GET', '/v1/nodes/%s' % nodes['free'])
    assert resp.status_code == 404
    resp = apis['carol'].call('PUT', '/v1/nodes/free/states/power',
                              json={'target': 'power on'})
    assert resp.status_code == 404


def test_lessee_powers_the_node_but_may_not_reconfigure_it(clis, apis,
                                                           nodes):
    bob = clis['bob']
    bob.ok('node', 'power', 'on', 'leased')
    assert apis['admin'].node('leased')['power_state'] == 'power on'
    err = bob.refused('node', 'set', 'leased', '--property', 'cpus=4')
    assert 'baremetal:node:update:properties' in err
    resp = apis['bob'].call('DELETE', '/v1/nodes/leased')
    assert resp.status_code == 403
    assert 'baremetal:node:delete' in resp.json()['error_message']
    assert 'cpus' not in apis['admin'].node('leased')['properties']


def test_owner_leases_but_cannot_give_away(world, apis, nodes):
    alice = apis['alice']
    ids = world['ids']
    resp = alice.call('PATCH', '/v1/nodes/owned', json=[
        {'op': 'add', 'path': '/lessee', 'value': ids['other']}])
    assert resp.status_code == 200, resp.text
    assert apis['carol'].names() == ['owned']
    resp = alice.call('PATCH', '/v1/nodes/owned', json=[
        {'op': 'replace', 'path': '/owner', 'value': ids['other']}])
    assert resp.status_code == 403
    assert 'baremetal:node:update:owner' in resp.json()['error_message']
    node = apis['admin'].node('owned')
    assert node['owner'] == ids['owner']
    assert node['lessee'] == ids['other']


def test_project_users_cannot_create_nodes(apis, nodes):
    resp = apis['alice'].call('POST', '/v1/nodes',
                              json={'driver': 'fake-hardware'})
    assert resp.status_code == 403
    assert 'baremetal:node:create' in resp.json()['error_message']


def test_ports_follow_their_nodes(apis, nodes):
    admin = apis['admin']
    for mac, node in (('52:54:00:aa:00:01', 'leased'),
                      ('52:54:00:aa:00:02', 'free')):
        resp = admin.call('POST', '/v1/ports', json={
            'address': mac, 'node_uuid': nodes[node]})
        assert resp.status_code == 201, resp.text
    listed = apis['bob'].call('GET', '/v1/ports').json()['ports']
    assert [p['address'] for p in listed] == ['52:54:00:aa:00:01']
    assert len(admin.call('GET', '/v1/ports').json()['ports']) == 2
    resp = apis['bob'].call('GET', '/v1/ports', params={'node': 'free'})
    assert resp.status_code == 404


def test_expired_token_is_401(world, nodes):
    """A token that was good goes bad when it expires, cached or not.

    Keystone ends a token issued for an application credential when the
    credential expires, so one credential that lives seconds makes a token
    that expires without shortening every other token's life.
    """
    keystone = world['keystone']
    svc = world['svc']
    session = keystone.session('alice', PASSWORD, 'owner-proj')
    expires = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(seconds=SHORT_LIFETIME)
    cred = session.post(
        keystone.url + '/users/%s/application_credentials'
        % session.get_user_id(), json={'application_credential': {
            'name': 'short-lived',
            'expires_at': expires.strftime('%Y-%m-%dT%H:%M:%S')}}
    ).json()['application_credential']
    issued = requests.post(keystone.url + '/auth/tokens', timeout=30, json={
        'auth': {'identity': {'methods': ['application_credential'],
                              'application_credential': {
                                  'id': cred['id'],
                                  'secret': cred['secret']}}}})
    assert issued.status_code == 201, issued.text
    token = issued.headers['X-Subject-Token']
    headers = dict(VERSION, **{'X-Auth-Token': token})
    first = requests.get(svc.url('/v1/nodes'), headers=headers, timeout=10)
    assert first.status_code == 200
    assert len(first.json()['nodes']) == 2

    def expired():
        check = requests.get(keystone.url + '/auth/tokens', timeout=10,
                             headers={'X-Auth-Token': keystone.admin
                                      .get_token(),
                                      'X-Subject-Token': token})
        return check.status_code == 404

    conftest.wait_for(expired, timeout=SHORT_LIFETIME + 30, interval=0.5,
                      message='the token to expire')
    resp = requests.get(svc.url('/v1/nodes'), headers=headers, timeout=10)
    assert resp.status_code == 401


def test_nova_launches_and_deletes_as_the_service_role(world, apis, nodes):
    """nova-compute signs in as a service user (the service role in the
    service project) and runs an instance's life on a node it neither
    owns nor leases: the service role acts as a system member."""
    keystone = world['keystone']
    admin = apis['admin']
    node_id = nodes['free']
    resp = admin.call('POST', '/v1/ports', json={
        'address': '52:54:00:aa:00:03', 'node_uuid': node_id})
    assert resp.status_code == 201, resp.text
    resp = admin.call('PATCH', '/v1/nodes/%s' % node_id, json=[
        {'op': 'add', 'path': '/properties', 'value': {
            'cpus': 1, 'memory_mb': 1024, 'local_gb': 10,
            'cpu_arch': 'x86_64'}}])
    assert resp.status_code == 200, resp.text
    for target, state in (('manage', 'manageable'),
                          ('provide', 'available')):
        resp = admin.call('PUT', '/v1/nodes/%s/states/provision' % node_id,
                          json={'target': target})
        assert resp.status_code == 202, resp.text
        conftest.wait_for(lambda: admin.node(node_id)['provision_state']
                          == state, timeout=60, message=state)
    conn = openstack.connect(
        auth_url=keystone.url, username='bootflow', password=PASSWORD,
        project_name='service', user_domain_name='Default',
        project_domain_name='Default', region_name='RegionOne',
        baremetal_status_code_retries=20,
        baremetal_status_code_retry_delay=0.25,
        baremetal_retriable_status_codes=[409, 503],
        load_yaml_config=False, load_envvars=False)
    try:
        driver = nova.NovaDriver(conn, poll_interval=0.2, timeout=60)
        assert node_id in driver.node_cache()
        instance = nova.Instance(uuid=str(uuid.uuid4()), display_name='vm',
                                 image=str(uuid.uuid4()),
                                 vifs=[str(uuid.uuid4())])
        driver.prepare_for_spawn(node_id, instance)
        driver.plug_vifs(node_id, instance)
        node = driver.spawn(node_id, instance)
        assert node.provision_state == 'active'
        assert conn.baremetal.list_node_vifs(node_id) == instance.vifs
        driver.destroy(instance)
        assert conn.baremetal.list_node_vifs(node_id) == []
    finally:
        conn.close()
    final = admin.node(node_id)
    assert final['instance_uuid'] is None
    assert final['provision_state'] == 'available'
