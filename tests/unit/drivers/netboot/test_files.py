"""Boot file paths stay under their roots; writes are atomic; clean-up
removes exactly what was recorded."""

import os
import types

import pytest

from bootflow.common import atomic_file
from bootflow.common import exception
from bootflow.drivers.modules.netboot import files


@pytest.fixture
def roots(conf, tmp_path):
    conf.set_override('http_root', str(tmp_path / 'http'), 'deploy')
    conf.set_override('tftp_root', str(tmp_path / 'tftp'), 'pxe')
    return tmp_path


@pytest.mark.parametrize('parts', [
    ('..', 'etc'), ('../etc',), ('/etc/passwd',), ('a/../../b',), ('',),
    ('.hidden',), ('a\x00b',), (None,), ('a', '..'),
])
def test_traversal_is_refused(roots, parts):
    with pytest.raises(exception.InvalidParameterValue):
        files.http_path(*parts)


def test_symlink_out_of_the_root_is_refused(roots):
    os.makedirs(roots / 'http')
    os.symlink('/etc', roots / 'http' / 'escape')
    with pytest.raises(exception.InvalidParameterValue):
        files.http_path('escape', 'passwd')


def test_write_atomic_leaves_no_temporary(roots):
    path = files.http_path('ipxe', 'x.ipxe')
    atomic_file.write(path, 'one', parents=True)
    atomic_file.write(path, 'two', parents=True)
    assert open(path).read() == 'two'
    assert os.listdir(os.path.dirname(path)) == ['x.ipxe']


def test_remove_recorded_touches_only_recorded_paths_inside_roots(roots):
    node = types.SimpleNamespace(driver_internal_info={'other': 1})
    mine = files.http_path('ipxe', 'mine.ipxe')
    theirs = files.http_path('ipxe', 'theirs.ipxe')
    outside = roots / 'outside'
    for path in (mine, theirs, outside):
        atomic_file.write(str(path), 'x', parents=True)
    files.record(node, [mine])
    # A tampered record naming a file outside the roots is ignored.
    node.driver_internal_info[files.RECORD_KEY].append(str(outside))
    files.remove_recorded(node)
    assert not os.path.exists(mine)
    assert os.path.exists(theirs) and os.path.exists(outside)
    assert node.driver_internal_info == {'other': 1}
