"""The dnsmasq provider's files: names, exact contents, atomic writes."""

import os
import re
import stat

import pytest

from bootflow.common import exception
from bootflow.dhcp import dnsmasq
from tests.unit.dhcp.helpers import make_task
from tests.unit.dhcp.helpers import port
from tests.unit.dhcp.test_base import IPXE_OPTIONS

NODE = '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'
OTHER = '2be26c0b-03f2-4d2e-ae87-c02d7f33c124'
MAC1, MAC2 = '52:54:00:aa:bb:01', '52:54:00:aa:bb:02'
PXE = [{'opt_name': 'bootfile-name', 'opt_value': 'pxelinux.0'},
       {'opt_name': 'server-ip-address', 'opt_value': '192.0.2.1'}]


@pytest.fixture
def provider(dirs):
    return dnsmasq.DnsmasqDHCP()


def host_file(dirs, node, mac):
    return dirs.hosts / ('%s-%s' % (node, mac.replace(':', '-')))


def contents(directory):
    return {p.name: p.read_text() for p in directory.iterdir()}


def tag_of(dirs, node=NODE):
    text = (dirs.opts / node).read_text()
    return re.match(r'tag:(bf-%s-[0-9a-f]{12}),' % node, text).group(1)


def test_ipxe_options_rendered(provider, dirs):
    provider.update_dhcp_opts(make_task(port(MAC1), node_uuid=NODE),
                              IPXE_OPTIONS)
    tag = tag_of(dirs)
    # Generic lines first: the iPXE ones, read last, win where they match.
    assert contents(dirs.opts) == {NODE: (
        'tag:%(t)s,option:tftp-server,192.0.2.1\n'
        'tag:%(t)s,option:server-ip-address,192.0.2.1\n'
        'tag:%(t)s,tag:!ipxe,option:bootfile-name,undionly.kpxe\n'
        'tag:%(t)s,tag:ipxe,option:bootfile-name,'
        'http://192.0.2.1:8088/boot.ipxe\n' % {'t': tag})}
    assert contents(dirs.hosts) == {
        NODE + '-52-54-00-aa-bb-01': '52:54:00:aa:bb:01,set:%s\n' % tag}


def test_one_host_file_per_pxe_port(provider, dirs):
    task = make_task(port(MAC1), port('52:54:00:AA:BB:02'),
                     port('52:54:00:aa:bb:03', pxe_enabled=False),
                     node_uuid=NODE)
    provider.update_dhcp_opts(task, PXE)
    tag = tag_of(dirs)
    assert contents(dirs.hosts) == {
        NODE + '-52-54-00-aa-bb-01': '%s,set:%s\n' % (MAC1, tag),
        NODE + '-52-54-00-aa-bb-02': '%s,set:%s\n' % (MAC2, tag)}


def test_files_readable_by_dnsmasq_and_no_temp_left(provider, dirs):
    provider.update_dhcp_opts(make_task(port(MAC1), node_uuid=NODE), PXE)
    provider.clean_dhcp_opts(make_task(node_uuid=NODE))
    for path in list(dirs.hosts.iterdir()) + list(dirs.opts.iterdir()):
        assert not path.name.startswith('.'), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_tag_follows_node_and_options(provider, dirs):
    task = make_task(port(MAC1), node_uuid=NODE)
    provider.update_dhcp_opts(task, PXE)
    first = tag_of(dirs)
    provider.update_dhcp_opts(task, list(reversed(PXE)))
    assert tag_of(dirs) == first, 'option order must not matter'
    provider.update_dhcp_opts(task, PXE[:1])
    assert tag_of(dirs) != first
    assert (dirs.opts / NODE).read_text() == \
        'tag:%s,option:bootfile-name,pxelinux.0\n' % tag_of(dirs)
    assert host_file(dirs, NODE, MAC1).read_text() == \
        '%s,set:%s\n' % (MAC1, tag_of(dirs))
    provider.update_dhcp_opts(make_task(port(MAC2), node_uuid=OTHER), PXE)
    assert tag_of(dirs, OTHER) != first


def test_unchanged_files_not_rewritten(provider, dirs):
    task = make_task(port(MAC1), node_uuid=NODE)
    provider.update_dhcp_opts(task, PXE)
    paths = [host_file(dirs, NODE, MAC1), dirs.opts / NODE]
    inodes = [p.stat().st_ino for p in paths]
    provider.update_dhcp_opts(task, PXE)
    assert [p.stat().st_ino for p in paths] == inodes


def test_clean_turns_files_into_ignore_entries(provider, dirs):
    task = make_task(port(MAC1), port(MAC2), node_uuid=NODE)
    provider.update_dhcp_opts(task, IPXE_OPTIONS)
    provider.update_dhcp_opts(make_task(port('52:54:00:aa:bb:09'),
                                        node_uuid=OTHER), PXE)
    others = contents(dirs.opts)[OTHER], host_file(
        dirs, OTHER, '52:54:00:aa:bb:09').read_text()
    # The task no longer lists the ports: found by the node's UUID.
    provider.clean_dhcp_opts(make_task(node_uuid=NODE))
    assert host_file(dirs, NODE, MAC1).read_text() == MAC1 + ',ignore\n'
    assert host_file(dirs, NODE, MAC2).read_text() == MAC2 + ',ignore\n'
    assert (dirs.opts / NODE).read_text() == ''
    assert (contents(dirs.opts)[OTHER], host_file(
        dirs, OTHER, '52:54:00:aa:bb:09').read_text()) == others


def test_clean_without_files_creates_none(provider, dirs):
    provider.clean_dhcp_opts(make_task(port(MAC1), node_uuid=NODE))
    assert contents(dirs.hosts) == {} and contents(dirs.opts) == {}


def test_dropped_ports_get_ignore_entries(provider, dirs):
    provider.update_dhcp_opts(
        make_task(port(MAC1), port(MAC2), node_uuid=NODE), PXE)
    provider.update_dhcp_opts(
        make_task(port(MAC1), port(MAC2, pxe_enabled=False),
                  node_uuid=NODE), PXE)
    assert host_file(dirs, NODE, MAC2).read_text() == MAC2 + ',ignore\n'
    provider.update_dhcp_opts(make_task(node_uuid=NODE), PXE)
    assert host_file(dirs, NODE, MAC1).read_text() == MAC1 + ',ignore\n'
    # and back: an ignore entry is no dead end
    provider.update_dhcp_opts(make_task(port(MAC1), node_uuid=NODE), PXE)
    assert host_file(dirs, NODE, MAC1).read_text() == \
        '%s,set:%s\n' % (MAC1, tag_of(dirs))


def test_mac_moving_to_another_node_keeps_one_file(provider, dirs):
    for _ in range(3):
        for node in (NODE, OTHER):
            task = make_task(port(MAC1), node_uuid=node)
            provider.update_dhcp_opts(task, PXE)
            provider.clean_dhcp_opts(task)
    provider.update_dhcp_opts(make_task(port(MAC1), node_uuid=NODE), PXE)
    assert contents(dirs.hosts) == {
        NODE + '-52-54-00-aa-bb-01': '%s,set:%s\n' % (MAC1, tag_of(dirs))}
    # Cleaning the former owner leaves the MAC's new owner alone.
    provider.clean_dhcp_opts(make_task(node_uuid=OTHER))
    assert list(contents(dirs.hosts).values()) == [
        '%s,set:%s\n' % (MAC1, tag_of(dirs))]


def test_foreign_files_left_alone(provider, dirs):
    (dirs.hosts / 'operator-static').write_text(MAC1 + ',set:mine\n')
    (dirs.hosts / ('%s-not-a-mac-address' % NODE)).write_text('x\n')
    provider.update_dhcp_opts(make_task(port(MAC2), node_uuid=NODE), PXE)
    provider.clean_dhcp_opts(make_task(node_uuid=NODE))
    files = contents(dirs.hosts)
    assert files['operator-static'] == MAC1 + ',set:mine\n'
    assert files['%s-not-a-mac-address' % NODE] == 'x\n'


def test_failed_write_keeps_old_file_and_leaves_no_temp(provider, dirs,
                                                        monkeypatch):
    task = make_task(port(MAC1), node_uuid=NODE)
    provider.update_dhcp_opts(task, PXE)
    before = contents(dirs.opts), contents(dirs.hosts)

    def broken_fsync(fd):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(os, 'fsync', broken_fsync)
    with pytest.raises(exception.DriverOperationError, match='No space'):
        provider.update_dhcp_opts(task, IPXE_OPTIONS)
    assert (contents(dirs.opts), contents(dirs.hosts)) == before


def test_missing_directory(provider, dirs, dhcp_opts):
    dhcp_opts.set_override('dhcp_optsdir', str(dirs.opts / 'nope'),
                           'dnsmasq')
    with pytest.raises(exception.DriverOperationError, match='nope'):
        provider.update_dhcp_opts(make_task(port(MAC1)), PXE)
    assert contents(dirs.hosts) == {}


@pytest.mark.parametrize('task', [
    make_task(port('52:54:00:aa:bb'), node_uuid=NODE),
    make_task(port('52-54-00-aa-bb-01'), node_uuid=NODE),
    make_task(port('52:54:00:aa:bb:01\n'), node_uuid=NODE),
    make_task(port(None), node_uuid=NODE),
    make_task(port(MAC1), node_uuid='../../etc/passwd'),
    make_task(port(MAC1), node_uuid='{%s}' % NODE),
])
def test_bad_identifiers_refused(provider, dirs, task):
    with pytest.raises(exception.InvalidParameterValue):
        provider.update_dhcp_opts(task, PXE)
    assert contents(dirs.hosts) == {} and contents(dirs.opts) == {}


def test_invalid_options_write_nothing(provider, dirs):
    with pytest.raises(exception.InvalidParameterValue):
        provider.update_dhcp_opts(
            make_task(port(MAC1)),
            [{'opt_name': 'bootfile-name', 'opt_value': 'a\nb'}])
    assert contents(dirs.hosts) == {} and contents(dirs.opts) == {}


def test_upper_case_node_uuid_normalised(provider, dirs):
    provider.update_dhcp_opts(
        make_task(port(MAC1), node_uuid=NODE.upper()), PXE)
    assert sorted(contents(dirs.opts)) == [NODE]
