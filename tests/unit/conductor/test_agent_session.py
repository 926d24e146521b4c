"""The conductor's half of a BootOS session, driven through the manager
as the API drives it: inspection upload, polls with results and script
events, and the flows they wake or fail."""

import pytest

from bootflow.bootos import commands
from bootflow.common import exception
from bootflow.common import states
from bootflow.db import api as db_api
from bootflow.db import node_data
from tests.unit.conductor.helpers import make_node
from tests.unit.conductor.helpers import wait_for
from tests.unit.conductor.helpers import wait_state

GiB = 1024 ** 3
PXE_MAC = '52:54:00:12:34:02'
INVENTORY = {
    'cpu': {'count': 4, 'architecture': 'x86_64'},
    'memory': {'total': 8 * GiB, 'physical_mb': 8192},
    'disks': [{'name': '/dev/vda', 'size': 40 * GiB}],
    'interfaces': [{'name': 'eth0', 'mac_address': '52:54:00:12:34:01'},
                   {'name': 'eth1', 'mac_address': PXE_MAC}],
    'boot': {'current_boot_mode': 'bios', 'pxe_interface': PXE_MAC},
    'system_vendor': {'manufacturer': 'QEMU', 'product_name': 'Standard PC'},
}

TEMPLATE = """
name: vm-disks
match:
  system_vendor.manufacturer: "QEMU"
disks:
  - device: /dev/vda
    table: gpt
    partitions:
      - {name: root, size: "100%", type: linux, filesystem: {type: ext4}}
"""


@pytest.fixture
def templates(conf, tmp_path):
    path = tmp_path / 'templates'
    path.mkdir()
    (path / 'vm.yaml').write_text(TEMPLATE)
    conf.set_override('templates_path', str(path), 'bootos')
    return path


def _inspecting(service, **driver_info):
    node = make_node(provision_state=states.MANAGEABLE,
                     power_state=states.POWER_OFF, inspect_interface='agent',
                     deploy_interface='bootos', driver_info=driver_info)
    service.manager.do_provisioning_action(None, node['id'], 'inspect')
    wait_state(node['id'], states.INSPECTWAIT)
    return node


def _head(node_id):
    """The command at the head of the node's queue, once its flow is
    parked (unlocked) again."""
    row = wait_state(node_id, states.INSPECTWAIT)
    queue = commands.outstanding(row['driver_internal_info'])
    return queue[0] if queue else None


def _ok(command, result=None):
    return {'id': command['id'], 'command_status': 'SUCCEEDED',
            'command_result': result or {}}


def test_inspection_without_template_finishes_after_post(service, templates):
    (templates / 'vm.yaml').unlink()
    node = _inspecting(service)
    view = service.manager.continue_inspection(None, node['id'], INVENTORY)
    assert view['config']['agent_token'] not in ('', None, '******')
    finish = wait_for(lambda: _head(node['id']))
    assert finish['name'] == 'system.finish'
    row = db_api.get_node(node['id'])
    assert row['provision_state'] == states.INSPECTWAIT
    assert row['properties']['cpus'] == 4
    ports = {p['address']: p['pxe_enabled'] for p in
             db_api.list_ports(filters={'node_id': node['id']})}
    assert ports == {'52:54:00:12:34:01': False, PXE_MAC: True}
    assert node_data.get_inventory(node['id'])['inventory'] == INVENTORY

    post = {'kind': 'script', 'name': 'post', 'url': 'http://h/post',
            'rc': 0, 'output': 'bye\n'}
    service.manager.bootos_poll(None, node['id'], results=[_ok(finish)],
                                events=[post])
    row = wait_state(node['id'], states.MANAGEABLE)
    assert row['power_state'] == states.POWER_OFF
    assert row['inspection_finished_at'] is not None
    info = row['driver_internal_info']
    assert 'agent_secret_token' not in info
    assert info['bootos_scripts']['post']['rc'] == 0


def test_template_sections_are_queued_in_order_and_recorded(service,
                                                            templates):
    node = _inspecting(service)
    service.manager.continue_inspection(None, node['id'], INVENTORY)
    apply = _head(node['id'])
    assert apply['name'] == 'template.apply'
    assert apply['params']['section'] == 'disks'
    assert apply['params']['developer'] is False
    served = service.manager.bootos_poll(None, node['id'])
    assert [c['id'] for c in served] == [apply['id']]
    service.manager.bootos_poll(None, node['id'], results=[_ok(
        apply, {'changes': ['/dev/vda: new gpt table'], 'applied': True})])
    finish = wait_for(lambda: (lambda c: c if c and
                               c['name'] == 'system.finish' else None)(
        _head(node['id'])))
    service.manager.bootos_poll(None, node['id'], results=[_ok(finish)])
    row = wait_state(node['id'], states.MANAGEABLE)
    config = row['driver_internal_info']['bootos_config']['disks']
    assert config['status'] == 'SUCCEEDED'
    assert config['changes'] == ['/dev/vda: new gpt table']
    events = [e['event'] for e in node_data.list_history(node['id'])]
    assert any('BootOS disks: /dev/vda: new gpt table' in e for e in events)


def test_a_failed_section_fails_inspection_and_reverts(service, templates):
    node = _inspecting(service)
    service.manager.continue_inspection(None, node['id'], INVENTORY)
    apply = _head(node['id'])
    service.manager.bootos_poll(None, node['id'], results=[{
        'id': apply['id'], 'command_status': 'FAILED',
        'command_error': 'ConfigError: sfdisk: /dev/vda: busy'}])
    row = wait_state(node['id'], states.INSPECTFAIL)
    assert 'sfdisk: /dev/vda: busy' in row['last_error']
    assert 'disks' in row['last_error']
    assert row['power_state'] == states.POWER_OFF
    assert row['reservation'] is None
    assert 'agent_secret_token' not in row['driver_internal_info']
    assert commands.outstanding(row['driver_internal_info']) == []


def test_failing_pre_script_stops_the_flow(service, templates):
    node = _inspecting(service)
    service.manager.continue_inspection(None, node['id'], INVENTORY)
    pre = {'kind': 'script', 'name': 'pre', 'url': 'http://h/pre.sh',
           'rc': 3, 'output': 'no RAID controller\n'}
    service.manager.bootos_poll(None, node['id'], events=[pre])
    row = wait_state(node['id'], states.INSPECTFAIL)
    assert 'PRE script http://h/pre.sh failed: exit code 3' in \
        row['last_error']
    events = [e['event'] for e in node_data.list_history(node['id'])]
    assert any('no RAID controller' in e for e in events)


def test_user_mode_leaves_unsupported_hardware_alone(service, templates,
                                                     conf, tmp_path):
    support = tmp_path / 'support.yaml'
    support.write_text('- vendor: "Dell*"\n')
    conf.set_override('support_list', str(support), 'bootos')
    node = _inspecting(service)
    service.manager.continue_inspection(None, node['id'], INVENTORY)
    assert wait_for(lambda: _head(node['id']))['name'] == 'system.finish'
    decision = db_api.get_node(node['id'])['driver_internal_info'][
        'bootos_support']
    assert decision['template'] is None
    assert 'not on the support list' in decision['reason']
    assert "vendor 'QEMU'" in decision['reason']


def test_developer_mode_configures_unsupported_hardware(service, templates,
                                                        conf, tmp_path):
    support = tmp_path / 'support.yaml'
    support.write_text('- vendor: "Dell*"\n')
    conf.set_override('support_list', str(support), 'bootos')
    node = _inspecting(service, bootos_developer_mode='true')
    service.manager.continue_inspection(None, node['id'], INVENTORY)
    apply = _head(node['id'])
    assert apply['name'] == 'template.apply'
    assert apply['params']['developer'] is True


def test_developer_mode_reported_by_the_agent(service, templates, conf,
                                              tmp_path):
    support = tmp_path / 'support.yaml'
    support.write_text('- vendor: "Dell*"\n')
    conf.set_override('support_list', str(support), 'bootos')
    node = _inspecting(service)
    service.manager.continue_inspection(
        None, node['id'], INVENTORY, {'bootos': {'developer': True}})
    apply = _head(node['id'])
    assert apply['name'] == 'template.apply'
    assert apply['params']['developer'] is True


def test_inspection_data_for_a_node_not_waiting_is_refused(service):
    node = make_node(provision_state=states.MANAGEABLE,
                     inspect_interface='agent')
    with pytest.raises(exception.NotFound):
        service.manager.continue_inspection(None, node['id'], INVENTORY)
    assert db_api.list_ports(filters={'node_id': node['id']}) == []


def test_a_bare_heartbeat_does_not_end_an_agent_inspection(service):
    node = _inspecting(service)
    service.manager.heartbeat(None, node['id'], 'http://127.0.0.1:9')
    row = wait_state(node['id'], states.INSPECTWAIT)
    assert row['inspection_finished_at'] is None
    # nor while the agent's commands are outstanding
    service.manager.continue_inspection(None, node['id'], INVENTORY)
    assert _head(node['id'])['name'] == 'system.finish'
    service.manager.heartbeat(None, node['id'], 'http://127.0.0.1:9')
    row = wait_state(node['id'], states.INSPECTWAIT)
    assert commands.outstanding(row['driver_internal_info'])


def test_heartbeat_outside_a_wait_state_changes_nothing(service):
    node = make_node(provision_state=states.MANAGEABLE)
    service.manager.heartbeat(None, node['id'], 'http://127.0.0.1:9',
                              agent_version='9.9')
    assert db_api.get_node(node['id'])['driver_internal_info'] == \
        node['driver_internal_info']


def test_no_token_for_a_node_that_left_the_lookup_states(service):
    node = make_node(provision_state=states.MANAGEABLE)
    with pytest.raises(exception.NotFound):
        service.manager.get_node_with_token(None, node['id'])
    assert 'agent_secret_token' not in (
        db_api.get_node(node['id'])['driver_internal_info'] or {})
