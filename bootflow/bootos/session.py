"""A BootOS agent's session with the conductor, from its first lookup to
the power off after its POST script.

Runs in the conductor with the node locked. The session exists while the
node holds an agent token; it ends (token wiped, queue dropped, node
powered off) when the agent has finished or the flow gives up on it.

A parked flow is woken when the agent reports what it waited for: once
the command queue has drained (with 'callback'), or at the first failure
(with 'error' and the agent's message, which becomes the node's
last_error as the flow reverts).
"""

import gzip
import os

from oslo_log import log
from oslo_utils import timeutils

from bootflow.bootos import commands
from bootflow.bootos import configuration
from bootflow.bootos import inspection
from bootflow.bootos import progress
from bootflow.bootos import tokens
from bootflow.bootos import warm_reboot
from bootflow.common import exception
from bootflow.common import states
from bootflow.conductor import power
from bootflow.conf import CONF
from bootflow.db import node_data

LOG = log.getLogger(__name__)

SCRIPTS_KEY = 'bootos_scripts'


LOOKUP_STATES = frozenset((
    states.DEPLOYING, states.DEPLOYWAIT, states.CLEANING, states.CLEANWAIT,
    states.INSPECTING, states.INSPECTWAIT, states.RESCUING,
    states.RESCUEWAIT, states.SERVICING, states.SERVICEWAIT))


def active(node):
    return tokens.has_token(node.driver_internal_info)


def check_lookup_allowed(node):
    """404 (as for an unknown node: nothing is disclosed) unless the node
    is in a state that expects a ramdisk."""
    if CONF.api.restrict_lookup and node.provision_state not in \
            LOOKUP_STATES:
        LOG.warning('Lookup refused for node %s in state %s', node.uuid,
                    node.provision_state)
        raise exception.NotFound()


def waits_for_results(task):
    """Whether the node's parked flow waits for BootOS (its queued
    commands, or an inspection upload) rather than for any heartbeat."""
    node = task.node
    if commands.outstanding(node.driver_internal_info):
        return True
    if node.provision_state == states.INSPECTWAIT:
        return getattr(task.driver.inspect, 'agent_driven', False)
    if node.provision_state in (states.DEPLOYWAIT, states.CLEANWAIT):
        return getattr(task.driver.deploy, 'agent_driven', False)
    return False


def _update(node, change):
    info = dict(node.driver_internal_info or {})
    value = change(info)
    node.driver_internal_info = info
    return value


def issue_token(task):
    """The agent's token (``******`` when already issued); saved."""
    token = _update(task.node, tokens.issue)
    task.node.save()
    return token


def request_finish(task):
    params = warm_reboot.finish_params(task.node)
    _update(task.node, lambda info: commands.enqueue(
        info, 'system.finish', params or None))


def close(task):
    """The agent is done: forget it and power the node off (the next boot,
    into the instance or nowhere, is the flow's business) — unless it is
    jumping into the deployed kernel with kexec: then the node stays on
    and is already booting its instance."""
    def forget(info):
        tokens.wipe(info)
        commands.clear(info)
        return warm_reboot.take(info)
    if _update(task.node, forget):
        task.node.power_state = states.POWER_ON
        _history(task, 'BootOS is starting the deployed kernel (kexec); '
                       'no power cycle', event_type='deploy')
    else:
        power.set_power(task, states.POWER_OFF)
    task.node.save()


def _history(task, message, error=False, event_type='bootos'):
    node_data.record_event(task.node, message, event_type, error=error,
                           conductor=task.service.host, context=task.context)


def _record_script(task, info, event):
    """PRE/POST outcomes are kept on the node (the latest of each) and in
    its history with the end of their output; returns an error message
    when the script failed."""
    name = str(event.get('name') or 'script')
    output = str(event.get('output') or '')
    limit = CONF.agent.script_output_bytes
    tail = output[-limit:] if limit else ''
    failed = bool(event.get('error')) or event.get('rc') not in (0, None)
    summary = {'url': event.get('url'), 'rc': event.get('rc'),
               'duration': event.get('duration'),
               'error': event.get('error'),
               'checksum_ok': event.get('checksum_ok'),
               'finished_at': timeutils.utcnow().isoformat()}
    scripts = dict(info.get(SCRIPTS_KEY) or {})
    scripts[name] = summary
    info[SCRIPTS_KEY] = scripts
    state = ('failed: %s' % (event.get('error') or
                             'exit code %s' % event.get('rc'))
             if failed else 'succeeded')
    _history(task, '%s script %s %s%s' % (
        name.upper(), event.get('url'), state,
        '\n--- output ---\n%s' % tail if tail else ''), error=failed)
    if failed:
        return '%s script %s %s' % (name.upper(), event.get('url'), state)
    return None


def _record_done(task, info, done):
    if done['name'] == 'template.apply':
        configuration.record_result(info, done)
        _history(task, configuration.describe(done),
                 error=done['status'] != commands.SUCCEEDED,
                 event_type='configuration')
    elif done['name'] in IMAGE_COMMANDS:
        progress.finish(info, done)
        if done['name'] == 'image.write':
            _record_image(info, done)
            _history(task, progress.describe(done),
                     error=done['status'] != commands.SUCCEEDED,
                     event_type='deploy')
        elif done['status'] != commands.SUCCEEDED:
            _history(task, 'BootOS command %s failed: %s'
                     % (done['name'], done['error']), error=True)
        else:
            _history(task, 'Disks erased: %s' % _devices(done),
                     event_type='clean')
    elif done['name'] == 'system.finish' and done['result'] and \
            done['status'] == commands.SUCCEEDED:
        line = warm_reboot.record(info, done['result'])
        if line:
            _history(task, line, event_type='deploy')
    elif done['name'] == 'inventory.collect' and done['result']:
        node_data.store_inventory(task.node.id,
                                  done['result'].get('inventory') or {},
                                  {'notes': done['result'].get('notes')})
    elif done['status'] != commands.SUCCEEDED:
        _history(task, 'BootOS command %s failed: %s'
                 % (done['name'], done['error']), error=True)
    if done['status'] != commands.SUCCEEDED:
        return 'BootOS command %s failed: %s' % (
            done['name'] if done['name'] != 'template.apply'
            else '%s (%s)' % (done['name'], done['params'].get('section')),
            done['error'])
    return None


IMAGE_COMMANDS = ('image.write', 'disk.erase_metadata', 'disk.erase')


def _record_image(info, done):
    """What later steps and operators need from a successful write:
    Ironic's keys for the kind of image and the disk it went to."""
    result = done.get('result') or {}
    if done['status'] != commands.SUCCEEDED:
        return
    info['is_whole_disk_image'] = result.get('image_type') != 'partition'
    info['root_device_used'] = result.get('root_device')
    for key in ('disk_identifier', 'partition_uuid'):
        if result.get(key):
            info['root_uuid_or_disk_id'] = result[key]


def _devices(done):
    devices = (done.get('result') or {}).get('devices') or {}
    return ', '.join('%s (%s)' % (name, method)
                     for name, method in sorted(devices.items())) or 'none'


def handle_poll(task, results=(), events=(), agent_version=None):
    """Record what the agent reported and wake its flow if that was what
    the flow waited for. Returns the commands for the agent."""
    node = task.node
    info = dict(node.driver_internal_info or {})
    info['agent_last_heartbeat'] = timeutils.utcnow().isoformat()
    if agent_version:
        info['agent_version'] = agent_version
    failure = None
    for event in events or ():
        if isinstance(event, dict) and event.get('kind') == 'script':
            failure = _record_script(task, info, event) or failure
        elif isinstance(event, dict) and event.get('kind') == 'progress':
            progress.record(info, event, node.deploy_step or
                            node.clean_step)
    done = commands.record(info, results)
    for item in done:
        failure = _record_done(task, info, item) or failure
    node.driver_internal_info = info
    if node.provision_state in states.WAIT_STATES and not node.maintenance:
        if failure:
            task.spawn_after(_resume, 'error', error=failure)
        elif done and not commands.outstanding(info):
            task.spawn_after(_resume, 'callback')
    node.save()
    return commands.next_command(info)


def lookup_view(node, token):
    """What a lookup (or an inspection upload) answers: Ironic's fields
    of the node, and the agent's configuration with its token."""
    return {
        'node': {'uuid': node.uuid, 'properties': node.properties or {},
                 'instance_info': node.instance_info or {},
                 'driver_internal_info': tokens.masked(
                     commands.hide_params(node.driver_internal_info or {}))},
        'config': {'heartbeat_timeout': CONF.api.ramdisk_heartbeat_timeout,
                   'heartbeat_interval': CONF.agent.poll_interval,
                   'agent_token': token, 'agent_token_required': True},
    }


def continue_inspection(task, inventory, plugin_data, discovered=False):
    """An inspection upload: store and apply the inventory, decide the
    configuration, and wake the inspect flow when there is nothing to
    configure (else when the configuration's results are in)."""
    node = task.node
    waiting = node.provision_state == states.INSPECTWAIT
    if not (waiting or discovered):
        LOG.error('Inspection data for node %s in state %s refused',
                  node.uuid, node.provision_state)
        raise exception.NotFound()
    token = _update(node, tokens.issue)
    summary = inspection.process(node, inventory, plugin_data)
    _history(task, ('Discovered and enrolled; ' if discovered else
                    'Inspection: ') + summary, event_type='introspection')
    bootos = (plugin_data or {}).get('bootos') or {}
    queued = 0
    if waiting and CONF.bootos.configure_on_inspection:
        queued = configuration.queue(
            task, inventory=inventory,
            agent_developer=bool(bootos.get('developer')))
    if discovered:
        # nobody waits for a discovered machine: let the agent finish
        request_finish(task)
    elif not queued:
        task.spawn_after(_resume, 'callback')
    node.save()
    return lookup_view(node, token)


def _resume(task, reason, error=None):
    from bootflow.conductor.flows import runner  # runner imports us
    runner.resume(task, reason, error=error)


def store_log(node, reason, text):
    """Write a shipped agent log to ``[agent]deploy_logs_local_path``;
    returns the file's path. Only the end of an oversized log is kept:
    the failure is at the end."""
    limit = CONF.agent.max_log_bytes
    data = text.encode('utf-8', 'replace')[-limit:]
    directory = CONF.agent.deploy_logs_local_path
    os.makedirs(directory, exist_ok=True)
    stamp = timeutils.utcnow().strftime('%Y-%m-%d-%H-%M-%S-%f')
    path = os.path.join(directory, '%s_%s.log.gz' % (node['uuid'], stamp))
    tmp = path + '.tmp'
    with gzip.open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)
    message = 'BootOS agent log (%s) stored in %s' % (
        reason or 'no reason', path)
    node_data.record_event(node, message, 'bootos', error=False)
    return path
