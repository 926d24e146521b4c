"""Config drives: built ISOs read back with pycdlib (no mount needed)."""

import base64
import gzip
import io
import json
import shutil
import subprocess

import pycdlib
import pytest

from bootflow.common import exception
from bootflow.images import configdrive

CONTENTS = {
    'meta_data': {'uuid': 'f2c5a0e4-1b1e-4a8e-9d3c-0c2f1b2e3d4f',
                  'hostname': 'node-1', 'public_keys': {'k': 'ssh-ed25519 A'}},
    'user_data': '#cloud-config\npackages: [htop]\n',
    'network_data': {'links': [{'id': 'eth0', 'type': 'phy'}],
                     'networks': [], 'services': []},
    'vendor_data': {'bootflow': True},
}


def _read(iso_bytes, path):
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(iso_bytes))
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path=path)
        return out.getvalue()
    finally:
        iso.close()


def _walk(iso_bytes, **kind):
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(iso_bytes))
    try:
        return sorted('%s/%s' % (root, name) for root, _, names
                      in iso.walk(**kind) for name in names)
    finally:
        iso.close()


def test_build_iso_layout_and_contents():
    iso = configdrive.build_iso(CONTENTS)
    assert iso[0x8001:0x8006] == b'CD001'
    assert iso[0x8028:0x8030] == b'config-2'
    for version in ('latest', '2012-08-10'):
        base = '/openstack/%s/' % version
        assert json.loads(_read(iso, base + 'meta_data.json')) == \
            CONTENTS['meta_data']
        assert _read(iso, base + 'user_data') == \
            CONTENTS['user_data'].encode()
        assert json.loads(_read(iso, base + 'network_data.json')) == \
            CONTENTS['network_data']
        assert json.loads(_read(iso, base + 'vendor_data.json')) == \
            CONTENTS['vendor_data']
    assert '/openstack/latest/network_data.json' in _walk(
        iso, joliet_path='/')


def test_minimal_and_structured_user_data():
    iso = configdrive.build_iso({'user_data': {'a': [1, 2]}})
    assert json.loads(_read(iso, '/openstack/latest/meta_data.json')) == {}
    assert json.loads(_read(iso, '/openstack/latest/user_data')) == \
        {'a': [1, 2]}
    assert not any('network_data' in p for p in _walk(iso, rr_path='/'))


@pytest.mark.skipif(not shutil.which('blkid'), reason='needs blkid')
def test_blkid_sees_config_2(tmp_path):
    path = tmp_path / 'cd.iso'
    path.write_bytes(configdrive.build_iso(CONTENTS))
    out = subprocess.run(['blkid', '-p', '-o', 'export', str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert 'LABEL=config-2' in out.splitlines()
    assert 'TYPE=iso9660' in out.splitlines()


@pytest.mark.parametrize('contents, fragment', [
    ({'meta_data': 'x'}, 'meta_data must be a JSON object'),
    ({'user_data': 5}, 'user_data must be a string'),
    ({'network_data': []}, 'network_data must be a JSON object'),
    ({'metadata': {}}, 'unknown keys metadata'),
    ('x', 'expected an object'),
])
def test_bad_dicts_refused(contents, fragment):
    with pytest.raises(exception.InvalidParameterValue) as err:
        configdrive.build_iso(contents)
    assert fragment in str(err.value)


def test_to_agent_builds_a_dict():
    param = configdrive.to_agent(CONTENTS)
    iso = gzip.decompress(base64.b64decode(param['data']))
    assert json.loads(_read(iso, '/openstack/latest/meta_data.json')) == \
        CONTENTS['meta_data']
    # stable: the same contents give the same bytes
    assert configdrive.to_agent(CONTENTS) == param


def test_to_agent_passes_urls_and_images():
    assert configdrive.to_agent(None) is None
    assert configdrive.to_agent('') is None
    assert configdrive.to_agent('https://h/cd.iso.gz') == {
        'url': 'https://h/cd.iso.gz'}
    ready = base64.b64encode(gzip.compress(
        configdrive.build_iso(CONTENTS))).decode()
    assert configdrive.to_agent(ready) == {'data': ready}
    configdrive.check(ready)
    # a plain (not gzipped) ISO is gzipped for the agent
    plain = base64.b64encode(configdrive.build_iso(CONTENTS)).decode()
    out = configdrive.to_agent(plain)
    assert gzip.decompress(base64.b64decode(out['data']))[
        0x8001:0x8006] == b'CD001'


@pytest.mark.parametrize('value, fragment', [
    ('definitely not base64!', 'not base64'),
    ('abc', 'base64'),
    (base64.b64encode(gzip.compress(b'x' * 40000, mtime=0)).decode(),
     'not an ISO 9660 image'),
    (base64.b64encode(b'\x1f\x8b' + b'garbage' * 10).decode(),
     'corrupt gzip'),
    ('ftp://h/cd.iso', 'not an ISO 9660 image'),
    (42, 'expected an object, a URL or a base64 string'),
], ids=['text', 'short', 'gzip-not-iso', 'bad-gzip', 'ftp', 'int'])
def test_invalid_values_refused(value, fragment):
    for func in (configdrive.check, configdrive.to_agent):
        with pytest.raises(exception.InvalidParameterValue) as err:
            func(value)
        assert fragment in str(err.value)
        assert 'config drive' in str(err.value)


def test_size_cap(monkeypatch):
    monkeypatch.setattr(configdrive, 'MAX_BYTES', 256 * 1024)
    bomb = base64.b64encode(gzip.compress(bytes(1024 * 1024))).decode()
    with pytest.raises(exception.InvalidParameterValue) as err:
        configdrive.to_agent(bomb)
    assert 'larger than 262144 bytes once decompressed' in str(err.value)
    with pytest.raises(exception.InvalidParameterValue) as err:
        configdrive.check({'user_data': 'x' * 200 * 1024})
    assert 'exceed' in str(err.value)
