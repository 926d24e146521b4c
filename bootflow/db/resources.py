"""Generic row access for the API's simple collections.

Chassis, portgroups, volume connectors and targets, deploy templates,
runbooks and inspection rules are plain rows looked up by id, UUID or name;
one set of functions serves them all, so each resource only states what
makes it different (its table, its unique columns, its conflict wording).
Nodes and ports keep their own tuned functions in ``db.api``.
"""

import sqlalchemy as sa
from oslo_utils import uuidutils
from sqlalchemy import exc as sa_exc

from bootflow.common import exception
from bootflow.db import api as db_api

reader = db_api.reader
writer = db_api.writer


def _where(table, ident, by_name):
    if isinstance(ident, int):
        return table.c.id == ident
    if uuidutils.is_uuid_like(ident) or not by_name:
        return table.c.uuid == ident
    return table.c.name == ident


def get(table, ident, not_found, by_name=False):
    """The row for an id, a UUID or (where ``by_name``) a name."""
    with reader() as conn:
        row = conn.execute(sa.select(table).where(
            _where(table, ident, by_name))).mappings().first()
    if row is None:
        raise not_found(ident)
    return dict(row)


def list_rows(table, where=(), limit=None, marker=None, sort_key='id',
              sort_dir='asc', not_found=None, by_name=False):
    """One page of rows matching every expression in ``where``.

    The marker is a UUID (or name) like everywhere in the API; an unknown
    marker is the client's error, answered as the resource's 404.
    """
    query = sa.select(table)
    for clause in where:
        query = query.where(clause)
    with reader() as conn:
        marker_row = None
        if marker is not None:
            marker_row = conn.execute(
                sa.select(table.c.id, table.c[sort_key]).where(
                    _where(table, marker, by_name))).mappings().first()
            if marker_row is None:
                raise not_found(marker)
        query = db_api._paginate(query, table, limit, marker_row, sort_key,
                                 sort_dir)
        return db_api._dicts(conn.execute(query))


def _integrity(error, values, conflict):
    """Turn a constraint violation into the resource's own error.

    ``conflict(text, values)`` raises (e.g. "already exists" naming the
    column); a broken foreign key means the parent is gone.
    """
    text = str(error.orig).lower()
    if 'foreign key' in text:
        raise exception.NodeNotFound(node=values.get('node_id'))
    conflict(text, values)
    raise exception.Conflict('Resource already exists.')


@db_api.retry
def create(table, values, conflict):
    values = dict(values)
    values.setdefault('uuid', uuidutils.generate_uuid())
    values.setdefault('created_at', db_api.utcnow())
    try:
        with writer() as conn:
            row = conn.execute(table.insert().values(**values)
                               .returning(table)).mappings().first()
    except sa_exc.IntegrityError as e:
        _integrity(e, values, conflict)
    return dict(row)


@db_api.retry
def update(table, row_id, values, conflict, not_found):
    values = dict(values, updated_at=db_api.utcnow())
    try:
        with writer() as conn:
            row = conn.execute(table.update().where(table.c.id == row_id)
                               .values(**values).returning(table)
                               ).mappings().first()
    except sa_exc.IntegrityError as e:
        _integrity(e, values, conflict)
    if row is None:
        raise not_found(row_id)
    return dict(row)


@db_api.retry
def destroy(table, row_id, not_found):
    with writer() as conn:
        count = conn.execute(table.delete().where(table.c.id == row_id)
                             ).rowcount
    if not count:
        raise not_found(row_id)


def count(table, *where):
    with reader() as conn:
        query = sa.select(sa.func.count()).select_from(table)
        for clause in where:
            query = query.where(clause)
        return conn.execute(query).scalar()


def uuids_by_id(table, ids):
    """id -> uuid for rows referenced from a page (one query per page)."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    with reader() as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.uuid).where(
            table.c.id.in_(list(ids))))
        return {r.id: r.uuid for r in rows}
