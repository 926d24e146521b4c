"""Schema migrations with alembic, driven from code (no alembic.ini)."""

import os

from alembic import command
from alembic import config as alembic_config
from alembic import migration as alembic_migration

from bootflow.db import engine as db_engine

_SCRIPTS = os.path.join(os.path.dirname(__file__), 'migrations')


def _config(engine):
    cfg = alembic_config.Config()
    cfg.set_main_option('script_location', _SCRIPTS)
    cfg.attributes['engine'] = engine
    return cfg


def upgrade(revision='head', engine=None):
    engine = engine or db_engine.get_engine()
    if engine.dialect.name == 'sqlite':
        # the parent directory of a fresh embedded database may not exist
        path = engine.url.database
        if path and path != ':memory:':
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    command.upgrade(_config(engine), revision)


def version(engine=None):
    engine = engine or db_engine.get_engine()
    with engine.connect() as conn:
        return alembic_migration.MigrationContext.configure(
            conn).get_current_revision()


def revision(message, autogenerate=True, engine=None):
    """Write a new migration script (developers only)."""
    engine = engine or db_engine.get_engine()
    command.revision(_config(engine), message=message,
                     autogenerate=autogenerate)
