"""``bootflow-dbsync``: create or upgrade the database schema."""

import sys

from oslo_config import cfg

from bootflow.common import service
from bootflow.conf import CONF
from bootflow.db import migration


def _add_commands(subparsers):
    upgrade = subparsers.add_parser('upgrade', help='Upgrade the schema '
                                    '(creates it on an empty database).')
    upgrade.add_argument('--revision', default='head')
    subparsers.add_parser('version', help='Print the current revision.')


def main(argv=None):
    CONF.register_cli_opt(cfg.SubCommandOpt('command', handler=_add_commands,
                                            title='commands'))
    service.prepare(argv)
    if CONF.command.name == 'upgrade':
        migration.upgrade(CONF.command.revision)
        print('Database at revision %s' % migration.version())
    elif CONF.command.name == 'version':
        print(migration.version())
    return 0


if __name__ == '__main__':
    sys.exit(main())
