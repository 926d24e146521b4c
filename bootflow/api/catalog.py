"""The API's view of drivers and conductors, read from the database.

Conductors publish the hardware types and interfaces they loaded when
they register; the API validates and defaults node interfaces from that,
so creating a node needs no round trip to a conductor.
"""

import threading
import time

from bootflow.common import exception
from bootflow.common import hash_ring
from bootflow.conf import drivers as driver_opts
from bootflow.db import api as db_api

INTERFACE_KINDS = driver_opts.INTERFACE_KINDS
_TTL = 1.0


class Catalog:
    def __init__(self):
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._conductors = []

    def _refresh(self, force=False):
        now = time.monotonic()
        if not force and now - self._loaded_at < _TTL:
            return
        with self._lock:
            if not force and now - self._loaded_at < _TTL:
                return
            self._conductors = db_api.list_conductors()
            self._loaded_at = time.monotonic()

    def conductors(self, force=False):
        self._refresh(force)
        return self._conductors

    @staticmethod
    def is_alive(conductor):
        return hash_ring.is_alive(conductor)

    def alive(self):
        return [c for c in self.conductors() if self.is_alive(c)]

    def drivers(self):
        """hardware type -> (hosts, interface description)"""
        result = {}
        for cond in self.alive():
            for hw in cond['drivers'] or []:
                hosts, _ = result.setdefault(
                    hw, ([], (cond['interfaces'] or {}).get(hw, {})))
                hosts.append(cond['hostname'])
        return result

    def _interfaces(self, driver, group):
        for cond in self.alive():
            if (cond['conductor_group'] or '').lower() == group and \
                    driver in (cond['drivers'] or []):
                return (cond['interfaces'] or {}).get(driver, {})
        return None

    def interfaces_for(self, driver, conductor_group=''):
        group = (conductor_group or '').lower()
        found = self._interfaces(driver, group)
        if found is None:
            # a conductor may have started since the cached read
            self.conductors(force=True)
            found = self._interfaces(driver, group)
        if found is not None:
            return found
        raise exception.InvalidParameterValue(
            err='No valid host was found. Reason: No conductor service '
                'registered which supports driver %s for conductor group '
                '"%s". Ensure the driver is valid and enabled.'
                % (driver, conductor_group or ''))

    def conductor_chooser(self):
        """A function node -> hostname of the conductor managing it: the
        hash ring's choice, from one snapshot so a page costs one read."""
        return hash_ring.RING.chooser()

    def fill_interfaces(self, values, reset=False, explicit=()):
        """Default missing ``*_interface`` values and reject unsupported
        ones, for the driver in ``values``."""
        ifaces = self.interfaces_for(values['driver'],
                                     values.get('conductor_group'))
        for kind in INTERFACE_KINDS:
            key = '%s_interface' % kind
            info = ifaces.get(kind) or {'enabled': [], 'default': None}
            current = values.get(key)
            if current is None or (reset and key not in explicit):
                values[key] = info['default']
                continue
            if current not in info['enabled']:
                if key not in explicit:
                    values[key] = info['default']
                    continue
                raise exception.InvalidParameterValue(
                    err='Could not find a suitable %s interface for driver '
                        '%s: %s is not enabled or not supported. Valid %s '
                        'interfaces: %s.' % (kind, values['driver'], current,
                                             kind, ', '.join(info['enabled'])))
        return values


CATALOG = Catalog()
