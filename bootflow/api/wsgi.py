"""A small WSGI layer: routing, JSON in and out, Ironic's error body.

Ironic builds on pecan and WSME; bootflow keeps the HTTP surface the same
with a table of routes and plain functions, which is a large part of why
its lists are fast.
"""

import http.client
import re
import uuid

import orjson
import webob
from oslo_log import log

from bootflow.api import access
from bootflow.api import microversion
from bootflow.common import exception

LOG = log.getLogger(__name__)

# This service's maximum API version.
MAX_VERSION = (1, 115)
MIN_VERSION = microversion.MIN_VERSION


class Request(webob.Request):
    version = MIN_VERSION
    context = None

    def json_body_or_error(self):
        """Decode the body; a malformed body is the client's error (400),
        not a server error as in Ironic."""
        if not self.body:
            raise exception.InvalidParameterValue(
                err='The request body is missing.')
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as e:
            raise exception.InvalidParameterValue(
                err='The request body is not valid JSON: %s' % e)

    def allows(self, minor):
        return self.version[1] >= minor

    def require_version(self, minor):
        """Resources younger than the request's version do not exist."""
        if self.version[1] < minor:
            raise exception.NotFound('The resource could not be found.')


class Response:
    __slots__ = ('status', 'body', 'headers')

    def __init__(self, body=None, status=200, headers=None):
        self.status = status
        self.body = body
        self.headers = headers or {}


def error_body(exc, status):
    """Ironic's error format: the JSON document is itself a JSON string."""
    message = exc.args[0] if exc.args else str(exc)
    if isinstance(message, bytes):
        message = message.decode()
    inner = {'faultcode': 'Client' if status < 500 else 'Server',
             'faultstring': str(message), 'debuginfo': None}
    return {'error_message': orjson.dumps(inner).decode()}


def not_acceptable_body(exc):
    inner = {'code': 406, 'title': 'Not Acceptable',
             'description': str(exc)}
    return {'error_message': orjson.dumps(inner).decode()}


class Router:
    def __init__(self):
        self._routes = []
        # (method, template, handler) in registration order: what the
        # OpenAPI document is generated from
        self.routes = []

    def add(self, method, template, handler):
        pattern = re.sub(r'\{(\w+)\}', r'(?P<\1>[^/]+)', template.rstrip('/'))
        self._routes.append((method, re.compile('^%s/?$' % pattern),
                             handler, template))
        self.routes.append((method, template, handler))

    def match(self, method, path):
        handler, params, _template = self.resolve(method, path)
        return handler, params

    def resolve(self, method, path):
        """The handler, its path parameters and the route's template
        (what the access rules are keyed by)."""
        allowed = []
        for route_method, regex, handler, template in self._routes:
            m = regex.match(path)
            if m:
                if route_method == method:
                    return handler, m.groupdict(), template
                allowed.append(route_method)
        if allowed:
            raise exception.BootflowException(
                'The method %s is not allowed for this resource.' % method,
                code=http.client.METHOD_NOT_ALLOWED)
        raise exception.NotFound('The resource could not be found.')


class Application:
    """Dispatch one request: version, route, handler, error mapping."""

    def __init__(self, router, authenticate=None, keystone=False):
        self.router = router
        self.authenticate = authenticate
        # Under keystone, callers come validated by auth_token and are
        # checked against the policy rules.
        self.keystone = keystone

    def __call__(self, environ, start_response):
        req = Request(environ)
        request_id = 'req-%s' % uuid.uuid4()
        headers = {'x-openstack-request-id': request_id,
                   'openstack-request-id': request_id}
        version = None
        try:
            version = microversion.parse(req.headers, MIN_VERSION,
                                         MAX_VERSION)
            req.version = version
            handler, params, template = self.router.resolve(req.method,
                                                            req.path_info)
            self._identify(req, environ, request_id, template, params)
            result = handler(req, **params)
            if not isinstance(result, Response):
                result = Response(result)
        except exception.NotAcceptable as e:
            result = Response(not_acceptable_body(e), 406)
        except exception.BootflowException as e:
            status = int(getattr(e, 'code', 500))
            if status >= 500:
                LOG.error('Request %s %s failed: %s', req.method, req.path,
                          e)
            result = Response(error_body(e, status), status)
            if status == 401 and not self.keystone:
                # (auth_token adds its own Keystone header to a 401)
                result.headers['WWW-Authenticate'] = 'Basic realm="bootflow"'
        except Exception as e:
            LOG.exception('Unexpected error on %s %s', req.method, req.path)
            result = Response(error_body(e, 500), 500)
        headers.update(microversion.response_headers(version, MIN_VERSION,
                                                     MAX_VERSION))
        headers.update(result.headers)
        if result.body is None or result.status == 204:
            body = b''
        else:
            body = orjson.dumps(result.body)
            headers['Content-Type'] = 'application/json'
        headers['Content-Length'] = str(len(body))
        status = '%d %s' % (result.status,
                            http.client.responses.get(result.status, ''))
        start_response(status, list(headers.items()))
        return [body]

    def _identify(self, req, environ, request_id, template, params):
        """Set the caller's context; under keystone, refuse a missing or
        invalid token (401) and a route the policy denies (403/404)."""
        if not self.keystone:
            req.context = access.admin_context(request_id)
            if self.authenticate is not None:
                self.authenticate(req)
            return
        req.context = access.keystone_context(environ, request_id)
        if req.context is None:
            if access.rule_for(req.method, template)[1] == 'public':
                req.context = access.admin_context(request_id)
                return
            raise exception.NotAuthenticated(
                'The request you have made requires authentication.')
        access.authorize(req, req.method, template, params)
