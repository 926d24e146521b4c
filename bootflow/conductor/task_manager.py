"""Doing work on a node: the lock, the node, its driver, and the hand-off.

Every change to a node's hardware or provision state happens inside::

    with task_manager.acquire(context, node_id, purpose='deploy') as task:
        task.process_event('deploy', callback=runner.start,
                           call_args=('deploy',))

``acquire`` takes the node's exclusive lock (the ``reservation`` column,
set only if empty, so two conductors never both hold it) and releases it
when the block ends. ``process_event`` moves the node through the state
machine and, with ``callback``, asks for the work to continue in a worker
thread: on leaving the block the lock is handed to that worker instead of
being released, and the worker releases it when the work ends, whatever
happens. If no worker is free, the state change is undone and the caller
gets ``NoFreeConductorWorker`` (HTTP 503) — a node never stays locked or
half-moved.

A *shared* task (``shared=True``) takes no lock; it is for reading, e.g.
validation.
"""

import time

from oslo_log import log

from bootflow.common import exception
from bootflow.common import state_machine
from bootflow.conf import CONF
from bootflow.db import api as db_api
from bootflow.db import node_data
from bootflow.db import records

LOG = log.getLogger(__name__)


class TaskManager:
    def __init__(self, service, context, node_id, shared=False, purpose='',
                 take_over_from=None, wait=True):
        self.service = service
        self.context = context
        self.shared = shared
        self.purpose = purpose
        self._spawn = None
        self._ports = None
        # why a parked flow was woken: 'callback', 'timeout', 'abort' or
        # 'error' (the agent reported a failure, in resume_error)
        self.resume_reason = None
        self.resume_error = None
        self._locked = False
        if shared:
            row = db_api.get_node(node_id)
        elif take_over_from:
            row = db_api.reserve_node(service.host, node_id,
                                      held_by=take_over_from)
        else:
            row = self._lock(node_id, wait)
        self.node = records.NodeRecord(row)
        self._locked = not shared
        try:
            self.driver = service.catalog.driver_for(row)
        except Exception:
            self.release_resources()
            raise
        self.fsm = state_machine.ProvisionFSM(row['provision_state'],
                                              row['target_provision_state'])

    def _lock(self, node_id, wait=True):
        attempts = CONF.conductor.node_locked_retry_attempts if wait else 0
        for attempt in range(attempts + 1):
            try:
                return db_api.reserve_node(self.service.host, node_id)
            except exception.NodeLocked:
                if attempt >= attempts:
                    raise
                time.sleep(CONF.conductor.node_locked_retry_interval)

    @property
    def ports(self):
        if self._ports is None:
            self._ports = db_api.list_ports({'node_id': self.node.id})
        return self._ports

    def require_exclusive_lock(self):
        if self.shared:
            raise exception.BootflowException(
                'An exclusive lock is required for %s' % self.purpose)

    def process_event(self, event, callback=None, call_args=(),
                      target_state=None, call_kwargs=None):
        """Advance the node's provision state; optionally continue in a
        worker. The new state is saved at once so the API shows it."""
        self.require_exclusive_lock()
        previous = (self.node.provision_state,
                    self.node.target_provision_state)
        try:
            new, target = self.fsm.process_event(event, target_state)
        except exception.InvalidStateRequested:
            raise exception.InvalidStateRequested(
                action=event, node=self.node.uuid,
                state=self.node.provision_state)
        self.node.provision_state = new
        self.node.target_provision_state = target
        self.node.save()
        if callback is not None:
            self._spawn = (callback, call_args, call_kwargs or {}, previous)

    def spawn_after(self, callback, *args, **kwargs):
        """Continue in a worker without a state change (power actions)."""
        self._spawn = (callback, args, kwargs, None)

    def release_resources(self):
        if self._locked:
            self._locked = False
            try:
                db_api.release_node(self.service.host, self.node.id)
            except exception.NodeNotLocked:
                LOG.warning('Node %s was not locked by %s on release',
                            self.node.uuid, self.service.host)

    def _run_in_worker(self, callback, args, kwargs):
        try:
            callback(self, *args, **kwargs)
        except Exception:
            LOG.exception('Unexpected error in %s on node %s',
                          self.purpose, self.node.uuid)
        finally:
            self.release_resources()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or self._spawn is None:
            self.release_resources()
            return False
        callback, args, kwargs, previous = self._spawn
        self._spawn = None
        try:
            self.service.spawn_worker(self._run_in_worker, callback, args,
                                      kwargs)
        except exception.NoFreeConductorWorker:
            if previous is not None:
                self.node.provision_state, self.node.target_provision_state \
                    = previous
                self.node.save()
            self.release_resources()
            raise
        return False

    # -- helpers used by the provisioning code ------------------------------

    def fail(self, event, error, target_state=None):
        """Move to the failure state for ``event`` with ``error`` recorded;
        never raises, so callers can use it from exception handlers."""
        LOG.error('%s failed on node %s: %s', self.purpose, self.node.uuid,
                  error)
        self.node.last_error = str(error)
        node_data.record_event(self.node, error, conductor=self.service.host,
                               context=self.context)
        try:
            new, target = self.fsm.process_event(event, target_state)
            self.node.provision_state = new
            self.node.target_provision_state = target
        except exception.InvalidStateRequested:
            pass
        for field in ('deploy_step', 'clean_step', 'service_step'):
            if getattr(self.node, field):
                setattr(self.node, field, {})
        try:
            self.node.save()
        except Exception:
            LOG.exception('Could not record the failure of node %s',
                          self.node.uuid)


def acquire(service, context, node_id, shared=False, purpose='',
            take_over_from=None, wait=True):
    """``wait=False``: a locked node fails at once with NodeLocked instead
    of being retried, for periodic work that simply tries again later."""
    return TaskManager(service, context, node_id, shared=shared,
                       purpose=purpose, take_over_from=take_over_from,
                       wait=wait)
