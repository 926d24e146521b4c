"""flow persistence: taskflow's logbook, flow and atom detail tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:40:00

Taskflow ships its own alembic history, but it uses the default
``alembic_version`` table, which is bootflow's; so bootflow creates the
tables from taskflow's own table definitions, in its own history.
"""

from alembic import op
import sqlalchemy as sa
from taskflow.persistence.backends.sqlalchemy import tables

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_TABLES = ('atomdetails', 'flowdetails', 'logbooks')


def upgrade():
    metadata = sa.MetaData()
    tables.fetch(metadata)
    metadata.create_all(bind=op.get_bind())


def downgrade():
    for name in _TABLES:
        op.drop_table(name)
