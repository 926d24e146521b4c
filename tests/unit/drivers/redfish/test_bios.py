import logging

import pytest
from sushy.resources.registry import attribute_registry

from bootflow.common import exception
from bootflow.db import node_data
from bootflow.drivers.modules.redfish import bios
from tests.unit.drivers import redfish as rf
from tests.unit.drivers.redfish import fakebmc

REGISTRY_ID = 'BiosAttributeRegistryX.v1_0_0'
SECRET = 'bios-Pa55word'


def _enum(name, values, **extra):
    return dict({'AttributeName': name, 'Type': 'Enumeration',
                 'ReadOnly': False, 'Value': [
                     {'ValueName': v, 'ValueDisplayName': v.upper()}
                     for v in values]}, **extra)


REGISTRY = {
    'Id': REGISTRY_ID, 'Name': 'BIOS Attribute Registry', 'Language': 'en',
    'OwningEntity': 'Contoso', 'RegistryVersion': '1.0.0',
    'RegistryEntries': {'Attributes': [
        _enum('ProcTurboMode', ['Enabled', 'Disabled'],
              DefaultValue='Enabled', ResetRequired=True),
        _enum('BootMode', ['Bios', 'Uefi'], DefaultValue='Uefi'),
        {'AttributeName': 'NumCores', 'Type': 'Integer', 'ReadOnly': False,
         'LowerBound': 1, 'UpperBound': 16, 'DefaultValue': 8},
        {'AttributeName': 'QuietBoot', 'Type': 'Boolean', 'ReadOnly': False},
        {'AttributeName': 'AssetTag', 'Type': 'String', 'ReadOnly': False,
         'MinLength': 0, 'MaxLength': 8, 'IsSystemUniqueProperty': True},
        _enum('SecureBootStatus', ['Enabled', 'Disabled'], ReadOnly=True,
              Immutable=True),
        {'AttributeName': 'AdminPassword', 'Type': 'Password',
         'ReadOnly': False, 'MaxLength': 32},
    ]},
}
CURRENT = {'ProcTurboMode': 'Enabled', 'BootMode': 'Uefi', 'NumCores': 8,
           'QuietBoot': True, 'AssetTag': '', 'SecureBootStatus': 'Enabled',
           'AdminPassword': None}


class Machine:
    """The BIOS side of the fake BMC: settings written to the Settings
    object stay pending until the system is reset, unless
    ``immediate``; ``stuck`` machines never take them."""

    def __init__(self, fake, attributes=None, immediate=False, stuck=False,
                 settings_object=True):
        self.fake, self.immediate, self.stuck = fake, immediate, stuck
        self.current = dict(CURRENT if attributes is None else attributes)
        self.pending = {}
        self.resets = []
        doc = {'Id': 'BIOS', 'AttributeRegistry': REGISTRY_ID,
               'Actions': {'#Bios.ResetBios': {
                   'target': fakebmc.BIOS + '/Actions/Bios.ResetBios'}}}
        if settings_object:
            doc['@Redfish.Settings'] = {
                'SettingsObject': {'@odata.id': fakebmc.BIOS_SETTINGS}}
        self.bios_doc = fake.add(fakebmc.BIOS, doc)
        self._show()
        fake.add(fakebmc.SYSTEM, fakebmc.system_doc())
        fake.on('GET', fakebmc.BIOS_SETTINGS, lambda _: fakebmc.Response(
            200, {'@odata.id': fakebmc.BIOS_SETTINGS, 'Id': 'Settings',
                  'Attributes': dict(self.current, **self.pending)}))
        fake.on('PATCH', fakebmc.BIOS_SETTINGS, self._patch)
        fake.on('POST', fakebmc.BIOS + '/Actions/Bios.ResetBios',
                self._reset_bios)
        fake.on('POST', fakebmc.SYSTEM + '/Actions/ComputerSystem.Reset',
                self._reset_system)

    def _show(self):
        self.bios_doc['Attributes'] = dict(self.current)

    def _write(self, values):
        if self.immediate:
            self.current.update(values)
            self._show()
        elif not self.stuck:
            self.pending.update(values)

    def _patch(self, data):
        unknown = set(data['Attributes']) - set(self.current)
        if unknown:
            return fakebmc.Response(400, fakebmc.error_body(
                'unknown %s' % ', '.join(sorted(unknown))))
        self._write(data['Attributes'])
        return fakebmc.Response(204)

    def _reset_bios(self, data):
        self._write({'ProcTurboMode': 'Enabled', 'BootMode': 'Uefi',
                     'NumCores': 8})
        return fakebmc.Response(204)

    def _reset_system(self, data):
        self.resets.append(data['ResetType'])
        self.current.update(self.pending)
        self.pending = {}
        self._show()
        return fakebmc.Response(204)


@pytest.fixture
def fake(conf, db):
    conf.set_override('power_poll_interval', 0.01, 'redfish')
    conf.set_override('bios_apply_timeout', 1, 'redfish')
    conf.set_override('connection_retry_interval', 0, 'redfish')
    with rf.patched_sushy() as patched:
        bmc = fakebmc.FakeBMC()
        registry = attribute_registry.AttributeRegistry(
            bmc, '/redfish/v1/Registries/BiosX', json_doc=REGISTRY)
        bmc.registries = {'BiosAttributeRegistryX': registry}
        bmc.install(patched, registries=bmc.registries)
        yield bmc


@pytest.fixture
def task(db):
    return rf.db_task(with_power=True)


@pytest.fixture
def iface():
    return bios.RedfishBIOS()


def stored(task):
    return {s['name']: s for s in node_data.list_bios_settings(task.node.id)}


def test_steps(iface):
    for kind in ('clean', 'deploy'):
        steps = {s['step']: s for s in iface.get_steps(kind)}
        assert set(steps) == {'apply_configuration', 'factory_reset'}
        apply = steps['apply_configuration']
        assert apply['priority'] == 0 and not apply['requires_ramdisk']
        assert apply['argsinfo']['settings']['required'] is True
        assert steps['factory_reset']['priority'] == 0


def test_properties_and_validate(iface, task):
    assert 'redfish_address' in iface.get_properties()
    iface.validate(task)
    task.node.driver_info = {}
    with pytest.raises(exception.MissingParameterValue):
        iface.validate(task)


def test_cache_with_registry(fake, task, iface):
    Machine(fake)
    node_data.set_bios_settings(task.node.id, [{'name': 'Gone',
                                                'value': 'x'}])
    iface.cache_bios_settings(task)
    settings = stored(task)
    assert set(settings) == set(CURRENT)
    turbo = settings['ProcTurboMode']
    assert turbo['value'] == 'Enabled'
    assert turbo['attribute_type'] == 'Enumeration'
    assert turbo['allowable_values'] == ['Enabled', 'Disabled']
    assert turbo['reset_required'] is True
    assert settings['NumCores']['value'] == '8'
    assert (settings['NumCores']['lower_bound'],
            settings['NumCores']['upper_bound']) == (1, 16)
    assert settings['AssetTag']['unique'] is True
    assert settings['AssetTag']['max_length'] == 8
    assert settings['SecureBootStatus']['read_only'] is True
    assert settings['AdminPassword']['value'] is None


def test_cache_without_registry_has_names_and_values(fake, task, iface):
    Machine(fake)
    fake.registries.clear()
    iface.cache_bios_settings(task)
    turbo = stored(task)['ProcTurboMode']
    assert turbo['value'] == 'Enabled'
    assert turbo['attribute_type'] is None
    assert turbo['allowable_values'] is None


def test_cache_never_stores_a_password_value(fake, task, iface):
    Machine(fake, attributes=dict(CURRENT, AdminPassword=SECRET))
    iface.cache_bios_settings(task)
    assert stored(task)['AdminPassword']['value'] is None


def test_invalid_settings_all_reported_before_any_write(fake, task, iface):
    Machine(fake, immediate=True)
    with pytest.raises(exception.InvalidParameterValue) as err:
        iface.apply_configuration(task, [
            {'name': 'ProcTurboMode', 'value': 'Maybe'},
            {'name': 'NumCores', 'value': 17},
            {'name': 'QuietBoot', 'value': 'sometimes'},
            {'name': 'AssetTag', 'value': 'much-too-long'},
            {'name': 'SecureBootStatus', 'value': 'Disabled'},
            {'name': 'NoSuchThing', 'value': 1}])
    text = str(err.value)
    for part in ("ProcTurboMode: 'Maybe' is not one of Enabled, Disabled",
                 'NumCores: 17 is outside 1..16',
                 "QuietBoot: 'sometimes' is not a boolean",
                 "AssetTag: 'much-too-long' is not 0 to 8 characters",
                 'SecureBootStatus is read-only',
                 'NoSuchThing is not a BIOS setting'):
        assert part in text
    assert fake.requested('PATCH') == []


@pytest.mark.parametrize('settings', [
    [], {'name': 'x', 'value': 1}, [{'name': 'NumCores'}],
    [{'value': 3}], [{'name': 'NumCores', 'value': 2},
                     {'name': 'NumCores', 'value': 3}]])
def test_malformed_settings(fake, task, iface, settings):
    Machine(fake)
    with pytest.raises(exception.InvalidParameterValue):
        iface.apply_configuration(task, settings)
    assert fake.requests == []


def test_apply_immediate_writes_typed_values(fake, task, iface):
    machine = Machine(fake, immediate=True)
    iface.apply_configuration(task, [
        {'name': 'NumCores', 'value': '4'},
        {'name': 'QuietBoot', 'value': 'false'},
        {'name': 'ProcTurboMode', 'value': 'Disabled'},
        {'name': 'BootMode', 'value': 'Uefi'}])  # already so: not sent
    [(_, _, body)] = fake.requested('PATCH', fakebmc.BIOS_SETTINGS)
    assert body == {'Attributes': {'NumCores': 4, 'QuietBoot': False,
                                   'ProcTurboMode': 'Disabled'}}
    assert machine.resets == []
    settings = stored(task)
    assert settings['NumCores']['value'] == '4'
    assert settings['ProcTurboMode']['value'] == 'Disabled'


def test_apply_pending_reboots_then_verifies(fake, task, iface):
    machine = Machine(fake)
    iface.apply_configuration(task, [{'name': 'ProcTurboMode',
                                      'value': 'Disabled'}])
    assert machine.resets == ['ForceRestart']
    assert machine.current['ProcTurboMode'] == 'Disabled'
    assert stored(task)['ProcTurboMode']['value'] == 'Disabled'


def test_apply_already_applied_touches_nothing(fake, task, iface):
    machine = Machine(fake)
    iface.apply_configuration(task, [{'name': 'NumCores', 'value': '8'}])
    assert fake.requested('PATCH') == []
    assert machine.resets == []
    assert stored(task)['NumCores']['value'] == '8'


def test_apply_never_taking_effect_times_out(fake, task, iface):
    machine = Machine(fake, stuck=True)
    with pytest.raises(exception.DriverOperationError) as err:
        iface.apply_configuration(task, [{'name': 'ProcTurboMode',
                                          'value': 'Disabled'}])
    assert 'Timed out after 1s' in str(err.value)
    assert 'ProcTurboMode' in str(err.value)
    assert machine.resets == ['ForceRestart']


def test_apply_without_registry_checks_names_and_keeps_types(fake, task,
                                                             iface):
    Machine(fake, immediate=True)
    fake.registries.clear()
    with pytest.raises(exception.InvalidParameterValue) as err:
        iface.apply_configuration(task, [{'name': 'Bogus', 'value': 1}])
    assert 'Bogus is not a BIOS setting' in str(err.value)
    iface.apply_configuration(task, [{'name': 'NumCores', 'value': '6'},
                                     {'name': 'QuietBoot', 'value': 'no'}])
    [(_, _, body)] = fake.requested('PATCH')
    assert body == {'Attributes': {'NumCores': 6, 'QuietBoot': False}}


def test_password_written_never_shown(fake, task, iface, caplog):
    caplog.set_level(logging.DEBUG, logger='bootflow')
    machine = Machine(fake, immediate=True)
    iface.apply_configuration(task, [{'name': 'AdminPassword',
                                      'value': SECRET}])
    [(_, _, body)] = fake.requested('PATCH')
    assert body == {'Attributes': {'AdminPassword': SECRET}}
    assert machine.resets == []  # cannot be read back: not waited for
    with pytest.raises(exception.InvalidParameterValue) as err:
        iface.apply_configuration(task, [{'name': 'AdminPassword',
                                          'value': SECRET * 3}])
    assert SECRET not in str(err.value) and '***' in str(err.value)
    bootflow_logs = [r.getMessage() for r in caplog.records
                     if r.name.startswith('bootflow')]
    assert bootflow_logs and not any(SECRET in m for m in bootflow_logs)
    assert stored(task)['AdminPassword']['value'] is None


def test_bmc_without_settings_object(fake, task, iface):
    Machine(fake, settings_object=False)
    with pytest.raises(exception.DriverOperationError) as err:
        iface.apply_configuration(task, [{'name': 'ProcTurboMode',
                                          'value': 'Disabled'}])
    assert 'no @Redfish.Settings' in str(err.value)


def test_bmc_rejection_is_translated(fake, task, iface):
    Machine(fake)
    fake.registries.clear()
    fake.on('PATCH', fakebmc.BIOS_SETTINGS, lambda _: fakebmc.Response(
        400, fakebmc.error_body('Attribute is locked')))
    with pytest.raises(exception.DriverOperationError) as err:
        iface.apply_configuration(task, [{'name': 'ProcTurboMode',
                                          'value': 'Disabled'}])
    assert 'Redfish BIOS settings change failed' in str(err.value)
    assert 'HTTP 400' in str(err.value)


def test_factory_reset_waits_for_registry_defaults(fake, task, iface):
    machine = Machine(fake, attributes=dict(CURRENT, ProcTurboMode='Disabled',
                                            NumCores=2))
    iface.factory_reset(task)
    assert fake.requested('POST', fakebmc.BIOS + '/Actions/Bios.ResetBios')
    assert machine.resets == ['ForceRestart']
    assert (machine.current['ProcTurboMode'], machine.current['NumCores']) \
        == ('Enabled', 8)
    assert stored(task)['NumCores']['value'] == '8'


def test_factory_reset_without_defaults_uses_pending(fake, task, iface):
    machine = Machine(fake, attributes=dict(CURRENT, NumCores=2))
    fake.registries.clear()
    iface.factory_reset(task)
    assert machine.resets == ['ForceRestart']
    assert stored(task)['NumCores']['value'] == '8'


def test_factory_reset_applied_at_once_needs_no_reboot(fake, task, iface):
    machine = Machine(fake, attributes=dict(CURRENT, NumCores=2),
                      immediate=True)
    fake.registries.clear()
    iface.factory_reset(task)
    assert machine.resets == []
    assert stored(task)['NumCores']['value'] == '8'


def test_factory_reset_unverifiable_reboots_once(fake, task, iface):
    machine = Machine(fake, stuck=True)
    fake.registries.clear()
    iface.factory_reset(task)
    assert machine.resets == ['ForceRestart']


def test_unreachable_bmc(fake, task, iface):
    Machine(fake)
    fake.unreachable = 100
    with pytest.raises(exception.DriverOperationError) as err:
        iface.cache_bios_settings(task)
    assert 'could not connect to the BMC' in str(err.value)
    assert rf.PASSWORD not in str(err.value)
