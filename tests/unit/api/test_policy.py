"""The default rules, checked persona by persona.

The functional Keystone test shows the rules reach the API; these show
what each persona may do, across more rules than a service walk-through
can afford.
"""

import os
import time

import pytest
from oslo_context import context as oslo_context

from bootflow.api import access
from bootflow.api import app
from bootflow.common import exception
from bootflow.common import policy

OWNER = 'p-owner'
LESSEE = 'p-lessee'
NODE = policy.node_target({'owner': OWNER, 'lessee': LESSEE})
UNOWNED = policy.node_target({'owner': None, 'lessee': None})


def _ctx(roles, project=None, system=False, project_name=None):
    return oslo_context.RequestContext(
        roles=roles, project_id=project, project_name=project_name,
        system_scope='all' if system else None)


PERSONAS = {
    'system_admin': _ctx(['admin', 'member', 'reader'], system=True),
    'system_reader': _ctx(['reader'], system=True),
    'service': _ctx(['service'], project='p-svc', project_name='service'),
    'owner_admin': _ctx(['admin', 'member', 'reader'], OWNER),
    'owner_member': _ctx(['member', 'reader'], OWNER),
    'owner_reader': _ctx(['reader'], OWNER),
    'lessee_admin': _ctx(['admin', 'member', 'reader'], LESSEE),
    'lessee_member': _ctx(['member', 'reader'], LESSEE),
    'stranger_admin': _ctx(['admin', 'member', 'reader'], 'p-other'),
    'project_admin_unscoped_system': _ctx(['admin'], 'p-admin'),
}

# rule -> personas allowed on NODE; every persona not named is refused.
EXPECTED = {
    'baremetal:node:get': {'system_admin', 'system_reader', 'service',
                           'owner_admin', 'owner_member', 'owner_reader',
                           'lessee_admin', 'lessee_member'},
    'baremetal:node:get:driver_info': {'system_admin', 'system_reader',
                                       'service', 'owner_admin',
                                       'owner_member', 'owner_reader'},
    'baremetal:node:create': {'system_admin'},
    'baremetal:node:delete': {'system_admin'},
    'baremetal:node:set_power_state': {'system_admin', 'service',
                                       'owner_admin', 'owner_member',
                                       'lessee_admin', 'lessee_member'},
    'baremetal:node:set_provision_state': {'system_admin', 'service',
                                           'owner_admin', 'owner_member',
                                           'lessee_admin'},
    'baremetal:node:vif:attach': {'system_admin', 'service', 'owner_admin',
                                  'owner_member', 'lessee_admin'},
    'baremetal:node:update:driver_info': {'system_admin', 'service',
                                          'owner_admin', 'owner_member'},
    'baremetal:node:update:owner': {'system_admin', 'service'},
    'baremetal:node:update:lessee': {'system_admin', 'service',
                                     'owner_admin', 'owner_member'},
    'baremetal:node:list_all': {'system_admin', 'system_reader', 'service'},
    'show_password': set(),
}


@pytest.mark.parametrize('rule', sorted(EXPECTED))
def test_personas(rule):
    allowed = {name for name, ctx in PERSONAS.items()
               if policy.check(rule, ctx, NODE)}
    assert allowed == EXPECTED[rule]


def test_a_system_token_never_matches_an_unowned_node_as_a_project():
    # no project and no owner must not read as "the same project"
    ctx = _ctx(['member', 'reader'])
    assert not policy.check('baremetal:node:get', ctx, UNOWNED)
    assert not policy.check('baremetal:node:set_power_state', ctx, UNOWNED)


def test_authorize_is_403_naming_the_rule():
    with pytest.raises(exception.HTTPForbidden) as err:
        policy.authorize('baremetal:node:delete', PERSONAS['owner_admin'],
                         NODE)
    assert err.value.code == 403
    assert 'baremetal:node:delete' in str(err.value)


def test_every_route_has_a_known_rule():
    names = {r.name for r in policy.list_rules()}
    for method, template, _handler in app.build_router().routes:
        rule, kind = access.rule_for(method, template)
        assert kind in ('public', 'list', 'node', 'port', 'allocation', None)
        if kind not in ('public', 'list'):
            assert rule in names, (method, template, rule)


def test_ramdisk_and_discovery_routes_are_public():
    for method, template in (('GET', '/v1'), ('GET', '/'),
                             ('POST', '/v1/heartbeat/{node_ident}'),
                             ('GET', '/v1/lookup')):
        assert access.rule_for(method, template) == (None, 'public')


def test_service_project_is_configurable():
    from bootflow.conf import CONF
    ctx = _ctx(['service'], project='p-x', project_name='ops')
    assert not policy.check('baremetal:node:list_all', ctx)
    CONF.set_override('rbac_service_project_name', 'ops')
    try:
        assert policy.check('baremetal:node:list_all', ctx)
    finally:
        CONF.clear_override('rbac_service_project_name')


def test_an_edited_policy_file_takes_effect(tmp_path, monkeypatch):
    """Rules are reloaded at most every RELOAD_INTERVAL, not never."""
    from bootflow.conf import CONF
    policy_file = tmp_path / 'policy.yaml'
    policy_file.write_text('"show_password": "!"\n')
    CONF.set_override('policy_file', str(policy_file), 'oslo_policy')
    policy.reset()
    admin = PERSONAS['system_admin']
    try:
        assert not policy.check('show_password', admin)
        policy_file.write_text(
            '"show_password": "role:admin and system_scope:all"\n')
        later = time.time() + 10    # newer, whatever the clock's grain
        os.utime(policy_file, (later, later))
        assert not policy.check('show_password', admin)   # within 1 s
        monkeypatch.setattr(policy, '_NEXT_RELOAD', 0.0)
        assert policy.check('show_password', admin)
    finally:
        CONF.clear_override('policy_file', 'oslo_policy')
        policy.reset()
