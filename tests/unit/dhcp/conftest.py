"""Fixtures of the DHCP provider unit tests: the options registered and
the dnsmasq directories in a temp dir."""

import types

import pytest

from bootflow.conf import dhcp as dhcp_conf
from bootflow.dhcp import base


@pytest.fixture(autouse=True)
def dhcp_opts(conf):
    # Registering the same option objects again is a no-op, so this works
    # whether or not bootflow.conf registers them already.
    dhcp_conf.register_opts(conf)
    base.reset()
    yield conf
    base.reset()


@pytest.fixture
def dirs(tmp_path, dhcp_opts):
    hosts, opts = tmp_path / 'hostsdir.d', tmp_path / 'optsdir.d'
    hosts.mkdir()
    opts.mkdir()
    dhcp_opts.set_override('dhcp_hostsdir', str(hosts), 'dnsmasq')
    dhcp_opts.set_override('dhcp_optsdir', str(opts), 'dnsmasq')
    yield types.SimpleNamespace(hosts=hosts, opts=opts)
    dhcp_opts.clear_override('dhcp_hostsdir', 'dnsmasq')
    dhcp_opts.clear_override('dhcp_optsdir', 'dnsmasq')
