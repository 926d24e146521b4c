"""Ranked hardware managers and dispatch, with a fake vendor plugin.

The vendor manager is registered programmatically (a stevedore test
instance next to the real generic manager) and overrides one operation
only, the way a site plugin would.
"""

import pathlib
import sys
import types

import pytest
from stevedore import extension

import bootflow.agent
from bootflow.agent import hardware
from bootflow.agent import system as system_mod

HOSTS = pathlib.Path(__file__).resolve().parents[2] / 'fixtures' / 'hosts'
SERVER = system_mod.System(HOSTS / 'server')
VM = system_mod.System(HOSTS / 'vm')


class DellBiosManager(hardware.HardwareManager):
    """Knows Dell BIOS settings; nothing else."""

    def evaluate_hardware_support(self, system):
        vendor = system.value('sys/class/dmi/id/sys_vendor') or ''
        return hardware.MAINLINE if vendor.startswith('Dell') \
            else hardware.NONE

    def apply_config_section(self, section, spec, dry_run=False,
                             developer=False, inventory=None):
        if section != 'bios':
            raise hardware.IncompatibleHardware('only BIOS on Dell')
        return {'section': section, 'changes': ['racadm: %s' % spec],
                'applied': not dry_run, 'skipped': None}


class SiteManager(hardware.HardwareManager):
    def evaluate_hardware_support(self, system):
        return hardware.SERVICE_PROVIDER

    def collect_inventory(self, system, bootif=None):
        raise hardware.IncompatibleHardware('only on rack B')


class Broken(hardware.HardwareManager):
    def evaluate_hardware_support(self, system):
        raise RuntimeError('probe crashed')

    def collect_inventory(self, system, bootif=None):
        raise AssertionError('never called')


def plugins(*classes):
    """A stevedore test instance: the installed generic + ``classes``."""
    exts = [extension.Extension(name, None, cls, cls())
            for name, cls in (('generic', hardware.GenericHardwareManager),)
            + classes]
    return extension.ExtensionManager.make_test_instance(exts)


@pytest.fixture
def fake_config(monkeypatch):
    """Stand-in for helper C's bootflow.agent.config (imported lazily)."""
    calls = []

    def apply(section, spec, inventory=None, dry_run=False, developer=False):
        calls.append((section, spec, inventory, dry_run, developer))
        return {'section': section, 'changes': [], 'applied': False,
                'skipped': 'generic'}

    module = types.ModuleType('bootflow.agent.config')
    module.apply = apply
    monkeypatch.setitem(sys.modules, 'bootflow.agent.config', module)
    monkeypatch.setattr(bootflow.agent, 'config', module, raising=False)
    return calls


def test_levels_order():
    assert hardware.NONE < hardware.GENERIC < hardware.MAINLINE \
        < hardware.SERVICE_PROVIDER


def test_installed_managers():
    ranked = hardware.managers(SERVER)
    assert [(r.rank, r.name) for r in ranked] == [
        (hardware.GENERIC, 'generic')]
    assert isinstance(ranked[0].manager, hardware.GenericHardwareManager)


def test_ranking_drops_unsupported_and_broken():
    exts = plugins(('dell', DellBiosManager), ('site', SiteManager),
                   ('broken', Broken))
    assert [(r.rank, r.name) for r in hardware.managers(SERVER, exts)] == [
        (3, 'site'), (2, 'dell'), (1, 'generic')]
    # the VM has no DMI: the Dell plugin is not even considered
    assert [r.name for r in hardware.managers(VM, exts)] == [
        'site', 'generic']


def test_ties_by_name():
    class Other(DellBiosManager):
        pass

    exts = plugins(('zeta', DellBiosManager), ('alpha', Other))
    assert [r.name for r in hardware.managers(SERVER, exts)] == [
        'alpha', 'zeta', 'generic']


def test_vendor_overrides_one_operation(fake_config):
    dispatcher = hardware.Dispatcher(SERVER, plugins(('dell',
                                                      DellBiosManager)))
    result = dispatcher.dispatch('apply_config_section', 'bios',
                                 {'BootMode': 'Uefi'}, dry_run=True)
    assert result['changes'] == ["racadm: {'BootMode': 'Uefi'}"]
    assert fake_config == []
    # the vendor does not collect inventories: generic does, for real
    inv, notes = dispatcher.dispatch('collect_inventory', SERVER)
    assert inv['system_vendor']['product_name'] == 'PowerEdge R640'
    assert [r.name for r in dispatcher.implementers('collect_inventory')] \
        == ['generic']


def test_incompatible_passes_to_next(fake_config):
    dispatcher = hardware.Dispatcher(SERVER, plugins(('dell',
                                                      DellBiosManager)))
    result = dispatcher.dispatch('apply_config_section', 'raid',
                                 {'software': 'auto'}, developer=True,
                                 inventory={'disks': []})
    assert result['skipped'] == 'generic'
    assert fake_config == [('raid', {'software': 'auto'}, {'disks': []},
                            False, True)]


def test_unsupported_vendor_not_called(fake_config):
    dispatcher = hardware.Dispatcher(VM, plugins(('dell', DellBiosManager)))
    dispatcher.dispatch('apply_config_section', 'bios', {'X': 'Y'})
    assert fake_config == [('bios', {'X': 'Y'}, None, False, False)]


def test_site_declines_inventory():
    dispatcher = hardware.Dispatcher(VM, plugins(('site', SiteManager)))
    inv, _ = dispatcher.dispatch('collect_inventory', VM,
                                 bootif='02:fc:00:00:00:01')
    assert inv['boot']['pxe_interface'] == '02:fc:00:00:00:01'


def test_nobody_implements():
    dispatcher = hardware.Dispatcher(SERVER, plugins())
    with pytest.raises(hardware.NoManagerFound, match='implements erase'):
        dispatcher.dispatch('erase_devices')
    only_site = extension.ExtensionManager.make_test_instance(
        [extension.Extension('site', None, SiteManager, SiteManager())])
    with pytest.raises(hardware.NoManagerFound, match=r'declined it \(site'):
        hardware.Dispatcher(SERVER, only_site).dispatch('collect_inventory',
                                                        SERVER)


def test_module_dispatch_uses_installed_plugins():
    inv, notes = hardware.dispatch(SERVER, 'collect_inventory', SERVER)
    assert inv['bmc_address'] == '10.0.0.42'
    assert inv['cpu']['count'] == 40
