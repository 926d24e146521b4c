"""The agent's settings: the kernel command line first, flags on top.

The kernel command line is how the server talks to a ramdisk it has never
met: the boot config it renders carries the API URL, the PXE MAC and the
operator's scripts.  Flags exist so a developer can run the same agent by
hand (or in tests) against a fixture tree without forging /proc/cmdline.
"""

import dataclasses
import os
import re
import shlex
import urllib.parse

DEFAULT_API_PORT = 6385
DEFAULT_LOOKUP_TIMEOUT = 300.0
DEFAULT_SCRIPT_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 10.0

_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('0', 'false', 'no', 'off')
_HEX_PAIR = re.compile(r'^[0-9a-fA-F]{2}$')


class SettingsError(ValueError):
    """The settings cannot work; the message tells the operator what to
    put on the kernel command line (or which flag to pass)."""


@dataclasses.dataclass
class Settings:
    """Everything the agent needs to know before it reaches the API."""

    api_url: str
    node_uuid: str | None = None
    root: str = '/'
    bootif: str | None = None
    developer: bool = False
    pre_url: str | None = None
    pre_checksum: str | None = None
    post_url: str | None = None
    post_checksum: str | None = None
    inspection_callback_url: str | None = None
    inspect: bool = False
    discover: bool = False
    insecure: bool = False
    lookup_timeout: float = DEFAULT_LOOKUP_TIMEOUT
    script_timeout: float = DEFAULT_SCRIPT_TIMEOUT
    poll_interval: float = DEFAULT_POLL_INTERVAL
    log_level: str = 'INFO'

    @property
    def continue_inspection_url(self):
        """Ironic's inspection boots name the full callback URL; without
        one the API's own endpoint is the callback."""
        return (self.inspection_callback_url
                or self.api_url + '/v1/continue_inspection')


def parse_cmdline(text):
    """``key=value`` words of a kernel command line as a dict.

    Quotes are honoured the way the kernel does (a quoted value may hold
    spaces); a bare word maps to None so ``DEVELOPER`` alone can mean on.
    The last occurrence of a key wins, as with most kernel parameters.
    """
    try:
        words = shlex.split(text)
    except ValueError:
        # An unbalanced quote must not keep the machine from provisioning.
        words = text.split()
    params = {}
    for word in words:
        key, sep, value = word.partition('=')
        params[key] = value if sep else None
    return params


def normalise_mac(value):
    """A MAC in lower-case colon form.

    pxelinux passes ``BOOTIF=01-aa-bb-cc-dd-ee-ff`` (01 is the ARP hardware
    type of Ethernet); iPXE and GRUB configs usually pass the plain
    ``aa:bb:..`` form.  Both name the same interface.
    """
    groups = re.split(r'[-:]', value.strip())
    if len(groups) == 7 and groups[0] == '01':
        groups = groups[1:]
    if len(groups) != 6 or not all(_HEX_PAIR.match(g) for g in groups):
        raise SettingsError('BOOTIF=%r is not a MAC address (expected '
                            '01-aa-bb-cc-dd-ee-ff or aa:bb:cc:dd:ee:ff)'
                            % value)
    return ':'.join(g.lower() for g in groups)


def parse_bool(value, name):
    """Kernel flags come as ``X=1``, ``X=true`` or a bare ``X``."""
    if value is None or value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE or value.strip() == '':
        return False
    raise SettingsError('%s=%r is neither true nor false (use 1 or 0)'
                        % (name, value))


def normalise_api_url(value):
    """An API base URL without a trailing slash.

    SERVER_ADDR in this project holds the API URL, but older boot configs
    pass a bare ``host[:port]``; that means plain HTTP on the API's port.
    """
    value = value.strip().rstrip('/')
    if not value:
        return None
    if '://' not in value:
        value = 'http://' + value
        parts = urllib.parse.urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            raise SettingsError('%r is not a valid API address' % value)
        if port is None:
            value = 'http://%s:%d%s' % (parts.netloc, DEFAULT_API_PORT,
                                        parts.path)
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise SettingsError('%r is not an http(s) API URL' % value)
    return value


def read_cmdline(path=None, root='/'):
    """The kernel command line to use: an explicit file, else the
    (fixture) root's /proc/cmdline.  A missing file reads as empty so
    flags alone can drive a developer run."""
    path = path or os.path.join(root, 'proc/cmdline')
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def _from_cmdline(params):
    """Settings fields named by kernel parameters (values untouched
    except where a normal form is needed to compare them later)."""
    values = {}
    api = params.get('ipa-api-url') or params.get('SERVER_ADDR')
    if api:
        values['api_url'] = api
    simple = {'bootflow_node': 'node_uuid', 'PRE': 'pre_url',
              'PRE_CHECKSUM': 'pre_checksum', 'POST': 'post_url',
              'POST_CHECKSUM': 'post_checksum',
              'ipa-inspection-callback-url': 'inspection_callback_url'}
    for key, field in simple.items():
        if params.get(key):
            values[field] = params[key]
    if params.get('BOOTIF'):
        values['bootif'] = params['BOOTIF']
    if 'DEVELOPER' in params:
        values['developer'] = parse_bool(params['DEVELOPER'], 'DEVELOPER')
    if 'ipa-insecure' in params:
        values['insecure'] = parse_bool(params['ipa-insecure'],
                                        'ipa-insecure')
    return values


_FLAG_FIELDS = ('api_url', 'node_uuid', 'bootif', 'developer', 'pre_url',
                'pre_checksum', 'post_url', 'post_checksum', 'inspect',
                'discover', 'insecure', 'lookup_timeout', 'script_timeout',
                'poll_interval', 'log_level')


def load(args):
    """Settings from parsed flags (an argparse namespace whose unset
    options are None) over the kernel command line.

    :raises SettingsError: when the agent could not possibly work.
    """
    root = getattr(args, 'root', None) or '/'
    cmdline = read_cmdline(getattr(args, 'cmdline_file', None), root)
    values = _from_cmdline(parse_cmdline(cmdline))
    for field in _FLAG_FIELDS:
        flag = getattr(args, field, None)
        if flag is not None:
            values[field] = flag
    api_url = normalise_api_url(values.pop('api_url', '') or '')
    if not api_url:
        raise SettingsError(
            'No API URL: put ipa-api-url=<url> (or SERVER_ADDR=<url>) on '
            'the kernel command line or pass --api-url')
    if values.get('bootif'):
        values['bootif'] = normalise_mac(values['bootif'])
    if values.get('inspection_callback_url'):
        values['inspect'] = values.get('inspect', True)
    for field in ('lookup_timeout', 'script_timeout', 'poll_interval'):
        if field in values and float(values[field]) < 0:
            raise SettingsError('%s must not be negative' % field)
    return Settings(api_url=api_url, root=root, **values)
