"""Properties derived from an inventory, and the support list."""

import pytest

from bootflow.bootos import inspection
from bootflow.bootos import support
from bootflow.common import exception

GiB = 1024 ** 3

INVENTORY = {
    'cpu': {'count': 32, 'architecture': 'x86_64'},
    'memory': {'total': 196 * GiB, 'physical_mb': 196608},
    'disks': [{'name': '/dev/sda', 'size': 480 * GiB, 'serial': 'S1'},
              {'name': '/dev/sdb', 'size': 240 * GiB, 'serial': 'S2'},
              {'name': '/dev/sdc', 'size': 2 * GiB, 'serial': 'tiny'}],
    'interfaces': [{'name': 'eno1', 'mac_address': '3C:FD:FE:00:00:01'},
                   {'name': 'eno2', 'mac_address': '3c:fd:fe:00:00:02'},
                   {'name': 'bad', 'mac_address': 'nope'}],
    'boot': {'current_boot_mode': 'uefi',
             'pxe_interface': '3c:fd:fe:00:00:02'},
    'system_vendor': {'manufacturer': 'Dell Inc.',
                      'product_name': 'PowerEdge R640',
                      'firmware': {'version': '2.17.1'}},
}


def test_properties_from_inventory():
    props = inspection.properties({'capabilities': 'foo:bar'}, INVENTORY)
    # the smallest disk of at least 4 GiB, less one GiB
    assert props['local_gb'] == 239
    assert props['cpus'] == 32 and props['cpu_arch'] == 'x86_64'
    assert props['memory_mb'] == 196608
    assert props['capabilities'] == 'foo:bar,boot_mode:uefi'


def test_root_device_hints_pick_the_root_disk():
    props = inspection.properties({'root_device': {'serial': 's1'}},
                                  INVENTORY)
    assert props['local_gb'] == 479


def test_memory_falls_back_to_total():
    inv = dict(INVENTORY, memory={'total': 8 * GiB})
    assert inspection.properties({}, inv)['memory_mb'] == 8192


def test_macs_and_pxe_mac():
    assert inspection.macs(INVENTORY) == ['3c:fd:fe:00:00:01',
                                          '3c:fd:fe:00:00:02']
    assert inspection.pxe_mac(INVENTORY) == '3c:fd:fe:00:00:02'


def _write(tmp_path, text, name='support.yaml'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_no_support_list_supports_everything():
    assert support.check(INVENTORY, path='')[0] is True


def test_support_list_patterns(tmp_path):
    path = _write(tmp_path, '- vendor: "dell*"\n  product: "PowerEdge R6*"\n'
                            '  firmware: "2.*"\n')
    ok, reason = support.check(INVENTORY, path)
    assert ok and 'PowerEdge R6*' in reason
    other = dict(INVENTORY, system_vendor={'manufacturer': 'ACME',
                                           'product_name': 'Box 1'})
    ok, reason = support.check(other, path)
    assert not ok
    assert "vendor 'ACME'" in reason and "product 'Box 1'" in reason


def test_support_list_reloads_when_edited(tmp_path):
    path = _write(tmp_path, 'supported:\n  - vendor: ACME\n')
    assert not support.check(INVENTORY, path)[0]
    import os
    with open(path, 'w') as f:
        f.write('supported:\n  - vendor: Dell*\n')
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    assert support.check(INVENTORY, path)[0]


@pytest.mark.parametrize('text, fragment', [
    ('- colour: red\n', 'expected a mapping'),
    ('vendor: x\n', 'must be a list'),
    ('- [unclosed\n', 'not valid YAML'),
])
def test_bad_support_lists_are_clear_errors(tmp_path, text, fragment):
    path = _write(tmp_path, text)
    with pytest.raises(exception.InvalidParameterValue) as caught:
        support.check(INVENTORY, path)
    assert fragment in str(caught.value) and path in str(caught.value)
