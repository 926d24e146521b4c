from oslo_config import cfg

opts = [
    cfg.IntOpt('max_attempts', default=3, min=1,
               help='Nodes an instance launch tries before it gives up: '
                    'when the deploy fails on one node, that node is put '
                    'in maintenance with the reason and the next candidate '
                    'is tried. A request may ask for fewer or more.'),
    cfg.IntOpt('deploy_timeout', default=3600, min=1,
               help='Seconds a launch waits for its node to become active '
                    'before it counts the attempt as failed.'),
    cfg.FloatOpt('poll_interval', default=1.0, min=0.05,
                 help='Seconds between looks at the node while a launch '
                      'or delete waits for it.'),
]

opt_group = cfg.OptGroup(
    'instances', title='Instance launches (/bootflow/v1/instances)')


def register_opts(conf):
    conf.register_group(opt_group)
    conf.register_opts(opts, group=opt_group)
