"""The hardware cache refreshed before manage/inspect flows."""

from bootflow.common import exception
from bootflow.common import states
from bootflow.conductor import hardware
from bootflow.conductor import task_manager
from bootflow.drivers.modules import fake
from tests.unit.conductor.helpers import make_node


def test_a_bmc_that_does_not_answer_ends_the_refresh(service, monkeypatch):
    """One failed read is enough: each later one would wait its own
    timeout on the same dead BMC before the flow could even start."""
    node = make_node(provision_state=states.MANAGEABLE,
                     bios_interface='fake', firmware_interface='fake')
    calls = []

    def dead(self, task):
        calls.append('boot_mode')
        raise exception.DriverOperationError(err='no answer from the BMC')
    monkeypatch.setattr(fake.FakeManagement, 'get_boot_mode', dead)
    for kind, cls in (('bios', fake.FakeBIOS),
                      ('firmware', fake.FakeFirmware)):
        monkeypatch.setattr(
            cls, 'cache_%s' % ('bios_settings' if kind == 'bios'
                               else 'firmware_components'),
            lambda self, task, kind=kind: calls.append(kind))
    with task_manager.acquire(service, None, node['id']) as task:
        hardware.update_cache(task)
    assert calls == ['boot_mode']


def test_a_healthy_bmc_refreshes_everything(service, monkeypatch):
    node = make_node(provision_state=states.MANAGEABLE,
                     bios_interface='fake', firmware_interface='fake')
    calls = []
    monkeypatch.setattr(fake.FakeBIOS, 'cache_bios_settings',
                        lambda self, task: calls.append('bios'))
    monkeypatch.setattr(fake.FakeFirmware, 'cache_firmware_components',
                        lambda self, task: calls.append('firmware'))
    with task_manager.acquire(service, None, node['id']) as task:
        hardware.update_cache(task)
        assert task.node.boot_mode == 'uefi'
    assert calls == ['bios', 'firmware']
