"""Checksum policy and source allow-list of deploy images."""

import hashlib
import os
import stat

import pytest

from bootflow.common import exception
from bootflow.images import source
from tests.unit.images.origin import Origin

DATA = b'image bytes'
SHA256 = hashlib.sha256(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()
SHA1 = hashlib.sha1(DATA).hexdigest()
SRC = 'http://images.example/dir/disk.qcow2'


def _info(**kw):
    return dict({'image_source': SRC}, **kw)


# -- checksum_of ----------------------------------------------------------

@pytest.mark.parametrize('info, expected', [
    ({'image_checksum': 'sha256:' + SHA256}, 'sha256:' + SHA256),
    ({'image_checksum': SHA256.upper()}, 'sha256:' + SHA256),
    ({'image_checksum': SHA512}, 'sha512:' + SHA512),
    ({'image_os_hash_algo': 'sha512', 'image_os_hash_value': SHA512},
     'sha512:' + SHA512),
    ({'image_os_hash_algo': 'SHA256', 'image_os_hash_value': SHA256,
      'image_checksum': MD5}, 'sha256:' + SHA256),
])
def test_checksum_accepted(info, expected):
    assert source.checksum_of(_info(**info), allow_md5=False) == expected


def test_md5_only_when_allowed():
    for info in ({'image_checksum': MD5},
                 {'image_checksum': 'md5:' + MD5},
                 {'image_os_hash_algo': 'md5', 'image_os_hash_value': MD5}):
        with pytest.raises(exception.InvalidParameterValue) as err:
            source.checksum_of(_info(**info), allow_md5=False)
        assert 'allow_md5_checksum' in str(err.value)
        assert source.checksum_of(_info(**info), allow_md5=True) == \
            'md5:' + MD5


@pytest.mark.parametrize('info', [
    {'image_checksum': SHA1},
    {'image_checksum': 'sha1:' + SHA1},
    {'image_os_hash_algo': 'sha1', 'image_os_hash_value': SHA1},
    {'image_os_hash_algo': 'crc32', 'image_os_hash_value': 'abcd1234'},
])
def test_sha1_and_others_refused(info):
    with pytest.raises(exception.InvalidParameterValue) as err:
        source.checksum_of(_info(**info), allow_md5=True)
    assert 'sha256' in str(err.value)


@pytest.mark.parametrize('info, fragment', [
    ({}, 'checksum is required'),
    ({'image_checksum': ''}, 'checksum is required'),
    ({'image_os_hash_algo': 'sha256'}, 'together'),
    ({'image_os_hash_value': SHA256}, 'together'),
    ({'image_checksum': 'sha256:xyz'}, 'Invalid image checksum'),
    ({'image_checksum': 42}, 'string'),
    ({'image_os_hash_algo': 'sha512', 'image_os_hash_value': SHA256},
     'sha512'),
])
def test_bad_or_missing_checksum(info, fragment):
    with pytest.raises(exception.InvalidParameterValue) as err:
        source.checksum_of(_info(**info), allow_md5=False)
    assert fragment in str(err.value)
    assert 'checksum' in str(err.value).lower()


def test_checksum_url_without_fetch_is_only_checked():
    url = 'http://127.0.0.1:9/SHA256SUMS'     # nothing listens there
    assert source.checksum_of(_info(image_checksum=url), False,
                              fetch=False) == url


def test_checksums_file_picks_the_image_line(tmp_path):
    (tmp_path / 'SHA256SUMS').write_text(
        '# built by ci\n'
        '%s  other.img\n'
        '%s *disk.qcow2\n'
        '%s  ./sub/another.qcow2\n' % ('1' * 64, SHA256, '2' * 64))
    (tmp_path / 'BSD').write_text('SHA512 (x.img) = %s\n'
                                  'SHA512 (disk.qcow2) = %s\n'
                                  % ('3' * 128, SHA512))
    (tmp_path / 'one.sha256').write_text('%s  built-as-foo.img\n' % SHA256)
    (tmp_path / 'none').write_text('%s  a\n%s  b\n' % ('1' * 64, '2' * 64))
    (tmp_path / 'md5sums').write_text('%s  disk.qcow2\n' % MD5)
    with Origin(tmp_path) as origin:
        def of(name, **kw):
            return source.checksum_of(
                _info(image_checksum=origin.url + '/' + name), **kw)
        assert of('SHA256SUMS', allow_md5=False) == 'sha256:' + SHA256
        assert of('BSD', allow_md5=False) == 'sha512:' + SHA512
        assert of('one.sha256', allow_md5=False) == 'sha256:' + SHA256
        assert source.checksum_of(
            {'image_source': SRC, 'image_os_hash_algo': 'sha256',
             'image_os_hash_value': origin.url + '/SHA256SUMS'},
            False) == 'sha256:' + SHA256
        with pytest.raises(exception.InvalidParameterValue) as err:
            of('none', allow_md5=False)
        assert "'disk.qcow2'" in str(err.value)
        with pytest.raises(exception.InvalidParameterValue):
            of('md5sums', allow_md5=False)
        assert of('md5sums', allow_md5=True) == 'md5:' + MD5
        with pytest.raises(exception.ImageDownloadFailed) as err:
            of('missing', allow_md5=False)
        assert '404' in str(err.value)


def test_checksums_file_is_size_capped(tmp_path):
    with Origin(tmp_path) as origin:
        with pytest.raises(exception.ImageDownloadFailed) as err:
            source.checksum_of(
                _info(image_checksum=origin.url + '/endless'), False)
    assert 'larger than the limit of 1 MiB' in str(err.value)


# -- check_source ---------------------------------------------------------

@pytest.fixture
def allowed(tmp_path, conf):
    path = tmp_path / 'allowed'
    path.mkdir()
    conf.set_override('file_url_allowed_paths', [str(path)], 'conductor')
    return path


def test_http_sources_pass():
    for url in ('http://h/x.img', 'https://h:8443/a/b.qcow2?x=1'):
        assert source.check_source(url) == ('http', url)


def test_file_inside_allowed_dir(allowed):
    image = allowed / 'sub' / 'disk.img'
    image.parent.mkdir()
    image.write_bytes(DATA)
    assert source.check_source('file://%s' % image) == (
        'file', os.path.realpath(image))
    assert source.check_source('file://localhost%s' % image)[0] == 'file'
    link = allowed / 'link.img'
    link.symlink_to(image)
    assert source.check_source('file://%s' % link) == (
        'file', os.path.realpath(image))


def test_file_escaping_the_allow_list(allowed, tmp_path):
    secret = tmp_path / 'secret.img'
    secret.write_bytes(DATA)
    (allowed / 'link.img').symlink_to(secret)
    sibling = tmp_path / 'allowed-not'
    sibling.mkdir()
    (sibling / 'x.img').write_bytes(DATA)
    for url in ('file://%s' % secret,
                'file://%s/../secret.img' % allowed,
                'file://%s/link.img' % allowed,
                'file://%s/x.img' % sibling):
        with pytest.raises(exception.InvalidParameterValue) as err:
            source.check_source(url)
        assert 'file_url_allowed_paths' in str(err.value), url


def test_file_must_be_a_regular_nonempty_file(allowed, conf):
    os.mkfifo(allowed / 'fifo')
    (allowed / 'dir').mkdir()
    (allowed / 'empty').write_bytes(b'')
    cases = [('fifo', 'not a regular file'), ('dir', 'not a regular file'),
             ('empty', 'empty'), ('missing', 'No such file')]
    if os.geteuid() == 0:
        os.mknod(allowed / 'zero-dev', stat.S_IFCHR | 0o600,
                 os.makedev(1, 5))
        cases.append(('zero-dev', 'not a regular file'))
    for name, fragment in cases:
        with pytest.raises(exception.ImageRefValidationFailed) as err:
            source.check_source('file://%s/%s' % (allowed, name))
        assert fragment in str(err.value), name
    assert source.check_source('file://%s/missing' % allowed,
                               must_exist=False)[0] == 'file'


def test_device_through_a_symlink(allowed, conf):
    (allowed / 'zero').symlink_to('/dev/zero')
    with pytest.raises(exception.InvalidParameterValue) as err:
        source.check_source('file://%s/zero' % allowed)
    assert 'file_url_allowed_paths' in str(err.value)
    # even an allow-list that covers them keeps pseudo-filesystems out
    conf.set_override('file_url_allowed_paths', [str(allowed), '/dev',
                                                 '/proc'], 'conductor')
    for url in ('file://%s/zero' % allowed, 'file:///proc/self/environ'):
        with pytest.raises(exception.ImageRefValidationFailed) as err:
            source.check_source(url)
        assert 'pseudo-filesystem' in str(err.value)


@pytest.mark.parametrize('url', [
    None, '', 'ftp://h/x.img', '/plain/path', 'glance://uuid', 'http://',
    'file://otherhost/var/lib/bootflow/x.img', 'http://h/a b.img',
])
def test_other_sources_refused(url, allowed):
    with pytest.raises(exception.Invalid) as err:
        source.check_source(url)
    assert 'image_source' in str(err.value) or 'host' in str(err.value)
