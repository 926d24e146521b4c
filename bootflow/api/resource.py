"""Declarative collections: one description, every verb, every version.

Most of Ironic's v1 resources (chassis, portgroups, volume connectors and
targets, deploy templates, runbooks, inspection rules) follow one pattern:
list (plain and ``/detail``), show, create, JSON-patch, delete, with
``fields=``, ``limit``/``marker``, ``sort_key``/``sort_dir`` and a few
filters, each field appearing from the microversion that introduced it.
Writing that pattern once keeps the per-version rules identical everywhere
and gives the OpenAPI generator a single source: the JSON schemas declared
here are the ones requests are validated against.
"""

import copy

from oslo_utils import uuidutils

from bootflow.api import collection
from bootflow.api import jsonpatch
from bootflow.api import validation
from bootflow.api import wsgi
from bootflow.common import exception
from bootflow.db import resources as db

READ_ONLY = ('uuid', 'created_at', 'updated_at', 'links')


class Ref:
    """A field shown as another row's UUID but stored as its id.

    ``lookup(req, ident)`` returns the referenced row (raising its 404);
    ``table`` turns stored ids back into UUIDs when rendering a page.
    """

    def __init__(self, column, table, lookup):
        self.column = column
        self.table = table
        self.lookup = lookup


class Resource:
    """One collection of the API.

    ``fields`` is the resource's entry of the version table
    (``versions.py``): ``(name, minor)`` pairs. ``schemas`` gives each
    field's JSON schema; writable fields are those with a schema that are
    not read-only. Hooks let a resource add what is special about it:
    ``prepare(req, values, row)`` checks and completes values before a
    write (``row`` is None on create), ``extra_render(req, rows, docs)``
    fills computed fields, ``before_delete(req, row)`` refuses deletions.
    """

    def __init__(self, name, table, fields, schemas, *, since=1,
                 singular=None, list_fields=('uuid', 'links'), required=(),
                 read_only=READ_ONLY, filters=None, sort_excluded=(),
                 by_name=None, refs=None, sublinks=None, not_found=None,
                 conflict=None, prepare=None, extra_render=None,
                 before_delete=None, defaults=None, computed=(),
                 sanitize=None, old_write_code=404, key=None,
                 detail_since=43, detail_route=True, after_update=None):
        self.name = name
        # the list body's key: 'targets' for 'volume/targets'
        self.key = key or name
        # Ironic took ?detail= at 1.43, except where a resource had it
        # from its start (volume connectors and targets, 1.32), which also
        # have no /detail route
        self.detail_since = detail_since
        self.detail_route = detail_route
        # ``after_update(req, row, changes)`` carries a change over to
        # other rows once the resource's own row is written
        self.after_update = after_update
        self.singular = singular or name
        self.table = table
        self.fields = tuple(fields)
        self.field_since = dict(self.fields)
        self.schemas = schemas
        self.since = since
        self.list_fields = tuple(list_fields)
        self.required = tuple(required)
        self.read_only = set(read_only) | set(computed)
        self.filters = filters or {}
        self.sort_excluded = set(sort_excluded) | set(computed)
        self.by_name = by_name
        self.refs = refs or {}
        self.sublinks = sublinks or {}
        self.not_found = not_found or (
            lambda ident: exception.NotFound(
                '%s %s could not be found.' % (self.singular, ident)))
        self.conflict = conflict or (lambda text, values: None)
        self.prepare = prepare
        self.extra_render = extra_render
        self.before_delete = before_delete
        self.defaults = defaults or {}
        self.computed = set(computed)
        # ``sanitize(req, row, doc)`` hides secrets in what is sent back
        # but not in the document a PATCH is applied to, so a patch can
        # still reach inside a masked value.
        self.sanitize = sanitize
        # Ironic answers writes below a collection's version with 405 for
        # some collections (GET stays 404).
        self.old_write_code = old_write_code
        self.json_fields = {f for f, s in schemas.items()
                            if _types(s) & {'object'} and
                            not _types(s) & {'array'}}

    # -- versions -----------------------------------------------------------

    def visible(self, req):
        return [f for f, since in self.fields if req.allows(since)]

    def writable(self, req):
        return [f for f in self.visible(req)
                if f in self.schemas and f not in self.read_only
                or f == 'uuid']

    def create_schema(self, req):
        """What a POST may contain at the request's version."""
        props = {f: self.schemas[f] for f in self.writable(req)
                 if f in self.schemas}
        return {'type': 'object', 'properties': props,
                'required': [f for f in self.required if f in props],
                'additionalProperties': False}

    def full_create_schema(self):
        """The create schema at the newest version, for OpenAPI."""
        return self.create_schema(_Latest())

    def _check_versioned(self, req, keys):
        for key in keys:
            since = self.field_since.get(key)
            if since is not None and not req.allows(since):
                raise exception.FieldNotAcceptable(
                    'Field %s of %s requires API version 1.%d or later.'
                    % (key, self.singular, since))

    # -- lookups ------------------------------------------------------------

    def get(self, req, ident):
        req.require_version(self.since)
        by_name = self.by_name is not None and req.allows(self.by_name)
        if not by_name and not uuidutils.is_uuid_like(ident):
            raise self.not_found(ident)
        return db.get(self.table, ident, self.not_found, by_name=by_name)

    # -- rendering ----------------------------------------------------------

    def render(self, req, rows, fields, sanitize=True):
        base = collection.base_url(req)
        ref_uuids = {
            name: db.uuids_by_id(ref.table, [r[ref.column] for r in rows])
            for name, ref in self.refs.items() if name in fields}
        docs = []
        for row in rows:
            doc = {}
            for field in fields:
                if field == 'links':
                    doc['links'] = collection.links(base, self.name,
                                                    row['uuid'])
                elif field in self.sublinks:
                    doc[field] = collection.links(
                        base, self.name, row['uuid'], '/' + field)
                elif field in ref_uuids:
                    doc[field] = ref_uuids[field].get(
                        row[self.refs[field].column])
                elif field in ('created_at', 'updated_at'):
                    doc[field] = collection.isotime(row[field])
                elif field in self.computed:
                    continue
                elif field in self.json_fields and row[field] is None:
                    doc[field] = {}
                else:
                    doc[field] = row[field]
            docs.append(doc)
        if self.extra_render is not None:
            self.extra_render(req, rows, docs, fields)
        if sanitize and self.sanitize is not None:
            for row, doc in zip(rows, docs):
                self.sanitize(req, row, doc)
        return docs

    def _fields(self, req, detail):
        visible = self.visible(req)
        if req.GET.get('fields') and req.allows(8):
            # asking for a field the version does not know is a version
            # mismatch (406), as in Ironic, not a typo (400)
            self._check_versioned(req, [
                f.strip() for f in req.GET['fields'].split(',')])
        requested = collection.parse_fields(req, visible)
        if requested:
            return requested + ([] if 'links' in requested else ['links'])
        if detail:
            return visible
        return [f for f in self.list_fields if f in visible]

    # -- verbs --------------------------------------------------------------

    def _where(self, req, parent_clauses):
        clauses = list(parent_clauses)
        for param, (since, build) in self.filters.items():
            value = req.GET.get(param)
            if value is None:
                continue
            if not req.allows(since):
                raise exception.FieldNotAcceptable(
                    'Filtering by %s requires API version 1.%d or later.'
                    % (param, since))
            clause = build(req, value)
            if clause is not None:
                clauses.append(clause)
        return clauses

    def list(self, req, detail=False, parent_clauses=(), path=None):
        req.require_version(self.since)
        if req.GET.get('detail') is not None:
            if not req.allows(self.detail_since):
                raise exception.FieldNotAcceptable(
                    'The detail parameter requires API version 1.%d'
                    % self.detail_since)
            detail = collection.parse_bool('detail', req.GET['detail'])
        if detail and 'fields' in req.GET:
            raise exception.InvalidParameterValue(
                err="Can not specify ?detail=True and fields in the same "
                    "request.")
        fields = self._fields(req, detail)
        if 'sort_key' in req.GET:
            self._check_versioned(req, [req.GET['sort_key']])
        limit = collection.parse_limit(req)
        sortable = set(self.visible(req)) - self.sort_excluded - \
            self.json_fields - set(self.refs) - set(self.sublinks)
        sort_key, sort_dir = collection.parse_sort(req, sortable)
        rows = db.list_rows(
            self.table, self._where(req, parent_clauses), limit=limit,
            marker=req.GET.get('marker'), sort_key=sort_key,
            sort_dir=sort_dir, not_found=self.not_found,
            by_name=self.by_name is not None and req.allows(self.by_name))
        body = {self.key: self.render(req, rows, fields)}
        nxt = collection.next_link(
            req, path or (self.name + ('/detail' if detail and
                                       'detail' not in req.GET else '')),
            rows, limit)
        if nxt:
            body['next'] = nxt
        return body

    def show(self, req, ident):
        row = self.get(req, ident)
        return self.render(req, [row], self._fields(req, True))[0]

    def _resolve_refs(self, req, values):
        for name, ref in self.refs.items():
            if name in values:
                ident = values.pop(name)
                values[ref.column] = (None if ident is None else
                                      ref.lookup(req, ident)['id'])
        return values

    def _check_write_version(self, req):
        if self.old_write_code != 404 and not req.allows(self.since):
            raise exception.BootflowException(
                'The API version does not allow %s' % self.name,
                code=self.old_write_code)

    def create(self, req):
        self._check_write_version(req)
        req.require_version(self.since)
        body = req.json_body_or_error()
        if not isinstance(body, dict):
            validation.validate({'type': 'object'}, body)
        self._check_versioned(req, body)
        validation.validate(self.create_schema(req), body)
        values = dict(copy.deepcopy(self.defaults), **body)
        values = {k: v for k, v in values.items()
                  if k in self.schemas or k == 'uuid'}
        if values.get('uuid', '') is None:
            # "uuid": null asks for a generated one
            del values['uuid']
        if self.prepare is not None:
            self.prepare(req, values, None)
        self._resolve_refs(req, values)
        row = db.create(self.table, values, self.conflict)
        doc = self.render(req, [row], self.visible(req))[0]
        return wsgi.Response(doc, 201, {
            'Location': '%s/v1/%s/%s' % (collection.base_url(req),
                                         self.name, row['uuid'])})

    def update(self, req, ident):
        self._check_write_version(req)
        row = self.get(req, ident)
        patch = req.json_body_or_error()
        validation.validate(validation.JSON_PATCH, patch)
        paths = jsonpatch.patch_paths(patch)
        self._check_versioned(req, paths)
        visible = self.visible(req)
        doc = self.render(req, [row], visible, sanitize=False)[0]
        new = jsonpatch.apply_patch(
            doc, patch, internal={'uuid', 'links'} | set(self.sublinks),
            readonly=self.read_only - {'uuid', 'links'},
            mandatory=self.required)
        writable = [f for f in self.writable(req) if f != 'uuid']
        changes = {k: new.get(k) for k in writable if new.get(k) != doc.get(k)}
        validation.validate(
            {'type': 'object',
             'properties': {f: self.schemas[f] for f in writable},
             'additionalProperties': False}, changes)
        if not changes:
            return self.render(req, [row], visible)[0]
        if self.prepare is not None:
            self.prepare(req, changes, row)
        self._resolve_refs(req, changes)
        updated = db.update(self.table, row['id'], changes, self.conflict,
                            self.not_found)
        if self.after_update is not None:
            self.after_update(req, updated, changes)
        return self.render(req, [updated], visible)[0]

    def delete(self, req, ident):
        self._check_write_version(req)
        row = self.get(req, ident)
        if self.before_delete is not None:
            self.before_delete(req, row)
        db.destroy(self.table, row['id'], self.not_found)
        return wsgi.Response(None, 204)

    # -- routes -------------------------------------------------------------

    def register(self, router):
        """The standard routes, each handler labelled for OpenAPI."""
        base = '/v1/' + self.name
        ident = '{%s_ident}' % self.singular.replace(' ', '_')
        key = ident.strip('{}')
        routes = (
            ('GET', base, lambda req: self.list(req), None, 200),
            ('GET', base + '/detail',
             lambda req: self.list(req, detail=True), None, 200),
            ('POST', base, self.create, self.full_create_schema(), 201),
            ('GET', base + '/' + ident,
             lambda req, **kw: self.show(req, kw[key]), None, 200),
            ('PATCH', base + '/' + ident,
             lambda req, **kw: self.update(req, kw[key]),
             validation.JSON_PATCH, 200),
            ('DELETE', base + '/' + ident,
             lambda req, **kw: self.delete(req, kw[key]), None, 204),
        )
        for method, path, handler, schema, status in routes:
            if path.endswith('/detail') and not self.detail_route:
                continue
            router.add(method, path, label(
                handler, resource=self, request_schema=schema,
                min_version=self.since, status=status))


def label(handler, **attrs):
    """Attach what the OpenAPI generator reads (request schema, minimum
    version, success status, resource) without changing the handler."""
    def wrapped(req, **kw):
        return handler(req, **kw)
    wrapped.__doc__ = handler.__doc__
    wrapped.__name__ = getattr(handler, '__name__', 'handler')
    for name, value in attrs.items():
        setattr(wrapped, name, value)
    return wrapped


def _types(schema):
    kind = schema.get('type')
    if kind is None:
        return set()
    return {kind} if isinstance(kind, str) else set(kind)


class _Latest:
    """Stands in for a request at the newest version."""

    version = wsgi.MAX_VERSION

    def allows(self, minor):
        return True
