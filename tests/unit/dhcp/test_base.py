"""The provider interface: option validation and stevedore loading."""

import pytest

from bootflow.common import exception
from bootflow.dhcp import base
from bootflow.dhcp import dnsmasq
from bootflow.dhcp import none

IPXE_OPTIONS = [
    {'opt_name': 'tag:!ipxe,bootfile-name', 'opt_value': 'undionly.kpxe'},
    {'opt_name': 'tag:ipxe,bootfile-name',
     'opt_value': 'http://192.0.2.1:8088/boot.ipxe'},
    {'opt_name': 'tftp-server', 'opt_value': '192.0.2.1'},
    {'opt_name': 'server-ip-address', 'opt_value': '192.0.2.1',
     'ip_version': 4},
]


def opt(name, value, **extra):
    return dict(opt_name=name, opt_value=value, **extra)


def test_validate_ipxe_options():
    assert base.validate_options(IPXE_OPTIONS) == [
        base.Option('tag:!ipxe,', 'bootfile-name', 'undionly.kpxe'),
        base.Option('tag:ipxe,', 'bootfile-name',
                    'http://192.0.2.1:8088/boot.ipxe'),
        base.Option('', 'tftp-server', '192.0.2.1'),
        base.Option('', 'server-ip-address', '192.0.2.1'),
    ]


@pytest.mark.parametrize('value', [
    'http://192.0.2.1:8088/boot.ipxe?mac=52-54-00-aa-bb-01&x=%20',
    'EFI/BOOT/grubx64.efi', "it's~fine", 'tftp.example.com', 'a' * 255,
])
def test_validate_accepts(value):
    assert base.validate_options([opt('bootfile-name', value)])[0].value \
        == value


@pytest.mark.parametrize('value, why', [
    ('undionly.kpxe\n', 'newline (at the end, too)'),
    ('a\nb', 'newline'),
    ('a\rb', 'carriage return'),
    ('a\x00b', 'NUL'),
    ('a\tb', 'tab'),
    ('a b', 'space'),
    ('a,b', 'comma: a second value for dnsmasq'),
    ('"a"', 'quotes'),
    ('a\\b', 'backslash'),
    ('a#b', 'comment'),
    ('bo\u00eete', 'non-ASCII'),
    ('', 'empty'),
    ('a' * 256, 'too long'),
    (None, 'not a string'),
    (67, 'not a string'),
])
def test_validate_refuses_values(value, why):
    with pytest.raises(exception.InvalidParameterValue):
        base.validate_options([opt('bootfile-name', value)])


@pytest.mark.parametrize('options', [
    [opt('router', '192.0.2.1')],
    [opt('67', 'pxelinux.0')],
    [opt('option:bootfile-name', 'pxelinux.0')],
    [opt('tag:foo,bootfile-name', 'pxelinux.0')],
    [opt('tag:ipxe,tag:!ipxe,bootfile-name', 'pxelinux.0')],
    [opt('bootfile-name\n', 'pxelinux.0')],
    [opt(None, 'pxelinux.0')],
    [opt('bootfile-name', 'pxelinux.0', ip_version=6)],
    [opt('server-ip-address', 'boot.example.com')],
    [opt('server-ip-address', '2001:db8::1')],
    [opt('tftp-server', 'a'), opt('tftp-server', 'b')],
    [{'opt_name': 'bootfile-name'}],
    ['bootfile-name=pxelinux.0'],
    {'opt_name': 'bootfile-name', 'opt_value': 'pxelinux.0'},
    None,
])
def test_validate_refuses_options(options):
    with pytest.raises(exception.InvalidParameterValue) as info:
        base.validate_options(options)
    assert str(info.value)


def test_refusal_message_names_the_option():
    with pytest.raises(exception.InvalidParameterValue,
                       match='tag:ipxe,bootfile-name'):
        base.validate_options([opt('tag:ipxe,bootfile-name', 'a,b')])


def test_base_is_abstract():
    with pytest.raises(TypeError):
        base.BaseDHCP()


@pytest.mark.parametrize('name, cls, ipxe', [
    ('dnsmasq', dnsmasq.DnsmasqDHCP, True),
    ('none', none.NoneDHCP, False),
])
def test_get_provider_from_config(dhcp_opts, name, cls, ipxe):
    dhcp_opts.set_override('dhcp_provider', name, 'dhcp')
    provider = base.get_provider()
    assert type(provider) is cls
    assert provider.supports_ipxe_tag() is ipxe
    # Loaded once per name.
    assert base.get_provider() is provider
    assert base.get_provider(name) is provider


def test_default_provider_is_none():
    assert type(base.get_provider()) is none.NoneDHCP


def test_providers_cached_per_name():
    assert base.get_provider('dnsmasq') is not base.get_provider('none')
    assert base.get_provider('dnsmasq') is base.get_provider('dnsmasq')


def test_unknown_provider():
    with pytest.raises(exception.DriverOperationError, match='neutron'):
        base.get_provider('neutron')


def test_provider_choices_enforced(dhcp_opts):
    with pytest.raises(ValueError):
        dhcp_opts.set_override('dhcp_provider', 'neutron', 'dhcp')
