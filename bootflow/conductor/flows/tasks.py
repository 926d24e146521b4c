"""The atoms of node flows: each owns one step and undoes only that step.

Every task takes the live ``task`` (a ``TaskManager``: the lock, the node
and its driver). It is injected into the engine as a transient value, so
it is never written to the flow's persisted state; what *is* persisted is
each atom's state and small results, which is what lets a flow resume
after a crash from its last finished atom.

Tasks must be safe to run twice: a conductor may die after a task did its
work but before taskflow recorded it, and the resumed flow re-runs it.

A task that has to wait for the ramdisk returns ``PARKED``. The runner
then suspends the engine — no thread stays behind — and later re-runs
that same task with ``task.resume_reason`` saying why it woke up:
``'callback'`` (the ramdisk called back), ``'timeout'``, ``'abort'`` or
``'error'`` (the ramdisk reported a failure, ``task.resume_error``).
"""

from oslo_log import log
from oslo_utils import timeutils
from taskflow import task as tf_task

from bootflow.bootos import session as agent_session
from bootflow.common import exception
from bootflow.common import states
from bootflow.conductor import power
from bootflow.conductor import steps
from bootflow.conf import CONF

LOG = log.getLogger(__name__)

# What a task returns to park its flow until the ramdisk calls back.
PARKED = 'parked'


class NodeTask(tf_task.Task):
    """Base: names are explicit so a persisted flow maps onto a rebuilt one
    atom by atom, whatever the class layout becomes."""

    def __init__(self, name, **kwargs):
        super().__init__(name=name, **kwargs)


def check_wakeup(task, waited_for):
    """Raise when a parked flow was woken by a timeout, an abort or a
    failure the ramdisk reported, so the engine reverts; return True when
    the ramdisk called back.

    The reason is consumed: a later atom of the same run that parks in
    turn must not take it for its own wake-up.
    """
    reason = task.resume_reason
    task.resume_reason = None
    if reason == 'timeout':
        raise exception.BootflowException(
            'Timeout reached while waiting for %s of node %s'
            % (waited_for, task.node.uuid))
    if reason == 'abort':
        raise exception.BootflowException(
            'Aborted by request while waiting for %s' % waited_for)
    if reason == 'error':
        raise exception.BootflowException(task.resume_error or (
            'The ramdisk reported a failure during %s' % waited_for))
    return reason == 'callback'


def leave_wait_state(task):
    """A resumed flow first moves its node out of ``* wait``: the API
    shows ``deploying``/``cleaning`` again while the conductor works."""
    if task.node.provision_state in (states.DEPLOYWAIT, states.CLEANWAIT,
                                     states.INSPECTWAIT, states.RESCUEWAIT):
        task.process_event('resume')


class Validate(NodeTask):
    """Check the interfaces an operation needs before touching anything."""

    def __init__(self, kinds, **kwargs):
        super().__init__('validate', **kwargs)
        self.kinds = tuple(kinds)

    def execute(self, task):
        for kind in self.kinds:
            task.driver.interfaces[kind].validate(task)


class PrepareRamdisk(NodeTask):
    """Deploy-time boot config (ramdisk, network); removed on revert, and
    the node powered off as Ironic does (``[deploy]
    power_off_after_deploy_failure``): left on, it would idle in the
    ramdisk or boot whatever the failed write left on its disk."""

    def execute(self, task):
        task.driver.deploy.prepare(task)

    def revert(self, task, *args, **kwargs):
        task.driver.deploy.clean_up(task)
        if not CONF.deploy.power_off_after_deploy_failure:
            return
        try:
            power.set_power(task, states.POWER_OFF)
        except Exception as e:
            # the failure being reverted is what the node records
            LOG.warning('Could not power off node %s after its failed '
                        'deploy: %s', task.node.uuid, e)


# Set while a manual cleaning runs only out-of-band steps (BIOS, firmware,
# RAID through the BMC): no ramdisk is booted for it, as in Ironic.
NO_RAMDISK = 'cleaning_without_ramdisk'


class PrepareCleaning(NodeTask):
    def __init__(self, name, requested=None, **kwargs):
        super().__init__(name, **kwargs)
        self.requested = requested

    def _ramdisk_needed(self, task):
        if not self.requested:
            return True
        resolved = steps.resolve_requested(task, 'clean', self.requested)
        return any(s.get('requires_ramdisk', True) for s in resolved)

    def execute(self, task):
        info = dict(task.node.driver_internal_info or {})
        if not self._ramdisk_needed(task):
            info[NO_RAMDISK] = True
            task.node.driver_internal_info = info
            task.node.save()
            return
        if info.pop(NO_RAMDISK, None):
            task.node.driver_internal_info = info
        task.driver.deploy.prepare_cleaning(task)

    def revert(self, task, *args, **kwargs):
        _tear_down_cleaning(task)


def _tear_down_cleaning(task):
    info = task.node.driver_internal_info or {}
    if info.get(NO_RAMDISK):
        info = dict(info)
        info.pop(NO_RAMDISK)
        task.node.driver_internal_info = info
        return
    task.driver.deploy.tear_down_cleaning(task)


class TearDownCleaning(NodeTask):
    def execute(self, task):
        _tear_down_cleaning(task)


class RunSteps(NodeTask):
    """Deploy or clean steps, in Ironic's order, one at a time.

    The plan and the index of the next step live in the node's
    ``driver_internal_info``, so a flow resumed after a wait or a crash
    goes on from the step after the last one that finished — the step that
    asked to wait is done once the ramdisk calls back.
    """

    def __init__(self, kind, requested=None, **kwargs):
        super().__init__('%s_steps' % kind, **kwargs)
        self.kind = kind
        self.requested = requested

    def _plan(self, task):
        info = task.node.driver_internal_info or {}
        key = '%s_steps' % self.kind
        if key not in info:
            if self.kind == 'clean' and self.requested is not None:
                plan = steps.resolve_requested(task, 'clean', self.requested)
            else:
                plan = steps.automated_steps(task, self.kind)
                if self.requested:
                    plan = sorted(
                        plan + steps.resolve_requested(task, self.kind,
                                                       self.requested),
                        key=lambda s: -s['priority'])
            info = dict(info, **{key: plan, key[:-1] + '_index': 0})
            task.node.driver_internal_info = info
        return info[key], info[key[:-1] + '_index']

    def execute(self, task):
        if task.resume_reason:
            check_wakeup(task, 'the %s step' % self.kind)
        leave_wait_state(task)
        plan, index = self._plan(task)
        if steps.run_steps(task, self.kind, plan, start=index) \
                == steps.WAIT_STATE[self.kind]:
            task.process_event('wait')
            return PARKED
        self._forget(task)
        task.node.save()
        return None

    def _forget(self, task):
        info = dict(task.node.driver_internal_info or {})
        info.pop('%s_steps' % self.kind, None)
        info.pop('%s_step_index' % self.kind, None)
        task.node.driver_internal_info = info

    def revert(self, task, *args, **kwargs):
        self._forget(task)
        setattr(task.node, steps.NODE_FIELD[self.kind], {})


class PrepareInstanceBoot(NodeTask):
    """The node boots its deployed OS from now on; undone on revert."""

    def execute(self, task):
        task.driver.boot.prepare_instance(task)

    def revert(self, task, *args, **kwargs):
        task.driver.boot.clean_up_instance(task)


class SetPower(NodeTask):
    """Power on (or off); a revert puts the power back where it was."""

    def __init__(self, name, target, revert_to=None, **kwargs):
        super().__init__(name, **kwargs)
        self.target = target
        self.revert_to = revert_to

    def execute(self, task):
        power.set_power(task, self.target)
        task.node.save()

    def revert(self, task, *args, **kwargs):
        if self.revert_to:
            power.set_power(task, self.revert_to)


class ReadPowerState(NodeTask):
    def execute(self, task):
        task.node.power_state = task.driver.power.get_power_state(task)


class TearDownInstance(NodeTask):
    """Undeploy: stop booting the instance and forget it. Destructive and
    not undoable, so no revert."""

    def execute(self, task):
        task.driver.deploy.tear_down(task)
        task.driver.boot.clean_up_instance(task)
        task.driver.deploy.clean_up(task)
        node = task.node
        node.instance_info = {}
        node.instance_uuid = None
        node.instance_name = None
        info = dict(node.driver_internal_info or {})
        for key in ('is_whole_disk_image', 'root_uuid_or_disk_id',
                    'deploy_steps', 'deploy_step_index'):
            info.pop(key, None)
        node.driver_internal_info = info
        node.save()


class Transition(NodeTask):
    """A provision-state event in the middle of a flow (``deleting`` →
    ``cleaning``). Idempotent: re-running it after a crash is a no-op."""

    def __init__(self, name, event, from_states, **kwargs):
        super().__init__(name, **kwargs)
        self.event = event
        self.from_states = tuple(from_states)

    def execute(self, task):
        if task.node.provision_state in self.from_states:
            task.process_event(self.event)


class Finish(Transition):
    """The last atom: the node reaches its stable state, error cleared."""

    def __init__(self, event, from_states, **kwargs):
        super().__init__('finish', event, from_states, **kwargs)

    def execute(self, task):
        task.node.last_error = None
        super().execute(task)


class Inspect(NodeTask):
    def execute(self, task):
        if task.resume_reason:
            check_wakeup(task, 'inspection')
            leave_wait_state(task)
            return None
        task.node.inspection_started_at = timeutils.utcnow()
        task.node.inspection_finished_at = None
        if task.driver.inspect.inspect_hardware(task) == states.INSPECTWAIT:
            task.process_event('wait')
            return PARKED
        return None

    def revert(self, task, *args, **kwargs):
        task.driver.inspect.abort(task)


class InspectionDone(NodeTask):
    """The inspect interface tidies up (an agent inspection powers the
    node off and removes its ramdisk config) and the time is recorded."""

    def execute(self, task):
        task.driver.inspect.complete(task)
        task.node.inspection_finished_at = timeutils.utcnow()


class Rescue(NodeTask):
    def execute(self, task):
        if task.resume_reason:
            check_wakeup(task, 'the rescue ramdisk')
            leave_wait_state(task)
            return None
        if task.driver.rescue.rescue(task) == states.RESCUEWAIT:
            task.process_event('wait')
            return PARKED
        return None

    def revert(self, task, *args, **kwargs):
        task.driver.rescue.clean_up(task)


class Unrescue(NodeTask):
    def execute(self, task):
        task.driver.rescue.unrescue(task)
        info = dict(task.node.instance_info or {})
        info.pop('rescue_password', None)
        task.node.instance_info = info


class EndAgentSession(NodeTask):
    """Let the BootOS agent finish (it runs its POST script) before the
    node is powered off or rebooted; a no-op when no agent is on the node.

    Undone by nothing: on a revert the agent is told to stop by the power
    off that follows, and its token is wiped with it.
    """

    def execute(self, task):
        if task.resume_reason:
            check_wakeup(task, 'the agent to finish')
            leave_wait_state(task)
            agent_session.close(task)
            return None
        if not agent_session.active(task.node):
            return None
        agent_session.request_finish(task)
        task.process_event('wait')
        task.node.save()
        return PARKED
