"""What an agent's long commands (image writes, disk erasure) report while
they run, and what their results say once done.

The latest report is kept on the node (``driver_internal_info``
``agent_progress``), so ``baremetal node show`` and ``baremetal node
progress`` see how far a deploy got without any extra API.
"""

from oslo_utils import timeutils

KEY = 'agent_progress'
_FIELDS = ('phase', 'device', 'bytes_written', 'bytes_total',
           'blocks_total', 'blocks_reused', 'blocks_fetched', 'blocks_zero',
           'bytes_fetched')
RESULT_FIELDS = ('root_device', 'root_device_size', 'image_type',
                 'bytes_written', 'bytes_fetched', 'blocks_total',
                 'blocks_reused', 'blocks_fetched', 'blocks_zero',
                 'refetched', 'failovers', 'seconds', 'root_partition',
                 'configdrive_partition')


def _number(value):
    return value if isinstance(value, (int, float)) and \
        not isinstance(value, bool) else None


def percent(done, total):
    if not total or done is None:
        return None
    return round(min(100.0, 100.0 * done / total), 1)


def record(info, event, step=None):
    """Keep the latest progress report (``info`` updated in place).

    Only known fields are kept, numbers as numbers: the report comes from
    the node and is shown to operators.
    """
    kept = {'command': str(event.get('command') or ''),
            'updated_at': timeutils.utcnow().isoformat()}
    for name in _FIELDS:
        value = event.get(name)
        if name in ('phase', 'device'):
            if isinstance(value, str):
                kept[name] = value[:200]
        elif _number(value) is not None:
            kept[name] = value
    kept['percent'] = percent(kept.get('bytes_written'),
                              kept.get('bytes_total'))
    if step:
        kept['step'] = '%s.%s' % (step.get('interface'), step.get('step'))
    info[KEY] = kept


def finish(info, done):
    """The command ended: its result replaces the running report."""
    result = done.get('result') if isinstance(done.get('result'),
                                              dict) else {}
    kept = {name: result[name] for name in RESULT_FIELDS if name in result}
    kept.update(command=done['name'], phase=(
        'done' if done['status'] == 'SUCCEEDED' else 'failed'),
        updated_at=timeutils.utcnow().isoformat())
    kept['percent'] = 100.0 if kept['phase'] == 'done' else None
    info[KEY] = kept
    return kept


def describe(done):
    """One history line for an image write."""
    if done['status'] != 'SUCCEEDED':
        return 'Image write failed: %s' % done['error']
    r = done.get('result') or {}
    text = 'Image written to %s (%s): %s bytes written' % (
        r.get('root_device'), r.get('image_type') or 'whole-disk',
        r.get('bytes_written'))
    if r.get('blocks_total') is not None:
        text += ('; blocks: %s in all, %s already on disk, %s zero, %s '
                 'fetched (%s bytes), %s refetched, %s failovers' % (
                     r.get('blocks_total'), r.get('blocks_reused'),
                     r.get('blocks_zero'), r.get('blocks_fetched'),
                     r.get('bytes_fetched'), r.get('refetched'),
                     r.get('failovers')))
    if r.get('configdrive_partition'):
        text += '; config drive on partition %s' % r['configdrive_partition']
    if r.get('seconds') is not None:
        text += '; %.1f s' % r['seconds']
    return text
