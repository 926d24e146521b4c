"""Loading hardware types and interfaces with stevedore.

Only what configuration enables is imported. A conductor builds a
:class:`DriverCatalog` once at start-up; it answers which interface a node
gets by default, whether a requested one is allowed, and hands out one
shared instance per interface (interfaces keep no per-node state in the
instance).
"""

from importlib import metadata
import threading

import stevedore

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.conf import drivers as driver_opts

INTERFACE_KINDS = driver_opts.INTERFACE_KINDS
HW_GROUP = 'bootflow.hardware.types'
IFACE_GROUP = 'bootflow.hardware.interfaces.%s'


def _load(group, names):
    missing = []

    def on_missing(names_missing):
        missing.extend(names_missing)

    mgr = stevedore.NamedExtensionManager(
        group, names, invoke_on_load=True, name_order=True,
        on_missing_entrypoints_callback=on_missing,
        propagate_map_exceptions=True)
    return {ext.name: ext.obj for ext in mgr}, missing


class ComposedDriver:
    """A node's driver: one interface instance per kind, as attributes."""

    def __init__(self, hardware_type_name, hardware_type, interfaces):
        self.name = hardware_type_name
        self.hardware_type = hardware_type
        for kind, iface in interfaces.items():
            setattr(self, kind, iface)
        self.interfaces = interfaces


class DriverCatalog:
    def __init__(self, hardware_types, interfaces):
        self.hardware_types = hardware_types    # name -> object
        self.interfaces = interfaces            # kind -> {name: object}

    @classmethod
    def from_config(cls):
        hw, missing = _load(HW_GROUP, CONF.enabled_hardware_types)
        if missing:
            raise exception.DriverNotFound(driver_name=', '.join(missing))
        interfaces = {}
        for kind in INTERFACE_KINDS:
            enabled = getattr(CONF, 'enabled_%s_interfaces' % kind)
            loaded, missing = _load(IFACE_GROUP % kind, enabled)
            if missing:
                raise exception.InterfaceNotFoundInEntrypoint(
                    iface=', '.join(missing), entrypoint=IFACE_GROUP % kind,
                    valid=', '.join(sorted(_available(IFACE_GROUP % kind))))
            interfaces[kind] = loaded
        return cls(hw, interfaces)

    def enabled_for(self, hw_name, kind):
        """Interfaces of ``kind`` that ``hw_name`` supports and config
        enables, in the hardware type's order of preference."""
        hw = self.hardware_types[hw_name]
        return [n for n in hw.supported(kind) if n in self.interfaces[kind]]

    def default_for(self, hw_name, kind):
        enabled = self.enabled_for(hw_name, kind)
        configured = getattr(CONF, 'default_%s_interface' % kind)
        if configured and configured in enabled:
            return configured
        return enabled[0] if enabled else None

    def describe(self):
        """What a conductor publishes in the database for the API."""
        return {hw: {kind: {'enabled': self.enabled_for(hw, kind),
                            'default': self.default_for(hw, kind)}
                     for kind in INTERFACE_KINDS}
                for hw in self.hardware_types}

    def driver_for(self, node):
        hw_name = node['driver'] if isinstance(node, dict) else node.driver
        if hw_name not in self.hardware_types:
            raise exception.DriverNotFound(driver_name=hw_name)
        get = node.get if isinstance(node, dict) else (
            lambda key: getattr(node, key))
        interfaces = {}
        for kind in INTERFACE_KINDS:
            name = get('%s_interface' % kind) or self.default_for(hw_name,
                                                                  kind)
            try:
                interfaces[kind] = self.interfaces[kind][name]
            except KeyError:
                raise exception.InterfaceNotFoundInEntrypoint(
                    iface=name, entrypoint=IFACE_GROUP % kind,
                    valid=', '.join(self.interfaces[kind]))
        return ComposedDriver(hw_name, self.hardware_types[hw_name],
                              interfaces)


def _available(group):
    return sorted({ep.name for ep in metadata.entry_points(group=group)})


_CATALOG = None
_CATALOG_LOCK = threading.Lock()


def catalog():
    global _CATALOG
    if _CATALOG is None:
        with _CATALOG_LOCK:
            if _CATALOG is None:
                _CATALOG = DriverCatalog.from_config()
    return _CATALOG


def reset():
    global _CATALOG
    _CATALOG = None
