"""Turning node rows into API documents, fast enough for 10,000 nodes."""

import orjson
from oslo_utils import strutils

from bootflow.api import catalog
from bootflow.api import collection
from bootflow.api import versions
from bootflow.bootos import commands
from bootflow.bootos import tokens
from bootflow.db import allocations as db_allocations
from bootflow.db import api as db_api

_DICT_FIELDS = {'driver_info', 'driver_internal_info', 'properties',
                'instance_info', 'extra', 'clean_step', 'deploy_step',
                'service_step', 'raid_config', 'target_raid_config',
                'network_data'}
_TIME_FIELDS = {'created_at', 'updated_at', 'provision_updated_at',
                'inspection_started_at', 'inspection_finished_at'}
_COLUMNS = set(db_api.NODES.c.keys())
# Columns that cannot order a list (documents, and traits in their table).
UNSORTABLE = {'properties', 'driver_info', 'extra', 'instance_info',
              'driver_internal_info', 'clean_step', 'deploy_step',
              'raid_config', 'target_raid_config', 'traits', 'network_data',
              'service_step'}
SORTABLE = _COLUMNS - UNSORTABLE
# What a PATCH is applied to: every field a client may change, and uuid.
PATCH_FIELDS = ['uuid'] + list(versions.NODE_PATCHABLE)


def columns_for(fields):
    """Columns to read to render ``fields``."""
    cols = {'id', 'uuid'}
    for field in fields:
        if field in _COLUMNS:
            cols.add(field)
        elif field == 'conductor':
            cols.update(('conductor_group', 'driver'))
        elif field == 'allocation_uuid':
            cols.add('allocation_id')
    return sorted(cols)


# Keys whose presence means driver_info may hold a secret to mask.
_SECRET_HINTS = ('pass', 'secret', 'token', 'key', 'cred', 'auth')


def _internal_safe(info):
    """The agent token's digest shows as '******' and queued agent
    commands without their params (BMC passwords), as Ironic hides its
    agent token. Most nodes hold neither, and keep the fast path."""
    if not info or info == 'null':
        return info
    if info.__class__ is str:
        if tokens.KEY not in info and commands.QUEUE not in info:
            return info
        info = orjson.loads(info)
    return tokens.masked(commands.hide_params(info))


def _secret_safe(info):
    """driver_info with secrets shown as '******', as Ironic shows them."""
    if not info:
        return {}
    if isinstance(info, str):
        lowered = info.lower()
        if not any(h in lowered for h in _SECRET_HINTS):
            return orjson.Fragment(info)
        info = orjson.loads(info)
    return strutils.mask_dict_password(info, "******")


class _Plan:
    """How each requested field is produced, decided once per request so
    the per-node loop does no look-ups (it runs 10,000 times for a full
    listing)."""

    def __init__(self, fields):
        self.columns = [f for f in fields if f in _COLUMNS]
        self.times = [f for f in self.columns if f in _TIME_FIELDS]
        self.dicts = [f for f in self.columns if f in _DICT_FIELDS
                      and f not in ('driver_info', 'instance_info')]
        self.secret = 'driver_info' in self.columns
        self.instance = 'instance_info' in self.columns
        self.internal = 'driver_internal_info' in self.columns
        self.links = 'links' in fields
        self.sublinks = [f for f in fields if f in versions.NODE_LINK_FIELDS]
        self.traits = 'traits' in fields
        self.conductor = 'conductor' in fields
        self.allocation = 'allocation_uuid' in fields


def shown_state(state, version):
    """``state`` under the name API ``version`` knows it by: a client of
    1.1 has never heard of "available" (it was no state at all), one of
    1.38 of "inspect wait"."""
    legacy = versions.LEGACY_STATE_NAMES.get(state)
    if legacy is not None and version[1] < legacy[0]:
        return legacy[1]
    return state


def render(rows, fields, base, traits=None, version=None,
           show_secrets=False, show_instance_secrets=False):
    """Render rows with exactly ``fields`` (already version-filtered);
    secrets in driver_info show as ****** unless ``show_secrets`` (the
    show_password policy), those in instance_info (the rescue password
    nova sends) unless ``show_instance_secrets``.

    Rows may come decoded (dicts, datetimes) or as stored (JSON text,
    timestamp text; see ``db_api.list_nodes(undecoded=True)``). The loop
    is written flat on purpose: it is the hot path of every node list.
    """
    plan = _Plan(fields)
    if plan.traits and traits is None:
        traits = db_api.get_traits([r['id'] for r in rows])
    choose = catalog.CATALOG.conductor_chooser() if plan.conductor else None
    allocation_uuids = db_allocations.uuids_by_id(
        {r['allocation_id'] for r in rows if r['allocation_id']}
    ) if plan.allocation else None
    self_prefix, book_prefix = base + '/v1/nodes/', base + '/nodes/'
    legacy = (version is not None and 'provision_state' in fields
              and version[1] < max(v[0] for v in
                                   versions.LEGACY_STATE_NAMES.values()))
    fragment, text = orjson.Fragment, str
    out = []
    for row in rows:
        uuid = row['uuid']
        doc = {f: row[f] for f in plan.columns}
        for f in plan.times:
            value = doc[f]
            if value is not None:
                doc[f] = (value.replace(' ', 'T', 1) + '+00:00'
                          if value.__class__ is text
                          else collection.isotime(value))
        if plan.internal:
            doc['driver_internal_info'] = _internal_safe(
                doc['driver_internal_info'])
        for f in plan.dicts:
            value = doc[f]
            if value is None or value == 'null':
                doc[f] = {}
            elif value.__class__ is text:
                doc[f] = fragment(value)
        if plan.secret and not show_secrets:
            doc['driver_info'] = _secret_safe(doc['driver_info'])
        if plan.instance:
            value = doc['instance_info']
            if value is None or value == 'null':
                doc['instance_info'] = {}
            elif not show_instance_secrets:
                doc['instance_info'] = _secret_safe(value)
            elif value.__class__ is text:
                doc['instance_info'] = fragment(value)

        if plan.links:
            doc['links'] = [{'href': self_prefix + uuid, 'rel': 'self'},
                            {'href': book_prefix + uuid, 'rel': 'bookmark'}]
        if plan.traits:
            doc['traits'] = traits.get(row['id'], [])
        if plan.conductor:
            doc['conductor'] = choose(row)
        if plan.allocation:
            doc['allocation_uuid'] = allocation_uuids.get(
                row['allocation_id'])
        for f in plan.sublinks:
            doc[f] = [{'href': '%s%s/%s' % (self_prefix, uuid, f),
                       'rel': 'self'},
                      {'href': '%s%s/%s' % (book_prefix, uuid, f),
                       'rel': 'bookmark'}]
        if legacy:
            doc['provision_state'] = shown_state(doc['provision_state'],
                                                 version)
        out.append(doc)
    return out


def detail_fields(version):
    return versions.visible(versions.NODE_FIELDS, version)


def list_fields(version):
    return [f for f in versions.NODE_LIST_FIELDS
            if version[1] >= versions.NODE_FIELD_VERSION[f]]


def select(req):
    """The node fields named by ``?fields=``, checked for the version."""
    return collection.select_fields(req, versions.NODE_FIELDS,
                                    versions.NODE_UNSELECTABLE)


def requested_fields(requested):
    """``?fields=`` plus the links every node carries."""
    result = list(requested)
    if 'links' not in result:
        result.append('links')
    return result
