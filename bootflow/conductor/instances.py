"""An instance launch as one flow: request → scheduler → conductor → active.

This is bootflow's own operation (``/bootflow/v1/instances``), in the
spirit of metalsmith's reserve-and-provision: the request is validated,
an allocation picks a node, the node is deployed and watched until it is
active. A retry controller wraps allocate → deploy → wait: when a deploy
fails, that attempt reverts — the node is put in maintenance with the
reason and its allocation released — and the next candidate is tried, up
to ``max_attempts``. Reverting the whole flow leaves the instance in
``error`` with the reason and no allocation behind.

The flow runs in a conductor worker and is persisted like node flows
(logbook = instance uuid); a conductor taking over from a dead one resumes
it. The atom running now is shown as the instance's ``current_task``.

Waiting for the node to become active holds this worker (polling the
database); the node's own flow meanwhile parks as usual.
"""

import datetime
import time

from oslo_log import log
from taskflow import engines
from taskflow import retry
from taskflow import states as tf_states
from taskflow import task as tf_task
from taskflow.patterns import linear_flow

from bootflow.common import exception
from bootflow.common import hash_ring
from bootflow.common import states
from bootflow.conductor import allocations
from bootflow.conductor import rpcapi
from bootflow.conductor.flows import runner
from bootflow.conf import CONF
from bootflow.db import allocations as db_allocations
from bootflow.db import api as db_api
from bootflow.db import instances as db_instances

LOG = log.getLogger(__name__)


class LaunchFailed(exception.BootflowException):
    _msg_fmt = '%(err)s'


def _node_of(allocation_uuid):
    allocation = db_allocations.get(allocation_uuid)
    if not allocation.get('node_id'):
        raise LaunchFailed(err='allocation %s has no node' % allocation_uuid)
    return db_api.get_node(allocation['node_id'])


def _wait_node(node_uuid, done, failed, what):
    """Poll the node until it reaches one of ``done`` (returned) or
    ``failed`` (raises with the node's last_error)."""
    deadline = time.monotonic() + CONF.instances.deploy_timeout
    while True:
        node = db_api.get_node(node_uuid)
        state = node['provision_state']
        if state in done and node['reservation'] is None:
            return node
        if state in failed:
            raise LaunchFailed(err='node %s: %s failed: %s' % (
                node_uuid, what, node['last_error'] or state))
        if time.monotonic() > deadline:
            raise LaunchFailed(err='node %s: %s timed out in state %s' % (
                node_uuid, what, state))
        time.sleep(CONF.instances.poll_interval)


class ValidateRequest(tf_task.Task):
    def execute(self, instance_uuid):
        inst = db_instances.get(instance_uuid)
        if inst['candidate_nodes']:
            # raises 400-class errors for unknown nodes
            db_allocations.resolve_nodes(inst['candidate_nodes'])


class Allocate(tf_task.Task):
    """Ask the scheduler for a node; undone by releasing it."""

    default_provides = 'allocation_uuid'

    def execute(self, instance_uuid):
        inst = db_instances.get(instance_uuid)
        if inst['allocation_uuid']:
            # resumed after a crash: reuse what the last run got
            try:
                found = db_allocations.get(inst['allocation_uuid'])
                if found['state'] == db_allocations.ACTIVE:
                    return found['uuid']
            except exception.NotFound:
                pass
        db_instances.update(instance_uuid,
                            {'attempts': inst['attempts'] + 1})
        allocation = db_allocations.create({
            'resource_class': inst['resource_class'],
            'traits': inst['traits'] or [],
            'candidate_nodes': inst['candidate_nodes'] or [],
            'extra': {'instance_uuid': instance_uuid}})
        allocations.do_allocate(allocation['id'])
        allocation = db_allocations.get(allocation['id'])
        if allocation['state'] != db_allocations.ACTIVE:
            error = allocation['last_error']
            _release(allocation['uuid'])
            raise LaunchFailed(err=error or 'allocation failed')
        node = db_api.get_node(allocation['node_id'], columns=['uuid'])
        db_instances.update(instance_uuid, {
            'allocation_uuid': allocation['uuid'],
            'node_uuid': node['uuid']})
        return allocation['uuid']

    def revert(self, instance_uuid, result, **kwargs):
        if isinstance(result, str):
            _release(result)
        db_instances.update(instance_uuid, {'allocation_uuid': None,
                                            'node_uuid': None})


def _release(allocation_uuid):
    try:
        db_allocations.destroy(db_allocations.get(allocation_uuid)['id'])
    except exception.NotFound:
        pass


class DeployNode(tf_task.Task):
    """Write the image to the node; when the attempt fails, the node is
    set aside in maintenance with the reason, so the next attempt and
    other launches pass it by."""

    def execute(self, instance_uuid, allocation_uuid):
        inst = db_instances.get(instance_uuid)
        node = _node_of(allocation_uuid)
        if node['provision_state'] != states.AVAILABLE:
            return      # resumed after a crash: already on its way
        info = dict(node['instance_info'] or {})
        info.update(inst['instance_info'] or {})
        info['image_source'] = inst['image_source']
        db_api.update_node(node['id'], {'instance_info': info,
                                        'instance_name': inst['name']})
        rpcapi.ConductorAPI().do_provisioning_action(
            None, node['id'], 'active', configdrive=inst['configdrive'])

    def revert(self, instance_uuid, allocation_uuid, flow_failures,
               **kwargs):
        try:
            node = _node_of(allocation_uuid)
        except exception.NotFound:
            return
        reason = '; '.join(str(f.exception) for f in flow_failures.values())
        db_api.update_node(node['id'], {
            'maintenance': True,
            'maintenance_reason': 'Launch of instance %s failed here: %s'
                                  % (instance_uuid, reason)})
        LOG.warning('Node %s set aside after a failed launch of %s: %s',
                    node['uuid'], instance_uuid, reason)


class WaitActive(tf_task.Task):
    def execute(self, instance_uuid, allocation_uuid):
        node = _node_of(allocation_uuid)
        _wait_node(node['uuid'], {states.ACTIVE},
                   {states.DEPLOYFAIL, states.ERROR}, 'deploy')


class MarkActive(tf_task.Task):
    def execute(self, instance_uuid):
        db_instances.update(instance_uuid, {
            'state': db_instances.ACTIVE, 'last_error': None})


def launch_flow(max_attempts=1):
    attempt = linear_flow.Flow(
        'attempt', retry=retry.Times(max_attempts, name='reschedule'))
    attempt.add(Allocate('allocate'), DeployNode('deploy_node'),
                WaitActive('wait_active'))
    return linear_flow.Flow('launch').add(
        ValidateRequest('validate_request'), attempt,
        MarkActive('mark_active'))


class Undeploy(tf_task.Task):
    def execute(self, instance_uuid):
        inst = db_instances.get(instance_uuid)
        if not inst['node_uuid']:
            return
        try:
            node = db_api.get_node(inst['node_uuid'])
        except exception.NodeNotFound:
            return
        if node['provision_state'] in (states.ACTIVE, states.DEPLOYFAIL,
                                       states.DEPLOYWAIT, states.ERROR):
            rpcapi.ConductorAPI().do_provisioning_action(
                None, node['id'], 'deleted')
        _wait_node(node['uuid'], {states.AVAILABLE, states.MANAGEABLE},
                   {states.CLEANFAIL}, 'undeploy')


class ReleaseAllocation(tf_task.Task):
    def execute(self, instance_uuid):
        inst = db_instances.get(instance_uuid)
        if inst['allocation_uuid']:
            _release(inst['allocation_uuid'])


class DeleteRecord(tf_task.Task):
    def execute(self, instance_uuid):
        db_instances.delete(instance_uuid)


def delete_flow():
    return linear_flow.Flow('delete').add(
        Undeploy('undeploy'), ReleaseAllocation('release_allocation'),
        DeleteRecord('delete_record'))


BUILDERS = {'launch': launch_flow, 'delete': delete_flow}


# -- running them -------------------------------------------------------------

def run(instance_uuid, operation):
    """Worker body: run (or resume) the instance's launch or delete flow
    to its end."""
    store = {'instance_uuid': instance_uuid}
    detail = runner.flow_detail(instance_uuid)
    if detail is not None and detail.name == operation:
        engine = engines.load_from_detail(detail, backend=runner.backend(),
                                          store=store)
    else:
        inst = db_instances.get(instance_uuid)
        kwargs = ({'max_attempts': inst['max_attempts']}
                  if operation == 'launch' else {})
        engine = runner.new_engine(instance_uuid, BUILDERS[operation],
                                   kwargs, store=store)

    def on_running(state, details):
        db_instances.update(instance_uuid,
                            {'current_task': details.get('task_name')})

    engine.atom_notifier.register(tf_states.RUNNING, on_running)
    try:
        engine.run()
    except Exception as e:
        LOG.error('%s of instance %s failed: %s', operation.capitalize(),
                  instance_uuid, e)
        prefix = 'Failed to launch' if operation == 'launch' \
            else 'Failed to delete'
        db_instances.update(instance_uuid, {
            'state': db_instances.ERROR, 'current_task': None,
            'last_error': '%s: %s' % (prefix, e)})
    else:
        if operation == 'launch':
            db_instances.update(instance_uuid, {'current_task': None})
    runner.forget(instance_uuid)


def start(service, instance_uuid, operation):
    """Take the instance on this conductor (unless a take-over got there
    first) and run its flow in a worker."""
    if not db_instances.update(instance_uuid, {'conductor': service.host},
                               expect_conductor=None):
        raise exception.Conflict('Instance %s is already being handled'
                                 % instance_uuid)
    try:
        service.spawn_worker(run, instance_uuid, operation)
    except exception.NoFreeConductorWorker:
        db_instances.update(instance_uuid, {'conductor': None})
        raise


def take_over(service, include_own=False):
    """Instances whose conductor stopped mid-flow (with ``include_own``,
    at start-up: this host's too): claim each with a compare-and-swap and
    resume."""
    alive = hash_ring.RING.alive_hosts()
    # an instance no conductor has taken yet may be on its way to one
    unclaimed_before = db_api.utcnow() - datetime.timedelta(
        seconds=CONF.conductor.heartbeat_timeout)
    taken = 0
    for inst in db_instances.list_instances(
            states=(db_instances.BUILDING, db_instances.DELETING)):
        owner = inst['conductor']
        if owner in alive and owner != service.host:
            continue
        if owner is None and inst['updated_at'] > unclaimed_before:
            continue
        if owner == service.host and not include_own:
            continue    # running here now
        if not db_instances.update(inst['uuid'],
                                   {'conductor': service.host},
                                   expect_conductor=owner):
            continue
        operation = ('delete' if inst['state'] == db_instances.DELETING
                     else 'launch')
        LOG.warning('Resuming the %s of instance %s (conductor %s)',
                    operation, inst['uuid'], owner)
        try:
            service.spawn_worker(run, inst['uuid'], operation)
        except exception.NoFreeConductorWorker:
            db_instances.update(inst['uuid'], {'conductor': owner})
            break
        taken += 1
    return taken
