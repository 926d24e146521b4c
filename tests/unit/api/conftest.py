"""In-process API fixtures: the real WSGI application over a real SQLite
database, with a conductor registered as the service would register it,
so controllers, schemas and versions are exercised without a network."""

import json

import pytest
import webob

from bootflow.api import app as api_app
from bootflow.common import driver_factory
from bootflow.common import hash_ring
from bootflow.db import api as db_api


class Client:
    """Requests against the application; ``version`` sets the
    microversion header (None sends none, i.e. the minimum)."""

    def __init__(self, application):
        self.app = application

    def request(self, method, path, body=None, version='latest',
                headers=None):
        req = webob.Request.blank(path, method=method)
        if version is not None:
            req.headers['X-OpenStack-Ironic-API-Version'] = version
        for key, value in (headers or {}).items():
            req.headers[key] = value
        if body is not None:
            req.body = json.dumps(body).encode()
            req.content_type = 'application/json'
        resp = req.get_response(self.app)
        resp.data = json.loads(resp.body) if resp.body else None
        return resp

    def error(self, resp):
        """The faultstring inside Ironic's doubly encoded error body."""
        return json.loads(resp.data['error_message'])['faultstring']

    def get(self, path, **kw):
        return self.request('GET', path, **kw)

    def post(self, path, body, **kw):
        return self.request('POST', path, body, **kw)

    def patch(self, path, body, **kw):
        return self.request('PATCH', path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request('PUT', path, body, **kw)

    def delete(self, path, **kw):
        return self.request('DELETE', path, **kw)


@pytest.fixture
def api(db):
    catalog = driver_factory.DriverCatalog.from_config()
    db_api.register_conductor('unit-conductor', '',
                              sorted(catalog.hardware_types),
                              catalog.describe())
    hash_ring.RING.reset()
    return Client(api_app.setup_app())


@pytest.fixture
def node(api):
    resp = api.post('/v1/nodes', {'driver': 'fake-hardware',
                                  'name': 'unit-node'})
    assert resp.status_int == 201, resp.body
    return resp.data
