"""What a ramdisk calls: Ironic's lookup, heartbeat and inspection upload,
and the BootOS agent's poll and log upload.

Open without credentials, as in Ironic: a ramdisk has none. What proves a
caller is the agent the conductor booted is the agent token, issued once
at lookup (or inspection upload) and required on every later call: 401
without it, 403 with a wrong one, and nothing is recorded either way. The
one exception is a heartbeat for a node that was never issued a token:
the netinstall installer's post-install callback, which never looks up.

The poll (``POST /v1/bootos/{node}/poll``) is bootflow's own: BootOS pulls
its commands instead of serving an API the conductor calls (see
``bootflow.agent.agent``). A poll with nothing to report, on a node with
nothing queued, is answered from the database without the conductor.
"""

from oslo_log import log
from oslo_utils import netutils
from oslo_utils import uuidutils

from bootflow.api import catalog
from bootflow.api import collection
from bootflow.api import validation
from bootflow.api import wsgi
from bootflow.api.controllers import node_actions
from bootflow.api.controllers import nodes
from bootflow.bootos import commands
from bootflow.bootos import inspection
from bootflow.bootos import session
from bootflow.bootos import tokens
from bootflow.common import exception
from bootflow.common import states
from bootflow.conf import CONF
from bootflow.db import api as db_api
from bootflow.db import records

LOG = log.getLogger(__name__)

# Heartbeat body fields, by the microversion that introduced them.
_FIELDS = {'callback_url': 22, 'agent_version': 36, 'agent_token': 62,
           'agent_verify_ca': 68, 'agent_status': 81,
           'agent_status_message': 81}

CONTINUE_INSPECTION_VERSION = 84

INSPECTION_SCHEMA = {
    'type': 'object',
    'properties': {
        'inventory': {
            'type': 'object',
            'properties': {
                'bmc_address': {'type': ['string', 'null']},
                'bmc_v6address': {'type': ['string', 'null']},
                'interfaces': {
                    'type': 'array', 'minItems': 1,
                    'items': {'type': 'object',
                              'properties': {
                                  'mac_address': {'type': 'string'}},
                              'required': ['mac_address']}},
            },
            'required': ['interfaces'],
        },
    },
    'required': ['inventory'],
}

POLL_SCHEMA = {
    'type': 'object',
    'properties': {
        'agent_token': {'type': 'string'},
        'agent_version': {'type': ['string', 'null']},
        'results': {'type': 'array', 'items': {
            'type': 'object',
            'properties': {
                'id': {'type': 'string'},
                'command_status': {'enum': ['SUCCEEDED', 'FAILED']},
                'command_error': {'type': ['string', 'null']}},
            'required': ['id', 'command_status']}},
        'events': {'type': 'array', 'items': {'type': 'object'}},
    },
    'additionalProperties': False,
}

LOG_SCHEMA = {
    'type': 'object',
    'properties': {'agent_token': {'type': 'string'},
                   'reason': {'type': ['string', 'null']},
                   'log': {'type': 'string'}},
    'required': ['log'],
    'additionalProperties': False,
}


def _rpc():
    return node_actions.rpc()


def _body(req, schema):
    body = req.json_body_or_error()
    validation.validate(schema, body)
    return body


def _with_links(req, view):
    base = collection.base_url(req)
    view['node']['links'] = collection.links(base, 'nodes',
                                             view['node']['uuid'])
    return view


def _node_for_agent(node_uuid):
    """The node an agent names, read without the lock: a node that does
    not exist answers 404 like one whose token does not match would
    answer 403, with nothing disclosed beyond that."""
    if not uuidutils.is_uuid_like(node_uuid):
        raise exception.InvalidUUID(uuid=node_uuid)
    return db_api.get_node(node_uuid)


# -- Ironic's ramdisk API ---------------------------------------------------

def heartbeat(req, node_ident):
    """A ramdisk is alive (Ironic's heartbeat); wakes a parked flow."""
    req.require_version(22)
    body = req.json_body_or_error() or {}
    if not isinstance(body, dict):
        raise exception.InvalidParameterValue(
            err='The heartbeat body must be a JSON object')
    for key in body:
        introduced = _FIELDS.get(key)
        if introduced is None or not req.allows(introduced):
            raise exception.InvalidParameterValue(
                err='Field "%s" is not accepted by the heartbeat API at '
                    'this version' % key)
    if 'callback_url' not in body:
        raise exception.MissingParameterValue(
            err='Missing argument: "callback_url"')
    node = nodes.get_node_or_404(req, node_ident)
    if node['provision_state'] not in states.WAIT_STATES:
        # nothing waits for it: accepted, as in Ironic, and ignored
        return wsgi.Response(None, 202)
    if tokens.has_token(node['driver_internal_info']):
        # once an agent holds the node's token, only it may heartbeat;
        # a node never issued one hears from a one-shot caller (the
        # netinstall installer's post-install callback)
        tokens.check(node['driver_internal_info'], body.get('agent_token'))
    _rpc().heartbeat(
        req.context, node['id'], callback_url=body['callback_url'],
        agent_version=body.get('agent_version'),
        agent_status=body.get('agent_status'))
    return wsgi.Response(None, 202)


def _valid_macs(addresses):
    valid = []
    for address in addresses:
        if netutils.is_valid_mac(address):
            valid.append(address.lower())
        elif address:
            LOG.warning('Lookup ignores invalid MAC address %r', address)
    return valid


def _node_by_macs(macs):
    """The one node owning ports with these MACs; several nodes is as good
    as none (a lookup must never pick a machine by chance)."""
    node_ids = set()
    for mac in macs:
        node_ids.update(p['node_id'] for p in db_api.list_ports(
            filters={'address': mac}))
    if len(node_ids) != 1:
        return None
    return db_api.get_node(node_ids.pop())


def lookup(req):
    """Find the node a ramdisk runs on by its MACs (or UUID)."""
    req.require_version(22)
    raw = req.GET.get('addresses') or ''
    macs = _valid_macs([a.strip() for a in raw.split(',')])
    node_uuid = req.GET.get('node_uuid')
    if node_uuid and not uuidutils.is_uuid_like(node_uuid):
        raise exception.InvalidUUID(uuid=node_uuid)
    if not macs and not node_uuid:
        raise exception.IncompleteLookup()
    try:
        node = (db_api.get_node(node_uuid) if node_uuid
                else _node_by_macs(macs))
    except exception.NodeNotFound:
        node = None
    if node is None:
        raise exception.NotFound()
    record = records.NodeRecord(node)
    session.check_lookup_allowed(record)
    if tokens.has_token(node['driver_internal_info']):
        # issued already: the answer needs neither the lock nor a write
        return _with_links(req, session.lookup_view(record, tokens.MASK))
    view = _rpc().get_node_with_token(req.context, node['id'])
    return _with_links(req, view)


def _enroll_discovered(macs):
    values = {'driver': CONF.auto_discovery.driver,
              'conductor_group': '', 'provision_state': states.ENROLL}
    catalog.CATALOG.fill_interfaces(values)
    node = db_api.create_node(values)
    LOG.info('Enrolled discovered machine as node %s (MACs %s)',
             node['uuid'], ', '.join(macs))
    return node


def continue_inspection(req):
    """Upload an inspection inventory (enrolls unknown machines when
    discovery is on)."""
    if not req.allows(CONTINUE_INSPECTION_VERSION):
        raise exception.NotFound('API version 1.%d or newer is required'
                                 % CONTINUE_INSPECTION_VERSION)
    data = dict(_body(req, INSPECTION_SCHEMA))
    inventory = data.pop('inventory')
    node_uuid = req.GET.get('node_uuid')
    if node_uuid and not uuidutils.is_uuid_like(node_uuid):
        raise exception.InvalidUUID(uuid=node_uuid)
    macs = inspection.macs(inventory)
    if not macs and not node_uuid:
        raise exception.InvalidParameterValue(
            err='No lookup information provided')
    try:
        node = (db_api.get_node(node_uuid) if node_uuid
                else _node_by_macs(macs))
    except exception.NodeNotFound:
        node = None
    discovered = False
    if node is None:
        if node_uuid or not CONF.auto_discovery.enabled:
            raise exception.NotFound()
        node, discovered = _enroll_discovered(macs), True
        data['auto_discovered'] = True
    view = _rpc().continue_inspection(req.context, node['id'], inventory,
                                      plugin_data=data,
                                      discovered=discovered)
    return wsgi.Response(_with_links(req, view), 202)


# -- the BootOS agent's channel ----------------------------------------------

def poll(req, node_uuid):
    """BootOS agent poll: report results, get the next command."""
    body = _body(req, POLL_SCHEMA)
    node = _node_for_agent(node_uuid)
    info = node['driver_internal_info'] or {}
    tokens.check(info, body.get('agent_token'))
    results, events = body.get('results'), body.get('events')
    if results or events or commands.outstanding(info):
        queued = _rpc().bootos_poll(
            req.context, node['id'], results=results, events=events,
            agent_version=body.get('agent_version'))
    else:
        queued = []
    return {'commands': queued,
            'heartbeat_interval': CONF.agent.poll_interval}


def upload_log(req, node_uuid):
    """Store a BootOS agent's log."""
    body = _body(req, LOG_SCHEMA)
    node = _node_for_agent(node_uuid)
    tokens.check(node['driver_internal_info'], body.get('agent_token'))
    session.store_log(node, body.get('reason'), body['log'])
    return wsgi.Response(None, 202)


heartbeat.min_version = 22
lookup.min_version = 22
continue_inspection.min_version = CONTINUE_INSPECTION_VERSION
continue_inspection.request_schema = INSPECTION_SCHEMA
poll.request_schema = POLL_SCHEMA
upload_log.request_schema = LOG_SCHEMA


def register(router):
    router.add('POST', '/v1/heartbeat/{node_ident}', heartbeat)
    router.add('GET', '/v1/lookup', lookup)
    router.add('POST', '/v1/continue_inspection', continue_inspection)
    router.add('POST', '/v1/bootos/{node_uuid}/poll', poll)
    router.add('POST', '/v1/bootos/{node_uuid}/logs', upload_log)
