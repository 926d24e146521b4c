"""chassis, portgroups, volumes, deploy templates, runbooks, inspection rules

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 04:50:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _times():
    return [sa.Column('created_at', sa.DateTime(), nullable=True),
            sa.Column('updated_at', sa.DateTime(), nullable=True)]


def _node_fk():
    return sa.Column('node_id', sa.Integer(),
                     sa.ForeignKey('nodes.id', ondelete='CASCADE'),
                     nullable=False)


def upgrade():
    op.create_table(
        'chassis',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('description', sa.String(255), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=True),
        *_times(),
        sa.UniqueConstraint('uuid', name='uniq_chassis0uuid'))
    op.create_table(
        'portgroups',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('name', sa.String(255), nullable=True),
        _node_fk(),
        sa.Column('address', sa.String(18), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=True),
        sa.Column('internal_info', sa.JSON(), nullable=True),
        sa.Column('standalone_ports_supported', sa.Boolean(),
                  nullable=False),
        sa.Column('mode', sa.String(255), nullable=True),
        sa.Column('properties', sa.JSON(), nullable=True),
        sa.Column('physical_network', sa.String(64), nullable=True),
        sa.Column('category', sa.String(80), nullable=True),
        sa.Column('dynamic_portgroup', sa.Boolean(), nullable=False),
        *_times(),
        sa.UniqueConstraint('uuid', name='uniq_portgroups0uuid'),
        sa.UniqueConstraint('address', name='uniq_portgroups0address'),
        sa.UniqueConstraint('name', name='uniq_portgroups0name'))
    op.create_index('portgroups_node_id_idx', 'portgroups', ['node_id'])
    with op.batch_alter_table('ports') as batch:
        batch.add_column(sa.Column('portgroup_id', sa.Integer(),
                                   nullable=True))
        batch.create_foreign_key('ports_portgroup_id_fkey', 'portgroups',
                                 ['portgroup_id'], ['id'])
    op.create_table(
        'volume_connectors',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('uuid', sa.String(36), nullable=False),
        _node_fk(),
        sa.Column('type', sa.String(32), nullable=False),
        sa.Column('connector_id', sa.String(255), nullable=False),
        sa.Column('extra', sa.JSON(), nullable=True),
        *_times(),
        sa.UniqueConstraint('uuid', name='uniq_volumeconnectors0uuid'),
        sa.UniqueConstraint('type', 'connector_id',
                            name='uniq_volumeconnectors0type0connector_id'))
    op.create_index('volume_connectors_node_id_idx', 'volume_connectors',
                    ['node_id'])
    op.create_table(
        'volume_targets',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('uuid', sa.String(36), nullable=False),
        _node_fk(),
        sa.Column('volume_type', sa.String(64), nullable=False),
        sa.Column('properties', sa.JSON(), nullable=True),
        sa.Column('boot_index', sa.Integer(), nullable=False),
        sa.Column('volume_id', sa.String(36), nullable=False),
        sa.Column('extra', sa.JSON(), nullable=True),
        *_times(),
        sa.UniqueConstraint('uuid', name='uniq_volumetargets0uuid'),
        sa.UniqueConstraint('node_id', 'boot_index',
                            name='uniq_volumetargets0node_id0boot_index'))
    op.create_table(
        'deploy_templates',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('steps', sa.JSON(), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=True),
        *_times(),
        sa.UniqueConstraint('uuid', name='uniq_deploytemplates0uuid'),
        sa.UniqueConstraint('name', name='uniq_deploytemplates0name'))
    op.create_table(
        'runbooks',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('description', sa.String(255), nullable=True),
        sa.Column('public', sa.Boolean(), nullable=False),
        sa.Column('owner', sa.String(255), nullable=True),
        sa.Column('disable_ramdisk', sa.Boolean(), nullable=False),
        sa.Column('steps', sa.JSON(), nullable=True),
        sa.Column('traits', sa.JSON(), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=True),
        *_times(),
        sa.UniqueConstraint('uuid', name='uniq_runbooks0uuid'),
        sa.UniqueConstraint('name', name='uniq_runbooks0name'))
    op.create_table(
        'inspection_rules',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('description', sa.String(255), nullable=True),
        sa.Column('scope', sa.String(255), nullable=True),
        sa.Column('sensitive', sa.Boolean(), nullable=False),
        sa.Column('phase', sa.String(16), nullable=False),
        sa.Column('conditions', sa.JSON(), nullable=True),
        sa.Column('actions', sa.JSON(), nullable=True),
        *_times(),
        sa.UniqueConstraint('uuid', name='uniq_inspection_rules0uuid'))
    op.create_index('inspection_rule_phase_idx', 'inspection_rules',
                    ['phase'])


def downgrade():
    for table in ('inspection_rules', 'runbooks', 'deploy_templates',
                  'volume_targets', 'volume_connectors'):
        op.drop_table(table)
    with op.batch_alter_table('ports') as batch:
        batch.drop_constraint('ports_portgroup_id_fkey', type_='foreignkey')
        batch.drop_column('portgroup_id')
    op.drop_table('portgroups')
    op.drop_table('chassis')
