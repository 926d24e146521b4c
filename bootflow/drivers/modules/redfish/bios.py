"""Redfish BIOS: the system's Bios resource, checked against the BMC's
attribute registry when it publishes one.

Settings are written to the Bios resource's pending settings (the
``@Redfish.Settings`` object); most firmware only takes them on the next
boot, so when the current values do not show them the node is rebooted
and the step waits, bounded by ``[redfish]bios_apply_timeout``, until they
do. A request is checked as a whole against the registry first, so a
typo fails the step before anything is written.

Password attributes are never stored, logged nor shown in errors.
"""

from oslo_log import log
from oslo_utils import strutils
from sushy import exceptions as sushy_exc

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.db import node_data
from bootflow.drivers import base
from bootflow.drivers.interfaces import optional
from bootflow.drivers.modules.redfish import tasks
from bootflow.drivers.modules.redfish import utils

LOG = log.getLogger(__name__)

PASSWORD = 'Password'
# Registry field -> the name the API shows it under.
REGISTRY_FIELDS = ('attribute_type', 'lower_bound', 'upper_bound',
                   'min_length', 'max_length', 'read_only', 'reset_required',
                   'unique')

_APPLY_ARGSINFO = {
    'settings': {
        'description': 'List of BIOS settings to apply, each '
                       '{"name": ..., "value": ...}',
        'required': True,
    },
}


def _registry(node, bios):
    """Attribute name -> registry entry, or None when the BMC has no
    registry (or it cannot be read: the settings then go unchecked, as
    the BMC still checks them itself)."""
    try:
        registry = bios.get_attribute_registry()
        entries = registry.registry_entries.attributes if registry else None
    except (sushy_exc.SushyError, AttributeError) as exc:
        LOG.warning('Node %s: the BIOS attribute registry could not be '
                    'read, settings are not checked against it: %s',
                    node.uuid, exc)
        return None
    if not entries:
        return None
    return {entry.name: entry for entry in entries}


def _allowable(entry):
    """Enumeration values as names (the registry lists objects)."""
    values = []
    for value in entry.allowable_values or ():
        name = value.get('ValueName') if isinstance(value, dict) else value
        if name is not None:
            values.append(str(name))
    return values


def _setting(name, value, entry):
    """One setting as ``node_data.set_bios_settings`` stores it."""
    is_password = entry is not None and entry.attribute_type == PASSWORD
    setting = {'name': name, 'value': None if is_password else value}
    if entry is None:
        return setting
    for field in REGISTRY_FIELDS:
        known = getattr(entry, field, None)
        if known is not None:
            setting[field] = known
    if entry.immutable:
        setting['read_only'] = True
    if entry.attribute_type == 'Enumeration':
        setting['allowable_values'] = _allowable(entry)
    return setting


def _same(current, wanted):
    """Whether the BMC's value is the wanted one, whatever JSON type
    either is given in ("10" and 10, "true" and True are the same)."""
    def norm(value):
        if isinstance(value, bool):
            return 'true' if value else 'false'
        text = '' if value is None else str(value)
        return text.lower() if text.lower() in ('true', 'false') else text
    return norm(current) == norm(wanted)


def parse_settings(node, settings):
    """``[{'name', 'value'}]`` -> ordered ``{name: value}``."""
    if not isinstance(settings, list) or not settings:
        raise exception.InvalidParameterValue(
            err='BIOS settings for node %s must be a non-empty list of '
                '{"name": ..., "value": ...}' % node.uuid)
    wanted, problems = {}, []
    for index, item in enumerate(settings):
        if not isinstance(item, dict) or not isinstance(
                item.get('name'), str) or not item['name'] \
                or 'value' not in item:
            problems.append('item %d is not {"name": ..., "value": ...}'
                            % index)
        elif item['name'] in wanted:
            problems.append('%s is given more than once' % item['name'])
        else:
            wanted[item['name']] = item['value']
    if problems:
        raise exception.InvalidParameterValue(
            err='Invalid BIOS settings for node %s: %s'
                % (node.uuid, '; '.join(problems)))
    return wanted


def _coerce(name, value, entry):
    """The value in the registry's type, or (None, reason)."""
    kind = entry.attribute_type
    shown = '***' if kind == PASSWORD else repr(value)
    if entry.read_only or entry.immutable:
        return None, '%s is read-only' % name
    if kind == 'Enumeration':
        allowed = _allowable(entry)
        if allowed and str(value) not in allowed:
            return None, '%s: %s is not one of %s' % (
                name, shown, ', '.join(allowed))
        return str(value), None
    if kind == 'Integer':
        try:
            if isinstance(value, bool):
                raise ValueError(value)
            number = int(str(value).strip())
        except ValueError:
            return None, '%s: %s is not an integer' % (name, shown)
        low, high = entry.lower_bound, entry.upper_bound
        if (low is not None and number < low) or (
                high is not None and number > high):
            return None, '%s: %s is outside %s..%s' % (
                name, shown, '' if low is None else low,
                '' if high is None else high)
        return number, None
    if kind == 'Boolean':
        try:
            return strutils.bool_from_string(value, strict=True), None
        except ValueError:
            return None, '%s: %s is not a boolean' % (name, shown)
    if kind in ('String', PASSWORD):
        text = str(value)
        low, high = entry.min_length, entry.max_length
        if (low is not None and len(text) < low) or (
                high is not None and len(text) > high):
            return None, '%s: %s is not %s to %s characters long' % (
                name, shown, 0 if low is None else low,
                'any' if high is None else high)
        return text, None
    return value, None


def _like(current, value):
    """Without a registry, the value in the JSON type the BMC reports the
    setting in (an API client may send "10" for a number)."""
    try:
        if isinstance(current, bool):
            return strutils.bool_from_string(value, strict=True)
        if isinstance(current, int) and not isinstance(value, bool):
            return int(str(value).strip())
    except ValueError:
        pass  # the BMC will say what it thinks of it
    return value


def check_settings(node, wanted, current, registry):
    """The values to write, in the BMC's types; InvalidParameterValue
    naming every bad setting. Without a registry, names are checked
    against what the BMC reports."""
    payload, problems = {}, []
    for name, value in wanted.items():
        entry = registry.get(name) if registry is not None else None
        if entry is None:
            if name not in current:
                problems.append('%s is not a BIOS setting of this system'
                                % name)
            else:
                payload[name] = _like(current[name], value)
            continue
        coerced, problem = _coerce(name, value, entry)
        if problem:
            problems.append(problem)
        else:
            payload[name] = coerced
    if problems:
        raise exception.InvalidParameterValue(
            err='Invalid BIOS settings for node %s: %s'
                % (node.uuid, '; '.join(problems)))
    return payload


def _pending_changes(bios, current):
    """Pending values that differ from the current ones: what the next
    boot will apply (empty when the BMC does not show pending values)."""
    try:
        pending = bios.pending_attributes or {}
    except (sushy_exc.SushyError, AttributeError):
        return {}
    return {name: value for name, value in pending.items()
            if value is not None and name in current
            and not _same(current[name], value)}


def _secret(name, registry):
    entry = (registry or {}).get(name)
    return entry is not None and entry.attribute_type == PASSWORD


class RedfishBIOS(optional.BIOSInterface):
    """BIOS settings of a Redfish system."""

    def get_properties(self):
        return dict(utils.COMMON_PROPERTIES)

    def validate(self, task):
        utils.parse_driver_info(task.node)

    def cache_bios_settings(self, task):
        node = task.node
        with utils.errors(node, 'BIOS settings read'):
            bios = utils.get_system(node).bios
            attributes = bios.attributes or {}
            registry = _registry(node, bios) or {}
        settings = [_setting(name, attributes[name], registry.get(name))
                    for name in sorted(attributes)]
        node_data.set_bios_settings(node.id, settings, replace=True)

    @base.clean_step(priority=0, argsinfo=_APPLY_ARGSINFO,
                     requires_ramdisk=False)
    @base.deploy_step(priority=0, argsinfo=_APPLY_ARGSINFO,
                      requires_ramdisk=False)
    def apply_configuration(self, task, settings):
        node = task.node
        wanted = parse_settings(node, settings)
        with utils.errors(node, 'BIOS settings change'):
            bios = utils.get_system(node).bios
            current = bios.attributes or {}
            registry = _registry(node, bios)
            payload = check_settings(node, wanted, current, registry)
            # Passwords cannot be compared (BMCs do not show them).
            changes = {name: value for name, value in payload.items()
                       if _secret(name, registry)
                       or not _same(current.get(name), value)}
            if changes:
                self._write(task, bios, changes, registry)
            else:
                LOG.info('Node %s: BIOS settings %s already applied',
                         node.uuid, ', '.join(sorted(payload)))
        self.cache_bios_settings(task)

    def _write(self, task, bios, changes, registry):
        node = task.node
        if not (bios.json or {}).get('@Redfish.Settings'):
            raise exception.DriverOperationError(
                err='The BMC of node %s offers no way to change BIOS '
                    'settings (its Bios resource has no @Redfish.Settings)'
                    % node.uuid)
        LOG.info('Node %s: writing BIOS settings %s', node.uuid,
                 ', '.join(sorted(changes)))
        with utils.secrets_hidden(
                str(value) for name, value in changes.items()
                if _secret(name, registry)):
            bios.set_attributes(changes)
        expected = {name: value for name, value in changes.items()
                    if not _secret(name, registry)}
        self._wait_applied(task, bios, expected,
                           'BIOS settings %s of node %s to take effect'
                           % (', '.join(sorted(changes)), node.uuid))

    @base.clean_step(priority=0, requires_ramdisk=False)
    @base.deploy_step(priority=0, requires_ramdisk=False)
    def factory_reset(self, task):
        node = task.node
        with utils.errors(node, 'BIOS factory reset'):
            bios = utils.get_system(node).bios
            before = dict(bios.attributes or {})
            defaults = self._defaults(node, bios, before)
            LOG.info('Node %s: resetting BIOS settings to factory defaults',
                     node.uuid)
            bios.reset_bios()
            what = 'the BIOS factory reset of node %s' % node.uuid
            if not defaults:
                tasks.reread(bios)
                defaults = _pending_changes(bios, bios.attributes or {})
            if defaults:
                self._wait_applied(task, bios, defaults, what)
            elif (bios.attributes or {}) == before:
                # Nothing tells success: the reset happens on the next
                # boot, whose outcome cannot be checked.
                LOG.info('Node %s: rebooting to apply %s', node.uuid, what)
                task.driver.power.reboot(task)
        self.cache_bios_settings(task)

    @staticmethod
    def _defaults(node, bios, current):
        """Registry defaults of the writable settings the system has: what
        a finished reset shows."""
        registry = _registry(node, bios) or {}
        return {name: entry.default_value
                for name, entry in registry.items()
                if name in current and entry.default_value is not None
                and not (entry.read_only or entry.immutable)
                and entry.attribute_type != PASSWORD}

    def _wait_applied(self, task, bios, expected, what):
        """Done if the current values already show ``expected``; else
        reboot and wait until they do."""
        node = task.node

        def applied():
            tasks.reread(bios)
            current = bios.attributes or {}
            return all(_same(current.get(name), value)
                       for name, value in expected.items())

        if not expected or applied():
            return
        LOG.info('Node %s: rebooting to apply %s', node.uuid, what)
        task.driver.power.reboot(task)
        tasks.poll(node, applied, CONF.redfish.bios_apply_timeout,
                   CONF.redfish.power_poll_interval, what)
