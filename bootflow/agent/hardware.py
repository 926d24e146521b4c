"""Ranked hardware managers: how vendor knowledge plugs into the agent.

Every operation the agent performs on the machine (collect the inventory,
apply a template section) goes through :func:`dispatch`.  Managers are
plugins of the stevedore group ``bootflow.agent.hardware_managers``; each
says how well it supports *this* machine, and for each operation the best
ranked manager that has a method of that name wins.  A vendor plugin thus
overrides a single operation by defining only that method, and everything
else still falls through to :class:`GenericHardwareManager`.  A manager
that finds, while running, that it cannot handle the case raises
:class:`IncompatibleHardware` and the next manager gets the call.
"""

import collections
import logging

from stevedore import extension

from bootflow.agent import inventory as inventory_mod

LOG = logging.getLogger(__name__)

NAMESPACE = 'bootflow.agent.hardware_managers'

NONE = 0
"""Does not support this machine: never called."""
GENERIC = 1
"""Works anywhere Linux runs, using only standard kernel interfaces."""
MAINLINE = 2
"""Knows this vendor or device family (a vendor plugin)."""
SERVICE_PROVIDER = 3
"""Site-specific override, deliberately above any vendor plugin."""

Ranked = collections.namedtuple('Ranked', 'rank name manager')


class IncompatibleHardware(Exception):
    """Raised by a manager's operation to hand the call to the next one."""


class NoManagerFound(Exception):
    """No supporting manager implements (or accepted) an operation."""


class HardwareManager(object):
    """Base of all managers: by itself it supports nothing and does nothing.

    Deliberately without operations, so a vendor manager deriving from it
    implements exactly the methods it defines and no others.
    """

    def evaluate_hardware_support(self, system):
        """Rank for ``system`` (NONE, GENERIC, MAINLINE, SERVICE_PROVIDER).

        Should be cheap and must not change the machine: it runs for every
        manager each time the managers are ranked.
        """
        return NONE


class GenericHardwareManager(HardwareManager):
    """What any Linux machine supports, the fallback for every operation."""

    def evaluate_hardware_support(self, system):
        return GENERIC

    def collect_inventory(self, system, bootif=None):
        """(inventory, notes) from the installed collectors."""
        return inventory_mod.collect(system, bootif=bootif)

    def apply_config_section(self, section, spec, dry_run=False,
                             developer=False, inventory=None):
        """Apply one template section with the generic executors.

        Imported lazily: the executors pull in tool wrappers the inventory
        and the hardware-manager plumbing do not need.
        """
        from bootflow.agent import config
        return config.apply(section, spec, inventory=inventory,
                            dry_run=dry_run, developer=developer)


def load_extensions():
    """The installed managers, instantiated (no arguments).

    A manager that fails to import is logged and skipped: the generic one
    must keep working when a vendor plugin is broken.
    """
    def failed(manager, entrypoint, exc):
        LOG.error('hardware manager %s could not be loaded: %s',
                  entrypoint.name, exc)

    return extension.ExtensionManager(
        namespace=NAMESPACE, invoke_on_load=True,
        on_load_failure_callback=failed)


def _rank(ext, system):
    try:
        rank = int(ext.obj.evaluate_hardware_support(system) or NONE)
    except Exception:
        LOG.exception('hardware manager %s failed to evaluate support; '
                      'ignored', ext.name)
        return NONE
    LOG.debug('hardware manager %s: support %s', ext.name, rank)
    return rank


def managers(system, extensions=None):
    """Supporting managers as :data:`Ranked`, best first, ties by name.

    ``extensions`` (an ExtensionManager or a list of stevedore extensions
    whose ``obj`` is the manager) replaces the installed plugins.
    """
    if extensions is None:
        extensions = load_extensions()
    ranked = [Ranked(_rank(ext, system), ext.name, ext.obj)
              for ext in extensions]
    ranked = [r for r in ranked if r.rank > NONE]
    return sorted(ranked, key=lambda r: (-r.rank, r.name))


class Dispatcher(object):
    """The managers ranked once for one machine, dispatching operations.

    Ranking probes the hardware, so the agent keeps one Dispatcher for its
    lifetime instead of re-evaluating on every command.
    """

    def __init__(self, system, extensions=None):
        self.system = system
        self.managers = managers(system, extensions=extensions)

    def implementers(self, method):
        """Ranked managers having ``method``, in the order they are tried."""
        return [r for r in self.managers
                if callable(getattr(r.manager, method, None))]

    def dispatch(self, method, *args, **kwargs):
        """Call ``method(*args, **kwargs)`` on the best manager having it.

        Arguments are passed through untouched (operations that need the
        machine take ``system`` explicitly, like ``collect_inventory``).
        """
        tried = []
        for ranked in self.implementers(method):
            try:
                return getattr(ranked.manager, method)(*args, **kwargs)
            except IncompatibleHardware as exc:
                LOG.info('hardware manager %s declined %s: %s',
                         ranked.name, method, exc)
                tried.append(ranked.name)
        if tried:
            raise NoManagerFound('every hardware manager implementing %s '
                                 'declined it (%s)'
                                 % (method, ', '.join(tried)))
        raise NoManagerFound('no hardware manager supporting this machine '
                             'implements %s' % method)


def dispatch(system, method, *args, **kwargs):
    """One-shot :meth:`Dispatcher.dispatch` (ranks the managers each call)."""
    return Dispatcher(system).dispatch(method, *args, **kwargs)
