"""The allocation scheduler: candidate filtering, the claim, backfilling,
and that every allocation ends active or error."""

import threading

import pytest

from bootflow.common import exception
from bootflow.common import states
from bootflow.conductor import allocations
from bootflow.db import allocations as db_allocations
from bootflow.db import api as db_api
from tests.unit.conductor.helpers import make_node
from tests.unit.conductor.helpers import wait_for


def _node(traits=(), **values):
    values.setdefault('provision_state', states.AVAILABLE)
    values.setdefault('power_state', states.POWER_OFF)
    values.setdefault('resource_class', 'gold')
    row = make_node(**values)
    if traits:
        db_api.set_traits(row['id'], list(traits))
    return row


def _allocate(**values):
    """Create and process an allocation in this thread; its final row."""
    values.setdefault('resource_class', 'gold')
    row = db_allocations.create(values)
    allocations.do_allocate(row['id'])
    return db_allocations.get(row['id'])


def _assert_failed(row, *fragments):
    assert row['state'] == 'error' and row['node_id'] is None
    assert row['last_error'].startswith(
        'Failed to process allocation %s: ' % row['uuid'])
    for fragment in fragments:
        assert fragment in row['last_error']


def test_allocates_a_matching_node(service):
    node = _node(traits=['CUSTOM_GPU', 'CUSTOM_X'])
    row = _allocate(traits=['CUSTOM_GPU'])
    assert row['state'] == 'active' and row['last_error'] is None
    assert row['node_id'] == node['id']
    node = db_api.get_node(node['id'])
    assert node['instance_uuid'] == row['uuid']
    assert node['allocation_id'] == row['id']


def test_no_node_of_the_resource_class(service):
    _node(resource_class='silver')
    _assert_failed(_allocate(),
                   'no available nodes match the resource class gold')


@pytest.mark.parametrize('values', [
    {'maintenance': True},
    {'instance_uuid': '0b0c1dfe-4a4b-4b59-9a38-5e6c0a5e3a10'},
    {'provision_state': states.MANAGEABLE},
    {'power_state': None},
    {'owner': 'someone-else'},
])
def test_unsuitable_nodes_are_not_candidates(service, values):
    _node(**values)
    _assert_failed(_allocate(owner='me' if 'owner' in values else None),
                   'no available nodes match the resource class gold')


def test_a_node_held_by_another_allocation_is_skipped(service):
    node = _node()
    first = _allocate()
    assert first['node_id'] == node['id']
    _assert_failed(_allocate(), 'no available nodes match')


def test_traits_must_all_be_present(service):
    _node(traits=['CUSTOM_A'])
    _node(traits=['CUSTOM_B'])
    _assert_failed(_allocate(traits=['CUSTOM_A', 'CUSTOM_B']),
                   'no suitable nodes have the requested traits '
                   'CUSTOM_A, CUSTOM_B')
    both = _node(traits=['CUSTOM_A', 'CUSTOM_B'])
    assert _allocate(traits=['CUSTOM_A', 'CUSTOM_B'])['node_id'] == \
        both['id']


def test_candidate_nodes_limit_the_choice(service):
    _node()
    chosen = _node()
    row = _allocate(candidate_nodes=[chosen['uuid']])
    assert row['node_id'] == chosen['id']
    wrong_rc = _node(resource_class='silver')
    _assert_failed(_allocate(candidate_nodes=[wrong_rc['uuid']]),
                   'none of the requested nodes are available and match '
                   'the resource class gold')


def test_owner_matches_owner_or_lessee(service):
    leased = _node(lessee='project-a')
    row = _allocate(owner='project-a')
    assert row['node_id'] == leased['id']


def test_node_named_like_the_allocation_goes_first(service):
    for i in range(5):
        _node(name='host-%d' % i)
    row = _allocate(name='host-3')
    assert db_api.get_node(row['node_id'])['name'] == 'host-3'


def test_reserved_node_is_retried_then_given_up(service, conf):
    conf.set_override('node_locked_retry_attempts', 2, 'conductor')
    conf.set_override('node_locked_retry_interval', 0, 'conductor')
    node = _node(reservation='other-host')
    _assert_failed(_allocate(), 'could not reserve any of 1 suitable nodes')
    assert db_api.get_node(node['id'])['allocation_id'] is None


def test_reserved_node_is_taken_once_released(service, conf, monkeypatch):
    conf.set_override('node_locked_retry_attempts', 3, 'conductor')
    node = _node(reservation='other-host')
    real_claim = db_allocations.claim
    calls = []

    def claim(allocation, node_id, backfill=False):
        calls.append(node_id)
        if len(calls) == 2:   # the lock holder finishes between tries
            db_api.update_node(node_id, {'reservation': None})
        return real_claim(allocation, node_id, backfill)

    monkeypatch.setattr(db_allocations, 'claim', claim)
    row = _allocate()
    assert row['state'] == 'active' and row['node_id'] == node['id']
    assert calls == [node['id']] * 2


def test_a_lost_race_moves_to_the_next_candidate(service, monkeypatch):
    nodes = [_node() for _ in range(3)]
    real_claim = db_allocations.claim
    stolen = []

    def claim(allocation, node_id, backfill=False):
        if not stolen:
            # someone else takes this node just before our claim
            stolen.append(node_id)
            db_api.update_node(node_id, {'maintenance': True})
        return real_claim(allocation, node_id, backfill)

    monkeypatch.setattr(db_allocations, 'claim', claim)
    row = _allocate()
    assert row['state'] == 'active'
    assert row['node_id'] in {n['id'] for n in nodes} - set(stolen)


def test_every_candidate_lost_is_reported(service, monkeypatch):
    _node()
    _node()

    def claim(allocation, node_id, backfill=False):
        raise db_allocations.ClaimLost()

    monkeypatch.setattr(db_allocations, 'claim', claim)
    _assert_failed(_allocate(),
                   'all nodes were filtered out during reservation')


def test_unexpected_errors_end_in_error_state(service, monkeypatch):
    _node()

    def boom(allocation):
        raise RuntimeError('database on fire')

    monkeypatch.setattr(allocations, 'candidate_nodes', boom)
    row = _allocate()
    assert row['state'] == 'error'
    assert row['last_error'] == ('Unexpected exception during allocation: '
                                 'database on fire')


def test_uuid_already_used_as_instance_uuid(service):
    taken = _node(provision_state=states.ACTIVE)
    free = _node()
    row = db_allocations.create({'resource_class': 'gold'})
    db_api.update_node(taken['id'], {'instance_uuid': row['uuid']})
    allocations.do_allocate(row['id'])
    row = db_allocations.get(row['id'])
    assert row['state'] == 'error'
    assert 'Instance %s is already associated' % row['uuid'] in \
        row['last_error']
    assert db_api.get_node(free['id'])['allocation_id'] is None


def test_deleted_allocation_is_ignored(service):
    _node()
    row = db_allocations.create({'resource_class': 'gold'})
    db_allocations.destroy(row['id'])
    allocations.do_allocate(row['id'])   # no error, nothing claimed
    assert db_api.list_nodes(filters={'associated': True}) == []


def test_manager_processes_in_a_worker(service):
    nodes = [_node() for _ in range(3)]
    rows = [db_allocations.create({'resource_class': 'gold'})
            for _ in range(5)]
    for row in rows:
        service.manager.create_allocation(None, row['id'])

    def finished():
        found = [db_allocations.get(r['id']) for r in rows]
        return found if all(f['state'] != 'allocating' for f in found) \
            else None

    found = wait_for(finished)
    active = [f for f in found if f['state'] == 'active']
    assert sorted(f['node_id'] for f in active) == \
        sorted(n['id'] for n in nodes)
    assert all(f['last_error'] for f in found if f['state'] == 'error')
    conductor = db_api.get_conductor(service.host)
    assert {f['conductor_affinity'] for f in found} == {conductor['id']}


def test_no_free_worker_forgets_the_allocation(service, monkeypatch):
    def busy(func, *args):
        raise exception.NoFreeConductorWorker()

    monkeypatch.setattr(service, 'spawn_worker', busy)
    row = db_allocations.create({'resource_class': 'gold', 'name': 'again'})
    with pytest.raises(exception.NoFreeConductorWorker):
        service.manager.create_allocation(None, row['id'])
    with pytest.raises(exception.NotFound):
        db_allocations.get(row['id'])
    db_allocations.create({'resource_class': 'gold', 'name': 'again'})


def test_concurrent_workers_never_share_a_node(service):
    nodes = [_node() for _ in range(4)]
    rows = [db_allocations.create({'resource_class': 'gold'})
            for _ in range(10)]
    barrier = threading.Barrier(len(rows))

    def run(row):
        barrier.wait()
        allocations.do_allocate(row['id'])

    threads = [threading.Thread(target=run, args=(r,)) for r in rows]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    found = [db_allocations.get(r['id']) for r in rows]
    taken = [f['node_id'] for f in found if f['state'] == 'active']
    assert sorted(taken) == sorted(n['id'] for n in nodes)
    assert sum(f['state'] == 'error' for f in found) == 6


# -- backfill ----------------------------------------------------------------

def _deployed(**values):
    values.setdefault('provision_state', states.ACTIVE)
    return _node(**values)


def test_backfill_associated_node(service):
    node = _deployed(instance_uuid='6d3c2a8f-5b1f-4d1e-9f59-1d2f1c8e0a11')
    row = db_allocations.create({'resource_class': 'gold',
                                 'uuid': node['instance_uuid']})
    service.manager.create_allocation(None, row['id'],
                                      backfill_node_id=node['id'])
    row = db_allocations.get(row['id'])
    assert row['state'] == 'active' and row['node_id'] == node['id']
    assert db_api.get_node(node['id'])['allocation_id'] == row['id']


def test_backfill_unassociated_node(service):
    node = _deployed()
    row = db_allocations.create({'resource_class': 'gold'})
    allocations.backfill(row, node['id'])
    node = db_api.get_node(node['id'])
    assert node['instance_uuid'] == row['uuid']


def test_backfill_mismatch_fails_with_ironic_reasons(service):
    node = _deployed(provision_state=states.AVAILABLE, traits=['CUSTOM_A'])
    row = db_allocations.create({'resource_class': 'silver',
                                 'traits': ['CUSTOM_B']})
    with pytest.raises(exception.BootflowException) as e:
        allocations.backfill(row, node['id'])
    assert e.value.code == 500
    row = db_allocations.get(row['id'])
    _assert_failed(row, 'Cannot backfill an allocation for node %s'
                   % node['uuid'], 'Node must be in the "active" state',
                   'Resource class gold does not match the requested '
                   'resource class silver', 'List of traits')
    assert db_api.get_node(node['id'])['allocation_id'] is None


def test_backfill_node_of_another_instance(service):
    other = '9a1e0c55-3f0b-4f3e-8a0a-2c5d0f7e6b21'
    node = _deployed(instance_uuid=other)
    row = db_allocations.create({'resource_class': 'gold'})
    with pytest.raises(exception.NodeAssociated) as e:
        allocations.backfill(row, node['id'])
    assert e.value.code == 409
    row = db_allocations.get(row['id'])
    assert row['state'] == 'error' and other in row['last_error']
    assert db_api.get_node(node['id'])['instance_uuid'] == other


def test_backfill_node_with_another_allocation(service):
    node = _deployed()
    first = db_allocations.create({'resource_class': 'gold'})
    allocations.backfill(first, node['id'])
    second = db_allocations.create({'resource_class': 'gold'})
    with pytest.raises(exception.NodeAssociated):
        allocations.backfill(second, node['id'])
    assert db_allocations.get(second['id'])['state'] == 'error'


def test_destroy_through_the_manager(service):
    node = _node()
    row = _allocate()
    db_api.update_node(node['id'], {'provision_state': states.ACTIVE})
    with pytest.raises(exception.InvalidStateForOperation):
        service.manager.destroy_allocation(None, row['id'])
    db_api.update_node(node['id'], {'maintenance': True})
    service.manager.destroy_allocation(None, row['id'])
    node = db_api.get_node(node['id'])
    assert node['instance_uuid'] is None and node['allocation_id'] is None


def test_resume_unfinished_takes_only_its_own(service):
    node = _node()
    mine = db_api.get_conductor(service.host)['id']
    own = db_allocations.create({'resource_class': 'gold',
                                 'conductor_affinity': mine})
    orphan = db_allocations.create({'resource_class': 'gold'})
    other = db_allocations.create({'resource_class': 'gold',
                                   'conductor_affinity': mine + 1})
    allocations.resume_unfinished(service)
    wait_for(lambda: all(db_allocations.get(r['id'])['state'] != 'allocating'
                         for r in (own, orphan)))
    states_seen = sorted(db_allocations.get(r['id'])['state']
                         for r in (own, orphan))
    assert states_seen == ['active', 'error']
    assert db_api.get_node(node['id'])['allocation_id'] in (own['id'],
                                                            orphan['id'])
    assert db_allocations.get(other['id'])['state'] == 'allocating'
