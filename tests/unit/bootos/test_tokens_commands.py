"""Agent tokens and the command queue, as the conductor keeps them in a
node's driver_internal_info."""

import pytest

from bootflow.bootos import commands
from bootflow.bootos import tokens
from bootflow.common import exception


def test_token_is_issued_once_and_only_its_digest_is_stored():
    info = {}
    token = tokens.issue(info)
    assert len(token) >= 32
    assert token not in str(info)
    assert info[tokens.KEY].startswith('sha256:')
    assert tokens.issue(info) == tokens.MASK
    tokens.check(info, token)


@pytest.mark.parametrize('presented, error, status', [
    (None, exception.AgentTokenRequired, 401),
    ('', exception.AgentTokenRequired, 401),
    ('not-the-token', exception.AgentTokenInvalid, 403),
    (tokens.MASK, exception.AgentTokenInvalid, 403),
])
def test_token_check_refuses_missing_and_wrong_tokens(presented, error,
                                                      status):
    info = {}
    tokens.issue(info)
    with pytest.raises(error) as caught:
        tokens.check(info, presented)
    assert caught.value.code == status


def test_a_node_never_issued_a_token_accepts_none():
    with pytest.raises(exception.AgentTokenInvalid):
        tokens.check({}, 'anything')


def test_wipe_and_masked_view():
    info = {'agent_url': 'http://x'}
    token = tokens.issue(info)
    shown = tokens.masked(info)
    assert shown[tokens.KEY] == tokens.MASK and token not in str(shown)
    tokens.wipe(info)
    assert info == {}
    assert tokens.issue(info) != tokens.MASK


def test_queue_hands_out_the_head_until_its_result_arrives():
    info = {}
    first = commands.enqueue(info, 'template.apply', {'section': 'disks'})
    second = commands.enqueue(info, 'system.finish')
    assert [c['id'] for c in commands.next_command(info)] == [first]
    # a lost answer: the same command again
    assert [c['id'] for c in commands.next_command(info)] == [first]
    done = commands.record(info, [
        {'id': first, 'command_status': 'SUCCEEDED',
         'command_result': {'changes': ['x']}},
        {'id': 'unknown', 'command_status': 'SUCCEEDED'}])
    assert [d['id'] for d in done] == [first]
    assert done[0]['params'] == {'section': 'disks'}
    assert [c['id'] for c in commands.next_command(info)] == [second]
    assert commands.record(info, [{'id': first,
                                   'command_status': 'SUCCEEDED'}]) == []
    failed = commands.record(info, [{'id': second, 'command_status': 'FAILED',
                                     'command_error': 'boom'}])
    assert failed[0]['status'] == 'FAILED' and failed[0]['error'] == 'boom'
    assert commands.outstanding(info) == []
    assert [r['id'] for r in info[commands.RESULTS]] == [first, second]
    assert 'params' not in info[commands.RESULTS][0]


def test_results_are_capped_and_params_hidden_from_the_api():
    info = {}
    for _ in range(commands.KEEP_RESULTS + 5):
        cid = commands.enqueue(info, 'inventory.collect')
        commands.record(info, [{'id': cid, 'command_status': 'SUCCEEDED'}])
    assert len(info[commands.RESULTS]) == commands.KEEP_RESULTS
    commands.enqueue(info, 'template.apply',
                     {'spec': {'user': {'password': 'secret'}}})
    shown = commands.hide_params(info)
    assert 'secret' not in str(shown)
    assert 'secret' in str(info)
