"""bootflow's launch API (/bootflow/v1/instances) and its CLI commands:
schedule + deploy in one request, rescheduling when a deploy fails."""

import pytest

from tests.functional import conftest as ft

pytestmark = pytest.mark.functional
PATH = '/bootflow/v1/instances'


@pytest.fixture
def cli(sqlite_service):
    return ft.BaremetalCLI(sqlite_service)


def _available_nodes(api, cleanup, rc, count, **driver_info):
    names = []
    for _ in range(count):
        node = api.create_node(resource_class=rc, driver_info=driver_info)
        cleanup.append((api, node['uuid']))
        api.move_to(node['uuid'], 'available')
        names.append(node['uuid'])
    return names


def _heal(api, uuids):
    """Let the clean-up undeploy nodes that were made to fail."""
    for uuid in uuids:
        api.patch_node(uuid, [{'op': 'remove',
                               'path': '/driver_info/fake_deploy_fail'}])


def _wait_instance(api, uuid, states=('active', 'error'), timeout=120):
    def done():
        doc = api.get('%s/%s' % (PATH, uuid)).json()
        return doc if doc['state'] in states else None
    return ft.wait_for(done, timeout=timeout, message='instance %s' % uuid)


def test_launch_and_delete_with_the_cli(cli, sqlite_api, node_cleanup):
    rc = ft.unique('rc-launch')
    nodes = _available_nodes(sqlite_api, node_cleanup, rc, 2)
    name = ft.unique('inst')
    doc = cli.json('instance', 'launch', '--resource-class', rc,
                   '--image', 'http://127.0.0.1:9/img.qcow2',
                   '--name', name, '--wait', '120')
    assert doc['state'] == 'active'
    assert doc['node_uuid'] in nodes
    assert doc['attempts'] == 1
    assert doc['current_task'] is None
    node = sqlite_api.node(doc['node_uuid'])
    assert node['provision_state'] == 'active'
    assert node['instance_info']['image_source'] == \
        'http://127.0.0.1:9/img.qcow2'
    assert node['allocation_uuid'] == doc['allocation_uuid']
    listed = cli.json('instance', 'list')
    assert name in [i['name'] for i in listed]

    cli.run('instance', 'delete', name, '--wait', '120')
    assert sqlite_api.get('%s/%s' % (PATH, name)).status_code == 404
    node = sqlite_api.wait_provision_state(doc['node_uuid'], 'available')
    assert node['allocation_uuid'] is None
    assert node['instance_uuid'] is None
    assert sqlite_api.get('/v1/allocations/%s'
                          % doc['allocation_uuid']).status_code == 404


def test_failed_deploy_reschedules_to_another_node(sqlite_api, node_cleanup):
    rc = ft.unique('rc-retry')
    bad = _available_nodes(sqlite_api, node_cleanup, rc, 1,
                           fake_deploy_fail='disk on fire')
    good = _available_nodes(sqlite_api, node_cleanup, rc, 1)
    resp = sqlite_api.post(PATH, json={
        'resource_class': rc, 'image_source': 'http://127.0.0.1:9/i',
        'max_attempts': 2})
    assert resp.status_code == 202, resp.text
    doc = _wait_instance(sqlite_api, resp.json()['uuid'])
    assert doc['state'] == 'active', doc
    assert doc['node_uuid'] == good[0]
    failed = sqlite_api.node(bad[0])
    if doc['attempts'] == 2:
        # the bad node was tried first: set aside, with the reason
        assert failed['maintenance'] is True
        assert 'disk on fire' in failed['maintenance_reason']
        assert doc['uuid'] in failed['maintenance_reason']
    else:
        assert doc['attempts'] == 1
        assert failed['provision_state'] == 'available'
    assert failed['allocation_uuid'] is None
    _heal(sqlite_api, bad)


def test_launch_gives_up_after_max_attempts(sqlite_api, node_cleanup):
    rc = ft.unique('rc-fail')
    bad = _available_nodes(sqlite_api, node_cleanup, rc, 2,
                           fake_deploy_fail='no disk')
    resp = sqlite_api.post(PATH, json={
        'resource_class': rc, 'image_source': 'http://127.0.0.1:9/i',
        'max_attempts': 2})
    assert resp.status_code == 202, resp.text
    doc = _wait_instance(sqlite_api, resp.json()['uuid'])
    assert doc['state'] == 'error'
    assert doc['attempts'] == 2
    assert doc['last_error'].startswith('Failed to launch: ')
    assert 'no disk' in doc['last_error']
    assert doc['allocation_uuid'] is None and doc['node_uuid'] is None
    for uuid in bad:
        node = sqlite_api.node(uuid)
        assert node['maintenance'] is True
        assert node['allocation_uuid'] is None
        assert node['instance_uuid'] is None
    # no node left: the scheduler says so
    resp = sqlite_api.post(PATH, json={
        'resource_class': rc, 'image_source': 'http://127.0.0.1:9/i',
        'max_attempts': 1})
    doc = _wait_instance(sqlite_api, resp.json()['uuid'])
    assert doc['state'] == 'error'
    assert 'No available nodes' in doc['last_error'] or \
        'no available nodes' in doc['last_error']
    assert sqlite_api.delete('%s/%s' % (PATH, doc['uuid'])).status_code \
        == 202
    ft.wait_for(lambda: sqlite_api.get('%s/%s' % (PATH, doc['uuid']))
                .status_code == 404, timeout=30)
    _heal(sqlite_api, bad)


@pytest.mark.parametrize('body, status, fragment', [
    ({'image_source': 'x'}, 400, 'resource_class'),
    ({'resource_class': 'rc'}, 400, 'image_source'),
    ({'resource_class': 'rc', 'image_source': 'x', 'traits': ['bad']},
     400, 'Invalid trait'),
    ({'resource_class': 'rc', 'image_source': 'x',
      'candidate_nodes': ['no-such-node-x']}, 400, 'no-such-node-x'),
    ({'resource_class': 'rc', 'image_source': 'x', 'max_attempts': 0},
     400, 'max_attempts'),
    ({'resource_class': 'rc', 'image_source': 'x', 'colour': 'red'},
     400, 'colour'),
])
def test_bad_requests(sqlite_api, body, status, fragment):
    resp = sqlite_api.post(PATH, json=body)
    ft.assert_ironic_error(resp, status, fragment)


def test_unknown_instance(sqlite_api):
    resp = sqlite_api.get(PATH + '/no-such-instance')
    ft.assert_ironic_error(resp, 404, 'no-such-instance')
