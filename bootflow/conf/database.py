"""The [database] group is oslo.db's, so option names match every OpenStack
service; bootflow only changes the default to an SQLite file."""

from oslo_config import cfg
from oslo_db import options as db_options

DEFAULT_CONNECTION = 'sqlite:///$state_path/bootflow.sqlite'

opts = [
    cfg.IntOpt('sqlite_busy_timeout', default=30000, min=0,
               help='Milliseconds an SQLite connection waits for another '
                    'process\'s write lock before failing.'),
    cfg.IntOpt('db_retry_attempts', default=10, min=0,
               help='Retries of a transaction that failed on a lock '
                    'conflict or deadlock (SQLite "database is locked", '
                    'PostgreSQL serialization failure).'),
]


def register_opts(conf):
    db_options.set_defaults(conf, connection=DEFAULT_CONNECTION)
    conf.register_opts(opts, group='database')
