import pytest

from bootflow.common import exception
from bootflow.common import state_machine
from bootflow.common import states


@pytest.mark.parametrize('state,event,target,expected', [
    (states.ENROLL, 'manage', None, (states.VERIFYING, states.MANAGEABLE)),
    (states.VERIFYING, 'done', states.MANAGEABLE, (states.MANAGEABLE, None)),
    (states.VERIFYING, "fail", states.MANAGEABLE, (states.ENROLL, None)),
    (states.DELETING, "error", states.AVAILABLE, (states.ERROR, None)),
    (states.MANAGEABLE, 'provide', None, (states.CLEANING, states.AVAILABLE)),
    (states.CLEANING, 'done', states.AVAILABLE, (states.AVAILABLE, None)),
    (states.AVAILABLE, 'deploy', None, (states.DEPLOYING, states.ACTIVE)),
    (states.DEPLOYING, 'wait', states.ACTIVE,
     (states.DEPLOYWAIT, states.ACTIVE)),
    (states.DEPLOYING, 'fail', states.ACTIVE,
     (states.DEPLOYFAIL, states.ACTIVE)),
    (states.ACTIVE, 'delete', None, (states.DELETING, states.AVAILABLE)),
    (states.DELETING, 'clean', states.AVAILABLE,
     (states.CLEANING, states.AVAILABLE)),
    (states.RESCUE, 'unrescue', None, (states.UNRESCUING, states.ACTIVE)),
])
def test_transitions_and_targets(state, event, target, expected):
    assert state_machine.next_state(state, event,
                                    current_target=target) == expected


def test_manual_clean_targets_manageable():
    assert state_machine.next_state(
        states.MANAGEABLE, 'clean', target_state=states.MANAGEABLE) == (
        states.CLEANING, states.MANAGEABLE)
    assert state_machine.next_state(
        states.CLEANING, 'manage', current_target=states.MANAGEABLE) == (
        states.MANAGEABLE, None)


@pytest.mark.parametrize('state,event', [
    (states.ENROLL, 'deploy'), (states.ENROLL, 'provide'),
    (states.DEPLOYING, 'delete'), (states.ACTIVE, 'provide'),
    (states.AVAILABLE, 'unrescue'), (states.MANAGEABLE, 'no-such-event'),
])
def test_invalid_transitions_raise(state, event):
    with pytest.raises(exception.InvalidStateRequested):
        state_machine.next_state(state, event)


def test_every_state_reachable_from_enroll():
    seen, todo = {states.ENROLL}, [states.ENROLL]
    while todo:
        state = todo.pop()
        for start, _event, end in state_machine.TRANSITIONS:
            if start == state and end not in seen:
                seen.add(end)
                todo.append(end)
    declared = {s for s, _, _ in state_machine.TRANSITIONS} | {
        e for _, _, e in state_machine.TRANSITIONS}
    assert declared == seen


def test_api_verbs_map_to_known_events():
    events = {e for _, e, _ in state_machine.TRANSITIONS}
    assert set(states.VERBS.values()) <= events
    assert set(states.VERBS) == set(states.VERB_MIN_VERSION)


def test_allowed_events_lists_outgoing_events():
    assert state_machine.allowed_events(states.AVAILABLE) == [
        'deploy', 'manage']


def test_target_kept_through_waits_of_one_operation():
    fsm = state_machine.ProvisionFSM(states.MANAGEABLE)
    fsm.process_event('clean', target_state=states.MANAGEABLE)
    fsm.process_event('wait')
    assert fsm.process_event('resume') == (states.CLEANING,
                                           states.MANAGEABLE)
    assert fsm.process_event('manage') == (states.MANAGEABLE, None)


def test_new_operation_from_failure_gets_its_own_target():
    fsm = state_machine.ProvisionFSM(states.DEPLOYFAIL, states.ACTIVE)
    assert fsm.process_event('delete') == (states.DELETING,
                                           states.AVAILABLE)
