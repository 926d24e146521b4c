"""The support list: which machines BootOS may configure in user mode.

A machine is supported when one entry's ``vendor``, ``product`` and
``firmware`` shell-style patterns (case-insensitive; a missing key matches
anything) all match its inventory's ``system_vendor``. The file is read
again when it changes, so an operator edits it without a restart.

The decision and its reason are recorded on the node, because "why was my
RAID not built?" is the first question of anyone running user mode.
"""

import fnmatch
import json
import os
import threading

import yaml

from bootflow.common import exception
from bootflow.conf import CONF

_FIELDS = {'vendor': ('manufacturer',), 'product': ('product_name',),
           'firmware': ('firmware', 'version')}
_CACHE = {}
_LOCK = threading.Lock()


def _parse(path):
    with open(path, 'rb') as f:
        text = f.read()
    try:
        doc = (json.loads(text) if path.endswith('.json')
               else yaml.safe_load(text))
    except (ValueError, yaml.YAMLError) as e:
        raise exception.InvalidParameterValue(
            err='Support list %s is not valid YAML/JSON: %s' % (path, e))
    entries = doc.get('supported', doc) if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise exception.InvalidParameterValue(
            err='Support list %s must be a list of entries (or a mapping '
                'with a "supported" list)' % path)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry or set(entry) - set(
                _FIELDS) - {'description'}:
            raise exception.InvalidParameterValue(
                err='Support list %s, entry %d: expected a mapping of '
                    'vendor/product/firmware patterns, got %r'
                    % (path, i, entry))
    return entries


def entries(path=None):
    """The parsed list, or None when no list is configured (everything
    is supported)."""
    path = path or CONF.bootos.support_list
    if not path:
        return None
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as e:
        raise exception.InvalidParameterValue(
            err='Support list %s cannot be read: %s' % (path, e))
    with _LOCK:
        cached = _CACHE.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
    parsed = _parse(path)
    with _LOCK:
        _CACHE[path] = (mtime, parsed)
    return parsed


def _value(system_vendor, keys):
    value = system_vendor
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return '' if value is None else str(value)


def describe(inventory):
    vendor = (inventory or {}).get('system_vendor') or {}
    return ', '.join('%s %r' % (name, _value(vendor, keys))
                     for name, keys in _FIELDS.items())


def check(inventory, path=None):
    """``(supported, reason)`` for a machine's inventory."""
    listed = entries(path)
    if listed is None:
        return True, 'no support list is configured'
    vendor = (inventory or {}).get('system_vendor') or {}
    for entry in listed:
        if all(fnmatch.fnmatchcase(_value(vendor, keys).lower(),
                                   str(entry[name]).lower())
               for name, keys in _FIELDS.items() if name in entry):
            return True, 'matches support list entry %s' % ', '.join(
                '%s=%s' % (k, entry[k]) for k in _FIELDS if k in entry)
    return False, 'hardware not on the support list (%s)' % describe(
        inventory)
