"""Progress reports from the agent, as kept on the node and shown by
``baremetal node progress``."""

from bootflow.bootos import progress
from bootflow.cli import progress as cli_progress


def test_only_known_fields_and_numbers_are_kept():
    info = {}
    progress.record(info, {
        'kind': 'progress', 'command': 'image.write', 'phase': 'fetching',
        'bytes_written': 50, 'bytes_total': 200, 'blocks_fetched': 3,
        'blocks_reused': True, 'evil': 'x' * 10, 'device': 'd' * 500},
        step={'interface': 'deploy', 'step': 'write_image'})
    kept = info[progress.KEY]
    assert kept['percent'] == 25.0
    assert kept['step'] == 'deploy.write_image'
    assert kept['blocks_fetched'] == 3
    assert 'blocks_reused' not in kept      # a bool is not a count
    assert 'evil' not in kept
    assert len(kept['device']) == 200


def test_the_result_replaces_the_running_report():
    info = {}
    progress.record(info, {'command': 'image.write', 'phase': 'fetching',
                           'bytes_written': 1, 'bytes_total': 4})
    done = {'name': 'image.write', 'status': 'SUCCEEDED', 'result': {
        'root_device': '/dev/vda', 'bytes_written': 4, 'blocks_total': 2,
        'blocks_fetched': 1, 'blocks_reused': 1, 'secret': 'no'}}
    kept = progress.finish(info, done)
    assert kept['phase'] == 'done' and kept['percent'] == 100.0
    assert kept['root_device'] == '/dev/vda' and 'secret' not in kept
    failed = progress.finish(info, {'name': 'image.write',
                                    'status': 'FAILED', 'result': None})
    assert failed['phase'] == 'failed' and failed['percent'] is None


def test_history_line_names_disk_and_blocks():
    text = progress.describe({'status': 'SUCCEEDED', 'result': {
        'root_device': '/dev/sda', 'image_type': 'whole-disk',
        'bytes_written': 8, 'blocks_total': 4, 'blocks_reused': 2,
        'blocks_zero': 1, 'blocks_fetched': 1, 'bytes_fetched': 4,
        'refetched': 0, 'failovers': 0, 'seconds': 1.25}})
    assert text.startswith('Image written to /dev/sda (whole-disk)')
    assert '2 already on disk' in text and '1.2 s' in text
    assert progress.describe({'status': 'FAILED', 'error': 'boom'}) == \
        'Image write failed: boom'


def test_progress_bar_line():
    line = cli_progress.render({
        'provision_state': 'wait call-back',
        'deploy_step': {'interface': 'deploy', 'step': 'write_image'},
        'driver_internal_info': {'agent_progress': {
            'percent': 50.0, 'bytes_written': 512 * 1024 * 1024,
            'bytes_total': 1024 ** 3, 'blocks_total': 256,
            'blocks_fetched': 10, 'blocks_reused': 118, 'blocks_zero': 0,
            'phase': 'fetching', 'step': 'deploy.write_image'}}})
    assert '[' + '#' * 15 + '.' * 15 + ']' in line
    assert ' 50.0%' in line and '512.0 MiB / 1.0 GiB' in line
    assert 'blocks: 10 fetched, 118 reused, 0 zero of 256' in line
    assert line.endswith('wait call-back deploy.write_image (fetching)')
    empty = cli_progress.render({'provision_state': 'available'})
    assert '?%' in empty and 'no report yet' in empty
