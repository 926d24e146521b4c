"""Root device hints: validation (the conductor's 400s) and choosing."""

import pytest

from bootflow.agent.imaging import ImageError
from bootflow.agent.imaging import rootdev

GIB = 1024 ** 3


def disk(name, gib, **extra):
    return dict({'name': name, 'size': int(gib * GIB), 'model': 'QEMU HD',
                 'vendor': 'ATA', 'serial': 'S-' + name[-3:],
                 'wwn': None, 'hctl': None, 'by_path': None,
                 'rotational': True}, **extra)


DISKS = [
    disk('/dev/sdb', 500, model='Samsung SSD 870', rotational=False,
         wwn='0x5002538E40A1B2C3', hctl='1:0:0:0',
         by_path='/dev/disk/by-path/pci-0000:00:1f.2-ata-2'),
    disk('/dev/sda', 2000, model='ST2000DM008', vendor='Seagate',
         wwn='0x5000C500A1B2C3D4', hctl='0:0:0:0',
         wwn_with_extension='0x5000c500a1b2c3d4', wwn_vendor_extension=None,
         by_path='/dev/disk/by-path/pci-0000:00:1f.2-ata-1'),
    disk('/dev/nvme0n1', 500.5, model='Samsung SSD 980', vendor=None,
         rotational='0', serial=['S6XNX0R', 'ALT'], hctl=None),
    disk('/dev/sdc', 2, model='Flash', rotational=False),
]


def names(hints, disks=DISKS):
    return rootdev.choose(disks, hints)['name']


# --- validate_hints -------------------------------------------------------

@pytest.mark.parametrize('hints, normalized', [
    (None, {}),
    ({}, {}),
    ({'size': 100}, {'size': 100}),
    ({'size': '100'}, {'size': '100'}),
    ({'size': '>= 100'}, {'size': '>= 100'}),
    ({'size': '>=100'}, {'size': '>= 100'}),
    ({'size': '<or> 10 <or> 20'}, {'size': '<or> 10 <or> 20'}),
    ({'name': 'sda'}, {'name': '/dev/sda'}),
    ({'name': '/dev/SDA'}, {'name': '/dev/sda'}),
    ({'name': 's== sda'}, {'name': '/dev/sda'}),
    ({'name': '<in> nvme'}, {'name': '<in> nvme'}),
    ({'name': '<or> sda <or> /dev/sdb'},
     {'name': '<or> /dev/sda <or> /dev/sdb'}),
    ({'model': ' Samsung SSD '}, {'model': 'samsung ssd'}),
    ({'model': 'S!= Samsung'}, {'model': 's!= samsung'}),
    ({'serial': 's== <in>x'}, {'serial': 's== <in>x'}),
    ({'rotational': True}, {'rotational': True}),
    ({'rotational': 'false'}, {'rotational': False}),
    ({'rotational': 'Yes'}, {'rotational': True}),
    ({'wwn': '0x5000C500', 'hctl': '0:0:0:0',
      'by_path': '/dev/disk/by-path/X', 'wwn_with_extension': 'a',
      'wwn_vendor_extension': 'b', 'vendor': 'ATA'},
     {'wwn': '0x5000c500', 'hctl': '0:0:0:0',
      'by_path': '/dev/disk/by-path/x', 'wwn_with_extension': 'a',
      'wwn_vendor_extension': 'b', 'vendor': 'ata'}),
])
def test_validate_normalizes(hints, normalized):
    assert rootdev.validate_hints(hints) == normalized
    # idempotent: the conductor stores the result, the agent re-checks it
    assert rootdev.validate_hints(normalized) == normalized


@pytest.mark.parametrize('hints, message', [
    ({'colour': 'blue'}, 'unknown root device hint colour'),
    ({'size': 10, 'foo': 1, 'bar': 2}, 'unknown root device hints bar, foo'),
    ({'size': 'big'}, 'not a positive integer'),
    ({'size': 0}, 'not a positive integer'),
    ({'size': -5}, 'not a positive integer'),
    ({'size': 1.5}, 'must be an integer'),
    ({'size': True}, 'must be an integer'),
    ({'size': '>='}, 'without a value'),
    ({'size': 's== 10'}, 'unsupported operator'),
    ({'size': '<in> 10'}, 'unsupported operator'),
    ({'model': 5}, 'must be a non-empty string'),
    ({'model': ''}, 'must be a non-empty string'),
    ({'model': '>= a'}, 'unsupported operator'),
    ({'model': '<all-in> a'}, 'unsupported operator'),
    ({'model': 's<= a'}, 'unsupported operator'),
    ({'model': '<or>'}, 'bad "<or>" expression'),
    ({'model': '<or> a <or>'}, 'bad "<or>" expression'),
    ({'rotational': 'maybe'}, 'must be a boolean'),
    ({'rotational': 1}, 'must be a boolean'),
    (['size'], 'must be an object'),
])
def test_validate_refuses(hints, message):
    with pytest.raises(ValueError, match=message):
        rootdev.validate_hints(hints)


# --- choose ---------------------------------------------------------------

@pytest.mark.parametrize('hints, expected', [
    ({'name': '/dev/sda'}, '/dev/sda'),
    ({'name': 'sda'}, '/dev/sda'),
    ({'name': '<in> nvme'}, '/dev/nvme0n1'),
    ({'name': '<or> sdb <or> sda'}, '/dev/sdb'),
    ({'serial': 's-sda'}, '/dev/sda'),            # case-insensitive
    ({'serial': 'ALT'}, '/dev/nvme0n1'),          # one of several
    ({'serial': 's!= s-sdc'}, '/dev/sdb'),
    ({'model': 'samsung ssd 980'}, '/dev/nvme0n1'),
    ({'model': '<in> samsung'}, '/dev/sdb'),      # 500 GiB < 500.5 GiB
    ({'vendor': 'seagate'}, '/dev/sda'),
    ({'wwn': '0x5000c500a1b2c3d4'}, '/dev/sda'),
    ({'wwn_with_extension': '0x5000C500A1B2C3D4'}, '/dev/sda'),
    ({'hctl': '1:0:0:0'}, '/dev/sdb'),
    ({'by_path': '/dev/disk/by-path/pci-0000:00:1f.2-ata-1'}, '/dev/sda'),
    ({'rotational': True}, '/dev/sda'),
    ({'rotational': 'false'}, '/dev/sdc'),
    ({'rotational': False, 'size': '>= 100'}, '/dev/sdb'),
    ({'size': 500}, '/dev/sdb'),                 # GiB rounded down
    ({'size': '500'}, '/dev/sdb'),
    ({'size': '> 500'}, '/dev/sda'),
    ({'size': '>= 3'}, '/dev/sdb'),
    ({'size': '< 3'}, '/dev/sdc'),
    ({'size': '<= 2'}, '/dev/sdc'),
    ({'size': '!= 500'}, '/dev/sdc'),
    ({'size': '= 1000'}, '/dev/sda'),             # Ironic's "at least"
    ({'size': '<or> 2000 <or> 2'}, '/dev/sdc'),
])
def test_choose_with_hints(hints, expected):
    assert names(hints) == expected
    assert names(hints, list(reversed(DISKS))) == expected


def test_choose_ties_by_name_not_inventory_order():
    disks = [disk('/dev/sdd', 100), disk('/dev/sdb', 100),
             disk('/dev/sdc', 100)]
    for order in (disks, disks[::-1], disks[1:] + disks[:1]):
        assert names({'model': 'qemu hd'}, order) == '/dev/sdb'
        assert names(None, order) == '/dev/sdb'


def test_choose_without_hints_smallest_of_at_least_4_gib():
    assert names(None) == '/dev/sdb'
    assert names({}) == '/dev/sdb'
    small = [disk('/dev/sda', 3.9), disk('/dev/sdb', 4), disk('/dev/sdc', 8)]
    assert names(None, small) == '/dev/sdb'
    assert rootdev.choose(small, None, min_size=5 * GIB)['name'] == (
        '/dev/sdc')


def test_choose_bare_names_in_inventory():
    disks = [{'name': 'vda', 'size': 10 * GIB}]
    assert rootdev.choose(disks, {'name': '/dev/vda'}) is disks[0]


def test_missing_attributes_do_not_match():
    disks = [disk('/dev/sda', 10, serial=None, rotational=None),
             disk('/dev/sdb', 20, serial='', rotational='garbage')]
    for hints in ({'serial': 'x'}, {'serial': 's!= x'},
                  {'rotational': True}, {'rotational': False}):
        with pytest.raises(ImageError):
            rootdev.choose(disks, hints)


def test_no_match_lists_disks_and_hints():
    with pytest.raises(ImageError) as err:
        rootdev.choose(DISKS, {'serial': 'nope', 'size': '>= 10'})
    message = str(err.value)
    assert "serial='nope'" in message and "size='>= 10'" in message
    assert '/dev/sda 2000.0 GiB serial S-sda' in message
    assert '/dev/sdc 2.0 GiB' in message
    assert "'S6XNX0R'" in message


def test_no_disk_big_enough():
    with pytest.raises(ImageError, match='at least 4.0 GiB.*/dev/sda 1.0 '
                                         'GiB'):
        rootdev.choose([disk('/dev/sda', 1)], None)
    with pytest.raises(ImageError, match='disks: none'):
        rootdev.choose([], None)


def test_choose_rejects_bad_hints():
    with pytest.raises(ValueError, match='unknown'):
        rootdev.choose(DISKS, {'colour': 'blue'})
