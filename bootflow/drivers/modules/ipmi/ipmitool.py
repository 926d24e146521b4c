"""Running ipmitool against a node's BMC: arguments, pacing, retries,
and errors a person can act on.

Every command is one ipmitool process and one RMCP+ session. Three
bounds keep a dead or slow BMC from holding a worker: each run is killed
after ``[ipmi] command_timeout``; failures that may pass (no answer, BMC
busy) are retried only until ``command_retry_timeout`` is spent; and
during a power sync (``base.read_budget`` set) there is one attempt
within the sync's budget. Commands to one BMC start at least
``min_command_interval`` apart, because many BMCs refuse sessions opened
in quick succession.

ipmitool always runs with ``-v``: without it every failure to open a
session reads "Unable to establish IPMI v2 / RMCP+ session", and a wrong
password could not be told from a powered-off BMC. The password is
written to a private temporary file passed with ``-f`` (never argv, which
any local user can read in /proc), and scrubbed from whatever ipmitool
prints before it is logged or put in an error.
"""

import contextlib
import os
import subprocess
import tempfile
import threading
import time

from oslo_log import log
from oslo_utils import strutils

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.drivers import base

LOG = log.getLogger(__name__)

DEFAULT_PORT = 623
PRIV_LEVELS = ('ADMINISTRATOR', 'OPERATOR', 'USER', 'CALLBACK')
PROTOCOL_VERSIONS = ('2.0', '1.5')
MAX_CIPHER_SUITE = 17

REQUIRED_PROPERTIES = {
    'ipmi_address': 'IP address or host name of the node\'s BMC. '
                    'Required.',
}
OPTIONAL_PROPERTIES = {
    'ipmi_username': 'User name on the BMC. Optional (null user when '
                     'unset).',
    'ipmi_password': 'Password of the BMC user. Optional.',
    'ipmi_port': 'UDP port of the BMC; default %d. Optional.' % DEFAULT_PORT,
    'ipmi_priv_level': 'Privilege level of the session: %s; default '
                       'ADMINISTRATOR. Optional.' % ', '.join(PRIV_LEVELS),
    'ipmi_protocol_version': 'IPMI protocol version, "2.0" (lanplus, the '
                             'default) or "1.5" (lan). Optional.',
    'ipmi_cipher_suite': 'IPMI 2.0 cipher suite, 0-%d (ipmitool -C), e.g. '
                         '17 for SHA256; default [ipmi]cipher_suite, else '
                         'the best suite the BMC offers. Optional.'
                         % MAX_CIPHER_SUITE,
    'ipmi_force_boot_device': 'True for BMCs that forget a persistent '
                              'boot device: bootflow remembers it and sets '
                              'it again before every power on. Optional, '
                              'default False.',
    'ipmi_disable_boot_timeout': 'Tell the BMC not to clear a boot device '
                                 'that was not used within 60 seconds, '
                                 'before setting one. Optional, default '
                                 'True.',
    'ipmi_terminal_port': 'TCP port for the node\'s serial console. '
                          'Optional.',
}
COMMON_PROPERTIES = {**REQUIRED_PROPERTIES, **OPTIONAL_PROPERTIES}

# What a failure means, so callers can decide (retry or not, which words).
UNREACHABLE = 'unreachable'
AUTH = 'authentication'
PRIVILEGE = 'privilege'
CIPHER = 'cipher'
BUSY = 'busy'
TIMEOUT = 'timeout'
COMMAND = 'command'
RETRYABLE = (UNREACHABLE, BUSY, TIMEOUT)

# Lines ipmitool -v prints on every run, which explain no failure.
_NOISE = ('loading iana pen registry', 'using best available cipher suite',
          'running get vso capabilities', 'discovered ipmb address',
          'invalid completion code received: invalid command',
          'get session challenge command failed')


class IPMICommandError(exception.DriverOperationError):
    """A failed ipmitool run; ``kind`` says why (one of the constants
    above), so a caller can tolerate a command the BMC lacks while still
    failing on a dead BMC."""

    def __init__(self, message, kind):
        super().__init__(err=message)
        self.kind = kind


# -- driver_info ----------------------------------------------------------

def _int(info, key, low, high, errors, default=None):
    value = info.get(key)
    if value is None or value == '':
        return default
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        number = int(str(value).strip())
    except ValueError:
        errors.append('%s must be an integer, not %r' % (key, value))
        return default
    if not low <= number <= high:
        errors.append('%s must be between %d and %d, not %d'
                      % (key, low, high, number))
    return number


def _bool(info, key, default, errors):
    value = info.get(key)
    if value is None or value == '':
        return default
    try:
        return strutils.bool_from_string(value, strict=True)
    except ValueError:
        errors.append('%s must be a boolean, not %r' % (key, value))
        return default


def _cipher_suite(info, protocol, errors):
    if info.get('ipmi_cipher_suite') not in (None, ''):
        suite = _int(info, 'ipmi_cipher_suite', 0, MAX_CIPHER_SUITE, errors)
        if protocol == '1.5':
            errors.append('ipmi_cipher_suite needs ipmi_protocol_version '
                          '2.0; IPMI 1.5 has no cipher suites')
        return suite
    if CONF.ipmi.cipher_suite in (None, '') or protocol == '1.5':
        return None
    conf_errors = []
    suite = _int({'[ipmi]cipher_suite': CONF.ipmi.cipher_suite},
                 '[ipmi]cipher_suite', 0, MAX_CIPHER_SUITE, conf_errors)
    if conf_errors:
        errors.extend(e + ' (service configuration)' for e in conf_errors)
    return suite


def _address(info, missing, errors):
    address = info.get('ipmi_address')
    if address is None or not str(address).strip():
        missing.append('ipmi_address')
        return None
    address = str(address).strip()
    if any(c.isspace() for c in address) or address.startswith('-'):
        errors.append('ipmi_address must be an IP address or host name, '
                      'not %r' % address)
    return address


def parse_driver_info(node):
    """The node's IPMI settings, checked; every problem in one error.

    Raises MissingParameterValue when ipmi_address is missing (listing
    any invalid field too), InvalidParameterValue for invalid fields.
    The password is never quoted.
    """
    info = node.driver_info or {}
    missing, errors = [], []
    address = _address(info, missing, errors)
    priv = str(info.get('ipmi_priv_level') or 'ADMINISTRATOR').upper()
    if priv not in PRIV_LEVELS:
        errors.append('ipmi_priv_level must be one of %s, not %r'
                      % (', '.join(PRIV_LEVELS), info['ipmi_priv_level']))
    protocol = str(info.get('ipmi_protocol_version') or '2.0').strip()
    if protocol not in PROTOCOL_VERSIONS:
        errors.append('ipmi_protocol_version must be "2.0" or "1.5", not '
                      '%r' % info['ipmi_protocol_version'])
    password = info.get('ipmi_password')
    username = info.get('ipmi_username')
    result = {
        'address': address,
        'port': _int(info, 'ipmi_port', 1, 65535, errors, DEFAULT_PORT),
        'username': None if username in (None, '') else str(username),
        'password': None if password in (None, '') else str(password),
        'priv_level': priv,
        'protocol_version': protocol,
        'cipher_suite': _cipher_suite(info, protocol, errors),
        'terminal_port': _int(info, 'ipmi_terminal_port', 1, 65535, errors),
        'force_boot_device': _bool(info, 'ipmi_force_boot_device', False,
                                   errors),
        'disable_boot_timeout': _bool(info, 'ipmi_disable_boot_timeout',
                                      True, errors),
    }
    invalid = ('Invalid IPMI properties in node %s driver_info: %s.'
               % (node.uuid, '; '.join(errors))) if errors else ''
    if missing:
        raise exception.MissingParameterValue(
            err=('Missing the following IPMI properties in node %s '
                 'driver_info: %s.' % (node.uuid, ', '.join(missing))
                 + (' ' + invalid if invalid else '')))
    if errors:
        raise exception.InvalidParameterValue(err=invalid)
    return result


def bmc_key(node):
    """'ipmi:<address>:<port>': the unit commands are paced and power
    syncs are limited by. Lenient, so an invalid driver_info fails in
    the read that follows, with the real reason, not here."""
    info = node.driver_info or {}
    return 'ipmi:%s:%s' % (info.get('ipmi_address'),
                           info.get('ipmi_port') or DEFAULT_PORT)


# -- command line ---------------------------------------------------------

def build_argv(info, password_file, timeout):
    """ipmitool's arguments before the command. ``-R 1``: ipmitool does
    not retransmit on its own (our loop retries, within its budget);
    ``-N``: seconds per request, so that a silent BMC (ipmitool sends two
    requests before it gives up) fails inside the process timeout."""
    lanplus = info['protocol_version'] == '2.0'
    argv = [CONF.ipmi.ipmitool_path, '-I', 'lanplus' if lanplus else 'lan',
            '-H', info['address'], '-p', str(info['port'])]
    if info['username']:
        argv += ['-U', info['username']]
    argv += ['-L', info['priv_level']]
    if lanplus and info['cipher_suite'] is not None:
        argv += ['-C', str(info['cipher_suite'])]
    argv += ['-f', password_file, '-R', '1',
             '-N', str(max(1, int(timeout // 3))), '-v']
    return argv


@contextlib.contextmanager
def _password_file(password):
    """A 0600 file only this process can read, removed afterwards.
    ipmitool refuses an empty file, and a NUL byte reads as the empty
    password."""
    fd, path = tempfile.mkstemp(prefix='bootflow-ipmi-')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(password or '\0')
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _scrub(text, password):
    if password and text:
        text = text.replace(password, '***')
    return text


def _execute(argv, timeout):
    """(returncode or None when killed, stdout, stderr)."""
    try:
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            errors='replace', timeout=timeout,
            env=dict(os.environ, LC_ALL='C'))
    except subprocess.TimeoutExpired as e:
        def text(value):
            if isinstance(value, bytes):
                return value.decode('utf-8', 'replace')
            return value or ''
        return None, text(e.stdout), text(e.stderr)
    except OSError as e:
        raise IPMICommandError(
            'cannot run ipmitool (%s): %s; is the ipmitool package '
            'installed?' % (argv[0], e.strerror or e), COMMAND)
    return proc.returncode, proc.stdout, proc.stderr


# -- pacing ---------------------------------------------------------------

class _Pacer:
    """When each BMC may be sent its next command.

    A caller reserves a start time at least the interval after the last
    start or end, then sleeps until it; execution itself is not
    serialised, so one slow command does not make every other command to
    that BMC wait for its end."""

    def __init__(self):
        self._lock = threading.Lock()
        self._free_at = {}

    def reserve(self, key, interval, deadline):
        """Seconds to wait before starting, or None if the slot would be
        after ``deadline`` (nothing is then reserved)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._free_at.get(key, 0.0))
            if start > deadline:
                return None
            self._free_at[key] = start + interval
            if len(self._free_at) > 10000:
                self._free_at = {k: v for k, v in self._free_at.items()
                                 if v > now}
            return start - now

    def done(self, key, interval):
        with self._lock:
            self._free_at[key] = max(self._free_at.get(key, 0.0),
                                     time.monotonic() + interval)


_PACER = _Pacer()


# -- failures -------------------------------------------------------------

def _detail(stderr, limit=4):
    lines = []
    for line in (stderr or '').splitlines():
        line = line.strip().lstrip('>').strip()
        if line and not line.lower().startswith(_NOISE):
            if line not in lines:
                lines.append(line)
    return '; '.join(lines if limit is None else lines[-limit:])


def classify(info, returncode, stderr, timeout):
    """(kind, reason) of a failed run, from ipmitool's messages (the
    lines -v prints on every run left out)."""
    text = _detail(stderr, limit=None).lower()
    where = '%s:%s' % (info['address'], info['port'])
    if returncode is None:
        return TIMEOUT, ('ipmitool did not finish within %.1fs talking to '
                         'the BMC at %s' % (timeout, where))
    if 'is not what we requested' in text or (
            'cipher suite' in text and ('unsupported' in text
                                        or 'not supported' in text
                                        or 'no matching' in text)):
        suite = info['cipher_suite']
        return CIPHER, ('the BMC at %s does not support cipher suite %s '
                        '(driver_info/ipmi_cipher_suite)'
                        % (where, 'chosen' if suite is None else suite))
    if 'unauthorized name' in text:
        return AUTH, ('authentication failed: the BMC at %s does not know '
                      'user %r' % (where, info['username'] or ''))
    if ('hmac is invalid' in text or 'invalid integrity check' in text
            or 'rakp 2 message indicates an error' in text
            or 'rakp 4 message indicates an error' in text):
        return AUTH, ('authentication failed: the BMC at %s rejected the '
                      'password of user %r'
                      % (where, info['username'] or ''))
    if ('get auth capabilities error' in text or 'no response from' in text
            or 'error issuing get channel authentication' in text):
        return UNREACHABLE, 'no answer from the BMC at %s' % where
    if 'set session privilege level' in text:
        return PRIVILEGE, ('the BMC at %s refused privilege level %s for '
                           'user %r' % (where, info['priv_level'],
                                        info['username'] or ''))
    if any(s in text for s in ('insufficient resources for session',
                               'node busy', 'out of space', 'timeout',
                               'bmc initialization in progress')):
        return BUSY, 'the BMC at %s is busy' % where
    if 'unable to establish' in text:
        return UNREACHABLE, ('could not open a session with the BMC at %s'
                             % where)
    return COMMAND, 'ipmitool exited with status %s' % returncode


def _fail(node, args, kind, reason, stderr, attempts, started):
    detail = _detail(stderr)
    message = 'IPMI %s failed for node %s: %s' % (
        ' '.join(args), node.uuid, reason)
    if not attempts:
        message += ' (no attempt: the BMC had no free moment)'
    elif attempts > 1 or kind in RETRYABLE:
        message += ' (%d attempt%s in %.1fs)' % (
            attempts, 's' if attempts > 1 else '',
            time.monotonic() - started)
    if detail:
        message += ': %s' % detail
    return IPMICommandError(message, kind)


# -- running --------------------------------------------------------------

def _attempt(node, info, args, password_file, timeout):
    """One ipmitool run: (returncode or None, stdout, stderr), with the
    password scrubbed from both outputs."""
    argv = build_argv(info, password_file, timeout) + list(args)
    LOG.debug('Running %s for node %s', ' '.join(argv), node.uuid)
    code, stdout, stderr = _execute(argv, timeout)
    stdout = _scrub(stdout, info['password'])
    stderr = _scrub(stderr, info['password'])
    if CONF.ipmi.debug:
        LOG.debug('ipmitool %s for node %s: status %s, stdout %r, '
                  'stderr %r', ' '.join(args), node.uuid, code, stdout,
                  stderr)
    return code, stdout, stderr


def run(node, *args, budget=None):
    """Run ``ipmitool <connection options> <args>``; its stdout.

    ``budget``: seconds for all attempts (default: a power sync's read
    budget, which also means one attempt, else
    ``[ipmi]command_retry_timeout``). Raises IPMICommandError (a
    DriverOperationError) saying why: no answer, authentication,
    privilege, cipher suite, busy, or the command itself.
    """
    info = parse_driver_info(node)
    sync_budget = base.read_budget.get()
    if budget is None:
        budget = (sync_budget if sync_budget is not None
                  else CONF.ipmi.command_retry_timeout)
    started = time.monotonic()
    deadline = started + budget
    key = bmc_key(node)
    interval = CONF.ipmi.min_command_interval
    attempts, stderr = 0, ''
    kind, reason = BUSY, 'no free moment to talk to the BMC'
    with _password_file(info['password']) as password_file:
        while True:
            wait = _PACER.reserve(key, interval, deadline)
            if wait is None:
                raise _fail(node, args, kind, reason, stderr, attempts,
                            started)
            time.sleep(wait)
            attempts += 1
            timeout = max(0.5, min(CONF.ipmi.command_timeout,
                                   deadline - time.monotonic()))
            try:
                code, stdout, stderr = _attempt(node, info, args,
                                                password_file, timeout)
            finally:
                _PACER.done(key, interval)
            if code == 0:
                return stdout
            kind, reason = classify(info, code, stderr, timeout)
            if (kind not in RETRYABLE or sync_budget is not None
                    or deadline - time.monotonic() < interval + 1.0):
                raise _fail(node, args, kind, reason, stderr, attempts,
                            started)
            LOG.warning('IPMI %s for node %s failed (%s), retrying',
                        ' '.join(args), node.uuid, reason)
