"""Power actions and the periodic power state sync."""

import concurrent.futures

from oslo_log import log

from bootflow.common import exception
from bootflow.common import hash_ring
from bootflow.common import states
from bootflow.conductor import task_manager
from bootflow.conf import CONF
from bootflow.db import api as db_api

LOG = log.getLogger(__name__)


def set_power(task, target, timeout=None):
    """Bring the node to ``target`` and record the state it reached."""
    iface = task.driver.power
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
    node.target_power_state = None
    node.save()


def _sync_one(service, node_row):
    try:
        with task_manager.acquire(service, None, node_row['id'],
                                  purpose='power state sync') as task:
            actual = task.driver.power.get_power_state(task)
            recorded = task.node.power_state
            if actual == recorded:
                return
            if recorded is None or not CONF.conductor.\
                    force_power_state_during_sync:
                LOG.info('Node %s power state is %s (was %s)',
                         task.node.uuid, actual, recorded)
                task.node.power_state = actual
            else:
                LOG.warning('Node %s is %s but should be %s; restoring',
                            task.node.uuid, actual, recorded)
                task.driver.power.set_power_state(task, recorded)
            task.node.save()
    except exception.NodeLocked:
        pass    # busy nodes are synced next time
    except exception.NodeNotFound:
        pass
    except Exception:
        LOG.exception('Power state sync failed for node %s',
                      node_row['uuid'])


def sync_power_states(service):
    """Compare recorded and real power states of this conductor's idle
    nodes; runs from the periodic thread."""
    nodes = db_api.list_nodes(
        filters={'reserved': False, 'maintenance': False,
                 'conductor_group': CONF.conductor.conductor_group,
                 'driver': list(service.catalog.hardware_types)},
        columns=['id', 'uuid', 'driver', 'conductor_group',
                 'provision_state'])
    nodes = [n for n in nodes
             if n['provision_state'] not in states.TRANSITIONAL_STATES
             and n['provision_state'] != states.ENROLL
             and hash_ring.RING.host_for(n) == service.host]
    if not nodes:
        return 0
    workers = CONF.conductor.sync_power_state_workers
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda n: _sync_one(service, n), nodes))
    return len(nodes)
