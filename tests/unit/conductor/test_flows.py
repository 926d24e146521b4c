"""Node flows: their atoms, what each undoes, parking, resuming."""

import datetime

import pytest
from taskflow import engines
from taskflow import states as tf_states

from bootflow.common import states
from bootflow.conductor import periodics
from bootflow.conductor import task_manager
from bootflow.conductor.flows import builders
from bootflow.conductor.flows import runner
from bootflow.conductor.flows import tasks
from bootflow.db import api as db_api
from bootflow.drivers.modules import fake
from tests.unit.conductor.helpers import make_node
from tests.unit.conductor.helpers import wait_state


def _atoms(flow):
    return [atom.name for atom, _ in flow.iter_nodes()]


def _reverts(flow):
    """Atoms that undo something: those overriding NodeTask's no-op."""
    return [atom.name for atom, _ in flow.iter_nodes()
            if type(atom).revert is not tasks.NodeTask.revert]


@pytest.mark.parametrize('name, atoms, reverting', [
    ('deploy', ['prepare_ramdisk', 'deploy_steps', 'end_agent_session',
                'prepare_instance_boot', 'power_on', 'finish'],
     ['prepare_ramdisk', 'deploy_steps', 'prepare_instance_boot',
      'power_on']),
    ('clean', ['validate', 'prepare_cleaning', 'clean_steps',
               'end_agent_session', 'tear_down_cleaning', 'power_off',
               'finish'],
     ['prepare_cleaning', 'clean_steps', 'power_off']),
    ('undeploy', ['undeploy_power_off', 'tear_down_instance',
                  'start_cleaning', 'validate', 'prepare_cleaning',
                  'clean_steps', 'end_agent_session', 'tear_down_cleaning',
                  'power_off', 'finish'],
     ['undeploy_power_off', 'prepare_cleaning', 'clean_steps',
      'power_off']),
    ('verify', ['validate', 'read_power_state', 'finish'], []),
    ('adopt', ['validate', 'prepare_instance_boot', 'read_power_state',
               'finish'], ['prepare_instance_boot']),
    ('inspect', ['inspect_hardware', 'end_agent_session', 'inspection_done',
                 'finish'], ['inspect_hardware']),
    ('rescue', ['rescue', 'finish'], ['rescue']),
    ('unrescue', ['unrescue', 'finish'], []),
])
def test_flow_atoms_and_reverts(name, atoms, reverting):
    flow = builders.BUILDERS[name]()
    assert _atoms(flow) == atoms
    assert _reverts(flow) == reverting
    for atom, _ in flow.iter_nodes():
        # every atom works on the live task and nothing else: no hidden
        # data dependencies between atoms to break on resume
        assert set(atom.requires) == {'task'}, atom.name
        assert not atom.provides, atom.name


def test_clean_flow_skipped_when_disabled():
    assert _atoms(builders.clean_flow(skip=True)) == ['finish']


def _deploy(service, node, **kwargs):
    service.manager.do_provisioning_action(None, node['id'], 'deploy',
                                           **kwargs)


def _available(**values):
    return make_node(provision_state=states.AVAILABLE,
                     power_state=states.POWER_OFF, **values)


def test_deploy_runs_to_active_and_leaves_no_flow(service):
    node = _available()
    _deploy(service, node)
    row = wait_state(node['id'], states.ACTIVE)
    assert row['power_state'] == states.POWER_ON
    assert row['deploy_step'] == {}
    assert runner.flow_detail(node['uuid']) is None


def test_failed_deploy_reverts_each_finished_atom(service, monkeypatch):
    calls = []
    monkeypatch.setattr(fake.FakeDeploy, 'clean_up',
                        lambda self, task: calls.append('deploy.clean_up'))
    monkeypatch.setattr(fake.FakeBoot, 'clean_up_instance',
                        lambda self, task: calls.append('boot.clean_up'))
    node = _available(driver_info={'fake_power_fail': 'no power'})
    _deploy(service, node)
    row = wait_state(node['id'], states.DEPLOYFAIL)
    assert row['last_error'].startswith('Failed to deploy: ')
    assert 'no power' in row['last_error']
    # power_on failed: the atoms before it are undone, newest first
    assert calls == ['boot.clean_up', 'deploy.clean_up']
    assert row['deploy_step'] == {}
    assert 'deploy_steps' not in row['driver_internal_info']
    assert runner.flow_detail(node['uuid']) is None


def test_parked_deploy_holds_no_lock_and_resumes_on_heartbeat(service):
    node = _available(driver_info={'fake_deploy_wait': True})
    _deploy(service, node)
    row = wait_state(node['id'], states.DEPLOYWAIT)
    assert row['target_provision_state'] == states.ACTIVE
    detail = runner.flow_detail(node['uuid'])
    assert detail.state == tf_states.SUSPENDED
    service.manager.heartbeat(None, node['id'], 'http://127.0.0.1:9999')
    row = wait_state(node['id'], states.ACTIVE)
    assert row['driver_internal_info']['agent_url'] == \
        'http://127.0.0.1:9999'
    assert runner.flow_detail(node['uuid']) is None


def test_parked_deploy_times_out(service, conf, monkeypatch):
    conf.set_override('deploy_callback_timeout', 5, 'conductor')
    cleaned = []
    monkeypatch.setattr(fake.FakeDeploy, 'clean_up',
                        lambda self, task: cleaned.append(True))
    node = _available(driver_info={'fake_deploy_wait': True})
    _deploy(service, node)
    wait_state(node['id'], states.DEPLOYWAIT)
    assert periodics.check_callback_timeouts(service) == 0
    past = datetime.datetime.utcnow() - datetime.timedelta(seconds=10)
    db_api.update_node(node['id'], {'provision_updated_at': past})
    assert periodics.check_callback_timeouts(service) == 1
    row = wait_state(node['id'], states.DEPLOYFAIL)
    assert 'Timeout reached' in row['last_error']
    assert cleaned == [True]


def test_abort_while_waiting_reverts(service):
    node = _available(driver_info={'fake_deploy_wait': True})
    _deploy(service, node)
    wait_state(node['id'], states.DEPLOYWAIT)
    service.manager.do_provisioning_action(None, node['id'], 'abort')
    row = wait_state(node['id'], states.DEPLOYFAIL)
    assert row['last_error'].startswith('Aborted by request')
    assert runner.flow_detail(node['uuid']) is None


def test_inspect_and_rescue_park_and_resume(service):
    node = make_node(provision_state=states.MANAGEABLE,
                     driver_info={'fake_inspect_wait': True})
    service.manager.do_provisioning_action(None, node['id'], 'inspect')
    wait_state(node['id'], states.INSPECTWAIT)
    service.manager.heartbeat(None, node['id'], 'http://127.0.0.1:1')
    wait_state(node['id'], states.MANAGEABLE)

    node = make_node(provision_state=states.ACTIVE,
                     driver_info={'fake_rescue_wait': True})
    service.manager.do_provisioning_action(None, node['id'], 'rescue',
                                           rescue_password='pw')
    wait_state(node['id'], states.RESCUEWAIT)
    service.manager.heartbeat(None, node['id'], 'http://127.0.0.1:1')
    wait_state(node['id'], states.RESCUE)


def _run_until(service, node, flow_name, last_atom):
    """Run a flow in this thread and stop it, as a crash would, right
    after ``last_atom`` succeeded: the persisted flow stays RUNNING."""
    task = task_manager.acquire(service, None, node['id'], purpose='test')
    task.process_event('deploy')
    book_engine = engines.load_from_factory(
        builders.BUILDERS[flow_name],
        book=runner.tf_models.LogBook('crash', uuid=node['uuid']),
        backend=runner.backend())
    book_engine.storage.inject({'task': task}, transient=True)
    done = []
    book_engine.atom_notifier.register(
        tf_states.SUCCESS, lambda state, details: done.append(
            details['task_name']))
    steps = book_engine.run_iter()
    for _ in steps:
        if last_atom in done:
            break
    # the generator is kept, not closed: closing it would suspend the flow
    # cleanly, and a crash does nothing cleanly
    return done, steps


@pytest.mark.parametrize('dead_host', ['test-host', 'gone-host'])
def test_interrupted_deploy_resumes_after_last_finished_atom(
        service, monkeypatch, dead_host):
    node = _available()
    ran = []
    for cls, method in ((fake.FakeDeploy, 'prepare'),
                        (fake.FakeBoot, 'prepare_instance')):
        original = getattr(cls, method)

        def spy(self, task, _orig=original, _name=method):
            ran.append(_name)
            return _orig(self, task)
        monkeypatch.setattr(cls, method, spy)
    done, _steps = _run_until(service, node, 'deploy', 'deploy_steps')
    assert done == ['prepare_ramdisk', 'deploy_steps']
    assert runner.flow_detail(node['uuid']).state == tf_states.RUNNING
    # the conductor "dies" holding the lock
    db_api.update_node(node['id'], {'reservation': dead_host})
    if dead_host == service.host:
        periodics.recover_own(service)
    else:
        assert periodics.take_over_orphans(service) == 1
    row = wait_state(node['id'], states.ACTIVE)
    assert row['power_state'] == states.POWER_ON
    # prepare_ramdisk had finished and is not run again
    assert ran == ['prepare', 'prepare_instance']
    assert runner.flow_detail(node['uuid']) is None


def test_request_without_recorded_flow_restarts_on_take_over(service):
    """The conductor died between accepting the deploy and recording its
    flow: the node has the request, so the new owner starts it afresh."""
    node = _available()
    db_api.update_node(node['id'], {
        'provision_state': states.DEPLOYING,
        'target_provision_state': states.ACTIVE,
        'reservation': 'gone-host',
        'driver_internal_info': {'flow_request': {'flow': 'deploy',
                                                  'args': {}}}})
    assert periodics.take_over_orphans(service) == 1
    row = wait_state(node['id'], states.ACTIVE)
    assert row['last_error'] is None


def test_flow_that_cannot_start_fails_the_node(service, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError('no flow today')
    monkeypatch.setitem(builders.BUILDERS, 'deploy', broken)
    node = _available()
    _deploy(service, node)
    row = wait_state(node['id'], states.DEPLOYFAIL)
    assert row['last_error'] == 'Failed to deploy: no flow today'
