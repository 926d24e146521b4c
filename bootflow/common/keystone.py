"""keystoneauth1 sessions and adapters for the services the conductor
calls (``[glance]``, ``[neutron]``).

Everything about authentication — getting a token, renewing it before
it expires, finding the endpoint in the catalog, TLS — is keystoneauth's,
driven by the group's options (``bootflow.conf.services``); bootflow
never sees a token. One adapter per group per process: the session's
connection pool and the token are then shared by every request.

Errors come out as bootflow exceptions of ``bootflow.common.exception``
(the module oslo.messaging may carry from conductor to API), each naming
the group, so a node's last_error or an API fault tells the operator
which section to fix.
"""

import threading

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from oslo_log import log

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.conf import services

LOG = log.getLogger(__name__)

_LOCK = threading.Lock()
_ADAPTERS = {}


def is_configured(group):
    """Whether ``[group]`` names an auth plugin (directly or through
    ``auth_section``): without one the service is not to be used."""
    conf = CONF[group]
    if conf.auth_section:
        section = conf.auth_section
        ks_loading.register_auth_conf_options(CONF, section)
        return bool(CONF[section].auth_type)
    return bool(conf.auth_type)


def not_configured(group, what):
    """The error for using a service whose group has no auth plugin."""
    return exception.InvalidParameterValue(
        err='%s needs the %s service, but [%s] is not configured: set '
            '[%s]auth_type (e.g. password, with auth_url, username, '
            'password, project_name, user_domain_name, '
            'project_domain_name; or none, with endpoint_override)'
            % (what, services.SERVICE_TYPES[group], group, group))


def get_adapter(group):
    """The group's keystoneauth1 Adapter, built on first use."""
    with _LOCK:
        adapter = _ADAPTERS.get(group)
        if adapter is None:
            adapter = _ADAPTERS[group] = _load(group)
        return adapter


def reset():
    """Forget the adapters (configuration changed, in tests)."""
    with _LOCK:
        _ADAPTERS.clear()


def _load(group):
    try:
        auth = ks_loading.load_auth_from_conf_options(CONF, group)
    except ks_exc.MissingRequiredOptions as exc:
        names = ', '.join('[%s]%s' % (group, opt.dest)
                          for opt in exc.options)
        raise exception.InvalidParameterValue(
            err='[%s]auth_type %s needs %s' % (
                group, CONF[group].auth_type, names)) from exc
    except ks_exc.NoMatchingPlugin as exc:
        raise exception.InvalidParameterValue(
            err='[%s]auth_type: %s' % (group, exc)) from exc
    if auth is None:
        raise not_configured(group, 'This operation')
    session = ks_loading.load_session_from_conf_options(
        CONF, group, auth=auth, **_session_defaults(group))
    try:
        return ks_loading.load_adapter_from_conf_options(
            CONF, group, session=session, auth=auth,
            **_retry_defaults(group))
    except TypeError as exc:
        # keystoneauth's way of refusing a combination of adapter options
        raise exception.InvalidParameterValue(
            err='[%s]: %s' % (group, exc)) from exc


def _session_defaults(group):
    """bootflow's own timeout option where keystoneauth's is unset."""
    own = getattr(CONF[group], 'request_timeout', None)
    if own and CONF[group].timeout is None:
        return {'timeout': own}
    return {}


def _retry_defaults(group):
    """bootflow's retry count (Ironic's option name) where keystoneauth's
    adapter options leave the retries unset."""
    conf = CONF[group]
    count = conf.num_retries if group == 'glance' else conf.retries
    found = {}
    if conf.connect_retries is None:
        found['connect_retries'] = count
    if conf.status_code_retries is None:
        found['status_code_retries'] = count
        if conf.retriable_status_codes is None:
            found['retriable_status_codes'] = [500, 502, 503, 504]
    return found


def request(group, method, url, **kwargs):
    """``adapter.request`` that leaves HTTP errors to the caller (the
    response is returned whatever its status) but turns keystoneauth's
    own failures into bootflow exceptions naming the group."""
    adapter = get_adapter(group)
    kwargs.setdefault('raise_exc', False)
    try:
        return adapter.request(url, method, **kwargs)
    except (ks_exc.ConnectFailure, ks_exc.ConnectTimeout,
            ks_exc.RequestTimeout) as exc:
        raise exception.TemporaryFailure(
            '%s service ([%s]) unreachable: %s'
            % (services.SERVICE_TYPES[group], group, exc)) from exc
    except ks_exc.ClientException as exc:
        # Authentication refused, no endpoint in the catalog, discovery
        # failed: a configuration problem of this conductor.
        LOG.warning('Request to [%s] %s %s failed: %s', group, method, url,
                    exc)
        raise exception.DriverOperationError(
            err='%s service ([%s]): %s: %s'
                % (services.SERVICE_TYPES[group], group,
                   type(exc).__name__, exc)) from exc
