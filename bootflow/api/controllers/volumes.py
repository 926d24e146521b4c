"""/v1/volume: a node's storage side (API 1.32).

Volume connectors say how a node reaches storage (an iSCSI initiator IQN,
a WWPN...); volume targets name the volumes it boots from or attaches.
Both describe wiring that must not change under a running machine, so,
as in Ironic, they change only while their node is powered off, and are
deleted only then or while the node is not in service.
"""

from oslo_utils import strutils

from bootflow.api import collection
from bootflow.api import resource
from bootflow.api import validation
from bootflow.api import versions
from bootflow.api.controllers import nodes
from bootflow.api.controllers import portgroups
from bootflow.common import exception
from bootflow.common import states
from bootflow.db import api as db_api
from bootflow.db import models

CONNECTORS_TABLE = models.VolumeConnector.__table__
TARGETS_TABLE = models.VolumeTarget.__table__
NODES = db_api.NODES


def _node_lookup(req, ident):
    try:
        return db_api.get_node(ident, ['id', 'uuid'])
    except exception.NodeNotFound:
        raise exception.InvalidInput(fieldname='node_uuid', value=ident,
                                     msg='')


def _node_filter(table):
    def build(req, value):
        return table.c.node_id == nodes.get_node_or_404(req, value)['id']
    return build


def _guard(kind):
    """``prepare`` and ``before_delete`` hooks holding the power rules;
    creation is free, as in Ironic: a new record changes no wiring yet."""
    def prepare(req, values, row):
        if row is None:
            return
        if 'node_uuid' in values:
            node = portgroups.check_node_link(row, values['node_uuid'])
        else:
            node = db_api.get_node(row['node_id'])
        # the node that will own the record after the change decides
        _check_powered_off(node, '%s update' % kind)

    def before_delete(req, row):
        node = db_api.get_node(row['node_id'])
        if node['provision_state'] not in states.DELETE_ALLOWED_STATES:
            _check_powered_off(node, '%s deletion' % kind)
    return prepare, before_delete


def _check_powered_off(node, action):
    if node['power_state'] != states.POWER_OFF:
        raise exception.InvalidStateRequested(
            action=action, node=node['uuid'], state=node['power_state'])


# -- connectors --------------------------------------------------------------

CONNECTOR_SCHEMAS = {
    'uuid': validation.nullable(validation.UUID),
    'type': validation.string(32),
    'connector_id': validation.string(255),
    'node_uuid': validation.UUID,
    'extra': validation.nullable(validation.DICT),
}


def _connector_conflict(text, values):
    if 'connector_id' in text:
        raise exception.VolumeConnectorTypeAndIdAlreadyExists(
            type=values.get('type'), connector_id=values.get('connector_id'))
    raise exception.VolumeConnectorAlreadyExists(uuid=values.get('uuid'))


def _connector_hooks():
    prepare, before_delete = _guard('volume connector')

    def prepare_connector(req, values, row):
        prepare(req, values, row)
        # the "already exists" message names the unchanged half as well
        if row is not None and ({'type', 'connector_id'} & set(values)):
            values.setdefault('type', row['type'])
            values.setdefault('connector_id', row['connector_id'])
    return prepare_connector, before_delete


_prepare_connector, _delete_connector = _connector_hooks()

CONNECTORS = resource.Resource(
    'volume/connectors', CONNECTORS_TABLE, versions.VOLUME_CONNECTOR_FIELDS,
    CONNECTOR_SCHEMAS, since=versions.VOLUME, singular='volume connector',
    key='connectors',
    list_fields=('uuid', 'node_uuid', 'type', 'connector_id', 'links'),
    required=('type', 'connector_id', 'node_uuid'),
    filters={'node': (versions.VOLUME, _node_filter(CONNECTORS_TABLE))},
    refs={'node_uuid': resource.Ref('node_id', NODES, _node_lookup)},
    not_found=lambda ident: exception.VolumeConnectorNotFound(
        connector=ident),
    conflict=_connector_conflict, prepare=_prepare_connector,
    before_delete=_delete_connector,
    detail_since=versions.VOLUME, detail_route=False)


# -- targets -----------------------------------------------------------------

TARGET_SCHEMAS = {
    'uuid': validation.nullable(validation.UUID),
    'volume_type': validation.string(64),
    'properties': validation.nullable(validation.DICT),
    'boot_index': validation.INTEGER,
    'volume_id': validation.string(36),
    'node_uuid': validation.UUID,
    'extra': validation.nullable(validation.DICT),
}


def _target_conflict(text, values):
    if 'boot_index' in text:
        raise exception.VolumeTargetBootIndexAlreadyExists(
            boot_index=values.get('boot_index'))
    raise exception.VolumeTargetAlreadyExists(uuid=values.get('uuid'))


def _target_hooks():
    prepare, before_delete = _guard('volume target')

    def prepare_target(req, values, row):
        prepare(req, values, row)
        if row is not None and 'node_uuid' in values:
            # moving to another node may collide with its boot index
            values.setdefault('boot_index', row['boot_index'])
    return prepare_target, before_delete


_prepare_target, _delete_target = _target_hooks()


def _mask_secrets(req, row, doc):
    # volume properties carry storage credentials (CHAP secrets...)
    if doc.get('properties'):
        doc['properties'] = strutils.mask_dict_password(doc['properties'],
                                                        '******')


TARGETS = resource.Resource(
    'volume/targets', TARGETS_TABLE, versions.VOLUME_TARGET_FIELDS,
    TARGET_SCHEMAS, since=versions.VOLUME, singular='volume target',
    key='targets',
    list_fields=('uuid', 'node_uuid', 'volume_type', 'boot_index',
                 'volume_id', 'links'),
    required=('volume_type', 'boot_index', 'volume_id', 'node_uuid'),
    filters={'node': (versions.VOLUME, _node_filter(TARGETS_TABLE))},
    refs={'node_uuid': resource.Ref('node_id', NODES, _node_lookup)},
    not_found=lambda ident: exception.VolumeTargetNotFound(target=ident),
    conflict=_target_conflict, prepare=_prepare_target,
    before_delete=_delete_target, sanitize=_mask_secrets,
    detail_since=versions.VOLUME, detail_route=False)


# -- the volume documents ----------------------------------------------------

def _links(base, path):
    return [{'href': '%s/v1/%s' % (base, path), 'rel': 'self'},
            {'href': '%s/%s' % (base, path), 'rel': 'bookmark'}]


def _document(req, prefix):
    base = collection.base_url(req)
    return {'links': _links(base, prefix + '/'),
            'connectors': _links(base, prefix + '/connectors'),
            'targets': _links(base, prefix + '/targets')}


def show_volume(req):
    req.require_version(versions.VOLUME)
    return _document(req, 'volume')


def show_node_volume(req, node_ident):
    req.require_version(versions.VOLUME)
    nodes.get_node_or_404(req, node_ident)
    return _document(req, 'nodes/%s/volume' % node_ident)


def _node_list(res, req, node_ident):
    req.require_version(versions.VOLUME)
    node = nodes.get_node_or_404(req, node_ident)
    return res.list(req, parent_clauses=[res.table.c.node_id == node['id']],
                    path='nodes/%s/%s' % (node['uuid'], res.name))


def list_node_connectors(req, node_ident):
    return _node_list(CONNECTORS, req, node_ident)


def list_node_targets(req, node_ident):
    return _node_list(TARGETS, req, node_ident)


def register(router):
    CONNECTORS.register(router)
    TARGETS.register(router)
    for path, handler, res in (
            ('/v1/volume', show_volume, None),
            ('/v1/nodes/{node_ident}/volume', show_node_volume, None),
            ('/v1/nodes/{node_ident}/volume/connectors',
             list_node_connectors, CONNECTORS),
            ('/v1/nodes/{node_ident}/volume/targets', list_node_targets,
             TARGETS)):
        router.add('GET', path, resource.label(
            handler, resource=res, request_schema=None,
            min_version=versions.VOLUME, status=200))
