"""Deploy templates, runbooks, inspection rules and events through the
real ``baremetal`` CLI, openstacksdk and raw HTTP."""

import json

import pytest
from openstack import exceptions as sdk_exc

from .conftest import HttpApi, assert_ironic_error, unique, wait_for

pytestmark = pytest.mark.functional

BIOS_STEP = {'interface': 'bios', 'step': 'apply_configuration',
             'args': {'settings': [{'name': 'LogicalProc',
                                    'value': 'Enabled'}]}}


def _trait(prefix):
    return 'CUSTOM_%s_%s' % (prefix, unique('x').split('-')[1].upper())


def _lower_keys(row):
    return {k.lower().replace(' ', '_'): v for k, v in row.items()}


# -- deploy templates -------------------------------------------------------

def test_deploy_template_cli(cli):
    name = _trait('DT')
    steps = [dict(BIOS_STEP, priority=150)]
    created = cli.json('deploy', 'template', 'create', name,
                       '--steps', json.dumps(steps), '--extra', 'team=ops')
    assert created['name'] == name
    assert created['steps'] == steps
    assert created['extra'] == {'team': 'ops'}
    shown = cli.json('deploy', 'template', 'show', name)
    assert shown['uuid'] == created['uuid']
    listed = [_lower_keys(r) for r in cli.json('deploy', 'template', 'list')]
    assert name in {r['name'] for r in listed}
    long = [_lower_keys(r) for r in cli.json('deploy', 'template', 'list',
                                             '--long')]
    assert [r['steps'] for r in long if r['uuid'] == created['uuid']] == \
        [steps]

    renamed = _trait('DT')
    new_steps = [dict(BIOS_STEP, priority=10),
                 {'interface': 'deploy', 'step': 'write_image', 'args': {},
                  'priority': 80}]
    cli.run('deploy', 'template', 'set', name, '--name', renamed,
            '--steps', json.dumps(new_steps), '--extra', 'site=a')
    cli.run('deploy', 'template', 'unset', renamed, '--extra', 'team')
    shown = cli.json('deploy', 'template', 'show', created['uuid'])
    assert shown['name'] == renamed
    assert shown['steps'] == new_steps
    assert shown['extra'] == {'site': 'a'}

    failed = cli.fails('deploy', 'template', 'set', renamed,
                       '--steps', '[]')
    assert 'too short' in failed.stderr
    failed = cli.fails('deploy', 'template', 'create', renamed,
                       '--steps', json.dumps(steps))
    assert 'already exists' in failed.stderr

    cli.run('deploy', 'template', 'delete', renamed)
    failed = cli.fails('deploy', 'template', 'show', created['uuid'])
    assert 'could not be found' in failed.stderr


def test_deploy_template_sdk(sdk):
    bm = sdk.baremetal
    name = _trait('SDK')
    tpl = bm.create_deploy_template(
        name=name, steps=[dict(BIOS_STEP, priority=5)], extra={'a': 'b'})
    try:
        assert tpl.name == name and tpl.extra == {'a': 'b'}
        fetched = bm.get_deploy_template(tpl.id)
        assert fetched.steps == [dict(BIOS_STEP, priority=5)]
        assert name in {t.name for t in bm.deploy_templates(details=True)}
        updated = bm.update_deploy_template(tpl.id, extra={'c': 'd'})
        assert updated.extra == {'c': 'd'}
        patched = bm.patch_deploy_template(tpl.id, [
            {'op': 'replace', 'path': '/steps/0/priority', 'value': 9}])
        assert patched.steps[0]['priority'] == 9
        with pytest.raises(sdk_exc.ConflictException):
            bm.create_deploy_template(name=name,
                                      steps=[dict(BIOS_STEP, priority=1)])
        with pytest.raises(sdk_exc.BadRequestException):
            bm.create_deploy_template(name=_trait('SDK'), steps=[])
    finally:
        bm.delete_deploy_template(tpl.id)
    with pytest.raises(sdk_exc.NotFoundException):
        bm.get_deploy_template(tpl.id)


# -- runbooks ---------------------------------------------------------------

def test_runbook_cli(cli, service):
    name = _trait('RB')
    steps = [dict(BIOS_STEP, order=1)]
    created = cli.json('runbook', 'create', '--name', name,
                       '--steps', json.dumps(steps),
                       '--description', 'bios settings')
    try:
        assert created['description'] == 'bios settings'
        assert created['steps'] == steps
        assert created['public'] is False

        cli.run('runbook', 'trait', 'add', name, 'CUSTOM_A', 'CUSTOM_B')
        traits = [_lower_keys(r)['traits']
                  for r in cli.json('runbook', 'trait', 'list', name)]
        assert sorted(traits) == ['CUSTOM_A', 'CUSTOM_B']
        cli.run('runbook', 'trait', 'remove', name, 'CUSTOM_A')
        assert cli.json('runbook', 'show', name)['traits'] == ['CUSTOM_B']
        cli.run('runbook', 'trait', 'remove', '--all', name)
        assert cli.json('runbook', 'show', name)['traits'] == []

        cli.run('runbook', 'set', name, '--public', 'true',
                '--description', 'changed', '--disable-ramdisk', 'true')
        shown = cli.json('runbook', 'show', created['uuid'])
        assert shown['public'] is True
        assert shown['description'] == 'changed'
        assert shown['disable_ramdisk'] is True
        failed = cli.fails('runbook', 'set', name, '--owner', 'proj')
        assert 'There cannot be an owner for a public runbook' in \
            failed.stderr
        cli.run('runbook', 'unset', name, '--public', '--description')
        shown = cli.json('runbook', 'show', name)
        assert shown['public'] is False and shown['description'] is None

        listed = [_lower_keys(r) for r in cli.json('runbook', 'list',
                                                   '--long')]
        mine = [r for r in listed if r['uuid'] == created['uuid']]
        assert mine and mine[0]['steps'] == steps

        # pinned below 1.112 the description and traits do not exist
        old = cli.json('--os-baremetal-api-version', '1.92',
                       'runbook', 'show', name)
        assert old['uuid'] == created['uuid']
        assert 'description' not in old and 'traits' not in old
        raw = HttpApi(service, version='1.92').get('/v1/runbooks/' + name)
        assert raw.status_code == 200
        assert 'description' not in raw.json()
        assert_ironic_error(
            HttpApi(service, version='1.91').get('/v1/runbooks/' + name),
            404)
    finally:
        cli.run('runbook', 'delete', created['uuid'], check=False)
    failed = cli.fails('runbook', 'show', created['uuid'])
    assert 'could not be found' in failed.stderr


def test_runbook_sdk(sdk):
    bm = sdk.baremetal
    name = 'ft-runbook-' + unique('x').split('-')[1]
    rb = bm.create_runbook(name=name, steps=[dict(BIOS_STEP, order=2)],
                           description='first', extra={'k': 'v'})
    try:
        assert rb.name == name and rb.description == 'first'
        bm.add_runbook_trait(rb.id, 'CUSTOM_SDK_ONE')
        bm.set_runbook_traits(rb.id, ['CUSTOM_SDK_B', 'CUSTOM_SDK_A'])
        assert bm.get_runbook(name).traits == ['CUSTOM_SDK_A',
                                               'CUSTOM_SDK_B']
        bm.remove_runbook_trait(rb.id, 'CUSTOM_SDK_A')
        assert bm.get_runbook(rb.id).traits == ['CUSTOM_SDK_B']
        updated = bm.update_runbook(rb.id, description='second',
                                    owner='project-x')
        assert updated.description == 'second'
        assert updated.owner == 'project-x'
        assert name in {r.name for r in bm.runbooks(details=True)}
        with pytest.raises(sdk_exc.ConflictException):
            bm.create_runbook(name=name, steps=[dict(BIOS_STEP, order=1)])
    finally:
        bm.delete_runbook(rb.id)
    with pytest.raises(sdk_exc.NotFoundException):
        bm.get_runbook(rb.id)


# -- inspection rules -------------------------------------------------------

ACTIONS = [{'op': 'set-attribute',
            'args': {'path': '/driver_info/ipmi_username', 'value': 'admin'}}]
CONDITIONS = [{'op': 'is-true', 'args': {'value': '{inventory[bmc_v6]}'}}]


def test_inspection_rule_cli(cli):
    created = cli.json('inspection', 'rule', 'create',
                       '--actions', json.dumps(ACTIONS),
                       '--description', unique('ft-rule'),
                       '--priority', '10')
    try:
        assert created['priority'] == 10
        assert created['actions'] == ACTIONS
        assert created['conditions'] == []
        assert created['phase'] == 'main'
        shown = cli.json('inspection', 'rule', 'show', created['uuid'])
        assert shown['description'] == created['description']
        listed = [_lower_keys(r) for r in cli.json('inspection', 'rule',
                                                   'list')]
        assert created['uuid'] in {r['uuid'] for r in listed}

        cli.run('inspection', 'rule', 'set', created['uuid'],
                '--priority', '20', '--conditions', json.dumps(CONDITIONS))
        cli.run('inspection', 'rule', 'unset', created['uuid'],
                '--description')
        shown = cli.json('inspection', 'rule', 'show', created['uuid'])
        assert shown['priority'] == 20
        assert shown['conditions'] == CONDITIONS
        assert shown['description'] is None

        failed = cli.fails('inspection', 'rule', 'set', created['uuid'],
                           '--phase', 'late')
        assert 'Invalid phase' in failed.stderr
        failed = cli.fails('inspection', 'rule', 'create', '--actions',
                           json.dumps([{'op': 'add-trait', 'args': {}}]))
        assert 'missing required argument(s): name' in failed.stderr
    finally:
        cli.run('inspection', 'rule', 'delete', created['uuid'], check=False)
    cli.fails('inspection', 'rule', 'show', created['uuid'])


def test_inspection_rule_sdk(sdk):
    bm = sdk.baremetal
    rule = bm.create_inspection_rule(actions=ACTIONS, conditions=CONDITIONS,
                                     priority=3, sensitive=True)
    try:
        assert rule.sensitive is True
        fetched = bm.get_inspection_rule(rule.id)
        # sensitive rules never show what they do
        assert fetched.actions is None and fetched.conditions is None
        assert fetched.priority == 3
        assert rule.id in {r.id for r in bm.inspection_rules(details=True)}
        updated = bm.update_inspection_rule(rule.id, priority=4)
        assert updated.priority == 4
        with pytest.raises(sdk_exc.BadRequestException):
            bm.patch_inspection_rule(rule.id, [
                {'op': 'replace', 'path': '/sensitive', 'value': False}])
    finally:
        bm.delete_inspection_rule(rule.id)
    with pytest.raises(sdk_exc.NotFoundException):
        bm.get_inspection_rule(rule.id)


# -- events and discovery ---------------------------------------------------

def test_events_and_v1_document(api):
    event = {'event': 'network.bind_port',
             'port_id': '11111111-2222-3333-4444-555555555555',
             'mac_address': '52:54:00:12:34:56', 'status': 'ACTIVE'}
    resp = api.post('/v1/events', json={'events': [event]})
    assert resp.status_code == 204, resp.text
    assert_ironic_error(
        api.post('/v1/events', json={'events': [dict(event, event='x')]}),
        400, 'is not one of')
    assert_ironic_error(
        HttpApi(api.service, version='1.53').post(
            '/v1/events', json={'events': [event]}), 404)
    doc = api.get('/v1').json()
    for key in ('events', 'deploy_templates', 'runbooks',
                'inspection_rules'):
        assert doc[key][0]['href'].endswith('/v1/%s/' % key), doc[key]


def test_manual_clean_runs_a_runbook(api):
    """A runbook's steps run as a manual clean of a node carrying one of
    its traits; a node without the trait is refused."""
    trait = _trait('RB')
    resp = api.post('/v1/runbooks', json={
        'name': unique('rb'),
        'steps': [{'interface': 'deploy', 'step': 'erase_devices',
                   'args': {}, 'order': 1}]})
    assert resp.status_code == 201, resp.text
    runbook = resp.json()
    resp = api.put('/v1/runbooks/%s/traits/%s' % (runbook['uuid'], trait))
    assert resp.status_code == 204, resp.text
    # the step parks in "clean wait" until a heartbeat: proof that the
    # runbook's step, and not an empty clean, ran
    node = api.create_node(driver='fake-hardware', name=unique('rbn'),
                           driver_info={'fake_clean_wait': True})
    try:
        api.move_to(node['uuid'], 'manageable')
        refused = api.put('/v1/nodes/%s/states/provision' % node['uuid'],
                          json={'target': 'clean',
                                'runbook': runbook['uuid']})
        assert_ironic_error(refused, 400, 'trait')
        both = api.put('/v1/nodes/%s/states/provision' % node['uuid'],
                       json={'target': 'clean', 'runbook': runbook['uuid'],
                             'clean_steps': [{'interface': 'deploy',
                                              'step': 'erase_devices'}]})
        assert_ironic_error(both, 400, 'not both')
        assert api.put('/v1/nodes/%s/traits/%s' % (node['uuid'], trait)
                       ).status_code == 204
        resp = api.put('/v1/nodes/%s/states/provision' % node['uuid'],
                       json={'target': 'clean', 'runbook': runbook['name']})
        assert resp.status_code == 202, resp.text
        waiting = wait_for(
            lambda: (lambda n: n if n['provision_state'] == 'clean wait'
                     else None)(api.node(node['uuid'])),
            timeout=60, message='clean wait')
        assert waiting['clean_step']['step'] == 'erase_devices'
        assert api.post('/v1/heartbeat/%s' % node['uuid'], json={
            'callback_url': 'http://127.0.0.1:9999'}).status_code == 202
        done = api.wait_provision_state(node['uuid'], 'manageable')
        assert done['last_error'] is None
    finally:
        api.delete_node_quietly(node['uuid'])
        api.delete('/v1/runbooks/%s' % runbook['uuid'])
