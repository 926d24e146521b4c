"""/v1/drivers and /v1/conductors: what the live conductors offer."""

import sqlalchemy as sa

from bootflow.api import catalog
from bootflow.api import collection
from bootflow.api import versions
from bootflow.api.controllers import node_actions
from bootflow.common import exception
from bootflow.db import api as db_api

SWITCHES = versions.SWITCHES

# What the RAID interface lets a logical disk say about itself; the same
# keys for every RAID implementation (see target_raid_config).
RAID_LOGICAL_DISK_PROPERTIES = {
    'raid_level': "RAID level of the logical disk: one of 'JBOD', '0', "
                  "'1', '2', '5', '6', '1+0', '5+0' or '6+0'. Required.",
    'size_gb': "Size of the logical disk in GiB (an integer), or 'MAX' "
               "to take the space that is left. Required.",
    'volume_name': 'Name to give the volume; generated when missing. '
                   'Optional.',
    'is_root_volume': 'Whether the node boots from this logical disk '
                      '(false unless set). Optional.',
    'share_physical_disks': 'Whether other logical disks may use the same '
                            'physical disks (false unless set). Optional.',
    'disk_type': "Kind of physical disk wanted: 'hdd' or 'ssd'; any kind "
                 "when missing. Optional.",
    'interface_type': "Interface of the physical disks wanted: 'sata', "
                      "'scsi' or 'sas'; any when missing. Optional.",
    'number_of_physical_disks': 'How many physical disks to build the '
                                'logical disk from; the RAID level\'s '
                                'minimum when missing. Optional.',
    'controller': 'RAID controller to create the logical disk on; chosen '
                  'by the driver when missing. Optional.',
    'physical_disks': 'Physical disks to build the logical disk from; '
                      'chosen by the driver when missing. Optional.',
}


def _not_below(req, minor, value):
    if value is not None and not req.allows(minor):
        raise exception.FieldNotAcceptable(
            'Request not acceptable. The minimal required API version '
            'should be 1.%d' % minor)


def _driver_doc(req, name, hosts, interfaces, detail):
    base = collection.base_url(req)
    doc = {'name': name, 'hosts': sorted(set(hosts)),
           'links': collection.links(base, 'drivers', name)}
    if req.allows(SWITCHES['STATES_AND_PROPERTIES_LINKS']):
        doc['properties'] = collection.links(base, 'drivers', name,
                                             '/properties')
    if not req.allows(SWITCHES['DYNAMIC_DRIVERS']):
        return doc
    doc['type'] = 'dynamic'
    if detail:
        for kind, since in versions.DRIVER_INTERFACES:
            if req.allows(since):
                info = interfaces.get(kind) or {}
                doc['default_%s_interface' % kind] = info.get('default')
                doc['enabled_%s_interfaces' % kind] = list(
                    info.get('enabled') or [])
    return doc


def _select(req, doc):
    """Keep ``?fields=`` (1.77 on) and links; None when not asked."""
    value = req.GET.get('fields')
    if value is None:
        return doc
    if not req.allows(SWITCHES['DRIVER_FIELDS_SELECTOR']):
        raise exception.FieldNotAcceptable()
    fields = [f.strip() for f in value.split(',') if f.strip()]
    bad = [f for f in fields if f not in doc]
    if bad:
        raise exception.InvalidParameterValue(
            err='Field(s) "%s" are not valid' % ', '.join(bad))
    return {k: v for k, v in doc.items() if k in fields or k == 'links'}


def list_drivers(req):
    kind = req.GET.get('type')
    detail = collection.parse_strict_bool('detail', req.GET.get('detail'))
    if req.GET.get('fields') is not None and detail:
        raise exception.InvalidParameterValue(
            err='Can not specify ?detail=True and fields in the same '
                'request.')
    _not_below(req, SWITCHES['DYNAMIC_DRIVERS'], detail)
    _not_below(req, SWITCHES['DYNAMIC_DRIVERS'], kind)
    if req.GET.get('fields') is not None and \
            not req.allows(SWITCHES['DRIVER_FIELDS_SELECTOR']):
        raise exception.FieldNotAcceptable()
    if kind not in (None, 'dynamic', 'classic'):
        raise exception.InvalidParameterValue(
            err='"type" filter must be one of "classic" or "dynamic", if '
                'specified.')
    if kind == 'classic':
        return {'drivers': []}
    drivers = catalog.CATALOG.drivers()
    return {'drivers': [
        _select(req, _driver_doc(req, name, hosts, ifaces, bool(detail)))
        for name, (hosts, ifaces) in sorted(drivers.items())]}


def _driver(driver_name):
    drivers = catalog.CATALOG.drivers()
    if driver_name not in drivers:
        raise exception.DriverNotFound(driver_name=driver_name)
    return drivers[driver_name]


def show_driver(req, driver_name):
    hosts, ifaces = _driver(driver_name)
    return _select(req, _driver_doc(req, driver_name, hosts, ifaces, True))


def driver_properties(req, driver_name):
    _driver(driver_name)
    return node_actions.rpc().get_driver_properties(req.context,
                                                    driver_name)


def raid_logical_disk_properties(req, driver_name):
    """What a logical disk of target_raid_config may say (1.12); 404 for
    a hardware type whose default RAID interface does no RAID."""
    if not req.allows(SWITCHES['RAID']):
        raise exception.FieldNotAcceptable()
    _, ifaces = _driver(driver_name)
    default = (ifaces.get('raid') or {}).get('default')
    if default in (None, 'no-raid'):
        raise exception.UnsupportedDriverExtension(
            'Driver %s does not support raid (disabled or not '
            'implemented).' % driver_name, code=404)
    return dict(RAID_LOGICAL_DISK_PROPERTIES)


# -- conductors ---------------------------------------------------------------

def _conductor_doc(req, cond):
    base = collection.base_url(req)
    return {'hostname': cond['hostname'],
            'conductor_group': cond['conductor_group'] or '',
            'alive': catalog.Catalog.is_alive(cond),
            'drivers': cond['drivers'] or [],
            'created_at': collection.isotime(cond['created_at']),
            'updated_at': collection.isotime(cond['updated_at']),
            'links': collection.links(base, 'conductors', cond['hostname'])}


def _conductor_fields(req, default):
    requested = collection.select_fields(
        req, versions.CONDUCTOR_FIELDS,
        invalid='Field(s) "%s" are not valid')
    if requested is None:
        return default
    return requested + ([] if 'links' in requested else ['links'])


def _conductor_page(req):
    """Conductors in the order and page asked for (marker: a hostname)."""
    limit = collection.parse_limit(req)
    key = req.GET.get('sort_key', 'id')
    if key in versions.CONDUCTOR_UNSORTABLE:
        raise exception.InvalidParameterValue(
            err='The sort_key value %s is an invalid field for sorting'
                % key)
    sort_key, sort_dir = collection.parse_sort(
        req, set(db_api.CONDUCTORS.c.keys()))
    table = db_api.CONDUCTORS
    column = table.c[sort_key]
    order = sa.desc if sort_dir == 'desc' else sa.asc
    query = sa.select(table).order_by(order(column), order(table.c.id))
    marker = req.GET.get('marker')
    with db_api.reader() as conn:
        if marker is not None:
            mark = conn.execute(sa.select(table).where(
                table.c.hostname == marker)).mappings().first()
            if mark is None:
                raise exception.ConductorNotFound(conductor=marker)
            after = (column < mark[sort_key]) if sort_dir == 'desc' \
                else (column > mark[sort_key])
            tie = (table.c.id < mark['id']) if sort_dir == 'desc' \
                else (table.c.id > mark['id'])
            query = query.where(sa.or_(after, sa.and_(
                column == mark[sort_key], tie)))
        rows = [dict(r) for r in
                conn.execute(query.limit(limit)).mappings()]
    return rows, limit


def list_conductors(req):
    req.require_version(SWITCHES['CONDUCTORS'])
    detail = collection.parse_strict_bool('detail', req.GET.get('detail'))
    if detail and req.GET.get('fields') is not None:
        raise exception.InvalidParameterValue(
            err='Can not specify ?detail=True and fields in the same '
                'request.')
    fields = _conductor_fields(
        req, [f for f, _ in versions.CONDUCTOR_FIELDS] if detail
        else list(versions.CONDUCTOR_LIST_FIELDS))
    rows, limit = _conductor_page(req)
    docs = [_conductor_doc(req, c) for c in rows]
    body = {'conductors': [{k: d[k] for k in fields} for d in docs]}
    nxt = collection.next_link(req, 'conductors', docs, limit,
                               marker_key='hostname')
    if nxt:
        body['next'] = nxt
    return body


def show_conductor(req, hostname):
    req.require_version(SWITCHES['CONDUCTORS'])
    fields = _conductor_fields(req, [f for f, _ in versions.CONDUCTOR_FIELDS])
    doc = _conductor_doc(req, db_api.get_conductor(hostname))
    return {k: doc[k] for k in fields}


def register(router):
    router.add('GET', '/v1/drivers', list_drivers)
    router.add('GET', '/v1/drivers/{driver_name}', show_driver)
    router.add('GET', '/v1/drivers/{driver_name}/properties',
               driver_properties)
    router.add('GET', '/v1/drivers/{driver_name}/raid/'
               'logical_disk_properties', raid_logical_disk_properties)
    router.add('GET', '/v1/conductors', list_conductors)
    router.add('GET', '/v1/conductors/{hostname}', show_conductor)
