"""Who may do what: oslo.policy rules with Ironic's names and defaults.

The rule names are Ironic's, so an operator's ``policy.yaml`` written for
Ironic applies here. The model is Ironic's secure RBAC: system-scoped
admin / member / reader run the deployment; a project reaches a node only
through the node's ``owner`` (delegated administration) or ``lessee``
(use: deploy, power, VIFs). The service role in the service project is
what nova and other services act with.

Defaults live in code; ``oslopolicy-sample-generator --namespace bootflow``
writes them out (etc/bootflow/policy.yaml.sample).
"""

import threading
import time

from oslo_config import cfg
from oslo_policy import opts as policy_opts
from oslo_policy import policy

from bootflow.common import exception

CONF = cfg.CONF

policy_opts.set_defaults(CONF, 'policy.yaml', enforce_scope=True,
                         enforce_new_defaults=True)

# -- personas ---------------------------------------------------------------
SERVICE_ROLE = 'rule:service_role'
SYSTEM_ADMIN = 'role:admin and system_scope:all'
SYSTEM_MEMBER = '(role:member and system_scope:all) or rule:service_role'
SYSTEM_READER = ('(role:reader and system_scope:all) or '
                 '(role:service and system_scope:all) or rule:service_role')
SYSTEM_SERVICE = 'role:service and system_scope:all'

OWNER_ADMIN = 'role:admin and project_id:%(node.owner)s'
OWNER_MANAGER = 'role:manager and project_id:%(node.owner)s'
OWNER_MEMBER = 'role:member and project_id:%(node.owner)s'
OWNER_READER = 'role:reader and project_id:%(node.owner)s'
OWNER_SERVICE = 'role:service and project_id:%(node.owner)s'
LESSEE_ADMIN = 'role:admin and project_id:%(node.lessee)s'
LESSEE_MANAGER = 'role:manager and project_id:%(node.lessee)s'
PROJECT_MEMBER = ('role:member and (project_id:%(node.owner)s or '
                  'project_id:%(node.lessee)s)')
PROJECT_READER = ('role:reader and (project_id:%(node.owner)s or '
                  'project_id:%(node.lessee)s)')
ALLOCATION_MEMBER_OWN = 'role:member and project_id:%(allocation.owner)s'
ALLOCATION_READER_OWN = 'role:reader and project_id:%(allocation.owner)s'


def _any(*checks):
    return ' or '.join('(%s)' % c for c in checks)


SYSTEM_OR_PROJECT_READER = _any(SYSTEM_READER, PROJECT_READER, OWNER_SERVICE)
SYSTEM_OR_PROJECT_MEMBER = _any(SYSTEM_MEMBER, PROJECT_MEMBER, SYSTEM_SERVICE)
SYSTEM_OR_OWNER_READER = _any(SYSTEM_READER, SYSTEM_SERVICE, OWNER_READER,
                              OWNER_SERVICE)
SYSTEM_OR_OWNER_MEMBER = _any(SYSTEM_MEMBER, SYSTEM_SERVICE, OWNER_MEMBER,
                              OWNER_SERVICE)
SYSTEM_OR_OWNER_ADMIN = _any(SYSTEM_MEMBER, SYSTEM_SERVICE, OWNER_ADMIN,
                             OWNER_MANAGER, OWNER_SERVICE)
SYSTEM_ADMIN_OR_OWNER_ADMIN = _any(SYSTEM_ADMIN, SYSTEM_SERVICE, OWNER_ADMIN,
                                   OWNER_MANAGER, OWNER_SERVICE)
# Deploying, undeploying, VIFs: the owner's members, and a lessee's admins.
SYSTEM_OR_OWNER_MEMBER_AND_LESSEE_ADMIN = _any(
    SYSTEM_MEMBER, SYSTEM_SERVICE, OWNER_MEMBER, LESSEE_ADMIN,
    LESSEE_MANAGER, OWNER_SERVICE)
DEPLOYER = SYSTEM_OR_OWNER_MEMBER_AND_LESSEE_ADMIN
ALLOCATION_READER = _any(SYSTEM_READER, ALLOCATION_READER_OWN)
ALLOCATION_MEMBER = _any(SYSTEM_MEMBER, ALLOCATION_MEMBER_OWN)
ALLOCATION_CREATOR = _any(SYSTEM_MEMBER, 'role:member')
# Any authenticated reader: lists that are then narrowed to the project.
API_READER = '(role:reader) or (role:service)'

# Every rule takes both scopes: the service role that nova and other
# services call with is project-scoped (the service project), and the
# check strings already say who passes.
_SCOPES = ['system', 'project']


def _rule(name, check, description, operations):
    return policy.DocumentedRuleDefault(
        name=name, check_str=check, description=description,
        operations=[{'path': p, 'method': m} for m, p in operations],
        scope_types=_SCOPES)


_NODE = '/nodes/{node_ident}'

GENERAL_RULES = [
    policy.RuleDefault(
        'service_role',
        'role:service and project_name:%(config.service_project_name)s',
        description='The service role in the service project '
                    '([DEFAULT]rbac_service_project_name): what nova and '
                    'other services call the API with.'),
    policy.RuleDefault(
        'show_password', '!',
        description='Show secrets in driver_info instead of ******.'),
    policy.RuleDefault(
        'show_instance_secrets', '!',
        description='Show secrets in instance_info (a rescue password) '
                    'instead of ******.'),
]

NODE_RULES = [
    _rule('baremetal:node:create', SYSTEM_ADMIN, 'Create a node',
          [('POST', '/nodes')]),
    _rule('baremetal:node:list', API_READER,
          'List the nodes the project owns or leases',
          [('GET', '/nodes'), ('GET', '/nodes/detail')]),
    _rule('baremetal:node:list_all', SYSTEM_READER, 'List every node',
          [('GET', '/nodes'), ('GET', '/nodes/detail')]),
    _rule('baremetal:node:get', SYSTEM_OR_PROJECT_READER,
          'Show a node (and know that it exists)', [('GET', _NODE)]),
    _rule('baremetal:node:get:filter_threshold', SYSTEM_READER,
          'Whoever passes sees every field; everyone else is checked '
          'against the baremetal:node:get:<field> rules',
          [('GET', _NODE)]),
    _rule('baremetal:node:get:last_error', SYSTEM_OR_OWNER_READER,
          'See last_error', [('GET', _NODE)]),
    _rule('baremetal:node:get:reservation', SYSTEM_OR_OWNER_READER,
          'See which conductor holds the node', [('GET', _NODE)]),
    _rule('baremetal:node:get:driver_internal_info', SYSTEM_OR_OWNER_READER,
          'See driver_internal_info', [('GET', _NODE)]),
    _rule('baremetal:node:get:driver_info', SYSTEM_OR_OWNER_READER,
          'See driver_info (BMC address and user; secrets stay masked '
          'unless show_password allows)', [('GET', _NODE)]),
    _rule('baremetal:node:update', SYSTEM_OR_PROJECT_MEMBER,
          'Update a node (each field is also checked below)',
          [('PATCH', _NODE)]),
    _rule('baremetal:node:update_extra', SYSTEM_OR_PROJECT_MEMBER,
          'Update extra', [('PATCH', _NODE)]),
    _rule('baremetal:node:update_instance_info',
          DEPLOYER, 'Update instance_info', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:instance_uuid',
          DEPLOYER, 'Set or clear instance_uuid', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:driver_info', SYSTEM_OR_OWNER_MEMBER,
          'Update driver_info', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:properties', SYSTEM_OR_OWNER_MEMBER,
          'Update properties', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:chassis_uuid', SYSTEM_ADMIN,
          'Set chassis_uuid', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:lessee', SYSTEM_OR_OWNER_MEMBER,
          'Lease the node to a project', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:owner', SYSTEM_MEMBER,
          'Change the owner', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:driver_interfaces', SYSTEM_OR_OWNER_ADMIN,
          'Change driver and *_interface fields', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:network_data', SYSTEM_OR_OWNER_MEMBER,
          'Update network_data', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:conductor_group', SYSTEM_MEMBER,
          'Change conductor_group', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:name', SYSTEM_OR_OWNER_MEMBER,
          'Rename the node', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:retired', SYSTEM_OR_OWNER_MEMBER,
          'Retire the node', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:shard', SYSTEM_ADMIN,
          'Change the shard', [('PATCH', _NODE)]),
    _rule('baremetal:node:update:parent_node', SYSTEM_ADMIN,
          'Change the parent node', [('PATCH', _NODE)]),
    _rule('baremetal:node:update_owner_provisioned', SYSTEM_MEMBER,
          'Change the owner of a node with an instance',
          [('PATCH', _NODE)]),
    _rule('baremetal:node:delete', SYSTEM_ADMIN, 'Delete a node',
          [('DELETE', _NODE)]),
    _rule('baremetal:node:validate', DEPLOYER,
          'Validate the driver interfaces', [('GET', _NODE + '/validate')]),
    _rule('baremetal:node:set_maintenance', DEPLOYER,
          'Set or clear maintenance', [('PUT', _NODE + '/maintenance'),
                                       ('DELETE', _NODE + '/maintenance')]),
    _rule('baremetal:node:get_boot_device', DEPLOYER,
          'Read the boot device',
          [('GET', _NODE + '/management/boot_device')]),
    _rule('baremetal:node:set_boot_device', DEPLOYER,
          'Set the boot device',
          [('PUT', _NODE + '/management/boot_device')]),
    _rule('baremetal:node:inject_nmi', DEPLOYER,
          'Inject an NMI', [('PUT', _NODE + '/management/inject_nmi')]),
    _rule('baremetal:node:get_indicator_state', SYSTEM_OR_PROJECT_READER,
          'Read indicators', [('GET', _NODE + '/management/indicators')]),
    _rule('baremetal:node:set_indicator_state', SYSTEM_OR_PROJECT_MEMBER,
          'Set an indicator',
          [('PUT', _NODE + '/management/indicators/{indicator}')]),
    _rule('baremetal:node:get_states', SYSTEM_OR_PROJECT_READER,
          'Read power and provision states', [('GET', _NODE + '/states')]),
    _rule('baremetal:node:set_power_state', SYSTEM_OR_PROJECT_MEMBER,
          'Power on, off or reboot', [('PUT', _NODE + '/states/power')]),
    _rule('baremetal:node:set_provision_state',
          DEPLOYER, 'Deploy, undeploy, rebuild, rescue, clean...',
          [('PUT', _NODE + '/states/provision')]),
    _rule('baremetal:node:set_boot_mode', SYSTEM_OR_OWNER_MEMBER,
          'Set the boot mode', [('PUT', _NODE + '/states/boot_mode')]),
    _rule('baremetal:node:set_secure_boot', SYSTEM_OR_OWNER_MEMBER,
          'Set secure boot', [('PUT', _NODE + '/states/secure_boot')]),
    _rule('baremetal:node:set_raid_state', SYSTEM_OR_OWNER_MEMBER,
          'Set the target RAID configuration',
          [('PUT', _NODE + '/states/raid')]),
    _rule('baremetal:node:get_console', DEPLOYER,
          'Read console details', [('GET', _NODE + '/states/console')]),
    _rule('baremetal:node:set_console_state',
          DEPLOYER,
          'Enable or disable the console',
          [('PUT', _NODE + '/states/console')]),
    _rule('baremetal:node:traits:list', SYSTEM_OR_PROJECT_READER,
          'List traits', [('GET', _NODE + '/traits')]),
    _rule('baremetal:node:traits:set', SYSTEM_OR_OWNER_MEMBER,
          'Add or replace traits', [('PUT', _NODE + '/traits')]),
    _rule('baremetal:node:traits:delete', SYSTEM_OR_OWNER_MEMBER,
          'Remove traits', [('DELETE', _NODE + '/traits')]),
    _rule('baremetal:node:vif:list', SYSTEM_OR_PROJECT_READER,
          'List VIFs', [('GET', _NODE + '/vifs')]),
    _rule('baremetal:node:vif:attach',
          DEPLOYER, 'Attach a VIF', [('POST', _NODE + '/vifs')]),
    _rule('baremetal:node:vif:detach',
          DEPLOYER, 'Detach a VIF', [('DELETE', _NODE + '/vifs/{vif_id}')]),
    _rule('baremetal:node:bios:get', SYSTEM_OR_PROJECT_READER,
          'Read BIOS settings', [('GET', _NODE + '/bios')]),
    _rule('baremetal:node:firmware:get', SYSTEM_OR_PROJECT_READER,
          'Read firmware components', [('GET', _NODE + '/firmware')]),
    _rule('baremetal:node:vmedia:get', DEPLOYER,
          'Read virtual media', [('GET', _NODE + '/vmedia')]),
    _rule('baremetal:node:vmedia:attach',
          DEPLOYER,
          'Attach virtual media', [('POST', _NODE + '/vmedia')]),
    _rule('baremetal:node:vmedia:detach',
          DEPLOYER,
          'Detach virtual media', [('DELETE', _NODE + '/vmedia')]),
    _rule('baremetal:node:inventory:get', SYSTEM_OR_OWNER_READER,
          'Read the inspection inventory', [('GET', _NODE + '/inventory')]),
    _rule('baremetal:node:history:get', SYSTEM_OR_OWNER_READER,
          'Read the node history', [('GET', _NODE + '/history')]),
    _rule('baremetal:node:list_children', SYSTEM_OR_PROJECT_READER,
          'List child nodes', [('GET', _NODE + '/children')]),
]

PORT_RULES = [
    _rule('baremetal:port:get', SYSTEM_OR_PROJECT_READER, 'Show a port',
          [('GET', '/ports/{port_id}')]),
    _rule('baremetal:port:list', API_READER,
          'List ports of nodes the project owns or leases',
          [('GET', '/ports'), ('GET', _NODE + '/ports')]),
    _rule('baremetal:port:list_all', SYSTEM_READER, 'List every port',
          [('GET', '/ports')]),
    _rule('baremetal:port:create', SYSTEM_ADMIN_OR_OWNER_ADMIN,
          'Create a port', [('POST', '/ports')]),
    _rule('baremetal:port:update', SYSTEM_OR_OWNER_ADMIN, 'Update a port',
          [('PATCH', '/ports/{port_id}')]),
    _rule('baremetal:port:delete', SYSTEM_ADMIN_OR_OWNER_ADMIN,
          'Delete a port', [('DELETE', '/ports/{port_id}')]),
]

ALLOCATION_RULES = [
    _rule('baremetal:allocation:get', ALLOCATION_READER,
          'Show an allocation', [('GET', '/allocations/{allocation_id}')]),
    _rule('baremetal:allocation:list', API_READER,
          "List the project's allocations", [('GET', '/allocations')]),
    _rule('baremetal:allocation:list_all', SYSTEM_READER,
          'List every allocation', [('GET', '/allocations')]),
    _rule('baremetal:allocation:create', ALLOCATION_CREATOR,
          'Create an allocation (a project-scoped one picks only nodes the '
          'project owns or leases)', [('POST', '/allocations')]),
    _rule('baremetal:allocation:update', ALLOCATION_MEMBER,
          'Rename or re-describe an allocation',
          [('PATCH', '/allocations/{allocation_id}')]),
    _rule('baremetal:allocation:delete', ALLOCATION_MEMBER,
          'Delete an allocation',
          [('DELETE', '/allocations/{allocation_id}')]),
]


def _system_resource(name, path, reader=SYSTEM_READER, writer=SYSTEM_ADMIN):
    """Deployment-wide resources: readable by system readers, changed by
    system admins."""
    return [
        _rule('baremetal:%s:get' % name, reader, 'Show or list %s' % name,
              [('GET', path)]),
        _rule('baremetal:%s:create' % name, writer, 'Create %s' % name,
              [('POST', path)]),
        _rule('baremetal:%s:update' % name, writer, 'Update %s' % name,
              [('PATCH', path + '/{ident}')]),
        _rule('baremetal:%s:delete' % name, writer, 'Delete %s' % name,
              [('DELETE', path + '/{ident}')]),
    ]


SYSTEM_RULES = (
    _system_resource('chassis', '/chassis')
    + _system_resource('deploy_template', '/deploy_templates')
    + _system_resource('runbook', '/runbooks')
    + _system_resource('inspection_rule', '/inspection_rules')
    + _system_resource('portgroup', '/portgroups', writer=SYSTEM_MEMBER)
    + _system_resource('volume', '/volume', writer=SYSTEM_MEMBER)
    + [_rule('baremetal:driver:get', SYSTEM_READER, 'Show or list drivers',
             [('GET', '/drivers')]),
       _rule('baremetal:conductor:get', SYSTEM_READER,
             'Show or list conductors', [('GET', '/conductors')]),
       _rule('baremetal:shards:get', SYSTEM_READER, 'List shards',
             [('GET', '/shards')]),
       _rule('baremetal:events:post', SYSTEM_ADMIN, 'Post events',
             [('POST', '/events')]),
       _rule('bootflow:instance:get', SYSTEM_READER,
             'Show or list bootflow instances',
             [('GET', '/bootflow/v1/instances')]),
       _rule('bootflow:instance:launch', SYSTEM_MEMBER,
             'Launch or delete a bootflow instance',
             [('POST', '/bootflow/v1/instances')])])


def list_rules():
    """Every default rule: oslo.policy's sample generator entry point."""
    return (GENERAL_RULES + NODE_RULES + PORT_RULES + ALLOCATION_RULES
            + SYSTEM_RULES)


_ENFORCER = None


def get_enforcer():
    """The process's enforcer (also oslo.policy's ``oslo.policy.enforcer``
    entry point, which the policy checker tools use)."""
    global _ENFORCER
    if _ENFORCER is None:
        enforcer = policy.Enforcer(CONF)
        enforcer.register_defaults(list_rules())
        _ENFORCER = enforcer
    return _ENFORCER


def reset():
    global _ENFORCER, _NEXT_RELOAD
    if _ENFORCER is not None:
        _ENFORCER.clear()
    _ENFORCER = None
    _NEXT_RELOAD = 0.0


# oslo.policy looks for the policy file and policy_dirs again on every
# check (about 90 us each, twice or more per request); rules are instead
# reloaded at most this often, so an edited policy file still takes
# effect within a second.
RELOAD_INTERVAL = 1.0
_NEXT_RELOAD = 0.0
_RELOAD_LOCK = threading.Lock()


def _enforcer():
    global _NEXT_RELOAD
    enforcer = get_enforcer()
    now = time.monotonic()
    if now >= _NEXT_RELOAD:
        with _RELOAD_LOCK:
            if now >= _NEXT_RELOAD:
                enforcer.use_conf = True
                enforcer.load_rules()
                _NEXT_RELOAD = now + RELOAD_INTERVAL
    # what enforce() itself reloads is then only the registered defaults
    enforcer.use_conf = False
    return enforcer


def _target(context, target):
    full = {'project_id': context.project_id,
            'config.service_project_name': CONF.rbac_service_project_name}
    full.update(target or {})
    return full


def _creds(context):
    """What the rules may test of the caller: oslo.context's standard
    values, plus the project's name for the service_role rule."""
    return {'user_id': context.user_id,
            'user_domain_id': context.user_domain_id,
            'project_id': context.project_id,
            'project_domain_id': context.project_domain_id,
            'project_name': context.project_name,
            'domain_id': context.domain_id,
            'system_scope': context.system_scope,
            'roles': list(context.roles or ()),
            'is_admin_project': context.is_admin_project,
            'service_roles': list(context.service_roles or ())}


def check(rule, context, target=None):
    """Whether ``context`` passes ``rule``; a token of the wrong scope
    simply does not."""
    try:
        return _enforcer().enforce(rule, _target(context, target),
                                   _creds(context))
    except policy.InvalidScope:
        return False


def authorize(rule, context, target=None):
    """403 in Ironic's words unless ``context`` passes ``rule``."""
    if not check(rule, context, target):
        raise exception.HTTPForbidden(resource=rule)


def node_target(node):
    """A node as the rules see it; no owner is '' so that a system token
    (no project) never matches ``project_id:%(node.owner)s``."""
    return {'node.owner': node.get('owner') or '',
            'node.lessee': node.get('lessee') or ''}


def allocation_target(allocation):
    return {'allocation.owner': allocation.get('owner') or ''}
