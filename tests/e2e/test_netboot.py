"""A real network boot of a QEMU VM driven by the running service.

The node is fake-hardware (fake power: this test plays the machine by
starting QEMU) with the real ``ipxe`` boot interface.  The service
publishes the bootstrap script, the node's per-MAC script, kernel and
initrd from its built-in HTTP server; the VM reaches that server as
10.0.2.100:80 through QEMU's restricted user network and nothing else.
The test checks that the ramdisk really starts with the command line
bootflow generated, plays the ramdisk's heartbeat, and then that the
deployed node boots its disk, even network-first, and never the ramdisk
again; undeploy must remove exactly the files written for the node.
"""

import pytest

from tests.e2e import assets
from tests.e2e.conftest import vm_mac
from tests.e2e.qemu import GUEST_HTTP_URL
from tests.functional.conftest import BaremetalCLI
from tests.functional.conftest import HttpApi
from tests.functional.conftest import VERSION_HEADER
from tests.functional.conftest import _free_port
from tests.functional.conftest import start_service
from tests.functional.conftest import wait_for

pytestmark = pytest.mark.e2e

GUEST_API_URL = 'http://10.0.2.100:6385'
APPEND = 'console=ttyS0,115200'
CALLBACK_URL = 'http://10.0.2.15:9999'
STATE_TIMEOUT = 120
FAILED_STATES = ('deploy failed', 'clean failed', 'error')


class Netboot:
    """The service under test, its HTTP root and boot file server port."""

    def __init__(self, service, http_root, http_port):
        self.service = service
        self.http_root = http_root
        self.http_port = http_port
        self.api = HttpApi(service)
        self.cli = BaremetalCLI(service)

    def mac_script(self, mac):
        return self.http_root / 'ipxe' / (mac.replace(':', '-') + '.ipxe')


def _service_config(http_root, http_port, allowed):
    return {
        'DEFAULT': {
            'enabled_boot_interfaces': 'fake,ipxe,pxe,http,grub-iso',
            'enabled_deploy_interfaces': 'fake,netinstall'},
        'deploy': {
            'http_root': str(http_root), 'http_url': GUEST_HTTP_URL,
            'http_server_host': '127.0.0.1',
            'http_server_port': str(http_port)},
        'conductor': {
            'api_url': GUEST_API_URL,
            'file_url_allowed_paths': str(allowed)},
    }


@pytest.fixture(scope='module')
def netboot(boot_files, tmp_path_factory):
    """A bootflow all-in-one serving http_root on a loopback port."""
    base = tmp_path_factory.mktemp('e2e-service')
    http_root, http_port = base / 'httpboot', _free_port()
    service = start_service('sqlite', base, extra_config=_service_config(
        http_root, http_port, boot_files.directory))
    try:
        yield Netboot(service, http_root, http_port)
    finally:
        service.stop()


def _enroll(netboot, boot_files, mac, boot_interface='ipxe'):
    """Create the node and its port with the CLI; return the node UUID."""
    node = netboot.cli.json(
        'node', 'create', '--driver', 'fake-hardware',
        '--boot-interface', boot_interface, '--deploy-interface', 'fake',
        '--driver-info', 'deploy_kernel=file://%s' % boot_files.kernel,
        '--driver-info', 'deploy_ramdisk=file://%s' % boot_files.initrd,
        '--driver-info', 'fake_deploy_wait=true',
        '--driver-info', 'kernel_append_params=%s' % APPEND)
    netboot.cli.run('port', 'create', '--node', node['uuid'], mac)
    return node['uuid']


def _wait_unlocked_in(netboot, uuid, state):
    """Wait until the node is in state and its conductor let go of it."""
    def check():
        node = netboot.api.node(uuid)
        if node.get('reservation') is not None:
            return False
        if node['provision_state'] in (state,) + FAILED_STATES:
            return node
        return False
    node = wait_for(check, timeout=STATE_TIMEOUT,
                    message='node %s to reach %s unlocked' % (uuid, state))
    assert node['provision_state'] == state, (
        'node %s went to %s, not %s: %s' % (
            uuid, node['provision_state'], state, node.get('last_error')))
    return node


def _deploy_to_callback_wait(netboot, uuid):
    """manage, provide, deploy: the node waits for its ramdisk."""
    cli = netboot.cli
    cli.run('node', 'manage', uuid, '--wait', STATE_TIMEOUT)
    cli.run('node', 'provide', uuid, '--wait', STATE_TIMEOUT)
    cli.run('node', 'deploy', uuid)
    return _wait_unlocked_in(netboot, uuid, 'wait call-back')


def _kernel_line(script):
    """The URL and parameters of the script's iPXE ``kernel`` line."""
    for line in script.splitlines():
        words = line.split('||')[0].split()
        if not words or words[0] != 'kernel':
            continue
        rest = words[1:]
        while rest[0].startswith('-'):
            # iPXE options: --name NAME, --timeout N, or --opt=value
            del rest[:1 if '=' in rest[0] else 2]
        return rest[0], rest[1:]
    raise AssertionError('no kernel line in:\n%s' % script)


def _assert_ramdisk_published(netboot, uuid, mac):
    """The files the brief says exist while the node waits: return the
    command line the per-MAC script gives the kernel."""
    bootstrap = (netboot.http_root / 'boot.ipxe').read_text()
    assert 'chain' in bootstrap and \
        '%s/ipxe/${mac:hexhyp}.ipxe' % GUEST_HTTP_URL in bootstrap, bootstrap
    script = netboot.mac_script(mac).read_text()
    url, params = _kernel_line(script)
    assert url.startswith('%s/%s/' % (GUEST_HTTP_URL, uuid)), script
    assert 'initrd' in script, script
    node_dir = netboot.http_root / uuid
    assert sorted(p.name for p in node_dir.iterdir()), node_dir
    return params


def _assert_cmdline(printed, expected, uuid, mac):
    """What the kernel got is what bootflow wrote, with its key params."""
    assert printed is not None, 'the initrd printed no command line'
    for param in ('BOOTIF=01-' + mac.replace(':', '-'),
                  'SERVER_ADDR=' + GUEST_API_URL, APPEND):
        assert param in printed, (param, printed)
    assert 'bootflow_node=' + uuid in printed, printed
    assert any(p.startswith('ipa-api-url=') for p in printed), printed
    assert printed == expected, (printed, expected)


def _boot_ramdisk(netboot, machines, disk, uuid, mac, expected):
    vm = machines.start('ramdisk', mac, netboot.http_port, disk=disk)
    vm.wait_for_text(assets.INITRD_MARKER)
    assert vm.wait_exit() == 0, vm.describe()
    assert assets.DISK_MARKER not in vm.serial()
    _assert_cmdline(assets.printed_cmdline(vm.serial()), expected, uuid,
                    mac)


def _heartbeat(netboot, uuid):
    """Play the ramdisk: its first heartbeat lets the deploy finish."""
    resp = netboot.api.post('/v1/heartbeat/%s' % uuid,
                            json={'callback_url': CALLBACK_URL},
                            headers={VERSION_HEADER: '1.22'})
    assert resp.status_code == 202, (resp.status_code, resp.text)


def _assert_local_boot(netboot, uuid, mac):
    script = netboot.mac_script(mac).read_text()
    words = [line.split()[0] for line in script.splitlines()
             if line.strip()]
    assert 'kernel' not in words and 'initrd' not in words, script
    assert 'sanboot' in script, script
    resp = netboot.api.get('/v1/nodes/%s/management/boot_device' % uuid)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {'boot_device': 'disk', 'persistent': True}, \
        resp.json()


def _boot_disk(netboot, machines, disk, mac):
    """Network first, as a BMC that kept PXE would: the disk must boot."""
    vm = machines.start('deployed', mac, netboot.http_port, disk=disk)
    vm.wait_for_text(assets.DISK_MARKER)
    assert vm.wait_exit() == assets.DISK_EXIT_CODE, vm.describe()
    assert assets.INITRD_MARKER not in vm.serial(), vm.describe()


def _undeploy(netboot, uuid, mac):
    netboot.cli.run('node', 'undeploy', uuid, '--wait', STATE_TIMEOUT)
    _wait_unlocked_in(netboot, uuid, 'available')
    assert not netboot.mac_script(mac).exists()
    assert not (netboot.http_root / uuid).exists(), \
        sorted(p.name for p in (netboot.http_root / uuid).iterdir())


def test_ipxe_deploy_boots_ramdisk_then_local_disk(
        netboot, boot_files, disk_image, machines):
    mac = vm_mac()
    uuid = _enroll(netboot, boot_files, mac)
    try:
        _deploy_to_callback_wait(netboot, uuid)
        expected = _assert_ramdisk_published(netboot, uuid, mac)
        _boot_ramdisk(netboot, machines, disk_image, uuid, mac, expected)
        _heartbeat(netboot, uuid)
        _wait_unlocked_in(netboot, uuid, 'active')
        _assert_local_boot(netboot, uuid, mac)
        _boot_disk(netboot, machines, disk_image, mac)
        _undeploy(netboot, uuid, mac)
    finally:
        netboot.api.delete_node_quietly(uuid)
