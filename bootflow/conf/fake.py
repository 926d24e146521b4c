from oslo_config import cfg

KINDS = ('power', 'boot', 'deploy', 'management', 'inspect', 'bios', 'raid',
         'firmware', 'rescue', 'vendor')

opts = [cfg.StrOpt('%s_delay' % kind, default='0',
                   help='Seconds each fake %s operation takes: a number or '
                        'a range "MIN-MAX" picked at random. A node\'s '
                        'driver_info fake_%s_delay overrides it.'
                        % (kind, kind))
        for kind in KINDS]

opt_group = cfg.OptGroup('fake', title='fake-hardware behaviour')


def register_opts(conf):
    conf.register_group(opt_group)
    conf.register_opts(opts, group=opt_group)
