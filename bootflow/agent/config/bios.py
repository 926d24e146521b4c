"""The ``bios`` section: firmware settings through a backend.

One real, vendor-neutral backend ships: the kernel's firmware-attributes
class (/sys/class/firmware-attributes/<driver>/attributes/<name>/), which
the dell-wmi-sysman, think-lmi (Lenovo) and hp-bioscfg drivers provide on
machines they support. Writing ``current_value`` stages a setting for the
next boot. Setting names and values are the firmware's own (e.g. Dell's
``BootMode: Uefi``), used verbatim. Firmware protected by an admin
password is refused: bootflow has no way to hold that password safely yet.

Vendor tools (racadm, ...) can be added by a package declaring a
``BiosBackend`` subclass under the entry point group
``bootflow.agent.bios_backends``. Without a backend that recognises the
machine the section is skipped in user mode ("no supported BIOS tool for
<vendor>") and fails in developer mode, since there is nothing to try.

For development, ``BOOTFLOW_FIRMWARE_ATTRIBUTES`` (environment) points
the sysfs backend at another directory laid out like the sysfs class; the
tests use that with a directory tree they create.
"""

import errno
import os

from bootflow.agent.config import base

ConfigError = base.ConfigError

PLUGIN_GROUP = 'bootflow.agent.bios_backends'
SYSFS_CLASS = '/sys/class/firmware-attributes'


class BiosBackend:
    """What a BIOS backend implements.

    ``detect``: whether it can drive this machine. ``current``:
    {setting: {"value": str, "possible": [str] or None}}. ``write``:
    stage {setting: str} (only the ones that differ are given).
    """
    name = 'backend'

    def detect(self, ctx):
        return False

    def current(self, ctx):
        raise NotImplementedError

    def write(self, settings, ctx):
        raise NotImplementedError

    def pending_reboot(self, ctx):
        return False


def _read(path, default=None):
    try:
        with open(path) as stream:
            return stream.read().strip()
    except OSError:
        return default


class FirmwareAttributes(BiosBackend):
    """The kernel's firmware-attributes sysfs class."""
    name = 'firmware-attributes'

    def __init__(self, root=None):
        self.root = root or os.environ.get('BOOTFLOW_FIRMWARE_ATTRIBUTES',
                                           SYSFS_CLASS)

    def _driver(self):
        try:
            drivers = sorted(os.listdir(self.root))
        except OSError:
            return None
        for driver in drivers:
            attrs = os.path.join(self.root, driver, 'attributes')
            if os.path.isdir(attrs) and os.listdir(attrs):
                return os.path.join(self.root, driver)
        return None

    def detect(self, ctx):
        return self._driver() is not None

    def current(self, ctx):
        attrs = os.path.join(self._driver(), 'attributes')
        found = {}
        for name in sorted(os.listdir(attrs)):
            value = _read(os.path.join(attrs, name, 'current_value'))
            if value is None:
                continue    # not a setting (e.g. pending_reboot)
            possible = _read(os.path.join(attrs, name, 'possible_values'))
            found[name] = {'value': value, 'possible': [
                v for v in possible.split(';') if v] if possible else None}
        return found

    def _locked(self):
        auth = os.path.join(self._driver(), 'authentication')
        try:
            roles = os.listdir(auth)
        except OSError:
            return False
        return any(_read(os.path.join(auth, r, 'is_enabled')) == '1'
                   for r in roles)

    def write(self, settings, ctx):
        if self._locked():
            raise ConfigError('the firmware is protected by a BIOS '
                              'password, which bootflow cannot supply')
        attrs = os.path.join(self._driver(), 'attributes')
        for name, value in settings.items():
            path = os.path.join(attrs, name, 'current_value')
            try:
                with open(path, 'w') as stream:
                    stream.write(value)
            except OSError as exc:
                reason = ('the firmware refused the value'
                          if exc.errno == errno.EINVAL else exc.strerror)
                raise ConfigError('bios.settings.%s: cannot set %r: %s'
                                  % (name, value, reason)) from None

    def pending_reboot(self, ctx):
        path = os.path.join(self._driver(), 'attributes', 'pending_reboot')
        return _read(path) == '1'


def backends():
    return [FirmwareAttributes()] + base.plugins(PLUGIN_GROUP)


def _vendor(inventory):
    vendor = ((inventory or {}).get('system_vendor') or {}).get(
        'manufacturer')
    return vendor or 'this machine'


def _diff(wanted, current):
    """{setting: new} for what differs; unknown names and values outside
    the firmware's list fail before anything is written."""
    changes = {}
    for name, value in wanted.items():
        value = str(value)
        if name not in current:
            raise ConfigError('bios.settings.%s: no such BIOS setting '
                              '(the firmware has %d settings, e.g. %s)'
                              % (name, len(current),
                                 ', '.join(sorted(current)[:5])))
        possible = current[name]['possible']
        if possible and value not in possible:
            raise ConfigError('bios.settings.%s: %r is not one of: %s'
                              % (name, value, ', '.join(possible)))
        if current[name]['value'] != value:
            changes[name] = value
    return changes


def run(spec, ctx):
    """Apply (or plan) the ``bios`` section."""
    backend = next((b for b in backends() if b.detect(ctx)), None)
    if backend is None:
        return ctx.unsupported('bios', 'no supported BIOS tool for %s'
                               % _vendor(ctx.inventory))
    current = backend.current(ctx)
    todo = _diff(spec['settings'], current)
    changes = ['BIOS %s: %s -> %s' % (name, current[name]['value'], value)
               for name, value in todo.items()]
    if not ctx.dry_run and todo:
        backend.write(todo, ctx)
        if backend.pending_reboot(ctx):
            changes.append('BIOS: the new settings apply at the next boot')
    return ctx.result('bios', changes)
