"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 23:56:25.431933
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('conductors',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('hostname', sa.String(
                        length=255), nullable=False),
                    sa.Column('online', sa.Boolean(), nullable=False),
                    sa.Column('conductor_group', sa.String(
                        length=255), nullable=False),
                    sa.Column('drivers', sa.JSON(), nullable=True),
                    sa.Column('interfaces', sa.JSON(), nullable=True),
                    sa.Column('created_at', sa.DateTime(), nullable=True),
                    sa.Column('updated_at', sa.DateTime(), nullable=True),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint(
                        'hostname', name='uniq_conductors0hostname')
                    )
    op.create_table('nodes',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('uuid', sa.String(length=36), nullable=False),
                    sa.Column('name', sa.String(length=255), nullable=True),
                    sa.Column('description', sa.Text(), nullable=True),
                    sa.Column('driver', sa.String(length=255), nullable=False),
                    sa.Column('driver_info', sa.JSON(), nullable=True),
                    sa.Column('driver_internal_info',
                              sa.JSON(), nullable=True),
                    sa.Column('properties', sa.JSON(), nullable=True),
                    sa.Column('instance_info', sa.JSON(), nullable=True),
                    sa.Column('extra', sa.JSON(), nullable=True),
                    sa.Column('instance_uuid', sa.String(
                        length=36), nullable=True),
                    sa.Column('instance_name', sa.String(
                        length=255), nullable=True),
                    sa.Column('chassis_uuid', sa.String(
                        length=36), nullable=True),
                    sa.Column('power_state', sa.String(
                        length=15), nullable=True),
                    sa.Column('target_power_state', sa.String(
                        length=15), nullable=True),
                    sa.Column('provision_state', sa.String(
                        length=15), nullable=True),
                    sa.Column('target_provision_state',
                              sa.String(length=15), nullable=True),
                    sa.Column('provision_updated_at',
                              sa.DateTime(), nullable=True),
                    sa.Column('last_error', sa.Text(), nullable=True),
                    sa.Column('maintenance', sa.Boolean(), nullable=False),
                    sa.Column('maintenance_reason', sa.Text(), nullable=True),
                    sa.Column('fault', sa.String(length=255), nullable=True),
                    sa.Column('console_enabled', sa.Boolean(), nullable=False),
                    sa.Column('reservation', sa.String(
                        length=255), nullable=True),
                    sa.Column('conductor_affinity', sa.String(
                        length=255), nullable=True),
                    sa.Column('conductor_group', sa.String(
                        length=255), nullable=False),
                    sa.Column('inspection_started_at',
                              sa.DateTime(), nullable=True),
                    sa.Column('inspection_finished_at',
                              sa.DateTime(), nullable=True),
                    sa.Column('clean_step', sa.JSON(), nullable=True),
                    sa.Column('deploy_step', sa.JSON(), nullable=True),
                    sa.Column('service_step', sa.JSON(), nullable=True),
                    sa.Column('raid_config', sa.JSON(), nullable=True),
                    sa.Column('target_raid_config', sa.JSON(), nullable=True),
                    sa.Column('network_data', sa.JSON(), nullable=True),
                    sa.Column('resource_class', sa.String(
                        length=80), nullable=True),
                    sa.Column('bios_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('boot_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('console_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('deploy_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('firmware_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('inspect_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('management_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('network_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('power_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('raid_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('rescue_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('storage_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('vendor_interface', sa.String(
                        length=255), nullable=True),
                    sa.Column('automated_clean', sa.Boolean(), nullable=True),
                    sa.Column('protected', sa.Boolean(), nullable=False),
                    sa.Column('protected_reason', sa.Text(), nullable=True),
                    sa.Column('owner', sa.String(length=255), nullable=True),
                    sa.Column('lessee', sa.String(length=255), nullable=True),
                    sa.Column('allocation_id', sa.Integer(), nullable=True),
                    sa.Column('retired', sa.Boolean(), nullable=False),
                    sa.Column('retired_reason', sa.Text(), nullable=True),
                    sa.Column('boot_mode', sa.String(
                        length=16), nullable=True),
                    sa.Column('secure_boot', sa.Boolean(), nullable=True),
                    sa.Column('shard', sa.String(length=255), nullable=True),
                    sa.Column('parent_node', sa.String(
                        length=36), nullable=True),
                    sa.Column('disable_power_off',
                              sa.Boolean(), nullable=False),
                    sa.Column('health', sa.String(length=255), nullable=True),
                    sa.Column('created_at', sa.DateTime(), nullable=True),
                    sa.Column('updated_at', sa.DateTime(), nullable=True),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint(
                        'instance_uuid', name='uniq_nodes0instance_uuid'),
                    sa.UniqueConstraint('name', name='uniq_nodes0name'),
                    sa.UniqueConstraint('uuid', name='uniq_nodes0uuid')
                    )
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.create_index('nodes_conductor_group_idx', [
                              'conductor_group'], unique=False)
        batch_op.create_index('nodes_provision_state_idx', [
                              'provision_state'], unique=False)
        batch_op.create_index('nodes_reservation_idx', [
                              'reservation'], unique=False)
        batch_op.create_index('nodes_resource_class_idx', [
                              'resource_class'], unique=False)

    op.create_table('node_traits',
                    sa.Column('node_id', sa.Integer(), nullable=False),
                    sa.Column('trait', sa.String(length=255), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=True),
                    sa.Column('updated_at', sa.DateTime(), nullable=True),
                    sa.ForeignKeyConstraint(
                        ['node_id'], ['nodes.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('node_id', 'trait')
                    )
    op.create_table('ports',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('uuid', sa.String(length=36), nullable=False),
                    sa.Column('address', sa.String(length=18), nullable=False),
                    sa.Column('name', sa.String(length=255), nullable=True),
                    sa.Column('description', sa.Text(), nullable=True),
                    sa.Column('node_id', sa.Integer(), nullable=False),
                    sa.Column('extra', sa.JSON(), nullable=True),
                    sa.Column('local_link_connection',
                              sa.JSON(), nullable=True),
                    sa.Column('internal_info', sa.JSON(), nullable=True),
                    sa.Column('pxe_enabled', sa.Boolean(), nullable=False),
                    sa.Column('physical_network', sa.String(
                        length=64), nullable=True),
                    sa.Column('is_smartnic', sa.Boolean(), nullable=False),
                    sa.Column('vendor', sa.String(length=255), nullable=True),
                    sa.Column('category', sa.String(length=80), nullable=True),
                    sa.Column('created_at', sa.DateTime(), nullable=True),
                    sa.Column('updated_at', sa.DateTime(), nullable=True),
                    sa.ForeignKeyConstraint(
                        ['node_id'], ['nodes.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('address', name='uniq_ports0address'),
                    sa.UniqueConstraint('name', name='uniq_ports0name'),
                    sa.UniqueConstraint('uuid', name='uniq_ports0uuid')
                    )
    with op.batch_alter_table('ports', schema=None) as batch_op:
        batch_op.create_index('ports_node_id_idx', ['node_id'], unique=False)
