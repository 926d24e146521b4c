"""Deploy and clean steps: collected from a node's interfaces, ordered,
and run one after another with the current step shown on the node.

The order follows Ironic's: higher priority first; among equal priorities,
interfaces in a fixed order (power before management before deploy ...).
"""

from bootflow.common import exception
from bootflow.common import states

# When priorities tie, steps of earlier interfaces run first.
INTERFACE_ORDER = {
    'deploy': ('power', 'management', 'deploy', 'bios', 'raid', 'firmware',
               'boot'),
    'clean': ('power', 'management', 'deploy', 'bios', 'raid', 'firmware'),
}
WAIT_STATE = {'deploy': states.DEPLOYWAIT, 'clean': states.CLEANWAIT}
NODE_FIELD = {'deploy': 'deploy_step', 'clean': 'clean_step'}


def _interface_rank(kind, interface):
    order = INTERFACE_ORDER[kind]
    return order.index(interface) if interface in order else len(order)


def all_steps(task, kind):
    steps = []
    for iface_kind in INTERFACE_ORDER[kind]:
        iface = task.driver.interfaces[iface_kind]
        steps.extend(iface.get_steps(kind, task))
    return steps


def automated_steps(task, kind):
    """Steps that run without being asked for: priority above zero."""
    steps = [s for s in all_steps(task, kind) if s['priority'] > 0]
    return sorted(steps, key=lambda s: (-s['priority'],
                                        _interface_rank(kind, s['interface'])))


def resolve_requested(task, kind, requested):
    """Match user-requested steps (``{'interface', 'step', 'args'}``)
    against what the node's interfaces offer; order is kept as given."""
    available = {(s['interface'], s['step']): s
                 for s in all_steps(task, kind)}
    resolved = []
    for req in requested:
        if not isinstance(req, dict) or 'interface' not in req \
                or 'step' not in req:
            raise exception.InvalidParameterValue(
                err='Each %s step needs "interface" and "step"; got %r'
                    % (kind, req))
        found = available.get((req['interface'], req['step']))
        if found is None:
            raise exception.InvalidParameterValue(
                err='%s step %s.%s is not supported by node %s'
                    % (kind.capitalize(), req['interface'], req['step'],
                       task.node.uuid))
        step = dict(found, args=req.get('args') or {})
        if 'priority' in req:
            step['priority'] = req['priority']
        resolved.append(step)
    return resolved


def run_steps(task, kind, steps, start=0):
    """Run ``steps[start:]`` in order; returns the wait state if a step
    asked to wait for the ramdisk, else None. Exceptions propagate to the
    caller, whose flow reverts.

    The index of the step being run is saved with it, so a flow resumed
    after a crash re-runs the interrupted step (steps are idempotent) and
    one resumed after a wait goes on with the step after the waiting one.
    """
    field = NODE_FIELD[kind]
    index_key = '%s_step_index' % kind
    for index in range(start, len(steps)):
        step = steps[index]
        setattr(task.node, field, {k: step.get(k) for k in
                                   ('interface', 'step', 'priority',
                                    'args')})
        task.node.driver_internal_info = dict(
            task.node.driver_internal_info or {}, **{index_key: index})
        task.node.save()
        iface = task.driver.interfaces[step['interface']]
        result = iface.execute_step(kind, task, step)
        if result == WAIT_STATE[kind]:
            task.node.driver_internal_info = dict(
                task.node.driver_internal_info, **{index_key: index + 1})
            return result
    setattr(task.node, field, {})
    return None
