"""An OpenAPI 3.1 description of the API, generated from the router.

Nothing here is written by hand per endpoint: paths come from the route
table, request bodies from the JSON schemas the handlers validate with
(``request_schema`` on a handler, set by ``resource.label``), minimum
microversions from ``min_version``, response bodies of the declarative
resources from their field schemas. The document therefore cannot drift
from what the service enforces. OpenAPI 3.1 is used because its schema
dialect is JSON Schema 2020-12, the same one requests are validated with.

``python -m bootflow.api.openapi`` prints it; ``api-ref/openapi.json`` is
that output, committed, and a test keeps the two equal.
"""

import copy
import json
import re
import sys

from bootflow.api import microversion
from bootflow.api import validation
from bootflow.api import wsgi

_PARAM_RE = re.compile(r'\{(\w+)\}')

_VERSION_PARAM = {
    'name': microversion.LEGACY_HEADER,
    'in': 'header',
    'required': False,
    'description': 'API microversion: "1.N" or "latest". Without it the '
                   'minimum version is used.',
    'schema': {'type': 'string', 'pattern': r'^(1\.[0-9]+|latest)$'},
}

_ERROR = {
    'type': 'object',
    'description': "Ironic's error body: error_message is itself a JSON "
                   'document with faultcode, faultstring and debuginfo.',
    'properties': {'error_message': {'type': 'string'}},
    'required': ['error_message'],
}

_LIST_QUERY = (
    ('fields', 'Comma-separated fields to return (1.8+).'),
    ('limit', 'Page size, at most [api]max_limit.'),
    ('marker', 'UUID of the last item of the previous page.'),
    ('sort_key', 'Field to sort by.'),
    ('sort_dir', 'asc or desc.'),
    ('detail', 'Whether to return every field (1.43+).'),
)

_QUERY_SCHEMAS = {
    'limit': {'type': 'integer', 'minimum': 0},
    'sort_dir': {'type': 'string', 'enum': ['asc', 'desc']},
    'detail': {'type': 'boolean'},
}


def _operation_id(method, template):
    parts = [p.strip('{}') for p in template.strip('/').split('/')]
    return '%s_%s' % (method.lower(), '_'.join(parts) or 'root')


def _item_schema(resource):
    """Response shape of one item: every field the newest version shows."""
    props = {}
    for name, since in resource.fields:
        if name in resource.schemas:
            schema = validation.nullable(resource.schemas[name])
        elif name in ('created_at', 'updated_at'):
            schema = validation.nullable(validation.TIME)
        elif name == 'links' or name in resource.sublinks:
            schema = validation.LINKS
        else:
            schema = {}
        schema = dict(schema, **{'x-openstack-min-version': '1.%d' % since})
        props[name] = schema
    return {'type': 'object', 'properties': props}


def _responses(handler, method, template):
    status = str(getattr(handler, 'status', 204 if method == 'DELETE'
                         else 200))
    ok = {'description': 'Success.'}
    resource = getattr(handler, 'resource', None)
    if resource is not None and status in ('200', '201'):
        item = {'$ref': '#/components/schemas/%s' % _schema_name(resource)}
        if template.endswith(('/' + resource.name, '/detail')) and \
                method == 'GET':
            body = {'type': 'object',
                    'properties': {resource.name: {'type': 'array',
                                                   'items': item},
                                   'next': {'type': 'string'}},
                    'required': [resource.name]}
        else:
            body = item
        ok['content'] = {'application/json': {'schema': body}}
    elif status in ('200', '201'):
        ok['content'] = {'application/json': {'schema': {}}}
    error = {'description': 'Error, in Ironic\'s format.',
             'content': {'application/json': {
                 'schema': {'$ref': '#/components/schemas/Error'}}}}
    return {status: ok, 'default': error}


def _schema_name(resource):
    return ''.join(p.capitalize() for p in
                   re.split(r'[_ ]', resource.singular))


def _parameters(handler, method, template):
    params = [{'$ref': '#/components/parameters/ApiVersion'}]
    for name in _PARAM_RE.findall(template):
        params.append({'name': name, 'in': 'path', 'required': True,
                       'schema': {'type': 'string'}})
    resource = getattr(handler, 'resource', None)
    if method == 'GET' and resource is not None and \
            not _PARAM_RE.search(template.rsplit('/', 1)[-1]):
        names = [n for n, _ in _LIST_QUERY] + sorted(resource.filters)
        for name in names:
            params.append({'name': name, 'in': 'query', 'required': False,
                           'schema': _QUERY_SCHEMAS.get(
                               name, {'type': 'string'})})
    for name, schema in sorted(getattr(handler, 'query', {}).items()):
        params.append({'name': name, 'in': 'query', 'required': False,
                       'schema': schema})
    return params


def _operation(method, template, handler):
    doc = (handler.__doc__ or '').strip().split('\n')[0]
    op = {'operationId': _operation_id(method, template),
          'parameters': _parameters(handler, method, template),
          'responses': _responses(handler, method, template)}
    if doc:
        op['summary'] = doc
    since = getattr(handler, 'min_version', None)
    if since:
        op['x-openstack-min-version'] = '1.%d' % since
    schema = getattr(handler, 'request_schema', None)
    if schema is not None:
        op['requestBody'] = {
            'required': True,
            'content': {'application/json': {
                'schema': copy.deepcopy(schema)}}}
    return op


def generate(router):
    paths = {}
    schemas = {'Error': _ERROR}
    for method, template, handler in router.routes:
        if template.startswith('/openapi'):
            continue
        entry = paths.setdefault(template.rstrip('/') or '/', {})
        entry[method.lower()] = _operation(method, template, handler)
        resource = getattr(handler, 'resource', None)
        if resource is not None:
            schemas[_schema_name(resource)] = _item_schema(resource)
    return {
        'openapi': '3.1.0',
        'info': {
            'title': 'bootflow bare metal API',
            'version': microversion.fmt(wsgi.MAX_VERSION),
            'description': 'OpenStack Ironic API v1, microversions %s to '
                           '%s.' % (microversion.fmt(wsgi.MIN_VERSION),
                                    microversion.fmt(wsgi.MAX_VERSION)),
        },
        'paths': dict(sorted(paths.items())),
        'components': {
            'schemas': dict(sorted(schemas.items())),
            'parameters': {'ApiVersion': _VERSION_PARAM},
        },
    }


def dumps(document):
    return json.dumps(document, indent=1, sort_keys=True) + '\n'


def register(router):
    """Serve the document at ``/openapi.json``; built once, on first use,
    from the same router that serves the API."""
    cache = {}

    def openapi_document(req):
        """This API's OpenAPI 3.1 description."""
        if 'doc' not in cache:
            cache['doc'] = generate(router)
        return cache['doc']
    router.add('GET', '/openapi.json', openapi_document)


def main():
    from bootflow.api import app
    from bootflow.conf import CONF
    CONF([], project='bootflow', default_config_files=[])
    sys.stdout.write(dumps(generate(app.build_router())))


if __name__ == '__main__':
    main()
