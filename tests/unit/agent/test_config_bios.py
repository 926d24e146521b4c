"""The bios executor: the firmware-attributes sysfs backend on a directory
laid out like /sys/class/firmware-attributes (BOOTFLOW_FIRMWARE_ATTRIBUTES
points the backend at it), and the user/developer rule without backend."""

import pytest

from bootflow.agent import config
from bootflow.agent.config import bios

DELL = {'system_vendor': {'manufacturer': 'Dell Inc.'}}


@pytest.fixture
def sysfs(tmp_path, monkeypatch):
    """A dell-wmi-sysman-like tree with two enumeration settings."""
    root = tmp_path / 'firmware-attributes'
    attrs = root / 'dell-wmi-sysman' / 'attributes'
    for name, value, possible in (('BootMode', 'Bios', 'Bios;Uefi;'),
                                  ('HyperThreading', 'Enabled',
                                   'Enabled;Disabled')):
        (attrs / name).mkdir(parents=True)
        (attrs / name / 'current_value').write_text(value + '\n')
        (attrs / name / 'possible_values').write_text(possible + '\n')
        (attrs / name / 'type').write_text('enumeration\n')
    (attrs / 'pending_reboot').write_text('0\n')
    auth = root / 'dell-wmi-sysman' / 'authentication' / 'Admin'
    auth.mkdir(parents=True)
    (auth / 'is_enabled').write_text('0\n')
    monkeypatch.setenv('BOOTFLOW_FIRMWARE_ATTRIBUTES', str(root))
    return attrs


def value(attrs, name):
    return (attrs / name / 'current_value').read_text().strip()


def test_dry_run_lists_differences_only(sysfs):
    spec = {'settings': {'BootMode': 'Uefi', 'HyperThreading': 'Enabled'}}
    result = config.apply('bios', spec, inventory=DELL, dry_run=True)
    assert result == {'section': 'bios', 'changes': ['BIOS BootMode: Bios '
                                                     '-> Uefi'],
                      'applied': False, 'skipped': None}
    assert value(sysfs, 'BootMode') == 'Bios'


def test_apply_stages_the_settings(sysfs):
    (sysfs / 'pending_reboot').write_text('1\n')   # what the kernel does
    result = config.apply('bios', {'settings': {'BootMode': 'Uefi'}})
    assert result['changes'] == ['BIOS BootMode: Bios -> Uefi',
                                 'BIOS: the new settings apply at the next '
                                 'boot']
    assert result['applied'] is True
    assert value(sysfs, 'BootMode') == 'Uefi'
    assert config.apply('bios', {'settings': {'BootMode': 'Uefi'}})[
        'changes'] == []


def test_unknown_setting_and_value(sysfs):
    with pytest.raises(config.ConfigError) as info:
        config.apply('bios', {'settings': {'SecureBoot': 'Enabled'}})
    assert str(info.value) == ('bios.settings.SecureBoot: no such BIOS '
                               'setting (the firmware has 2 settings, e.g. '
                               'BootMode, HyperThreading)')
    with pytest.raises(config.ConfigError) as info:
        config.apply('bios', {'settings': {'BootMode': 'UEFI'}})
    assert str(info.value) == ("bios.settings.BootMode: 'UEFI' is not one "
                               "of: Bios, Uefi")
    assert value(sysfs, 'BootMode') == 'Bios'


def test_password_protected_firmware(sysfs):
    (sysfs.parent / 'authentication' / 'Admin' / 'is_enabled').write_text(
        '1\n')
    with pytest.raises(config.ConfigError) as info:
        config.apply('bios', {'settings': {'BootMode': 'Uefi'}})
    assert str(info.value) == ('the firmware is protected by a BIOS '
                               'password, which bootflow cannot supply')
    assert value(sysfs, 'BootMode') == 'Bios'


def test_no_backend(tmp_path, monkeypatch):
    monkeypatch.setenv('BOOTFLOW_FIRMWARE_ATTRIBUTES', str(tmp_path))
    spec = {'settings': {'BootMode': 'Uefi'}}
    assert config.apply('bios', spec, inventory=DELL) == {
        'section': 'bios', 'changes': [], 'applied': False,
        'skipped': 'no supported BIOS tool for Dell Inc.'}
    assert config.apply('bios', spec)['skipped'] == (
        'no supported BIOS tool for this machine')
    with pytest.raises(config.ConfigError) as info:
        config.apply('bios', spec, inventory=DELL, developer=True)
    assert str(info.value) == 'no supported BIOS tool for Dell Inc.'


def test_plugin_backend(tmp_path, monkeypatch):
    monkeypatch.setenv('BOOTFLOW_FIRMWARE_ATTRIBUTES', str(tmp_path))

    class Racadm(bios.BiosBackend):
        written = None

        def detect(self, ctx):
            return True

        def current(self, ctx):
            return {'BootMode': {'value': 'Bios', 'possible': None}}

        def write(self, settings, ctx):
            Racadm.written = settings

    monkeypatch.setattr(bios.base, 'plugins', lambda group: [Racadm()])
    result = config.apply('bios', {'settings': {'BootMode': 'Uefi'}})
    assert result['changes'] == ['BIOS BootMode: Bios -> Uefi']
    assert Racadm.written == {'BootMode': 'Uefi'}
