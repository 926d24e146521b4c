"""/v1/drivers and /v1/conductors: what the live conductors offer."""

from bootflow.api import catalog
from bootflow.api import collection
from bootflow.api.controllers import node_actions
from bootflow.common import exception


def _driver_doc(req, name, hosts, interfaces, detail):
    base = collection.base_url(req)
    doc = {'name': name, 'hosts': sorted(set(hosts)),
           'links': collection.links(base, 'drivers', name)}
    if req.allows(14):
        doc['properties'] = collection.links(base, 'drivers', name,
                                             '/properties')
    if req.allows(30):
        doc['type'] = 'dynamic'
    if detail and req.allows(30):
        for kind in catalog.INTERFACE_KINDS:
            if kind == 'bios' and not req.allows(40):
                continue
            if kind == 'firmware' and not req.allows(86):
                continue
            if kind == 'rescue' and not req.allows(38):
                continue
            if kind == 'storage' and not req.allows(33):
                continue
            info = interfaces.get(kind) or {}
            doc['default_%s_interface' % kind] = info.get('default')
            doc['enabled_%s_interfaces' % kind] = info.get('enabled') or []
    return doc


def list_drivers(req):
    kind = req.GET.get('type')
    if kind not in (None, 'dynamic', 'classic'):
        raise exception.InvalidParameterValue(
            err='Invalid driver type %s; expected classic or dynamic' % kind)
    detail = collection.parse_bool('detail', req.GET.get('detail')) or False
    if kind == 'classic':
        return {'drivers': []}
    drivers = catalog.CATALOG.drivers()
    return {'drivers': [_driver_doc(req, name, hosts, ifaces, detail)
                        for name, (hosts, ifaces) in sorted(drivers.items())]}


def show_driver(req, driver_name):
    drivers = catalog.CATALOG.drivers()
    if driver_name not in drivers:
        raise exception.DriverNotFound(driver_name=driver_name)
    hosts, ifaces = drivers[driver_name]
    return _driver_doc(req, driver_name, hosts, ifaces, True)


def driver_properties(req, driver_name):
    if driver_name not in catalog.CATALOG.drivers():
        raise exception.DriverNotFound(driver_name=driver_name)
    return node_actions.rpc().get_driver_properties(req.context,
                                                    driver_name)


def _conductor_doc(req, cond, detail):
    base = collection.base_url(req)
    doc = {'hostname': cond['hostname'],
           'conductor_group': cond['conductor_group'] or '',
           'links': collection.links(base, 'conductors', cond['hostname']),
           'alive': catalog.Catalog.is_alive(cond)}
    if detail:
        doc.update(created_at=collection.isotime(cond['created_at']),
                   updated_at=collection.isotime(cond['updated_at']),
                   drivers=cond['drivers'] or [])
    return doc


def list_conductors(req):
    req.require_version(49)
    detail = collection.parse_bool('detail', req.GET.get('detail')) or False
    return {'conductors': [_conductor_doc(req, c, detail) for c in
                           catalog.CATALOG.conductors(force=True)]}


def show_conductor(req, hostname):
    req.require_version(49)
    for cond in catalog.CATALOG.conductors(force=True):
        if cond['hostname'] == hostname:
            return _conductor_doc(req, cond, True)
    raise exception.ConductorNotFound(conductor=hostname)


def register(router):
    router.add('GET', '/v1/drivers', list_drivers)
    router.add('GET', '/v1/drivers/{driver_name}', show_driver)
    router.add('GET', '/v1/drivers/{driver_name}/properties',
               driver_properties)
    router.add('GET', '/v1/conductors', list_conductors)
    router.add('GET', '/v1/conductors/{hostname}', show_conductor)
