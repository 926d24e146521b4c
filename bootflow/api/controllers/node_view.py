"""Turning node rows into API documents, fast enough for 10,000 nodes."""

from oslo_utils import strutils

from bootflow.api import catalog
from bootflow.api import collection
from bootflow.api import fields as api_fields
from bootflow.db import api as db_api

_DICT_FIELDS = {'driver_info', 'driver_internal_info', 'properties',
                'instance_info', 'extra', 'clean_step', 'deploy_step',
                'service_step', 'raid_config', 'target_raid_config',
                'network_data'}
_TIME_FIELDS = {'created_at', 'updated_at', 'provision_updated_at',
                'inspection_started_at', 'inspection_finished_at'}
_COLUMNS = set(db_api.NODES.c.keys())


def columns_for(fields):
    """Columns to read to render ``fields``."""
    cols = {'id', 'uuid'}
    for field in fields:
        if field in _COLUMNS:
            cols.add(field)
        elif field == 'conductor':
            cols.update(('conductor_group', 'driver'))
    return sorted(cols)


def _mask(info):
    """Hide secrets in driver_info as Ironic does ('******')."""
    return strutils.mask_dict_password(info) if info else info


def _plan(fields):
    """Decide once per request how each field is produced, so the per-node
    loop does no lookups (it runs 10,000 times for a full listing)."""
    plan = []
    for field in fields:
        if field in _TIME_FIELDS:
            plan.append((field, 'time'))
        elif field == 'driver_info':
            plan.append((field, 'secret'))
        elif field in _DICT_FIELDS:
            plan.append((field, 'dict'))
        elif field in _COLUMNS:
            plan.append((field, 'column'))
        elif field in ('links', 'traits', 'conductor', 'allocation_uuid'):
            plan.append((field, field))
        elif field in api_fields.NODE_LINK_FIELDS:
            plan.append((field, 'sublink'))
    return plan


def render(rows, fields, base, traits=None):
    """Render rows with exactly ``fields`` (already version-filtered)."""
    if 'traits' in fields and traits is None:
        traits = db_api.get_traits([r['id'] for r in rows])
    conductor_for = catalog.CATALOG.conductor_chooser() \
        if 'conductor' in fields else None
    isotime = collection.isotime
    links = collection.links
    plan = _plan(fields)
    out = []
    for row in rows:
        doc = {}
        for field, how in plan:
            if how == 'column':
                doc[field] = row[field]
            elif how == 'dict':
                doc[field] = row[field] or {}
            elif how == 'time':
                doc[field] = isotime(row[field])
            elif how == 'links':
                doc[field] = links(base, 'nodes', row['uuid'])
            elif how == 'sublink':
                doc[field] = links(base, 'nodes', row['uuid'], '/' + field)
            elif how == 'secret':
                doc[field] = _mask(row[field] or {})
            elif how == 'traits':
                doc[field] = traits.get(row['id'], [])
            elif how == 'conductor':
                doc[field] = conductor_for(row)
            else:
                doc[field] = None
        out.append(doc)
    return out


def detail_fields(version):
    return api_fields.visible(api_fields.NODE_FIELDS, version)


def list_fields(version):
    return [f for f in api_fields.NODE_LIST_FIELDS
            if version[1] >= api_fields.NODE_FIELD_VERSION[f]]


def requested_fields(requested, version):
    """``?fields=`` plus the links every node carries."""
    result = list(requested)
    if 'links' not in result:
        result.append('links')
    return result
