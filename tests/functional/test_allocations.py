"""Allocations (API 1.52+) against the real service: the scheduler under
concurrency on SQLite and PostgreSQL, the ``baremetal`` CLI, openstacksdk
and the HTTP surface (versions, validation, backfill, PATCH, the node
sub-resource)."""

import collections
import threading
import uuid
from concurrent import futures

import pytest
from openstack import exceptions as sdk_exc

from .conftest import (HttpApi, VERSION_HEADER, assert_ironic_error, unique,
                       wait_for)

pytestmark = pytest.mark.functional

TIMEOUT = 90
NODE_FIELDS = 'uuid,provision_state,target_provision_state,last_error'


def _at(version):
    return {'headers': {VERSION_HEADER: version}}


def _wait_nodes(api, rc, state, count):
    """Wait until the ``count`` nodes of ``rc`` rest in ``state``."""
    def nodes():
        return api.get('/v1/nodes', params={
            'resource_class': rc, 'fields': NODE_FIELDS}).json()['nodes']

    def settled():
        found = nodes()
        return len(found) == count and all(
            n['provision_state'] == state and not n['target_provision_state']
            for n in found)
    try:
        wait_for(settled, timeout=TIMEOUT, interval=0.2,
                 message='%d %s nodes to be %s' % (count, rc, state))
    except AssertionError as e:
        seen = collections.Counter((n['provision_state'], n['last_error'])
                                   for n in nodes())
        raise AssertionError('%s; nodes: %s' % (e, dict(seen)))


def _available(api, cleanup, count, rc):
    """``count`` fresh fake-hardware nodes of ``rc``, walked to available
    together (enroll -> manage -> provide)."""
    uuids = []
    for _ in range(count):
        node = api.create_node(resource_class=rc)
        cleanup.append((api, node['uuid']))
        uuids.append(node['uuid'])
    for verb, state in (('manage', 'manageable'), ('provide', 'available')):
        for ident in uuids:
            api.provision(ident, verb)
        _wait_nodes(api, rc, state, count)
    return uuids


def _add_trait(api, node, trait):
    resp = api.put('/v1/nodes/%s/traits/%s' % (node, trait))
    assert resp.status_code == 204, resp.text


def _wait_allocation(client, ident):
    """The allocation once it left ``allocating``."""
    def finished():
        resp = client.get('/v1/allocations/%s' % ident)
        assert resp.status_code == 200, resp.text
        doc = resp.json()
        return doc if doc['state'] != 'allocating' else None
    return wait_for(finished, timeout=TIMEOUT, interval=0.1,
                    message='allocation %s to finish' % ident)


def _allocate(api, **body):
    resp = api.post('/v1/allocations', json=body)
    assert resp.status_code == 201, resp.text
    assert resp.headers['Location'].endswith(
        '/v1/allocations/%s' % resp.json()['uuid'])
    return _wait_allocation(api, resp.json()['uuid'])


# -- the scheduler under concurrency -----------------------------------------

def test_concurrent_allocations_never_share_a_node(service, api,
                                                   node_cleanup):
    rc = unique('ft-rc')
    nodes = set(_available(api, node_cleanup, 20, rc))
    barrier = threading.Barrier(50)

    def one(_):
        client = HttpApi(service)   # a session per thread
        barrier.wait(timeout=60)
        resp = client.post('/v1/allocations', json={'resource_class': rc})
        assert resp.status_code == 201, resp.text
        return resp.json(), _wait_allocation(client, resp.json()['uuid'])

    with futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(50)))

    assert {created['state'] for created, _ in results} == {'allocating'}
    final = [done for _, done in results]
    active = [a for a in final if a['state'] == 'active']
    failed = [a for a in final if a['state'] == 'error']
    assert (len(active), len(failed)) == (20, 30), collections.Counter(
        a['state'] for a in final)
    taken = [a['node_uuid'] for a in active]
    assert len(set(taken)) == 20 and set(taken) == nodes
    for alloc in failed:
        assert alloc['node_uuid'] is None
        assert alloc['last_error'].startswith(
            'Failed to process allocation %s: ' % alloc['uuid'])
        assert ('no available nodes match the resource class %s' % rc
                in alloc['last_error']
                or 'all nodes were filtered out' in alloc['last_error'])
    listed = api.get('/v1/allocations', params={'resource_class': rc})
    states = collections.Counter(a['state']
                                 for a in listed.json()['allocations'])
    assert states == {'active': 20, 'error': 30}
    by_node = {a['node_uuid']: a['uuid'] for a in active}
    brief = api.get('/v1/nodes', params={
        'resource_class': rc, 'fields': 'uuid,allocation_uuid'}).json()
    assert {n['uuid']: n['allocation_uuid'] for n in brief['nodes']} == \
        by_node
    detail = api.get('/v1/nodes/detail', params={'resource_class': rc})
    assert {n['uuid']: (n['allocation_uuid'], n['instance_uuid'])
            for n in detail.json()['nodes']} == {
        k: (v, v) for k, v in by_node.items()}
    for alloc in failed:
        assert api.delete('/v1/allocations/%s' % alloc['uuid']
                          ).status_code == 204


# -- the baremetal CLI --------------------------------------------------------

def test_cli_allocation_lifecycle(cli, api, node_cleanup):
    rc = unique('ft-rc')
    trait = 'CUSTOM_FT_%s' % uuid.uuid4().hex[:8].upper()
    plain, wanted = _available(api, node_cleanup, 2, rc)
    _add_trait(api, wanted, trait)
    name = unique('ft-alloc')
    created = cli.json('allocation', 'create', '--resource-class', rc,
                       '--trait', trait, '--name', name, '--wait', '60')
    assert created['state'] == 'active', created
    assert created['node_uuid'] == wanted
    assert created['traits'] == [trait]
    shown = cli.json('allocation', 'show', name)
    assert shown['uuid'] == created['uuid'] and shown['name'] == name
    rows = [{k.lower().replace(' ', '_'): v for k, v in r.items()}
            for r in cli.json('allocation', 'list', '--resource-class', rc)]
    assert [(r['uuid'], r['node_uuid']) for r in rows] == [
        (created['uuid'], wanted)]
    node = cli.json('node', 'show', wanted, '--fields', 'instance_uuid',
                    'allocation_uuid')
    assert node == {'instance_uuid': created['uuid'],
                    'allocation_uuid': created['uuid']}

    cli.run('allocation', 'delete', name)
    node = api.node(wanted)
    assert node['instance_uuid'] is None and node['allocation_uuid'] is None
    assert 'could not be found' in cli.fails('allocation', 'show',
                                             name).stderr
    assert api.node(plain)['instance_uuid'] is None


def test_cli_wait_reports_a_failed_allocation(cli):
    rc = unique('ft-none')
    proc = cli.fails('allocation', 'create', '--resource-class', rc,
                     '--wait', '60')
    assert 'no available nodes match the resource class %s' % rc in \
        proc.stderr


# -- openstacksdk -------------------------------------------------------------

def test_sdk_create_and_wait(sdk, api, node_cleanup):
    bm = sdk.baremetal
    rc = unique('ft-rc')
    node, = _available(api, node_cleanup, 1, rc)
    name = unique('ft-sdk')
    alloc = bm.create_allocation(resource_class=rc, name=name,
                                 extra={'team': 'a'})
    assert alloc.state == 'allocating'
    alloc = bm.wait_for_allocation(alloc, timeout=TIMEOUT)
    assert alloc.state == 'active' and alloc.node_id == node
    assert bm.get_allocation(name).id == alloc.id
    assert [a.id for a in bm.allocations(resource_class=rc)] == [alloc.id]
    patched = bm.patch_allocation(alloc, [
        {'op': 'add', 'path': '/extra/rack', 'value': 'r1'}])
    assert patched.extra == {'team': 'a', 'rack': 'r1'}
    assert bm.get_node(node).allocation_id == alloc.id
    bm.delete_allocation(alloc, ignore_missing=False)
    assert bm.get_node(node).instance_id is None

    failing = bm.create_allocation(resource_class=unique('ft-none'))
    with pytest.raises(sdk_exc.ResourceFailure):
        bm.wait_for_allocation(failing, timeout=TIMEOUT)
    assert 'no available nodes match' in \
        bm.get_allocation(failing.id).last_error
    bm.delete_allocation(failing)


# -- HTTP: versions and validation --------------------------------------------

def test_allocations_do_not_exist_before_1_52(api, node_cleanup):
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    for method, path, status in (
            ('GET', '/v1/allocations', 404),
            ('GET', '/v1/allocations/%s' % uuid.uuid4(), 404),
            ('POST', '/v1/allocations', 405),
            ('DELETE', '/v1/allocations/%s' % uuid.uuid4(), 405),
            ('GET', '/v1/nodes/%s/allocation' % node['uuid'], 404),
            ('DELETE', '/v1/nodes/%s/allocation' % node['uuid'], 404)):
        resp = api.request(method, path, json={'resource_class': 'x'},
                           **_at('1.51'))
        assert_ironic_error(resp, status, 'does not allow allocations')
    assert 'allocation_uuid' not in api.get(
        '/v1/nodes/%s' % node['uuid'], **_at('1.51')).json()
    assert api.get('/v1/nodes/%s' % node['uuid'], **_at('1.52')
                   ).json()['allocation_uuid'] is None
    assert api.get('/v1/allocations', **_at('1.52')).status_code == 200


@pytest.mark.parametrize('body, status, fragment', [
    ({}, 400, 'resource_class field is mandatory when not backfilling'),
    ({'resource_class': 'x', 'traits': ['lower-case']}, 400,
     'Invalid trait'),
    ({'resource_class': 'x', 'candidate_nodes': ['ghost-ft']}, 400,
     'Nodes cannot be found: ghost-ft'),
    ({'resource_class': 'x', 'color': 'red'}, 400,
     'Additional properties are not allowed'),
    ({'resource_class': 'x', 'uuid': 'not-a-uuid'}, 400,
     'Expected a UUID but received not-a-uuid'),
    ({'resource_class': 'x', 'name': 'no spaces'}, 400,
     "Cannot create allocation with invalid name 'no spaces'"),
    ({'resource_class': 'x' * 81}, 400, 'too long'),
    ({'resource_class': 'x', 'traits': 'CUSTOM_A'}, 400, 'is not of type'),
])
def test_create_validation(api, body, status, fragment):
    assert_ironic_error(api.post('/v1/allocations', json=body), status,
                        fragment)


def test_owner_needs_1_60_and_names_are_unique(api):
    rc = unique('ft-none')
    resp = api.post('/v1/allocations', json={'resource_class': rc,
                                             'owner': 'p1'}, **_at('1.59'))
    assert resp.status_code == 406, resp.text
    assert api.get('/v1/allocations', params={'fields': 'owner'},
                   **_at('1.59')).status_code == 406
    name = unique('ft-dup')
    first = _allocate(api, resource_class=rc, name=name, owner='p1')
    assert first['owner'] == 'p1' and first['state'] == 'error'
    assert 'owner' not in api.get('/v1/allocations/%s' % name,
                                  **_at('1.59')).json()
    assert_ironic_error(api.post('/v1/allocations', json={
        'resource_class': rc, 'name': name}), 409,
        'An allocation with name %s already exists' % name)
    assert_ironic_error(api.post('/v1/allocations', json={
        'resource_class': rc, 'uuid': first['uuid']}), 409,
        'An allocation with UUID %s already exists' % first['uuid'])
    assert api.delete('/v1/allocations/%s' % name).status_code == 204
    assert_ironic_error(api.get('/v1/allocations/%s' % name), 404,
                        'Allocation %s could not be found' % name)


def test_patch_name_and_extra(api):
    rc = unique('ft-none')
    alloc = _allocate(api, resource_class=rc, name=unique('ft-p'))
    other = _allocate(api, resource_class=rc, name=unique('ft-p'))
    path = '/v1/allocations/%s' % alloc['uuid']
    ops = [{'op': 'replace', 'path': '/name', 'value': unique('ft-q')},
           {'op': 'add', 'path': '/extra/k', 'value': 'v'}]
    assert_ironic_error(api.patch(path, json=ops, **_at('1.56')), 405,
                        'does not allow updating allocations')
    resp = api.patch(path, json=ops, **_at('1.57'))
    assert resp.status_code == 200, resp.text
    assert resp.json()['name'] == ops[0]['value']
    assert resp.json()['extra'] == {'k': 'v'}
    assert api.get('/v1/allocations/%s' % ops[0]['value']
                   ).json()['uuid'] == alloc['uuid']
    assert_ironic_error(api.patch(path, json=[
        {'op': 'replace', 'path': '/resource_class', 'value': 'y'}]), 400,
        'Cannot patch /resource_class')
    assert_ironic_error(api.patch(path, json=[
        {'op': 'replace', 'path': '/name', 'value': other['name']}]), 409,
        'already exists')
    assert_ironic_error(api.patch(path, json=[
        {'op': 'replace', 'path': '/name', 'value': 'bad name'}]), 400,
        'invalid name')
    resp = api.patch(path, json=[{'op': 'remove', 'path': '/name'},
                                 {'op': 'remove', 'path': '/extra/k'}])
    assert (resp.json()['name'], resp.json()['extra']) == (None, {})
    for ident in (alloc['uuid'], other['uuid']):
        assert api.delete('/v1/allocations/%s' % ident).status_code == 204


# -- HTTP: filters, the node sub-resource, backfill, node changes ------------

def test_list_filters_pagination_and_node_subresource(api, node_cleanup):
    rc = unique('ft-rc')
    first, second = _available(api, node_cleanup, 2, rc)
    a1 = _allocate(api, resource_class=rc, candidate_nodes=[first])
    a2 = _allocate(api, resource_class=rc)
    assert a1['node_uuid'] == first and a1['candidate_nodes'] == [first]
    assert a2['node_uuid'] == second
    by_node = api.get('/v1/allocations', params={'node': second}).json()
    assert [a['uuid'] for a in by_node['allocations']] == [a2['uuid']]
    assert_ironic_error(api.get('/v1/allocations',
                                params={'node': 'ghost-ft'}), 400,
                        'Node ghost-ft could not be found')
    page = api.get('/v1/allocations', params={
        'resource_class': rc, 'limit': 1, 'fields': 'uuid,state'}).json()
    assert [set(a) for a in page['allocations']] == [
        {'uuid', 'state', 'links'}]
    assert page['allocations'][0]['uuid'] == a1['uuid']
    rest = api.get(page['next']).json()
    assert [a['uuid'] for a in rest['allocations']] == [a2['uuid']]

    sub = '/v1/nodes/%s/allocation' % first
    assert api.get(sub).json()['uuid'] == a1['uuid']
    assert set(api.get(sub, params={'fields': 'uuid'}).json()) == {
        'uuid', 'links'}
    assert api.delete(sub).status_code == 204
    assert_ironic_error(api.get(sub), 404, 'Allocation for node %s was not '
                        'found' % first)
    assert_ironic_error(api.delete(sub), 404, 'was not found')
    assert_ironic_error(api.get('/v1/nodes/ghost-ft/allocation'), 400,
                        'could not be found')
    assert_ironic_error(api.delete('/v1/nodes/ghost-ft/allocation'), 404,
                        'could not be found')
    assert api.node(first)['instance_uuid'] is None


def test_node_changes_end_or_keep_the_allocation(api, node_cleanup):
    rc = unique('ft-rc')
    patched, deleted = _available(api, node_cleanup, 2, rc)
    a1 = _allocate(api, resource_class=rc, candidate_nodes=[patched])
    a2 = _allocate(api, resource_class=rc, candidate_nodes=[deleted])
    # removing the instance_uuid of an available node frees it
    api.patch_node(patched, [{'op': 'remove', 'path': '/instance_uuid'}])
    assert api.node(patched)['allocation_uuid'] is None
    assert api.get('/v1/allocations/%s' % a1['uuid']).status_code == 404
    # an allocated node is deleted only in maintenance, allocation too
    assert_ironic_error(api.delete('/v1/nodes/%s' % deleted), 409,
                        'is associated with instance %s' % a2['uuid'])
    assert api.put('/v1/nodes/%s/maintenance' % deleted,
                   json={}).status_code == 202
    assert api.delete('/v1/nodes/%s' % deleted).status_code == 204
    assert api.get('/v1/allocations/%s' % a2['uuid']).status_code == 404


def test_backfill_deployed_node(api, node_cleanup):
    rc = unique('ft-rc')
    node = api.create_node(resource_class=rc)['uuid']
    node_cleanup.append((api, node))
    api.move_to(node, 'active', timeout=TIMEOUT)
    assert_ironic_error(api.post('/v1/allocations', json={'node': node},
                                 **_at('1.57')), 400,
                        'Cannot set node when creating an allocation')
    assert_ironic_error(api.post('/v1/allocations',
                                 json={'node': 'ghost-ft'}), 400,
                        'Node ghost-ft could not be found')
    # Ironic fails a mismatching backfill with 500 and keeps it in error
    mismatch = api.post('/v1/allocations', json={
        'node': node, 'resource_class': unique('ft-other')})
    assert_ironic_error(mismatch, 500, 'Cannot backfill an allocation for '
                        'node %s' % node, 'does not match the requested')

    resp = api.post('/v1/allocations', json={'node': node})
    assert resp.status_code == 201, resp.text
    alloc = resp.json()
    assert alloc['state'] == 'active' and alloc['node_uuid'] == node
    assert alloc['resource_class'] == rc
    shown = api.node(node)
    assert shown['instance_uuid'] == shown['allocation_uuid'] == \
        alloc['uuid']
    # again: the node's instance_uuid is taken as the UUID, already used
    assert_ironic_error(api.post('/v1/allocations', json={'node': node}),
                        409, 'allocation with UUID %s already exists'
                        % alloc['uuid'])
    assert_ironic_error(api.post('/v1/allocations', json={
        'node': node, 'uuid': str(uuid.uuid4())}), 409,
        'is associated with instance %s' % alloc['uuid'])
    # an active node keeps its allocation unless in maintenance
    path = '/v1/allocations/%s' % alloc['uuid']
    assert_ironic_error(api.delete(path), 409, 'because the node is active')
    assert_ironic_error(api.patch('/v1/nodes/%s' % node, json=[
        {'op': 'remove', 'path': '/instance_uuid'}]), 409,
        'because the node is active')
    api.put('/v1/nodes/%s/maintenance' % node, json={})
    assert api.delete(path).status_code == 204
    assert api.node(node)['instance_uuid'] is None
    api.delete('/v1/nodes/%s/maintenance' % node)

    # backfilling a node that has an instance_uuid adopts that UUID
    instance = str(uuid.uuid4())
    api.patch_node(node, [{'op': 'add', 'path': '/instance_uuid',
                           'value': instance}])
    resp = api.post('/v1/allocations', json={'node': node,
                                             'resource_class': rc})
    assert resp.status_code == 201, resp.text
    assert resp.json()['uuid'] == instance
    assert api.node(node)['allocation_uuid'] == instance
