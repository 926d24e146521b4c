"""Preparing images for the agent, against a real local origin server and
the real qemu-img: what each mode returns, that a second prepare fetches
nothing, and every refusal."""

import hashlib
import os
import shutil
import subprocess
import time
import types
import uuid

import pytest

from bootflow.common import exception
from bootflow.drivers.modules.netboot import files
from bootflow.images import prepare
from bootflow.images import qemu
from tests.unit.images.origin import Origin

pytestmark = pytest.mark.skipif(not shutil.which('qemu-img'),
                                reason='needs qemu-img')
MIB = 1024 * 1024


def _sha256(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def whole_disk(path, size=3 * MIB + 4096, seed=b'x'):
    """A small "disk": an MBR signature, pseudo-random data, a zero
    stretch, and a short tail (size not a multiple of a block)."""
    block = hashlib.sha512(seed).digest() * (MIB // 64)
    with open(path, 'wb') as f:
        f.write(block)
        f.write(bytes(MIB))
        f.write(block[::-1])
        f.truncate(size)
        f.seek(510)
        f.write(b'\x55\xaa')
    return path


@pytest.fixture
def env(conf, tmp_path):
    conf.set_override('state_path', str(tmp_path / 'state'))
    conf.set_override('http_root', str(tmp_path / 'httpboot'), 'deploy')
    conf.set_override('http_url', 'http://conductor:8088', 'deploy')
    conf.set_override('max_image_size_mb', 16, 'deploy')
    conf.set_override('image_read_timeout', 5, 'deploy')
    conf.set_override('block_size_mb', 1, 'image_store')
    allowed = tmp_path / 'allowed'
    allowed.mkdir()
    conf.set_override('file_url_allowed_paths', [str(allowed)],
                      'conductor')
    root = tmp_path / 'origin'
    root.mkdir()
    raw = whole_disk(root / 'disk.raw')
    subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2',
                    str(raw), str(root / 'disk.qcow2')], check=True)
    with Origin(root) as origin:
        yield types.SimpleNamespace(origin=origin, root=root, raw=raw,
                                    qcow2=root / 'disk.qcow2',
                                    allowed=allowed, tmp=tmp_path)


def node(**info):
    return types.SimpleNamespace(uuid=str(uuid.uuid4()), instance_info=info,
                                 driver_internal_info={})


def info_for(env, name, fmt='raw', **extra):
    return dict({'image_source': env.origin.url + '/' + name,
                 'image_checksum': 'sha256:' + _sha256(env.root / name),
                 'image_disk_format': fmt}, **extra)


@pytest.fixture
def conversions(monkeypatch):
    calls = []
    real = qemu.convert_to_raw

    def spy(src, dst, timeout):
        calls.append(src)
        return real(src, dst, timeout)
    monkeypatch.setattr(qemu, 'convert_to_raw', spy)
    return calls


# -- direct -----------------------------------------------------------------

def test_direct_streams_from_the_origin_and_fetches_nothing(env):
    info = info_for(env, 'disk.qcow2', 'qcow2')
    params = prepare.prepare(node(**info), 'direct')
    assert params == {'mode': 'stream', 'url': info['image_source'],
                      'checksum': info['image_checksum'],
                      'disk_format': 'qcow2', 'size': None,
                      'image_type': 'whole-disk'}
    assert env.origin.gets() == 0


def test_direct_without_disk_format_reads_only_the_head(env):
    info = info_for(env, 'disk.qcow2', None)
    params = prepare.prepare(node(**info), 'direct')
    assert params['disk_format'] == 'qcow2'
    assert env.origin.gets() == 1


def test_direct_refuses_local_files(env):
    local = env.allowed / 'disk.raw'
    shutil.copyfile(env.raw, local)
    info = dict(info_for(env, 'disk.raw'), image_source='file://%s' % local)
    with pytest.raises(exception.InvalidParameterValue) as err:
        prepare.prepare(node(**info), 'direct')
    assert '"blocks" or "http"' in str(err.value)


def test_partition_image_type(env):
    info = info_for(env, 'disk.raw', kernel='k', ramdisk='r')
    assert prepare.prepare(node(**info), 'direct')['image_type'] == \
        'partition'
    info['image_type'] = 'whole-disk'
    assert prepare.prepare(node(**info), 'direct')['image_type'] == \
        'whole-disk'
    info['image_type'] = 'floppy'
    with pytest.raises(exception.InvalidParameterValue):
        prepare.prepare(node(**info), 'direct')


# -- http -----------------------------------------------------------------

def test_http_raw_is_linked_into_the_node_dir(env):
    n = node(**info_for(env, 'disk.raw'))
    params = prepare.prepare(n, 'http')
    dest = os.path.join(files.node_dir(n), 'image.raw')
    assert params == {
        'mode': 'stream', 'url': 'http://conductor:8088/%s/image.raw'
        % n.uuid, 'checksum': 'sha256:' + _sha256(env.raw),
        'disk_format': 'raw', 'size': os.path.getsize(env.raw),
        'image_type': 'whole-disk'}
    assert open(dest, 'rb').read() == env.raw.read_bytes()
    assert os.stat(dest).st_nlink == 2      # the master and this node
    assert dest in n.driver_internal_info[files.RECORD_KEY]
    assert env.origin.counts['/disk.raw'] == 1

    other = node(**info_for(env, 'disk.raw'))
    assert prepare.prepare(other, 'http')['checksum'] == params['checksum']
    assert env.origin.gets() == 1           # nothing fetched again


def test_http_qcow2_is_converted_once(env, conversions):
    first = node(**info_for(env, 'disk.qcow2', 'qcow2'))
    params = prepare.prepare(first, 'http')
    assert params['disk_format'] == 'raw'
    assert params['checksum'] == 'sha256:' + _sha256(env.raw)
    assert params['size'] == os.path.getsize(env.raw)
    dest = os.path.join(files.node_dir(first), 'image.raw')
    assert open(dest, 'rb').read() == env.raw.read_bytes()
    assert len(conversions) == 1

    second = node(**info_for(env, 'disk.qcow2', 'qcow2'))
    assert prepare.prepare(second, 'http') == dict(
        params, url=params['url'].replace(first.uuid, second.uuid))
    assert len(conversions) == 1
    assert env.origin.gets() == 1


def test_cleanup_removes_only_the_image(env):
    n = node(**info_for(env, 'disk.raw'))
    boot = files.http_path(n.uuid, 'boot.ipxe')
    os.makedirs(os.path.dirname(boot), exist_ok=True)
    open(boot, 'w').close()
    files.record(n, [boot])
    prepare.prepare(n, 'http')
    prepare.cleanup(n)
    assert not os.path.exists(files.http_path(n.uuid, 'image.raw'))
    assert os.path.exists(boot)
    assert n.driver_internal_info[files.RECORD_KEY] == [boot]
    prepare.cleanup(n)                       # nothing left: a no-op


# -- blocks ---------------------------------------------------------------

def _blocks_dir(env):
    return env.tmp / 'httpboot' / 'blocks'


def test_blocks_raw_and_second_prepare_fetches_nothing(env, conf):
    conf.set_override('mirrors', ['http://mirror/blocks'], 'image_store')
    info = info_for(env, 'disk.raw')
    params = prepare.prepare(node(**info), 'blocks')
    key = params['manifest_url'].rsplit('/', 1)[1][:-len('.json')]
    assert params == {
        'mode': 'blocks', 'manifest_url':
        'http://conductor:8088/blocks/manifests/%s.json' % key,
        'manifest_sha256': params['manifest_sha256'],
        'sources': ['http://conductor:8088/blocks', 'http://mirror/blocks'],
        'reuse': True, 'size': os.path.getsize(env.raw),
        'image_type': 'whole-disk'}
    manifest_file = _blocks_dir(env) / 'manifests' / (key + '.json')
    assert hashlib.sha256(manifest_file.read_bytes()).hexdigest() == \
        params['manifest_sha256']
    assert env.origin.gets() == 1
    again = prepare.prepare(node(**info), 'blocks')
    assert again == params
    assert env.origin.gets() == 1


def test_blocks_qcow2_is_converted_and_split(env, conversions):
    from bootflow.agent.imaging import manifest as mf
    params = prepare.prepare(node(**info_for(env, 'disk.qcow2', 'qcow2')),
                             'blocks')
    key = params['manifest_url'].rsplit('/', 1)[1][:-len('.json')]
    manifest = mf.loads((_blocks_dir(env) / 'manifests'
                         / (key + '.json')).read_bytes())
    assert manifest['image_sha256'] == _sha256(env.raw)
    assert manifest['block_size'] == MIB
    assert manifest['blocks'][1] is None            # the zero MiB
    assert len(manifest['blocks']) == 4             # 3 MiB + a short tail
    for h in manifest['blocks']:
        if h:
            assert (_blocks_dir(env) / h[:2] / h).is_file()
    assert len(conversions) == 1
    prepare.prepare(node(**info_for(env, 'disk.qcow2', 'qcow2')), 'blocks')
    assert len(conversions) == 1 and env.origin.gets() == 1


def test_blocks_from_a_block_distributed_source(env, conf):
    """An origin that publishes a manifest and its blocks: the conductor
    fetches the manifest and only the blocks it lacks."""
    from bootflow.agent.imaging import manifest as mf
    from bootflow.images import blockstore
    published = env.root / 'pub'
    origin_store = blockstore.BlockStore(str(published / 'blocks'),
                                         str(published))
    manifest, _ = origin_store.ingest(str(env.raw), 'img', MIB)
    data = mf.dumps(manifest)
    (published / 'disk.json').write_bytes(data)
    info = {'image_source': env.origin.url + '/pub/disk.json',
            'image_checksum': 'sha256:' + hashlib.sha256(data).hexdigest()}
    params = prepare.prepare(node(**info), 'blocks')
    assert params['size'] == manifest['size']
    fetched = env.origin.gets()
    assert fetched == 1 + sum(1 for h in manifest['blocks'] if h)
    assert prepare.prepare(node(**info), 'blocks') == params
    assert env.origin.gets() == fetched


def test_blocks_dir_outside_http_root_uses_the_mirrors(env, conf):
    conf.set_override('blocks_dir', str(env.tmp / 'store'), 'image_store')
    info = info_for(env, 'disk.raw')
    with pytest.raises(exception.InvalidParameterValue) as err:
        prepare.prepare(node(**info), 'blocks')
    assert 'mirrors' in str(err.value)
    conf.set_override('mirrors', ['http://m1/b/', 'http://m2/b'],
                      'image_store')
    params = prepare.prepare(node(**info), 'blocks')
    assert params['sources'] == ['http://m1/b', 'http://m2/b']
    assert params['manifest_url'].startswith('http://m1/b/manifests/')
    assert (env.tmp / 'store' / 'manifests').is_dir()


# -- refusals -------------------------------------------------------------

@pytest.mark.parametrize('mode', ['http', 'blocks'])
def test_qcow2_with_backing_file_refused(env, mode, conversions):
    overlay = env.root / 'overlay.qcow2'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b',
                    '/etc/hostname', '-F', 'raw', str(overlay)], check=True)
    with pytest.raises(exception.ImageUnacceptable) as err:
        prepare.prepare(node(**info_for(env, 'overlay.qcow2', 'qcow2')),
                        mode)
    assert 'backing file' in str(err.value)
    assert conversions == []


@pytest.mark.parametrize('mode', ['http', 'blocks'])
def test_format_mismatch_refused(env, mode):
    n = node(**info_for(env, 'disk.qcow2', 'raw'))
    with pytest.raises(exception.ImageUnacceptable) as err:
        prepare.prepare(n, mode)
    assert str(err.value).startswith(
        'image format mismatch: declared raw but the image is qcow2')
    assert not os.path.exists(files.http_path(n.uuid, 'image.raw'))


def test_undeclared_format_is_detected_but_only_raw_or_qcow2(env):
    info = info_for(env, 'disk.qcow2', None)
    assert prepare.prepare(node(**info), 'http')['checksum'] == \
        'sha256:' + _sha256(env.raw)
    (env.root / 'disk.vmdk').write_bytes(b'KDMV' + bytes(70000))
    with pytest.raises(exception.ImageUnacceptable) as err:
        prepare.prepare(node(**info_for(env, 'disk.vmdk', None)), 'http')
    assert 'vmdk' in str(err.value)
    with pytest.raises(exception.InvalidParameterValue) as err:
        prepare.prepare(node(**info_for(env, 'disk.vmdk', 'vmdk')), 'http')
    assert 'image_disk_format' in str(err.value)


@pytest.mark.parametrize('mode', ['http', 'blocks'])
def test_checksum_mismatch_refused(env, mode):
    info = dict(info_for(env, 'disk.raw'), image_checksum='sha256:' + '0' *
                64)
    with pytest.raises(exception.ImageChecksumError):
        prepare.prepare(node(**info), mode)


def test_qcow2_larger_than_the_limit_refused(env, conversions):
    big = env.root / 'huge.qcow2'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', str(big),
                    '1T'], check=True)
    with pytest.raises(exception.ImageUnacceptable) as err:
        prepare.prepare(node(**info_for(env, 'huge.qcow2', 'qcow2')),
                        'blocks')
    assert 'virtual size (1048576 MiB)' in str(err.value)
    assert conversions == []


@pytest.mark.parametrize('mode', ['http', 'blocks'])
def test_file_sources(env, mode, tmp_path):
    local = env.allowed / 'disk.raw'
    shutil.copyfile(env.raw, local)
    info = dict(info_for(env, 'disk.raw'), image_source='file://%s' % local)
    assert prepare.prepare(node(**info), mode)['size'] == \
        os.path.getsize(env.raw)

    outside = tmp_path / 'secret.raw'
    shutil.copyfile(env.raw, outside)
    (env.allowed / 'link.raw').symlink_to(outside)
    (env.allowed / 'zero.raw').symlink_to('/dev/zero')
    for url in ('file://%s' % outside, 'file://%s/link.raw' % env.allowed,
                'file://%s/zero.raw' % env.allowed,
                'file://%s/../secret.raw' % env.allowed):
        with pytest.raises(exception.InvalidParameterValue) as err:
            prepare.prepare(node(**dict(info, image_source=url)), mode)
        assert 'file_url_allowed_paths' in str(err.value)


def test_device_in_an_allowed_dir_refused(env, conf):
    conf.set_override('file_url_allowed_paths', [str(env.allowed), '/dev'],
                      'conductor')
    (env.allowed / 'zero.raw').symlink_to('/dev/zero')
    info = dict(info_for(env, 'disk.raw'),
                image_source='file://%s/zero.raw' % env.allowed)
    with pytest.raises(exception.ImageRefValidationFailed) as err:
        prepare.prepare(node(**info), 'http')
    assert 'not an image file' in str(err.value)


@pytest.mark.parametrize('mode', ['http', 'blocks'])
def test_endless_source_fails_on_max_bytes(env, mode):
    info = {'image_source': env.origin.url + '/endless',
            'image_checksum': 'sha256:' + 'a' * 64,
            'image_disk_format': 'raw'}
    started = time.monotonic()
    with pytest.raises(exception.ImageDownloadFailed) as err:
        prepare.prepare(node(**info), mode)
    assert time.monotonic() - started < 10
    assert 'larger than the limit of 16 MiB' in str(err.value)
    leftovers = [n for n in os.listdir(prepare.cache_dir())
                 if not n.endswith('.lock')]
    assert leftovers == []


def test_unknown_mode_refused(env):
    with pytest.raises(exception.InvalidParameterValue) as err:
        prepare.prepare(node(**info_for(env, 'disk.raw')), 'ftp')
    assert 'image_download_source' in str(err.value)


def test_concurrent_prepares_download_and_split_once(env, conversions):
    import concurrent.futures
    info = info_for(env, 'disk.qcow2', 'qcow2')
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(
            lambda mode: prepare.prepare(node(**info), mode),
            ['blocks', 'http', 'blocks', 'http', 'blocks', 'http']))
    assert env.origin.gets() == 1
    assert len(conversions) == 1
    assert len({r['manifest_sha256'] for r in results
                if r['mode'] == 'blocks'}) == 1


def test_http_url_override(env):
    n = node(**info_for(env, 'disk.raw'))
    assert prepare.prepare(n, 'http', http_url='http://10.0.0.1:80/')[
        'url'] == 'http://10.0.0.1:80/%s/image.raw' % n.uuid
    params = prepare.prepare(node(**info_for(env, 'disk.raw')), 'blocks',
                             http_url='http://10.0.0.1:80')
    assert params['sources'] == ['http://10.0.0.1:80/blocks']


def test_clean_cache_evicts_unused_images(env, conf):
    n = node(**info_for(env, 'disk.qcow2', 'qcow2'))
    prepare.prepare(n, 'http')
    conf.set_override('image_cache_ttl', 1, 'pxe')
    past = time.time() - 3600
    for name in os.listdir(prepare.cache_dir()):
        os.utime(os.path.join(prepare.cache_dir(), name), (past, past))
    # the qcow2 original goes; the raw stays while the node links it
    assert prepare.clean_cache() == os.path.getsize(env.qcow2)
    prepare.cleanup(n)
    assert prepare.clean_cache() == os.path.getsize(env.raw)
    assert [name for name in os.listdir(prepare.cache_dir())
            if not name.endswith('.lock')] == []
