from oslo_config import cfg

opts = [
    cfg.IntOpt('workers_pool_size', default=100, min=3,
               help='Threads for long-running conductor work (deploy, '
                    'clean, power actions). When all are busy, new '
                    'requests get HTTP 503.'),
    cfg.IntOpt('heartbeat_interval', default=10, min=1,
               help='Seconds between conductor heartbeats in the '
                    'database.'),
    cfg.IntOpt('heartbeat_timeout', default=60, min=2,
               help='A conductor whose last heartbeat is older than this '
                    'many seconds is considered dead.'),
    cfg.IntOpt('sync_power_state_interval', default=60,
               help='Seconds between power state syncs of this '
                    'conductor\'s nodes; 0 or less disables it.'),
    cfg.IntOpt('sync_power_state_workers', default=8, min=1,
               help='Nodes whose power state is read at once during a '
                    'sync.'),
    cfg.IntOpt('sync_power_state_per_bmc', default=4, min=1,
               help='Power state reads at once against one BMC address '
                    '(nodes behind one chassis manager or Redfish '
                    'aggregator share it), so a sync does not flood it.'),
    cfg.FloatOpt('sync_power_state_timeout', default=10.0, min=0.1,
                 help='Seconds one power state read may take during a '
                      'sync, in one attempt; a BMC slower than this '
                      'counts as a failed read. Reads asked for through '
                      'the API keep the drivers\' own timeouts and '
                      'retries.'),
    cfg.FloatOpt('sync_power_state_patience', default=1.0, min=0.01,
                 help='Seconds a power sync waits on one read before it '
                      'stops counting on it: the read goes on in the '
                      'background (within sync_power_state_timeout) and '
                      'another thread takes its place, up to four times '
                      'sync_power_state_workers in all, so BMCs that just '
                      'died delay a sweep by this much each, not by their '
                      'timeouts.'),
    cfg.IntOpt('power_state_sync_max_retries', default=3, min=1,
               help='Failed power state reads in a row after which the '
                    'node goes to maintenance with fault "power failure"; '
                    'it leaves maintenance when a read succeeds again.'),
    cfg.BoolOpt('force_power_state_during_sync', default=True,
                help='When the power state found differs from the '
                     'recorded one, set the hardware back to the recorded '
                     'state (True) or record what was found (False).'),
    cfg.BoolOpt('automated_clean', default=True,
                help='Clean nodes when they are provided and after they '
                     'are undeployed. A node\'s automated_clean field '
                     'overrides this.'),
    cfg.StrOpt('conductor_group', default='',
               help='Group of nodes this conductor may manage; nodes with '
                    'the same conductor_group are handled only by it.'),
    cfg.IntOpt('node_locked_retry_attempts', default=3, min=0,
               help='Tries to take a busy node lock before answering '
                    'HTTP 409.'),
    cfg.FloatOpt('node_locked_retry_interval', default=1.0, min=0,
                 help='Seconds between those tries.'),
    cfg.IntOpt('check_provision_state_interval', default=60, min=1,
               help='Seconds between checks for nodes waiting too long for '
                    'their ramdisk and for nodes locked by conductors that '
                    'stopped heartbeating (which this conductor then takes '
                    'over).'),
    cfg.IntOpt('deploy_callback_timeout', default=1800, min=0,
               help='Seconds a node may stay in "wait call-back" before '
                    'its deploy fails; 0 waits forever.'),
    cfg.IntOpt('clean_callback_timeout', default=1800, min=0,
               help='Seconds a node may stay in "clean wait" before its '
                    'cleaning fails; 0 waits forever.'),
    cfg.IntOpt('inspect_wait_timeout', default=1800, min=0,
               help='Seconds a node may stay in "inspect wait" before its '
                    'inspection fails; 0 waits forever.'),
    cfg.IntOpt('rescue_callback_timeout', default=1800, min=0,
               help='Seconds a node may stay in "rescue wait" before its '
                    'rescue fails; 0 waits forever.'),
    cfg.StrOpt('api_url',
               help='URL of the bootflow API that ramdisks and installers '
                    'call back, put on their kernel command line. Unset: '
                    'http://<my_ip>:<[api]port>.'),
    cfg.ListOpt('file_url_allowed_paths',
                default=['/var/lib/bootflow', '/shared/html',
                         '/opt/cache/files'],
                help='Directories file:// image sources (kernels, '
                     'ramdisks, ISOs) may come from; any other local path '
                     'is refused, so a node owner cannot read the '
                     'conductor\'s files.'),
]

opt_group = cfg.OptGroup('conductor', title='Conductor options')


def register_opts(conf):
    conf.register_group(opt_group)
    conf.register_opts(opts, group=opt_group)
