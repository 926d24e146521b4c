"""BootOS options: the agent's ramdisk API, inspection, discovery, the
support list and configuration templates.

Names follow Ironic's where Ironic has the option (``[api]
ramdisk_heartbeat_timeout``, ``[api] restrict_lookup``, ``[inspector]
add_ports``, ``[auto_discovery]``, ``[agent] deploy_logs_local_path``).
"""

from oslo_config import cfg

api_opts = [
    cfg.IntOpt('ramdisk_heartbeat_timeout', default=300, min=1,
               help='Seconds after which a ramdisk that has not called '
                    'back is considered gone; agents are told this '
                    'value at lookup.'),
    cfg.BoolOpt('restrict_lookup', default=True,
                help='Answer ramdisk lookups only for nodes in a state '
                     'that expects a ramdisk (deploying, cleaning, '
                     'inspecting, rescuing and their wait states).'),
]

agent_opts = [
    cfg.FloatOpt('poll_interval', default=10.0, min=0.05,
                 help='Seconds between two polls of an idle BootOS agent. '
                      'The agent polls again at once after reporting a '
                      'result, so commands run back to back whatever '
                      'this interval.'),
    cfg.StrOpt('deploy_logs_local_path',
               default='$state_path/ramdisk_logs',
               help='Directory where logs shipped by BootOS agents are '
                    'stored, one gzip file per upload, named '
                    '"<node uuid>_<UTC timestamp>.log.gz".'),
    cfg.IntOpt('max_log_bytes', default=4 * 1024 * 1024, min=1024,
               help='Largest agent log accepted in one upload; larger '
                    'logs keep their last bytes.'),
    cfg.IntOpt('script_output_bytes', default=16 * 1024, min=0,
               help='How much of a PRE/POST script\'s output (its end) '
                    'is kept in the node\'s history event.'),
]

inspector_opts = [
    cfg.StrOpt('add_ports', default='all',
               choices=[('all', 'every interface with a MAC address'),
                        ('active', 'interfaces with a carrier or an IP '
                                   'address'),
                        ('pxe', 'only the interface that network-booted'),
                        ('disabled', 'no ports are created')],
               help='Which interfaces found by inspection become ports. '
                    'pxe_enabled is set on the one that booted.'),
    cfg.BoolOpt('update_properties', default=True,
                help='Set cpus, memory_mb, local_gb, cpu_arch and the '
                     'boot_mode capability from the inventory.'),
]

discovery_opts = [
    cfg.BoolOpt('enabled', default=False,
                help='Enroll a machine that boots BootOS and matches no '
                     'node: a node is created with its ports and '
                     'inspection data.'),
    cfg.StrOpt('driver', default='fake-hardware',
               help='Hardware type of nodes enrolled by discovery.'),
]

bootos_opts = [
    cfg.StrOpt('templates_path', default='/etc/bootflow/bootos/templates',
               help='Directory of configuration templates (*.yaml, '
                    '*.yml, *.json). A node uses the template named in '
                    'driver_info/bootos_template, else the matching '
                    'template of highest priority.'),
    cfg.StrOpt('support_list', default='',
               help='YAML or JSON file listing supported hardware: '
                    'entries of "vendor", "product" and "firmware" '
                    'shell-style patterns. Empty: every machine is '
                    'supported. In user mode an unsupported machine gets '
                    'no configuration.'),
    cfg.BoolOpt('configure_on_inspection', default=True,
                help='Apply the node\'s configuration template in the '
                     'inspection boot, right after the inventory is '
                     'processed, as BootOS does.'),
]


def register_opts(conf):
    conf.register_opts(api_opts, group='api')
    conf.register_opts(agent_opts, group='agent')
    conf.register_opts(inspector_opts, group='inspector')
    conf.register_opts(discovery_opts, group='auto_discovery')
    conf.register_opts(bootos_opts, group='bootos')
