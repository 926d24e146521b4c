"""Small stand-ins for Keystone (v3 password tokens and a catalog),
Glance (image metadata, data, members) and Neutron (ports) on 127.0.0.1:
the real Glance and Neutron are not installable here cheaply. Glance and
Neutron check tokens either with the stand-in Keystone (unit tests: no
process to start) or, through :class:`TokenChecker`, with the real one
of keystone_server.py (functional tests).

They speak just enough of each API for keystoneauth1 to authenticate,
find the endpoints in the catalog and for bootflow to do its calls; every
request is recorded with its X-Auth-Token, and Glance and Neutron refuse
a token Keystone did not issue (401, which keystoneauth answers by
authenticating again), so a test can tell real token handling from none.
"""

import datetime
import hashlib
import http.server
import json
import re
import threading
import uuid

USER, PASSWORD, PROJECT = 'bootflow', 'secret-pw', 'service'
PROJECT_ID = 'c0ffee' + '0' * 26


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def _body(self):
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length else b''
        return json.loads(raw) if raw else None

    def _send(self, status, body=None, headers=None, raw=None):
        data = raw if raw is not None else (
            b'' if body is None else json.dumps(body).encode())
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if raw is None and body is not None:
            self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method):
        fake = self.server.fake
        body = self._body() if method in ('POST', 'PUT') else None
        fake.requests.append({'method': method, 'path': self.path,
                              'token': self.headers.get('X-Auth-Token'),
                              'body': body})
        if fake.keystone is not None and \
                not fake.keystone.valid(self.headers.get('X-Auth-Token')):
            return self._send(401, {'error': {'code': 401,
                                              'message': 'bad token'}})
        for pattern, handler in fake.routes(method):
            match = re.fullmatch(pattern, self.path.split('?')[0])
            if match:
                return handler(self, body, *match.groups())
        return self._send(404, {'error': 'no route %s %s'
                                % (method, self.path)})

    def do_GET(self):
        self._dispatch('GET')

    def do_POST(self):
        self._dispatch('POST')

    def do_PUT(self):
        self._dispatch('PUT')


class _Fake:
    """One service on its own loopback port."""

    keystone = None

    def __init__(self):
        self.requests = []
        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                       _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        self.url = 'http://127.0.0.1:%d' % self._server.server_address[1]
        # a short poll keeps stop() from waiting half a second
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={'poll_interval': 0.02},
            daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def routes(self, method):
        return []


class Keystone(_Fake):
    """Identity v3: version document, password authentication, catalog."""

    def __init__(self):
        super().__init__()
        self.issued = set()
        self.catalog = []

    def register(self, service_type, name, url, interface='internal'):
        self.catalog.append({
            'type': service_type, 'name': name, 'id': uuid.uuid4().hex,
            'endpoints': [{'id': uuid.uuid4().hex, 'interface': interface,
                           'region': 'RegionOne', 'region_id': 'RegionOne',
                           'url': url}]})

    def valid(self, token):
        return token in self.issued

    def revoke_all(self):
        self.issued.clear()

    def routes(self, method):
        if method == 'GET':
            return [(r'/v3/?', Keystone._version)]
        if method == 'POST':
            return [(r'/v3/auth/tokens', Keystone._token)]
        return []

    @staticmethod
    def _version(handler, body):
        base = handler.server.fake.url
        handler._send(200, {'version': {
            'id': 'v3.14', 'status': 'stable',
            'updated': '2020-04-07T00:00:00Z',
            'links': [{'rel': 'self', 'href': base + '/v3/'}],
            'media-types': [{'base': 'application/json',
                             'type': 'application/vnd.openstack.identity-'
                                     'v3+json'}]}})

    @staticmethod
    def _token(handler, body):
        fake = handler.server.fake
        try:
            user = body['auth']['identity']['password']['user']
        except (KeyError, TypeError):
            return handler._send(400, {'error': {'message': 'no password'}})
        if user.get('name') != USER or user.get('password') != PASSWORD:
            return handler._send(401, {'error': {'code': 401,
                                                 'message': 'wrong'}})
        token = uuid.uuid4().hex
        fake.issued.add(token)
        now = datetime.datetime.now(datetime.timezone.utc)
        domain = {'id': 'default', 'name': 'Default'}
        handler._send(201, {'token': {
            'methods': ['password'],
            'issued_at': now.strftime('%Y-%m-%dT%H:%M:%S.000000Z'),
            'expires_at': (now + datetime.timedelta(hours=1)).strftime(
                '%Y-%m-%dT%H:%M:%S.000000Z'),
            'user': {'id': 'u-' + USER, 'name': USER, 'domain': domain},
            'project': {'id': PROJECT_ID, 'name': PROJECT,
                        'domain': domain},
            'roles': [{'id': 'r1', 'name': 'admin'}],
            'catalog': fake.catalog}},
            headers={'X-Subject-Token': token})


class Glance(_Fake):
    """Image API v2: image metadata, its data, its members."""

    def __init__(self, keystone=None):
        super().__init__()
        self.keystone = keystone
        self.images, self.data, self.members = {}, {}, {}

    def add(self, data, image_id=None, **meta):
        """An active public raw image of ``data`` with Glance's hashes;
        ``meta`` overrides any field."""
        image_id = image_id or str(uuid.uuid4())
        self.images[image_id] = dict({
            'id': image_id, 'name': 'img-' + image_id[:8],
            'status': 'active', 'visibility': 'public',
            'owner': PROJECT_ID, 'disk_format': 'raw',
            'container_format': 'bare', 'size': len(data),
            'checksum': hashlib.md5(data).hexdigest(),
            'os_hash_algo': 'sha512',
            'os_hash_value': hashlib.sha512(data).hexdigest()}, **meta)
        self.data[image_id] = data
        return image_id

    def file_gets(self, image_id):
        return [r for r in self.requests if r['method'] == 'GET'
                and r['path'] == '/v2/images/%s/file' % image_id]

    def routes(self, method):
        if method != 'GET':
            return []
        return [(r'/v2/images/([^/]+)', Glance._show),
                (r'/v2/images/([^/]+)/file', Glance._file),
                (r'/v2/images/([^/]+)/members/([^/]+)', Glance._member)]

    @staticmethod
    def _show(handler, body, image_id):
        image = handler.server.fake.images.get(image_id)
        if image is None:
            return handler._send(404, {'message': 'not found'})
        handler._send(200, image)

    @staticmethod
    def _file(handler, body, image_id):
        fake = handler.server.fake
        if image_id not in fake.images:
            return handler._send(404, {'message': 'not found'})
        data = fake.data.get(image_id)
        if data is None:
            return handler._send(204)
        handler._send(200, raw=data, headers={
            'Content-Type': 'application/octet-stream'})

    @staticmethod
    def _member(handler, body, image_id, project):
        member = handler.server.fake.members.get((image_id, project))
        if member is None:
            return handler._send(404, {'message': 'not a member'})
        handler._send(200, {'image_id': image_id, 'member_id': project,
                            'status': member})


class Neutron(_Fake):
    """Networking API v2.0: ports, shown and updated."""

    def __init__(self, keystone=None):
        super().__init__()
        self.keystone = keystone
        self.ports = {}

    def add_port(self, **attrs):
        port_id = str(uuid.uuid4())
        self.ports[port_id] = dict({
            'id': port_id, 'network_id': str(uuid.uuid4()),
            'mac_address': 'fa:16:3e:00:00:01', 'binding:host_id': '',
            'binding:vnic_type': 'normal', 'binding:profile': {}}, **attrs)
        return port_id

    def updates(self, port_id):
        return [r['body']['port'] for r in self.requests
                if r['method'] == 'PUT'
                and r['path'] == '/v2.0/ports/%s' % port_id]

    def routes(self, method):
        if method == 'GET':
            return [(r'/v2.0/ports/([^/]+)', Neutron._show)]
        if method == 'PUT':
            return [(r'/v2.0/ports/([^/]+)', Neutron._update)]
        return []

    @staticmethod
    def _missing(handler, port_id):
        handler._send(404, {'NeutronError': {
            'type': 'PortNotFound', 'detail': '',
            'message': 'Port %s could not be found.' % port_id}})

    @staticmethod
    def _show(handler, body, port_id):
        port = handler.server.fake.ports.get(port_id)
        if port is None:
            return Neutron._missing(handler, port_id)
        handler._send(200, {'port': port})

    @staticmethod
    def _update(handler, body, port_id):
        port = handler.server.fake.ports.get(port_id)
        if port is None:
            return Neutron._missing(handler, port_id)
        port.update((body or {}).get('port') or {})
        handler._send(200, {'port': port})


class TokenChecker:
    """Token validation against a real Keystone, as keystonemiddleware
    does it (GET /v3/auth/tokens with the admin's token), for the Glance
    and Neutron stand-ins when tests/functional/keystone_server.py runs
    the real one."""

    def __init__(self, server):
        self.server = server
        self.seen = set()
        self._lock = threading.Lock()

    def valid(self, token):
        if not token:
            return False
        with self._lock:
            if token in self.seen:
                return True
            resp = self.server.admin.get(
                self.server.url + '/auth/tokens', raise_exc=False,
                headers={'X-Subject-Token': token})
            if resp.status_code == 200:
                self.seen.add(token)
            return resp.status_code == 200


def password_auth(keystone):
    """The [group] options of a password login to ``keystone``."""
    return {'auth_type': 'password', 'auth_url': keystone.url + '/v3',
            'username': USER, 'password': PASSWORD, 'project_name': PROJECT,
            'user_domain_name': 'Default', 'project_domain_name': 'Default'}
