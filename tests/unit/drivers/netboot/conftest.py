"""A node as the boot interfaces see it: real config, real files under a
temp dir, file:// boot images, the 'none' DHCP provider."""

import types

import pytest

NODE_UUID = '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'
MACS = ('52:54:00:12:34:56', '52:54:00:ab:cd:ef')


class Management:
    def __init__(self):
        self.calls = []

    def get_supported_boot_devices(self, task):
        return ['pxe', 'disk', 'uefi-http']

    def set_boot_device(self, task, device, persistent=False):
        self.calls.append((device, persistent))


class Node(types.SimpleNamespace):
    def save(self):
        self.saves += 1


@pytest.fixture
def env(conf, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    for name in ('vmlinuz', 'initrd', 'bootos.iso', 'live.iso'):
        (images / name).write_bytes(name.encode() * 100)
    conf.set_override('http_root', str(tmp_path / 'http'), 'deploy')
    conf.set_override('http_url', 'http://192.0.2.1:8088', 'deploy')
    conf.set_override('tftp_root', str(tmp_path / 'tftp'), 'pxe')
    conf.set_override('tftp_server', '192.0.2.1', 'pxe')
    conf.set_override('instance_master_path', str(tmp_path / 'master'),
                      'pxe')
    conf.set_override('api_url', 'http://192.0.2.1:6385', 'conductor')
    conf.set_override('file_url_allowed_paths', [str(images)], 'conductor')
    from bootflow.drivers.modules.netboot import sources
    sources._CACHE = None
    yield types.SimpleNamespace(tmp=tmp_path, images=images)
    sources._CACHE = None


@pytest.fixture
def task(env):
    node = Node(
        uuid=NODE_UUID, id=1, saves=0, boot_mode='bios', properties={},
        driver_internal_info={}, instance_info={},
        boot_interface='ipxe',
        driver_info={
            'deploy_kernel': 'file://%s' % (env.images / 'vmlinuz'),
            'deploy_ramdisk': 'file://%s' % (env.images / 'initrd'),
            'deploy_iso': 'file://%s' % (env.images / 'bootos.iso'),
            'kernel_append_params': 'console=ttyS0,115200n8',
        })
    ports = [{'uuid': 'p%d' % i, 'address': mac, 'pxe_enabled': True}
             for i, mac in enumerate(MACS)]
    ports.append({'uuid': 'p9', 'address': '52:54:00:00:00:09',
                  'pxe_enabled': False})
    return types.SimpleNamespace(
        node=node, ports=ports,
        driver=types.SimpleNamespace(management=Management()))
