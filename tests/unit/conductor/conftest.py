import pytest

from bootflow.conductor import service as conductor_service
from bootflow.drivers.modules import fake


@pytest.fixture
def service(db, conf):
    conf.set_override('sync_power_state_interval', 0, 'conductor')
    conf.set_override('node_locked_retry_attempts', 0, 'conductor')
    svc = conductor_service.ConductorService(host='test-host')
    svc.start(with_rpc=False)
    yield svc
    svc.stop()
    fake._MACHINES.clear()
