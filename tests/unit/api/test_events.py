"""/v1/events: network port notifications are checked and acknowledged."""

import copy

import pytest

EVENT = {'event': 'network.bind_port',
         'port_id': '11111111-2222-3333-4444-555555555555',
         'mac_address': '52:54:00:12:34:56', 'status': 'ACTIVE',
         'device_id': '66666666-7777-8888-9999-000000000000',
         'binding:host_id': None, 'binding:vnic_type': 'baremetal'}


def test_accepted(api):
    resp = api.post('/v1/events', {'events': [
        EVENT, dict(EVENT, event='network.delete_port')]})
    assert resp.status_int == 204
    assert resp.body == b''


def test_minimal_event(api):
    event = {k: EVENT[k] for k in ('event', 'port_id', 'mac_address',
                                   'status')}
    assert api.post('/v1/events', {'events': [event]}).status_int == 204


def _broken(**changes):
    event = copy.deepcopy(EVENT)
    for key, value in changes.items():
        if value is None:
            del event[key]
        else:
            event[key] = value
    return {'events': [event]}


@pytest.mark.parametrize('body, message', [
    ({}, "'events' is a required property"),
    ({'events': []}, 'Schema error for events: [] is too short'),
    ({'events': [EVENT], 'extra': 1}, "('extra' was unexpected)"),
    (_broken(event='network.wrong'),
     "Schema error for events/0/event: 'network.wrong' is not one of"),
    (_broken(port_id='not-a-uuid'), 'Schema error for events/0/port_id'),
    (_broken(mac_address='zz'), 'Schema error for events/0/mac_address'),
    (_broken(status=None), "'status' is a required property"),
    (_broken(device_id='nope'), 'Schema error for events/0/device_id'),
    (_broken(foo='bar'), "('foo' was unexpected)"),
])
def test_refused(api, body, message):
    resp = api.post('/v1/events', body)
    assert resp.status_int == 400, resp.body
    assert message in api.error(resp)


def test_versions(api):
    body = {'events': [EVENT]}
    assert api.post('/v1/events', body, version='1.53').status_int == 404
    assert api.post('/v1/events', body, version='1.54').status_int == 204
    assert 'events' in api.get('/v1', version='1.54').data
    assert 'events' not in api.get('/v1', version='1.53').data
    assert api.get('/v1/events').status_int == 405
