"""Network boot through the real service: the CLI creates an iPXE node,
deploys it, and the per-MAC script, kernel and initrd are served by the
all-in-one's boot file server; bad boot input is a 400 in Ironic's error
format that changes nothing; the finished deploy switches to local boot.
"""

import os

import pytest
import requests

from tests.functional import conftest as ft

pytestmark = pytest.mark.functional
KERNEL = b'\x7fKERNEL' * 4096


@pytest.fixture(scope='module')
def netboot(tmp_path_factory):
    if os.environ.get(ft.ENDPOINT_ENV):
        pytest.skip('needs a service this test starts itself')
    images = tmp_path_factory.mktemp('images')
    (images / 'vmlinuz').write_bytes(KERNEL)
    (images / 'initrd').write_bytes(b'INITRD' * 1000)
    work = tmp_path_factory.mktemp('netboot')
    port = ft._free_port()
    svc = ft.start_service('sqlite', work, extra_config={
        'deploy': {'http_root': work / 'httpboot',
                   'http_url': 'http://127.0.0.1:%d' % port,
                   'http_server_host': '127.0.0.1',
                   'http_server_port': port},
        'conductor': {'api_url': 'http://127.0.0.1:6385',
                      'file_url_allowed_paths': images},
        'pxe': {'tftp_root': work / 'tftpboot',
                'instance_master_path': work / 'master'},
    })
    yield {'svc': svc, 'images': images, 'root': work / 'httpboot',
           'base': 'http://127.0.0.1:%d' % port,
           'api': ft.HttpApi(svc), 'cli': ft.BaremetalCLI(svc)}
    svc.stop()


def _create(env, node_cleanup, **driver_info):
    cli, images = env['cli'], env['images']
    args = ['node', 'create', '--driver', 'fake-hardware',
            '--boot-interface', 'ipxe', '--name', ft.unique('nb'),
            '--driver-info', 'deploy_kernel=file://%s' % (images / 'vmlinuz'),
            '--driver-info', 'deploy_ramdisk=file://%s' % (images / 'initrd')]
    for key, value in driver_info.items():
        args += ['--driver-info', '%s=%s' % (key, value)]
    node = cli.json(*args)
    node_cleanup.append((env['api'], node['uuid']))
    mac = ft.random_mac()
    cli.json('port', 'create', '--node', node['uuid'], mac)
    env['api'].move_to(node['uuid'], 'available')
    return node['uuid'], mac


def _wait_parked(api, uuid):
    """``wait call-back`` keeps its target (active), so this is not
    HttpApi.wait_provision_state's stable-state wait."""
    def parked():
        node = api.node(uuid)
        return node['provision_state'] == 'wait call-back' and \
            node['reservation'] is None
    ft.wait_for(parked, timeout=60, message='%s in wait call-back' % uuid)


def _script_url(env, mac):
    return '%s/ipxe/%s.ipxe' % (env['base'], mac.replace(':', '-'))


def test_deploy_serves_ipxe_script_kernel_and_initrd(netboot, node_cleanup):
    env = netboot
    uuid, mac = _create(env, node_cleanup, fake_deploy_wait='true',
                        kernel_append_params='console=ttyS0,115200')
    env['cli'].run('node', 'deploy', uuid)
    _wait_parked(env['api'], uuid)
    script = requests.get(_script_url(env, mac), timeout=10)
    assert script.status_code == 200
    assert script.text.startswith('#!ipxe')
    kernel_url = '%s/%s/deploy_kernel' % (env['base'], uuid)
    assert 'kernel --name kernel %s ' % kernel_url in script.text
    for fragment in ('BOOTIF=01-%s' % mac.replace(':', '-'),
                     'SERVER_ADDR=http://127.0.0.1:6385',
                     'bootflow_node=%s' % uuid, 'console=ttyS0,115200'):
        assert fragment in script.text
    kernel = requests.get(kernel_url, timeout=10)
    assert kernel.content == KERNEL
    assert kernel.headers['Content-Length'] == str(len(KERNEL))
    part = requests.get(kernel_url, headers={'Range': 'bytes=7-13'},
                        timeout=10)
    assert part.status_code == 206 and part.content == KERNEL[7:14]
    bootstrap = requests.get(env['base'] + '/boot.ipxe', timeout=10)
    assert '/ipxe/${mac:hexhyp}.ipxe' in bootstrap.text

    resp = env['api'].post('/v1/heartbeat/%s' % uuid,
                           json={'callback_url': 'http://127.0.0.1:9'})
    assert resp.status_code == 202, resp.text
    env['api'].wait_provision_state(uuid, 'active')
    local = requests.get(_script_url(env, mac), timeout=10).text
    assert 'sanboot' in local and 'kernel' not in local
    assert requests.get(kernel_url, timeout=10).status_code == 404
    device = env['api'].get('/v1/nodes/%s/management/boot_device' % uuid)
    assert device.json() == {'boot_device': 'disk', 'persistent': True}

    env['cli'].run('node', 'undeploy', uuid)
    env['api'].wait_provision_state(uuid, 'available')
    assert requests.get(_script_url(env, mac), timeout=10).status_code == 404


@pytest.mark.parametrize('key,value,fragment', [
    ('kernel_append_params', 'quiet\ninitrd http://evil/x',
     'one line'),
    ('kernel_append_params', 'x=${net0/mac}', 'not allowed'),
    ('bootos_pre_script', 'http://h/pre.sh;reboot', 'PRE script URL'),
    ('deploy_kernel', 'file:///etc/shadow', 'file_url_allowed_paths'),
])
def test_bad_boot_input_is_a_400_and_changes_nothing(
        netboot, node_cleanup, key, value, fragment):
    env = netboot
    uuid, mac = _create(env, node_cleanup)
    env['api'].patch_node(uuid, [{'op': 'add', 'path': '/driver_info/' + key,
                                  'value': value}])
    resp = env['api'].put('/v1/nodes/%s/states/provision' % uuid,
                          json={'target': 'active'})
    ft.assert_ironic_error(resp, 400, fragment)
    node = env['api'].node(uuid)
    assert node['provision_state'] == 'available'
    assert node['reservation'] is None
    assert not (env['root'] / 'ipxe' / (mac.replace(':', '-') + '.ipxe')) \
        .exists()
    assert not (env['root'] / uuid).exists()
    shown = env['cli'].json('node', 'validate', uuid)
    boot = [row for row in shown if row['Interface'] == 'boot'][0]
    assert boot['Result'] is False and fragment in boot['Reason']


@pytest.mark.parametrize('path', [
    '/../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/ipxe/',
    '/ipxe/../../etc/passwd',
])
def test_boot_file_server_stays_in_its_root(netboot, path):
    resp = requests.get(netboot['base'] + path, timeout=10)
    assert resp.status_code in (403, 404), (path, resp.status_code)
    assert b'root:' not in resp.content
