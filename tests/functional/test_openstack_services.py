"""The conductor reaching Glance and Neutron through keystoneauth1, end to
end: the real service (a subprocess) logs in with a password to a real
Keystone (keystone_server.py), finds the stand-in Glance and Neutron on
127.0.0.1 in its catalog, and the real BootOS agent writes a file disk.

Proved here: a node whose image_source is a Glance image UUID deploys
with the bytes fetched from Glance with a token Keystone issued, and
lands byte for byte; a Glance hash the bytes do not match fails the
deploy cleanly (``deploy failed``, lock released, disk unbootable); a
VIF attach of a port Neutron does not have is a 400 in Ironic's error
format and leaves nothing recorded, while an existing one is attached
and bound to the node when it deploys.

The stand-ins (openstack_fakes.py) accept only tokens the real Keystone
validates.
"""

import hashlib
import os
import shutil
import sys

import pytest

from tests.functional import conftest as ft
from tests.functional import imaging
from tests.functional import keystone_server
from tests.functional import openstack_fakes as fakes
from tests.functional.imaging import _refusal
from tests.functional.imaging import deploy
from tests.functional.imaging import host_tree
from tests.functional.imaging import new_node
from tests.functional.imaging import read

pytestmark = pytest.mark.functional

images = imaging.images
origin = imaging.origin


SERVICE_USER, SERVICE_PASSWORD = 'bootflow', 'bootflow-secret'


@pytest.fixture(scope='module')
def cloud(tmp_path_factory):
    if not shutil.which('keystone-manage',
                        path=os.path.dirname(sys.executable)):
        pytest.skip('needs the keystone package')
    ks = keystone_server.KeystoneServer(tmp_path_factory.mktemp('keystone'),
                                        ft._free_port())
    try:
        ks.start()
        ks.user(SERVICE_USER, SERVICE_PASSWORD, 'service', ['service'])
        tokens = fakes.TokenChecker(ks)
        glance = fakes.Glance(keystone=tokens)
        neutron = fakes.Neutron(keystone=tokens)
        ks.register_endpoint('image', 'glance', glance.url)
        ks.register_endpoint('network', 'neutron', neutron.url)
        yield {'keystone': ks, 'tokens': tokens, 'glance': glance,
               'neutron': neutron}
        neutron.stop()
        glance.stop()
    finally:
        ks.stop()


@pytest.fixture(scope='module')
def os_env(tmp_path_factory, cloud):
    if os.environ.get(ft.ENDPOINT_ENV):
        pytest.skip('needs a service this test starts itself')
    for tool in ('sfdisk', 'qemu-img', 'mkfs.ext4', 'blkid'):
        if not shutil.which(tool):
            pytest.skip('needs %s' % tool)
    work = tmp_path_factory.mktemp('osdeploy')
    port = ft._free_port()
    auth = {'auth_type': 'password', 'auth_url': cloud['keystone'].url,
            'username': SERVICE_USER, 'password': SERVICE_PASSWORD,
            'project_name': 'service', 'user_domain_name': 'Default',
            'project_domain_name': 'Default'}
    svc = ft.start_service('sqlite', work, extra_config={
        'DEFAULT': {'enabled_network_interfaces': 'noop,flat,neutron'},
        'agent': {'poll_interval': '0.2', 'progress_interval': '0.2'},
        'deploy': {'max_image_size_mb': '96', 'image_read_timeout': '5',
                   'http_url': 'http://127.0.0.1:%d' % port,
                   'http_server_host': '127.0.0.1',
                   'http_server_port': port},
        'glance': auth,
        'neutron': auth,
    })
    yield {'svc': svc, 'api': ft.HttpApi(svc), 'cli': ft.BaremetalCLI(svc),
           'work': work}
    svc.stop()


def test_glance_image_deploys_with_a_token(os_env, cloud, node_cleanup,
                                           tmp_path, images):
    glance, neutron = cloud['glance'], cloud['neutron']
    data = images['raw'].read_bytes()
    image = glance.add(data)
    tree, disk = host_tree(tmp_path)
    uuid = new_node(os_env, node_cleanup, tree)
    api = os_env['api']
    mac = ft.random_mac()
    api.create_port(uuid, mac)
    vif = neutron.add_port()
    api.patch_node(uuid, [{'op': 'replace', 'path': '/network_interface',
                           'value': 'neutron'}])
    resp = api.post('/v1/nodes/%s/vifs' % uuid, json={'id': vif})
    assert resp.status_code == 204, resp.text

    node, _ = deploy(os_env, uuid, tree, {'image_source': image})
    assert node['last_error'] is None
    assert hashlib.sha256(read(disk, 0, len(data))).hexdigest() == \
        hashlib.sha256(data).hexdigest()
    gets = glance.file_gets(image)
    assert len(gets) == 1
    assert gets[0]['token'] in cloud['tokens'].seen
    assert neutron.updates(vif)[0] == {
        'binding:host_id': uuid, 'binding:vnic_type': 'baremetal',
        'mac_address': mac}


def test_glance_hash_mismatch_fails_the_deploy(os_env, cloud, node_cleanup,
                                               tmp_path, images):
    glance = cloud['glance']
    data = images['raw'].read_bytes()
    image = glance.add(data, os_hash_value=hashlib.sha512(
        b'something else').hexdigest())
    _refusal(os_env, node_cleanup, tmp_path,
             {'image_source': 'glance://' + image}, 'hecksum', image)
    assert glance.file_gets(image)


def test_vif_attach_of_missing_port_is_refused(os_env, cloud,
                                               node_cleanup):
    api = os_env['api']
    node = api.create_node(name=ft.unique('vif'), network_interface='neutron')
    node_cleanup.append((api, node['uuid']))
    port = api.create_port(node['uuid'], ft.random_mac())
    resp = api.post('/v1/nodes/%s/vifs' % node['uuid'],
                    json={'id': 'no-such-port'})
    ft.assert_ironic_error(resp, 400, 'no-such-port', 'does not exist')
    assert api.get('/v1/nodes/%s/vifs' % node['uuid']).json() == \
        {'vifs': []}
    shown = api.get('/v1/ports/%s' % port['uuid']).json()
    assert 'tenant_vif_port_id' not in (shown.get('internal_info') or {})
    assert any(r['path'] == '/v2.0/ports/no-such-port'
               and r['token'] in cloud['tokens'].seen
               for r in cloud['neutron'].requests)
