from oslo_config import cfg

opts = [
    cfg.HostAddressOpt('host_ip', default='0.0.0.0',
                       help='Address the API server listens on.'),
    cfg.PortOpt('port', default=6385,
                help='TCP port the API server listens on.'),
    cfg.IntOpt('max_limit', default=1000, min=1,
               help='Most items one collection request returns; larger '
                    'collections are paginated with a "next" link.'),
    cfg.StrOpt('public_endpoint',
               help='Base URL clients reach the API at, used in links. '
                    'Unset: taken from the request.'),
    cfg.IntOpt('api_workers', default=32, min=1,
               help='Threads of the API server, i.e. requests served at '
                    'once.'),
    cfg.IntOpt('request_queue_size', default=128, min=1,
               help='Listen backlog of the API socket.'),
]

opt_group = cfg.OptGroup('api', title='API server options')


def register_opts(conf):
    conf.register_group(opt_group)
    conf.register_opts(opts, group=opt_group)
