"""The DHCP provider interface the boot interfaces call, and its loader.

A boot interface knows *what* a node must be told when it asks for an
address (which boot program, from which server); a DHCP provider knows *how*
to get that to the DHCP server the node talks to. Providers are the
``bootflow.dhcp`` entry points; ``[dhcp]dhcp_provider`` picks one.
"""

import abc
import collections
import ipaddress
import threading

from stevedore import driver

from bootflow.common import exception
from bootflow.conf import CONF

NAMESPACE = 'bootflow.dhcp'

# The options a boot interface may publish, as dnsmasq names them:
# 67, 66 and the BOOTP siaddr ("next server", dnsmasq's pseudo-option 255).
OPTION_NAMES = ('bootfile-name', 'tftp-server', 'server-ip-address')
# Prefixes that restrict an option to clients that already run iPXE (they
# send option 175) or to those that do not: how iPXE is chain-loaded.
IPXE_PREFIXES = ('tag:ipxe,', 'tag:!ipxe,')
# DHCP options carry at most 255 bytes.
MAX_VALUE_LENGTH = 255
# Values are printable ASCII without whitespace and without what DHCP
# servers' configuration syntaxes give a meaning: ',' separates values,
# '"' and backslash quote, '#' starts a comment.
_FORBIDDEN = frozenset(',"\\#')

Option = collections.namedtuple('Option', 'prefix name value')

_PROVIDERS = {}
_LOCK = threading.Lock()


class BaseDHCP(abc.ABC):
    """What every DHCP provider does for the boot interfaces.

    ``task.node`` has ``uuid``; ``task.ports`` is a list of port dicts
    with ``uuid``, ``address`` (the MAC) and ``pxe_enabled``.
    """

    @abc.abstractmethod
    def update_dhcp_opts(self, task, options):
        """Publish ``options`` for every PXE-enabled port of the node.

        ``options``: dicts ``{'opt_name', 'opt_value', 'ip_version'}``
        as Ironic's boot interfaces send them (see validate_options).
        """

    @abc.abstractmethod
    def clean_dhcp_opts(self, task):
        """Withdraw all this provider published for the node, including
        what it published for ports deleted since: providers find it by
        the node's UUID, never by ``task.ports``."""

    @abc.abstractmethod
    def supports_ipxe_tag(self):
        """True when option names may carry the ``tag:ipxe,`` and
        ``tag:!ipxe,`` prefixes; boot interfaces that chain-load iPXE
        need it."""


def _invalid(fmt, *args):
    return exception.InvalidParameterValue(err=fmt % args)


def _split_name(opt_name):
    if not isinstance(opt_name, str):
        raise _invalid('DHCP option name must be a string, not %r',
                       opt_name)
    for prefix in IPXE_PREFIXES:
        if opt_name.startswith(prefix):
            return prefix, opt_name[len(prefix):]
    return '', opt_name


def _check_value(name, value):
    if not isinstance(value, str) or not value:
        raise _invalid('DHCP option %s needs a non-empty string value, not '
                       '%r', name, value)
    if len(value) > MAX_VALUE_LENGTH:
        raise _invalid('DHCP option %s is longer than %d characters: %r',
                       name, MAX_VALUE_LENGTH, value)
    if not all('!' <= c <= '~' and c not in _FORBIDDEN for c in value):
        raise _invalid('DHCP option %s value %r may only hold printable '
                       'ASCII without spaces, commas, quotes, backslashes '
                       'or "#"', name, value)
    if name == 'server-ip-address':
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise _invalid('DHCP option server-ip-address must be an IPv4 '
                           'address, not %r', value)


def _check_one(option):
    if not isinstance(option, dict) or 'opt_name' not in option or \
            'opt_value' not in option:
        raise _invalid('A DHCP option is a dict with opt_name and '
                       'opt_value, not %r', option)
    version = option.get('ip_version', 4)
    if str(version) != '4':
        raise _invalid('Only IPv4 DHCP options are supported, not '
                       'ip_version %r', version)
    prefix, name = _split_name(option['opt_name'])
    if name not in OPTION_NAMES:
        raise _invalid('Unsupported DHCP option %r; supported: %s, each '
                       'optionally prefixed by %s', option['opt_name'],
                       ', '.join(OPTION_NAMES), ' or '.join(IPXE_PREFIXES))
    _check_value(option['opt_name'], option['opt_value'])
    return Option(prefix, name, option['opt_value'])


def validate_options(options):
    """Check the boot interface's options; return them as Option tuples.

    Refuses what a provider could not pass on faithfully: unknown names,
    IPv6, values that would break a DHCP server's configuration syntax,
    and the same name twice (which one wins would be up to the server).
    """
    if not isinstance(options, (list, tuple)):
        raise _invalid('DHCP options must be a list, not %r', options)
    result = []
    seen = set()
    for option in options:
        parsed = _check_one(option)
        if (parsed.prefix, parsed.name) in seen:
            raise _invalid('DHCP option %s given twice',
                           parsed.prefix + parsed.name)
        seen.add((parsed.prefix, parsed.name))
        result.append(parsed)
    return result


def get_provider(name=None):
    """The provider named ``name`` (default ``[dhcp]dhcp_provider``).

    Loaded once per name and shared: providers keep no per-call state.
    """
    name = name or CONF.dhcp.dhcp_provider
    with _LOCK:
        provider = _PROVIDERS.get(name)
        if provider is None:
            try:
                manager = driver.DriverManager(namespace=NAMESPACE,
                                               name=name,
                                               invoke_on_load=True)
            except RuntimeError as exc:
                # stevedore's NoMatches and load failures.
                raise exception.DriverOperationError(
                    err='Cannot load DHCP provider %r from the %s entry '
                        'points: %s' % (name, NAMESPACE, exc))
            provider = _PROVIDERS[name] = manager.driver
    return provider


def reset():
    """Forget loaded providers (tests, configuration reloads)."""
    with _LOCK:
        _PROVIDERS.clear()
