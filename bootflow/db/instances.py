"""Instances (bootflow's launch requests) in the database, as dicts."""

import sqlalchemy as sa
from oslo_utils import uuidutils
from sqlalchemy import exc as sa_exc

from bootflow.common import exception
from bootflow.db import api as db_api
from bootflow.db import models

INSTANCES = models.Instance.__table__

BUILDING = 'building'
ACTIVE = 'active'
ERROR = 'error'
DELETING = 'deleting'
STATES = (BUILDING, ACTIVE, ERROR, DELETING)


def _where(ident):
    if isinstance(ident, int):
        return INSTANCES.c.id == ident
    if uuidutils.is_uuid_like(ident):
        return INSTANCES.c.uuid == ident
    return INSTANCES.c.name == ident


@db_api.retry
def create(values):
    values = dict(values)
    values.setdefault('uuid', uuidutils.generate_uuid())
    values.setdefault('state', BUILDING)
    values.setdefault('attempts', 0)
    now = db_api.utcnow()
    values.update(created_at=now, updated_at=now)
    try:
        with db_api.writer() as conn:
            conn.execute(INSTANCES.insert().values(**values))
    except sa_exc.IntegrityError:
        raise exception.InstanceNameExists(name=values.get('name'))
    return get(values['uuid'])


def get(ident):
    with db_api.reader() as conn:
        row = conn.execute(sa.select(INSTANCES).where(_where(ident))
                           ).mappings().first()
    if row is None:
        raise exception.InstanceNotFound(instance=ident)
    return dict(row)


def list_instances(states=None, limit=None, marker_id=None):
    query = sa.select(INSTANCES).order_by(INSTANCES.c.id)
    if states:
        query = query.where(INSTANCES.c.state.in_(list(states)))
    if marker_id:
        query = query.where(INSTANCES.c.id > marker_id)
    if limit:
        query = query.limit(limit)
    with db_api.reader() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


_ANY = object()


@db_api.retry
def update(ident, values, expect_conductor=_ANY):
    """Update; with ``expect_conductor`` (a host or None), only if the
    instance is still run by that conductor (a take-over is a
    compare-and-swap). Returns whether a row changed."""
    query = INSTANCES.update().where(_where(ident))
    if expect_conductor is None:
        query = query.where(INSTANCES.c.conductor.is_(None))
    elif expect_conductor is not _ANY:
        query = query.where(INSTANCES.c.conductor == expect_conductor)
    values = dict(values, updated_at=db_api.utcnow())
    with db_api.writer() as conn:
        return conn.execute(query.values(**values)).rowcount > 0


@db_api.retry
def delete(ident):
    with db_api.writer() as conn:
        conn.execute(INSTANCES.delete().where(_where(ident)))
