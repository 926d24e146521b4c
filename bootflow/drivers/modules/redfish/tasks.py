"""Waiting on a BMC's jobs: a task monitor, or a value that changes.

Firmware updates, BIOS changes and RAID volumes all end in a job the BMC
runs in the background, through a restart now and then; they wait the same
way, bounded, taking a BMC that is briefly unreachable as "not yet".
"""

from oslo_log import log
import sushy
from sushy import exceptions as sushy_exc
from sushy import taskmonitor

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.drivers.modules.redfish import utils

LOG = log.getLogger(__name__)


# A BMC that is restarting or busy answers these for a while; while
# waiting they mean "not yet", not "failed".
TRANSIENT_ERRORS = (sushy_exc.ConnectionError, sushy_exc.ServerSideError)
_RUNNING_TASK_STATES = (
    sushy.TaskState.NEW, sushy.TaskState.STARTING, sushy.TaskState.RUNNING,
    sushy.TaskState.SUSPENDED, sushy.TaskState.PENDING,
    sushy.TaskState.STOPPING, sushy.TaskState.CANCELLING,
    sushy.TaskState.SERVICE)
_FAILED_TASK_STATES = (sushy.TaskState.EXCEPTION, sushy.TaskState.KILLED,
                       sushy.TaskState.CANCELLED,
                       sushy.TaskState.INTERRUPTED)


def poll(node, check, timeout, interval, what):
    """:func:`utils.wait_for` through a BMC's bad moments: transient
    errors of ``check`` count as "not yet"; if time runs out, the last one
    is named (translated like any Redfish error, without the password)."""
    last = []

    def attempt():
        try:
            return check()
        except TRANSIENT_ERRORS as exc:
            LOG.debug('Node %s: BMC not answering while waiting for %s: '
                      '%s', node.uuid, what, exc)
            last[:] = [exc]
            return None

    try:
        return utils.wait_for(attempt, timeout, interval, what)
    except exception.DriverOperationError as timed_out:
        if not last:
            raise
        try:
            with utils.errors(node, 'read'):
                raise last[0]
        except exception.DriverOperationError as reason:
            raise exception.DriverOperationError(
                err='%s; last error: %s' % (timed_out, reason)) from None


def _read_task(node, monitor, what):
    """The job's Task, or None once the monitor no longer describes one
    (many answer the operation's result, or 404, when it is over)."""
    try:
        return monitor.get_task()
    except TRANSIENT_ERRORS:
        raise
    except (sushy_exc.SushyError, ValueError) as exc:
        LOG.debug('Node %s: no task details for %s: %s', node.uuid, what,
                  exc)
        return None


def wait_task(node, monitor, timeout, what, interval=None, progress=None):
    """Follow a sushy TaskMonitor until the BMC's job is over; returns the
    finished Task, or None when the BMC does not describe it. Raises
    DriverOperationError when the BMC says the job failed.

    The monitor answering 202 means "running"; anything else is read as
    a Task and its TaskState decides, because sushy follows a Task's own
    URI when the BMC returns one, and a Task resource answers 200 while
    it runs. ``progress(task)`` sees each Task read on the way.
    """
    over = object()

    def finished():
        if monitor.is_processing:
            monitor.refresh()
        task = monitor.task if monitor.is_processing else _read_task(
            node, monitor, what)
        if task is None:
            return None if monitor.is_processing else over
        if progress is not None:
            progress(task)
        if monitor.is_processing or task.task_state in _RUNNING_TASK_STATES:
            return None
        return task

    task = poll(node, finished, timeout,
                interval or CONF.redfish.firmware_poll_interval, what)
    if task is over:
        return None
    if task.task_state in _FAILED_TASK_STATES or \
            task.task_status == sushy.Health.CRITICAL:
        raise exception.DriverOperationError(
            err='The BMC reports that %s failed (task %s: %s)%s'
                % (what, task.identity, value(task.task_state) or 'failed',
                   _messages(task)))
    return task


def reread(resource):
    """GET ``resource`` again, leaving what hangs off it (members, sub-
    resources) to be read when next used: a forced refresh would re-read
    those too, failing on a volume that was just deleted."""
    resource.invalidate()
    resource.refresh(force=False)


def value(enum_value):
    return getattr(enum_value, 'value', enum_value)


def _messages(task):
    try:
        task.parse_messages()
    except Exception:  # registries missing or odd: raw messages will do
        pass
    texts = [m.message or m.message_id for m in task.messages or ()
             if m.message or m.message_id]
    return ': %s' % '; '.join(texts) if texts else ''


def is_task_monitor(value):
    return isinstance(value, taskmonitor.TaskMonitor)
