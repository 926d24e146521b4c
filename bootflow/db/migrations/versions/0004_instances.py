"""instances: bootflow's own launch requests

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 02:40:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'instances',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('state', sa.String(length=15), nullable=False),
        sa.Column('current_task', sa.String(length=64), nullable=True),
        sa.Column('resource_class', sa.String(length=80), nullable=False),
        sa.Column('traits', sa.JSON(), nullable=True),
        sa.Column('candidate_nodes', sa.JSON(), nullable=True),
        sa.Column('image_source', sa.Text(), nullable=False),
        sa.Column('instance_info', sa.JSON(), nullable=True),
        sa.Column('configdrive', sa.Text(), nullable=True),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('node_uuid', sa.String(length=36), nullable=True),
        sa.Column('allocation_uuid', sa.String(length=36), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('conductor', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uuid', name='uniq_instances0uuid'),
        sa.UniqueConstraint('name', name='uniq_instances0name'))
    op.create_index('instances_state_idx', 'instances', ['state'])


def downgrade():
    op.drop_index('instances_state_idx', table_name='instances')
    op.drop_table('instances')
