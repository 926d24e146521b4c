"""Allocations in the database: rows as dicts, like bootflow.db.api.

The operations that touch a node as well as an allocation — claiming a
node, releasing it, a node update ending its allocation — each run in one
write transaction that locks the node row before the allocation row, so
a node never points at an allocation that does not point back at it.

The order matters on PostgreSQL: setting ``allocations.node_id`` takes a
key-share lock on the node (the foreign key), and changing the node's
``instance_uuid`` (a unique column) needs a lock that conflicts with it;
claims that each wrote their allocation first deadlock on a shared
candidate, and under load keep deadlocking on every retry.
"""

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from oslo_utils import uuidutils

from bootflow.common import exception
from bootflow.common import states
from bootflow.db import api as db_api
from bootflow.db import models

ALLOCATIONS = models.Allocation.__table__
NODES = db_api.NODES
TRAITS = db_api.TRAITS

ALLOCATING = 'allocating'
ACTIVE = 'active'
ERROR = 'error'
STATES = (ALLOCATING, ACTIVE, ERROR)

_JSON_DEFAULTS = {'extra': dict, 'traits': list}


class ClaimLost(Exception):
    """The node no longer qualified when the claim ran."""


class AllocationGone(Exception):
    """The allocation was deleted or finished by someone else meanwhile."""


def not_found(ident):
    return exception.NotFound('Allocation %s could not be found.' % ident)


def _where(ident):
    c = ALLOCATIONS.c
    if isinstance(ident, int):
        return c.id == ident
    if uuidutils.is_uuid_like(ident):
        return c.uuid == ident
    return c.name == ident


def _decode(row):
    result = dict(row)
    for key, factory in _JSON_DEFAULTS.items():
        if result.get(key) is None:
            result[key] = factory()
    return result


def get(ident):
    """An allocation by id, UUID or name."""
    with db_api.reader() as conn:
        row = conn.execute(sa.select(ALLOCATIONS).where(_where(ident))
                           ).mappings().first()
    if row is None:
        raise not_found(ident)
    return _decode(row)


def get_for_node(node_id):
    """The allocation holding a node, or None."""
    with db_api.reader() as conn:
        row = conn.execute(sa.select(ALLOCATIONS).where(
            ALLOCATIONS.c.node_id == node_id).order_by(ALLOCATIONS.c.id)
        ).mappings().first()
    return None if row is None else _decode(row)


def list_allocations(filters=None, limit=None, marker=None, sort_key='id',
                     sort_dir='asc'):
    """``filters`` keys: node_id, resource_class, state, owner."""
    query = sa.select(ALLOCATIONS)
    for key, value in (filters or {}).items():
        if value is not None:
            query = query.where(ALLOCATIONS.c[key] == value)
    with db_api.reader() as conn:
        marker_row = None
        if marker is not None:
            marker_row = conn.execute(
                sa.select(ALLOCATIONS.c.id, ALLOCATIONS.c[sort_key]).where(
                    _where(marker))).mappings().first()
            if marker_row is None:
                raise not_found(marker)
        query = db_api._paginate(query, ALLOCATIONS, limit, marker_row,
                                 sort_key, sort_dir)
        return [_decode(r) for r in conn.execute(query).mappings()]


def uuids_by_id(allocation_ids):
    """Map allocation id -> UUID, for rendering a page of nodes."""
    if not allocation_ids:
        return {}
    with db_api.reader() as conn:
        rows = conn.execute(sa.select(ALLOCATIONS.c.id, ALLOCATIONS.c.uuid)
                            .where(ALLOCATIONS.c.id.in_(list(allocation_ids))))
        return {r.id: r.uuid for r in rows}


def _integrity(e, values):
    text = str(e.orig).lower()
    if 'name' in text:
        return exception.Conflict('An allocation with name %s already '
                                  'exists.' % values.get('name'))
    if 'foreign key' in text or 'node_id' in text:
        return exception.NodeNotFound(node=values.get('node_id'))
    return exception.Conflict('An allocation with UUID %s already exists.'
                              % values.get('uuid'))


@db_api.retry
def create(values):
    values = dict(values)
    values.setdefault('uuid', uuidutils.generate_uuid())
    values.setdefault('state', ALLOCATING)
    values.setdefault('created_at', db_api.utcnow())
    for key, factory in _JSON_DEFAULTS.items():
        if values.get(key) is None:
            values[key] = factory()
    try:
        with db_api.writer() as conn:
            row = conn.execute(ALLOCATIONS.insert().values(**values)
                               .returning(ALLOCATIONS)).mappings().first()
    except sa_exc.IntegrityError as e:
        raise _integrity(e, values)
    return _decode(row)


@db_api.retry
def update(allocation_id, values):
    """Change plain fields (name, extra); never state or node."""
    values = dict(values, updated_at=db_api.utcnow())
    try:
        with db_api.writer() as conn:
            row = conn.execute(
                ALLOCATIONS.update().where(ALLOCATIONS.c.id == allocation_id)
                .values(**values).returning(ALLOCATIONS)).mappings().first()
    except sa_exc.IntegrityError as e:
        raise _integrity(e, values)
    if row is None:
        raise not_found(allocation_id)
    return _decode(row)


@db_api.retry
def fail(allocation_id, reason):
    """Move a still-unfinished allocation to ``error``; False if it was
    already finished or deleted (nothing to fail any more)."""
    with db_api.writer() as conn:
        count = conn.execute(
            ALLOCATIONS.update()
            .where(ALLOCATIONS.c.id == allocation_id,
                   ALLOCATIONS.c.state == ALLOCATING)
            .values(state=ERROR, last_error=str(reason), node_id=None,
                    updated_at=db_api.utcnow())).rowcount
    return count > 0


@db_api.retry
def delete_unprocessed(allocation_id):
    """Forget an allocation no conductor ever started on."""
    with db_api.writer() as conn:
        conn.execute(ALLOCATIONS.delete().where(
            ALLOCATIONS.c.id == allocation_id,
            ALLOCATIONS.c.state == ALLOCATING))


# -- claiming a node -------------------------------------------------------

def _claim_conditions(allocation, node_id, backfill):
    """What must still hold of the node at the instant it is claimed."""
    c = NODES.c
    conds = [c.id == node_id, c.allocation_id.is_(None),
             c.reservation.is_(None)]
    if backfill:
        conds += [c.provision_state == states.ACTIVE,
                  sa.or_(c.instance_uuid.is_(None),
                         c.instance_uuid == allocation['uuid'])]
    else:
        conds += [c.instance_uuid.is_(None),
                  c.provision_state == states.AVAILABLE,
                  c.maintenance == sa.false(),
                  c.power_state.isnot(None)]
    if allocation.get('resource_class'):
        conds.append(c.resource_class == allocation['resource_class'])
    if allocation.get('owner') and not backfill:
        conds.append(sa.or_(c.owner == allocation['owner'],
                            c.lessee == allocation['owner']))
    for trait in allocation.get('traits') or ():
        conds.append(sa.exists().where(TRAITS.c.node_id == c.id,
                                       TRAITS.c.trait == trait))
    return conds


@db_api.retry
def claim(allocation, node_id, backfill=False):
    """Give ``node_id`` to the allocation, or raise.

    One transaction: the node is taken with a compare-and-swap whose WHERE
    restates every reason it was chosen (ClaimLost if any stopped
    holding), then the allocation moves from ``allocating`` to ``active``
    (AllocationGone, undoing the node's part, if it no longer is
    allocating). Concurrent claims of one node queue on its row and only
    the first matches. As in Ironic, the node's instance_uuid becomes the
    allocation's UUID and its instance_info records the requested traits.
    """
    now = db_api.utcnow()
    with db_api.writer() as conn:
        taken = conn.execute(
            NODES.update()
            .where(*_claim_conditions(allocation, node_id, backfill))
            .values(allocation_id=allocation['id'],
                    instance_uuid=allocation['uuid'], updated_at=now)
        ).rowcount
        if not taken:
            raise ClaimLost()
        moved = conn.execute(
            ALLOCATIONS.update()
            .where(ALLOCATIONS.c.id == allocation['id'],
                   ALLOCATIONS.c.state == ALLOCATING)
            .values(state=ACTIVE, node_id=node_id, last_error=None,
                    updated_at=now)).rowcount
        if not moved:
            raise AllocationGone()   # rolls the node's claim back too
        info = conn.execute(sa.select(NODES.c.instance_info).where(
            NODES.c.id == node_id)).scalar()
        info = dict(info or {}, traits=list(allocation.get('traits') or []))
        conn.execute(NODES.update().where(NODES.c.id == node_id)
                     .values(instance_info=info))


# -- releasing a node ------------------------------------------------------

def verify_node_for_deallocation(node, allocation_uuid):
    """Ironic's rule for when a node may lose its allocation: always in
    maintenance; never while active or in the middle of an operation that
    forbids updates (409)."""
    if node['maintenance']:
        return
    if node['target_provision_state'] and \
            node['provision_state'] not in states.UPDATE_ALLOWED_STATES:
        raise exception.InvalidStateForOperation(
            err='Cannot remove allocation %s for node %s, because the node '
                'is in state %s where updates are not allowed (and '
                'maintenance mode is off)'
                % (allocation_uuid, node['uuid'], node['provision_state']))
    if node['provision_state'] == states.ACTIVE:
        raise exception.InvalidStateForOperation(
            err='Cannot remove allocation %s for node %s, because the node '
                'is active (and maintenance mode is off)'
                % (allocation_uuid, node['uuid']))


def _lock_node(conn, node_id):
    if node_id is None:
        return None
    return conn.execute(sa.select(NODES).where(NODES.c.id == node_id)
                        .with_for_update()).mappings().first()


@db_api.retry
def destroy(allocation_id):
    """Delete the allocation and free its node, checking the node first.

    The node row is locked before the allocation's, the order ``claim``
    and node updates use; should a claim land between the two reads, its
    node is locked as well (a deadlock there is detected and retried).
    The node is freed by its allocation_id, not by what was read.
    """
    with db_api.writer() as conn:
        found = conn.execute(sa.select(ALLOCATIONS.c.node_id).where(
            ALLOCATIONS.c.id == allocation_id)).first()
        if found is None:
            raise not_found(allocation_id)
        node = _lock_node(conn, found.node_id)
        row = conn.execute(
            sa.select(ALLOCATIONS).where(ALLOCATIONS.c.id == allocation_id)
            .with_for_update()).mappings().first()
        if row is None:
            raise not_found(allocation_id)
        if row['node_id'] != found.node_id:
            node = _lock_node(conn, row['node_id'])
        if node is not None:
            verify_node_for_deallocation(node, row['uuid'])
        conn.execute(ALLOCATIONS.delete().where(
            ALLOCATIONS.c.id == allocation_id))
        conn.execute(
            NODES.update().where(NODES.c.allocation_id == allocation_id)
            .values(allocation_id=None, instance_uuid=None,
                    updated_at=db_api.utcnow()))


# -- nodes as the API names them -------------------------------------------

def resolve_nodes(idents):
    """Map node names/UUIDs to UUIDs; NodeNotFound (400) names the missing.

    Ironic answers 400, not 404: the request body is what is wrong.
    """
    wanted = set(idents)
    uuids = {i for i in wanted if uuidutils.is_uuid_like(i)}
    names = wanted - uuids
    mapping = {}
    if wanted:
        with db_api.reader() as conn:
            rows = conn.execute(sa.select(NODES.c.uuid, NODES.c.name).where(
                sa.or_(NODES.c.uuid.in_(list(uuids)),
                       NODES.c.name.in_(list(names)))))
            for uuid, name in rows:
                if uuid in wanted:
                    mapping[uuid] = uuid
                if name in wanted:
                    mapping[name] = uuid
    missing = sorted(wanted - set(mapping))
    if missing:
        raise exception.NodeNotFound('Nodes cannot be found: %s'
                                     % ', '.join(missing), code=400)
    return mapping
