"""A node's hardware data and history in the database, as dicts.

BIOS settings and firmware components are what the node's drivers last
read from (or wrote to) the hardware, so the API can show them without
asking the BMC. The inventory is what inspection (or the BootOS agent)
reported. History is the journal of noteworthy events, errors above all,
kept beside ``last_error`` which only holds the latest one.
"""

import datetime

import sqlalchemy as sa
from oslo_log import log
from oslo_utils import uuidutils

from bootflow.common import exception
from bootflow.common import states
from bootflow.db import api as db_api
from bootflow.db import node_models

LOG = log.getLogger(__name__)

BIOS = node_models.BIOSSetting.__table__
FIRMWARE = node_models.FirmwareComponent.__table__
HISTORY = node_models.NodeHistory.__table__
INVENTORY = node_models.NodeInventory.__table__

# History is a journal, not an archive: beyond this many events per node
# the oldest go, as with Ironic's default node_history_max_entries.
MAX_HISTORY_PER_NODE = 300

BIOS_REGISTRY = ('attribute_type', 'allowable_values', 'lower_bound',
                 'max_length', 'min_length', 'read_only', 'reset_required',
                 'unique', 'upper_bound')

# History event types by the state a node failed in, as Ironic names them.
_EVENT_TYPES = {
    states.DEPLOYING: 'deploying', states.DEPLOYWAIT: 'deploying',
    states.CLEANING: 'cleaning', states.CLEANWAIT: 'cleaning',
    states.INSPECTING: 'introspection', states.INSPECTWAIT: 'introspection',
    states.VERIFYING: 'verifying', states.ADOPTING: 'adoption',
    states.DELETING: 'unprovision', states.RESCUING: 'rescue',
    states.RESCUEWAIT: 'rescue', states.UNRESCUING: 'rescue',
    states.SERVICING: 'servicing', states.SERVICEWAIT: 'servicing',
}

reader = db_api.reader
writer = db_api.writer
retry = db_api.retry


# -- BIOS settings ---------------------------------------------------------

def list_bios_settings(node_id):
    with reader() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(BIOS).where(BIOS.c.node_id == node_id)
            .order_by(BIOS.c.name)).mappings()]


def get_bios_setting(node_id, name):
    """The setting, or None when the node has no setting of that name."""
    with reader() as conn:
        row = conn.execute(sa.select(BIOS).where(
            BIOS.c.node_id == node_id, BIOS.c.name == name)
        ).mappings().first()
    return dict(row) if row is not None else None


def _bios_values(setting):
    values = {'value': None if setting.get('value') is None
              else str(setting['value'])}
    for key in BIOS_REGISTRY:
        if key in setting:
            values[key] = setting[key]
    return values


@retry
def set_bios_settings(node_id, settings, replace=False):
    """Create or update the named settings.

    With ``replace`` the list is the whole truth (a driver's cache of
    what the hardware reports): settings not in it are dropped.
    """
    now = db_api.utcnow()
    names = [s['name'] for s in settings]
    with writer() as conn:
        existing = {r.name for r in conn.execute(
            sa.select(BIOS.c.name).where(BIOS.c.node_id == node_id))}
        if replace:
            gone = existing - set(names)
            if gone:
                conn.execute(BIOS.delete().where(
                    BIOS.c.node_id == node_id, BIOS.c.name.in_(gone)))
        for setting in settings:
            values = _bios_values(setting)
            if setting['name'] in existing:
                conn.execute(BIOS.update().where(
                    BIOS.c.node_id == node_id,
                    BIOS.c.name == setting['name']).values(
                        updated_at=now, **values))
            else:
                conn.execute(BIOS.insert().values(
                    node_id=node_id, name=setting['name'], created_at=now,
                    **values))


@retry
def delete_bios_settings(node_id, names=None):
    """Drop the named settings, or all of the node's when ``names`` is
    None (a factory reset forgets what was applied)."""
    query = BIOS.delete().where(BIOS.c.node_id == node_id)
    if names is not None:
        query = query.where(BIOS.c.name.in_(list(names)))
    with writer() as conn:
        return conn.execute(query).rowcount


# -- firmware components ---------------------------------------------------

FIRMWARE_IDENTITY = ('vendor', 'model', 'serial_number')


def list_firmware_components(node_id):
    with reader() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(FIRMWARE).where(FIRMWARE.c.node_id == node_id)
            .order_by(FIRMWARE.c.component)).mappings()]


@retry
def store_firmware_components(node_id, components, flashed=False):
    """Record what the hardware reports, one dict per component with at
    least ``component`` and ``current_version``.

    The first version ever seen stays as ``initial_version`` (the way back
    to the factory state); with ``flashed`` the versions were just written
    by an update, which ``last_version_flashed`` remembers.
    """
    now = db_api.utcnow()
    with writer() as conn:
        known = {r.component: r for r in conn.execute(
            sa.select(FIRMWARE.c.component, FIRMWARE.c.id).where(
                FIRMWARE.c.node_id == node_id))}
        for item in components:
            version = item.get('current_version')
            values = {'current_version': version, 'updated_at': now}
            values.update({k: item[k] for k in FIRMWARE_IDENTITY
                           if k in item})
            if flashed:
                values['last_version_flashed'] = version
            row = known.get(item['component'])
            if row is not None:
                conn.execute(FIRMWARE.update().where(
                    FIRMWARE.c.id == row.id).values(**values))
            else:
                values.update(node_id=node_id, component=item['component'],
                              initial_version=version or '', created_at=now,
                              updated_at=None)
                conn.execute(FIRMWARE.insert().values(**values))


# -- inventory -------------------------------------------------------------

def get_inventory(node_id):
    """``{'inventory': ..., 'plugin_data': ...}`` or None if none is
    stored."""
    with reader() as conn:
        row = conn.execute(sa.select(
            INVENTORY.c.inventory_data, INVENTORY.c.plugin_data).where(
                INVENTORY.c.node_id == node_id)).first()
    if row is None:
        return None
    return {'inventory': row.inventory_data,
            'plugin_data': row.plugin_data or {}}


@retry
def store_inventory(node_id, inventory, plugin_data=None):
    """Keep the latest inventory reported for the node (one per node)."""
    now = db_api.utcnow()
    values = {'inventory_data': inventory, 'plugin_data': plugin_data or {}}
    with writer() as conn:
        count = conn.execute(INVENTORY.update().where(
            INVENTORY.c.node_id == node_id).values(updated_at=now,
                                                   **values)).rowcount
        if not count:
            conn.execute(INVENTORY.insert().values(
                node_id=node_id, created_at=now, **values))


@retry
def destroy_inventory(node_id):
    with writer() as conn:
        return conn.execute(INVENTORY.delete().where(
            INVENTORY.c.node_id == node_id)).rowcount


# -- history ---------------------------------------------------------------

@retry
def add_history(node_id, event, event_type=None, severity='INFO',
                conductor=None, user=None, project=None, state=None,
                target_provision_state=None, duration_seconds=None):
    values = dict(
        uuid=uuidutils.generate_uuid(), node_id=node_id, event=event,
        event_type=event_type or 'UNKNOWN', severity=severity,
        conductor=conductor, user=user, project=project, state=state,
        target_provision_state=target_provision_state,
        duration_seconds=duration_seconds, created_at=db_api.utcnow())
    with writer() as conn:
        conn.execute(HISTORY.insert().values(**values))
        _trim_history(conn, node_id)
    return values


def _trim_history(conn, node_id):
    keep = sa.select(HISTORY.c.id).where(
        HISTORY.c.node_id == node_id).order_by(
            HISTORY.c.id.desc()).limit(MAX_HISTORY_PER_NODE).subquery()
    oldest_kept = conn.execute(sa.select(sa.func.min(keep.c.id))).scalar()
    if oldest_kept is not None:
        conn.execute(HISTORY.delete().where(HISTORY.c.node_id == node_id,
                                            HISTORY.c.id < oldest_kept))


def get_history(event_uuid):
    with reader() as conn:
        row = conn.execute(sa.select(HISTORY).where(
            HISTORY.c.uuid == event_uuid)).mappings().first()
    if row is None:
        raise exception.NodeHistoryNotFound(history=event_uuid)
    return dict(row)


def list_history(node_id, limit=None, marker=None, sort_key='created_at',
                 sort_dir='asc'):
    """One page of the node's events; ``marker`` is an event UUID."""
    query = sa.select(HISTORY).where(HISTORY.c.node_id == node_id)
    with reader() as conn:
        marker_row = None
        if marker is not None:
            marker_row = conn.execute(sa.select(
                HISTORY.c.id, HISTORY.c[sort_key]).where(
                    HISTORY.c.uuid == marker)).mappings().first()
            if marker_row is None:
                raise exception.NodeHistoryNotFound(history=marker)
        query = db_api._paginate(query, HISTORY, limit, marker_row,
                                 sort_key, sort_dir)
        return [dict(r) for r in conn.execute(query).mappings()]


def _seconds_since(moment):
    if isinstance(moment, str):
        try:
            moment = datetime.datetime.fromisoformat(moment)
        except ValueError:
            return None
    if not isinstance(moment, datetime.datetime):
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(
            tzinfo=None)
    return int((db_api.utcnow() - moment).total_seconds())


def _get(node, key):
    return node.get(key) if isinstance(node, dict) else getattr(node, key)


def record_event(node, event, event_type=None, error=True, conductor=None,
                 context=None):
    """Journal ``event`` for ``node`` (a node dict or record) with the
    state it is in and how long it has been there. Without an
    ``event_type`` the state names the activity that failed.

    Called from error paths, so it never raises: losing a history entry
    must not turn a recorded failure into an unrecorded crash.
    """
    if not event:
        return None
    state = _get(node, 'provision_state')
    if event_type is None:
        event_type = _EVENT_TYPES.get(state, 'provisioning')
    try:
        return add_history(
            _get(node, 'id'), str(event), event_type=event_type,
            severity='ERROR' if error else 'INFO', conductor=conductor,
            user=getattr(context, 'user_id', None),
            project=getattr(context, 'project_id', None),
            state=state,
            target_provision_state=_get(node, 'target_provision_state'),
            duration_seconds=_seconds_since(
                _get(node, 'provision_updated_at')))
    except Exception:
        LOG.exception('Could not record a history event for node %s',
                      _get(node, 'uuid'))
        return None
