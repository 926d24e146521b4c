import logging
import socket
import threading
import time

import pytest
import requests
from sushy import auth as sushy_auth
from sushy import exceptions as sushy_exc

from bootflow.common import exception
from bootflow.drivers import base
from bootflow.drivers.modules.redfish import utils
from tests.unit.drivers import redfish as rf


@pytest.fixture
def bmc(conf):
    conf.set_override('connection_retry_interval', 0, 'redfish')
    with rf.patched_sushy() as fake:
        yield fake


# --- parse_driver_info -----------------------------------------------------


def test_parse_full(tmp_path):
    ca = tmp_path / 'ca.pem'
    ca.write_text('x')
    info = utils.parse_driver_info(rf.make_node(
        redfish_address='HTTPS://BMC.example.com:8443/',
        redfish_verify_ca=str(ca), redfish_auth_type='basic'))
    assert info == {'address': 'https://bmc.example.com:8443',
                    'system_id': rf.SYSTEM_PATH, 'username': 'admin',
                    'password': rf.PASSWORD, 'verify_ca': str(ca),
                    'auth_type': 'basic'}


@pytest.mark.parametrize('raw, address', [
    ('10.0.0.5', 'https://10.0.0.5'),
    ('bmc:8000', 'https://bmc:8000'),
    ('http://bmc/redfish/v1/', 'http://bmc'),
    ('https://[fd00::5]:443', 'https://[fd00::5]:443'),
])
def test_parse_address_normalised(raw, address):
    node = rf.make_node(redfish_address=raw)
    assert utils.parse_driver_info(node)['address'] == address


def test_parse_defaults(conf):
    conf.set_override('auth_type', 'session', 'redfish')
    info = utils.parse_driver_info(rf.make_node(
        redfish_system_id=None, redfish_username=None,
        redfish_password=None))
    assert info['system_id'] is None
    assert info['verify_ca'] is True
    assert info['auth_type'] == 'session'
    assert info['username'] is None and info['password'] is None


def test_parse_bare_system_id():
    node = rf.make_node(redfish_system_id='abc-1')
    assert (utils.parse_driver_info(node)['system_id'] ==
            '/redfish/v1/Systems/abc-1')


@pytest.mark.parametrize('raw, expected', [
    ('false', False), ('True', True), ('no', False), (False, False)])
def test_parse_verify_ca_booleans(raw, expected):
    node = rf.make_node(redfish_verify_ca=raw)
    assert utils.parse_driver_info(node)['verify_ca'] is expected


def test_parse_missing_address():
    node = rf.make_node(redfish_address=None)
    with pytest.raises(exception.MissingParameterValue) as err:
        utils.parse_driver_info(node)
    assert str(err.value) == (
        'Missing the following Redfish properties in node %s driver_info: '
        'redfish_address' % rf.NODE_UUID)


def test_parse_reports_every_invalid_field():
    node = rf.make_node(redfish_address='ftp://bmc',
                        redfish_auth_type='kerberos',
                        redfish_verify_ca='/no/such/ca.pem')
    with pytest.raises(exception.InvalidParameterValue) as err:
        utils.parse_driver_info(node)
    msg = str(err.value)
    assert not isinstance(err.value, exception.MissingParameterValue)
    assert "redfish_address 'ftp://bmc'" in msg
    assert "redfish_auth_type 'kerberos'" in msg
    assert "redfish_verify_ca '/no/such/ca.pem'" in msg


def test_parse_missing_and_invalid_in_one_error():
    node = rf.make_node(redfish_address=None, redfish_auth_type='x')
    with pytest.raises(exception.MissingParameterValue) as err:
        utils.parse_driver_info(node)
    assert 'redfish_address' in str(err.value)
    assert "redfish_auth_type 'x'" in str(err.value)


@pytest.mark.parametrize('raw', ['https://bmc:99999', 'https://',
                                 'https://bmc/other/path', 'https://b mc',
                                 'https://bmc?x=1'])
def test_parse_bad_addresses(raw):
    with pytest.raises(exception.InvalidParameterValue) as err:
        utils.parse_driver_info(rf.make_node(redfish_address=raw))
    assert 'redfish_address' in str(err.value)


def test_parse_credentials_in_url_not_echoed():
    raw = 'https://admin:%s@bmc' % rf.PASSWORD
    with pytest.raises(exception.InvalidParameterValue) as err:
        utils.parse_driver_info(rf.make_node(redfish_address=raw))
    assert 'must not contain credentials' in str(err.value)
    assert rf.PASSWORD not in str(err.value)


def test_parse_non_string_password_not_echoed():
    node = rf.make_node(redfish_password=12345678)
    with pytest.raises(exception.InvalidParameterValue) as err:
        utils.parse_driver_info(node)
    assert 'redfish_password must be a string' in str(err.value)
    assert '12345678' not in str(err.value)


def test_bmc_key():
    node = rf.make_node(redfish_address='bmc.example.com:8443')
    assert utils.bmc_key(node) == 'redfish:https://bmc.example.com:8443'


def test_bmc_key_of_invalid_node_does_not_raise():
    node = rf.make_node(redfish_address='ftp://x')
    assert utils.bmc_key(node) == 'redfish:ftp://x'


# --- connections -----------------------------------------------------------


def test_connection_uses_timeouts_and_no_hidden_retries(bmc, conf):
    conf.set_override('connect_timeout', 2.5, 'redfish')
    conf.set_override('read_timeout', 12.0, 'redfish')
    conn = utils.get_connection(rf.make_node(redfish_verify_ca='false'))
    assert conn is bmc.root
    bmc.connector.assert_called_once_with(
        rf.ADDRESS, verify=False, connect_timeout=2.5,
        default_request_timeout=12.0, server_side_retries=1,
        server_side_retries_delay=0)
    args, kwargs = bmc.root_cls.call_args
    assert args == (rf.ADDRESS,)
    assert kwargs['connector'] is bmc.connector.return_value
    assert isinstance(kwargs['auth'], sushy_auth.SessionOrBasicAuth)


@pytest.mark.parametrize('auth_type, cls', [
    ('basic', sushy_auth.BasicAuth), ('session', sushy_auth.SessionAuth)])
def test_connection_auth_type(bmc, auth_type, cls):
    utils.get_connection(rf.make_node(redfish_auth_type=auth_type))
    auth = bmc.root_cls.call_args.kwargs['auth']
    assert type(auth) is cls


def test_connection_without_credentials_sends_none(bmc):
    utils.get_connection(rf.make_node(redfish_username=None,
                                      redfish_password=None))
    auth = bmc.root_cls.call_args.kwargs['auth']
    assert not isinstance(auth, (sushy_auth.BasicAuth,
                                 sushy_auth.SessionAuth))


def test_connection_cached_per_bmc_and_credentials(bmc):
    first = rf.make_node()
    other_node_same_bmc = rf.make_node(redfish_system_id='/x/2')
    utils.get_connection(first)
    utils.get_connection(other_node_same_bmc)
    assert bmc.root_cls.call_count == 1
    utils.get_connection(rf.make_node(redfish_password='other'))
    assert bmc.root_cls.call_count == 2


def test_connection_cache_is_bounded(bmc, conf):
    conf.set_override('session_cache_size', 2, 'redfish')
    for host in ('a', 'b', 'c'):
        utils.get_connection(rf.make_node(redfish_address=host))
    assert bmc.root_cls.call_count == 3
    utils.get_connection(rf.make_node(redfish_address='c'))
    assert bmc.root_cls.call_count == 3
    utils.get_connection(rf.make_node(redfish_address='a'))
    assert bmc.root_cls.call_count == 4


def test_concurrent_first_use_opens_one_session(bmc):
    def slow_root(*args, **kwargs):
        time.sleep(0.05)
        return bmc.root

    bmc.root_cls.side_effect = slow_root
    threads = [threading.Thread(target=utils.get_connection,
                                args=(rf.make_node(),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert bmc.root_cls.call_count == 1


def test_callers_queued_behind_a_failing_connect_fail_with_it(bmc, conf):
    conf.set_override('connection_attempts', 1, 'redfish')
    refused = rf.connection_error(requests.exceptions.ConnectionError(
        '[Errno 111] Connection refused'))

    def slow_failure(*args, **kwargs):
        time.sleep(0.2)
        raise refused

    bmc.root_cls.side_effect = slow_failure
    failures = []

    def use():
        node = rf.make_node()
        try:
            with utils.errors(node, 'power state read'):
                utils.get_connection(node)
        except exception.DriverOperationError as exc:
            failures.append(str(exc))

    threads = [threading.Thread(target=use) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert bmc.root_cls.call_count == 1
    assert len(failures) == 5
    assert all('Connection refused' in f for f in failures)


def test_connection_errors_retried_then_succeed(bmc, conf):
    conf.set_override('connection_attempts', 3, 'redfish')
    refused = rf.connection_error(requests.exceptions.ConnectionError(
        '[Errno 111] Connection refused'))
    bmc.root_cls.side_effect = [refused, refused, bmc.root]
    assert utils.get_connection(rf.make_node()) is bmc.root
    assert bmc.root_cls.call_count == 3


def test_connection_attempts_are_bounded(bmc, conf):
    conf.set_override('connection_attempts', 2, 'redfish')
    bmc.root_cls.side_effect = rf.connection_error(
        requests.exceptions.ConnectionError(
            "Failed to establish a new connection: [Errno 111] Connection "
            "refused'))"))
    node = rf.make_node()
    with pytest.raises(exception.DriverOperationError) as err:
        with utils.errors(node, 'power state read'):
            utils.get_system(node)
    assert bmc.root_cls.call_count == 2
    assert str(err.value) == (
        'Redfish power state read failed for node %s: could not connect '
        'to the BMC at %s: Connection refused' % (rf.NODE_UUID, rf.ADDRESS))


def test_read_timeout_not_retried(bmc, conf):
    conf.set_override('connection_attempts', 3, 'redfish')
    conf.set_override('read_timeout', 7.0, 'redfish')
    bmc.root_cls.side_effect = rf.connection_error(
        requests.exceptions.ReadTimeout('read timed out'))
    node = rf.make_node()
    with pytest.raises(exception.DriverOperationError) as err:
        with utils.errors(node, 'power state read'):
            utils.get_connection(node)
    assert bmc.root_cls.call_count == 1
    assert 'did not answer within 7.0s' in str(err.value)


def test_connect_timeout_reason(bmc, conf):
    conf.set_override('connection_attempts', 1, 'redfish')
    conf.set_override('connect_timeout', 3.0, 'redfish')
    bmc.root_cls.side_effect = rf.connection_error(
        requests.exceptions.ConnectTimeout('timed out'))
    node = rf.make_node()
    with pytest.raises(exception.DriverOperationError) as err:
        with utils.errors(node, 'boot device read'):
            utils.get_connection(node)
    assert 'could not connect to the BMC at %s: no connection within 3.0s' \
        % rf.ADDRESS in str(err.value)


def test_http_errors_are_not_retried(bmc, conf):
    conf.set_override('connection_attempts', 3, 'redfish')
    bmc.root.get_system.side_effect = rf.http_error(
        sushy_exc.ServerSideError, 500, 'Internal fault')
    node = rf.make_node()
    with pytest.raises(exception.DriverOperationError) as err:
        with utils.errors(node, 'power state read'):
            utils.get_system(node)
    assert bmc.root.get_system.call_count == 1
    assert 'answered HTTP 500: Internal fault' in str(err.value)


# --- systems and managers ----------------------------------------------------


def test_get_system_by_id(bmc):
    assert utils.get_system(rf.make_node()) is bmc.system
    bmc.root.get_system.assert_called_once_with(rf.SYSTEM_PATH)


def test_get_only_system_listed_once(bmc):
    bmc.root.get_system_collection.return_value.members_identities = (
        '/redfish/v1/Systems/only',)
    node = rf.make_node(redfish_system_id=None)
    utils.get_system(node)
    utils.get_system(node)
    assert bmc.root.get_system_collection.call_count == 1
    assert [c.args for c in bmc.root.get_system.call_args_list] == [
        ('/redfish/v1/Systems/only',)] * 2


def test_several_systems_need_a_system_id(bmc):
    bmc.root.get_system_collection.return_value.members_identities = (
        '/redfish/v1/Systems/b', '/redfish/v1/Systems/a')
    node = rf.make_node(redfish_system_id=None)
    with pytest.raises(exception.DriverOperationError) as err:
        with utils.errors(node, 'power state read'):
            utils.get_system(node)
    assert ('has 2 systems (/redfish/v1/Systems/a, /redfish/v1/Systems/b)'
            '; set driver_info/redfish_system_id' in str(err.value))


def test_unknown_system_named(bmc):
    bmc.root.get_system.side_effect = rf.http_error(
        sushy_exc.ResourceNotFoundError, 404)
    node = rf.make_node(redfish_system_id='nope')
    with pytest.raises(exception.DriverOperationError) as err:
        with utils.errors(node, 'power state read'):
            utils.get_system(node)
    assert str(err.value) == (
        'Redfish power state read failed for node %s: system '
        '/redfish/v1/Systems/nope was not found on the BMC at %s'
        % (rf.NODE_UUID, rf.ADDRESS))


def test_get_manager_first(bmc):
    first, second = object(), object()
    bmc.system.managers = [first, second]
    assert utils.get_manager(rf.make_node()) is first


def test_get_manager_none(bmc):
    node = rf.make_node()
    with pytest.raises(exception.DriverOperationError) as err:
        with utils.errors(node, 'firmware read'):
            utils.get_manager(node)
    assert 'does not offer this feature' in str(err.value)


def test_get_update_service(bmc):
    service = utils.get_update_service(rf.make_node())
    assert service is bmc.root.get_update_service.return_value


# --- errors ----------------------------------------------------------------


def test_auth_failure_evicts_connection(bmc):
    node = rf.make_node()
    bmc.root.get_system.side_effect = rf.http_error(
        sushy_exc.AccessError, 401)
    with pytest.raises(exception.DriverOperationError) as err:
        with utils.errors(node, 'power state read'):
            utils.get_system(node)
    assert 'authentication failed at the BMC at %s (HTTP 401)' % (
        rf.ADDRESS) in str(err.value)
    bmc.root.get_system.side_effect = None
    utils.get_system(node)
    assert bmc.root_cls.call_count == 2


def test_password_scrubbed_from_errors(bmc):
    node = rf.make_node()
    with pytest.raises(exception.DriverOperationError) as err:
        with utils.errors(node, 'boot'):
            raise sushy_exc.SushyError('echoed back: %s' % rf.PASSWORD)
    assert rf.PASSWORD not in str(err.value)
    assert 'echoed back: ***' in str(err.value)


def test_own_exceptions_pass_through(bmc):
    node = rf.make_node()
    with pytest.raises(exception.InvalidParameterValue):
        with utils.errors(node, 'boot'):
            raise exception.InvalidParameterValue(err='mine')


def test_missing_action_reason(bmc):
    node = rf.make_node()
    with pytest.raises(exception.DriverOperationError) as err:
        with utils.errors(node, 'NMI injection'):
            raise sushy_exc.MissingActionError(action='#X.Reset',
                                               resource='/x')
    assert 'the BMC does not offer this action' in str(err.value)


# --- wait_for --------------------------------------------------------------


def test_wait_for_returns_first_truthy():
    answers = iter([None, 0, 'done'])
    assert utils.wait_for(lambda: next(answers), 5, 0.001, 'x') == 'done'


def test_wait_for_times_out():
    calls = []
    start = time.monotonic()
    with pytest.raises(exception.DriverOperationError) as err:
        utils.wait_for(lambda: calls.append(1), 0.1, 0.02, 'the moon')
    assert str(err.value) == 'Timed out after 0.1s waiting for the moon'
    assert time.monotonic() - start < 2
    assert len(calls) >= 2


def test_read_budget_bounds_a_silent_bmc_and_skips_retries(conf):
    """A real connector against a socket that accepts and never answers:
    under a power sync's budget one attempt, cut short by the budget,
    although the configured read timeout is far longer."""
    conf.set_override('read_timeout', 30.0, 'redfish')
    conf.set_override('connection_attempts', 3, 'redfish')
    utils.clear_cache()
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(16)
        node = rf.make_node(redfish_address='http://127.0.0.1:%d'
                            % listener.getsockname()[1])
        token = base.read_budget.set(0.3)
        started = time.monotonic()
        try:
            with pytest.raises(exception.DriverOperationError) as err:
                with utils.errors(node, 'power state read'):
                    utils.get_system(node)
        finally:
            base.read_budget.reset(token)
        assert time.monotonic() - started < 3
        assert 'did not answer within 0.3s' in str(err.value)


def test_secrets_never_reach_sushy_log_lines(caplog):
    """sushy logs request bodies at DEBUG; a BIOS password attribute is
    not a key it recognises, so we scrub the values we send."""
    logger = logging.getLogger('sushy.connector')
    with caplog.at_level(logging.DEBUG, logger='sushy'):
        with utils.secrets_hidden(['bios-Secret-1']):
            logger.debug('HTTP request: PATCH body: %s',
                         {'Attributes': {'SysPassword': 'bios-Secret-1'}})
        logger.debug('after: %s', 'bios-Secret-1')
    lines = [r.getMessage() for r in caplog.records]
    assert 'bios-Secret-1' not in lines[0] and '***' in lines[0]
    # only while it is being sent: afterwards the value is not a secret
    assert lines[1] == 'after: bios-Secret-1'


def test_environment_proxies_still_apply(monkeypatch, conf):
    """Sessions do not re-read the environment per request, but the
    proxy it names when the connection is made is used: a local proxy
    that refuses everything sees the BMC's request."""
    seen = []
    proxy = socket.socket()
    proxy.bind(('127.0.0.1', 0))
    proxy.listen(4)

    proxy.settimeout(0.05)
    stop = threading.Event()

    def serve():
        while not stop.is_set():     # sushy retries a 5xx once
            try:
                conn, _ = proxy.accept()
            except OSError:
                continue
            with conn:
                seen.append(conn.recv(4096).split(b'\r\n', 1)[0])
                conn.sendall(b'HTTP/1.1 502 Bad Gateway\r\nContent-Length: '
                             b'0\r\nConnection: close\r\n\r\n')
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setenv('HTTP_PROXY', 'http://127.0.0.1:%d'
                       % proxy.getsockname()[1])
    monkeypatch.delenv('NO_PROXY', raising=False)
    monkeypatch.delenv('no_proxy', raising=False)
    conf.set_override('connection_attempts', 1, 'redfish')
    conf.set_override('connection_retry_interval', 0, 'redfish')
    utils.clear_cache()
    node = rf.make_node(redfish_address='http://bmc.invalid')
    try:
        with pytest.raises(exception.DriverOperationError):
            with utils.errors(node, 'connection'):
                utils.get_connection(node)
    finally:
        stop.set()
        thread.join(5)
        proxy.close()
    assert seen and set(seen) == {
        b'GET http://bmc.invalid/redfish/v1/ HTTP/1.1'}
