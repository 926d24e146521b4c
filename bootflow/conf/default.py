import os
import socket

from oslo_config import cfg


def _default_state_path():
    if os.geteuid() == 0:
        return '/var/lib/bootflow'
    return os.path.join(os.path.expanduser('~'), '.local', 'share',
                        'bootflow')


opts = [
    cfg.StrOpt('state_path',
               default=_default_state_path(),
               sample_default='/var/lib/bootflow',
               help='Directory for bootflow\'s state: the embedded SQLite '
                    'database and caches. Default: /var/lib/bootflow for '
                    'root, ~/.local/share/bootflow for other users.'),
    cfg.StrOpt('host',
               default=socket.gethostname(),
               sample_default='localhost',
               help='Name of this service instance. Conductors register '
                    'under it; it must be unique among live conductors.'),
    cfg.StrOpt('auth_strategy',
               default='noauth',
               choices=[('noauth', 'no authentication; every request is '
                                   'treated as the admin'),
                        ('http_basic', 'HTTP basic authentication against '
                                       'the htpasswd file named by '
                                       'http_basic_auth_user_file'),
                        ('keystone', 'Keystone tokens, validated by '
                                     "keystonemiddleware's auth_token "
                                     '([keystone_authtoken]); access is '
                                     'decided by the policy rules')],
               help='How API requests are authenticated. noauth and '
                    'http_basic users act as system administrators.'),
    cfg.StrOpt('rbac_service_project_name',
               default='service',
               help='The project whose users with the service role act '
                    'as system members (nova, other services): the '
                    'service_role policy rule.'),
    cfg.StrOpt('http_basic_auth_user_file',
               default='/etc/bootflow/htpasswd',
               help='Apache htpasswd file (bcrypt entries) used when '
                    'auth_strategy is http_basic.'),
    cfg.StrOpt('rpc_transport',
               default='oslo',
               choices=[('oslo', 'oslo.messaging over transport_url'),
                        ('none', 'no RPC at all: the API calls the '
                                 'conductor in the same process')],
               help='How the API reaches conductors. The all-in-one '
                    '"bootflow" command uses an in-process transport '
                    'unless transport_url is set.'),
    cfg.IntOpt('hash_partition_exponent', default=5, min=1, max=16,
               help='Each conductor holds 2^N points on the consistent '
                    'hash ring that maps nodes to conductors; more points '
                    'spread nodes more evenly at a small memory cost.'),
    cfg.IntOpt('hash_ring_reset_interval', default=15, min=1,
               help='Seconds a conductor or API process keeps its view of '
                    'live conductors (and so the hash ring) before '
                    're-reading it from the database.'),
]


def register_opts(conf):
    conf.register_opts(opts)
