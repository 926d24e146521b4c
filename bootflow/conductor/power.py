"""Power actions and the periodic power state sync."""

import concurrent.futures

from oslo_log import log

from bootflow.bootos import tokens
from bootflow.common import exception
from bootflow.common import hash_ring
from bootflow.common import states
from bootflow.conductor import task_manager
from bootflow.conf import CONF
from bootflow.db import api as db_api
from bootflow.db import node_data

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


def _sync_one(service, node_row):
    try:
        with task_manager.acquire(service, None, node_row['id'],
                                  purpose='power state sync') as task:
            try:
                actual = task.driver.power.get_power_state(task)
            except Exception as e:
                _count_failure(task, e)
                return
            changed = _recover_from_power_failure(task)
            recorded = task.node.power_state
            if actual != recorded:
                _reconcile(task, actual, recorded)
                changed = True
            if changed:
                task.node.save()
    except exception.NodeLocked:
        pass    # busy nodes are synced next time
    except exception.NodeNotFound:
        pass
    except Exception:
        LOG.exception('Power state sync failed for node %s',
                      node_row['uuid'])


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
    workers = CONF.conductor.sync_power_state_workers
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda n: _sync_one(service, n), nodes))
    return len(nodes)
