"""The allocation scheduler: choosing and claiming a node for a request.

An allocation is processed in a conductor worker, away from the API
request, as in Ironic. Suitable nodes are listed, shuffled (so concurrent
allocations do not all try the same node first) and claimed one by one
with a compare-and-swap that re-checks, at the instant of the claim,
everything that made the node suitable; losing a race only moves on to
the next candidate. A worker always ends its allocation ``active`` or
``error`` — no exception leaves it ``allocating``.

Backfilling (an allocation for a node deployed without one) is quick and
runs inside the RPC call, so its errors reach the client directly.
"""

import datetime
import random
import time

from oslo_log import log
from sqlalchemy import exc as sa_exc

from bootflow.common import exception
from bootflow.common import hash_ring
from bootflow.common import states
from bootflow.conf import CONF
from bootflow.db import allocations as db_allocations
from bootflow.db import api as db_api

LOG = log.getLogger(__name__)


class AllocationFailed(Exception):
    """Why an allocation cannot be satisfied, in Ironic's words."""

    def __init__(self, allocation, error):
        super().__init__('Failed to process allocation %s: %s.'
                         % (allocation['uuid'], error))


def start(service, allocation_id, backfill_node_id=None):
    """Begin processing a stored allocation (the RPC entry point).

    If no worker is free the allocation is forgotten before the caller
    gets 503, so retrying the same request (same name or UUID) works.
    """
    _record_affinity(service, allocation_id)
    if backfill_node_id is not None:
        backfill(db_allocations.get(allocation_id), backfill_node_id)
        return
    try:
        service.spawn_worker(do_allocate, allocation_id)
    except exception.NoFreeConductorWorker:
        db_allocations.delete_unprocessed(allocation_id)
        raise


def _record_affinity(service, allocation_id):
    try:
        conductor = db_api.get_conductor(service.host)
    except exception.ConductorNotFound:
        return
    db_allocations.update(allocation_id,
                          {'conductor_affinity': conductor['id']})


def _failed(allocation, reason):
    try:
        db_allocations.fail(allocation['id'], reason)
    except Exception:
        LOG.exception('Could not record the failure of allocation %s',
                      allocation['uuid'])


def do_allocate(allocation_id):
    """Worker body: find and claim a node. Never raises."""
    try:
        allocation = db_allocations.get(allocation_id)
    except exception.NotFound:
        LOG.info('Allocation %s was deleted before processing',
                 allocation_id)
        return
    if allocation['state'] != db_allocations.ALLOCATING:
        return
    try:
        nodes = candidate_nodes(allocation)
        node = allocate_node(allocation, nodes)
        LOG.info('Node %s has been reserved for allocation %s',
                 node['uuid'], allocation['uuid'])
    except db_allocations.AllocationGone:
        LOG.info('Allocation %s was deleted while being processed',
                 allocation['uuid'])
    except AllocationFailed as e:
        LOG.error('%s', e)
        _failed(allocation, e)
    except Exception as e:
        LOG.exception('Unexpected exception during processing of '
                      'allocation %s', allocation['uuid'])
        _failed(allocation, 'Unexpected exception during allocation: %s'
                % e)


def candidate_nodes(allocation):
    """Nodes that may take the allocation, in the order to try them.

    Reserved nodes stay in: a lock is usually brief (a power sync), and
    the claim skips or retries them.
    """
    rc = allocation['resource_class']
    filters = {'resource_class': rc, 'provision_state': states.AVAILABLE,
               'associated': False, 'maintenance': False}
    if allocation['candidate_nodes']:
        filters['uuid_in'] = allocation['candidate_nodes']
    if allocation['owner']:
        filters['project'] = allocation['owner']
    listed = db_api.list_nodes(filters=filters, columns=[
        'id', 'uuid', 'name', 'power_state', 'allocation_id'])
    # a node without a power state was never verified (Ironic)
    nodes = [n for n in listed
             if n['power_state'] is not None and n['allocation_id'] is None]
    if not nodes:
        if allocation['candidate_nodes']:
            error = ('none of the requested nodes are available and match '
                     'the resource class %s' % rc)
        else:
            error = 'no available nodes match the resource class %s' % rc
        raise AllocationFailed(allocation, error)
    wanted = set(allocation['traits'])
    if wanted:
        traits = db_api.get_traits([n['id'] for n in nodes])
        nodes = [n for n in nodes if wanted <= set(traits[n['id']])]
        if not nodes:
            raise AllocationFailed(
                allocation, 'no suitable nodes have the requested traits %s'
                % ', '.join(sorted(wanted)))
    random.shuffle(nodes)
    # a node named like the allocation goes first (Ironic does this too)
    nodes.sort(key=lambda n: not (allocation['name'] and
                                  n['name'] == allocation['name']))
    return nodes


def _worth_retrying(node_id):
    """Whether a node the claim missed was only locked, not taken."""
    try:
        node = db_api.get_node(node_id, columns=[
            'reservation', 'allocation_id', 'instance_uuid'])
    except exception.NodeNotFound:
        return False
    return bool(node['reservation'] and node['allocation_id'] is None
                and node['instance_uuid'] is None)


def allocate_node(allocation, nodes):
    """Claim the first node that can still be claimed.

    Like Ironic, locked nodes are retried as a group (every candidate is
    tried before any is tried again) rather than each one waited for.
    """
    for attempt in range(CONF.conductor.node_locked_retry_attempts + 1):
        if attempt:
            time.sleep(CONF.conductor.node_locked_retry_interval)
        retry = []
        for node in nodes:
            try:
                db_allocations.claim(allocation, node['id'])
                return node
            except sa_exc.IntegrityError:
                # the allocation's UUID is some node's instance_uuid
                raise exception.InstanceAssociated(
                    instance_uuid=allocation['uuid'], node=node['uuid'])
            except db_allocations.ClaimLost:
                if _worth_retrying(node['id']):
                    retry.append(node)
                else:
                    LOG.debug('Node %s no longer suits allocation %s',
                              node['uuid'], allocation['uuid'])
        nodes = retry
        if not nodes:
            break
    if nodes:
        error = 'could not reserve any of %d suitable nodes' % len(nodes)
    else:
        error = 'all nodes were filtered out during reservation'
    raise AllocationFailed(allocation, error)


def backfill(allocation, node_id):
    """Attach the allocation to a node that is already deployed.

    Any failure marks the allocation ``error`` and is raised to the
    caller, whose request then fails (Ironic: 409 for an associated node,
    500 for a mismatch).
    """
    try:
        _do_backfill(allocation, node_id)
    except AllocationFailed as e:
        LOG.error('%s', e)
        _failed(allocation, e)
        raise exception.BootflowException(str(e))
    except (exception.NodeAssociated, exception.InstanceAssociated,
            exception.NodeNotFound) as e:
        LOG.error('Backfilling allocation %s failed: %s',
                  allocation['uuid'], e)
        _failed(allocation, e)
        raise
    except Exception as e:
        LOG.exception('Unexpected exception during backfilling of '
                      'allocation %s', allocation['uuid'])
        _failed(allocation, 'Unexpected exception during allocation: %s'
                % e)
        raise


def _backfill_errors(allocation, node):
    errors = []
    if node['provision_state'] != states.ACTIVE:
        errors.append('Node must be in the "active" state, but the current '
                      'state is "%s"' % node['provision_state'])
    rc = allocation['resource_class']
    if rc and node['resource_class'] != rc:
        errors.append('Resource class %s does not match the requested '
                      'resource class %s' % (node['resource_class'], rc))
    traits = db_api.get_traits([node['id']])[node['id']]
    if allocation['traits'] and not set(allocation['traits']) <= set(traits):
        errors.append('List of traits %s does not match the requested '
                      'traits %s' % (traits, allocation['traits']))
    candidates = allocation['candidate_nodes']
    if candidates and node['uuid'] not in candidates:
        errors.append('Candidate nodes must be empty or contain the target '
                      'node, but got %s' % candidates)
    return errors


def _check_unassociated(allocation, node):
    other = node['instance_uuid']
    if node['allocation_id'] is not None or (
            other and other != allocation['uuid']):
        raise exception.NodeAssociated(node=node['uuid'], instance=other)


def _do_backfill(allocation, node_id):
    node = db_api.get_node(node_id)
    errors = _backfill_errors(allocation, node)
    if errors:
        raise AllocationFailed(allocation,
                               'Cannot backfill an allocation for node %s: '
                               '%s' % (node['uuid'], '; '.join(errors)))
    _check_unassociated(allocation, node)
    try:
        db_allocations.claim(allocation, node['id'], backfill=True)
    except sa_exc.IntegrityError:
        # the allocation's UUID is some other node's instance_uuid
        raise exception.InstanceAssociated(instance_uuid=allocation['uuid'],
                                           node=node['uuid'])
    except db_allocations.ClaimLost:
        # the node changed between the checks and the claim: say how
        node = db_api.get_node(node_id)
        _check_unassociated(allocation, node)
        raise AllocationFailed(allocation, 'Cannot backfill an allocation '
                               'for node %s: it changed meanwhile'
                               % node['uuid'])
    LOG.info('Node %s has been reserved for allocation %s (backfill)',
             node['uuid'], allocation['uuid'])


def resume_unfinished(service):
    """Process again the allocations this conductor left ``allocating``
    (it stopped mid-way) or that no conductor took up; meant for conductor
    start-up, as Ironic does. Processing one twice is harmless: a claim or
    a failure only applies to an allocation still ``allocating``."""
    try:
        mine = db_api.get_conductor(service.host)['id']
    except exception.ConductorNotFound:
        return
    pending = [row['id'] for row in db_allocations.list_allocations(
        {'state': db_allocations.ALLOCATING})
        if row['conductor_affinity'] in (None, mine)]
    if pending:
        LOG.info('Resuming %d unfinished allocations', len(pending))
        service.spawn_worker(_process_each, pending)


def take_over_orphans(service):
    """Allocations still ``allocating`` whose conductor stopped heartbeating
    (or that none took up within a heartbeat timeout): processed here.
    Two conductors doing so at once is harmless, as above."""
    try:
        mine = db_api.get_conductor(service.host)['id']
    except exception.ConductorNotFound:
        return 0
    alive = {c['id'] for c in db_api.list_conductors()
             if hash_ring.is_alive(c)}
    cutoff = db_api.utcnow() - datetime.timedelta(
        seconds=CONF.conductor.heartbeat_timeout)
    orphans = [row['id'] for row in db_allocations.list_allocations(
        {'state': db_allocations.ALLOCATING})
        if row['conductor_affinity'] not in alive
        and row['created_at'] < cutoff]
    for allocation_id in orphans:
        db_allocations.update(allocation_id, {'conductor_affinity': mine})
    if orphans:
        LOG.warning('Taking over %d allocations of stopped conductors',
                    len(orphans))
        service.spawn_worker(_process_each, orphans)
    return len(orphans)


def _process_each(allocation_ids):
    for allocation_id in allocation_ids:
        do_allocate(allocation_id)


def destroy(allocation_id):
    """Delete an allocation and release its node (Ironic's rules: 409 for
    an active node out of maintenance)."""
    db_allocations.destroy(allocation_id)
