from oslo_config import cfg

# Interface kinds, in the order Ironic lists them on a node.
INTERFACE_KINDS = ('bios', 'boot', 'console', 'deploy', 'firmware', 'inspect',
                   'management', 'network', 'power', 'raid', 'rescue',
                   'storage', 'vendor')

_ENABLED_DEFAULTS = {
    'bios': ['no-bios', 'fake', 'redfish'],
    'boot': ['fake', 'ipxe', 'pxe', 'http', 'grub-iso',
             'redfish-virtual-media'],
    'console': ['no-console', 'fake'],
    'deploy': ['fake', 'netinstall', 'bootos', 'direct'],
    'firmware': ['no-firmware', 'fake', 'redfish'],
    'inspect': ['no-inspect', 'fake', 'agent', 'redfish'],
    'management': ['fake', 'noop', 'ipmitool', 'redfish'],
    'network': ['noop', 'flat'],
    'power': ['fake', 'ipmitool', 'redfish'],
    'raid': ['no-raid', 'fake', 'redfish'],
    'rescue': ['no-rescue', 'fake'],
    'storage': ['noop', 'fake'],
    'vendor': ['no-vendor', 'fake'],
}


def _interface_opts(kind):
    return [
        cfg.ListOpt('enabled_%s_interfaces' % kind,
                    default=_ENABLED_DEFAULTS[kind],
                    help='%s interfaces this service may load. A node may '
                         'only use an interface listed here and supported '
                         'by its hardware type.' % kind.capitalize()),
        cfg.StrOpt('default_%s_interface' % kind,
                   help='%s interface given to new nodes that do not name '
                        'one. Unset: the first interface supported by the '
                        'hardware type that is also enabled.'
                        % kind.capitalize()),
    ]


opts = [
    cfg.ListOpt('enabled_hardware_types',
                default=['fake-hardware', 'manual-management', 'ipmi',
                         'redfish'],
                help='Hardware types (entry points in the '
                     'bootflow.hardware.types group) this service loads.'),
]
for _kind in INTERFACE_KINDS:
    opts.extend(_interface_opts(_kind))


def register_opts(conf):
    conf.register_opts(opts)
