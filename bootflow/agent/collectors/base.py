"""What every collector shares: the call context and small parsers.

A collector is ``f(system, context=None) -> (value, notes)``.  ``context``
carries what the caller knows and the machine cannot tell (the BOOTIF MAC
the firmware PXE-booted from); collectors that do not need it ignore it, so
``f(system)`` keeps working for callers of the plain contract.
"""

import dataclasses
import re

_HEX_PAIRS = re.compile(r'^[0-9a-f]{2}([:-][0-9a-f]{2}){5,6}$')


@dataclasses.dataclass
class Context(object):
    """Facts given by the caller rather than read from the machine.

    ``bootif`` is a normalized MAC (``aa:bb:cc:dd:ee:ff``) or None.
    """

    bootif: str = None


def normalize_mac(text):
    """``aa:bb:cc:dd:ee:ff`` from the spellings PXE firmware hands over.

    pxelinux passes ``BOOTIF=01-aa-bb-cc-dd-ee-ff`` (ARP hardware type 1
    first); iPXE and humans pass ``aa:bb:...``.  None when not a MAC.
    """
    if not text:
        return None
    text = text.strip().lower()
    if not _HEX_PAIRS.match(text):
        return None
    pairs = re.split('[:-]', text)
    if len(pairs) == 7:
        if pairs[0] != '01':
            return None
        pairs = pairs[1:]
    return ':'.join(pairs)


def parse_cmdline(text):
    """``key=value`` words of a kernel command line (first one wins)."""
    found = {}
    for word in (text or '').split():
        name, sep, value = word.partition('=')
        if sep:
            found.setdefault(name, value)
    return found


def cmdline_value(system, key):
    """Value of ``key=`` on the machine's kernel command line, or None."""
    return parse_cmdline(system.read('proc/cmdline')).get(key)


def parse_int(text, base=10):
    """int or None: sysfs answers are sometimes empty or ``-1``."""
    try:
        return int(str(text).strip(), base)
    except (TypeError, ValueError):
        return None


def parse_cpu_list(text):
    """Number of CPUs in a kernel list such as ``0-3,8-11``."""
    count = 0
    for chunk in (text or '').strip().split(','):
        if not chunk:
            continue
        low, _, high = chunk.partition('-')
        low = parse_int(low)
        high = parse_int(high) if high else low
        if low is None or high is None:
            return None
        count += high - low + 1
    return count or None


def colon_fields(text):
    """``key : value`` lines (cpuinfo, ipmitool) as a list of pairs."""
    pairs = []
    for line in (text or '').splitlines():
        key, sep, value = line.partition(':')
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs


def resolve_bootif(system, given=None):
    """(normalized MAC or None, notes) of the interface that PXE-booted.

    The caller's value wins (agent flag); otherwise the firmware's hand-off
    on the kernel command line, which is also what a fixture tree records.
    """
    source = 'given BOOTIF'
    if given is None:
        given = cmdline_value(system, 'BOOTIF')
        source = 'BOOTIF on the kernel command line'
    if given is None:
        return None, ['no BOOTIF given nor on the kernel command line: '
                      'boot.pxe_interface not set']
    mac = normalize_mac(given)
    if mac is None:
        return None, ['%s %r is not a MAC address: boot.pxe_interface not '
                      'set' % (source, given)]
    return mac, []
