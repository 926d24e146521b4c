"""DHCP provider options: who answers a node's DHCP requests.

Names follow Ironic's ``[dhcp]`` and ``[dnsmasq]`` options, so an operator's
settings carry over.
"""

from oslo_config import cfg

opts_dhcp = [
    cfg.StrOpt('dhcp_provider', default='none',
               choices=[('dnsmasq', 'bootflow writes per-node host and '
                                    'option files into the directories a '
                                    'local dnsmasq watches ([dnsmasq] '
                                    'options)'),
                        ('none', 'the operator runs and configures a DHCP '
                                 'server of their own; bootflow publishes '
                                 'nothing')],
               help='DHCP provider (entry point of the "bootflow.dhcp" '
                    'namespace) that tells booting nodes where their '
                    'network boot program is.'),
]

opts_dnsmasq = [
    cfg.StrOpt('dhcp_hostsdir', default='/etc/dnsmasq.d/hostsdir.d',
               help='Directory dnsmasq reads with --dhcp-hostsdir: one '
                    'file per MAC address, "<node uuid>-<mac with '
                    'dashes>". It must exist, be writable by bootflow '
                    'and readable by dnsmasq.'),
    cfg.StrOpt('dhcp_optsdir', default='/etc/dnsmasq.d/optsdir.d',
               help='Directory dnsmasq reads with --dhcp-optsdir: one '
                    'file per node, named after its UUID. It must exist, '
                    'be writable by bootflow and readable by dnsmasq.'),
]

dhcp_group = cfg.OptGroup('dhcp', title='DHCP provider')
dnsmasq_group = cfg.OptGroup('dnsmasq', title='dnsmasq DHCP provider')


def register_opts(conf):
    conf.register_group(dhcp_group)
    conf.register_opts(opts_dhcp, group=dhcp_group)
    conf.register_group(dnsmasq_group)
    conf.register_opts(opts_dnsmasq, group=dnsmasq_group)


def list_opts():
    """``(group name, options)`` pairs, the shape bootflow.conf.opts
    returns to oslo-config-generator."""
    return [(dhcp_group.name, opts_dhcp),
            (dnsmasq_group.name, opts_dnsmasq)]
