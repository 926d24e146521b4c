"""Allocation rows, and the claim/release transactions they share with
nodes, on a real SQLite database."""

import threading

import pytest

from bootflow.common import exception
from bootflow.common import states
from bootflow.db import allocations as db_allocations
from bootflow.db import api as db_api
from tests.unit.conductor.helpers import make_node


def _available(**values):
    values.setdefault('provision_state', states.AVAILABLE)
    values.setdefault('power_state', states.POWER_OFF)
    values.setdefault('resource_class', 'gold')
    return make_node(**values)


def _allocation(**values):
    values.setdefault('resource_class', 'gold')
    return db_allocations.create(values)


def test_create_and_get_by_id_uuid_and_name(db):
    row = _allocation(name='web-1', traits=['CUSTOM_A'])
    assert row['state'] == 'allocating'
    assert row['traits'] == ['CUSTOM_A']
    assert row['extra'] == {} and row['candidate_nodes'] is None
    for ident in (row['id'], row['uuid'], 'web-1'):
        assert db_allocations.get(ident)['uuid'] == row['uuid']


def test_get_missing_is_404(db):
    with pytest.raises(exception.NotFound) as e:
        db_allocations.get('nope')
    assert e.value.code == 404
    assert 'Allocation nope could not be found' in str(e.value)


def test_duplicate_name_and_uuid_conflict(db):
    row = _allocation(name='dup')
    with pytest.raises(exception.Conflict, match='name dup already'):
        _allocation(name='dup')
    with pytest.raises(exception.Conflict, match='UUID %s' % row['uuid']):
        _allocation(uuid=row['uuid'])
    other = _allocation(name='other')
    with pytest.raises(exception.Conflict, match='name dup already'):
        db_allocations.update(other['id'], {'name': 'dup'})


def test_list_filters_and_pagination(db):
    node = _available()
    rows = [_allocation(resource_class='gold' if i % 2 else 'silver')
            for i in range(5)]
    db_allocations.claim(rows[1], node['id'])
    gold = db_allocations.list_allocations({'resource_class': 'gold'})
    assert [r['id'] for r in gold] == [rows[1]['id'], rows[3]['id']]
    active = db_allocations.list_allocations({'state': 'active'})
    assert [r['node_id'] for r in active] == [node['id']]
    by_node = db_allocations.list_allocations({'node_id': node['id']})
    assert [r['id'] for r in by_node] == [rows[1]['id']]
    page = db_allocations.list_allocations(limit=2, marker=rows[1]['uuid'])
    assert [r['id'] for r in page] == [rows[2]['id'], rows[3]['id']]
    with pytest.raises(exception.NotFound):
        db_allocations.list_allocations(marker='missing-marker')


def test_claim_sets_both_sides(db):
    node = _available(instance_info={'image_source': 'img'})
    db_api.set_traits(node['id'], ['CUSTOM_GPU'])
    alloc = _allocation(traits=['CUSTOM_GPU'])
    db_allocations.claim(alloc, node['id'])
    row = db_allocations.get(alloc['id'])
    assert row['state'] == 'active' and row['node_id'] == node['id']
    node = db_api.get_node(node['id'])
    assert node['allocation_id'] == alloc['id']
    assert node['instance_uuid'] == alloc['uuid']
    assert node['instance_info'] == {'image_source': 'img',
                                     'traits': ['CUSTOM_GPU']}
    assert db_allocations.get_for_node(node['id'])['id'] == alloc['id']
    assert db_allocations.uuids_by_id({alloc['id']}) == {
        alloc['id']: alloc['uuid']}


@pytest.mark.parametrize('change', [
    {'maintenance': True},
    {'reservation': 'some-host'},
    {'instance_uuid': '1be26c0b-03f2-4d2d-ae87-c02d7f33c781'},
    {'provision_state': states.MANAGEABLE},
    {'resource_class': 'silver'},
    {'power_state': None},
    {'allocation_id': 4242},
])
def test_claim_is_refused_when_the_node_changed(db, change):
    node = _available(**change)
    alloc = _allocation()
    with pytest.raises(db_allocations.ClaimLost):
        db_allocations.claim(alloc, node['id'])
    # the allocation's half of the transaction was rolled back
    row = db_allocations.get(alloc['id'])
    assert row['state'] == 'allocating' and row['node_id'] is None
    assert db_api.get_node(node['id'])['instance_info'] == {}


def test_claim_rechecks_traits_and_owner(db):
    node = _available(owner='project-a')
    db_api.set_traits(node['id'], ['CUSTOM_A'])
    with pytest.raises(db_allocations.ClaimLost):
        db_allocations.claim(_allocation(traits=['CUSTOM_A', 'CUSTOM_B']),
                             node['id'])
    with pytest.raises(db_allocations.ClaimLost):
        db_allocations.claim(_allocation(owner='project-b'), node['id'])
    db_allocations.claim(_allocation(owner='project-a',
                                     traits=['CUSTOM_A']), node['id'])


def test_claim_of_a_deleted_allocation_touches_no_node(db):
    node = _available()
    alloc = _allocation()
    db_allocations.destroy(alloc['id'])
    with pytest.raises(db_allocations.AllocationGone):
        db_allocations.claim(alloc, node['id'])
    assert db_api.get_node(node['id'])['allocation_id'] is None


def test_concurrent_claims_of_one_node_have_one_winner(db):
    node = _available()
    allocs = [_allocation() for _ in range(8)]
    results = {}
    barrier = threading.Barrier(len(allocs))

    def run(alloc):
        barrier.wait()
        try:
            db_allocations.claim(alloc, node['id'])
            results[alloc['id']] = 'won'
        except db_allocations.ClaimLost:
            results[alloc['id']] = 'lost'

    threads = [threading.Thread(target=run, args=(a,)) for a in allocs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results.values()) == ['lost'] * 7 + ['won']
    winner = [k for k, v in results.items() if v == 'won'][0]
    assert db_api.get_node(node['id'])['allocation_id'] == winner
    active = db_allocations.list_allocations({'state': 'active'})
    assert [r['id'] for r in active] == [winner]


def test_fail_only_moves_unfinished_allocations(db):
    node = _available()
    done, pending = _allocation(), _allocation()
    db_allocations.claim(done, node['id'])
    assert not db_allocations.fail(done['id'], 'late')
    assert db_allocations.fail(pending['id'], 'no luck')
    row = db_allocations.get(pending['id'])
    assert (row['state'], row['last_error']) == ('error', 'no luck')
    assert db_allocations.get(done['id'])['state'] == 'active'


def test_destroy_releases_the_node(db):
    node = _available()
    alloc = _allocation()
    db_allocations.claim(alloc, node['id'])
    db_allocations.destroy(alloc['id'])
    with pytest.raises(exception.NotFound):
        db_allocations.get(alloc['id'])
    node = db_api.get_node(node['id'])
    assert node['allocation_id'] is None and node['instance_uuid'] is None
    with pytest.raises(exception.NotFound):
        db_allocations.destroy(alloc['id'])


@pytest.mark.parametrize('values, allowed', [
    ({'provision_state': states.ACTIVE}, False),
    ({'provision_state': states.ACTIVE, 'maintenance': True}, True),
    ({'provision_state': states.DEPLOYING,
      'target_provision_state': states.ACTIVE}, False),
    ({'provision_state': states.DEPLOYFAIL,
      'target_provision_state': states.ACTIVE}, True),
    ({'provision_state': states.AVAILABLE}, True),
])
def test_destroy_follows_ironic_state_rules(db, values, allowed):
    node = _available()
    alloc = _allocation()
    db_allocations.claim(alloc, node['id'])
    db_api.update_node(node['id'], values)
    if allowed:
        db_allocations.destroy(alloc['id'])
        assert db_api.get_node(node['id'])['instance_uuid'] is None
        return
    with pytest.raises(exception.InvalidStateForOperation) as e:
        db_allocations.destroy(alloc['id'])
    assert e.value.code == 409
    assert 'Cannot remove allocation %s' % alloc['uuid'] in str(e.value)
    assert db_api.get_node(node['id'])['allocation_id'] == alloc['id']


def test_clearing_instance_uuid_ends_the_allocation(db):
    node = _available()
    alloc = _allocation()
    db_allocations.claim(alloc, node['id'])
    # what a tear-down does through the node record
    row = db_api.update_node(node['id'], {'instance_uuid': None,
                                          'instance_info': {}})
    assert row['allocation_id'] is None
    with pytest.raises(exception.NotFound):
        db_allocations.get(alloc['id'])


def test_other_node_updates_keep_the_allocation(db):
    node = _available()
    alloc = _allocation()
    db_allocations.claim(alloc, node['id'])
    db_api.update_node(node['id'], {'extra': {'a': 1}})
    db_api.update_node(node['id'], {'instance_uuid': alloc['uuid']})
    assert db_api.get_node(node['id'])['allocation_id'] == alloc['id']
    assert db_allocations.get(alloc['id'])['state'] == 'active'


def test_deleting_the_node_deletes_its_allocation(db):
    node = _available()
    alloc = _allocation()
    db_allocations.claim(alloc, node['id'])
    unrelated = _allocation()
    db_api.destroy_node(node['id'])
    with pytest.raises(exception.NotFound):
        db_allocations.get(alloc['id'])
    assert db_allocations.get(unrelated['id'])['state'] == 'allocating'


def test_resolve_nodes(db):
    a = _available(name='node-a')
    b = _available()
    mapping = db_allocations.resolve_nodes(['node-a', b['uuid']])
    assert mapping == {'node-a': a['uuid'], b['uuid']: b['uuid']}
    with pytest.raises(exception.NodeNotFound) as e:
        db_allocations.resolve_nodes(['node-a', 'ghost', 'zombie'])
    assert e.value.code == 400
    assert str(e.value) == 'Nodes cannot be found: ghost, zombie'
