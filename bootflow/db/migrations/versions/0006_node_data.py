"""node data: BIOS settings, firmware components, history, inventory

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 05:30:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _times():
    return [sa.Column('created_at', sa.DateTime(), nullable=True),
            sa.Column('updated_at', sa.DateTime(), nullable=True)]


def _node_fk(nullable=False, primary_key=False):
    return sa.Column('node_id', sa.Integer(),
                     sa.ForeignKey('nodes.id', ondelete='CASCADE'),
                     nullable=nullable, primary_key=primary_key)


def upgrade():
    op.create_table(
        'bios_settings',
        _node_fk(primary_key=True),
        sa.Column('name', sa.String(255), primary_key=True),
        sa.Column('value', sa.Text(), nullable=True),
        sa.Column('attribute_type', sa.String(255), nullable=True),
        sa.Column('allowable_values', sa.JSON(), nullable=True),
        sa.Column('lower_bound', sa.BigInteger(), nullable=True),
        sa.Column('max_length', sa.Integer(), nullable=True),
        sa.Column('min_length', sa.Integer(), nullable=True),
        sa.Column('read_only', sa.Boolean(), nullable=True),
        sa.Column('reset_required', sa.Boolean(), nullable=True),
        sa.Column('unique', sa.Boolean(), nullable=True),
        sa.Column('upper_bound', sa.BigInteger(), nullable=True),
        *_times())
    op.create_table(
        'firmware_information',
        sa.Column('id', sa.Integer(), primary_key=True),
        _node_fk(),
        sa.Column('component', sa.String(255), nullable=False),
        sa.Column('initial_version', sa.String(255), nullable=False),
        sa.Column('current_version', sa.String(255), nullable=True),
        sa.Column('last_version_flashed', sa.String(255), nullable=True),
        sa.Column('vendor', sa.String(255), nullable=True),
        sa.Column('model', sa.String(255), nullable=True),
        sa.Column('serial_number', sa.String(255), nullable=True),
        *_times(),
        sa.UniqueConstraint('node_id', 'component',
                            name='uniq_nodecomponent0node_id0component'))
    op.create_table(
        'node_history',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('conductor', sa.String(255), nullable=True),
        sa.Column('event_type', sa.String(255), nullable=True),
        sa.Column('severity', sa.String(255), nullable=True),
        sa.Column('event', sa.Text(), nullable=True),
        sa.Column('user', sa.String(64), nullable=True),
        sa.Column('project', sa.String(80), nullable=True),
        _node_fk(nullable=True),
        sa.Column('state', sa.String(255), nullable=True),
        sa.Column('target_provision_state', sa.String(255), nullable=True),
        sa.Column('duration_seconds', sa.Integer(), nullable=True),
        *_times(),
        sa.UniqueConstraint('uuid', name='uniq_history0uuid'))
    op.create_index('history_node_id_idx', 'node_history', ['node_id'])
    op.create_index('history_conductor_idx', 'node_history', ['conductor'])
    op.create_table(
        'node_inventory',
        sa.Column('id', sa.Integer(), primary_key=True),
        _node_fk(),
        sa.Column('inventory_data', sa.JSON(), nullable=True),
        sa.Column('plugin_data', sa.JSON(), nullable=True),
        *_times(),
        sa.UniqueConstraint('node_id', name='uniq_node_inventory0node_id'))


def downgrade():
    op.drop_table('node_inventory')
    op.drop_index('history_conductor_idx', table_name='node_history')
    op.drop_index('history_node_id_idx', table_name='node_history')
    op.drop_table('node_history')
    op.drop_table('firmware_information')
    op.drop_table('bios_settings')
