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


def render(rows, fields, base, traits=None):
    """Render rows with exactly ``fields`` (already version-filtered)."""
    need_traits = 'traits' in fields
    if need_traits and traits is None:
        traits = db_api.get_traits([r['id'] for r in rows])
    cat = catalog.CATALOG
    out = []
    for row in rows:
        uuid = row['uuid']
        doc = {}
        for field in fields:
            if field in _COLUMNS:
                value = row[field]
                if field in _TIME_FIELDS:
                    value = collection.isotime(value)
                elif field in _DICT_FIELDS and value is None:
                    value = {}
                elif field == 'driver_info':
                    value = _mask(value)
                doc[field] = value
            elif field == 'links':
                doc['links'] = collection.links(base, 'nodes', uuid)
            elif field == 'traits':
                doc['traits'] = traits.get(row['id'], [])
            elif field == 'conductor':
                doc['conductor'] = cat.conductor_for(row)
            elif field == 'allocation_uuid':
                doc['allocation_uuid'] = None
            elif field in api_fields.NODE_LINK_FIELDS:
                doc[field] = collection.links(base, 'nodes', uuid,
                                              '/' + field)
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
