"""Power actions and the periodic power state sync."""

import collections
import concurrent.futures
import random
import threading
import time

from oslo_log import log

from bootflow.bootos import tokens
from bootflow.common import exception
from bootflow.common import hash_ring
from bootflow.common import states
from bootflow.conductor import task_manager
from bootflow.conf import CONF
from bootflow.db import api as db_api
from bootflow.db import node_data
from bootflow.drivers import base

LOG = log.getLogger(__name__)


def set_power(task, target, timeout=None):
    """Bring the node to ``target`` and record the state it reached.

    Powering off or rebooting ends whatever agent ran on the node, so its
    token goes too (as in Ironic): the next ramdisk gets a new one.
    """
    iface = task.driver.power
    if target != states.POWER_ON and tokens.has_token(
            task.node.driver_internal_info):
        info = dict(task.node.driver_internal_info)
        tokens.wipe(info)
        task.node.driver_internal_info = info
    if target in (states.REBOOT, states.SOFT_REBOOT):
        if target == states.REBOOT:
            iface.reboot(task, timeout=timeout)
        else:
            iface.set_power_state(task, target, timeout=timeout)
        reached = states.POWER_ON
    else:
        if task.node.power_state == target:
            return
        iface.set_power_state(task, target, timeout=timeout)
        reached = (states.POWER_OFF if target == states.SOFT_POWER_OFF
                   else target)
    task.node.power_state = reached
    task.node.target_power_state = None


def do_power_action(task, target, timeout=None):
    """Worker body of an API power request; the lock is held throughout."""
    node = task.node
    try:
        set_power(task, target, timeout=timeout)
        node.last_error = None
    except Exception as e:
        LOG.error('Power action %s failed on node %s: %s', target, node.uuid,
                  e)
        node.last_error = ('Failed to change power state to "%s": %s'
                           % (target, e))
        node_data.record_event(node, node.last_error, 'UNKNOWN',
                               conductor=task.service.host,
                               context=task.context)
    node.target_power_state = None
    node.save()


class _SyncState:
    """What one conductor's power sync remembers between sweeps.

    Nodes whose last read failed are *suspects*: they are read in a small
    pool of their own that the sweep does not wait for, and not again
    while a read is still under way, so a rack of dead BMCs delays
    nothing after the sweep that found them.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.suspects = set()
        self.in_flight = set()
        self.per_bmc = {}
        self.suspect_pool = None

    def semaphore(self, key):
        with self.lock:
            sem = self.per_bmc.get(key)
            if sem is None:
                sem = self.per_bmc[key] = threading.BoundedSemaphore(
                    CONF.conductor.sync_power_state_per_bmc)
            return sem

    def begin(self, node_id):
        with self.lock:
            if node_id in self.in_flight:
                return False
            self.in_flight.add(node_id)
            return True

    def end(self, node_id, failed):
        with self.lock:
            self.in_flight.discard(node_id)
            if failed:
                self.suspects.add(node_id)
            else:
                self.suspects.discard(node_id)

    def suspect_executor(self):
        with self.lock:
            if self.suspect_pool is None:
                self.suspect_pool = concurrent.futures.ThreadPoolExecutor(
                    max(1, CONF.conductor.sync_power_state_workers // 4),
                    thread_name_prefix='power-sync-suspects')
            return self.suspect_pool

    def shutdown(self):
        if self.suspect_pool is not None:
            self.suspect_pool.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            self.in_flight.clear()   # cancelled reads will not end()

    def idle(self):
        """True when no suspect read is under way (for tests and stop)."""
        with self.lock:
            return not self.in_flight


def _sync_state(service):
    state = getattr(service, '_power_sync', None)
    if state is None:
        state = service._power_sync = _SyncState()
    return state


def stop_sync(service):
    state = getattr(service, '_power_sync', None)
    if state is not None:
        state.shutdown()


def _read(task, sync):
    """One bounded read: the driver's own retries would let a dead BMC
    hold a sync worker for minutes."""
    iface = task.driver.power
    key_of = getattr(iface, 'bmc_key', None)
    key = key_of(task) if key_of is not None else None
    token = base.read_budget.set(CONF.conductor.sync_power_state_timeout)
    try:
        if key is None:
            return iface.get_power_state(task)
        with sync.semaphore(key):
            return iface.get_power_state(task)
    finally:
        base.read_budget.reset(token)


def _sync_one(service, node_row, begun=False):
    """Read under a shared lock (no database write); lock exclusively
    only when something must change, and then only if no one else holds
    the node — a busy node is synced next time. ``begun``: the caller
    already marked the node in flight."""
    sync = _sync_state(service)
    if not begun and not sync.begin(node_row['id']):
        return
    failed = False
    try:
        with task_manager.acquire(service, None, node_row['id'], shared=True,
                                  purpose='power state sync') as task:
            seen = task.node.power_state
            try:
                actual, error = _read(task, sync), None
                if actual == states.ERROR:
                    # the BMC answered something that is neither on nor
                    # off: as unknown as no answer, never to be "fixed"
                    raise exception.DriverOperationError(
                        err='the BMC reports a power state that is '
                            'neither on nor off')
            except Exception as e:
                actual, error = None, e
            failed = error is not None
            if not failed and actual == seen and not _needs_recovery(task):
                return
        with task_manager.acquire(service, None, node_row['id'], wait=False,
                                  purpose='power state sync') as task:
            if task.node.power_state != seen:
                return  # changed while we read: the next sweep decides
            if failed:
                _count_failure(task, error)
                return
            _recover_from_power_failure(task)
            if actual != seen:
                _reconcile(task, actual, seen)
            task.node.save()
    except exception.NodeLocked:
        pass    # busy nodes are synced next time
    except exception.NodeNotFound:
        pass
    except Exception:
        LOG.exception('Power state sync failed for node %s',
                      node_row['uuid'])
    finally:
        sync.end(node_row['id'], failed)


def _needs_recovery(task):
    node = task.node
    return bool((node.driver_internal_info or {}).get('power_sync_failures')
                or (node.maintenance and node.fault == states.POWER_FAILURE))


def _reconcile(task, actual, recorded):
    if recorded is None or not CONF.conductor.force_power_state_during_sync:
        LOG.info('Node %s power state is %s (was %s)', task.node.uuid,
                 actual, recorded)
        task.node.power_state = actual
    else:
        LOG.warning('Node %s is %s but should be %s; restoring',
                    task.node.uuid, actual, recorded)
        task.driver.power.set_power_state(task, recorded)


def _count_failure(task, error):
    """After ``power_state_sync_max_retries`` failed reads in a row the
    node goes to maintenance with fault "power failure", as in Ironic; a
    later successful read takes it out again."""
    node = task.node
    info = dict(node.driver_internal_info or {})
    failures = info.get('power_sync_failures', 0) + 1
    info['power_sync_failures'] = failures
    node.driver_internal_info = info
    LOG.warning('Could not read the power state of node %s (%d in a row): '
                '%s', node.uuid, failures, error)
    if failures >= CONF.conductor.power_state_sync_max_retries and \
            not node.maintenance:
        node.maintenance = True
        node.fault = states.POWER_FAILURE
        node.power_state = None
        node.maintenance_reason = ('During sync_power_state, max retries '
                                   'exceeded for node %s, node state None '
                                   'does not match expected state. Error: '
                                   '%s' % (node.uuid, error))
        node_data.record_event(node, node.maintenance_reason, 'monitoring',
                               conductor=task.service.host)
    node.save()


def _recover_from_power_failure(task):
    node = task.node
    info = node.driver_internal_info or {}
    changed = False
    if info.get('power_sync_failures'):
        info = dict(info)
        info.pop('power_sync_failures')
        node.driver_internal_info = info
        changed = True
    if node.maintenance and node.fault == states.POWER_FAILURE:
        LOG.info('Node %s answers again; leaving maintenance', node.uuid)
        node.maintenance = False
        node.fault = None
        node.maintenance_reason = None
        changed = True
    return changed


def sync_power_states(service):
    """Compare recorded and real power states of this conductor's idle
    nodes; runs from the periodic thread."""
    nodes = db_api.list_nodes(
        filters={'reserved': False,
                 'conductor_group': CONF.conductor.conductor_group,
                 'driver': list(service.catalog.hardware_types)},
        columns=['id', 'uuid', 'driver', 'conductor_group',
                 'provision_state', 'maintenance', 'fault'])
    # nodes in maintenance are left alone, except those bootflow put
    # there for failing power reads: those are checked for recovery
    nodes = [n for n in nodes
             if (not n['maintenance'] or n['fault'] == states.POWER_FAILURE)
             and n['provision_state'] not in states.TRANSITIONAL_STATES
             and n['provision_state'] != states.ENROLL
             and hash_ring.RING.host_for(n) == service.host]
    if not nodes:
        return 0
    sync = _sync_state(service)
    # shuffled, so the nodes behind one BMC are not read in a burst and a
    # slow stretch of the list does not always delay the same nodes
    random.shuffle(nodes)
    healthy = [n for n in nodes if n['id'] not in sync.suspects]
    suspects = sync.suspect_executor()
    for row in nodes:
        if row['id'] in sync.suspects and sync.begin(row['id']):
            try:
                suspects.submit(_sync_one, service, row, True)
            except RuntimeError:
                sync.end(row['id'], True)
                break   # shutting down
    _sweep(service, healthy)
    return len(nodes)


class _Sweep:
    """Reads rows with ``[conductor]sync_power_state_workers`` threads.

    A read still running after ``[conductor]sync_power_state_patience``
    stops counting against the sweep: its thread finishes it in the
    background (bounded by the read budget) and a new thread takes its
    place, up to four times the workers in all. So BMCs that died since
    the last sweep delay it by the patience each, not by their timeouts,
    and slow ones get more threads rather than holding up fast ones.
    """

    def __init__(self, service, rows):
        self.service = service
        self.pending = collections.deque(rows)
        self.workers = CONF.conductor.sync_power_state_workers
        self.limit = self.workers * 4
        self.lock = threading.Lock()
        self.reading = {}       # thread -> start of its read, or None
        self.detached = set()

    def _work(self):
        me = threading.current_thread()
        while True:
            with self.lock:
                if me in self.detached:
                    if len(self.reading) - len(self.detached) >= \
                            self.workers:
                        break
                    self.detached.discard(me)   # room again: carry on
                if not self.pending:
                    break
                row = self.pending.popleft()
                self.reading[me] = time.monotonic()
            try:
                _sync_one(self.service, row)
            finally:
                with self.lock:
                    self.reading[me] = None
        with self.lock:
            self.reading.pop(me, None)
            self.detached.discard(me)

    def _spawn(self, count):
        for _ in range(count):
            thread = threading.Thread(target=self._work, daemon=True,
                                      name='power-sync')
            with self.lock:
                self.reading[thread] = None
            thread.start()

    def run(self):
        patience = CONF.conductor.sync_power_state_patience
        self._spawn(min(self.workers, len(self.pending)))
        while True:
            time.sleep(min(0.05, patience / 4))
            now = time.monotonic()
            with self.lock:
                counted = [t for t, start in self.reading.items()
                           if t not in self.detached and start is not None]
                if not self.pending and not counted:
                    return
                slow = [t for t in counted
                        if now - self.reading[t] > patience]
                self.detached.update(slow)
                room = self.limit - len(self.reading)
                more = min(len(slow), max(room, 0)) if self.pending else 0
            self._spawn(more)


def _sweep(service, rows):
    if rows:
        _Sweep(service, rows).run()
