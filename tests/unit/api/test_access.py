"""Routes as a Keystone caller sees them: the application behind
auth_token, given the identity headers auth_token would set."""

import pytest

from bootflow.api import app as api_app
from bootflow.api import wsgi
from bootflow.db import allocations as db_allocations

from tests.unit.api.conftest import Client

OWNER = 'f0000000000000000000000000000001'
LESSEE = 'f0000000000000000000000000000002'


def _identity(roles, project=None, system=False):
    headers = {'X-Identity-Status': 'Confirmed', 'X-Roles': ','.join(roles),
               'X-User-Id': 'u-' + (project or 'system')}
    if system:
        headers['OpenStack-System-Scope'] = 'all'
    else:
        headers['X-Project-Id'] = project
    return headers


ADMIN = _identity(['admin', 'member', 'reader'], system=True)
OWNER_MEMBER = _identity(['member', 'reader'], OWNER)
LESSEE_MEMBER = _identity(['member', 'reader'], LESSEE)
STRANGER = _identity(['admin', 'member', 'reader'], 'f' * 32)


@pytest.fixture
def keystone_api(api):
    """The same database and conductor as ``api``, behind the checks of
    auth_strategy = keystone."""
    return Client(wsgi.Application(api_app.build_router(), keystone=True))


@pytest.fixture
def world(keystone_api):
    made = {}
    for name, extra in (('owned', {'owner': OWNER}),
                        ('leased', {'owner': OWNER, 'lessee': LESSEE}),
                        ('free', {})):
        resp = keystone_api.post('/v1/nodes', dict(
            driver='fake-hardware', name=name, **extra), headers=ADMIN)
        assert resp.status_int == 201, resp.body
        made[name] = resp.data['uuid']
        resp = keystone_api.post('/v1/ports', {
            'address': '52:54:00:00:00:%02x' % len(made),
            'node_uuid': made[name]}, headers=ADMIN)
        assert resp.status_int == 201, resp.body
        made[name + '-port'] = resp.data['uuid']
    return made


def test_no_identity_is_401_but_discovery_is_open(keystone_api):
    resp = keystone_api.get('/v1/nodes')
    assert resp.status_int == 401
    assert 'WWW-Authenticate' not in resp.headers   # auth_token adds it
    assert keystone_api.get('/v1').status_int == 200
    assert keystone_api.get('/v1/lookup?addresses=52:54:00:00:00:99'
                            ).status_int != 401


def test_lists_are_narrowed_to_the_project(keystone_api, world):
    def names(headers):
        resp = keystone_api.get('/v1/nodes', headers=headers)
        assert resp.status_int == 200, resp.body
        return sorted(n['name'] for n in resp.data['nodes'])

    assert names(ADMIN) == ['free', 'leased', 'owned']
    assert names(OWNER_MEMBER) == ['leased', 'owned']
    assert names(LESSEE_MEMBER) == ['leased']
    assert names(STRANGER) == []
    ports = keystone_api.get('/v1/ports', headers=LESSEE_MEMBER).data
    assert [p['uuid'] for p in ports['ports']] == [world['leased-port']]


def test_an_invisible_port_is_404(keystone_api, world):
    path = '/v1/ports/%s' % world['owned-port']
    assert keystone_api.get(path, headers=LESSEE_MEMBER).status_int == 404
    assert keystone_api.get(path, headers=OWNER_MEMBER).status_int == 200
    resp = keystone_api.delete(path, headers=OWNER_MEMBER)
    assert resp.status_int == 403   # ports are the owner's admins' to remove
    assert keystone_api.get(path, headers=ADMIN).status_int == 200


def test_lessee_patch_is_checked_field_by_field(keystone_api, world):
    path = '/v1/nodes/%s' % world['leased']
    resp = keystone_api.patch(path, [{'op': 'add', 'path': '/extra/k',
                                      'value': 'v'}], headers=LESSEE_MEMBER)
    assert resp.status_int == 200, resp.body
    resp = keystone_api.patch(path, [{'op': 'add', 'path': '/properties/k',
                                      'value': 'v'}], headers=LESSEE_MEMBER)
    assert resp.status_int == 403
    assert 'baremetal:node:update:properties' in keystone_api.error(resp)
    node = keystone_api.get(path, headers=ADMIN).data
    assert node['extra'] == {'k': 'v'} and 'k' not in node['properties']


def test_system_only_resources_are_403_for_projects(keystone_api, world):
    assert keystone_api.get('/v1/chassis', headers=OWNER_MEMBER
                            ).status_int == 403
    assert keystone_api.get('/v1/drivers', headers=ADMIN).status_int == 200


def test_project_allocations_belong_to_the_project(keystone_api, world):
    mine = db_allocations.create({'resource_class': 'x', 'owner': OWNER,
                                  'name': 'mine'})
    db_allocations.create({'resource_class': 'x', 'name': 'operators'})

    def names(headers):
        resp = keystone_api.get('/v1/allocations', headers=headers)
        assert resp.status_int == 200, resp.body
        return sorted(a['name'] for a in resp.data['allocations'])

    assert names(ADMIN) == ['mine', 'operators']
    assert names(OWNER_MEMBER) == ['mine']
    assert names(LESSEE_MEMBER) == []
    path = '/v1/allocations/%s' % mine['uuid']
    assert keystone_api.get(path, headers=LESSEE_MEMBER).status_int == 404
    # naming another project as the owner takes a system role
    resp = keystone_api.post('/v1/allocations', {'resource_class': 'x',
                                                 'owner': LESSEE},
                             headers=OWNER_MEMBER)
    assert resp.status_int == 403
    assert names(ADMIN) == ['mine', 'operators']
