"""JSON schema of a node's ``network_data`` (API 1.66).

The document is the OpenStack network metadata a config drive carries
(``network_data.json``): L2 ``links`` (interfaces, bonds, VLANs), L3
``networks`` on those links and ``services`` such as DNS. Checking it on
the way in means a typo fails the PATCH rather than the deployment that
builds a config drive from it much later.
"""

_MAC = {'type': 'string',
        'pattern': '^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$'}
_MTU = {'anyOf': [{'type': 'number', 'minimum': 1, 'maximum': 65535},
                  {'type': 'null'}]}
_IPV4 = {'type': 'string', 'format': 'ipv4'}
# IPv6 addresses may carry a prefix length; the format checker rejects
# that, so a loose pattern stands in.
_IPV6 = {'type': 'string', 'pattern': '^[0-9A-Fa-f:.%]+(/[0-9]{1,3})?$'}
_IP = {'anyOf': [_IPV4, _IPV6]}

_LINK_COMMON = {
    'id': {'type': 'string'},
    'mtu': _MTU,
    'vif_id': {'type': 'string'},
}

_L2_LINK = {
    'type': 'object',
    'properties': dict(_LINK_COMMON, ethernet_mac_address=_MAC,
                       type={'type': 'string'}),
    'required': ['ethernet_mac_address', 'id', 'type'],
}

_L2_BOND = {
    'type': 'object',
    'properties': dict(
        _LINK_COMMON, ethernet_mac_address=_MAC,
        type={'enum': ['bond']},
        bond_mode={'enum': ['802.1ad', 'balance-rr', 'active-backup',
                            'balance-xor', 'broadcast', 'balance-tlb',
                            'balance-alb']},
        bond_links={'type': 'array', 'items': {'type': 'string'},
                    'minItems': 1},
        bond_miimon={'type': 'number'},
        bond_xmit_hash_policy={'type': 'string'}),
    'required': ['ethernet_mac_address', 'id', 'type', 'bond_mode',
                 'bond_links'],
}

_L2_VLAN = {
    'type': 'object',
    'properties': dict(
        _LINK_COMMON, vlan_mac_address=_MAC, type={'enum': ['vlan']},
        vlan_id={'type': 'integer', 'minimum': 0, 'maximum': 4094},
        vlan_link={'type': 'string'}),
    'required': ['vlan_mac_address', 'id', 'type', 'vlan_link', 'vlan_id'],
}

_ROUTE = {
    'type': 'object',
    'properties': {'network': _IP, 'netmask': _IP, 'gateway': _IP,
                   'services': {'type': 'array'}},
    'required': ['gateway', 'netmask', 'network'],
}

_NETWORK = {
    'type': 'object',
    'properties': {
        'id': {'type': 'string'},
        'link': {'type': 'string'},
        'network_id': {'type': 'string'},
        'type': {'enum': ['ipv4', 'ipv4_dhcp', 'ipv6', 'ipv6_dhcp',
                          'ipv6_slaac']},
        'ip_address': _IP,
        'netmask': _IP,
        'routes': {'type': 'array', 'items': _ROUTE},
        'services': {'type': 'array'},
    },
    'required': ['id', 'link', 'network_id', 'type'],
}

_SERVICE = {
    'type': 'object',
    'properties': {'type': {'type': 'string'}, 'address': _IP},
    'required': ['address', 'type'],
}

SCHEMA = {
    'type': 'object',
    'properties': {
        'links': {'type': 'array',
                  'items': {'anyOf': [_L2_BOND, _L2_VLAN, _L2_LINK]}},
        'networks': {'type': 'array', 'items': _NETWORK},
        'services': {'type': 'array', 'items': _SERVICE},
    },
    'required': ['links', 'networks', 'services'],
}

# What a node accepts: nothing, an empty document, or a full one.
FIELD = {'anyOf': [{'type': 'null'},
                   {'type': 'object', 'additionalProperties': False},
                   SCHEMA]}
