"""Reaching a Redfish BMC: driver_info, cached connections, errors, waits.

Every Redfish interface goes through this module so that the rules that
keep a conductor healthy when BMCs misbehave live in one place:

* a request never waits longer than ``[redfish]connect_timeout`` for a
  connection and ``[redfish]read_timeout`` for an answer, and connection
  failures are retried ``[redfish]connection_attempts`` times in total —
  sushy's own hidden retry loop is switched off, so the budget is ours;
* authenticated connections (and their Redfish sessions) are cached per
  BMC address and credentials, so the nodes behind one BMC share one
  session and a cached node's power state costs one GET;
* sushy's and requests' exceptions become one DriverOperationError that
  says what failed in words an operator can act on, never with the
  password in it.
"""

import collections
import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from urllib import parse

from oslo_log import log
from oslo_utils import strutils
import requests
import sushy
from sushy import connector as sushy_connector
from sushy import auth as sushy_auth
from sushy import exceptions as sushy_exc

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.drivers import base

LOG = log.getLogger(__name__)

REQUIRED_PROPERTIES = {
    'redfish_address': 'URL of the Redfish service of the BMC, '
                       'http(s)://host[:port]; https is assumed when no '
                       'scheme is given. Required.',
}
OPTIONAL_PROPERTIES = {
    'redfish_system_id': 'Path of the node\'s ComputerSystem resource, '
                         'e.g. /redfish/v1/Systems/1 (a bare id is put '
                         'under /redfish/v1/Systems/). Optional when the '
                         'BMC manages exactly one system.',
    'redfish_username': 'User name on the BMC. Optional.',
    'redfish_password': 'Password on the BMC. Optional.',
    'redfish_verify_ca': 'Whether to verify the BMC\'s TLS certificate '
                         '(true/false), or the path of a CA bundle file '
                         'or directory to verify it with. Default: true.',
    'redfish_auth_type': 'Redfish authentication: basic, session or auto '
                         '(session, falling back to basic). Default: '
                         '[redfish]auth_type.',
}
COMMON_PROPERTIES = {**REQUIRED_PROPERTIES, **OPTIONAL_PROPERTIES}

AUTH_TYPES = ('basic', 'session', 'auto')
SYSTEMS_PREFIX = '/redfish/v1/Systems/'
# Paths an operator may paste after the host; all mean the service root.
_ROOT_PATHS = ('', '/', '/redfish/v1', '/redfish/v1/')
_ERRNO_RE = re.compile(r'\[Errno -?\d+\] ([^\'")\]]+)')


def _address(raw, invalid):
    """Normalise ``raw`` to ``scheme://host[:port]`` or report why not."""
    if not isinstance(raw, str) or any(c.isspace() for c in raw):
        invalid.append('redfish_address must be a URL without spaces')
        return None
    text = raw if '://' in raw else 'https://' + raw
    url = parse.urlsplit(text)
    if url.username is not None or url.password is not None:
        # Not echoed: it may carry a password.
        invalid.append('redfish_address must not contain credentials; '
                       'use redfish_username and redfish_password')
        return None
    try:
        port = url.port
    except ValueError:
        port = -1
    if (url.scheme.lower() not in ('http', 'https') or not url.hostname
            or port == -1 or url.path not in _ROOT_PATHS
            or url.query or url.fragment):
        invalid.append('redfish_address %r is not a valid Redfish URL '
                       '(http(s)://host[:port])' % raw)
        return None
    host = url.hostname.lower()
    if ':' in host:
        host = '[%s]' % host
    netloc = host if port is None else '%s:%d' % (host, port)
    return '%s://%s' % (url.scheme.lower(), netloc)


def _system_id(raw, invalid):
    if raw is None or raw == '':
        return None
    if not isinstance(raw, str) or any(c.isspace() for c in raw):
        invalid.append('redfish_system_id %r is not a resource path'
                       % (raw,))
        return None
    path = raw if raw.startswith('/') else SYSTEMS_PREFIX + raw
    return path.rstrip('/') or None


def _verify_ca(raw, invalid):
    if raw is None or raw == '':
        return True
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        try:
            return strutils.bool_from_string(raw, strict=True)
        except ValueError:
            if os.path.exists(raw):
                return raw
    invalid.append('redfish_verify_ca %r is neither a boolean nor an '
                   'existing CA file or directory' % (raw,))
    return None


def parse_driver_info(node):
    """The node's Redfish settings, checked and normalised.

    Every missing and every invalid field is reported in one error, so an
    operator fixes a node in one round trip.
    """
    info = node.driver_info or {}
    missing = [k for k in sorted(REQUIRED_PROPERTIES) if not info.get(k)]
    invalid = []
    address = None
    if 'redfish_address' not in missing:
        address = _address(info['redfish_address'], invalid)
    result = {
        'address': address,
        'system_id': _system_id(info.get('redfish_system_id'), invalid),
        'username': info.get('redfish_username') or None,
        'password': info.get('redfish_password') or None,
        'verify_ca': _verify_ca(info.get('redfish_verify_ca'), invalid),
        'auth_type': (info.get('redfish_auth_type') or
                      CONF.redfish.auth_type),
    }
    if result['username'] is not None and not isinstance(
            result['username'], str):
        invalid.append('redfish_username must be a string')
    if result['password'] is not None and not isinstance(
            result['password'], str):
        invalid.append('redfish_password must be a string')
    if result['auth_type'] not in AUTH_TYPES:
        invalid.append('redfish_auth_type %r is not one of %s'
                       % (result['auth_type'], ', '.join(AUTH_TYPES)))
    if missing:
        msg = ('Missing the following Redfish properties in node %s '
               'driver_info: %s' % (node.uuid, ', '.join(missing)))
        if invalid:
            msg += '. Also invalid: %s' % '; '.join(invalid)
        raise exception.MissingParameterValue(err=msg)
    if invalid:
        raise exception.InvalidParameterValue(
            err='Invalid Redfish properties in node %s driver_info: %s'
                % (node.uuid, '; '.join(invalid)))
    return result


def bmc_key(node):
    """``redfish:<address>``: operations sharing it hit the same BMC."""
    try:
        return 'redfish:%s' % parse_driver_info(node)['address']
    except exception.InvalidParameterValue:
        info = node.driver_info or {}
        return 'redfish:%s' % (info.get('redfish_address') or node.uuid)


# --- connections -----------------------------------------------------------


class _NoAuth(sushy_auth.AuthBase):
    """For BMCs without credentials: sushy's auth classes would send
    ``None:None`` as basic credentials."""

    def _do_authenticate(self):
        pass

    def can_refresh_session(self):
        return False


class _Entry:
    """A cached connection and what was learnt through it."""

    def __init__(self, conn):
        self.conn = conn
        # The only system's path, for nodes without redfish_system_id:
        # found once, so later reads of the system are a single GET.
        self.default_system = None


_CACHE = collections.OrderedDict()
_CACHE_LOCK = threading.Lock()
# One lock per key while a connection is being made, so a power sync of
# 1000 nodes behind one BMC opens one session, not 1000.
_MAKING = {}
# key -> (when, exception) of the last failed connection attempt.
_FAILED = {}


def _cache_key(info):
    digest = hashlib.sha256(
        (info['password'] or '').encode('utf-8')).hexdigest()
    return (info['address'], info['username'], digest,
            str(info['verify_ca']), info['auth_type'])


def _auth(info):
    username, password = info['username'], info['password']
    if username is None and password is None:
        return _NoAuth()
    cls = {'basic': sushy_auth.BasicAuth,
           'session': sushy_auth.SessionAuth,
           'auto': sushy_auth.SessionOrBasicAuth}[info['auth_type']]
    return cls(username=username, password=password)


def _is_read_timeout(exc):
    """Whether a sushy ConnectionError was the BMC accepting the
    connection but not answering: retrying that costs a whole read
    timeout each time and rarely helps."""
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, requests.exceptions.ReadTimeout)


def retry(func, what='request'):
    """Call ``func``, retrying connection failures (not HTTP errors, not
    read timeouts) up to ``[redfish]connection_attempts`` in total — once
    only under a power sync's read budget, which retries next sweep."""
    attempts = (1 if base.read_budget.get() is not None
                else CONF.redfish.connection_attempts)
    for attempt in range(1, attempts + 1):
        try:
            return func()
        except sushy_exc.ConnectionError as exc:
            if attempt >= attempts or _is_read_timeout(exc):
                raise
            LOG.warning('Redfish %(what)s: could not connect (attempt '
                        '%(n)d of %(total)d), retrying in %(delay)ss: '
                        '%(reason)s',
                        {'what': what, 'n': attempt, 'total': attempts,
                         'delay': CONF.redfish.connection_retry_interval,
                         'reason': _connection_reason(exc)})
            time.sleep(CONF.redfish.connection_retry_interval)


class _Connector(sushy_connector.Connector):
    """Honours a power sync's read budget: every request made under it
    (connecting included) is bounded by the budget, whatever the
    configured timeouts are."""

    def _op(self, method, path='', data=None, headers=None, blocking=False,
            timeout=None, server_side_retries_left=None, **kwargs):
        budget = base.read_budget.get()
        if budget is not None:
            timeout = (min(self._connect_timeout or budget, budget),
                       min(timeout or self._default_request_timeout,
                           budget))
            server_side_retries_left = 0
        return super()._op(method, path=path, data=data, headers=headers,
                           blocking=blocking, timeout=timeout,
                           server_side_retries_left=server_side_retries_left,
                           **kwargs)


def _verify(verify_ca):
    """What requests would take from the environment for ``True``,
    read once here: the sessions below do not read the environment."""
    if verify_ca is True:
        return (os.environ.get('REQUESTS_CA_BUNDLE')
                or os.environ.get('CURL_CA_BUNDLE') or True)
    return verify_ca


def _connect(info):
    _SECRET_FILTER.add(info['password'])
    connector = _Connector(
        info['address'], verify=_verify(info['verify_ca']),
        connect_timeout=CONF.redfish.connect_timeout,
        default_request_timeout=CONF.redfish.read_timeout,
        # 1, not 0: sushy reads 0 as "its default", which hides three
        # connection attempts with 2 s pauses inside every request.
        server_side_retries=1,
        server_side_retries_delay=CONF.redfish.connection_retry_interval)
    # requests otherwise re-reads the proxy variables of the environment
    # on every request, an eighth of a power sync's CPU time: read them
    # once per connection.
    session = getattr(connector, '_session', None)
    if isinstance(session, requests.Session):
        session.trust_env = False
        session.proxies.update(requests.utils.get_environ_proxies(
            info['address']))
    return sushy.Sushy(info['address'], auth=_auth(info),
                       connector=connector)


def _entry(info):
    key = _cache_key(info)
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is not None:
            _CACHE.move_to_end(key)
            return entry
        making = _MAKING.setdefault(key, threading.Lock())
    waiting_since = time.monotonic()
    with making:
        with _CACHE_LOCK:
            entry = _CACHE.get(key)
            failed = _FAILED.get(key)
        if entry is not None:
            return entry
        if failed is not None and failed[0] >= waiting_since:
            # The BMC failed while we queued: fail now rather than each
            # queued caller spending the whole retry budget again.
            raise failed[1]
        try:
            entry = _Entry(retry(lambda: _connect(info), 'connection to %s'
                                 % info['address']))
        except Exception as exc:
            with _CACHE_LOCK:
                _FAILED[key] = (time.monotonic(), exc)
            raise
        with _CACHE_LOCK:
            _FAILED.pop(key, None)
        _store(key, entry)
        return entry


def _store(key, entry):
    with _CACHE_LOCK:
        _CACHE[key] = entry
        _CACHE.move_to_end(key)
        while len(_CACHE) > CONF.redfish.session_cache_size:
            old_key, _old = _CACHE.popitem(last=False)
            _MAKING.pop(old_key, None)
            _FAILED.pop(old_key, None)
            LOG.debug('Dropping the cached Redfish connection to %s',
                      old_key[0])


def _evict(info):
    with _CACHE_LOCK:
        _CACHE.pop(_cache_key(info), None)


def clear_cache():
    """Forget every cached connection (their sessions close as they are
    garbage collected)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _FAILED.clear()


def get_connection(node):
    """The node's BMC as a ``sushy.Sushy`` root, from the cache if it can
    be."""
    return _entry(parse_driver_info(node)).conn


class SystemNotFound(sushy_exc.SushyError):
    message = '%(what)s'


def get_system(node):
    """The node's ComputerSystem; one GET when the connection is cached."""
    info = parse_driver_info(node)
    entry = _entry(info)
    path = info['system_id'] or entry.default_system
    if path is None:
        path = _default_system(entry, info)
    try:
        return retry(lambda: entry.conn.get_system(path), 'system read')
    except sushy_exc.ResourceNotFoundError:
        entry.default_system = None
        raise SystemNotFound(what='system %s was not found on the BMC at '
                                  '%s' % (path, info['address']))


def _default_system(entry, info):
    members = retry(lambda: entry.conn.get_system_collection(),
                    'systems list').members_identities
    if len(members) != 1:
        raise SystemNotFound(
            what='the BMC at %s has %d systems (%s); set '
                 'driver_info/redfish_system_id to one of them'
                 % (info['address'], len(members),
                    ', '.join(sorted(members)) or 'none'))
    entry.default_system = members[0]
    return members[0]


def get_manager(node):
    """The first manager (BMC) of the node's system."""
    system = get_system(node)
    managers = system.managers
    if not managers:
        raise sushy_exc.MissingAttributeError(
            attribute='Links/ManagedBy', resource=system.path)
    return managers[0]


def get_update_service(node):
    conn = get_connection(node)
    return retry(conn.get_update_service, 'update service read')


# --- errors and waits ------------------------------------------------------


def _read_timeout():
    budget = base.read_budget.get()
    return (CONF.redfish.read_timeout if budget is None
            else min(budget, CONF.redfish.read_timeout))


def _connection_reason(exc):
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return 'no connection within %ss' % CONF.redfish.connect_timeout
    if isinstance(cause, requests.exceptions.ReadTimeout):
        return 'no answer within %ss' % _read_timeout()
    if isinstance(cause, requests.exceptions.SSLError):
        return 'TLS error (check redfish_verify_ca): %s' % cause
    found = _ERRNO_RE.search(str(cause or exc))
    return found.group(1).strip() if found else str(cause or exc)


def _reason(exc, info):
    address = info['address'] if info else 'unknown'
    if isinstance(exc, sushy_exc.ConnectionError) and \
            _is_read_timeout(exc):
        return ('the BMC at %s accepted the connection but did not answer '
                'within %ss' % (address, _read_timeout()))
    if isinstance(exc, (sushy_exc.ConnectionError,
                        requests.exceptions.RequestException)):
        return 'could not connect to the BMC at %s: %s' % (
            address, _connection_reason(exc))
    if isinstance(exc, sushy_exc.AccessError):
        return ('authentication failed at the BMC at %s (HTTP %s); check '
                'redfish_username and redfish_password'
                % (address, exc.status_code))
    if isinstance(exc, sushy_exc.ResourceNotFoundError):
        return 'the BMC at %s has no such resource: %s' % (address, exc)
    if isinstance(exc, sushy_exc.HTTPError):
        return 'the BMC at %s answered HTTP %s: %s' % (
            address, exc.status_code, exc.detail or exc.code)
    if isinstance(exc, sushy_exc.MissingActionError):
        return 'the BMC does not offer this action: %s' % exc
    if isinstance(exc, sushy_exc.MissingAttributeError):
        return 'the BMC does not offer this feature: %s' % exc
    return str(exc) or exc.__class__.__name__


class _SecretFilter(logging.Filter):
    """Scrubs known secrets from sushy's own log lines: at DEBUG it logs
    request bodies, and only hides keys it recognises as passwords — a
    BIOS password attribute (``SysPassword``) would go out as sent."""

    def __init__(self):
        super().__init__()
        self._secrets = set()
        self._lock = threading.Lock()

    def add(self, secret):
        if secret and isinstance(secret, str):
            with self._lock:
                self._secrets.add(secret)

    def discard(self, secret):
        with self._lock:
            self._secrets.discard(secret)

    def filter(self, record):
        if not self._secrets:
            return True
        text = record.getMessage()
        scrubbed = text
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            scrubbed = scrubbed.replace(secret, '***')
        if scrubbed != text:
            record.msg, record.args = scrubbed, None
        return True


_SECRET_FILTER = _SecretFilter()
# A logger's filters see only records logged on it, not its children's:
# the filter goes on every sushy logger (they exist once sushy is
# imported, which it is above).
for _name in ['sushy'] + [n for n in logging.Logger.manager.loggerDict
                          if n.startswith('sushy.')]:
    logging.getLogger(_name).addFilter(_SECRET_FILTER)


@contextlib.contextmanager
def secrets_hidden(values):
    """Keep ``values`` out of sushy's log lines while they are sent."""
    values = [v for v in values if v and isinstance(v, str)]
    for value in values:
        _SECRET_FILTER.add(value)
    try:
        yield
    finally:
        for value in values:
            _SECRET_FILTER.discard(value)


def scrub(text, info):
    """``text`` with the BMC password replaced, whatever put it there."""
    password = info and info.get('password')
    if password and isinstance(password, str):
        text = text.replace(password, '***')
    return text


@contextlib.contextmanager
def errors(node, operation):
    """Turn sushy's and requests' errors into a DriverOperationError
    ``Redfish <operation> failed for node <uuid>: <reason>``; our own
    exceptions pass unchanged."""
    try:
        yield
    except exception.BootflowException:
        raise
    except (sushy_exc.SushyError, requests.exceptions.RequestException) \
            as exc:
        try:
            info = parse_driver_info(node)
        except exception.InvalidParameterValue:
            info = None
        if info and isinstance(exc, sushy_exc.AccessError):
            _evict(info)
        msg = scrub('Redfish %s failed for node %s: %s'
                    % (operation, node.uuid, _reason(exc, info)), info)
        LOG.warning('%s', msg)
        raise exception.DriverOperationError(err=msg) from None


def wait_for(check, timeout, interval, what):
    """Call ``check`` until it returns something truthy and return that;
    DriverOperationError once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            raise exception.DriverOperationError(
                err='Timed out after %ss waiting for %s' % (timeout, what))
        time.sleep(min(interval, left))
