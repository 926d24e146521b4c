"""The ``direct`` deploy interface driven through the manager, with the
agent's side played by polls: what the conductor prepares and queues,
how progress and results land on the node, and how failures revert."""

import hashlib
import os

import pytest

from bootflow.bootos import commands
from bootflow.common import exception
from bootflow.common import states
from bootflow.db import api as db_api
from bootflow.db import node_data
from tests.unit.conductor.helpers import make_node
from tests.unit.conductor.helpers import wait_for
from tests.unit.conductor.helpers import wait_state

MIB = 1024 * 1024
INVENTORY = {'disks': [{'name': '/dev/vda', 'size': 64 * MIB}],
             'interfaces': [], 'cpu': {'count': 1}, 'memory': {}}


@pytest.fixture
def images(conf, tmp_path):
    conf.set_override('state_path', str(tmp_path / 'state'))
    allowed = tmp_path / 'images'
    allowed.mkdir()
    conf.set_override('file_url_allowed_paths', [str(allowed)],
                      'conductor')
    image = allowed / 'disk.raw'
    with open(image, 'wb') as f:
        for i in range(9):
            f.write(bytes([i + 1]) * MIB)
    return {'dir': allowed, 'raw': image,
            'sha256': hashlib.sha256(image.read_bytes()).hexdigest()}


def _info(images, **extra):
    return dict({'image_source': 'file://%s' % images['raw'],
                 'image_checksum': 'sha256:' + images['sha256'],
                 'image_disk_format': 'raw'}, **extra)


def _head(node_id, state):
    row = wait_state(node_id, state)
    queue = commands.outstanding(row['driver_internal_info'])
    return queue[0] if queue else None


def _next(node_id, state, name):
    return wait_for(lambda: (lambda c: c if c and c['name'] == name
                             else None)(_head(node_id, state)))


def _ok(command, result=None):
    return {'id': command['id'], 'command_status': 'SUCCEEDED',
            'command_result': result or {}}


def _deploying(service, info, configdrive=None, **node):
    node = make_node(provision_state=states.AVAILABLE,
                     power_state=states.POWER_OFF, deploy_interface='direct',
                     instance_info=info, **node)
    service.manager.do_provisioning_action(None, node['id'], 'active',
                                           configdrive=configdrive)
    inventory = _next(node['id'], states.DEPLOYWAIT, 'inventory.collect')
    service.manager.bootos_poll(None, node['id'], results=[_ok(
        inventory, {'inventory': INVENTORY, 'notes': []})])
    return node


def test_image_write_is_queued_from_the_block_store(service, images):
    node = _deploying(service, _info(images),
                      configdrive={'meta_data': {'hostname': 'n1'}},
                      properties={'root_device': {'name': '/dev/vda'}})
    write = _next(node['id'], states.DEPLOYWAIT, 'image.write')
    params = write['params']
    assert params['image_type'] == 'whole-disk'
    assert params['root_device']['name'] == '/dev/vda'
    image = params['image']
    assert image['mode'] == 'blocks'
    assert image['manifest_url'].endswith('.json')
    assert image['sources'] and image['size'] == 9 * MIB
    assert params['configdrive']['data']
    row = db_api.get_node(node['id'])
    assert row['deploy_step']['step'] == 'write_image'
    # what the API shows of the queue has no params (the config drive
    # may carry secrets)
    assert 'params' not in commands.hide_params(
        row['driver_internal_info'])[commands.QUEUE][0]

    service.manager.bootos_poll(None, node['id'], events=[{
        'kind': 'progress', 'command': 'image.write', 'phase': 'fetching',
        'bytes_written': 3 * MIB, 'bytes_total': 9 * MIB,
        'blocks_fetched': 1}])
    shown = db_api.get_node(node['id'])['driver_internal_info'][
        'agent_progress']
    assert shown['percent'] == 33.3
    assert shown['step'] == 'deploy.write_image'

    service.manager.bootos_poll(None, node['id'], results=[_ok(write, {
        'root_device': '/dev/vda', 'image_type': 'whole-disk',
        'bytes_written': 9 * MIB, 'blocks_total': 3, 'blocks_fetched': 3,
        'blocks_reused': 0, 'blocks_zero': 0, 'bytes_fetched': 9 * MIB})])
    # (no token was issued here, so there is no agent session to end)
    row = wait_state(node['id'], states.ACTIVE)
    info = row['driver_internal_info']
    assert info['is_whole_disk_image'] is True
    assert info['root_device_used'] == '/dev/vda'
    assert info['agent_progress']['phase'] == 'done'
    assert row['power_state'] == states.POWER_ON
    events = [e['event'] for e in node_data.list_history(node['id'])]
    assert any(e.startswith('Image written to /dev/vda') for e in events)


def test_second_prepare_reuses_the_manifest(service, images):
    first = _deploying(service, _info(images))
    one = _next(first['id'], states.DEPLOYWAIT, 'image.write')
    os.unlink(images['raw'])       # the origin is gone: nothing to fetch
    second = _deploying(service, dict(_info(images)))
    two = _next(second['id'], states.DEPLOYWAIT, 'image.write')
    assert one['params']['image']['manifest_sha256'] == \
        two['params']['image']['manifest_sha256']


def test_failed_write_fails_the_deploy_and_unlocks(service, images):
    node = _deploying(service, _info(images))
    write = _next(node['id'], states.DEPLOYWAIT, 'image.write')
    service.manager.bootos_poll(None, node['id'], results=[{
        'id': write['id'], 'command_status': 'FAILED',
        'command_error': 'ImageError: image checksum mismatch; the disk '
                         'was left unbootable'}])
    row = wait_state(node['id'], states.DEPLOYFAIL)
    assert 'image checksum mismatch' in row['last_error']
    assert row['reservation'] is None
    assert row['driver_internal_info']['agent_progress']['phase'] == \
        'failed'
    # powered off, as Ironic does: not left idling in BootOS
    assert row['power_state'] == states.POWER_OFF


def test_power_off_after_deploy_failure_can_be_turned_off(service, images,
                                                          conf):
    conf.set_override('power_off_after_deploy_failure', False, 'deploy')
    node = _deploying(service, _info(images, image_source='file:///etc'
                                     '/passwd'))
    row = wait_state(node['id'], states.DEPLOYFAIL)
    assert row['power_state'] == states.POWER_ON


def test_refused_source_fails_the_deploy(service, images, tmp_path):
    outside = tmp_path / 'elsewhere.raw'
    outside.write_bytes(b'x' * MIB)
    node = _deploying(service, _info(images, image_source='file://%s'
                                     % outside))
    row = wait_state(node['id'], states.DEPLOYFAIL)
    assert 'file_url_allowed_paths' in row['last_error']
    assert not commands.outstanding(row['driver_internal_info'])
    assert row['power_state'] == states.POWER_OFF


@pytest.mark.parametrize('info, fragment', [
    ({'image_checksum': None}, 'checksum'),
    ({'image_source': None}, 'image_source'),
    ({'image_download_source': 'ftp'}, 'image_download_source'),
])
def test_validation_refuses_before_deploying(service, images, info,
                                             fragment):
    node = make_node(provision_state=states.AVAILABLE,
                     deploy_interface='direct',
                     instance_info={k: v for k, v in
                                    dict(_info(images), **info).items()
                                    if v is not None})
    with pytest.raises(exception.InvalidParameterValue) as exc:
        service.manager.do_provisioning_action(None, node['id'], 'active')
    assert fragment in str(exc.value)
    assert db_api.get_node(node['id'])['provision_state'] == \
        states.AVAILABLE


def test_bad_root_device_hints_are_refused(service, images):
    node = make_node(provision_state=states.AVAILABLE,
                     deploy_interface='direct', instance_info=_info(images),
                     properties={'root_device': {'colour': 'red'}})
    with pytest.raises(exception.InvalidParameterValue) as exc:
        service.manager.do_provisioning_action(None, node['id'], 'active')
    assert 'root device hints' in str(exc.value)


def test_automated_cleaning_erases_metadata_then_devices(service, conf):
    conf.set_override('erase_devices_priority', 10, 'deploy')
    node = make_node(provision_state=states.MANAGEABLE,
                     power_state=states.POWER_OFF, deploy_interface='direct')
    service.manager.do_provisioning_action(None, node['id'], 'provide')
    meta = _next(node['id'], states.CLEANWAIT, 'disk.erase_metadata')
    plan = db_api.get_node(node['id'])['driver_internal_info'][
        'clean_steps']
    assert [(s['step'], s['priority']) for s in plan] == [
        ('erase_devices_metadata', 99), ('erase_devices', 10)]
    service.manager.bootos_poll(None, node['id'], results=[_ok(
        meta, {'devices': {'/dev/vda': 'metadata'}})])
    erase = _next(node['id'], states.CLEANWAIT, 'disk.erase')
    assert erase['params']['allow_shred'] is False
    service.manager.bootos_poll(None, node['id'], results=[{
        'id': erase['id'], 'command_status': 'FAILED',
        'command_error': 'ImageError: /dev/vda has no hardware secure '
                         'erase'}])
    row = wait_state(node['id'], states.CLEANFAIL)
    assert 'no hardware secure erase' in row['last_error']
    events = [e['event'] for e in node_data.list_history(node['id'])]
    assert any('Disks erased: /dev/vda (metadata)' in e for e in events)


def test_periodic_clean_up_covers_deploy_images(conf, tmp_path):
    from bootflow.conductor import service as conductor_service
    from bootflow.images import prepare
    conf.set_override('state_path', str(tmp_path / 'state'))
    where = prepare.cache_dir()
    orphan = os.path.join(where, '.%s.sha256' % ('0' * 64))
    with open(orphan, 'w') as f:
        f.write('sha256 of a raw image that was evicted\n')
    conductor_service._clean_image_caches()
    assert not os.path.exists(orphan)


# -- warm reboot (kexec) ---------------------------------------------------

def _written(service, images, **driver_info):
    """A deploy with an agent session whose image is written: the flow now
    asks the agent to finish."""
    node = make_node(provision_state=states.AVAILABLE,
                     power_state=states.POWER_OFF, deploy_interface='direct',
                     instance_info=_info(images), driver_info=driver_info)
    service.manager.do_provisioning_action(None, node['id'], 'active')
    inventory = _next(node['id'], states.DEPLOYWAIT, 'inventory.collect')
    service.manager.get_node_with_token(None, node['id'])
    service.manager.bootos_poll(None, node['id'], results=[_ok(
        inventory, {'inventory': INVENTORY, 'notes': []})])
    write = _next(node['id'], states.DEPLOYWAIT, 'image.write')
    service.manager.bootos_poll(None, node['id'], results=[_ok(write, {
        'root_device': '/dev/vda', 'image_type': 'whole-disk',
        'bytes_written': 9 * MIB})])
    return node, _next(node['id'], states.DEPLOYWAIT, 'system.finish')


def _power_calls(node_id):
    return [e['event'] for e in node_data.list_history(node_id)
            if 'kexec' in e['event'] or 'Warm reboot' in e['event']]


@pytest.fixture
def power_requests(monkeypatch):
    """Every power state the fake power driver is asked for."""
    from bootflow.drivers.modules import fake
    asked = []
    real = fake.FakePower.set_power_state

    def spy(self, task, power_state, timeout=None):
        asked.append(power_state)
        return real(self, task, power_state, timeout=timeout)
    monkeypatch.setattr(fake.FakePower, 'set_power_state', spy)
    return asked


def test_kexec_loaded_by_the_agent_spares_the_power_cycle(
        service, images, power_requests):
    node, finish = _written(service, images, bootos_kexec='true')
    assert finish['params'] == {'kexec': True}
    assert db_api.get_node(node['id'])['power_state'] == states.POWER_ON
    del power_requests[:]
    service.manager.bootos_poll(None, node['id'], results=[_ok(finish, {
        'post': None, 'kexec': {'loaded': True, 'kernel': '/boot/vmlinuz',
                                'cmdline': 'root=/dev/vda1 ro'}})])
    row = wait_state(node['id'], states.ACTIVE)
    assert row['power_state'] == states.POWER_ON
    assert 'bootos_kexec' not in row['driver_internal_info']
    events = [e['event'] for e in node_data.list_history(node['id'])]
    assert any(e.startswith('Warm reboot: BootOS loaded /boot/vmlinuz')
               for e in events)
    assert any('no power cycle' in e for e in events)
    assert power_requests == []


def test_kexec_not_possible_falls_back_to_a_power_cycle(
        service, images, power_requests):
    node, finish = _written(service, images, bootos_kexec=True)
    del power_requests[:]
    service.manager.bootos_poll(None, node['id'], results=[_ok(finish, {
        'post': None, 'kexec': {'loaded': False,
                                'reason': 'no kernel (vmlinuz) found'}})])
    row = wait_state(node['id'], states.ACTIVE)
    assert row['power_state'] == states.POWER_ON
    assert power_requests == [states.POWER_OFF, states.POWER_ON]
    assert _power_calls(node['id']) == [
        'Warm reboot not possible, power cycling instead: no kernel '
        '(vmlinuz) found']


def test_without_bootos_kexec_the_agent_is_not_asked(service, images):
    node, finish = _written(service, images)
    assert finish['params'] == {}


def test_a_bad_bootos_kexec_value_is_refused(service, images):
    node = make_node(provision_state=states.AVAILABLE,
                     deploy_interface='direct', instance_info=_info(images),
                     driver_info={'bootos_kexec': 'sometimes'})
    with pytest.raises(exception.InvalidParameterValue,
                       match='bootos_kexec must be a boolean'):
        service.manager.do_provisioning_action(None, node['id'], 'active')
