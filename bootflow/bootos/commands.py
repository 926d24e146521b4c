"""The conductor's side of the agent's command channel.

BootOS agents pull their work: each poll returns the first command the
conductor queued that has no result yet, and reports the results of the
commands it ran. The queue lives in the node's ``driver_internal_info``
(``bootos_commands``), so it survives a conductor restart and moves with
the node to whichever conductor takes it over; a poll whose answer was
lost simply gets the same command again (the agent skips ids it already
has).

Results are kept (``bootos_results``, the most recent few) so operators
can read what each command did on the node itself.
"""

import uuid

from oslo_utils import timeutils

QUEUE = 'bootos_commands'
RESULTS = 'bootos_results'
KEEP_RESULTS = 20

SUCCEEDED = 'SUCCEEDED'
FAILED = 'FAILED'


def enqueue(info, name, params=None):
    """Queue a command (``info`` updated in place); returns its id."""
    command = {'id': uuid.uuid4().hex, 'name': name,
               'params': params or {},
               'queued_at': timeutils.utcnow().isoformat()}
    info[QUEUE] = list(info.get(QUEUE) or []) + [command]
    return command['id']


def outstanding(info):
    return list((info or {}).get(QUEUE) or [])


def next_command(info):
    """What a poll hands out: the head of the queue, at most one command,
    since the agent runs one at a time and in order."""
    queue = outstanding(info)
    if not queue:
        return []
    head = queue[0]
    return [{'id': head['id'], 'name': head['name'],
             'params': head['params']}]


def record(info, results):
    """Take the results a poll reported for queued commands off the queue
    (``info`` updated in place). Returns the recorded results, each with
    its command's name and params; results for unknown ids (already
    recorded, or from before a restart) are ignored."""
    queue = outstanding(info)
    by_id = {c['id']: c for c in queue}
    done = []
    for result in results or ():
        command = by_id.pop(result.get('id'), None)
        if command is None:
            continue
        status = result.get('command_status')
        done.append({
            'id': command['id'], 'name': command['name'],
            'params': command['params'],
            'status': SUCCEEDED if status == SUCCEEDED else FAILED,
            'result': result.get('command_result'),
            'error': result.get('command_error') or (
                None if status == SUCCEEDED
                else 'the agent reported status %r' % status),
            'finished_at': timeutils.utcnow().isoformat()})
    if done:
        info[QUEUE] = [c for c in queue if c['id'] in by_id]
        kept = list(info.get(RESULTS) or []) + [
            _summary(d) for d in done]
        info[RESULTS] = kept[-KEEP_RESULTS:]
    return done


def _summary(done):
    """Results are kept without the params, which may hold BMC
    passwords."""
    return {k: done[k] for k in ('id', 'name', 'status', 'result', 'error',
                                 'finished_at')}


def clear(info):
    info.pop(QUEUE, None)


def hide_params(info):
    """``info`` as the API shows it: queued commands without their
    params (a BMC section carries passwords)."""
    queue = (info or {}).get(QUEUE)
    if not queue:
        return info
    shown = [{k: c.get(k) for k in ('id', 'name', 'queued_at')}
             for c in queue]
    return dict(info, **{QUEUE: shown})
