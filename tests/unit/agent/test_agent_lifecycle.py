"""The agent's whole life against a fake of the remote API.

The agent runs in a thread of the test (as the ramdisk's only process
would run it) with a stand-in inventory, so these tests exercise the real
client, scripts and poll loop without touching this machine's hardware.
"""

import logging
import threading

import pytest

from bootflow.agent import agent as agent_mod
from bootflow.agent import logbuffer
from bootflow.agent import settings as settings_mod
from tests.unit.agent.test_agent_client import MAC
from tests.unit.agent.test_agent_client import NODE_UUID
from tests.unit.agent.test_agent_client import running_fake
from tests.unit.agent.test_agent_client import fast_client


@pytest.fixture
def fake():
    with running_fake() as api:
        yield api


INVENTORY = {'interfaces': [{'name': 'lo', 'mac_address': '00:00:00:00:00:00'},
                            {'name': 'eth0', 'mac_address': MAC}],
             'cpu': {'count': 4, 'architecture': 'x86_64'}}


def stand_in_inventory(settings):
    return INVENTORY, ['stand-in inventory']


class ConfigError(Exception):
    """Stands in for bootflow.agent.config.ConfigError."""


@pytest.fixture
def buffer(caplog):
    """The agent's log buffer, attached where the agent logs."""
    caplog.set_level(logging.DEBUG, logger='bootflow.agent')
    handler = logbuffer.RingBufferHandler()
    logger = logging.getLogger('bootflow.agent')
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def make_agent(fake, buffer):
    def make(**kwargs):
        fields = {'api_url': fake.url, 'lookup_timeout': 5,
                  'script_timeout': 10, 'poll_interval': 0.02}
        fields.update(kwargs.pop('settings', {}))
        kwargs.setdefault('inventory_func', stand_in_inventory)
        kwargs.setdefault('client', fast_client(fake.url))
        return agent_mod.Agent(settings_mod.Settings(**fields),
                               log_buffer=buffer, version='test', **kwargs)
    return make


def run(agent, timeout=30):
    """run() in a thread, as a ramdisk would; the exit code."""
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(agent.run()),
                              daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        agent.stop()
        thread.join(5)
        pytest.fail('the agent did not finish in %ss' % timeout)
    return outcome[0]


def script_url(fake, name, body):
    fake.files[name] = body
    return fake.url + '/files/' + name


# -- identification --------------------------------------------------------

def test_lookup_path_runs_commands_and_finishes(fake, make_agent):
    collect = fake.command('inventory.collect')
    finish = fake.command('system.finish')
    assert run(make_agent()) == agent_mod.EXIT_OK
    lookup, = fake.of_kind('lookup')
    # The all-zero MAC of loopback is no address to look a node up by.
    assert lookup['query'] == {'addresses': MAC}
    assert fake.of_kind('inspect') == []
    assert fake.result(collect) == {
        'id': collect, 'command_name': 'inventory.collect',
        'command_status': 'SUCCEEDED',
        'command_result': {'inventory': INVENTORY,
                           'notes': ['stand-in inventory']},
        'command_error': None}
    assert fake.result(finish)['command_result'] == {'post': None}
    assert fake.queue == []
    # Every command ran once, though the server re-sent each until it had
    # the result.
    assert [r['command_name'] for r in fake.results] == [
        'inventory.collect', 'system.finish']


def test_bootif_and_node_uuid_are_used_for_lookup(fake, make_agent):
    fake.command('system.finish')
    agent = make_agent(settings={'bootif': '52:54:00:ff:ff:ff',
                                 'node_uuid': NODE_UUID})
    assert run(agent) == agent_mod.EXIT_OK
    assert fake.of_kind('lookup')[0]['query'] == {
        'addresses': '52:54:00:ff:ff:ff,' + MAC, 'node_uuid': NODE_UUID}


def test_inspection_path_sends_the_inventory(fake, make_agent):
    fake.command('system.finish')
    assert run(make_agent(settings={'inspect': True})) == agent_mod.EXIT_OK
    assert fake.of_kind('lookup') == []
    inspection, = fake.inspections
    assert inspection == {'inventory': INVENTORY,
                          'bootos': {'notes': ['stand-in inventory'],
                                     'agent_version': 'test',
                                     'developer': False}}
    assert fake.polls[0]['agent_token'] == fake.token


def test_the_callback_url_of_an_inspection_boot_is_used(fake, make_agent):
    fake.command('system.finish')
    agent = make_agent(settings={
        'api_url': 'http://127.0.0.1:9', 'inspect': True,
        'inspection_callback_url': fake.url + '/v1/continue_inspection'})
    # Only the callback is on the fake: point polls there too.
    agent.client.api_url = fake.url
    assert run(agent) == agent_mod.EXIT_OK
    assert len(fake.inspections) == 1


def test_unknown_machine_is_discovered_when_asked(fake, make_agent):
    fake.macs = set()
    fake.discovery = True
    fake.command('system.finish')
    agent = make_agent(settings={'discover': True})
    assert run(agent) == agent_mod.EXIT_OK
    assert len(fake.of_kind('lookup')) == 1
    assert len(fake.inspections) == 1


def test_no_node_after_the_lookup_timeout_is_fatal(fake, make_agent):
    fake.macs = set()
    agent = make_agent(settings={'lookup_timeout': 0.1})
    assert run(agent) == agent_mod.EXIT_FATAL
    assert len(fake.of_kind('lookup')) > 1
    assert fake.polls == [] and fake.logs == []


def test_lookup_waits_for_the_node_to_be_ready(fake, make_agent):
    fake.lookup_misses = 2
    fake.command('system.finish')
    assert run(make_agent()) == agent_mod.EXIT_OK
    assert len(fake.of_kind('lookup')) == 3


def test_a_masked_token_is_fatal(fake, make_agent, caplog):
    fake.token_issued = True
    assert run(make_agent()) == agent_mod.EXIT_FATAL
    assert 'an earlier agent run on this boot already received it' in \
        caplog.text
    assert fake.polls == []


def test_inventory_failure_still_allows_a_lookup_by_bootif(fake,
                                                           make_agent):
    def broken(settings):
        raise RuntimeError('no sysfs')

    fake.command('system.finish')
    agent = make_agent(inventory_func=broken,
                       settings={'bootif': MAC})
    assert run(agent) == agent_mod.EXIT_OK
    assert fake.of_kind('lookup')[0]['query'] == {'addresses': MAC}


# -- PRE and POST ----------------------------------------------------------

def test_pre_success_is_reported_in_the_first_poll(fake, make_agent):
    fake.command('system.finish')
    url = script_url(fake, 'pre.sh',
                     b'#!/bin/sh\necho "pre on $BOOTFLOW_PHASE"\n')
    assert run(make_agent(settings={'pre_url': url})) == agent_mod.EXIT_OK
    event, = fake.polls[0]['events']
    assert (event['name'], event['rc'], event['output'], event['error']) == (
        'pre', 0, 'pre on pre\n', None)
    assert all(p['events'] == [] for p in fake.polls[1:-1])


def test_pre_failure_is_reported_the_log_shipped_and_exit_3(
        fake, make_agent, buffer):
    fake.command('system.finish')
    url = script_url(fake, 'pre.sh', b'#!/bin/sh\necho no RAID\nexit 9\n')
    assert run(make_agent(settings={'pre_url': url})) == \
        agent_mod.EXIT_PRE_FAILED == 3
    poll, = fake.polls
    event, = poll['events']
    assert (event['rc'], event['output']) == (9, 'no RAID\n')
    # The machine was not provisioned any further.
    assert poll['results'] == [] and fake.results == []
    log, = fake.logs
    assert log['reason'] == 'PRE script failed'
    assert log['agent_token'] == fake.token
    assert 'The pre script failed (rc=9)' in log['log']
    assert 'no RAID' in log['log']


def test_pre_checksum_mismatch_is_a_pre_failure(fake, make_agent):
    url = script_url(fake, 'pre.sh', b'#!/bin/sh\n')
    agent = make_agent(settings={'pre_url': url, 'pre_checksum': 'a' * 64})
    assert run(agent) == agent_mod.EXIT_PRE_FAILED
    event, = fake.polls[0]['events']
    assert event['checksum_ok'] is False
    assert event['error'].startswith('Checksum mismatch: expected sha256:')


def test_post_runs_on_finish(fake, make_agent):
    finish = fake.command('system.finish')
    url = script_url(fake, 'post.sh',
                     b'#!/bin/sh\necho "post for $BOOTFLOW_NODE_UUID"\n')
    assert run(make_agent(settings={'post_url': url})) == agent_mod.EXIT_OK
    event, = fake.events
    assert (event['name'], event['rc'], event['output']) == (
        'post', 0, 'post for %s\n' % NODE_UUID)
    result = fake.result(finish)
    assert result['command_status'] == 'SUCCEEDED'
    assert result['command_result'] == {'post': event}
    # The final poll carried both, and the agent stopped polling after it.
    assert fake.polls[-1]['results'] == [result]
    assert fake.polls[-1]['events'] == [event]


def test_post_failure_fails_finish_but_the_agent_still_exits_0(
        fake, make_agent):
    finish = fake.command('system.finish')
    url = script_url(fake, 'post.sh', b'#!/bin/sh\nexit 3\n')
    assert run(make_agent(settings={'post_url': url})) == agent_mod.EXIT_OK
    result = fake.result(finish)
    assert result['command_status'] == 'FAILED'
    assert result['command_error'] == ('PostScriptFailed: POST script '
                                       'failed (rc=3): non-zero exit status')
    assert result['command_result']['post']['rc'] == 3


# -- commands --------------------------------------------------------------

def test_template_apply_passes_the_section_to_the_managers(fake,
                                                           make_agent):
    calls = []

    def apply(section, spec, **kwargs):
        calls.append((section, spec, kwargs))
        return {'section': section, 'changes': ['set BootMode'],
                'applied': True, 'skipped': None}

    apply_id = fake.command('template.apply', {
        'section': 'bios', 'spec': {'settings': {'BootMode': 'Uefi'}},
        'dry_run': True})
    fake.command('system.finish')
    agent = make_agent(apply_func=apply, settings={'developer': True})
    assert run(agent) == agent_mod.EXIT_OK
    assert calls == [('bios', {'settings': {'BootMode': 'Uefi'}},
                      {'dry_run': True, 'developer': True,
                       'inventory': INVENTORY})]
    assert fake.result(apply_id)['command_result']['changes'] == [
        'set BootMode']


def test_a_failing_command_reports_its_error_and_ships_the_log(
        fake, make_agent):
    def apply(section, spec, **kwargs):
        raise ConfigError('mdadm --create failed: device busy')

    bad = fake.command('template.apply', {'section': 'raid', 'spec': {}})
    unknown = fake.command('bogus.command')
    fake.command('system.finish')
    assert run(make_agent(apply_func=apply)) == agent_mod.EXIT_OK
    assert fake.result(bad) == {
        'id': bad, 'command_name': 'template.apply',
        'command_status': 'FAILED', 'command_result': None,
        'command_error': 'ConfigError: mdadm --create failed: device busy'}
    assert fake.result(unknown)['command_status'] == 'FAILED'
    assert fake.result(unknown)['command_error'] == \
        'Unknown command bogus.command'
    # Commands after a failure still run, in order.
    assert [r['command_name'] for r in fake.results] == [
        'template.apply', 'bogus.command', 'system.finish']
    log, = fake.logs
    assert log['reason'].startswith('command template.apply failed')
    assert 'Traceback' in log['log'] and 'device busy' in log['log']
    # The log was there before the server saw the failure.
    kinds = [r['kind'] for r in fake.requests]
    first_report = next(i for i, r in enumerate(fake.requests)
                        if r['kind'] == 'poll' and r['body']['results'])
    assert kinds.index('logs') < first_report


def test_log_upload_command(fake, make_agent):
    upload = fake.command('log.upload', {'reason': 'operator asked'})
    fake.command('system.finish')
    assert run(make_agent()) == agent_mod.EXIT_OK
    assert fake.result(upload)['command_result'] == {}
    log, = fake.logs
    assert log['reason'] == 'operator asked'
    assert 'This machine is node %s' % NODE_UUID in log['log']


def test_heartbeat_continues_while_a_slow_command_runs(fake, make_agent):
    started = threading.Event()
    release = threading.Event()
    running = []
    overlap = []

    def slow(section, spec, **kwargs):
        overlap.append(len(running))
        running.append(section)
        started.set()
        assert release.wait(30)
        running.remove(section)
        return {'section': section}

    first = fake.command('template.apply', {'section': 'raid'})
    second = fake.command('template.apply', {'section': 'disks'})
    fake.command('system.finish')
    thread = threading.Thread(target=run, args=(make_agent(apply_func=slow),),
                              daemon=True)
    thread.start()
    assert started.wait(10)
    before = len(fake.polls)
    fake.wait_for(lambda: len(fake.polls) >= before + 3)
    assert fake.result(first) is None
    assert all(p['results'] == [] for p in fake.polls[before:])
    release.set()
    thread.join(30)
    assert not thread.is_alive()
    assert fake.result(first)['command_status'] == 'SUCCEEDED'
    assert fake.result(second)['command_status'] == 'SUCCEEDED'
    # One command at a time, in the order queued.
    assert overlap == [0, 0]
    assert [r['command_result'] for r in fake.results[:2]] == [
        {'section': 'raid'}, {'section': 'disks'}]


def test_next_command_follows_a_result_without_waiting(fake, make_agent):
    # An interval far beyond the test's timeout: only immediate re-polls
    # (and wake-ups when a command finishes) can get through the queue.
    fake.heartbeat_interval = 600
    for _ in range(3):
        fake.command('inventory.collect')
    fake.command('system.finish')
    assert run(make_agent(), timeout=20) == agent_mod.EXIT_OK
    assert len(fake.results) == 4


def test_results_survive_a_failed_poll(fake, make_agent):
    collect = fake.command('inventory.collect')
    fake.command('system.finish')
    agent = make_agent()
    fake.fail['poll'] = [503, 503]
    assert run(agent) == agent_mod.EXIT_OK
    assert fake.result(collect)['command_status'] == 'SUCCEEDED'


def test_poll_failures_beyond_retrying_keep_the_agent_going(fake,
                                                            make_agent):
    fake.command('system.finish')
    client = fast_client(fake.url, retry_timeout=0)
    fake.fail['poll'] = [500, 502, 503]
    url = script_url(fake, 'pre.sh', b'#!/bin/sh\n')
    agent = make_agent(client=client, settings={'pre_url': url})
    assert run(agent) == agent_mod.EXIT_OK
    # The PRE event whose polls failed was reported once it got through.
    assert [e['name'] for e in fake.events] == ['pre']


def test_a_refused_token_mid_run_is_fatal(fake, make_agent):
    def apply(section, spec, **kwargs):
        fake.token = 'rotated'
        return {}

    fake.command('template.apply', {'section': 'bios'})
    assert run(make_agent(apply_func=apply)) == agent_mod.EXIT_FATAL
    assert fake.of_kind('poll')[-1]['body']['agent_token'] != 'rotated'


def test_the_token_is_sent_on_every_poll_and_never_logged(
        fake, make_agent, buffer, caplog):
    caplog.set_level(logging.DEBUG)     # urllib3 and everything else too
    fake.command('inventory.collect')
    fake.command('log.upload', {'reason': 'check'})
    fake.command('system.finish')
    assert run(make_agent(settings={'developer': True})) == \
        agent_mod.EXIT_OK
    assert len(fake.polls) >= 3
    assert all(p['agent_token'] == fake.token for p in fake.polls)
    assert all(log['agent_token'] == fake.token for log in fake.logs)
    assert fake.token not in caplog.text
    assert fake.token not in buffer.text()
    assert all(fake.token not in log['log'] for log in fake.logs)


def test_finish_with_kexec_reports_whether_the_kernel_was_loaded(
        fake, make_agent, monkeypatch):
    """The answer goes with system.finish's result, so the conductor knows
    before the jump whether to power cycle; the jump is main()'s, after
    the result was accepted."""
    from bootflow.agent import kexec
    asked = []

    def prepare(device, tools=None, sys_root='/sys'):
        asked.append((device, sys_root))
        return {'loaded': True, 'kernel': '/boot/vmlinuz'}
    monkeypatch.setattr(kexec, 'prepare', prepare)
    finish = fake.command('system.finish', {'kexec': True})
    agent = make_agent()
    agent._written_device = '/dev/vda'
    assert run(agent) == agent_mod.EXIT_OK
    assert fake.result(finish)['command_result'] == {
        'post': None, 'kexec': {'loaded': True, 'kernel': '/boot/vmlinuz'}}
    assert asked == [('/dev/vda', '/sys')]
    assert agent.kexec_loaded is True


def test_finish_without_kexec_loads_nothing(fake, make_agent):
    fake.command('system.finish')
    agent = make_agent()
    assert run(agent) == agent_mod.EXIT_OK
    assert agent.kexec_loaded is False
