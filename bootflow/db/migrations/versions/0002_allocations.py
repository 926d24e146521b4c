"""allocations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'allocations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('node_id', sa.Integer(), nullable=True),
        sa.Column('state', sa.String(length=15), nullable=False),
        sa.Column('owner', sa.String(length=255), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('resource_class', sa.String(length=80), nullable=True),
        sa.Column('traits', sa.JSON(), nullable=True),
        sa.Column('candidate_nodes', sa.JSON(), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=True),
        sa.Column('conductor_affinity', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['node_id'], ['nodes.id'],
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name', name='uniq_allocations0name'),
        sa.UniqueConstraint('uuid', name='uniq_allocations0uuid'),
    )
    op.create_index('allocations_node_id_idx', 'allocations', ['node_id'],
                    unique=False)
    op.create_index('allocations_state_idx', 'allocations', ['state'],
                    unique=False)
    # releasing an allocation finds its node by allocation_id
    op.create_index('nodes_allocation_id_idx', 'nodes', ['allocation_id'],
                    unique=False)
