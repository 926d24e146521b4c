"""Who the caller is, and whether the route they asked for is theirs.

Under ``auth_strategy = keystone`` every request is checked against the
policy rule of its route before its handler runs. Node routes are checked
against the node's owner and lessee: a node the caller may not see is a
404, not a 403, so a project cannot probe for other projects' nodes (as
in Ironic). Lists are narrowed by their handlers (see ``project_filter``).

``noauth`` and ``http_basic`` callers are the deployment's administrators:
they get a system-admin context and no per-route checks, which keeps the
admin path as fast as it was.
"""

from oslo_context import context as oslo_context

from bootflow.common import exception
from bootflow.common import policy
from bootflow.db import allocations as db_allocations
from bootflow.db import api as db_api

# Routes anyone may call: version discovery, and the ramdisk's API, which
# its agent token guards.
PUBLIC_PATHS = ('', '/v1', '/openapi.json')
RAMDISK_PREFIXES = ('/v1/heartbeat/', '/v1/lookup', '/v1/continue_inspection',
                    '/v1/bootos/')

_NODE = '/v1/nodes/{node_ident}'
# (method, path below a node) -> rule; every node route must be here.
_NODE_ROUTES = {
    ('GET', ''): 'baremetal:node:get',
    ('PATCH', ''): 'baremetal:node:update',
    ('DELETE', ''): 'baremetal:node:delete',
    ('GET', '/states'): 'baremetal:node:get_states',
    ('PUT', '/states/provision'): 'baremetal:node:set_provision_state',
    ('PUT', '/states/power'): 'baremetal:node:set_power_state',
    ('PUT', '/states/boot_mode'): 'baremetal:node:set_boot_mode',
    ('PUT', '/states/secure_boot'): 'baremetal:node:set_secure_boot',
    ('PUT', '/states/raid'): 'baremetal:node:set_raid_state',
    ('GET', '/states/console'): 'baremetal:node:get_console',
    ('PUT', '/states/console'): 'baremetal:node:set_console_state',
    ('PUT', '/maintenance'): 'baremetal:node:set_maintenance',
    ('DELETE', '/maintenance'): 'baremetal:node:set_maintenance',
    ('GET', '/validate'): 'baremetal:node:validate',
    ('GET', '/management/boot_device'): 'baremetal:node:get_boot_device',
    ('PUT', '/management/boot_device'): 'baremetal:node:set_boot_device',
    ('GET', '/management/boot_device/supported'):
        'baremetal:node:get_boot_device',
    ('PUT', '/management/inject_nmi'): 'baremetal:node:inject_nmi',
    ('GET', '/management/indicators'): 'baremetal:node:get_indicator_state',
    ('GET', '/management/indicators/{indicator}'):
        'baremetal:node:get_indicator_state',
    ('PUT', '/management/indicators/{indicator}'):
        'baremetal:node:set_indicator_state',
    ('GET', '/traits'): 'baremetal:node:traits:list',
    ('PUT', '/traits'): 'baremetal:node:traits:set',
    ('DELETE', '/traits'): 'baremetal:node:traits:delete',
    ('PUT', '/traits/{trait}'): 'baremetal:node:traits:set',
    ('DELETE', '/traits/{trait}'): 'baremetal:node:traits:delete',
    ('GET', '/vifs'): 'baremetal:node:vif:list',
    ('POST', '/vifs'): 'baremetal:node:vif:attach',
    ('DELETE', '/vifs/{vif_id}'): 'baremetal:node:vif:detach',
    ('GET', '/ports'): 'baremetal:port:list',
    ('GET', '/ports/detail'): 'baremetal:port:list',
    ('GET', '/portgroups'): 'baremetal:portgroup:get',
    ('GET', '/portgroups/detail'): 'baremetal:portgroup:get',
    ('GET', '/volume'): 'baremetal:volume:get',
    ('GET', '/volume/connectors'): 'baremetal:volume:get',
    ('GET', '/volume/targets'): 'baremetal:volume:get',
    ('GET', '/allocation'): 'baremetal:node:get',
    ('DELETE', '/allocation'): 'baremetal:allocation:delete',
    ('GET', '/bios'): 'baremetal:node:bios:get',
    ('GET', '/bios/{setting}'): 'baremetal:node:bios:get',
    ('GET', '/firmware'): 'baremetal:node:firmware:get',
    ('GET', '/vmedia'): 'baremetal:node:vmedia:get',
    ('POST', '/vmedia'): 'baremetal:node:vmedia:attach',
    ('DELETE', '/vmedia'): 'baremetal:node:vmedia:detach',
    ('GET', '/inventory'): 'baremetal:node:inventory:get',
    ('GET', '/children'): 'baremetal:node:list_children',
    ('GET', '/history'): 'baremetal:node:history:get',
    ('GET', '/history/{event}'): 'baremetal:node:history:get',
}

# Collections whose handlers narrow the list to the caller's project.
_FILTERED_LISTS = {'/v1/nodes', '/v1/nodes/detail', '/v1/ports',
                   '/v1/ports/detail', '/v1/allocations'}

# Other routes by path prefix: (method -> rule), longest prefix first.
_PREFIX_ROUTES = [
    ('/v1/nodes', {'POST': 'baremetal:node:create',
                   'DELETE': 'baremetal:node:delete'}),
    ('/v1/ports/{port_id}', {'GET': 'baremetal:port:get',
                             'PATCH': 'baremetal:port:update',
                             'DELETE': 'baremetal:port:delete'}),
    ('/v1/ports', {'POST': 'baremetal:port:create'}),
    ('/v1/allocations/{allocation_ident}',
     {'GET': 'baremetal:allocation:get',
      'PATCH': 'baremetal:allocation:update',
      'DELETE': 'baremetal:allocation:delete'}),
    ('/v1/allocations', {'POST': 'baremetal:allocation:create'}),
    ('/v1/portgroups', 'portgroup'), ('/v1/volume', 'volume'),
    ('/v1/chassis', 'chassis'), ('/v1/deploy_templates', 'deploy_template'),
    ('/v1/runbooks', 'runbook'), ('/v1/inspection_rules', 'inspection_rule'),
    ('/v1/drivers', {'GET': 'baremetal:driver:get'}),
    ('/v1/conductors', {'GET': 'baremetal:conductor:get'}),
    ('/v1/shards', {'GET': 'baremetal:shards:get'}),
    ('/v1/events', {'POST': 'baremetal:events:post'}),
    ('/bootflow/v1/instances', {'GET': 'bootflow:instance:get',
                                'POST': 'bootflow:instance:launch',
                                'DELETE': 'bootflow:instance:launch'}),
]
_CRUD = {'GET': 'get', 'POST': 'create', 'PATCH': 'update',
         'DELETE': 'delete', 'PUT': 'update'}


def rule_for(method, template):
    """The rule guarding a route, and what it is checked against:
    ``(rule, kind)`` with kind one of node, port, allocation, list, public,
    None (nothing). Unknown routes are a programming error."""
    path = template.rstrip('/')
    if path in PUBLIC_PATHS or path.startswith(RAMDISK_PREFIXES):
        return None, 'public'
    if method == 'GET' and path in _FILTERED_LISTS:
        return None, 'list'
    if path == _NODE or path.startswith(_NODE + '/'):
        return _NODE_ROUTES[(method, path[len(_NODE):])], 'node'
    for prefix, rules in _PREFIX_ROUTES:
        if path == prefix or path.startswith(prefix + '/'):
            if isinstance(rules, str):
                rule = 'baremetal:%s:%s' % (rules, _CRUD[method])
            else:
                rule = rules[method]
            kind = None
            if '{port_id}' in prefix:
                kind = 'port'
            elif '{allocation_ident}' in prefix:
                kind = 'allocation'
            return rule, kind
    raise KeyError('no policy rule for %s %s' % (method, template))


def admin_context(request_id):
    """What noauth and http_basic callers act as."""
    return oslo_context.RequestContext(
        request_id=request_id, is_admin=True, system_scope='all',
        roles=['admin', 'member', 'reader'])


def keystone_context(environ, request_id):
    """The caller as keystonemiddleware validated them; None when there
    is no valid token (auth_token runs with delay_auth_decision, so that
    public routes pass and the 401 is ours, in Ironic's format)."""
    if environ.get('HTTP_X_IDENTITY_STATUS') != 'Confirmed':
        return None
    ctx = oslo_context.RequestContext.from_environ(environ,
                                                   request_id=request_id)
    ctx.is_admin = False
    return ctx


def _node_target(ident):
    try:
        node = db_api.get_node(ident, ['uuid', 'name', 'owner', 'lessee'])
    except exception.NodeNotFound:
        return None
    return policy.node_target(node)


def _port_target(ident):
    try:
        port = db_api.get_port(ident)
    except exception.NotFound:
        return None
    return _node_target(port['node_id'])


def _allocation_target(ident):
    try:
        return policy.allocation_target(db_allocations.get(ident))
    except exception.NotFound:
        return None


# kind -> (path parameter, its target, the rule that makes it visible,
# the 404 of an invisible one)
_TARGETS = {'node': ('node_ident', _node_target, 'baremetal:node:get',
                     lambda i: exception.NodeNotFound(node=i)),
            'port': ('port_id', _port_target, 'baremetal:port:get',
                     lambda i: exception.PortNotFound(port=i)),
            'allocation': ('allocation_ident', _allocation_target,
                           'baremetal:allocation:get',
                           db_allocations.not_found)}


def authorize(req, method, template, params):
    """Raise 403 (or 404 for an object the caller cannot see) unless the
    route's rule allows the caller."""
    rule, kind = rule_for(method, template)
    if kind in ('public', 'list'):
        return
    ctx = req.context
    if kind is None:
        policy.authorize(rule, ctx)
        return
    # A system-scoped caller passes without a look-up; only project
    # callers pay for reading the object's owner.
    if policy.check(rule, ctx):
        return
    param, lookup, visible_rule, not_found = _TARGETS[kind]
    target = lookup(params[param])
    if target is None:
        return      # the handler answers 404 itself
    if not policy.check(visible_rule, ctx, target):
        raise not_found(params[param])
    policy.authorize(rule, ctx, target)


def project_filter(req, list_all_rule, list_rule):
    """The project a list must be narrowed to, or None for everything;
    403 when the caller may not list at all."""
    ctx = req.context
    if ctx is None or ctx.is_admin or policy.check(list_all_rule, ctx):
        return None
    policy.authorize(list_rule, ctx)
    if not ctx.project_id:
        raise exception.HTTPForbidden(resource=list_all_rule)
    return ctx.project_id


# -- node fields ------------------------------------------------------------

_FIELD_RULES = {
    'instance_info': 'baremetal:node:update_instance_info',
    'extra': 'baremetal:node:update_extra',
    'instance_uuid': 'baremetal:node:update:instance_uuid',
    'driver_info': 'baremetal:node:update:driver_info',
    'properties': 'baremetal:node:update:properties',
    'chassis_uuid': 'baremetal:node:update:chassis_uuid',
    'lessee': 'baremetal:node:update:lessee',
    'owner': 'baremetal:node:update:owner',
    'driver': 'baremetal:node:update:driver_interfaces',
    'network_data': 'baremetal:node:update:network_data',
    'conductor_group': 'baremetal:node:update:conductor_group',
    'name': 'baremetal:node:update:name',
    'retired': 'baremetal:node:update:retired',
    'retired_reason': 'baremetal:node:update:retired',
    'shard': 'baremetal:node:update:shard',
    'parent_node': 'baremetal:node:update:parent_node',
}


def _restricted(req):
    ctx = req.context
    return ctx is not None and not ctx.is_admin


def authorize_changes(req, node, changes):
    """Each changed field has its own rule (Ironic's): a lessee may set
    instance_info but not driver_info, an owner may not give the node
    away."""
    if not _restricted(req):
        return
    target = policy.node_target(node)
    for field in changes:
        rule = _FIELD_RULES.get(field)
        if rule is None and field.endswith('_interface'):
            rule = 'baremetal:node:update:driver_interfaces'
        if rule is not None:
            policy.authorize(rule, req.context, target)
    if 'owner' in changes and node.get('instance_uuid'):
        policy.authorize('baremetal:node:update_owner_provisioned',
                         req.context, target)


def secret_flags(req):
    """Whether secrets show in clear: BMC passwords in driver_info
    (show_password) and passwords in instance_info
    (show_instance_secrets); no one passes either by default, as in
    Ironic."""
    ctx = req.context
    if ctx is None:
        return {}
    return {'show_secrets': policy.check('show_password', ctx),
            'show_instance_secrets': policy.check('show_instance_secrets',
                                                  ctx)}


def _redacted(rule):
    return '** Value redacted: requires permission %s **' % rule


# field -> (rule, what shows instead)
_REDACTIONS = {
    'last_error': 'baremetal:node:get:last_error',
    'reservation': 'baremetal:node:get:reservation',
    'driver_internal_info': 'baremetal:node:get:driver_internal_info',
    'driver_info': 'baremetal:node:get:driver_info',
}


def redact_nodes(req, docs):
    """Hide what a project caller may not see, field by field and node by
    node (an owner sees its BMC address, a lessee does not). System
    readers pass the threshold and see everything but secrets."""
    if not docs or not _restricted(req):
        return docs
    ctx = req.context
    if policy.check('baremetal:node:get:filter_threshold', ctx):
        return docs
    fields = [f for f in _REDACTIONS if f in docs[0]]
    if not fields:
        return docs
    rows = db_api.list_nodes(filters={'uuid_in': [d['uuid'] for d in docs]},
                             columns=['uuid', 'owner', 'lessee'])
    owners = {r['uuid']: r for r in rows}
    for doc in docs:
        target = policy.node_target(owners.get(doc['uuid'], {}))
        for field in fields:
            rule = _REDACTIONS[field]
            if not policy.check(rule, ctx, target):
                text = _redacted(rule)
                doc[field] = ({'content': text} if field.startswith('driver')
                              else text)
    return docs
