"""The real ``baremetal`` CLI (python-ironicclient) against bootflow."""

import threading

import pytest

from .conftest import HttpApi, random_mac, unique, wait_for

pytestmark = pytest.mark.functional


def _show(cli, ident):
    return cli.json('node', 'show', ident)


def _get(walk):
    # Effects are checked over raw HTTP (fast); `node show` through the CLI
    # is exercised in its own steps.
    return walk['api'].node(walk['uuid'])


def _wait_node(walk, message, predicate, timeout=60):
    def check():
        node = _get(walk)
        return node if predicate(node) else False
    return wait_for(check, timeout=timeout, interval=0.2,
                    message='node %s: %s' % (walk['name'], message))


def _lower_keys(row):
    # `-f json` of list commands uses the field names ("provision_state");
    # older clients used column titles ("Provisioning State").
    return {k.lower().replace(' ', '_'): v for k, v in row.items()}


def _rows(cli, *args):
    return [_lower_keys(r) for r in cli.json(*args)]


def _uuids(rows):
    return {r['uuid'] for r in rows}


@pytest.fixture(scope='module')
def walk(service):
    """Shared state of the walk-through, one per service backend."""
    return {'name': unique('ft-n1'), 'mac': random_mac(),
            'api': HttpApi(service)}


class _WalkThrough:
    """The operator's happy path, step by step, on each backend.

    One class per backend (below): ``--dist loadscope`` keeps a class on
    one worker, so the two walks (each a minute of the CLI's own --wait
    polling) can run on two workers at once.
    """

    def test_driver_list(self, cli, walk):
        drivers = {d.get('name', d.get('supported_driver(s)')): d
                   for d in _rows(cli, 'driver', 'list')}
        assert 'fake-hardware' in drivers, drivers
        if cli.service.conductor_host:
            fake = drivers['fake-hardware']
            hosts = fake.get('hosts', fake.get('active_host(s)'))
            assert cli.service.conductor_host in str(hosts), fake

    def test_node_create(self, cli, walk):
        node = cli.json('node', 'create', '--driver', 'fake-hardware',
                        '--name', walk['name'],
                        '--resource-class', 'baremetal',
                        '--property', 'cpus=4')
        walk['uuid'] = node['uuid']
        assert node['name'] == walk['name']
        assert node['driver'] == 'fake-hardware'
        assert node['resource_class'] == 'baremetal'
        assert node['provision_state'] == 'enroll'
        assert node['properties'] == {'cpus': 4}
        assert node['maintenance'] is False
        shown = _show(cli, walk['name'])  # by name
        assert shown['uuid'] == walk['uuid']
        assert shown['properties'] == {'cpus': 4}

    def test_port_create(self, cli, walk):
        port = cli.json('port', 'create', '--node', walk['uuid'],
                        walk['mac'])
        assert port['address'] == walk['mac']
        assert port['node_uuid'] == walk['uuid']
        walk['port'] = port['uuid']
        ports = [_lower_keys(p) for p in
                 cli.json('port', 'list', '--node', walk['uuid'])]
        assert [p['address'] for p in ports] == [walk['mac']]
        assert ports[0]['uuid'] == port['uuid']
        shown = cli.json('port', 'show', port['uuid'])
        assert shown['address'] == walk['mac']
        assert shown['node_uuid'] == walk['uuid']

    def test_node_list(self, cli, walk):
        rows = _rows(cli, 'node', 'list')
        mine = [r for r in rows if r['uuid'] == walk['uuid']]
        assert len(mine) == 1, rows
        row = mine[0]
        assert row['name'] == walk['name']
        assert row.get('provision_state',
                       row.get('provisioning_state')) == 'enroll'
        assert row['maintenance'] is False
        assert row['instance_uuid'] is None
        assert 'power_state' in row

    def test_node_list_long(self, cli, walk):
        rows = _rows(cli, 'node', 'list', '--long')
        mine = [r for r in rows if r['uuid'] == walk['uuid']]
        assert len(mine) == 1, rows
        row = mine[0]
        assert row['driver'] == 'fake-hardware'
        assert row['resource_class'] == 'baremetal'
        assert row['properties'] == {'cpus': 4}
        assert row['provision_state'] == 'enroll'
        assert row['name'] == walk['name']

    def test_node_list_filtered(self, cli, walk):
        rows = _rows(cli, 'node', 'list', '--provision-state', 'enroll',
                     '--resource-class', 'baremetal',
                     '--driver', 'fake-hardware')
        assert walk['uuid'] in _uuids(rows)
        rows = _rows(cli, 'node', 'list', '--provision-state', 'active',
                     '--resource-class', 'baremetal')
        assert walk['uuid'] not in _uuids(rows)

    def test_node_show_fields(self, cli, walk):
        shown = cli.json('node', 'show', walk['name'], '--fields', 'uuid',
                         'provision_state')
        assert shown == {'uuid': walk['uuid'], 'provision_state': 'enroll'}

    def test_node_set_unset(self, cli, walk):
        cli.run('node', 'set', walk['name'], '--property', 'memory_mb=4096',
                '--extra', 'rack=r1')
        node = _get(walk)
        assert node['properties'] == {'cpus': 4, 'memory_mb': 4096}
        assert node['extra'] == {'rack': 'r1'}
        cli.run('node', 'unset', walk['name'], '--extra', 'rack')
        node = _get(walk)
        assert node['extra'] == {}
        assert node['properties'] == {'cpus': 4, 'memory_mb': 4096}

    def test_node_validate(self, cli, walk):
        rows = _rows(cli, 'node', 'validate', walk['name'])
        result = {r['interface']: r for r in rows}
        for iface in ('boot', 'deploy', 'management', 'power'):
            assert iface in result, rows
            assert result[iface]['result'] is True, result[iface]

    def test_manage(self, cli, walk):
        cli.run('node', 'manage', walk['name'], '--wait', '60')
        node = _get(walk)
        assert node['provision_state'] == 'manageable'
        assert node['target_provision_state'] is None
        assert node['last_error'] is None

    def test_provide(self, cli, walk):
        cli.run('node', 'provide', walk['name'], '--wait', '60')
        node = _get(walk)
        assert node['provision_state'] == 'available'
        assert node['target_provision_state'] is None
        assert node['last_error'] is None

    def test_deploy(self, cli, walk):
        cli.run('node', 'deploy', walk['name'], '--wait', '60')
        node = _get(walk)
        assert node['provision_state'] == 'active'
        assert node['target_provision_state'] is None
        assert node['last_error'] is None
        # Ironic's fake power interface keeps whatever state it had (None
        # for a fresh node); a service that powers the node on is fine too.
        assert node['power_state'] in (None, 'power on')
        rows = _rows(cli, 'node', 'list', '--provision-state', 'active')
        assert walk['uuid'] in _uuids(rows)

    def test_power_off_on(self, cli, walk):
        cli.run('node', 'power', 'off', walk['name'])
        _wait_node(walk, 'power off',
                   lambda n: n['power_state'] == 'power off'
                   and n['target_power_state'] is None)
        cli.run('node', 'power', 'on', walk['name'])
        node = _wait_node(walk, 'power on',
                          lambda n: n['power_state'] == 'power on'
                          and n['target_power_state'] is None)
        assert node['provision_state'] == 'active'

    def test_maintenance(self, cli, walk):
        cli.run('node', 'maintenance', 'set', walk['name'], '--reason', 'x')
        node = _get(walk)
        assert node['maintenance'] is True
        assert node['maintenance_reason'] == 'x'
        rows = _rows(cli, 'node', 'list', '--maintenance')
        assert walk['uuid'] in _uuids(rows)
        cli.run('node', 'maintenance', 'unset', walk['name'])
        node = _get(walk)
        assert node['maintenance'] is False
        assert node['maintenance_reason'] is None

    def test_undeploy(self, cli, walk):
        cli.run('node', 'undeploy', walk['name'], '--wait', '60')
        node = _get(walk)
        assert node['provision_state'] == 'available'
        assert node['target_provision_state'] is None
        assert node['instance_uuid'] is None

    def test_manage_again(self, cli, walk):
        cli.run('node', 'manage', walk['name'])
        _wait_node(walk, 'manageable',
                   lambda n: n['provision_state'] == 'manageable'
                   and n['target_provision_state'] is None)

    def test_delete(self, cli, walk):
        out = cli.run('node', 'delete', walk['name'])
        assert walk['name'] in out.stdout + out.stderr
        proc = cli.fails('node', 'show', walk['name'])
        assert 'could not be found' in proc.stderr
        assert '(HTTP 404)' in proc.stderr
        # Ports of a deleted node go with it.
        proc = cli.fails('port', 'show', walk['port'])
        assert '(HTTP 404)' in proc.stderr


@pytest.mark.incremental
@pytest.mark.parametrize('service', ['sqlite'], indirect=True)
class TestWalkThroughSqlite(_WalkThrough):
    pass


@pytest.mark.incremental
@pytest.mark.parametrize('service', ['postgresql'], indirect=True)
class TestWalkThroughPostgresql(_WalkThrough):
    pass


class TestErrors:
    """The CLI exits non-zero and prints the service's message."""

    def test_unknown_driver(self, sqlite_cli):
        proc = sqlite_cli.fails('node', 'create', '--driver',
                                'no-such-driver-ft', '--name',
                                unique('ft-bad'))
        assert 'no-such-driver-ft' in proc.stderr
        assert '(HTTP 400)' in proc.stderr

    def test_unknown_node(self, sqlite_cli):
        name = unique('ft-missing')
        proc = sqlite_cli.fails('node', 'show', name)
        assert 'Node %s could not be found' % name in proc.stderr
        assert '(HTTP 404)' in proc.stderr

    def test_invalid_transition(self, sqlite_cli, sqlite_api, node_cleanup):
        node = sqlite_api.create_node()
        node_cleanup.append((sqlite_api, node['uuid']))
        proc = sqlite_cli.fails('node', 'deploy', node['uuid'])
        assert '(HTTP 400)' in proc.stderr
        assert 'enroll' in proc.stderr
        assert node['uuid'] in proc.stderr
        assert sqlite_api.node(node['uuid'])['provision_state'] == 'enroll'

    def test_duplicate_name(self, sqlite_cli, sqlite_api, node_cleanup):
        # ironicclient retries a 409 a few times before giving up.
        node = sqlite_api.create_node()
        node_cleanup.append((sqlite_api, node['uuid']))
        proc = sqlite_cli.fails('node', 'create', '--driver',
                                'fake-hardware', '--name', node['name'])
        assert 'already exists' in proc.stderr
        assert node['name'] in proc.stderr
        assert '(HTTP 409)' in proc.stderr

    def test_duplicate_mac(self, sqlite_cli, sqlite_api, node_cleanup):
        node = sqlite_api.create_node()
        node_cleanup.append((sqlite_api, node['uuid']))
        mac = random_mac()
        sqlite_api.create_port(node['uuid'], mac)
        proc = sqlite_cli.fails('port', 'create', '--node', node['uuid'],
                                mac)
        assert mac in proc.stderr
        assert 'already exists' in proc.stderr
        assert '(HTTP 409)' in proc.stderr

    def test_bad_mac(self, sqlite_cli, sqlite_api, node_cleanup):
        node = sqlite_api.create_node()
        node_cleanup.append((sqlite_api, node['uuid']))
        proc = sqlite_cli.fails('port', 'create', '--node', node['uuid'],
                                'zz:54:00:00:00:01')
        assert 'zz:54:00:00:00:01' in proc.stderr
        assert 'MAC' in proc.stderr
        assert '(HTTP 400)' in proc.stderr

    def test_bad_patch_path(self, sqlite_cli, sqlite_api, node_cleanup):
        node = sqlite_api.create_node()
        node_cleanup.append((sqlite_api, node['uuid']))
        proc = sqlite_cli.fails('node', 'set', node['uuid'], '--name',
                                'bad name with spaces')
        assert '(HTTP 400)' in proc.stderr
        assert sqlite_api.node(node['uuid'])['name'] == node['name']


class TestLocked:
    """Its own class, so that loadscope may run its half minute of
    deployment beside TestErrors rather than after it."""

    @pytest.mark.needs_fake_delay
    def test_node_locked_during_deploy(self, sqlite_cli, sqlite_api,
                                       node_cleanup):
        # ironicclient retries 409 responses for about 10 seconds (5 retries,
        # 2 s apart), so the deployment has to outlast that window.
        delay = 25
        node = sqlite_api.create_node(
            driver_info={'fake_deploy_delay': delay})
        node_cleanup.append((sqlite_api, node['uuid']))
        sqlite_api.move_to(node['uuid'], 'available')
        sqlite_cli.run('node', 'deploy', node['uuid'])
        results = {}

        def attempt(verb):
            results[verb] = sqlite_cli.run('node', verb, node['uuid'],
                                           check=False)

        threads = [threading.Thread(target=attempt, args=(verb,))
                   for verb in ('undeploy', 'deploy')]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert set(results) == {'undeploy', 'deploy'}
        wrong = {verb: (proc.returncode, proc.stderr.strip())
                 for verb, proc in results.items()
                 if proc.returncode == 0 or '(HTTP 409)' not in proc.stderr
                 or 'locked' not in proc.stderr.lower()}
        assert not wrong, 'expected a 409 NodeLocked error: %r' % wrong
        # The deployment is not disturbed and finishes.
        done = sqlite_api.wait_provision_state(node['uuid'], 'active',
                                               timeout=delay * 4 + 60)
        assert done['reservation'] is None
        # The delay applies to the tear-down too: without it the cleanup's
        # undeploy takes seconds instead of another 25.
        sqlite_api.patch_node(node['uuid'], [
            {'op': 'remove', 'path': '/driver_info/fake_deploy_delay'}])
