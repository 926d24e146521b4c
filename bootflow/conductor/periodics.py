"""Periodic work that keeps nodes moving when nothing else will.

- Callback timeouts: a node parked in ``* wait`` longer than its timeout
  has its flow woken with reason 'timeout', which reverts it and fails
  the node.
- Take-over: a node locked by a conductor that stopped heartbeating (or by
  this host before it restarted) is taken over by the conductor the hash
  ring now assigns it to, and its flow resumes from the last atom that
  finished.

Each round is one indexed query when idle; only this conductor's nodes
(by the hash ring) are touched, and the work itself goes to the bounded
worker pool — when the pool is full the rest waits for the next round.
"""

import datetime

from oslo_log import log

from bootflow.common import exception
from bootflow.common import hash_ring
from bootflow.common import states
from bootflow.conductor import task_manager
from bootflow.conductor.flows import builders
from bootflow.conductor.flows import runner
from bootflow.conf import CONF
from bootflow.db import api as db_api

LOG = log.getLogger(__name__)

_COLUMNS = ['id', 'uuid', 'driver', 'conductor_group', 'provision_state',
            'provision_updated_at', 'reservation', 'maintenance']


def _timeouts():
    c = CONF.conductor
    return {states.DEPLOYWAIT: c.deploy_callback_timeout,
            states.CLEANWAIT: c.clean_callback_timeout,
            states.INSPECTWAIT: c.inspect_wait_timeout,
            states.RESCUEWAIT: c.rescue_callback_timeout}


def mine(service, rows):
    """The rows whose node the hash ring gives to this conductor."""
    return [r for r in rows
            if hash_ring.RING.host_for(r) == service.host
            and r['driver'] in service.catalog.hardware_types]


def check_callback_timeouts(service):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    expired = 0
    for state, timeout in _timeouts().items():
        if not timeout:
            continue
        rows = db_api.list_nodes(
            filters={'provision_state': state, 'reserved': False,
                     'provisioned_before': now - datetime.timedelta(
                         seconds=timeout)},
            columns=_COLUMNS)
        for row in mine(service, rows):
            if row['maintenance']:
                continue    # Ironic leaves nodes in maintenance alone
            try:
                with task_manager.acquire(service, None, row['id'],
                                          purpose='callback timeout') as task:
                    if task.node.provision_state != state:
                        continue
                    task.spawn_after(_wake_or_fail, 'timeout')
                expired += 1
            except (exception.NodeLocked, exception.NodeNotFound):
                pass
            except exception.NoFreeConductorWorker:
                return expired
    return expired


def _wake_or_fail(task, reason):
    if not runner.resume(task, reason):
        runner.fail_without_flow(
            task, 'Timeout reached while waiting for the ramdisk')


def take_over(service, row, dead_host):
    """Lock a node held by ``dead_host`` and carry on with its flow."""
    try:
        with task_manager.acquire(service, None, row['id'],
                                  purpose='take over',
                                  take_over_from=dead_host) as task:
            LOG.warning('Taking over node %s from conductor %s (%s)',
                        task.node.uuid, dead_host,
                        task.node.provision_state)
            if task.node.target_power_state:
                task.node.target_power_state = None
                task.node.save()
            task.spawn_after(_recover)
        return True
    except (exception.NodeLocked, exception.NodeNotFound):
        return False


def _recover(task):
    """Resume what the dead conductor was doing; a node that was parked
    in a wait stays parked (its ramdisk will call back)."""
    if task.node.provision_state in states.WAIT_STATES:
        return
    if task.node.provision_state not in states.TRANSITIONAL_STATES:
        runner.forget(task.node.uuid)
        return
    try:
        resumed = runner.resume(task, None)
    except Exception as e:
        LOG.exception('Could not resume the flow of node %s',
                      task.node.uuid)
        runner.fail_without_flow(task, 'Could not resume after the '
                                       'conductor stopped: %s' % e)
        return
    if resumed:
        return
    request = (task.node.driver_internal_info or {}).get('flow_request')
    if request and request.get('flow') in builders.BUILDERS:
        LOG.info('Restarting the %s flow of node %s, which its conductor '
                 'had not begun', request['flow'], task.node.uuid)
        runner.start(task, request['flow'], **(request.get('args') or {}))
        return
    runner.fail_without_flow(
        task, 'The conductor stopped while the node was %s and its '
              'progress was not recorded' % task.node.provision_state)


def take_over_orphans(service):
    """Nodes locked by conductors no longer alive, that map to us."""
    alive = hash_ring.RING.alive_hosts(force=True)
    rows = db_api.list_nodes(filters={'reserved': True}, columns=_COLUMNS)
    orphans = [r for r in rows if r['reservation'] not in alive
               and r['reservation'] != service.host]
    taken = 0
    for row in mine(service, orphans):
        try:
            if take_over(service, row, row['reservation']):
                taken += 1
        except exception.NoFreeConductorWorker:
            break
    return taken


def recover_own(service):
    """At start-up: nodes this host had locked when it stopped."""
    rows = db_api.list_nodes(filters={'reserved_by_any_of': [service.host]},
                             columns=_COLUMNS)
    for row in rows:
        take_over(service, row, service.host)
    return len(rows)
