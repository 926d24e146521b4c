"""/v1/inspection_rules over the in-process API."""

import uuid

import pytest

BASE = '/v1/inspection_rules'

ACTION = {'op': 'set-attribute',
          'args': {'path': '/driver_info/ipmi_password', 'value': 'pw'}}
CONDITION = {'op': 'eq', 'args': {'values': ['{inventory[cpu][count]}', 4]}}


def _create(api, **body):
    body.setdefault('actions', [ACTION])
    resp = api.post(BASE, body)
    assert resp.status_int == 201, resp.body
    return resp.data


def test_create_defaults_and_show(api):
    rule = _create(api, description='ipmi creds')
    assert rule['priority'] == 0
    assert rule['phase'] == 'main'
    assert rule['sensitive'] is False
    assert rule['conditions'] == []
    assert rule['actions'] == [ACTION]
    assert set(rule) == {'uuid', 'description', 'priority', 'sensitive',
                         'phase', 'conditions', 'actions', 'created_at',
                         'updated_at', 'links'}
    assert api.get('%s/%s' % (BASE, rule['uuid'])).data == rule


def test_create_full(api):
    ident = str(uuid.uuid4())
    loop = {'op': '!is-empty', 'args': {'value': '{item}'},
            'loop': ['a', 'b'], 'multiple': 'all'}
    resp = api.post(BASE, {
        'uuid': ident, 'priority': 9999, 'phase': 'main',
        'conditions': [CONDITION, loop],
        'actions': [{'op': 'add-trait', 'args': ['CUSTOM_GPU']},
                    {'op': 'log', 'args': {'msg': 'hi', 'level': 'warning'}}],
    })
    assert resp.status_int == 201, resp.body
    assert resp.headers['Location'].endswith('/v1/inspection_rules/' + ident)
    assert resp.data['conditions'] == [CONDITION, loop]
    assert resp.data['actions'][0] == {'op': 'add-trait',
                                       'args': ['CUSTOM_GPU']}


def test_multiple_shown_only_with_loop(api):
    rule = _create(api, conditions=[dict(CONDITION, multiple='first')])
    assert rule['conditions'] == [CONDITION]
    rule = _create(api, conditions=[dict(CONDITION, loop=[1])])
    assert rule['conditions'][0]['multiple'] == 'any'


def test_sensitive_rules_hide_conditions_and_actions(api):
    rule = _create(api, sensitive=True, conditions=[CONDITION])
    assert rule['sensitive'] is True
    assert rule['conditions'] is None and rule['actions'] is None
    shown = api.get('%s/%s' % (BASE, rule['uuid'])).data
    assert shown['conditions'] is None and shown['actions'] is None
    listed = api.get(BASE + '/detail').data['inspection_rules']
    assert listed[0]['actions'] is None
    only = api.get('%s/%s?fields=actions' % (BASE, rule['uuid'])).data
    assert only['actions'] is None
    # the stored values are still there to patch into
    resp = api.patch('%s/%s' % (BASE, rule['uuid']), [
        {'op': 'test', 'path': '/actions/0/args/value', 'value': 'pw'},
        {'op': 'replace', 'path': '/actions/0/args/value', 'value': 'new'},
        {'op': 'replace', 'path': '/priority', 'value': 5}])
    assert resp.status_int == 200, resp.body
    assert resp.data['priority'] == 5 and resp.data['actions'] is None
    resp = api.patch('%s/%s' % (BASE, rule['uuid']), [
        {'op': 'test', 'path': '/actions/0/args/value', 'value': 'new'}])
    assert resp.status_int == 200, resp.body


def test_sensitive_cannot_be_unset(api):
    rule = _create(api, sensitive=True)
    resp = api.patch('%s/%s' % (BASE, rule['uuid']), [
        {'op': 'replace', 'path': '/sensitive', 'value': False}])
    assert resp.status_int == 400
    assert 'Inspection rules cannot have the sensitive flag unset.' in \
        api.error(resp)
    plain = _create(api)
    resp = api.patch('%s/%s' % (BASE, plain['uuid']), [
        {'op': 'replace', 'path': '/sensitive', 'value': True}])
    assert resp.status_int == 200
    assert resp.data['actions'] is None


@pytest.mark.parametrize('body, message', [
    ({'actions': []}, 'Schema error for actions: [] is too short'),
    ({}, "Schema error: 'actions' is a required property"),
    ({'actions': [{'op': 'explode', 'args': {}}]},
     "Schema error for actions/0/op: 'explode' is not one of"),
    ({'actions': [ACTION], 'conditions': [{'op': 'eq'}]},
     "'args' is a required property"),
    ({'actions': [ACTION], 'conditions': [dict(CONDITION,
                                               multiple='most')]},
     "Schema error for conditions/0/multiple"),
    ({'actions': [{'op': 'fail', 'args': 'boom'}]},
     "Schema error for actions/0/args"),
    ({'actions': [ACTION], 'priority': -1},
     'Schema error for priority'),
    ({'actions': [ACTION], 'foo': 1}, "('foo' was unexpected)"),
    ({'actions': [ACTION], 'phase': 'early'},
     'Invalid phase: early. Valid phases are: main'),
    ({'actions': [ACTION], 'priority': 10000},
     'Priority must be between 0 and 9999 for user-defined rules.'),
    ({'actions': [{'op': 'set-attribute', 'args': {'path': '/a'}}]},
     'Invalid parameters for action operator set-attribute: missing '
     'required argument(s): value'),
    ({'actions': [{'op': 'fail', 'args': {'msg': 'x', 'code': 1}}]},
     'Invalid parameters for action operator fail: unexpected '
     'argument(s): code'),
    ({'actions': [ACTION], 'conditions': [{'op': '!in-net',
                                           'args': ['10.0.0.1']}]},
     'Invalid parameters for condition operator in-net: not enough '
     'arguments provided, missing: subnet'),
])
def test_create_refused(api, body, message):
    resp = api.post(BASE, body)
    assert resp.status_int == 400, resp.body
    assert message in api.error(resp)
    assert api.get(BASE).data['inspection_rules'] == []


def test_several_errors_reported_together(api):
    resp = api.post(BASE, {'actions': [{'op': 'add-trait', 'args': {}}],
                           'phase': 'late'})
    assert resp.status_int == 400
    error = api.error(resp)
    assert error.startswith('Multiple validation errors occurred: ')
    assert 'Invalid phase: late' in error
    assert 'add-trait: missing required argument(s): name' in error


def test_patch(api):
    rule = _create(api)
    resp = api.patch('%s/%s' % (BASE, rule['uuid']), [
        {'op': 'replace', 'path': '/description', 'value': 'changed'},
        {'op': 'add', 'path': '/conditions/-', 'value': CONDITION},
        {'op': 'replace', 'path': '/priority', 'value': 7}])
    assert resp.status_int == 200, resp.body
    assert resp.data['description'] == 'changed'
    assert resp.data['conditions'] == [CONDITION]
    assert resp.data['priority'] == 7
    bad = api.patch('%s/%s' % (BASE, rule['uuid']), [
        {'op': 'remove', 'path': '/actions/0/args/value'}])
    assert bad.status_int == 400
    assert 'missing required argument(s): value' in api.error(bad)
    bad = api.patch('%s/%s' % (BASE, rule['uuid']), [
        {'op': 'replace', 'path': '/phase', 'value': 'x'}])
    assert 'Invalid phase' in api.error(bad)
    assert api.get('%s/%s' % (BASE, rule['uuid'])).data == resp.data


def test_list_filter_sort_and_fields(api):
    low = _create(api, priority=1, description='low')
    high = _create(api, priority=50, description='high')
    plain = api.get(BASE).data['inspection_rules']
    assert set(plain[0]) == {'uuid', 'priority', 'phase', 'description',
                             'links'}
    by_priority = api.get(BASE + '?sort_key=priority&sort_dir=desc')
    assert [r['uuid'] for r in by_priority.data['inspection_rules']] == \
        [high['uuid'], low['uuid']]
    assert len(api.get(BASE + '?phase=main').data['inspection_rules']) == 2
    assert api.get(BASE + '?phase=other').data['inspection_rules'] == []
    assert api.get(BASE + '?sort_key=actions').status_int == 400
    fields = api.get(BASE + '?fields=uuid,actions').data['inspection_rules']
    assert fields[0]['actions'] == [ACTION]
    assert set(fields[0]) == {'uuid', 'actions', 'links'}


def test_uuid_only_and_delete(api):
    rule = _create(api)
    resp = api.get('%s/some-name' % BASE)
    assert resp.status_int == 404
    assert api.error(resp) == 'Rule some-name could not be found.'
    resp = api.post(BASE, {'uuid': rule['uuid'], 'actions': [ACTION]})
    assert resp.status_int == 409
    assert api.error(resp) == \
        'A rule with UUID %s already exists.' % rule['uuid']
    assert api.delete('%s/%s' % (BASE, rule['uuid'])).status_int == 204
    assert api.get('%s/%s' % (BASE, rule['uuid'])).status_int == 404


def test_versions(api):
    rule = _create(api)
    assert api.get(BASE, version='1.95').status_int == 404
    assert api.get('%s/%s' % (BASE, rule['uuid']),
                   version='1.95').status_int == 404
    assert api.post(BASE, {'actions': [ACTION]},
                    version='1.95').status_int == 405
    assert api.patch('%s/%s' % (BASE, rule['uuid']), [
        {'op': 'replace', 'path': '/priority', 'value': 1}],
        version='1.95').status_int == 405
    assert 'inspection_rules' in api.get('/v1', version='1.96').data
    assert 'inspection_rules' not in api.get('/v1', version='1.95').data


def test_cli_forms_accepted(api):
    # what `baremetal inspection rule create --priority 10 --sensitive
    # false` sends without --conditions
    resp = api.post(BASE, {'actions': [ACTION], 'conditions': None,
                           'priority': '10', 'sensitive': 'false'})
    assert resp.status_int == 201, resp.body
    assert resp.data['priority'] == 10
    assert resp.data['sensitive'] is False
    assert resp.data['conditions'] == []
    resp = api.patch('%s/%s' % (BASE, resp.data['uuid']), [
        {'op': 'remove', 'path': '/priority'},
        {'op': 'remove', 'path': '/phase'}])
    assert resp.status_int == 200, resp.body
    assert resp.data['priority'] == 0 and resp.data['phase'] == 'main'
    resp = api.post(BASE, {'actions': [ACTION], 'sensitive': 'maybe'})
    assert resp.status_int == 400
