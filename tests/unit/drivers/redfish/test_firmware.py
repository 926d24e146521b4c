import logging

import pytest

from bootflow.common import exception
from bootflow.db import api as db_api
from bootflow.db import node_data
from bootflow.drivers.modules.redfish import firmware
from tests.unit.drivers import redfish as rf
from tests.unit.drivers.redfish import fakebmc

IMAGE = 'http://images.example.com/fw/bios-1.1.0.bin'
SECRET_URL = 'https://fwuser:fw-s3cret@images.example.com/bmc.bin?sig=tok3n'
TASK = '/redfish/v1/TaskService/Tasks/42'
MONITOR = '/redfish/v1/TaskMonitors/7'


def task_doc(state='Completed', status='OK', percent=100, messages=()):
    return {'@odata.id': TASK, 'Id': '42', 'Name': 'Update',
            'TaskState': state, 'TaskStatus': status,
            'PercentComplete': percent,
            'Messages': [{'MessageId': 'Update.1.0.X', 'Message': m}
                         for m in messages]}


class Updater:
    """The UpdateService side of the fake BMC. ``style``:
    'emulator' -- sushy-tools: 204 with a Location of a finished Task,
    the version bumped at once; 'monitor' -- 202 and a task monitor
    answering 202 ``polls`` times, then 204; 'task' -- 202 whose body is
    the Task (sushy then follows the Task's URI, which answers 200 with
    TaskState Running ``polls`` times). ``applies``: 'now', 'reboot'
    (at the next system reset), 'bmc-restart' (after the BMC was
    unreachable a while) or 'never'."""

    def __init__(self, fake, style='emulator', applies='now', polls=2,
                 final=None):
        self.fake, self.style, self.applies = fake, style, applies
        self.polls, self.final = polls, final or task_doc()
        self.posts = []
        self.resets = []
        self.system = fake.add(fakebmc.SYSTEM, fakebmc.system_doc())
        self.manager = fake.add(fakebmc.MANAGER, fakebmc.manager_doc())
        fake.add(fakebmc.UPDATE_SERVICE, {
            'Id': 'UpdateService', 'Name': 'Update Service',
            'Actions': {'#UpdateService.SimpleUpdate': {
                'target': fakebmc.SIMPLE_UPDATE}}})
        fake.on('POST', fakebmc.SIMPLE_UPDATE, self._update)
        fake.on('POST', fakebmc.SYSTEM + '/Actions/ComputerSystem.Reset',
                self._reset)
        fake.on('GET', MONITOR, self._monitor)
        fake.on('GET', TASK, self._task)
        self._staged = None
        self._restart = False

    def _bump(self, target):
        doc = self.system if 'Systems' in target else self.manager
        key = 'BiosVersion' if doc is self.system else 'FirmwareVersion'
        parts = doc[key].split('.')  # as sushy-tools: the minor moves
        parts[1] = str(int(parts[1]) + 1)
        return doc, key, '.'.join(parts)

    def _update(self, data):
        self.posts.append(data)
        doc, key, version = self._bump(data['Targets'][0])
        if self.applies == 'now':
            doc[key] = version
        elif self.applies in ('reboot', 'bmc-restart'):
            self._staged = (doc, key, version)
        if self.applies == 'bmc-restart':
            doc[key] = version
            self._restart = True
        if self.style == 'emulator':
            return fakebmc.Response(204, headers={'Location': TASK})
        if self.style == 'monitor':
            return fakebmc.Response(202, headers={'Location': MONITOR})
        return fakebmc.Response(202, task_doc('Running', percent=0),
                                headers={'Location': MONITOR})

    def _monitor(self, data):
        if self.polls > 0:
            self.polls -= 1
            return fakebmc.Response(202, task_doc(
                'Running', percent=50 - self.polls * 10))
        return fakebmc.Response(204)

    def _task(self, data):
        if self.style == 'task' and self.polls > 0:
            self.polls -= 1
            return fakebmc.Response(200, task_doc('Running', percent=60))
        if self._restart:  # the BMC restarts once it has flashed
            self._restart = False
            self.fake.unreachable = 3
        return fakebmc.Response(200, self.final)

    def _reset(self, data):
        self.resets.append(data['ResetType'])
        if self.applies == 'reboot' and self._staged:
            doc, key, version = self._staged
            doc[key] = version
        return fakebmc.Response(204)


@pytest.fixture
def fake(conf, db):
    with fakebmc.running(conf, power_poll_interval=0.01,
                         firmware_poll_interval=0.01) as bmc:
        yield bmc


@pytest.fixture
def task(db):
    return rf.db_task(with_power=True)


@pytest.fixture
def iface():
    return firmware.RedfishFirmware()


def components(task):
    return {c['component']: c for c in
            node_data.list_firmware_components(task.node.id)}


def test_steps(iface):
    for kind in ('clean', 'deploy'):
        [step] = iface.get_steps(kind)
        assert step['step'] == 'update' and step['priority'] == 0
        assert step['argsinfo']['settings']['required'] is True
        assert step['requires_ramdisk'] is False


def test_cache_components(fake, task, iface):
    Updater(fake)
    iface.cache_firmware_components(task)
    found = components(task)
    assert found['bios']['current_version'] == '1.0.0'
    assert found['bmc']['current_version'] == '2.10'
    assert found['bmc']['model'] == 'Contoso BMC'
    assert found['bios']['initial_version'] == '1.0.0'
    assert found['bios']['last_version_flashed'] is None


def test_cache_without_manager_has_bios_only(fake, task, iface):
    Updater(fake)
    del fake.docs[fakebmc.SYSTEM]['Links']
    iface.cache_firmware_components(task)
    assert set(components(task)) == {'bios'}


def test_update_emulator_style(fake, task, iface):
    updater = Updater(fake)
    iface.update(task, [{'component': 'bios', 'url': IMAGE}])
    assert updater.posts == [{'ImageURI': IMAGE, 'TransferProtocol': 'HTTP',
                              'Targets': [fakebmc.SYSTEM]}]
    bios = components(task)['bios']
    assert bios['current_version'] == '1.1.0'
    assert bios['last_version_flashed'] == '1.1.0'
    assert bios['initial_version'] == '1.0.0'
    assert updater.resets == []
    assert firmware.PROGRESS_KEY not in task.node.driver_internal_info


def test_update_follows_task_monitor_and_records_progress(
        fake, task, iface):
    updater = Updater(fake, style='monitor', polls=3)
    seen = []

    def monitor(data):  # what the node shows while the BMC flashes
        info = db_api.get_node(task.node.id)['driver_internal_info']
        progress = info[firmware.PROGRESS_KEY]
        seen.append((progress['state'], progress['percent']))
        return updater._monitor(data)

    fake.on('GET', MONITOR, monitor)
    iface.update(task, [{'component': 'bmc', 'url': IMAGE}])
    assert seen[0] == ('running', None)
    assert ('running', 30) in seen and ('running', 40) in seen
    assert len(fake.requested('GET', MONITOR)) >= 4
    assert components(task)['bmc']['last_version_flashed'] == '2.11'
    # what the node keeps once done
    assert firmware.PROGRESS_KEY not in task.node.driver_internal_info
    assert firmware.PROGRESS_KEY not in (db_api.get_node(task.node.id)[
        'driver_internal_info'] or {})


def test_update_waits_for_a_task_that_answers_200_while_running(
        fake, task, iface):
    Updater(fake, style='task', polls=3)
    iface.update(task, [{'component': 'bios', 'url': IMAGE}])
    assert len(fake.requested('GET', TASK)) >= 4
    assert components(task)['bios']['current_version'] == '1.1.0'


def test_failed_task_fails_the_step(fake, task, iface):
    Updater(fake, style='task', polls=1, applies='never',
            final=task_doc('Exception', 'Critical',
                           messages=['Image signature invalid']))
    with pytest.raises(exception.DriverOperationError) as err:
        iface.update(task, [{'component': 'bios', 'url': IMAGE}])
    assert 'failed (task 42: Exception): Image signature invalid' in str(
        err.value)
    progress = task.node.driver_internal_info[firmware.PROGRESS_KEY]
    assert progress['state'] == 'failed'
    assert 'Image signature invalid' in progress['error']
    bios = components(task)['bios']
    assert (bios['current_version'], bios['last_version_flashed']) == (
        '1.0.0', None)


def test_bios_applied_on_reboot(fake, task, iface):
    updater = Updater(fake, applies='reboot')
    iface.update(task, [{'component': 'bios', 'url': IMAGE}])
    assert updater.resets == ['ForceRestart']
    assert components(task)['bios']['current_version'] == '1.1.0'


def test_bmc_unreachable_while_it_restarts(fake, task, iface):
    updater = Updater(fake, applies='bmc-restart')
    iface.update(task, [{'component': 'bmc', 'url': IMAGE}])
    assert updater.resets == []
    assert components(task)['bmc']['current_version'] == '2.11'


def test_version_that_never_changes_fails(fake, task, iface):
    updater = Updater(fake, applies='never')
    with pytest.raises(exception.DriverOperationError) as err:
        iface.update(task, [{'component': 'bios', 'url': IMAGE,
                             'wait': 0.05}])
    assert 'the bios version is still 1.0.0' in str(err.value)
    assert updater.resets == ['ForceRestart']
    bios = components(task)['bios']
    assert (bios['current_version'], bios['last_version_flashed']) == (
        '1.0.0', None)


def test_task_that_never_ends_times_out(fake, task, iface, conf):
    conf.set_override('firmware_update_timeout', 1, 'redfish')
    Updater(fake, style='monitor', polls=10 ** 6)
    with pytest.raises(exception.DriverOperationError) as err:
        iface.update(task, [{'component': 'bmc', 'url': IMAGE}])
    assert 'Timed out after' in str(err.value)
    assert 'firmware update of bmc' in str(err.value)


def test_updates_run_in_order_and_stop_at_the_first_failure(fake, task,
                                                            iface):
    updater = Updater(fake)

    def only_bios(data):  # what sushy-tools answers for a Manager target
        if 'Managers' not in data['Targets'][0]:
            return updater._update(data)
        updater.posts.append(data)
        return fakebmc.Response(400, fakebmc.error_body(
            'Manager is not a supported Target'))

    fake.on('POST', fakebmc.SIMPLE_UPDATE, only_bios)
    with pytest.raises(exception.DriverOperationError) as err:
        iface.update(task, [{'component': 'bios', 'url': IMAGE},
                            {'component': 'bmc', 'url': IMAGE},
                            {'component': 'bios', 'url': IMAGE}])
    assert 'HTTP 400: Manager is not a supported Target' in str(err.value)
    assert [p['Targets'] for p in updater.posts] == [
        [fakebmc.SYSTEM], [fakebmc.MANAGER]]
    # the first one is recorded although the second failed
    assert components(task)['bios']['last_version_flashed'] == '1.1.0'


@pytest.mark.parametrize('settings, expected', [
    ([], 'non-empty list'),
    ([{'component': 'nic', 'url': IMAGE}], 'component must be one of'),
    ([{'component': 'bios'}], 'url must be an image URL'),
    ([{'component': 'bios', 'url': 'file:///fw.bin'}], 'url must be'),
    ([{'component': 'bios', 'url': IMAGE, 'wait': -1}], 'wait must be'),
    ([{'component': 'bios', 'url': IMAGE, 'checksum': 'x'}],
     'unknown key(s) checksum'),
])
def test_invalid_settings_rejected_before_any_request(fake, task, iface,
                                                      settings, expected):
    Updater(fake)
    with pytest.raises(exception.InvalidParameterValue) as err:
        iface.update(task, settings)
    assert expected in str(err.value)
    assert fake.requests == []


def test_url_credentials_never_logged_or_recorded(fake, task, iface,
                                                  caplog):
    caplog.set_level(logging.INFO, logger='bootflow')
    updater = Updater(fake, applies='never')
    with pytest.raises(exception.DriverOperationError):
        iface.update(task, [{'component': 'bmc', 'url': SECRET_URL,
                             'wait': 0}])
    assert updater.posts[0]['ImageURI'] == SECRET_URL
    assert updater.posts[0]['TransferProtocol'] == 'HTTPS'
    progress = task.node.driver_internal_info[firmware.PROGRESS_KEY]
    assert progress['url'] == 'https://images.example.com/bmc.bin'
    text = ' '.join(r.getMessage() for r in caplog.records) + str(progress)
    assert 'fw-s3cret' not in text and 'tok3n' not in text
    assert 'images.example.com/bmc.bin' in text
