"""Old API versions through the real clients: the ``baremetal`` CLI pinned
to old microversions, openstacksdk, and raw HTTP for the answers clients
do not expose (406 for younger fields and filters)."""

import pytest

from .conftest import SdkClient, assert_ironic_error, random_mac, unique

pytestmark = pytest.mark.functional


@pytest.fixture(scope='module')
def sdk(sqlite_service):
    client = SdkClient(sqlite_service)
    yield client
    client.close()


def _lower_keys(row):
    # list output is keyed by field name or column title, by client age
    return {k.lower().replace(' ', '_'): v for k, v in row.items()}


def _pinned(cli, version, *args):
    return cli.json('--os-baremetal-api-version', version, *args)


@pytest.mark.parametrize('version,state', [
    ('1.5', 'available'), ('1.10', 'available'), ('1.11', 'enroll'),
])
def test_cli_create_starts_in_the_state_of_its_version(
        sqlite_cli, sqlite_api, node_cleanup, version, state):
    name = unique('ft-ver')
    node = _pinned(sqlite_cli, version, 'node', 'create',
                   '--driver', 'fake-hardware', '--name', name)
    node_cleanup.append((sqlite_api, node['uuid']))
    assert node['name'] == name
    assert node['provision_state'] == state
    shown = _pinned(sqlite_cli, version, 'node', 'show', name)
    assert shown['provision_state'] == state


@pytest.mark.parametrize('version,present,absent', [
    ('1.5', {'name', 'driver_internal_info'},
     {'clean_step', 'raid_config', 'network_interface'}),
    ('1.12', {'raid_config', 'target_raid_config', 'clean_step'},
     {'network_interface', 'resource_class'}),
    ('1.20', {'network_interface'}, {'resource_class', 'boot_interface'}),
    ('1.24', {'resource_class'}, {'boot_interface', 'traits'}),
    ('1.25', {'resource_class'}, {'storage_interface', 'owner'}),
    ('1.50', {'owner', 'conductor', 'protected'}, {'description', 'lessee'}),
])
def test_cli_show_at_pinned_versions(sqlite_cli, sqlite_api, node_cleanup,
                                     version, present, absent):
    node = sqlite_api.create_node()
    node_cleanup.append((sqlite_api, node['uuid']))
    shown = _pinned(sqlite_cli, version, 'node', 'show', node['uuid'])
    assert present <= set(shown), sorted(shown)
    assert not absent & set(shown), sorted(absent & set(shown))


def test_cli_list_at_1_1_shows_available_as_none(sqlite_cli, sqlite_api,
                                                 node_cleanup):
    node = sqlite_api.create_node()
    node_cleanup.append((sqlite_api, node['uuid']))
    sqlite_api.move_to(node['uuid'], 'available')
    for version, state in (('1.1', None), ('1.2', 'available')):
        rows = [_lower_keys(r) for r in
                _pinned(sqlite_cli, version, 'node', 'list')]
        mine = [r for r in rows if r['uuid'] == node['uuid']]
        assert [r['provision_state'] for r in mine] == [state], mine


def test_cli_unset_chassis_uuid_needs_1_25(sqlite_cli, sqlite_api,
                                           node_cleanup):
    chassis = sqlite_api.post('/v1/chassis', json={})
    if chassis.status_code != 201:
        pytest.skip('no chassis API: %s' % chassis.status_code)
    chassis_uuid = chassis.json()['uuid']
    node = sqlite_api.create_node(chassis_uuid=chassis_uuid)
    node_cleanup.append((sqlite_api, node['uuid']))
    proc = sqlite_cli.fails('--os-baremetal-api-version', '1.24', 'node',
                            'unset', node['uuid'], '--chassis-uuid')
    # ironicclient reports a 406 as the operation not being supported
    assert 'not supported by the requested version' in proc.stderr
    sqlite_cli.run('--os-baremetal-api-version', '1.25', 'node', 'unset',
                   node['uuid'], '--chassis-uuid')
    assert sqlite_api.node(node['uuid'])['chassis_uuid'] is None


def test_cli_name_rules_follow_the_version(sqlite_cli, sqlite_api,
                                           node_cleanup):
    name = unique('FT_Upper')
    proc = sqlite_cli.fails('--os-baremetal-api-version', '1.9', 'node',
                            'create', '--driver', 'fake-hardware',
                            '--name', name)
    assert 'invalid name' in proc.stderr
    node = _pinned(sqlite_cli, '1.10', 'node', 'create', '--driver',
                   'fake-hardware', '--name', name)
    node_cleanup.append((sqlite_api, node['uuid']))
    assert node['name'] == name


def test_younger_fields_and_filters_are_406(sqlite_api, node_cleanup):
    node = sqlite_api.create_node()
    node_cleanup.append((sqlite_api, node['uuid']))
    headers = {'X-OpenStack-Ironic-API-Version': '1.49'}
    resp = sqlite_api.get('/v1/nodes/%s' % node['uuid'],
                          params={'fields': 'owner'}, headers=headers)
    assert_ironic_error(resp, 406, 'not acceptable')
    resp = sqlite_api.get('/v1/nodes', params={'owner': 'x'},
                          headers=headers)
    assert_ironic_error(resp, 406, '1.50')
    resp = sqlite_api.patch('/v1/nodes/%s' % node['uuid'],
                            json=[{'op': 'add', 'path': '/owner',
                                   'value': 'x'}], headers=headers)
    assert_ironic_error(resp, 406)
    assert 'owner' not in sqlite_api.get(
        '/v1/nodes/%s' % node['uuid'], headers=headers).json()


def test_sdk_new_fields_and_filters(sdk, sqlite_api, node_cleanup):
    bm = sdk.baremetal
    shard = unique('ft-shard')
    parent = bm.create_node(driver='fake-hardware', name=unique('ft-par'),
                            shard=shard, description='rack 7 spare',
                            instance_name=unique('vm'))
    node_cleanup.append((sqlite_api, parent.id))
    child = bm.create_node(driver='fake-hardware', name=unique('ft-chi'),
                           parent_node=parent.id)
    node_cleanup.append((sqlite_api, child.id))
    got = bm.get_node(parent.id)
    assert got.shard == shard and got.description == 'rack 7 spare'
    assert {n.id for n in bm.nodes(shard=shard)} == {parent.id}
    assert {n.id for n in bm.nodes(instance_name=got.instance_name)} == \
        {parent.id}
    assert child.id not in {n.id for n in bm.nodes()}
    assert {n.id for n in bm.nodes(parent_node=parent.id)} == {child.id}
    assert child.id in {n.id for n in bm.nodes(include_children=True)}
    shards = sqlite_api.get('/v1/shards').json()['shards']
    assert {'name': shard, 'count': 1} in shards


def test_sdk_drivers_and_conductors(sdk, sqlite_service):
    bm = sdk.baremetal
    driver = bm.get_driver('fake-hardware')
    assert driver.default_power_interface == 'fake'
    assert 'fake' in driver.enabled_raid_interfaces
    hosts = {c.hostname: c for c in bm.conductors()}
    assert hosts[sqlite_service.host].alive is True
    conductor = bm.get_conductor(sqlite_service.host)
    assert 'fake-hardware' in conductor.drivers


def test_raid_logical_disk_properties(sqlite_cli):
    props = sqlite_cli.json('driver', 'raid', 'property', 'list',
                            'fake-hardware')
    names = {_lower_keys(p)['property'] for p in props}
    assert {'size_gb', 'raid_level', 'is_root_volume'} <= names


def test_port_fields_by_version(sqlite_api, node_cleanup):
    node = sqlite_api.create_node()
    node_cleanup.append((sqlite_api, node['uuid']))
    port = sqlite_api.create_port(node['uuid'], random_mac())
    old = {'X-OpenStack-Ironic-API-Version': '1.18'}
    shown = sqlite_api.get('/v1/ports/%s' % port['uuid'],
                           headers=old).json()
    assert 'internal_info' in shown and 'pxe_enabled' not in shown
    resp = sqlite_api.post('/v1/ports', json={
        'node_uuid': node['uuid'], 'address': random_mac(),
        'pxe_enabled': False}, headers=old)
    assert_ironic_error(resp, 406)
