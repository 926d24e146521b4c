"""Chassis, port groups and volume connectors and targets through the real
``baremetal`` CLI and openstacksdk, on each database backend."""

import uuid

import pytest
from openstack import exceptions as sdk_exc

from .conftest import random_mac, unique, wait_for

pytestmark = pytest.mark.functional


def _lower_keys(row):
    # list commands name columns by field ("node_uuid") or by title
    # ("Node UUID") depending on the client's version
    return {k.lower().replace(' ', '_'): v for k, v in row.items()}


def _rows(cli, *args):
    return [_lower_keys(r) for r in cli.json(*args)]


def _pinned(cli, version, *args):
    return cli.json('--os-baremetal-api-version', version, *args)


@pytest.fixture
def node(api, node_cleanup):
    created = api.create_node(name=unique('ft-ra'))
    node_cleanup.append((api, created['uuid']))
    return created


def _power_off(api, node):
    api.put('/v1/nodes/%s/states/power' % node['uuid'],
            json={'target': 'power off'})
    wait_for(lambda: api.node(node['uuid'])['power_state'] == 'power off',
             timeout=30, message='node %s powered off' % node['uuid'])


# -- chassis -----------------------------------------------------------------

def test_chassis_cli(cli, api):
    chassis = cli.json('chassis', 'create', '--description', 'rack 7',
                       '--extra', 'row=b')
    ident = chassis['uuid']
    assert chassis['description'] == 'rack 7'
    assert chassis['extra'] == {'row': 'b'}
    listed = {r['uuid']: r for r in _rows(cli, 'chassis', 'list')}
    assert listed[ident]['description'] == 'rack 7'
    long_rows = {r['uuid']: r for r in _rows(cli, 'chassis', 'list',
                                             '--long')}
    assert long_rows[ident]['extra'] == {'row': 'b'}
    cli.run('chassis', 'set', ident, '--description', 'rack 8',
            '--extra', 'slot=s3')
    shown = cli.json('chassis', 'show', ident)
    assert shown['description'] == 'rack 8'
    assert shown['extra'] == {'row': 'b', 'slot': 's3'}
    cli.run('chassis', 'unset', ident, '--extra', 'row', '--description')
    shown = _pinned(cli, '1.1', 'chassis', 'show', ident)
    assert shown['extra'] == {'slot': 's3'}
    assert shown['description'] is None
    node = api.create_node(name=unique('ft-ra-ch'), chassis_uuid=ident)
    proc = cli.fails('chassis', 'delete', ident)
    assert 'contains nodes' in proc.stderr
    api.delete('/v1/nodes/%s' % node['uuid'])
    cli.run('chassis', 'delete', ident)
    proc = cli.fails('chassis', 'show', ident)
    assert 'could not be found' in proc.stderr


def test_chassis_sdk(sdk):
    bm = sdk.baremetal
    chassis = bm.create_chassis(description='sdk rack', extra={'a': 'b'})
    assert chassis.description == 'sdk rack'
    assert chassis.id in {c.id for c in bm.chassis()}
    detailed = {c.id: c for c in bm.chassis(details=True)}
    assert detailed[chassis.id].extra == {'a': 'b'}
    assert bm.get_chassis(chassis.id).description == 'sdk rack'
    updated = bm.update_chassis(chassis, description='renamed')
    assert updated.description == 'renamed'
    patched = bm.patch_chassis(chassis, [
        {'op': 'add', 'path': '/extra/c', 'value': 'd'}])
    assert patched.extra == {'a': 'b', 'c': 'd'}
    with pytest.raises(sdk_exc.ConflictException):
        bm.create_chassis(id=chassis.id)
    bm.delete_chassis(chassis)
    with pytest.raises(sdk_exc.NotFoundException):
        bm.get_chassis(chassis.id)


# -- port groups -------------------------------------------------------------

def test_port_group_cli(cli, api, node):
    name, mac = unique('ft-pg'), random_mac()
    group = cli.json('port', 'group', 'create', '--node', node['uuid'],
                     '--address', mac, '--name', name, '--mode', '802.3ad',
                     '--property', 'miimon=100', '--extra', 'a=b',
                     '--unsupport-standalone-ports')
    assert group['address'] == mac
    assert group['mode'] == '802.3ad'
    # the CLI sends key=value values as JSON when they parse as JSON
    assert group['properties'] == {'miimon': 100}
    assert group['standalone_ports_supported'] is False
    shown = cli.json('port', 'group', 'show', name)
    assert shown['uuid'] == group['uuid']
    assert cli.json('port', 'group', 'show', '--address', mac)['name'] == \
        name
    rows = _rows(cli, 'port', 'group', 'list', '--node', node['uuid'])
    assert [(r['uuid'], r['address'], r['name']) for r in rows] == \
        [(group['uuid'], mac, name)]
    rows = _rows(cli, 'port', 'group', 'list', '--long', '--address', mac)
    assert rows[0]['mode'] == '802.3ad'
    assert rows[0]['node_uuid'] == node['uuid']

    cli.run('port', 'group', 'set', name, '--mode', 'balance-rr',
            '--extra', 'c=d', '--support-standalone-ports')
    cli.run('port', 'group', 'unset', name, '--extra', 'a',
            '--property', 'miimon')
    shown = api.get('/v1/portgroups/%s' % group['uuid']).json()
    assert shown['mode'] == 'balance-rr'
    assert shown['extra'] == {'c': 'd'}
    assert shown['properties'] == {}
    assert shown['standalone_ports_supported'] is True

    port = cli.json('port', 'create', '--node', node['uuid'],
                    '--port-group', group['uuid'], random_mac())
    assert port['portgroup_uuid'] == group['uuid']
    members = _rows(cli, 'port', 'list', '--port-group', group['uuid'])
    assert [p['uuid'] for p in members] == [port['uuid']]
    proc = cli.fails('port', 'group', 'delete', name)
    assert 'contains ports' in proc.stderr
    cli.run('port', 'delete', port['uuid'])
    cli.run('port', 'group', 'delete', name)
    assert cli.fails('port', 'group', 'show', name).returncode != 0


def test_port_group_cli_pinned_versions(cli, node):
    group = _pinned(cli, '1.23', 'port', 'group', 'create', '--node',
                    node['uuid'], '--address', random_mac())
    # the CLI prints every column, empty when the response lacks it
    assert group.get('mode') in (None, '')
    assert group.get('properties') in (None, '')
    assert group['standalone_ports_supported'] is True
    shown = _pinned(cli, '1.25', 'port', 'group', 'show', group['uuid'])
    assert shown.get('mode') in (None, '')
    shown = _pinned(cli, '1.26', 'port', 'group', 'show', group['uuid'])
    assert shown['mode'] == 'active-backup'
    assert shown.get('physical_network') in (None, '')
    proc = cli.fails('--os-baremetal-api-version', '1.25', 'port', 'group',
                     'create', '--node', node['uuid'], '--mode', '802.3ad')
    # how ironicclient reports a 406
    assert 'not supported by the requested version' in proc.stderr
    proc = cli.fails('--os-baremetal-api-version', '1.22', 'port', 'group',
                     'list')
    assert 'HTTP 404' in proc.stderr


def test_port_group_sdk(sdk, node):
    bm = sdk.baremetal
    name = unique('ft-pgs')
    group = bm.create_port_group(node_id=node['uuid'], name=name,
                                 address=random_mac(), mode='802.3ad',
                                 properties={'miimon': '100'})
    assert group.mode == '802.3ad'
    assert group.node_id == node['uuid']
    listed = list(bm.port_groups(node=node['uuid'], details=True))
    assert [(g.id, g.properties) for g in listed] == \
        [(group.id, {'miimon': '100'})]
    assert bm.get_port_group(name).id == group.id
    updated = bm.update_port_group(group, extra={'k': 'v'})
    assert updated.extra == {'k': 'v'}
    patched = bm.patch_port_group(group, [
        {'op': 'replace', 'path': '/mode', 'value': 'balance-rr'}])
    assert patched.mode == 'balance-rr'
    with pytest.raises(sdk_exc.ConflictException):
        bm.create_port_group(node_id=node['uuid'], name=name)
    with pytest.raises(sdk_exc.BadRequestException):
        bm.create_port_group(node_id=node['uuid'], address='not-a-mac')
    port = bm.create_port(node_uuid=node['uuid'], address=random_mac(),
                          port_group_id=group.id, pxe_enabled=False)
    assert port.port_group_id == group.id
    # deleting the node takes its port groups and ports along
    bm.delete_node(node['uuid'])
    with pytest.raises(sdk_exc.NotFoundException):
        bm.get_port_group(group.id)


# -- volume connectors and targets -------------------------------------------

def test_volume_connector_cli(cli, api, node):
    iqn = 'iqn.2024-01.org.example:%s' % uuid.uuid4().hex[:8]
    connector = cli.json('volume', 'connector', 'create', '--node',
                         node['uuid'], '--type', 'iqn', '--connector-id',
                         iqn, '--extra', 'a=b')
    assert connector['node_uuid'] == node['uuid']
    assert connector['connector_id'] == iqn
    rows = _rows(cli, 'volume', 'connector', 'list', '--node', node['uuid'])
    assert [(r['uuid'], r['connector_id']) for r in rows] == \
        [(connector['uuid'], iqn)]
    rows = _rows(cli, 'volume', 'connector', 'list', '--node', node['uuid'],
                 '--long')
    assert rows[0]['extra'] == {'a': 'b'}
    proc = cli.fails('volume', 'connector', 'create', '--node',
                     node['uuid'], '--type', 'iqn', '--connector-id', iqn)
    assert 'already exists' in proc.stderr
    # changes wait until the node is powered off
    proc = cli.fails('volume', 'connector', 'set', connector['uuid'],
                     '--extra', 'c=d')
    assert 'volume connector update' in proc.stderr
    _power_off(api, node)
    cli.run('volume', 'connector', 'set', connector['uuid'], '--extra',
            'c=d', '--type', 'wwpn')
    cli.run('volume', 'connector', 'unset', connector['uuid'], '--extra',
            'a')
    shown = _pinned(cli, '1.32', 'volume', 'connector', 'show',
                    connector['uuid'])
    assert (shown['type'], shown['extra']) == ('wwpn', {'c': 'd'})
    proc = cli.fails('--os-baremetal-api-version', '1.31', 'volume',
                     'connector', 'show', connector['uuid'])
    assert 'HTTP 404' in proc.stderr
    cli.run('volume', 'connector', 'delete', connector['uuid'])
    assert api.get('/v1/volume/connectors/%s'
                   % connector['uuid']).status_code == 404


def test_volume_target_cli(cli, api, node):
    volume_id = str(uuid.uuid4())
    target = cli.json('volume', 'target', 'create', '--node', node['uuid'],
                      '--type', 'iscsi', '--boot-index', '0',
                      '--volume-id', volume_id, '--property',
                      'target_lun=0', '--property', 'auth_password=pw')
    assert target['boot_index'] == 0
    assert target['properties'] == {'target_lun': 0,
                                    'auth_password': '******'}
    proc = cli.fails('volume', 'target', 'create', '--node', node['uuid'],
                     '--type', 'iscsi', '--boot-index', '0', '--volume-id',
                     str(uuid.uuid4()))
    assert "boot index '0'" in proc.stderr
    rows = _rows(cli, 'volume', 'target', 'list', '--node', node['name'])
    assert [(r['uuid'], r['volume_id']) for r in rows] == \
        [(target['uuid'], volume_id)]
    _power_off(api, node)
    cli.run('volume', 'target', 'set', target['uuid'], '--boot-index', '1')
    cli.run('volume', 'target', 'unset', target['uuid'], '--property',
            'target_lun')
    shown = cli.json('volume', 'target', 'show', target['uuid'])
    assert shown['boot_index'] == 1
    assert shown['properties'] == {'auth_password': '******'}
    listed = _rows(cli, '--os-baremetal-api-version', '1.32', 'volume',
                   'target', 'list', '--node', node['uuid'], '--long')
    assert listed[0]['boot_index'] == 1
    doc = api.get('/v1/nodes/%s/volume' % node['uuid']).json()
    link = doc['targets'][0]['href']
    assert [t['uuid'] for t in api.get(link).json()['targets']] == \
        [target['uuid']]
    cli.run('volume', 'target', 'delete', target['uuid'])
    assert api.get(link).json()['targets'] == []


def test_volume_sdk(sdk, api, node):
    bm = sdk.baremetal
    connector = bm.create_volume_connector(
        node_id=node['uuid'], type='ip', connector_id='192.0.2.%d' % (
            uuid.uuid4().int % 250 + 1))
    target = bm.create_volume_target(
        node_id=node['uuid'], volume_type='iscsi', boot_index=0,
        volume_id=str(uuid.uuid4()), properties={'target_lun': 1})
    assert [c.id for c in bm.volume_connectors(node=node['uuid'])] == \
        [connector.id]
    detailed = list(bm.volume_targets(node=node['uuid'], details=True))
    assert [(t.id, t.properties) for t in detailed] == \
        [(target.id, {'target_lun': 1})]
    assert bm.get_volume_connector(connector.id).type == 'ip'
    with pytest.raises(sdk_exc.BadRequestException):
        bm.update_volume_target(target, boot_index=5)
    _power_off(api, node)
    assert bm.update_volume_target(target, boot_index=5).boot_index == 5
    patched = bm.patch_volume_connector(connector, [
        {'op': 'add', 'path': '/extra/k', 'value': 'v'}])
    assert patched.extra == {'k': 'v'}
    bm.delete_volume_connector(connector)
    with pytest.raises(sdk_exc.NotFoundException):
        bm.get_volume_connector(connector.id)
    # the node's deletion takes the rest
    bm.delete_node(node['uuid'])
    with pytest.raises(sdk_exc.NotFoundException):
        bm.get_volume_target(target.id)
