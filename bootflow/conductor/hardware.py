"""Worker bodies for node operations that are not provisioning: boot mode,
secure boot, console, virtual media; reading the hardware's data into the
database; and recording failures in the node's history.

Each runs in a conductor worker holding the node's lock (see
``task_manager``), like a power action, and records a failure in
``last_error`` and the history instead of raising, since nobody waits
for the result.
"""

from oslo_log import log

from bootflow.common import exception
from bootflow.conductor.flows import runner
from bootflow.db import node_data

LOG = log.getLogger(__name__)


def record_error(task, message, event_type=None):
    """``message`` becomes the node's last_error and a history event."""
    task.node.last_error = message
    node_data.record_event(task.node, message, event_type,
                           conductor=task.service.host, context=task.context)


def _run(task, action, error_format, event_type=None, **kwargs):
    """Call ``action``; on failure record the formatted error. Returns
    whether it succeeded; the node is saved either way."""
    try:
        action(task, **kwargs)
    except Exception as e:
        LOG.error(error_format, dict(kwargs, node=task.node.uuid, exc=e),
                  exc_info=not isinstance(e, exception.BootflowException))
        record_error(task, error_format % dict(kwargs, node=task.node.uuid,
                                               exc=e), event_type)
        task.node.save()
        return False
    task.node.last_error = None
    task.node.save()
    return True


def _change(task, field, getter, setter, value, what):
    """Set a management setting unless the hardware already has it, then
    mirror it on the node (boot_mode, secure_boot)."""
    if _current(getter, task) != value:
        ok = _run(task, lambda t, target: setter(t, target),
                  "Failed to change %s to '%%(target)s': %%(exc)s" % what,
                  target=value)
        if not ok:
            return
    setattr(task.node, field, value)
    task.node.save()


def change_boot_mode(task, mode):
    management = task.driver.management
    _change(task, 'boot_mode', management.get_boot_mode,
            management.set_boot_mode, mode, 'boot mode')


def change_secure_boot(task, enabled):
    management = task.driver.management
    _change(task, 'secure_boot', management.get_secure_boot_state,
            management.set_secure_boot_state, enabled, 'secure_boot state')


def _current(getter, task):
    """What the hardware reports now, or None when it cannot tell (the
    change is then attempted anyway)."""
    try:
        return getter(task)
    except Exception as e:
        LOG.debug('Could not read the current state of node %s: %s',
                  task.node.uuid, e)
        return None


def set_console(task, enabled):
    console = task.driver.console
    action = console.start_console if enabled else console.stop_console
    ok = _run(task, lambda t: action(t),
              'Error %s the console on node %%(node)s. Reason: %%(exc)s'
              % ('enabling' if enabled else 'disabling'), 'console')
    if ok:
        task.node.console_enabled = enabled
        task.node.save()


def attach_virtual_media(task, device_type, image_url):
    _run(task, task.driver.management.attach_virtual_media,
         'Could not attach device %(device_type)s to node %(node)s: '
         '%(exc)s', device_type=device_type, image_url=image_url)


def detach_virtual_media(task, device_types):
    _run(task, task.driver.management.detach_virtual_media,
         'Could not detach device(s) %(device_types)s from node %(node)s: '
         '%(exc)s', device_types=device_types)


def update_cache(task):
    """Read what the hardware reports (boot mode, BIOS settings, firmware
    versions) into the node and the database. Never fails: a driver that
    cannot tell leaves the cache as it was. The first read that fails
    ends the refresh — a BMC that does not answer would otherwise cost
    every later read its full timeout before the flow even starts."""
    node = task.node
    management = task.driver.management
    for field, getter in (('boot_mode', management.get_boot_mode),
                          ('secure_boot', management.get_secure_boot_state)):
        try:
            value = getter(task)
        except exception.UnsupportedDriverExtension:
            continue
        except Exception as e:
            LOG.warning('Could not read %s of node %s, not refreshing its '
                        'hardware cache: %s', field, node.uuid, e)
            node.save()
            return
        if value is not None and getattr(node, field) != value:
            setattr(node, field, value)
    node.save()
    for kind, method in (('bios', 'cache_bios_settings'),
                         ('firmware', 'cache_firmware_components')):
        iface = task.driver.interfaces[kind]
        if not iface.supported:
            continue
        try:
            getattr(iface, method)(task)
        except Exception:
            LOG.exception('Caching %s data of node %s failed; not reading '
                          'more', kind, node.uuid)
            return


def cache_then_start(task, name, **kwargs):
    """Worker body: refresh the hardware cache, then run the flow."""
    update_cache(task)
    runner.start(task, name, **kwargs)
