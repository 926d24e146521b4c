"""BootOS end to end: the real agent process, started on this host against
the running service with a fixture tree standing in for /proc and /sys,
inspects nodes driven by the real ``baremetal`` CLI; its token is
enforced; the support list and developer mode decide whether a
configuration template is applied — for real, to a loop device; PRE and
POST scripts run and their outcome lands on the node.
"""

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.functional import conftest as ft

pytestmark = pytest.mark.functional

FIXTURES = ft.REPO_ROOT / 'tests' / 'fixtures' / 'hosts'


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def scripts_server(tmp_path_factory):
    """PRE/POST scripts served over HTTP on a loopback port."""
    root = tmp_path_factory.mktemp('scripts')
    handler = functools.partial(_Files, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {'root': root,
           'url': 'http://127.0.0.1:%d' % server.server_address[1]}
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='module')
def bootos(tmp_path_factory):
    if os.environ.get(ft.ENDPOINT_ENV):
        pytest.skip('needs a service this test starts itself')
    work = tmp_path_factory.mktemp('bootos')
    templates = work / 'templates'
    templates.mkdir()
    support = work / 'support.yaml'
    support.write_text('supported:\n'
                       '  - vendor: "Dell*"\n'
                       '    product: "PowerEdge R6*"\n')
    svc = ft.start_service('sqlite', work, extra_config={
        'agent': {'poll_interval': '0.2',
                  'deploy_logs_local_path': work / 'ramdisk_logs'},
        'bootos': {'templates_path': templates, 'support_list': support},
        'auto_discovery': {'enabled': 'true'},
        'conductor': {'api_url': 'http://127.0.0.1:6385'},
    })
    yield {'svc': svc, 'api': ft.HttpApi(svc), 'cli': ft.BaremetalCLI(svc),
           'templates': templates, 'work': work}
    svc.stop()


def _agent_exe():
    exe = Path(sys.executable).parent / 'bootos-agent'
    if exe.exists():
        return [str(exe)]
    return [sys.executable, '-m', 'bootflow.agent.main']


def start_agent(env, tree, *args):
    """The real agent process; returns the Popen (output captured)."""
    cmd = _agent_exe() + ['--api-url', env['svc'].endpoint, '--root',
                          str(tree), '--cmdline-file', os.devnull,
                          '--lookup-timeout', '60', '--script-timeout', '30']
    cmd += [str(a) for a in args]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=ft._child_env())


def finish(proc, timeout=120):
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError('the agent did not finish:\n%s' % out[-4000:])
    return proc.returncode, out


def wait_state(api, uuid, state, timeout=60):
    def reached():
        node = api.node(uuid)
        return node if (node['provision_state'] == state and
                        node['reservation'] is None) else False
    return ft.wait_for(reached, timeout=timeout,
                       message='node %s to reach %s' % (uuid, state))


def fixture_inventory(tree):
    from bootflow.agent import inventory
    from bootflow.agent import system
    found, _ = inventory.collect(system.System(str(tree)))
    return found


def create_node(env, node_cleanup, **driver_info):
    args = ['node', 'create', '--driver', 'fake-hardware',
            '--inspect-interface', 'agent', '--deploy-interface', 'bootos',
            '--name', ft.unique('bos')]
    for key, value in driver_info.items():
        args += ['--driver-info', '%s=%s' % (key, value)]
    node = env['cli'].json(*args)
    node_cleanup.append((env['api'], node['uuid']))
    env['cli'].run('node', 'manage', node['uuid'])
    wait_state(env['api'], node['uuid'], 'manageable')
    return node['uuid']


def inspect_until_waiting(env, uuid):
    env['cli'].run('node', 'inspect', uuid)
    wait_state(env['api'], uuid, 'inspect wait')


def history(env, uuid):
    return [e['event'] for e in env['api'].get(
        '/v1/nodes/%s/history?detail=true' % uuid).json()['history']]


def test_inspection_by_the_real_agent(bootos, node_cleanup, tmp_path):
    env, tree = bootos, FIXTURES / 'server'
    expected = fixture_inventory(tree)
    uuid = create_node(env, node_cleanup)
    inspect_until_waiting(env, uuid)
    rc, out = finish(start_agent(env, tree, '--node-uuid', uuid,
                                 '--inspect'))
    assert rc == 0, out
    node = wait_state(env['api'], uuid, 'manageable')
    assert node['last_error'] is None
    assert node['power_state'] == 'power off'
    assert node['inspection_finished_at'] is not None
    props = node['properties']
    assert props['cpus'] == expected['cpu']['count']
    assert props['cpu_arch'] == expected['cpu']['architecture']
    assert props['memory_mb'] == expected['memory']['physical_mb']
    assert props['local_gb'] > 0
    assert 'boot_mode:%s' % expected['boot']['current_boot_mode'] in \
        props['capabilities']

    ports = env['api'].get('/v1/ports?node=%s&detail=true' % uuid).json()[
        'ports']
    macs = sorted(i['mac_address'].lower() for i in expected['interfaces'])
    assert sorted(p['address'] for p in ports) == macs
    pxe = [p['address'] for p in ports if p['pxe_enabled']]
    assert pxe == [expected['boot']['pxe_interface'].lower()]

    saved = tmp_path / 'inventory.json'
    env['cli'].run('node', 'inventory', 'save', uuid, '--file', saved)
    stored = json.loads(saved.read_text())
    assert stored['inventory']['system_vendor'] == expected['system_vendor']
    assert len(stored['inventory']['disks']) == len(expected['disks'])
    assert any('Inspection: inventory stored' in e
               for e in history(env, uuid))
    # the agent's session is over: its token is gone with the power off
    internal = node['driver_internal_info']
    assert 'agent_secret_token' not in internal


def test_token_is_enforced_and_never_shown(bootos, node_cleanup):
    env, api = bootos, bootos['api']
    uuid = create_node(env, node_cleanup)
    inspect_until_waiting(env, uuid)
    found = api.get('/v1/lookup?node_uuid=%s' % uuid)
    assert found.status_code == 200, found.text
    token = found.json()['config']['agent_token']
    assert token and token != '******'
    again = api.get('/v1/lookup?node_uuid=%s' % uuid).json()
    assert again['config']['agent_token'] == '******'
    assert api.node(uuid)['driver_internal_info'][
        'agent_secret_token'] == '******'

    before = api.node(uuid)
    poll = '/v1/bootos/%s/poll' % uuid
    for body, status in (({}, 401), ({'agent_token': 'wrong'}, 403)):
        ft.assert_ironic_error(api.post(poll, json=dict(body, results=[
            {'id': 'x', 'command_status': 'FAILED'}])), status)
        ft.assert_ironic_error(api.post(
            '/v1/heartbeat/%s' % uuid,
            json=dict(body, callback_url='http://127.0.0.1:9')), status)
        ft.assert_ironic_error(api.post(
            '/v1/bootos/%s/logs' % uuid, json=dict(body, log='x')), status)
    after = api.node(uuid)
    assert after['driver_internal_info'] == before['driver_internal_info']
    assert after['provision_state'] == 'inspect wait'

    ok = api.post(poll, json={'agent_token': token})
    assert ok.status_code == 200, ok.text
    assert ok.json()['commands'] == []
    api.provision(uuid, 'abort')
    wait_state(api, uuid, 'inspect failed')


def test_lookup_errors(bootos):
    api = bootos['api']
    ft.assert_ironic_error(api.get('/v1/lookup'), 400, 'addresses')
    ft.assert_ironic_error(api.get('/v1/lookup?addresses=11:22:33:44:55:66'),
                           404)
    ft.assert_ironic_error(api.post('/v1/continue_inspection',
                                    json={'inventory': {'interfaces': []}}),
                           400)


@pytest.fixture
def loop_disk(tmp_path):
    """A 128 MiB file-backed disk on a loop device."""
    if os.geteuid() != 0 or not shutil.which('losetup'):
        pytest.skip('needs root and losetup for a loop device')
    image = tmp_path / 'disk.img'
    with open(image, 'wb') as f:
        f.truncate(128 * 1024 * 1024)
    dev = subprocess.run(['losetup', '-f', '--show', str(image)],
                         capture_output=True, text=True)
    if dev.returncode != 0:
        pytest.skip('no loop device: %s' % dev.stderr.strip())
    device = dev.stdout.strip()
    yield device
    subprocess.run(['partx', '-d', device], capture_output=True)
    subprocess.run(['losetup', '-d', device], capture_output=True)


def _disk_template(env, device, name):
    (env['templates'] / ('%s.yaml' % name)).write_text(
        'name: %s\n'
        'disks:\n'
        '  - device: %s\n'
        '    table: gpt\n'
        '    partitions:\n'
        '      - {name: esp, size: 32MiB, type: esp,\n'
        '         filesystem: {type: vfat, label: EFI}}\n'
        '      - {name: root, size: 100%%, type: linux,\n'
        '         filesystem: {type: ext4, label: root}}\n' % (name, device))


def _partitions(device):
    dump = subprocess.run(['sfdisk', '-d', device], capture_output=True,
                          text=True)
    return [line for line in dump.stdout.splitlines()
            if line.startswith(device)]


def _blkid(path):
    out = subprocess.run(['blkid', '-o', 'export', path],
                         capture_output=True, text=True).stdout
    return dict(line.split('=', 1) for line in out.splitlines()
                if '=' in line)


def test_user_mode_leaves_unsupported_hardware_untouched(
        bootos, node_cleanup, loop_disk):
    env = bootos
    name = ft.unique('user')
    _disk_template(env, loop_disk, name)
    uuid = create_node(env, node_cleanup, bootos_template=name)
    inspect_until_waiting(env, uuid)
    # the VM's inventory has no vendor on the (Dell-only) support list
    rc, out = finish(start_agent(env, FIXTURES / 'vm', '--node-uuid', uuid,
                                 '--inspect'))
    assert rc == 0, out
    node = wait_state(env['api'], uuid, 'manageable')
    decision = node['driver_internal_info']['bootos_support']
    assert decision['template'] is None
    assert 'not on the support list' in decision['reason']
    assert _partitions(loop_disk) == []
    assert any('not on the support list' in e for e in history(env, uuid))


def test_developer_mode_configures_the_disk_for_real(
        bootos, node_cleanup, loop_disk):
    env = bootos
    name = ft.unique('dev')
    _disk_template(env, loop_disk, name)
    # developer mode from the agent's side (DEVELOPER=1 on its command
    # line), not the node's
    uuid = create_node(env, node_cleanup, bootos_template=name)
    inspect_until_waiting(env, uuid)
    rc, out = finish(start_agent(env, FIXTURES / 'vm', '--node-uuid', uuid,
                                 '--inspect', '--developer'))
    assert rc == 0, out
    node = wait_state(env['api'], uuid, 'manageable')
    assert node['last_error'] is None
    result = node['driver_internal_info']['bootos_config']['disks']
    assert result['status'] == 'SUCCEEDED' and result['changes']
    parts = _partitions(loop_disk)
    assert len(parts) == 2
    assert 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' in parts[0]
    assert 'size=       65536' in parts[0]      # 32 MiB in sectors
    assert _blkid(loop_disk + 'p1')['TYPE'] == 'vfat'
    root = _blkid(loop_disk + 'p2')
    assert root['TYPE'] == 'ext4' and root['LABEL'] == 'root'
    assert any('BootOS disks:' in e for e in history(env, uuid))


def test_dry_run_clean_step_reports_and_writes_nothing(
        bootos, node_cleanup, loop_disk):
    env = bootos
    name = ft.unique('dry')
    _disk_template(env, loop_disk, name)
    uuid = create_node(env, node_cleanup, bootos_template=name,
                       bootos_developer_mode='true')
    steps = json.dumps([{'interface': 'deploy', 'step': 'configure_disks',
                         'args': {'dry_run': True}}])
    env['cli'].run('node', 'clean', uuid, '--clean-steps', steps)
    wait_state(env['api'], uuid, 'clean wait')
    rc, out = finish(start_agent(env, FIXTURES / 'vm', '--node-uuid', uuid))
    assert rc == 0, out
    node = wait_state(env['api'], uuid, 'manageable')
    assert node['last_error'] is None
    result = node['driver_internal_info']['bootos_config']['disks']
    assert result['dry_run'] is True
    assert any('new gpt' in c or 'gpt' in c for c in result['changes'])
    assert _partitions(loop_disk) == []
    assert any('BootOS disks (dry run):' in e for e in history(env, uuid))


def _script(server, name, text):
    path = server['root'] / name
    path.write_text(text)
    path.chmod(0o755)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return '%s/%s' % (server['url'], name), 'sha256:' + digest


def test_pre_and_post_scripts_run_and_are_recorded(
        bootos, node_cleanup, scripts_server):
    env = bootos
    pre, pre_sum = _script(scripts_server, 'pre-ok.sh',
                           '#!/bin/sh\necho "pre for $BOOTFLOW_PHASE"\n')
    post, post_sum = _script(scripts_server, 'post-ok.sh',
                             '#!/bin/sh\necho "post says bye"\n')
    uuid = create_node(env, node_cleanup)
    inspect_until_waiting(env, uuid)
    rc, out = finish(start_agent(
        env, FIXTURES / 'vm', '--node-uuid', uuid, '--inspect',
        '--pre-url', pre, '--pre-checksum', pre_sum,
        '--post-url', post, '--post-checksum', post_sum))
    assert rc == 0, out
    node = wait_state(env['api'], uuid, 'manageable')
    scripts = node['driver_internal_info']['bootos_scripts']
    assert scripts['pre']['rc'] == 0 and scripts['pre']['checksum_ok']
    assert scripts['post']['rc'] == 0
    events = history(env, uuid)
    assert any('pre for pre' in e for e in events)
    assert any('post says bye' in e for e in events)


def test_failing_pre_script_fails_the_flow_and_ships_the_log(
        bootos, node_cleanup, scripts_server):
    env = bootos
    pre, _ = _script(scripts_server, 'pre-bad.sh',
                     '#!/bin/sh\necho "controller missing" >&2\nexit 7\n')
    uuid = create_node(env, node_cleanup)
    inspect_until_waiting(env, uuid)
    rc, out = finish(start_agent(env, FIXTURES / 'vm', '--node-uuid', uuid,
                                 '--inspect', '--pre-url', pre))
    assert rc == 3, out
    node = wait_state(env['api'], uuid, 'inspect failed')
    assert 'PRE script %s failed: exit code 7' % pre in node['last_error']
    assert node['reservation'] is None
    logs = list((env['work'] / 'ramdisk_logs').glob('%s_*.log.gz' % uuid))
    assert logs, 'the agent shipped no log'
    import gzip
    assert 'controller missing' in gzip.decompress(
        logs[0].read_bytes()).decode()
    assert any('controller missing' in e for e in history(env, uuid))


def test_checksum_mismatch_never_runs_the_script(
        bootos, node_cleanup, scripts_server):
    env = bootos
    marker = scripts_server['root'] / 'ran'
    pre, _ = _script(scripts_server, 'pre-sum.sh',
                     '#!/bin/sh\ntouch %s\n' % marker)
    uuid = create_node(env, node_cleanup)
    inspect_until_waiting(env, uuid)
    rc, out = finish(start_agent(env, FIXTURES / 'vm', '--node-uuid', uuid,
                                 '--inspect', '--pre-url', pre,
                                 '--pre-checksum', 'sha256:' + '0' * 64))
    assert rc == 3, out
    node = wait_state(env['api'], uuid, 'inspect failed')
    assert 'checksum' in node['last_error'].lower()
    assert not marker.exists()


def test_unknown_machine_is_discovered_and_enrolled(bootos, tmp_path):
    env, api = bootos, bootos['api']
    tree = tmp_path / 'tree'
    shutil.copytree(FIXTURES / 'vm', tree, symlinks=True)
    mac = ft.random_mac()
    old = fixture_inventory(tree)['interfaces'][0]['mac_address']
    for path in tree.rglob('*'):
        if path.is_file() and not path.is_symlink():
            text = path.read_text(errors='surrogateescape')
            for form in (old, old.replace(':', '-')):
                new = mac if ':' in form else mac.replace(':', '-')
                text = text.replace(form, new)
            path.write_text(text, errors='surrogateescape')
    rc, out = finish(start_agent(env, tree, '--discover'))
    assert rc == 0, out
    ports = api.get('/v1/ports?address=%s&detail=true' % mac).json()['ports']
    assert len(ports) == 1
    node = api.node(ports[0]['node_uuid'])
    try:
        assert node['provision_state'] == 'enroll'
        assert node['driver'] == 'fake-hardware'
        assert node['properties']['cpus'] == fixture_inventory(tree)[
            'cpu']['count']
        inventory = api.get('/v1/nodes/%s/inventory' % node['uuid']).json()
        assert inventory['plugin_data']['auto_discovered'] is True
        assert any('Discovered and enrolled' in e
                   for e in history(env, node['uuid']))
    finally:
        api.delete('/v1/nodes/%s' % node['uuid'])
