"""The agent's API client against a fake of the remote API.

``FakeAPI`` is a test double of the *remote* bootflow server: a real HTTP
server on 127.0.0.1 speaking the wire protocol of the BootOS contract
(lookup, continue_inspection, poll, logs), so retries, status handling
and headers go through requests and sockets exactly as in a ramdisk.
The lifecycle tests import it from here.
"""

import collections
import contextlib
import http.server
import json
import secrets
import socket
import threading
import urllib.parse

import pytest

from bootflow.agent import client as agent_client

NODE_UUID = '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'
MAC = '52:54:00:12:34:56'


def fault(message, code='Client'):
    return {'error_message': json.dumps(
        {'faultstring': message, 'faultcode': code, 'debuginfo': None})}


class FakeAPI:
    """The remote API as the agent sees it, with knobs for failures.

    ``fail[kind]`` is a list of statuses returned (one per request) before
    a ``kind`` ('lookup', 'inspect', 'poll', 'logs') is served normally.
    Commands follow the server's queue semantics: each poll returns the
    head of ``queue`` until a result for it arrives.
    """

    def __init__(self):
        self.cond = threading.Condition()
        self.requests = []
        self.token = 'tok-' + secrets.token_hex(16)
        self.token_issued = False
        self.macs = {MAC}
        self.node_uuid = NODE_UUID
        self.heartbeat_interval = 0.02
        self.lookup_misses = 0
        self.discovery = False
        self.fail = collections.defaultdict(list)
        self.queue = []
        self.results = []
        self.events = []
        self.logs = []
        self.inspections = []
        self.files = {}
        self.server = None

    # -- plumbing -----------------------------------------------------

    def start(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                fake._dispatch(self, 'GET')

            def do_POST(self):
                fake._dispatch(self, 'POST')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      Handler)
        self.server.daemon_threads = True
        # A short poll interval keeps shutdown() (every test's teardown)
        # from waiting half a second.
        threading.Thread(target=self.server.serve_forever, args=(0.01,),
                         daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.server.server_address[1]

    def wait_for(self, predicate, timeout=10):
        with self.cond:
            assert self.cond.wait_for(predicate, timeout), 'timed out'

    def of_kind(self, kind):
        with self.cond:
            return [r for r in self.requests if r['kind'] == kind]

    @property
    def polls(self):
        return [r['body'] for r in self.of_kind('poll')]

    def _dispatch(self, handler, method):
        parts = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        length = int(handler.headers.get('Content-Length') or 0)
        raw = handler.rfile.read(length) if length else b''
        body = json.loads(raw) if raw else None
        kind = self._kind(method, parts.path)
        with self.cond:
            self.requests.append({
                'kind': kind, 'method': method, 'path': parts.path,
                'query': query, 'body': body,
                'headers': dict(handler.headers)})
            if kind == 'file':
                status, payload = self._file(parts.path)
            elif self.fail[kind]:
                status = self.fail[kind].pop(0)
                payload = fault('injected %d' % status, 'Server')
            else:
                status, payload = getattr(self, '_' + kind)(query, body)
            self.cond.notify_all()
        self._reply(handler, status, payload)

    @staticmethod
    def _kind(method, path):
        if path.startswith('/files/'):
            return 'file'
        if path == '/v1/lookup':
            return 'lookup'
        if path == '/v1/continue_inspection':
            return 'inspect'
        if path.endswith('/poll'):
            return 'poll'
        if path.endswith('/logs'):
            return 'logs'
        return 'unknown'

    @staticmethod
    def _reply(handler, status, payload):
        if isinstance(payload, bytes):
            data, ctype = payload, 'application/octet-stream'
        else:
            data = json.dumps(payload).encode() if payload is not None \
                else b''
            ctype = 'application/json'
        handler.send_response(status)
        handler.send_header('Content-Type', ctype)
        handler.send_header('Content-Length', str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    # -- the API --------------------------------------------------------

    def _answer(self):
        token = '******' if self.token_issued else self.token
        self.token_issued = True
        return {'node': {'uuid': self.node_uuid, 'properties': {},
                         'instance_info': {}, 'driver_internal_info': {},
                         'links': []},
                'config': {'heartbeat_timeout': 300,
                           'heartbeat_interval': self.heartbeat_interval,
                           'agent_token': token,
                           'agent_token_required': True}}

    def _file(self, path):
        data = self.files.get(path[len('/files/'):])
        return (200, data) if data is not None else (404, fault('no file'))

    def _lookup(self, query, body):
        macs = set(filter(None, query.get('addresses', '').split(',')))
        if not macs and not query.get('node_uuid'):
            return 400, fault('Neither a valid MAC nor a node UUID given')
        if self.lookup_misses > 0:
            self.lookup_misses -= 1
            return 404, fault('No node in a ramdisk state (yet)')
        if macs & self.macs or query.get('node_uuid') == self.node_uuid:
            return 200, self._answer()
        return 404, fault('No node matches %s' % ', '.join(sorted(macs)))

    def _inspect(self, query, body):
        self.inspections.append(body)
        macs = {i.get('mac_address') for i in
                body['inventory'].get('interfaces') or ()}
        if macs & self.macs or self.discovery:
            return 202, self._answer()
        return 404, fault('No node matches the inventory')

    def _check_token(self, body):
        if not (body or {}).get('agent_token'):
            return 401, fault('An agent token is required')
        if body['agent_token'] != self.token:
            return 403, fault('Invalid agent token')
        return None

    def _poll(self, query, body):
        refused = self._check_token(body)
        if refused:
            return refused
        self.events.extend(body.get('events') or ())
        for result in body.get('results') or ():
            self.results.append(result)
            self.queue = [c for c in self.queue if c['id'] != result['id']]
        commands = [dict(self.queue[0])] if self.queue else []
        return 200, {'commands': commands,
                     'heartbeat_interval': self.heartbeat_interval}

    def _logs(self, query, body):
        refused = self._check_token(body)
        if refused:
            return refused
        self.logs.append(body)
        return 202, None

    def command(self, name, params=None):
        """Queue a command; returns its id."""
        command = {'id': secrets.token_hex(8), 'name': name,
                   'params': params or {}}
        with self.cond:
            self.queue.append(command)
        return command['id']

    def result(self, command_id):
        with self.cond:
            for result in self.results:
                if result['id'] == command_id:
                    return result
        return None


@contextlib.contextmanager
def running_fake():
    """A started FakeAPI, stopped afterwards; each test module's ``fake``
    fixture wraps this (importing a fixture across modules would shadow
    it in every test's arguments)."""
    api = FakeAPI().start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def fake():
    with running_fake() as api:
        yield api


def fast_client(url, **kwargs):
    """A client whose backoff is milliseconds, so retry tests run fast;
    ``sleeps`` records every delay it chose."""
    sleeps = []
    kwargs.setdefault('backoff', agent_client.Backoff(base=0.001, cap=0.01))
    kwargs.setdefault('retry_timeout', 5)
    client = agent_client.Client(url, agent_version='test',
                                 sleep=lambda s: sleeps.append(s), **kwargs)
    client.sleeps = sleeps
    return client


# -- backoff ---------------------------------------------------------------

def test_backoff_doubles_up_to_the_cap_with_jitter():
    top = agent_client.Backoff(base=0.5, cap=30, rand=lambda: 1.0)
    low = agent_client.Backoff(base=0.5, cap=30, rand=lambda: 0.0)
    assert [top.delay(n) for n in range(8)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    # Equal jitter: never below half the ceiling, never zero.
    assert [low.delay(n) for n in range(3)] == [0.25, 0.5, 1.0]
    assert top.delay(10 ** 6) == 30.0


# -- retries ---------------------------------------------------------------

def test_503_twice_then_200_is_retried_with_growing_delays(fake):
    fake.fail['lookup'] = [503, 503]
    client = fast_client(fake.url, backoff=agent_client.Backoff(
        base=0.001, cap=1, rand=lambda: 1.0))
    answer = client.lookup([MAC])
    assert answer['node']['uuid'] == NODE_UUID
    assert len(fake.of_kind('lookup')) == 3
    assert client.sleeps == [0.001, 0.002]


def test_409_node_locked_is_retried(fake):
    fake.fail['poll'] = [409]
    client = fast_client(fake.url)
    client.node_uuid, client.token = NODE_UUID, fake.token
    assert client.poll() == {'commands': [], 'heartbeat_interval': 0.02}
    assert len(fake.of_kind('poll')) == 2


def test_lookup_retries_404_until_the_node_is_ready(fake):
    fake.lookup_misses = 3
    client = fast_client(fake.url)
    answer = client.lookup([MAC], timeout=10)
    assert answer['config']['agent_token'] == fake.token
    assert len(fake.of_kind('lookup')) == 4
    assert len(client.sleeps) == 3


def test_lookup_404_gives_up_after_its_timeout(fake):
    fake.macs = set()
    client = agent_client.Client(
        fake.url, backoff=agent_client.Backoff(base=0.001, cap=0.005))
    with pytest.raises(agent_client.NotFound) as info:
        client.lookup([MAC], timeout=0.1)
    assert info.value.status_code == 404
    assert info.value.faultstring == 'No node matches %s' % MAC
    assert len(fake.of_kind('lookup')) > 1


def test_404_outside_lookup_is_not_retried(fake):
    fake.macs = set()
    client = fast_client(fake.url)
    with pytest.raises(agent_client.NotFound):
        client.lookup([MAC])
    assert len(fake.of_kind('lookup')) == 1


@pytest.mark.parametrize('token,status', [(None, 401), ('wrong', 403)])
def test_auth_errors_are_not_retried(fake, token, status):
    client = fast_client(fake.url)
    client.node_uuid, client.token = NODE_UUID, token
    with pytest.raises(agent_client.AuthError) as info:
        client.poll()
    assert info.value.status_code == status
    assert info.value.faultstring in ('An agent token is required',
                                      'Invalid agent token')
    assert info.value.faultstring in str(info.value)
    assert len(fake.of_kind('poll')) == 1
    assert client.sleeps == []


def test_400_is_not_retried(fake):
    client = fast_client(fake.url)
    with pytest.raises(agent_client.BadRequest) as info:
        client.lookup([])
    assert 'Neither a valid MAC' in info.value.faultstring
    assert len(fake.of_kind('lookup')) == 1


def test_connection_errors_are_retried_until_the_retry_timeout():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more: every attempt is refused.
    client = agent_client.Client(
        'http://127.0.0.1:%d' % port, retry_timeout=0.2,
        backoff=agent_client.Backoff(base=0.001, cap=0.01))
    with pytest.raises(agent_client.TransientError) as info:
        client.lookup([MAC])
    assert info.value.status_code is None
    assert 'ConnectionError' in str(info.value)


def test_5xx_outlasting_the_retry_timeout_is_a_transient_error(fake):
    fake.fail['lookup'] = [500] * 1000
    client = agent_client.Client(
        fake.url, retry_timeout=0.1,
        backoff=agent_client.Backoff(base=0.001, cap=0.01))
    with pytest.raises(agent_client.TransientError) as info:
        client.lookup([MAC])
    assert info.value.status_code == 500
    assert info.value.faultstring == 'injected 500'


# -- the calls -------------------------------------------------------------

def test_every_request_carries_the_api_version(fake):
    client = fast_client(fake.url)
    client.identify(client.lookup([MAC], node_uuid=NODE_UUID))
    client.poll([{'id': 'x'}], [{'kind': 'script'}])
    client.upload_log('why', 'text')
    assert [r['kind'] for r in fake.requests] == ['lookup', 'poll', 'logs']
    for request in fake.requests:
        assert request['headers'][agent_client.VERSION_HEADER] == '1.84'
    assert fake.requests[0]['query'] == {'addresses': MAC,
                                         'node_uuid': NODE_UUID}
    assert fake.polls[0] == {'agent_token': fake.token,
                             'agent_version': 'test',
                             'results': [{'id': 'x'}],
                             'events': [{'kind': 'script'}]}
    assert fake.logs == [{'agent_token': fake.token, 'reason': 'why',
                          'log': 'text'}]


def test_identify_keeps_the_first_token_and_ignores_the_mask(fake):
    client = fast_client(fake.url)
    client.identify(client.lookup([MAC]))
    assert (client.node_uuid, client.token) == (NODE_UUID, fake.token)
    other = fast_client(fake.url)
    node, config = other.identify(other.lookup([MAC]))
    assert config['agent_token'] == '******'
    assert other.token is None and other.node_uuid == NODE_UUID


def test_continue_inspection_sends_inventory_notes_and_version(fake):
    client = fast_client(fake.url)
    inventory = {'interfaces': [{'name': 'eth0', 'mac_address': MAC}]}
    answer = client.continue_inspection(inventory, ['a note'],
                                        node_uuid=NODE_UUID)
    assert answer['node']['uuid'] == NODE_UUID
    request, = fake.of_kind('inspect')
    assert request['query'] == {'node_uuid': NODE_UUID}
    assert request['body'] == {'inventory': inventory,
                               'bootos': {'notes': ['a note'],
                                          'agent_version': 'test',
                                          'developer': False}}


class _Response:
    def __init__(self, text, reason='Bad Gateway'):
        self.text, self.reason = text, reason

    def json(self):
        return json.loads(self.text)


@pytest.mark.parametrize('text,expected', [
    (json.dumps(fault('Node is locked')), 'Node is locked'),
    (json.dumps({'error_message': {'faultstring': 'as a dict'}}),
     'as a dict'),
    (json.dumps({'error_message': 'plain words'}), 'plain words'),
    ('<html>proxy error</html>', '<html>proxy error</html>'),
    ('', 'Bad Gateway'),
])
def test_faultstring_reads_ironic_error_bodies(text, expected):
    assert agent_client.faultstring(_Response(text)) == expected
