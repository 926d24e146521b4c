"""What bootflow keeps about a node's hardware besides the node row: BIOS
settings, firmware components, the inspection inventory and the node's
history. Tables and columns are named as Ironic names them.

Every ``node_id`` cascades: these rows describe one node and mean nothing
once it is gone, and the schema keeps that true whoever deletes the node.
"""

from sqlalchemy import (BigInteger, Boolean, DateTime, ForeignKey, Index,
                        Integer, JSON, String, Text, UniqueConstraint)
from sqlalchemy import orm

from bootflow.db.models import Base


def _node_id(nullable=False, primary_key=False):
    return orm.mapped_column(
        Integer, ForeignKey('nodes.id', ondelete='CASCADE'),
        nullable=nullable, primary_key=primary_key)


class BIOSSetting(Base):
    __tablename__ = 'bios_settings'

    node_id = _node_id(primary_key=True)
    name = orm.mapped_column(String(255), primary_key=True)
    value = orm.mapped_column(Text)
    attribute_type = orm.mapped_column(String(255))
    allowable_values = orm.mapped_column(JSON)
    lower_bound = orm.mapped_column(BigInteger)
    max_length = orm.mapped_column(Integer)
    min_length = orm.mapped_column(Integer)
    read_only = orm.mapped_column(Boolean)
    reset_required = orm.mapped_column(Boolean)
    unique = orm.mapped_column(Boolean)
    upper_bound = orm.mapped_column(BigInteger)
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class FirmwareComponent(Base):
    __tablename__ = 'firmware_information'
    __table_args__ = (
        UniqueConstraint('node_id', 'component',
                         name='uniq_nodecomponent0node_id0component'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    node_id = _node_id()
    component = orm.mapped_column(String(255), nullable=False)
    initial_version = orm.mapped_column(String(255), nullable=False)
    current_version = orm.mapped_column(String(255))
    last_version_flashed = orm.mapped_column(String(255))
    vendor = orm.mapped_column(String(255))
    model = orm.mapped_column(String(255))
    serial_number = orm.mapped_column(String(255))
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class NodeHistory(Base):
    __tablename__ = 'node_history'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_history0uuid'),
        Index('history_node_id_idx', 'node_id'),
        Index('history_conductor_idx', 'conductor'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    conductor = orm.mapped_column(String(255))
    event_type = orm.mapped_column(String(255))
    severity = orm.mapped_column(String(255))
    event = orm.mapped_column(Text)
    user = orm.mapped_column(String(64))
    project = orm.mapped_column(String(80))
    node_id = _node_id(nullable=True)
    state = orm.mapped_column(String(255))
    target_provision_state = orm.mapped_column(String(255))
    duration_seconds = orm.mapped_column(Integer)
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class NodeInventory(Base):
    __tablename__ = 'node_inventory'
    __table_args__ = (
        UniqueConstraint('node_id', name='uniq_node_inventory0node_id'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    node_id = _node_id()
    inventory_data = orm.mapped_column(JSON)
    plugin_data = orm.mapped_column(JSON)
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)
