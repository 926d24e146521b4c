"""layout for real: regular files as disks, the real sfdisk, blkid and
mkfs (a test is skipped only when its tool is missing)."""

import base64
import gzip
import json
import os
import shutil
import subprocess
import sys

import pytest

from bootflow.agent.config import base
from bootflow.agent.imaging import ImageError
from bootflow.agent.imaging import layout

MIB = 1024 * 1024
LINUX = '0FC63DAF-8483-4772-8E79-3D69D8477DE4'
SWAP = '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F'


def _needs(*tools):
    missing = [t for t in tools if base.Tools().which(t) is None]
    return pytest.mark.skipif(bool(missing), reason='%s not installed'
                              % ', '.join(missing))


needs_sfdisk = _needs('sfdisk')
needs_blkid = _needs('blkid')


def _tool(*argv):
    exe = base.Tools().which(argv[0])
    return subprocess.run([exe] + list(argv[1:]), capture_output=True,
                          text=True)


def make_disk(path, size):
    with open(path, 'wb') as stream:
        stream.truncate(size)
    return str(path)


def table(path):
    out = _tool('sfdisk', '--json', path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)['partitiontable']


def probe(path, offset):
    out = _tool('blkid', '-p', '-O', str(offset), '-o', 'export', path)
    return dict(line.split('=', 1) for line in out.stdout.splitlines()
                if '=' in line)


def fake_iso(size=64 * 1024, fill=b'\x01'):
    data = bytearray(fill * size)
    data[32769:32774] = b'CD001'
    return bytes(data)


def read_at(path, offset, length):
    with open(path, 'rb') as stream:
        stream.seek(offset)
        return stream.read(length)


LAYOUT = {'disk_label': 'msdos', 'root_mb': 0, 'swap_mb': 16,
          'ephemeral_mb': 32, 'ephemeral_format': 'ext4',
          'configdrive_mb': 64}


# -- planning ---------------------------------------------------------

def test_plan_root_takes_the_rest_configdrive_at_the_end():
    plan = layout.plan_partitions(300 * MIB, LAYOUT, configdrive=True)
    assert plan['root'] == (MIB, 300 * MIB - MIB - 48 * MIB - 64 * MIB)
    assert plan['swap'] == (plan['root'][0] + plan['root'][1], 16 * MIB)
    assert plan['ephemeral'] == (plan['swap'][0] + 16 * MIB, 32 * MIB)
    assert plan['configdrive'] == (236 * MIB, 64 * MIB)


def test_plan_without_configdrive_or_extras():
    plan = layout.plan_partitions(100 * MIB, {'disk_label': 'gpt'})
    assert set(plan) == {'root'}
    start, size = plan['root']
    assert start == MIB and size == 98 * MIB    # backup GPT in the last


def test_plan_gpt_configdrive_leaves_the_backup_gpt():
    plan = layout.plan_partitions(200 * MIB, dict(LAYOUT, disk_label='gpt'),
                                  configdrive=True)
    start, size = plan['configdrive']
    assert start % MIB == 0 and size >= 64 * MIB
    assert start + size == 200 * MIB - 33 * 512


def test_plan_fixed_root():
    plan = layout.plan_partitions(300 * MIB, dict(LAYOUT, root_mb=50),
                                  configdrive=True)
    assert plan['root'] == (MIB, 50 * MIB)
    assert plan['swap'][0] == 51 * MIB


@pytest.mark.parametrize('changes', [
    {'root_mb': 200}, {'swap_mb': 120}, {'ephemeral_mb': 150}])
def test_plan_refuses_what_does_not_fit(changes):
    with pytest.raises(ImageError, match='do not fit on a disk of 200 MiB'):
        layout.plan_partitions(200 * MIB, dict(LAYOUT, **changes),
                               configdrive=True)


@pytest.mark.parametrize('changes, match', [
    ({'disk_label': 'bsd'}, 'disk_label'),
    ({'swap_mb': -1}, 'swap_mb'),
    ({'root_mb': '10'}, 'root_mb'),
    ({'ephemeral_format': 'ntfs'}, 'ephemeral_format'),
])
def test_validate_layout_refuses(changes, match):
    with pytest.raises(ImageError, match=match):
        layout.validate_layout(dict(LAYOUT, **changes))


def test_validate_layout_defaults():
    assert layout.validate_layout({}) == {
        'disk_label': 'msdos', 'root_mb': 0, 'swap_mb': 0,
        'ephemeral_mb': 0, 'configdrive_mb': 64, 'ephemeral_format': 'ext4'}


# -- partition tables --------------------------------------------------

@needs_sfdisk
@pytest.mark.parametrize('label', ['msdos', 'gpt'])
def test_create_partition_table(tmp_path, label):
    dev = make_disk(tmp_path / 'vda', 300 * MIB)
    got = layout.create_partition_table(
        dev, 300 * MIB, dict(LAYOUT, disk_label=label), base.Tools(),
        configdrive=True)
    assert [got[r]['number'] for r in layout.ROLES] == [1, 2, 3, 4]
    assert got['root']['offset'] == MIB
    assert got['swap']['offset'] == got['root']['offset'] + got['root'][
        'size']
    assert got['swap']['size'] == 16 * MIB
    assert got['ephemeral']['size'] == 32 * MIB
    cd = got['configdrive']
    written = table(dev)
    assert got['disk_identifier'] == written['id']
    parts = written['partitions']
    assert [p['start'] * 512 for p in parts] == [
        got[r]['offset'] for r in layout.ROLES]
    if label == 'gpt':
        assert written['label'] == 'gpt'
        assert [p['type'] for p in parts] == [LINUX, SWAP, LINUX, LINUX]
        assert parts[3]['name'] == 'config-2'
        assert cd['offset'] + cd['size'] == (written['lastlba'] + 1) * 512
        assert got['partition_uuid'] == parts[0]['uuid'].lower()
    else:
        assert written['label'] == 'dos'
        assert [p['type'] for p in parts] == ['83', '82', '83', '83']
        assert parts[0].get('bootable') is True
        assert cd == {'number': 4, 'offset': 236 * MIB, 'size': 64 * MIB}
        assert got['partition_uuid'] == '%s-01' % written['id'][2:]


@needs_sfdisk
def test_create_partition_table_root_only(tmp_path):
    dev = make_disk(tmp_path / 'vda', 64 * MIB)
    got = layout.create_partition_table(dev, 64 * MIB, {}, base.Tools())
    assert got['root'] == {'number': 1, 'offset': MIB, 'size': 63 * MIB}
    assert got['swap'] is got['ephemeral'] is got['configdrive'] is None
    assert len(table(dev)['partitions']) == 1


@needs_sfdisk
def test_create_partition_table_replaces_an_old_one(tmp_path):
    dev = make_disk(tmp_path / 'vda', 300 * MIB)
    tools = base.Tools()
    layout.create_partition_table(dev, 300 * MIB,
                                  dict(LAYOUT, disk_label='gpt'), tools,
                                  configdrive=True)
    layout.create_partition_table(dev, 300 * MIB, {'disk_label': 'msdos'},
                                  tools)
    written = table(dev)
    assert written['label'] == 'dos'
    assert len(written['partitions']) == 1


# -- swap and ephemeral ------------------------------------------------

@needs_blkid
def test_make_swap(tmp_path):
    dev = make_disk(tmp_path / 'disk', 40 * MIB)
    with open(dev, 'r+b') as stream:    # an old filesystem's leftovers
        stream.seek(8 * MIB + 65536 + 64)
        stream.write(b'_BHRfS_M')
    ident = layout.make_swap(dev, 8 * MIB, 16 * MIB)
    found = probe(dev, 8 * MIB)
    assert found['TYPE'] == 'swap'
    assert found['LABEL'] == 'swap1'
    assert found['UUID'] == ident
    head = read_at(dev, 8 * MIB, 4096)
    assert head[-10:] == b'SWAPSPACE2'
    assert int.from_bytes(head[1028:1032], sys.byteorder) == (
        16 * MIB // 4096 - 1)


def test_make_swap_too_small(tmp_path):
    dev = make_disk(tmp_path / 'disk', MIB)
    with pytest.raises(ImageError, match='at least 10 pages'):
        layout.make_swap(dev, 0, 4096 * 9)


@needs_blkid
@_needs('mkfs.ext4')
def test_make_ephemeral_ext4(tmp_path):
    dev = make_disk(tmp_path / 'disk', 64 * MIB)
    layout.make_ephemeral(dev, 16 * MIB, 32 * MIB, 'ext4', base.Tools())
    found = probe(dev, 16 * MIB)
    assert found['TYPE'] == 'ext4'
    assert found['LABEL'] == 'ephemeral0'
    # nothing outside its range
    assert read_at(dev, 0, 16 * MIB) == bytes(16 * MIB)
    assert read_at(dev, 48 * MIB, 16 * MIB) == bytes(16 * MIB)


@needs_blkid
@_needs('mkfs.vfat')
def test_make_ephemeral_vfat(tmp_path):
    dev = make_disk(tmp_path / 'disk', 64 * MIB)
    layout.make_ephemeral(dev, 16 * MIB, 32 * MIB, 'vfat', base.Tools(),
                          label='EPHEMERAL0')
    found = probe(dev, 16 * MIB)
    assert found['TYPE'] == 'vfat'
    assert found['LABEL'] == 'EPHEMERAL0'
    assert read_at(dev, 0, 16 * MIB) == bytes(16 * MIB)


def test_make_ephemeral_other_formats(tmp_path):
    dev = make_disk(tmp_path / 'disk', MIB)
    with pytest.raises(ImageError, match="'xfs' is not supported"):
        layout.make_ephemeral(dev, 0, MIB, 'xfs', base.Tools())


# -- config drive partition of whole-disk images -------------------------

def _image_table(path, size, script):
    make_disk(path, size)
    out = subprocess.run([base.Tools().which('sfdisk'), '--quiet', path],
                         input=script, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def _grow(path, size):
    with open(path, 'r+b') as stream:
        stream.truncate(size)


@needs_sfdisk
def test_add_configdrive_partition_gpt(tmp_path):
    dev = str(tmp_path / 'vda')
    _image_table(dev, 40 * MIB, 'label: gpt\nstart=1MiB, size=30MiB\n')
    _grow(dev, 200 * MIB)       # the image was smaller than the disk
    tools = base.Tools()
    part = layout.add_configdrive_partition(dev, 200 * MIB, 64 * MIB, tools)
    written = table(dev)
    assert written['lastlba'] == 200 * MIB // 512 - 34   # relocated
    parts = written['partitions']
    assert len(parts) == 2 and parts[1]['name'] == 'config-2'
    assert part['number'] == 2
    assert part['offset'] == parts[1]['start'] * 512
    assert part['offset'] % MIB == 0 and part['size'] >= 64 * MIB
    assert part['offset'] + part['size'] == 200 * MIB - 33 * 512
    verify = _tool('sfdisk', '--verify', dev)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # a redeploy finds it again
    assert layout.add_configdrive_partition(dev, 200 * MIB, 64 * MIB,
                                            tools) == part
    assert len(table(dev)['partitions']) == 2


@needs_sfdisk
def test_add_configdrive_partition_msdos(tmp_path):
    dev = str(tmp_path / 'vda')
    _image_table(dev, 40 * MIB, 'label: dos\nstart=1MiB, size=20MiB, '
                 'type=83, bootable\nsize=10MiB, type=82\n')
    _grow(dev, 200 * MIB)
    tools = base.Tools()
    part = layout.add_configdrive_partition(dev, 200 * MIB, 64 * MIB, tools)
    assert part == {'number': 3, 'offset': 136 * MIB, 'size': 64 * MIB}
    parts = table(dev)['partitions']
    assert [p['type'] for p in parts] == ['83', '82', '83']
    assert layout.add_configdrive_partition(dev, 200 * MIB, 64 * MIB,
                                            tools) == part


@needs_sfdisk
def test_add_configdrive_partition_keeps_the_images_own(tmp_path):
    dev = str(tmp_path / 'vda')
    _image_table(dev, 100 * MIB, 'label: gpt\nstart=1MiB, size=10MiB\n'
                 'start=20MiB, size=10MiB, name="config-2"\n')
    part = layout.add_configdrive_partition(dev, 100 * MIB, 64 * MIB,
                                            base.Tools())
    assert part == {'number': 2, 'offset': 20 * MIB, 'size': 10 * MIB}
    assert len(table(dev)['partitions']) == 2


@needs_sfdisk
def test_add_configdrive_partition_four_primaries(tmp_path):
    dev = str(tmp_path / 'vda')
    _image_table(dev, 40 * MIB, 'label: dos\n' + 'size=5MiB\n' * 4)
    _grow(dev, 200 * MIB)
    with pytest.raises(ImageError, match='4 primary partitions'):
        layout.add_configdrive_partition(dev, 200 * MIB, 64 * MIB,
                                         base.Tools())


@needs_sfdisk
def test_add_configdrive_partition_no_room(tmp_path):
    dev = str(tmp_path / 'vda')
    _image_table(dev, 100 * MIB, 'label: dos\nstart=1MiB\n')
    with pytest.raises(ImageError, match='no room for a 64 MiB config'):
        layout.add_configdrive_partition(dev, 100 * MIB, 64 * MIB,
                                         base.Tools())


@needs_sfdisk
def test_add_configdrive_partition_no_table(tmp_path):
    dev = make_disk(tmp_path / 'vda', 100 * MIB)
    with pytest.raises(ImageError, match='has no partition table'):
        layout.add_configdrive_partition(dev, 100 * MIB, 64 * MIB,
                                         base.Tools())


def test_write_configdrive(tmp_path):
    dev = make_disk(tmp_path / 'vda', 8 * MIB)
    iso = fake_iso()
    layout.write_configdrive(dev, {'number': 2, 'offset': 4 * MIB,
                                   'size': 4 * MIB}, iso)
    assert read_at(dev, 4 * MIB, len(iso)) == iso
    assert read_at(dev, 4 * MIB + 32769, 5) == b'CD001'


def test_write_configdrive_too_big(tmp_path):
    dev = make_disk(tmp_path / 'vda', 8 * MIB)
    with pytest.raises(ImageError, match='larger than its partition 2'):
        layout.write_configdrive(dev, {'number': 2, 'offset': 4 * MIB,
                                       'size': 32768}, fake_iso())
    assert read_at(dev, 0, 8 * MIB) == bytes(8 * MIB)


# -- decoding ----------------------------------------------------------

def test_decode_gzip_base64():
    iso = fake_iso()
    value = {'data': base64.b64encode(gzip.compress(iso)).decode()}
    assert layout.decode_configdrive(value) == iso


def test_decode_base64_of_the_iso_itself():
    iso = fake_iso()
    assert layout.decode_configdrive(
        {'data': base64.b64encode(iso).decode()}) == iso


def test_decode_a_bare_string():
    iso = fake_iso()
    assert layout.decode_configdrive(
        base64.b64encode(gzip.compress(iso)).decode()) == iso


@pytest.mark.parametrize('value, match', [
    ({}, 'must be'),
    ({'data': 'a', 'url': 'http://x'}, 'must be'),
    ({'data': ''}, 'non-empty'),
    ({'data': 42}, 'non-empty'),
    ({'data': base64.b64encode(gzip.compress(b'x' * 40000)).decode()},
     'not an ISO 9660'),
    ({'data': base64.b64encode(b'\x1f\x8bnot gzip at all').decode()},
     'not valid gzip'),
    ({'data': base64.b64encode(gzip.compress(fake_iso())[:-20]).decode()},
     'truncated'),
    ({'url': 'ftp://example.com/cd.iso'}, 'http or https'),
    ({'url': 'file:///etc/passwd'}, 'http or https'),
    (['x'], 'must be'),
])
def test_decode_refuses(value, match):
    with pytest.raises(ImageError, match=match):
        layout.decode_configdrive(value)


def test_decode_refuses_a_gzip_bomb():
    bomb = gzip.compress(bytes(65 * MIB))
    with pytest.raises(ImageError, match='more than 64 MiB'):
        layout.decode_configdrive({'data': base64.b64encode(bomb).decode()})


@_needs('xorriso')
def test_decode_a_real_iso(tmp_path):
    top = tmp_path / 'cd' / 'openstack' / 'latest'
    top.mkdir(parents=True)
    (top / 'meta_data.json').write_text('{"uuid": "x"}')
    iso = tmp_path / 'x.iso'
    subprocess.run([shutil.which('xorriso'), '-as', 'mkisofs', '-V',
                    'config-2', '-J', '-R', '-o', str(iso),
                    str(tmp_path / 'cd')], check=True, capture_output=True)
    data = iso.read_bytes()
    value = {'data': base64.b64encode(gzip.compress(data)).decode()}
    assert layout.decode_configdrive(value) == data
    assert os.path.getsize(iso) == len(data)
