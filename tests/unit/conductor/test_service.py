import threading
import time

import pytest

from bootflow.common import states
from bootflow.conductor import power
from bootflow.conductor import service as conductor_service
from bootflow.db import api as db_api
from bootflow.drivers import base
from bootflow.drivers.modules import fake
from tests.unit.conductor.helpers import make_node
from tests.unit.conductor.helpers import wait_state


def test_restart_releases_and_fails_interrupted_nodes(db, conf):
    conf.set_override('sync_power_state_interval', 0, 'conductor')
    busy = make_node(provision_state=states.DEPLOYING,
                     target_provision_state=states.ACTIVE)
    idle = make_node(provision_state=states.MANAGEABLE)
    db_api.reserve_node('test-host', busy['id'])
    db_api.reserve_node('test-host', idle['id'])
    other = make_node(provision_state=states.DEPLOYING)
    db_api.reserve_node('other-host', other['id'])
    svc = conductor_service.ConductorService(host='test-host')
    svc.start(with_rpc=False)
    try:
        # no flow was recorded for the busy node: it cannot resume, so it
        # fails with a reason instead of staying "deploying"
        row = wait_state(busy['id'], states.DEPLOYFAIL)
        assert row['provision_state'] == states.DEPLOYFAIL
        assert 'progress was not recorded' in row['last_error']
        row = db_api.get_node(idle['id'])
        assert (row['reservation'], row['provision_state']) == (
            None, states.MANAGEABLE)
        assert db_api.get_node(other['id'])['reservation'] == 'other-host'
    finally:
        svc.stop()


def test_power_sync_restores_recorded_state(service, conf):
    node = make_node(provision_state=states.ACTIVE,
                     power_state=states.POWER_ON)
    fake._MACHINES[node['uuid']] = dict(power=states.POWER_OFF)
    assert power.sync_power_states(service) == 1
    assert fake._MACHINES[node['uuid']]['power'] == states.POWER_ON
    conf.set_override('force_power_state_during_sync', False, 'conductor')
    fake._MACHINES[node['uuid']]['power'] = states.POWER_OFF
    power.sync_power_states(service)
    assert db_api.get_node(node['id'])['power_state'] == states.POWER_OFF


def test_conductor_registers_drivers_and_goes_offline(db, conf):
    conf.set_override('sync_power_state_interval', 0, 'conductor')
    svc = conductor_service.ConductorService(host='h1')
    svc.start(with_rpc=False)
    cond = db_api.get_conductor('h1')
    assert cond['online'] and 'fake-hardware' in cond['drivers']
    assert cond['interfaces']['fake-hardware']['power']['default'] == 'fake'
    svc.stop()
    assert not db_api.get_conductor('h1')['online']


def test_power_sync_failures_set_and_clear_power_failure(
        service, conf, monkeypatch):
    conf.set_override('power_state_sync_max_retries', 2, 'conductor')
    node = make_node(provision_state=states.AVAILABLE,
                     power_state=states.POWER_OFF,
                     driver_info={'bmc': 'down'})
    original = fake.FakePower.get_power_state

    def flaky(self, task):
        if (task.node.driver_info or {}).get('bmc') == 'down':
            raise RuntimeError('bmc unreachable')
        return original(self, task)
    monkeypatch.setattr(fake.FakePower, 'get_power_state', flaky)
    power.sync_power_states(service)
    row = db_api.get_node(node['id'])
    assert not row['maintenance']
    assert row['driver_internal_info']['power_sync_failures'] == 1
    # a suspect is read in the background: the sweep does not wait for it
    power.sync_power_states(service)
    _wait_sync_idle(service)
    row = db_api.get_node(node['id'])
    assert row['maintenance'] and row['fault'] == states.POWER_FAILURE
    assert row['power_state'] is None
    assert 'bmc unreachable' in row['maintenance_reason']
    # the BMC answers again: out of maintenance, fault cleared
    db_api.update_node(node['id'], {'driver_info': {}})
    power.sync_power_states(service)
    _wait_sync_idle(service)
    row = db_api.get_node(node['id'])
    assert not row['maintenance'] and row['fault'] is None
    assert 'power_sync_failures' not in row['driver_internal_info']


def _wait_sync_idle(service, timeout=10):
    deadline = time.monotonic() + timeout
    while not service._power_sync.idle():
        assert time.monotonic() < deadline, 'suspect reads did not finish'
        time.sleep(0.01)


def test_power_sync_does_not_wait_for_known_dead_bmcs(service, conf,
                                                      monkeypatch):
    """A node whose read failed is read in the background afterwards:
    the next sweep returns without waiting for its slow BMC."""
    dead = make_node(provision_state=states.AVAILABLE,
                     power_state=states.POWER_OFF,
                     driver_info={'bmc': 'slow-dead'})
    alive = make_node(provision_state=states.AVAILABLE,
                      power_state=states.POWER_OFF)
    release = threading.Event()
    original = fake.FakePower.get_power_state

    def read(self, task):
        if (task.node.driver_info or {}).get('bmc') == 'slow-dead':
            release.wait(10)
            raise RuntimeError('no answer')
        return original(self, task)
    monkeypatch.setattr(fake.FakePower, 'get_power_state', read)
    release.set()
    power.sync_power_states(service)        # finds the dead one
    release.clear()
    fake._MACHINES[alive['uuid']]['power'] = states.POWER_ON
    conf.set_override('force_power_state_during_sync', False, 'conductor')
    started = time.monotonic()
    power.sync_power_states(service)
    assert time.monotonic() - started < 5   # the dead BMC holds 10 s
    assert db_api.get_node(alive['id'])['power_state'] == states.POWER_ON
    release.set()
    _wait_sync_idle(service)
    row = db_api.get_node(dead['id'])
    assert row['driver_internal_info']['power_sync_failures'] == 2


def test_power_sync_caps_reads_per_bmc(service, conf, monkeypatch):
    conf.set_override('sync_power_state_per_bmc', 2, 'conductor')
    conf.set_override('sync_power_state_workers', 8, 'conductor')
    for _ in range(8):
        make_node(provision_state=states.AVAILABLE,
                  power_state=states.POWER_OFF)
    lock = threading.Lock()
    now = {'reading': 0, 'most': 0}
    budgets = []

    def read(self, task):
        budgets.append(base.read_budget.get())
        with lock:
            now['reading'] += 1
            now['most'] = max(now['most'], now['reading'])
        time.sleep(0.05)
        with lock:
            now['reading'] -= 1
        return states.POWER_OFF
    monkeypatch.setattr(fake.FakePower, 'get_power_state', read)
    monkeypatch.setattr(fake.FakePower, 'bmc_key',
                        lambda self, task: 'fake:one-chassis', raising=False)
    assert power.sync_power_states(service) == 8
    assert now['most'] == 2
    assert budgets == [conf.conductor.sync_power_state_timeout] * 8


def test_power_sync_counts_an_error_state_as_a_failed_read(
        service, conf, monkeypatch):
    node = make_node(provision_state=states.AVAILABLE,
                     power_state=states.POWER_ON)
    monkeypatch.setattr(fake.FakePower, 'get_power_state',
                        lambda self, task: states.ERROR)
    monkeypatch.setattr(fake.FakePower, 'set_power_state',
                        lambda *a, **k: pytest.fail('no "fix" for error'))
    power.sync_power_states(service)
    row = db_api.get_node(node['id'])
    assert row['power_state'] == states.POWER_ON
    assert row['driver_internal_info']['power_sync_failures'] == 1


def test_power_sync_sweep_stops_waiting_on_bmcs_that_just_died(
        service, conf, monkeypatch):
    """Two BMCs hang (not yet known dead) among healthy ones, with two
    workers: the sweep gives up on each after the patience, not after
    its timeout, and every healthy node is still read."""
    conf.set_override('sync_power_state_workers', 2, 'conductor')
    conf.set_override('sync_power_state_patience', 0.2, 'conductor')
    conf.set_override('force_power_state_during_sync', False, 'conductor')
    hung = [make_node(provision_state=states.AVAILABLE,
                      power_state=states.POWER_OFF,
                      driver_info={'bmc': 'hangs'}) for _ in range(2)]
    healthy = [make_node(provision_state=states.AVAILABLE,
                         power_state=states.POWER_OFF) for _ in range(10)]
    for node in healthy:
        fake._MACHINES[node['uuid']] = dict(power=states.POWER_ON)
    release = threading.Event()
    original = fake.FakePower.get_power_state

    def read(self, task):
        if (task.node.driver_info or {}).get('bmc') == 'hangs':
            release.wait(10)
            raise RuntimeError('no answer')
        return original(self, task)
    monkeypatch.setattr(fake.FakePower, 'get_power_state', read)
    started = time.monotonic()
    try:
        power.sync_power_states(service)
        took = time.monotonic() - started
    finally:
        release.set()
    assert took < 5
    assert all(db_api.get_node(n['id'])['power_state'] == states.POWER_ON
               for n in healthy)
    _wait_sync_idle(service)
    assert all(db_api.get_node(n['id'])['driver_internal_info'][
        'power_sync_failures'] == 1 for n in hung)
