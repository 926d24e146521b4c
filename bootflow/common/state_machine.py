"""Ironic's provision state machine, declared once.

The machine is built with ``automaton``; :class:`ProvisionFSM` wraps a copy
of it for one node and tracks the *target* state the way Ironic reports it:
a non-stable state carries the stable state it is heading for, and the
target clears once it is reached.
"""

from automaton import machines as automaton_machines
from automaton import exceptions as automaton_exc

from bootflow.common import exception
from bootflow.common import states as s

# state -> target state it heads for (None for stable states)
_TARGETS = {
    s.ENROLL: None, s.MANAGEABLE: None, s.AVAILABLE: None, s.ACTIVE: None,
    s.ERROR: None, s.RESCUE: None,
    s.VERIFYING: s.MANAGEABLE,
    s.DEPLOYING: s.ACTIVE, s.DEPLOYWAIT: s.ACTIVE, s.DEPLOYFAIL: s.ACTIVE,
    s.DEPLOYHOLD: s.ACTIVE,
    s.CLEANING: s.AVAILABLE, s.CLEANWAIT: s.AVAILABLE,
    s.CLEANFAIL: s.AVAILABLE, s.CLEANHOLD: s.AVAILABLE,
    s.DELETING: s.AVAILABLE,
    s.INSPECTING: s.MANAGEABLE, s.INSPECTWAIT: s.MANAGEABLE,
    s.INSPECTFAIL: s.MANAGEABLE,
    s.ADOPTING: s.ACTIVE, s.ADOPTFAIL: s.ACTIVE,
    s.RESCUING: s.RESCUE, s.RESCUEWAIT: s.RESCUE, s.RESCUEFAIL: s.RESCUE,
    s.UNRESCUING: s.ACTIVE, s.UNRESCUEFAIL: s.ACTIVE,
    s.SERVICING: s.ACTIVE, s.SERVICEWAIT: s.ACTIVE, s.SERVICEFAIL: s.ACTIVE,
    s.SERVICEHOLD: s.ACTIVE,
}

# (from state, event, to state)
TRANSITIONS = (
    (s.ENROLL, 'manage', s.VERIFYING),
    (s.VERIFYING, 'done', s.MANAGEABLE),
    (s.VERIFYING, 'fail', s.ENROLL),

    (s.MANAGEABLE, 'provide', s.CLEANING),
    (s.MANAGEABLE, 'clean', s.CLEANING),
    (s.MANAGEABLE, 'inspect', s.INSPECTING),
    (s.MANAGEABLE, 'adopt', s.ADOPTING),
    (s.AVAILABLE, 'manage', s.MANAGEABLE),
    (s.AVAILABLE, 'deploy', s.DEPLOYING),

    (s.CLEANING, 'done', s.AVAILABLE),
    (s.CLEANING, 'manage', s.MANAGEABLE),
    (s.CLEANING, 'wait', s.CLEANWAIT),
    (s.CLEANING, 'fail', s.CLEANFAIL),
    (s.CLEANING, 'hold', s.CLEANHOLD),
    (s.CLEANWAIT, 'resume', s.CLEANING),
    (s.CLEANWAIT, 'fail', s.CLEANFAIL),
    (s.CLEANWAIT, 'abort', s.CLEANFAIL),
    (s.CLEANWAIT, 'hold', s.CLEANHOLD),
    (s.CLEANHOLD, 'unhold', s.CLEANWAIT),
    (s.CLEANHOLD, 'abort', s.CLEANFAIL),
    (s.CLEANFAIL, 'manage', s.MANAGEABLE),

    (s.DEPLOYING, 'done', s.ACTIVE),
    (s.DEPLOYING, 'wait', s.DEPLOYWAIT),
    (s.DEPLOYING, 'fail', s.DEPLOYFAIL),
    (s.DEPLOYING, 'hold', s.DEPLOYHOLD),
    (s.DEPLOYWAIT, 'resume', s.DEPLOYING),
    (s.DEPLOYWAIT, 'fail', s.DEPLOYFAIL),
    (s.DEPLOYWAIT, 'abort', s.DEPLOYFAIL),
    (s.DEPLOYWAIT, 'delete', s.DELETING),
    (s.DEPLOYWAIT, 'hold', s.DEPLOYHOLD),
    (s.DEPLOYHOLD, 'unhold', s.DEPLOYWAIT),
    (s.DEPLOYHOLD, 'abort', s.DEPLOYFAIL),
    (s.DEPLOYFAIL, 'deploy', s.DEPLOYING),
    (s.DEPLOYFAIL, 'rebuild', s.DEPLOYING),
    (s.DEPLOYFAIL, 'delete', s.DELETING),

    (s.ACTIVE, 'rebuild', s.DEPLOYING),
    (s.ACTIVE, 'delete', s.DELETING),
    (s.ACTIVE, 'rescue', s.RESCUING),
    (s.ACTIVE, 'service', s.SERVICING),
    (s.DELETING, 'clean', s.CLEANING),
    (s.DELETING, 'error', s.ERROR),
    (s.ERROR, 'rebuild', s.DEPLOYING),
    (s.ERROR, 'delete', s.DELETING),

    (s.INSPECTING, 'done', s.MANAGEABLE),
    (s.INSPECTING, 'wait', s.INSPECTWAIT),
    (s.INSPECTING, 'fail', s.INSPECTFAIL),
    (s.INSPECTWAIT, 'resume', s.INSPECTING),
    (s.INSPECTWAIT, 'done', s.MANAGEABLE),
    (s.INSPECTWAIT, 'fail', s.INSPECTFAIL),
    (s.INSPECTWAIT, 'abort', s.INSPECTFAIL),
    (s.INSPECTFAIL, 'manage', s.MANAGEABLE),
    (s.INSPECTFAIL, 'inspect', s.INSPECTING),

    (s.ADOPTING, 'done', s.ACTIVE),
    (s.ADOPTING, 'fail', s.ADOPTFAIL),
    (s.ADOPTFAIL, 'adopt', s.ADOPTING),
    (s.ADOPTFAIL, 'manage', s.MANAGEABLE),

    (s.RESCUING, 'done', s.RESCUE),
    (s.RESCUING, 'wait', s.RESCUEWAIT),
    (s.RESCUING, 'fail', s.RESCUEFAIL),
    (s.RESCUEWAIT, 'resume', s.RESCUING),
    (s.RESCUEWAIT, 'fail', s.RESCUEFAIL),
    (s.RESCUEWAIT, 'abort', s.RESCUEFAIL),
    (s.RESCUEWAIT, 'delete', s.DELETING),
    (s.RESCUE, 'rescue', s.RESCUING),
    (s.RESCUE, 'unrescue', s.UNRESCUING),
    (s.RESCUE, 'delete', s.DELETING),
    (s.RESCUEFAIL, 'rescue', s.RESCUING),
    (s.RESCUEFAIL, 'unrescue', s.UNRESCUING),
    (s.RESCUEFAIL, 'delete', s.DELETING),
    (s.UNRESCUING, 'done', s.ACTIVE),
    (s.UNRESCUING, 'fail', s.UNRESCUEFAIL),
    (s.UNRESCUEFAIL, 'rescue', s.RESCUING),
    (s.UNRESCUEFAIL, 'unrescue', s.UNRESCUING),
    (s.UNRESCUEFAIL, 'delete', s.DELETING),

    (s.SERVICING, 'done', s.ACTIVE),
    (s.SERVICING, 'wait', s.SERVICEWAIT),
    (s.SERVICING, 'fail', s.SERVICEFAIL),
    (s.SERVICING, 'hold', s.SERVICEHOLD),
    (s.SERVICEWAIT, 'resume', s.SERVICING),
    (s.SERVICEWAIT, 'fail', s.SERVICEFAIL),
    (s.SERVICEWAIT, 'abort', s.SERVICEFAIL),
    (s.SERVICEWAIT, 'hold', s.SERVICEHOLD),
    (s.SERVICEHOLD, 'unhold', s.SERVICEWAIT),
    (s.SERVICEHOLD, 'abort', s.SERVICEFAIL),
    (s.SERVICEFAIL, 'service', s.SERVICING),
    (s.SERVICEFAIL, 'abort', s.ACTIVE),
    (s.SERVICEFAIL, 'rescue', s.RESCUING),
)


def _build():
    machine = automaton_machines.FiniteMachine()
    for state, target in _TARGETS.items():
        machine.add_state(state, terminal=False)
    for start, event, end in TRANSITIONS:
        machine.add_transition(start, end, event)
    machine.freeze()
    return machine


MACHINE = _build()


class ProvisionFSM:
    """One node's walk through :data:`MACHINE`."""

    def __init__(self, state, target=None):
        self._machine = MACHINE.copy(shallow=True)
        self._machine.initialize(state or s.ENROLL)
        self.target_state = target

    @property
    def current_state(self):
        return self._machine.current_state

    def is_actionable_event(self, event):
        return self._machine.is_actionable_event(event)

    def process_event(self, event, target_state=None):
        previous = self._machine.current_state
        try:
            self._machine.process_event(event)
        except automaton_exc.NotFound:
            raise exception.InvalidStateRequested(
                action=event, node='', state=self.current_state)
        new = self._machine.current_state
        if new in s.STABLE_STATES:
            # resting: nothing is in progress, so there is no target
            self.target_state = None
        elif (self.target_state is None or previous in s.STABLE_STATES
              or previous in s.FAILURE_STATES):
            # a new operation starts; within one (cleaning -> clean wait ->
            # cleaning) the target chosen at its start is kept, so a manual
            # clean still ends in manageable
            self.target_state = _TARGETS[new]
        if target_state is not None:
            self.target_state = target_state
        return new, self.target_state


def next_state(state, event, target_state=None, current_target=None):
    """Return ``(provision_state, target_provision_state)`` after ``event``.

    :raises InvalidStateRequested: if ``event`` is not allowed in ``state``.
    """
    fsm = ProvisionFSM(state, current_target)
    return fsm.process_event(event, target_state)


def allowed_events(state):
    """Events the machine accepts in ``state`` (used for error messages)."""
    return sorted(ev for start, ev, _ in TRANSITIONS if start == state)
