"""Glance image sources: what the conductor takes from Glance's metadata,
who may deploy which image, and the bytes fetched through the [glance]
adapter into the deploy image cache (fake Keystone and Glance on
127.0.0.1, real keystoneauth1)."""

import hashlib
import types
import uuid

import pytest

from bootflow.common import exception
from bootflow.common import keystone
from bootflow.images import glance
from bootflow.images import prepare
from tests.functional import openstack_fakes as fakes
from tests.unit.common.helpers import plugin_options_removed
from tests.unit.images.test_prepare import whole_disk

MIB = 1024 * 1024
OTHER = 'a' * 32


@pytest.fixture
def cloud(conf, tmp_path):
    keystone.reset()
    ks = fakes.Keystone()
    images = fakes.Glance(keystone=ks)
    ks.register('image', 'glance', images.url)
    conf.set_override('state_path', str(tmp_path / 'state'))
    conf.set_override('http_root', str(tmp_path / 'httpboot'), 'deploy')
    conf.set_override('http_url', 'http://conductor:8088', 'deploy')
    conf.set_override('max_image_size_mb', 16, 'deploy')
    conf.set_override('block_size_mb', 1, 'image_store')
    with plugin_options_removed(conf):
        from keystoneauth1 import loading
        conf.register_opts(loading.get_auth_plugin_conf_options('password'),
                           group='glance')
        for name, value in fakes.password_auth(ks).items():
            conf.set_override(name, value, 'glance')
        disk = whole_disk(tmp_path / 'disk.raw').read_bytes()
        yield types.SimpleNamespace(ks=ks, glance=images, disk=disk,
                                    tmp=tmp_path)
        keystone.reset()
    images.stop()
    ks.stop()


def node(ref, owner=None, lessee=None, **info):
    info['image_source'] = ref
    return types.SimpleNamespace(uuid=str(uuid.uuid4()), instance_info=info,
                                 driver_internal_info={}, owner=owner,
                                 lessee=lessee)


@pytest.mark.parametrize('ref,expected', [
    ('6f1f0b5e-5a4b-4c53-9d3e-3e0d2b1c0a11', True),
    ('glance://6f1f0b5e-5a4b-4c53-9d3e-3e0d2b1c0a11', True),
    ('http://host/6f1f0b5e-5a4b-4c53-9d3e-3e0d2b1c0a11', False),
    ('file:///images/disk.raw', False), (None, False), ('disk', False)])
def test_is_glance_ref(ref, expected):
    assert glance.is_glance_ref(ref) is expected


def test_bad_glance_url_is_refused():
    with pytest.raises(exception.ImageRefValidationFailed):
        glance.image_id('glance://not-a-uuid')


def test_unconfigured_glance_is_a_400(conf):
    keystone.reset()
    with pytest.raises(exception.InvalidParameterValue) as info:
        glance.check_configured(str(uuid.uuid4()))
    assert info.value.code == 400
    assert '[glance]auth_type' in str(info.value)


def test_metadata_gives_checksum_format_and_size(cloud):
    image = cloud.glance.add(cloud.disk, disk_format='qcow2')
    found = glance.resolve(image.upper(), node(image), False, 16 * MIB)
    assert found == {
        'source': 'glance://' + image, 'disk_format': 'qcow2',
        'size': len(cloud.disk),
        'checksum': 'sha512:' + hashlib.sha512(cloud.disk).hexdigest()}
    assert all(r['token'] in cloud.ks.issued for r in cloud.glance.requests)


@pytest.mark.parametrize('meta,allow_md5,fragment', [
    ({'status': 'queued'}, False, "'queued', not active"),
    ({'disk_format': 'iso'}, False, "disk_format is 'iso'"),
    ({'os_hash_algo': 'sha1'}, False, 'md5 is refused'),
    ({'os_hash_algo': None, 'os_hash_value': None}, False, 'md5 is refused'),
    ({'size': 17 * MIB}, False, 'max_image_size_mb'),
])
def test_refusals(cloud, meta, allow_md5, fragment):
    image = cloud.glance.add(cloud.disk, **meta)
    with pytest.raises(exception.ImageUnacceptable, match=fragment):
        glance.resolve(image, node(image), allow_md5, 16 * MIB)


def test_md5_only_where_allowed(cloud):
    image = cloud.glance.add(cloud.disk, os_hash_algo=None,
                             os_hash_value=None)
    found = glance.resolve(image, node(image), True, 16 * MIB)
    assert found['checksum'] == 'md5:' + hashlib.md5(cloud.disk).hexdigest()


def test_missing_image(cloud):
    with pytest.raises(exception.ImageRefValidationFailed,
                       match='no such image'):
        ref = str(uuid.uuid4())
        glance.resolve(ref, node(ref), False, 16 * MIB)


@pytest.mark.parametrize('visibility,owner,member,owner_of_node,allowed', [
    ('public', OTHER, None, 'p1', True),
    ('community', OTHER, None, 'p1', True),
    ('private', 'p1', None, 'p1', True),
    ('private', OTHER, None, 'p1', False),
    ('shared', OTHER, 'accepted', 'p1', True),
    ('shared', OTHER, 'pending', 'p1', False),
    ('private', OTHER, None, None, True),      # an operator's node
])
def test_access(cloud, visibility, owner, member, owner_of_node, allowed):
    image = cloud.glance.add(cloud.disk, visibility=visibility, owner=owner)
    if member:
        cloud.glance.members[(image, 'p1')] = member
    target = node(image, owner=owner_of_node)
    if allowed:
        glance.resolve(image, target, False, 16 * MIB)
    else:
        with pytest.raises(exception.ImageRefValidationFailed,
                           match="neither to the node's owner"):
            glance.resolve(image, target, False, 16 * MIB)


def test_lessee_may_deploy_its_image(cloud):
    image = cloud.glance.add(cloud.disk, visibility='private', owner='p2')
    glance.resolve(image, node(image, owner='p1', lessee='p2'), False,
                   16 * MIB)


def test_prepare_fetches_through_adapter_once(cloud):
    image = cloud.glance.add(cloud.disk)
    target = node('glance://' + image)
    params = prepare.prepare(target, 'http')
    assert params['disk_format'] == 'raw'
    assert params['checksum'] == \
        'sha256:' + hashlib.sha256(cloud.disk).hexdigest()
    gets = cloud.glance.file_gets(image)
    assert len(gets) == 1 and gets[0]['token'] in cloud.ks.issued
    # the same image by its bare UUID: one cache entry, nothing fetched
    prepare.prepare(node(image), 'blocks')
    assert len(cloud.glance.file_gets(image)) == 1


def test_prepare_refuses_mismatching_bytes(cloud):
    image = cloud.glance.add(cloud.disk)
    cloud.glance.data[image] = cloud.disk[:-1] + b'\x01'
    with pytest.raises(exception.ImageChecksumError) as info:
        prepare.prepare(node(image), 'blocks')
    assert cloud.glance.images[image]['os_hash_value'] in str(info.value)
    assert not [p for p in (cloud.tmp / 'state').rglob('*')
                if p.is_file() and p.stat().st_size == len(cloud.disk)]


def test_prepare_refuses_direct_mode(cloud):
    image = cloud.glance.add(cloud.disk)
    with pytest.raises(exception.InvalidParameterValue,
                       match='image_download_source "direct"'):
        prepare.prepare(node(image), 'direct')


def test_image_without_data(cloud):
    image = cloud.glance.add(cloud.disk)
    cloud.glance.data[image] = None
    with pytest.raises(exception.ImageDownloadFailed, match='HTTP 204'):
        prepare.prepare(node(image), 'http')
