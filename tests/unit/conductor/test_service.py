from bootflow.common import states
from bootflow.conductor import power
from bootflow.conductor import service as conductor_service
from bootflow.db import api as db_api
from bootflow.drivers.modules import fake
from tests.unit.conductor.helpers import make_node
from tests.unit.conductor.helpers import wait_state


def test_restart_releases_and_fails_interrupted_nodes(db, conf):
    conf.set_override('sync_power_state_interval', 0, 'conductor')
    busy = make_node(provision_state=states.DEPLOYING,
                     target_provision_state=states.ACTIVE)
    idle = make_node(provision_state=states.MANAGEABLE)
    db_api.reserve_node('test-host', busy['id'])
    db_api.reserve_node('test-host', idle['id'])
    other = make_node(provision_state=states.DEPLOYING)
    db_api.reserve_node('other-host', other['id'])
    svc = conductor_service.ConductorService(host='test-host')
    svc.start(with_rpc=False)
    try:
        # no flow was recorded for the busy node: it cannot resume, so it
        # fails with a reason instead of staying "deploying"
        row = wait_state(busy['id'], states.DEPLOYFAIL)
        assert row['provision_state'] == states.DEPLOYFAIL
        assert 'progress was not recorded' in row['last_error']
        row = db_api.get_node(idle['id'])
        assert (row['reservation'], row['provision_state']) == (
            None, states.MANAGEABLE)
        assert db_api.get_node(other['id'])['reservation'] == 'other-host'
    finally:
        svc.stop()


def test_power_sync_restores_recorded_state(service, conf):
    node = make_node(provision_state=states.ACTIVE,
                     power_state=states.POWER_ON)
    fake._MACHINES[node['uuid']] = dict(power=states.POWER_OFF)
    assert power.sync_power_states(service) == 1
    assert fake._MACHINES[node['uuid']]['power'] == states.POWER_ON
    conf.set_override('force_power_state_during_sync', False, 'conductor')
    fake._MACHINES[node['uuid']]['power'] = states.POWER_OFF
    power.sync_power_states(service)
    assert db_api.get_node(node['id'])['power_state'] == states.POWER_OFF


def test_conductor_registers_drivers_and_goes_offline(db, conf):
    conf.set_override('sync_power_state_interval', 0, 'conductor')
    svc = conductor_service.ConductorService(host='h1')
    svc.start(with_rpc=False)
    cond = db_api.get_conductor('h1')
    assert cond['online'] and 'fake-hardware' in cond['drivers']
    assert cond['interfaces']['fake-hardware']['power']['default'] == 'fake'
    svc.stop()
    assert not db_api.get_conductor('h1')['online']
