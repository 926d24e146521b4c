"""Database access: plain functions over SQLAlchemy Core returning dicts.

Rows travel as dicts so the API can serialise them without an object layer
in between; the conductor wraps them in :class:`bootflow.db.records.Record`
when it needs change tracking.
"""

import datetime

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from oslo_utils import uuidutils

from bootflow.common import exception
from bootflow.db import engine as db_engine
from bootflow.db import models

NODES = models.Node.__table__
PORTS = models.Port.__table__
TRAITS = models.NodeTrait.__table__
CONDUCTORS = models.Conductor.__table__
ALLOCATIONS = models.Allocation.__table__

reader = db_engine.reader
writer = db_engine.writer
retry = db_engine.retry_on_conflict


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _dicts(result):
    keys = list(result.keys())
    return [dict(zip(keys, row)) for row in result]


def _node_where(ident):
    if isinstance(ident, int):
        return NODES.c.id == ident
    if uuidutils.is_uuid_like(ident):
        return NODES.c.uuid == ident
    return NODES.c.name == ident


# -- nodes -----------------------------------------------------------------

def get_node(ident, columns=None):
    cols = [NODES.c[c] for c in columns] if columns else [NODES]
    with reader() as conn:
        row = conn.execute(sa.select(*cols).where(_node_where(ident))
                           ).mappings().first()
    if row is None:
        raise exception.NodeNotFound(node=ident)
    return dict(row)


def _apply_node_filters(query, filters):
    c = NODES.c
    for key, value in (filters or {}).items():
        if value is None:
            continue
        if key == 'associated':
            query = query.where(c.instance_uuid.isnot(None) if value
                                else c.instance_uuid.is_(None))
        elif key == 'reserved':
            query = query.where(c.reservation.isnot(None) if value
                                else c.reservation.is_(None))
        elif key == 'reserved_by_any_of':
            query = query.where(c.reservation.in_(value))
        elif key in ('provision_state', 'driver', 'resource_class',
                     'conductor_group', 'owner', 'lessee', 'fault',
                     'shard', 'parent_node', 'instance_name', 'chassis_uuid',
                     'description_contains', 'instance_uuid',
                     'maintenance', 'retired', 'conductor_affinity'):
            if key == 'description_contains':
                query = query.where(c.description.contains(value))
            elif isinstance(value, (list, tuple, set)):
                query = query.where(c[key].in_(list(value)))
            elif key == 'conductor_group':
                query = query.where(sa.func.lower(c.conductor_group)
                                    == value.lower())
            else:
                query = query.where(c[key] == value)
        elif key == 'sharded':
            query = query.where(c.shard.isnot(None) if value
                                else c.shard.is_(None))
        elif key == 'children':
            # False lists only nodes that have no parent
            if not value:
                query = query.where(c.parent_node.is_(None))
        elif key == 'provision_state_in':
            query = query.where(c.provision_state.in_(list(value)))
        elif key == 'uuid_in':
            query = query.where(c.uuid.in_(list(value)))
        elif key == 'project':
            query = query.where(sa.or_(c.owner == value, c.lessee == value))
        elif key == 'provisioned_before':
            query = query.where(c.provision_updated_at < value)
        else:
            raise ValueError('unknown node filter %s' % key)
    return query


def _paginate(query, table, limit, marker_row, sort_key, sort_dir):
    sort_col = table.c[sort_key]
    order = sa.desc if sort_dir == 'desc' else sa.asc
    if marker_row is not None:
        mval = marker_row[sort_key]
        cmp = (sort_col < mval) if sort_dir == 'desc' else (sort_col > mval)
        if sort_key == 'id':
            query = query.where(cmp)
        else:
            tie = (table.c.id < marker_row['id'] if sort_dir == 'desc'
                   else table.c.id > marker_row['id'])
            if mval is None:
                # NULLs sort first ascending in SQLite, last in PostgreSQL;
                # keep it simple and exact for non-null markers only.
                query = query.where(sa.or_(sort_col.isnot(None), tie))
            else:
                query = query.where(sa.or_(cmp, sa.and_(sort_col == mval,
                                                        tie)))
    query = query.order_by(order(sort_col))
    if sort_key != 'id':
        query = query.order_by(order(table.c.id))
    if limit:
        query = query.limit(limit)
    return query


def _undecoded(column):
    """The column as the database stores it: JSON and timestamps come back
    as text on SQLite (decoding 10,000 of them only to encode them again
    dominates a node list); PostgreSQL's driver still decodes them."""
    if isinstance(column.type, (sa.JSON, sa.DateTime)):
        return sa.type_coerce(column, sa.String).label(column.name)
    return column


def list_nodes(filters=None, limit=None, marker=None, sort_key='id',
               sort_dir='asc', columns=None, undecoded=False):
    """Nodes as dicts. ``columns`` limits what is read (faster lists);
    ``undecoded`` leaves JSON and timestamps as stored (see _undecoded)."""
    cols = [NODES.c[c] for c in columns] if columns else list(NODES.c)
    if undecoded:
        cols = [_undecoded(c) for c in cols]
    with reader() as conn:
        marker_row = None
        if marker is not None:
            marker_row = conn.execute(
                sa.select(NODES.c.id, NODES.c[sort_key]).where(
                    _node_where(marker))).mappings().first()
            if marker_row is None:
                raise exception.NodeNotFound(node=marker)
        query = _apply_node_filters(sa.select(*cols), filters)
        query = _paginate(query, NODES, limit, marker_row, sort_key, sort_dir)
        return _dicts(conn.execute(query))


@retry
def create_node(values):
    values = dict(values)
    values.setdefault('uuid', uuidutils.generate_uuid())
    now = utcnow()
    values.setdefault('created_at', now)
    values.setdefault('provision_state', 'enroll')
    for key in ('driver_info', 'driver_internal_info', 'properties',
                'instance_info', 'extra'):
        if values.get(key) is None:
            values[key] = {}
    traits = values.pop('traits', None) or []
    try:
        with writer() as conn:
            row = conn.execute(NODES.insert().values(**values)
                               .returning(NODES)).mappings().first()
            for trait in sorted(set(traits)):
                conn.execute(TRAITS.insert().values(
                    node_id=row['id'], trait=trait, created_at=now))
    except sa_exc.IntegrityError as e:
        text = str(e.orig).lower()
        if 'name' in text:
            raise exception.DuplicateName(name=values.get('name'))
        if 'instance_uuid' in text:
            raise exception.InstanceAssociated(
                instance_uuid=values.get('instance_uuid'),
                node=values['uuid'])
        raise exception.NodeAlreadyExists(uuid=values['uuid'])
    return dict(row)


@retry
def update_node(node_id, values, expected=None):
    """Update a node; ``expected`` maps columns to values that must still
    hold (a compare-and-swap), else :class:`NodeLocked` style conflict.

    As in Ironic, an instance_uuid is never replaced by another one, only
    cleared first: nova reserves a node by setting it and relies on the
    409 (:class:`NodeAssociated`) when another instance got there first.
    """
    values = dict(values)
    values['updated_at'] = utcnow()
    if 'provision_state' in values:
        values['provision_updated_at'] = values['updated_at']
    query = NODES.update().where(NODES.c.id == node_id)
    for key, val in (expected or {}).items():
        query = query.where(NODES.c[key].is_(None) if val is None
                            else NODES.c[key] == val)
    claiming = values.get('instance_uuid')
    if claiming:
        query = query.where(sa.or_(NODES.c.instance_uuid.is_(None),
                                   NODES.c.instance_uuid == claiming))
    try:
        with writer() as conn:
            row = conn.execute(query.values(**values).returning(NODES)
                               ).mappings().first()
            if row is not None and 'instance_uuid' in values and \
                    row['allocation_id'] is not None:
                row = _drop_replaced_allocation(conn, row)
    except sa_exc.IntegrityError as e:
        text = str(e.orig).lower()
        if 'instance_uuid' in text:
            raise exception.InstanceAssociated(
                instance_uuid=values.get('instance_uuid'), node=node_id)
        raise exception.DuplicateName(name=values.get('name'))
    if row is None:
        node = get_node(node_id)
        if claiming and node['instance_uuid'] not in (None, claiming):
            raise exception.NodeAssociated(node=node['uuid'],
                                           instance=node['instance_uuid'])
        raise exception.NodeLocked(node=node['uuid'],
                                   host=node['reservation'])
    return dict(row)


def _drop_replaced_allocation(conn, row):
    """A node's allocation lasts as long as the node carries its UUID as
    instance_uuid: whoever clears or replaces it (tear-down, PATCH) ends
    the allocation, as Ironic does on tear-down."""
    gone = conn.execute(ALLOCATIONS.delete().where(
        ALLOCATIONS.c.id == row['allocation_id'],
        ALLOCATIONS.c.uuid != (row['instance_uuid'] or ''))).rowcount
    if not gone:
        return row
    return conn.execute(NODES.update().where(NODES.c.id == row['id'])
                        .values(allocation_id=None).returning(NODES)
                        ).mappings().first()


@retry
def destroy_node(node_id):
    with writer() as conn:
        conn.execute(PORTS.delete().where(PORTS.c.node_id == node_id))
        conn.execute(TRAITS.delete().where(TRAITS.c.node_id == node_id))
        count = conn.execute(NODES.delete().where(NODES.c.id == node_id)
                             ).rowcount
    if not count:
        raise exception.NodeNotFound(node=node_id)


@retry
def reserve_node(tag, ident, held_by=None):
    """Take the node's exclusive lock; returns the locked row.

    With ``held_by``, take it over from that holder instead (a conductor
    that died with the lock): compare-and-swap, so of several conductors
    trying, one wins.
    """
    with writer() as conn:
        holder_clause = (NODES.c.reservation.is_(None) if held_by is None
                         else NODES.c.reservation == held_by)
        row = conn.execute(
            NODES.update().where(_node_where(ident))
            .where(holder_clause)
            .values(reservation=tag).returning(NODES)).mappings().first()
        if row is not None:
            return dict(row)
        holder = conn.execute(sa.select(NODES.c.uuid, NODES.c.reservation)
                              .where(_node_where(ident))).first()
    if holder is None:
        raise exception.NodeNotFound(node=ident)
    raise exception.NodeLocked(node=holder.uuid, host=holder.reservation)


@retry
def release_node(tag, node_id):
    with writer() as conn:
        count = conn.execute(
            NODES.update().where(NODES.c.id == node_id)
            .where(NODES.c.reservation == tag)
            .values(reservation=None)).rowcount
    if not count:
        raise exception.NodeNotLocked(node=node_id)


@retry
def clear_reservations(tag):
    """Release every lock held under ``tag`` (a conductor that restarted)."""
    with writer() as conn:
        return conn.execute(NODES.update()
                            .where(NODES.c.reservation == tag)
                            .values(reservation=None)).rowcount


# -- traits ----------------------------------------------------------------

def get_traits(node_ids):
    """Map node id -> sorted trait list, for one node or a whole page."""
    if not node_ids:
        return {}
    result = {nid: [] for nid in node_ids}
    with reader() as conn:
        rows = conn.execute(sa.select(TRAITS.c.node_id, TRAITS.c.trait)
                            .where(TRAITS.c.node_id.in_(list(node_ids)))
                            .order_by(TRAITS.c.trait))
        for node_id, trait in rows:
            result[node_id].append(trait)
    return result


@retry
def set_traits(node_id, traits):
    now = utcnow()
    with writer() as conn:
        conn.execute(TRAITS.delete().where(TRAITS.c.node_id == node_id))
        for trait in sorted(set(traits)):
            conn.execute(TRAITS.insert().values(node_id=node_id, trait=trait,
                                                created_at=now))
        conn.execute(NODES.update().where(NODES.c.id == node_id)
                     .values(updated_at=now))


@retry
def add_trait(node_id, trait):
    now = utcnow()
    with writer() as conn:
        exists = conn.execute(sa.select(TRAITS.c.trait).where(
            TRAITS.c.node_id == node_id, TRAITS.c.trait == trait)).first()
        if not exists:
            conn.execute(TRAITS.insert().values(node_id=node_id, trait=trait,
                                                created_at=now))
        conn.execute(NODES.update().where(NODES.c.id == node_id)
                     .values(updated_at=now))


@retry
def delete_trait(node_id, trait):
    with writer() as conn:
        count = conn.execute(TRAITS.delete().where(
            TRAITS.c.node_id == node_id, TRAITS.c.trait == trait)).rowcount
    return count > 0


# -- ports -----------------------------------------------------------------

def _port_where(ident):
    if isinstance(ident, int):
        return PORTS.c.id == ident
    if uuidutils.is_uuid_like(ident):
        return PORTS.c.uuid == ident
    return PORTS.c.name == ident


def get_port(ident):
    with reader() as conn:
        row = conn.execute(sa.select(PORTS).where(_port_where(ident))
                           ).mappings().first()
    if row is None:
        raise exception.PortNotFound(port=ident)
    return dict(row)


def list_ports(filters=None, limit=None, marker=None, sort_key='id',
               sort_dir='asc'):
    query = sa.select(PORTS)
    for key, value in (filters or {}).items():
        if value is None:
            continue
        if key == 'node_ids':
            query = query.where(PORTS.c.node_id.in_(list(value)))
        elif key == 'description_contains':
            query = query.where(PORTS.c.description.contains(value))
        else:
            query = query.where(PORTS.c[key] == value)
    with reader() as conn:
        marker_row = None
        if marker is not None:
            marker_row = conn.execute(
                sa.select(PORTS.c.id, PORTS.c[sort_key]).where(
                    _port_where(marker))).mappings().first()
            if marker_row is None:
                raise exception.PortNotFound(port=marker)
        query = _paginate(query, PORTS, limit, marker_row, sort_key, sort_dir)
        return _dicts(conn.execute(query))


def _port_integrity(e, values):
    text = str(e.orig).lower()
    if 'address' in text:
        raise exception.MACAlreadyExists(mac=values.get('address'))
    if 'name' in text:
        raise exception.Conflict('A port with name %s already exists.'
                                 % values.get('name'))
    if 'foreign key' in text or 'node_id' in text:
        raise exception.NodeNotFound(node=values.get('node_id'))
    raise exception.PortAlreadyExists(uuid=values.get('uuid'))


@retry
def create_port(values):
    values = dict(values)
    values.setdefault('uuid', uuidutils.generate_uuid())
    values.setdefault('created_at', utcnow())
    for key in ('extra', 'local_link_connection', 'internal_info'):
        if values.get(key) is None:
            values[key] = {}
    try:
        with writer() as conn:
            row = conn.execute(PORTS.insert().values(**values)
                               .returning(PORTS)).mappings().first()
    except sa_exc.IntegrityError as e:
        _port_integrity(e, values)
    return dict(row)


@retry
def update_port(port_id, values):
    values = dict(values, updated_at=utcnow())
    try:
        with writer() as conn:
            row = conn.execute(PORTS.update().where(PORTS.c.id == port_id)
                               .values(**values).returning(PORTS)
                               ).mappings().first()
    except sa_exc.IntegrityError as e:
        _port_integrity(e, values)
    if row is None:
        raise exception.PortNotFound(port=port_id)
    return dict(row)


@retry
def destroy_port(port_id):
    with writer() as conn:
        count = conn.execute(PORTS.delete().where(PORTS.c.id == port_id)
                             ).rowcount
    if not count:
        raise exception.PortNotFound(port=port_id)


def node_uuids_by_id(node_ids):
    if not node_ids:
        return {}
    with reader() as conn:
        rows = conn.execute(sa.select(NODES.c.id, NODES.c.uuid).where(
            NODES.c.id.in_(list(node_ids))))
        return {r.id: r.uuid for r in rows}


# -- conductors ------------------------------------------------------------

@retry
def register_conductor(hostname, conductor_group, drivers, interfaces):
    now = utcnow()
    values = dict(online=True, conductor_group=conductor_group,
                  drivers=drivers, interfaces=interfaces, updated_at=now)
    with writer() as conn:
        count = conn.execute(CONDUCTORS.update()
                             .where(CONDUCTORS.c.hostname == hostname)
                             .values(**values)).rowcount
        if not count:
            conn.execute(CONDUCTORS.insert().values(
                hostname=hostname, created_at=now, **values))


@retry
def touch_conductor(hostname):
    with writer() as conn:
        conn.execute(CONDUCTORS.update()
                     .where(CONDUCTORS.c.hostname == hostname)
                     .values(updated_at=utcnow(), online=True))


@retry
def unregister_conductor(hostname):
    with writer() as conn:
        conn.execute(CONDUCTORS.update()
                     .where(CONDUCTORS.c.hostname == hostname)
                     .values(online=False, updated_at=utcnow()))


def list_conductors():
    with reader() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(CONDUCTORS).order_by(CONDUCTORS.c.hostname)
        ).mappings()]


def get_conductor(hostname):
    with reader() as conn:
        row = conn.execute(sa.select(CONDUCTORS).where(
            CONDUCTORS.c.hostname == hostname)).mappings().first()
    if row is None:
        raise exception.ConductorNotFound(conductor=hostname)
    return dict(row)
