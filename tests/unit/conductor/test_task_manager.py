import threading

import pytest

from bootflow.common import exception
from bootflow.common import states
from bootflow.conductor import task_manager
from bootflow.db import api as db_api
from tests.unit.conductor.helpers import make_node
from tests.unit.conductor.helpers import wait_for


def test_lock_is_exclusive_and_released(service):
    node = make_node()
    with task_manager.acquire(service, None, node['id']) as task:
        assert db_api.get_node(node['id'])['reservation'] == 'test-host'
        with pytest.raises(exception.NodeLocked):
            task_manager.acquire(service, None, node['id'])
        assert task.driver.power is not None
    assert db_api.get_node(node['id'])['reservation'] is None


def test_lock_released_when_block_raises(service):
    node = make_node()
    with pytest.raises(RuntimeError):
        with task_manager.acquire(service, None, node['id']):
            raise RuntimeError('boom')
    assert db_api.get_node(node['id'])['reservation'] is None


def test_shared_task_takes_no_lock(service):
    node = make_node()
    with task_manager.acquire(service, None, node['id']):
        shared = task_manager.acquire(service, None, node['id'], shared=True)
        assert shared.node.uuid == node['uuid']


def test_unknown_node(service):
    with pytest.raises(exception.NodeNotFound):
        task_manager.acquire(service, None, 'no-such-node')


def test_spawned_worker_holds_then_releases_lock(service):
    node = make_node(provision_state=states.MANAGEABLE)
    started, proceed = threading.Event(), threading.Event()

    def work(task):
        started.set()
        proceed.wait(5)

    with task_manager.acquire(service, None, node['id']) as task:
        task.process_event('provide', callback=work)
    assert started.wait(5)
    row = db_api.get_node(node['id'])
    assert row['reservation'] == 'test-host'
    assert row['provision_state'] == states.CLEANING
    proceed.set()
    wait_for(lambda: db_api.get_node(node['id'])['reservation'] is None)


def test_full_pool_reverts_state_and_releases(service):
    node = make_node(provision_state=states.MANAGEABLE)
    release = threading.Event()
    taken = 0
    while True:    # occupy every worker
        try:
            service.spawn_worker(release.wait, 5)
            taken += 1
        except exception.NoFreeConductorWorker:
            break
    try:
        assert taken == service._slots._initial_value
        with pytest.raises(exception.NoFreeConductorWorker):
            with task_manager.acquire(service, None, node['id']) as task:
                task.process_event('provide', callback=lambda t: None)
        row = db_api.get_node(node['id'])
        assert row['provision_state'] == states.MANAGEABLE
        assert row['target_provision_state'] is None
        assert row['reservation'] is None
    finally:
        release.set()
