"""The devstack plugin, run phase by phase outside devstack.

devstack itself is not here, so tests/functional/devstack_stubs.sh stands
in for its functions: the configuration file, the database, RabbitMQ, the
services, the BootOS build and the lab's QEMU machines are real, while
keystone, nova and pip only get their calls recorded.  The plugin runs
the way devstack runs it: settings, then plugin.sh sourced with the phase,
a fresh bash for each phase (state carries over on disk only, as it does
between stack.sh, unstack.sh and clean.sh).
"""

import configparser
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bootflow.lab import Lab

from .conftest import (REPO_ROOT, VERSION_HEADER, _free_port, ensure_rabbit,
                       free_udp_ports, unique)

pytestmark = pytest.mark.functional

STUBS = Path(__file__).with_name('devstack_stubs.sh')
SHELL_FILES = ('devstack/plugin.sh', 'devstack/settings',
               'devstack/lib/bootflow')
SERVICES = ('bootflow-api', 'bootflow-conductor', 'bootflow-httpboot')
HEADERS = {VERSION_HEADER: 'latest'}
PHASE_TIMEOUT = 900
BOOTOS_CACHE_ENV = 'BOOTFLOW_TEST_BOOTOS_CACHE'


def test_shellcheck():
    shellcheck = shutil.which('shellcheck')
    if shellcheck is None:
        pytest.skip('shellcheck is not installed')
    proc = subprocess.run([shellcheck, '-x'] + list(SHELL_FILES),
                          cwd=str(REPO_ROOT), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


class Devstack:
    """One devstack-like host in ``root``: its settings in ``env``."""

    def __init__(self, root, services, **settings):
        self.root = Path(root)
        self.stub_dir = self.root / 'stub'
        self.stub_dir.mkdir(parents=True)
        self.calls = self.root / 'calls.log'
        self.calls.touch()
        self.conf_dir = self.root / 'etc'
        self.state = self.root / 'data' / 'bootflow'
        self.conf = self.conf_dir / 'bootflow.conf'
        self.lab_dir = self.state / 'lab'
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env.update({
            'STUB_DIR': str(self.stub_dir), 'STUB_CALLS': str(self.calls),
            'STUB_BIN': str(Path(sys.executable).parent),
            'STUB_PYTHON': sys.executable,
            'ENABLED_SERVICES': ','.join(services),
            'DATA_DIR': str(self.root / 'data'),
            'BOOTFLOW_DIR': str(REPO_ROOT),
            'BOOTFLOW_CONF_DIR': str(self.conf_dir),
            'BOOTFLOW_STATE_PATH': str(self.state),
            'PYTHONUNBUFFERED': '1',
        })
        env.update({k: str(v) for k, v in settings.items()})
        self.env = env

    def phase(self, *args):
        proc = subprocess.run(
            ['bash', '-c', 'source "$1"; source "$2"; shift 2; '
             'source "$0" "$@"', str(REPO_ROOT / 'devstack' / 'plugin.sh'),
             str(STUBS), str(REPO_ROOT / 'devstack' / 'settings')]
            + list(args),
            cwd=str(self.root), env=self.env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=PHASE_TIMEOUT)
        if proc.returncode != 0:
            raise AssertionError('%s failed (%s):\n%s\n%s\n%s' % (
                ' '.join(args), proc.returncode, proc.stdout[-4000:],
                proc.stderr[-6000:], self.logs()))
        return proc

    def logs(self, lines=30):
        text = ''
        for log in sorted((self.stub_dir / 'logs').glob('*.log')):
            tail = log.read_text(errors='replace').splitlines()[-lines:]
            text += '--- %s\n%s\n' % (log.name, '\n'.join(tail))
        return text

    def config(self, path=None):
        # DEFAULT as a section like the others, so a section's items are
        # its own
        parser = configparser.RawConfigParser(default_section='\0')
        assert parser.read(path or self.conf), 'no %s' % (path or self.conf)
        return parser

    def recorded(self):
        return self.calls.read_text().splitlines()

    def pids(self):
        return {p.stem: int(p.read_text())
                for p in (self.stub_dir / 'pids').glob('*.pid')}

    def kill_everything(self):
        """What a failed run may have left: the services' sessions and
        the lab's QEMU and BMC."""
        for pid in self.pids().values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if (self.lab_dir / 'lab.json').exists():
            Lab(self.lab_dir).destroy()


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as stream:
            return stream.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def _refused(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _isolate_on_broker(conf):
    """What a local.conf post-config section would do: RabbitMQ queues are
    named after topic and host, so a host and an exchange of this run's
    own keep other runs on the broker out."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str
    parser.read(conf)
    parser.set('DEFAULT', 'host', unique('devstack'))
    parser.set('DEFAULT', 'control_exchange', unique('bf-devstack'))
    with open(conf, 'w') as stream:
        parser.write(stream)


@pytest.fixture
def devstack(tmp_path):
    for tool in ('qemu-system-x86_64', 'qemu-img', 'curl', 'setsid'):
        if shutil.which(tool) is None:
            pytest.skip('%s is not installed' % tool)
    reason = ensure_rabbit()
    if reason:
        pytest.skip(reason)
    build_args = ''
    if os.environ.get(BOOTOS_CACHE_ENV):
        build_args = '--cache-dir %s' % os.environ[BOOTOS_CACHE_ENV]
    host = Devstack(
        tmp_path, ['nova'],
        BOOTFLOW_API_PORT=_free_port(), BOOTFLOW_HTTP_PORT=_free_port(),
        BOOTFLOW_API_LISTEN='127.0.0.1', BOOTFLOW_HTTP_LISTEN='127.0.0.1',
        BOOTFLOW_LAB_BMC_PORT=_free_port(),
        BOOTFLOW_LAB_IPMI_PORT=free_udp_ports(2),
        BOOTFLOW_LAB_COUNT=2, BOOTFLOW_LAB_MEMORY=256,
        BOOTFLOW_LAB_DISK_SIZE='64M', BOOTFLOW_LAB_DRIVER='redfish',
        BOOTFLOW_LAB_BMC_PASSWORD='devstack-Redfish-pw',
        # cleaning would boot BootOS under TCG for minutes; providing
        # still takes each node through the conductor and its BMC
        BOOTFLOW_AUTOMATED_CLEAN=False, BOOTFLOW_PROVIDE_TIMEOUT=120,
        BOOTFLOW_BOOTOS_BUILD_ARGS=build_args)
    try:
        yield host
    finally:
        host.kill_everything()


def test_stack_unstack_clean(devstack):
    env = devstack.env
    api_port, http_port = int(env['BOOTFLOW_API_PORT']), \
        int(env['BOOTFLOW_HTTP_PORT'])
    api = 'http://127.0.0.1:%d' % api_port

    devstack.phase('stack', 'install')
    assert devstack.recorded() == [
        'setup_develop %s lab' % REPO_ROOT,
        'pip_install_gr python-ironicclient']

    devstack.phase('stack', 'post-config')
    conf = devstack.config()
    assert conf.get('DEFAULT', 'rpc_transport') == 'oslo'
    assert conf.get('DEFAULT', 'transport_url') == \
        'rabbit://guest:guest@127.0.0.1:5672/'
    assert conf.get('DEFAULT', 'auth_strategy') == 'noauth'
    assert conf.get('database', 'connection') == \
        'sqlite:///%s' % (devstack.stub_dir / 'bootflow.sqlite')
    assert (devstack.stub_dir / 'bootflow.sqlite').stat().st_size > 0, \
        'bootflow-dbsync made no schema'
    assert conf.get('api', 'port') == str(api_port)
    assert conf.get('api', 'public_endpoint') == api
    # lab machines see this host as 10.0.2.100
    assert conf.get('conductor', 'api_url') == 'http://10.0.2.100:6385'
    assert conf.get('deploy', 'http_url') == 'http://10.0.2.100'
    assert conf.get('deploy', 'http_server_port') == str(http_port)
    assert conf.get('conductor', 'automated_clean') == 'False'
    bootos = devstack.state / 'bootos'
    assert str(bootos) in conf.get('conductor',
                                   'file_url_allowed_paths').split(',')
    for section in ('keystone_authtoken', 'glance', 'neutron'):
        assert not conf.has_section(section), section
    assert not any(call.split()[0] in (
        'create_service_user', 'configure_keystone_authtoken_middleware',
        'get_or_create_service', 'get_or_create_endpoint')
        for call in devstack.recorded()), devstack.recorded()
    _isolate_on_broker(devstack.conf)

    devstack.phase('stack', 'extra')
    pids = devstack.pids()
    assert set(pids) == set(SERVICES)
    root = requests.get(api + '/', timeout=10)
    assert root.status_code == 200 and 'v1' in root.text, root.text
    conductors = requests.get(api + '/v1/conductors', headers=HEADERS,
                              timeout=10).json()['conductors']
    host = devstack.config().get('DEFAULT', 'host')
    assert [c['hostname'] for c in conductors if c['alive']] == [host]

    kernel = bootos / 'bootos.kernel'
    ramdisk = bootos / 'bootos.initramfs'
    assert kernel.stat().st_size > 0 and ramdisk.stat().st_size > 0
    lab = Lab(devstack.lab_dir)
    machines = {m.name: m for m in lab.machines}
    assert sorted(machines) == ['lab-0', 'lab-1']
    for name in machines:
        assert lab.status(name) != 'stopped', name
    nodes = requests.get(api + '/v1/nodes/detail', headers=HEADERS,
                         timeout=10).json()['nodes']
    assert sorted(n['name'] for n in nodes) == sorted(machines)
    for node in nodes:
        machine = machines[node['name']]
        assert node['driver'] == 'redfish', node
        assert node['resource_class'] == 'baremetal', node
        assert node['provision_state'] == 'available', node
        assert node['driver_info']['deploy_kernel'] == 'file://%s' % kernel
        assert node['driver_info']['deploy_ramdisk'] == \
            'file://%s' % ramdisk
        assert node['driver_info']['redfish_system_id'] == \
            machine.system_path
        ports = requests.get(api + '/v1/ports', params={
            'node': node['uuid']}, headers=HEADERS, timeout=10).json()
        assert [p['address'] for p in ports['ports']] == [machine.mac]

    (devstack.state / 'httpboot' / 'probe.txt').write_text('boot me')
    probe = requests.get('http://127.0.0.1:%d/probe.txt' % http_port,
                         timeout=10)
    assert probe.status_code == 200 and probe.text == 'boot me'

    flavor = [c for c in devstack.recorded() if c.startswith('openstack')]
    assert flavor == [
        'openstack flavor show baremetal',
        'openstack flavor create --ram 256 --vcpus 1 --disk 1 baremetal',
        'openstack flavor set baremetal'
        ' --property resources:CUSTOM_BAREMETAL=1'
        ' --property resources:VCPU=0 --property resources:MEMORY_MB=0'
        ' --property resources:DISK_GB=0']

    bmc_pid = lab.state.reload()['pids']['bmc']
    devstack.phase('unstack')
    for name, pid in pids.items():
        assert not _alive(pid), '%s (%d) still runs' % (name, pid)
    assert _refused(api_port) and _refused(http_port)
    for name in machines:
        assert lab.status(name) == 'stopped', name
    assert not _alive(bmc_pid)
    assert devstack.lab_dir.exists(), 'unstack keeps the lab'

    devstack.phase('clean')
    assert not devstack.state.exists()
    assert not devstack.conf_dir.exists()


def test_post_config_with_keystone(tmp_path):
    """Only the configuration: keystone is not here to serve a run."""
    nova_conf = tmp_path / 'nova.conf'
    host = Devstack(tmp_path, ['keystone', 'glance', 'neutron', 'nova'],
                    BOOTFLOW_API_PORT=16385, VIRT_DRIVER='ironic',
                    NOVA_CONF=nova_conf)
    host.phase('stack', 'post-config')
    conf = host.config()
    assert conf.get('DEFAULT', 'auth_strategy') == 'keystone'
    calls = host.recorded()
    assert 'create_service_user bootflow service' in calls
    assert 'configure_keystone_authtoken_middleware %s bootflow' \
        % host.conf in calls
    assert 'get_or_create_service bootflow baremetal Bare metal ' \
        'provisioning' in calls
    assert 'get_or_create_endpoint baremetal RegionOne ' \
        'http://127.0.0.1:16385' in calls
    expected = {
        'auth_type': 'password',
        'auth_url': 'http://127.0.0.1/identity',
        'username': 'bootflow', 'password': 'secretservice',
        'project_name': 'service', 'user_domain_name': 'Default',
        'project_domain_name': 'Default', 'region_name': 'RegionOne'}
    for section in ('glance', 'neutron'):
        assert dict(conf.items(section)) == expected, section
    assert dict(host.config(nova_conf).items('ironic')) == expected
