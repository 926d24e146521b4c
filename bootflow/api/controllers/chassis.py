"""/v1/chassis: racks or enclosures that group nodes."""

from bootflow.api import resource
from bootflow.api import validation
from bootflow.api import versions
from bootflow.api.controllers import nodes
from bootflow.common import exception
from bootflow.db import api as db_api
from bootflow.db import models
from bootflow.db import resources as db

TABLE = models.Chassis.__table__

SCHEMAS = {
    'uuid': validation.nullable(validation.UUID),
    'description': validation.nullable(validation.string(255)),
    'extra': validation.nullable(validation.DICT),
}


def _conflict(text, values):
    raise exception.ChassisAlreadyExists(uuid=values.get('uuid'))


def _before_delete(req, row):
    if db.count(db_api.NODES, db_api.NODES.c.chassis_uuid == row['uuid']):
        raise exception.ChassisNotEmpty(chassis=row['uuid'])


CHASSIS = resource.Resource(
    'chassis', TABLE, versions.CHASSIS_FIELDS, SCHEMAS,
    list_fields=('uuid', 'description', 'links'),
    sublinks={'nodes': 1},
    computed=('nodes',),
    not_found=lambda ident: exception.ChassisNotFound(chassis=ident),
    conflict=_conflict, before_delete=_before_delete)


def _chassis_nodes(req, chassis_ident, detail):
    row = CHASSIS.get(req, chassis_ident)
    if req.GET.get('chassis_uuid') is not None:
        raise exception.InvalidParameterValue(
            err='Unexpected arguments: chassis_uuid')
    req.GET['chassis_uuid'] = row['uuid']
    if detail:
        return nodes.list_nodes_detail(req)
    return nodes.list_nodes(req)


def list_chassis_nodes(req, chassis_ident):
    return _chassis_nodes(req, chassis_ident, False)


def list_chassis_nodes_detail(req, chassis_ident):
    return _chassis_nodes(req, chassis_ident, True)


def register(router):
    CHASSIS.register(router)
    for path, handler in (
            ('/v1/chassis/{chassis_ident}/nodes', list_chassis_nodes),
            ('/v1/chassis/{chassis_ident}/nodes/detail',
             list_chassis_nodes_detail)):
        router.add('GET', path, resource.label(
            handler, resource=CHASSIS, request_schema=None,
            min_version=CHASSIS.since, status=200))
