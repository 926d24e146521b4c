"""Network interfaces and the BMC: how the server finds the node again.

Lookup is by MAC, so the interface list is what ties a booted ramdisk to
its node; the BMC address is what power control will use later.
"""

import ipaddress

from bootflow.agent.collectors import base
from bootflow.agent import system as system_mod

IP_ADDR = ['ip', '-o', 'addr', 'show']
IPMI_LAN = ['ipmitool', 'lan', 'print']
IPMI_LAN6 = ['ipmitool', 'lan6', 'print']
_IF_INET6 = 'proc/net/if_inet6'
_SCOPE_GLOBAL = 'global'
_NO_ADDRESS = ('0.0.0.0', '::', '')


def _parse_ip_addr(text):
    """{ifname: {'inet': [(scope, addr)], 'inet6': [...]}} from ``ip -o``."""
    found = {}
    for line in (text or '').splitlines():
        words = line.split()
        if len(words) < 4 or words[2] not in ('inet', 'inet6'):
            continue
        name = words[1].split('@')[0]
        scope = words[words.index('scope') + 1] if 'scope' in words \
            else _SCOPE_GLOBAL
        entry = found.setdefault(name, {'inet': [], 'inet6': []})
        entry[words[2]].append((scope, words[3].split('/')[0]))
    return found


def _parse_if_inet6(text):
    """Same shape from /proc/net/if_inet6 (IPv6 only; no ``ip`` needed)."""
    found = {}
    for line in (text or '').splitlines():
        words = line.split()
        if len(words) != 6 or len(words[0]) != 32:
            continue
        try:
            addr = str(ipaddress.IPv6Address(bytes.fromhex(words[0])))
        except ValueError:
            continue
        scope = _SCOPE_GLOBAL if words[3] == '00' else 'link'
        entry = found.setdefault(words[5], {'inet': [], 'inet6': []})
        entry['inet6'].append((scope, addr))
    return found


def _pick(addresses):
    """First global address, else the first one (link-local)."""
    for scope, addr in addresses:
        if scope == _SCOPE_GLOBAL:
            return addr
    return addresses[0][1] if addresses else None


def _addresses(system, notes):
    result = system.run_result(IP_ADDR)
    if result.found and result.rc == 0:
        return _parse_ip_addr(result.stdout)
    notes.append('%s: interface ipv4_address not collected, ipv6_address '
                 'from %s' % (system_mod.describe_failure(IP_ADDR, result),
                              _IF_INET6))
    return _parse_if_inet6(system.read(_IF_INET6))


def _interface(system, name, addresses, bootif):
    net = 'sys/class/net/%s/' % name
    carrier = system.value(net + 'carrier')
    if carrier is None:
        # a down link refuses to report carrier; operstate still answers
        carrier = '1' if system.value(net + 'operstate') == 'up' else '0'
    speed = base.parse_int(system.value(net + 'speed'))
    mac = (system.value(net + 'address') or '').lower() or None
    addr = addresses.get(name, {'inet': [], 'inet6': []})
    iface = {
        'name': name,
        'mac_address': mac,
        'ipv4_address': _pick(addr['inet']),
        'ipv6_address': _pick(addr['inet6']),
        'has_carrier': carrier == '1',
        'lldp': None,
        'vendor': system.value(net + 'device/vendor'),
        'product': system.value(net + 'device/device'),
        'client_id': None,
        'biosdevname': None,
        'speed_mbps': speed if speed and speed > 0 else None,
    }
    if bootif:
        iface['pxe_enabled'] = mac == bootif
    return iface


def interfaces(system, context=None):
    """Physical interfaces: those of sys/class/net backed by a device.

    ``lo`` and purely virtual interfaces (bridges, ifb, bonds, vlans) have
    no ``device`` link and cannot be the node's ports.
    """
    notes = []
    bootif = context.bootif if context else None
    addresses = _addresses(system, notes)
    found, skipped = [], []
    for name in system.listdir('sys/class/net'):
        if name == 'lo' or not system.exists('sys/class/net/%s/device'
                                             % name):
            skipped.append(name)
            continue
        found.append(_interface(system, name, addresses, bootif))
    if skipped:
        notes.append('interfaces skipped as virtual: %s' % ', '.join(skipped))
    if not found:
        notes.append('no physical network interface found in sys/class/net')
    elif bootif and not any(i['mac_address'] == bootif for i in found):
        notes.append('BOOTIF %s matches no interface' % bootif)
    return found, notes


def _lan6_address(text):
    """First active, non link-local address in ``ipmitool lan6 print``."""
    section, status, addr, candidates = None, None, None, []
    for key, value in base.colon_fields(text) + [('IPv6 end', '')]:
        if key.startswith('IPv6 ') and 'Address' in key and not value:
            if section and addr and status != 'disabled':
                candidates.append(addr)
            section, status, addr = key, None, None
        elif section and key == 'Address':
            addr = value.split('/')[0]
        elif section and key == 'Status':
            status = value.lower()
    for addr in candidates:
        if addr not in _NO_ADDRESS and not addr.lower().startswith('fe80'):
            return addr
    return None


def bmc(system, context=None):
    """{bmc_address, bmc_v6address, bmc_mac} from the BMC's LAN channel.

    Merged into the top level of the inventory, where Ironic keeps them.
    """
    value = {'bmc_address': None, 'bmc_v6address': None, 'bmc_mac': None}
    result = system.run_result(IPMI_LAN)
    if not (result.found and result.rc == 0):
        return value, ['%s: bmc_address, bmc_v6address and bmc_mac not '
                       'collected' % system_mod.describe_failure(IPMI_LAN,
                                                                 result)]
    notes = []
    fields = dict(base.colon_fields(result.stdout))
    address = fields.get('IP Address')
    if address in _NO_ADDRESS or address is None:
        notes.append('BMC reports no IPv4 address: bmc_address not set')
    else:
        value['bmc_address'] = address
    mac = fields.get('MAC Address', '').lower()
    value['bmc_mac'] = mac if mac and mac != '00:00:00:00:00:00' else None
    result6 = system.run_result(IPMI_LAN6)
    if result6.found and result6.rc == 0:
        value['bmc_v6address'] = _lan6_address(result6.stdout)
    else:
        notes.append('%s: bmc_v6address not collected'
                     % system_mod.describe_failure(IPMI_LAN6, result6))
    return value, notes
