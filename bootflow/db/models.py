"""SQLAlchemy models. Column names follow Ironic's, so the API maps fields
one to one and operators reading the database find what they expect."""

from sqlalchemy import (Boolean, DateTime, ForeignKey, Index, Integer, JSON,
                        String, Text, UniqueConstraint)
from sqlalchemy import orm


class Base(orm.DeclarativeBase):
    pass


def _json():
    return orm.mapped_column(JSON, nullable=True)


class Node(Base):
    __tablename__ = 'nodes'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_nodes0uuid'),
        UniqueConstraint('name', name='uniq_nodes0name'),
        UniqueConstraint('instance_uuid', name='uniq_nodes0instance_uuid'),
        Index('nodes_provision_state_idx', 'provision_state'),
        Index('nodes_reservation_idx', 'reservation'),
        Index('nodes_conductor_group_idx', 'conductor_group'),
        Index('nodes_resource_class_idx', 'resource_class'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    name = orm.mapped_column(String(255))
    description = orm.mapped_column(Text)
    driver = orm.mapped_column(String(255), nullable=False)
    driver_info = _json()
    driver_internal_info = _json()
    properties = _json()
    instance_info = _json()
    extra = _json()
    instance_uuid = orm.mapped_column(String(36))
    instance_name = orm.mapped_column(String(255))
    chassis_uuid = orm.mapped_column(String(36))
    power_state = orm.mapped_column(String(15))
    target_power_state = orm.mapped_column(String(15))
    provision_state = orm.mapped_column(String(15))
    target_provision_state = orm.mapped_column(String(15))
    provision_updated_at = orm.mapped_column(DateTime)
    last_error = orm.mapped_column(Text)
    maintenance = orm.mapped_column(Boolean, default=False, nullable=False)
    maintenance_reason = orm.mapped_column(Text)
    fault = orm.mapped_column(String(255))
    console_enabled = orm.mapped_column(Boolean, default=False,
                                        nullable=False)
    reservation = orm.mapped_column(String(255))
    conductor_affinity = orm.mapped_column(String(255))
    conductor_group = orm.mapped_column(String(255), default='',
                                        nullable=False)
    inspection_started_at = orm.mapped_column(DateTime)
    inspection_finished_at = orm.mapped_column(DateTime)
    clean_step = _json()
    deploy_step = _json()
    service_step = _json()
    raid_config = _json()
    target_raid_config = _json()
    network_data = _json()
    resource_class = orm.mapped_column(String(80))
    bios_interface = orm.mapped_column(String(255))
    boot_interface = orm.mapped_column(String(255))
    console_interface = orm.mapped_column(String(255))
    deploy_interface = orm.mapped_column(String(255))
    firmware_interface = orm.mapped_column(String(255))
    inspect_interface = orm.mapped_column(String(255))
    management_interface = orm.mapped_column(String(255))
    network_interface = orm.mapped_column(String(255))
    power_interface = orm.mapped_column(String(255))
    raid_interface = orm.mapped_column(String(255))
    rescue_interface = orm.mapped_column(String(255))
    storage_interface = orm.mapped_column(String(255))
    vendor_interface = orm.mapped_column(String(255))
    automated_clean = orm.mapped_column(Boolean)
    protected = orm.mapped_column(Boolean, default=False, nullable=False)
    protected_reason = orm.mapped_column(Text)
    owner = orm.mapped_column(String(255))
    lessee = orm.mapped_column(String(255))
    allocation_id = orm.mapped_column(Integer)
    retired = orm.mapped_column(Boolean, default=False, nullable=False)
    retired_reason = orm.mapped_column(Text)
    boot_mode = orm.mapped_column(String(16))
    secure_boot = orm.mapped_column(Boolean)
    shard = orm.mapped_column(String(255))
    parent_node = orm.mapped_column(String(36))
    disable_power_off = orm.mapped_column(Boolean, default=False,
                                          nullable=False)
    health = orm.mapped_column(String(255))
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class NodeTrait(Base):
    __tablename__ = 'node_traits'
    node_id = orm.mapped_column(
        Integer, ForeignKey('nodes.id', ondelete='CASCADE'),
        primary_key=True)
    trait = orm.mapped_column(String(255), primary_key=True)
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class Port(Base):
    __tablename__ = 'ports'
    __table_args__ = (
        UniqueConstraint('address', name='uniq_ports0address'),
        UniqueConstraint('uuid', name='uniq_ports0uuid'),
        UniqueConstraint('name', name='uniq_ports0name'),
        Index('ports_node_id_idx', 'node_id'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    address = orm.mapped_column(String(18), nullable=False)
    name = orm.mapped_column(String(255))
    description = orm.mapped_column(Text)
    node_id = orm.mapped_column(
        Integer, ForeignKey('nodes.id', ondelete='CASCADE'), nullable=False)
    extra = _json()
    local_link_connection = _json()
    internal_info = _json()
    pxe_enabled = orm.mapped_column(Boolean, default=True, nullable=False)
    physical_network = orm.mapped_column(String(64))
    is_smartnic = orm.mapped_column(Boolean, default=False, nullable=False)
    vendor = orm.mapped_column(String(255))
    category = orm.mapped_column(String(80))
    # deleting a portgroup is refused while it has ports (as in Ironic),
    # so no cascade
    portgroup_id = orm.mapped_column(Integer, ForeignKey('portgroups.id'))
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class Conductor(Base):
    __tablename__ = 'conductors'
    __table_args__ = (
        UniqueConstraint('hostname', name='uniq_conductors0hostname'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    hostname = orm.mapped_column(String(255), nullable=False)
    online = orm.mapped_column(Boolean, default=True, nullable=False)
    conductor_group = orm.mapped_column(String(255), default='',
                                        nullable=False)
    # hardware types and interfaces this conductor loaded, so the API can
    # list drivers without loading them itself
    drivers = _json()
    interfaces = _json()
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class Allocation(Base):
    """A request for a node, as Ironic's allocations table.

    ``node_id`` cascades on node deletion because an allocation outlives
    nothing it was made for: Ironic removes a node's allocations with the
    node, and the schema keeps that true whoever deletes the node.
    """
    __tablename__ = 'allocations'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_allocations0uuid'),
        UniqueConstraint('name', name='uniq_allocations0name'),
        Index('allocations_node_id_idx', 'node_id'),
        Index('allocations_state_idx', 'state'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    name = orm.mapped_column(String(255))
    node_id = orm.mapped_column(
        Integer, ForeignKey('nodes.id', ondelete='CASCADE'))
    state = orm.mapped_column(String(15), nullable=False)
    owner = orm.mapped_column(String(255))
    last_error = orm.mapped_column(Text)
    resource_class = orm.mapped_column(String(80))
    traits = _json()
    candidate_nodes = _json()
    extra = _json()
    # the conductor (conductors.id) processing the allocation
    conductor_affinity = orm.mapped_column(Integer)
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


# Declared here rather than in Node's table args: it came with allocations
# (migration 0002), which release a node by looking up its allocation_id.
Index('nodes_allocation_id_idx', Node.allocation_id)


class Instance(Base):
    """A launch request of bootflow's own API (``/bootflow/v1/instances``):
    schedule, deploy, retry elsewhere on failure, as one flow."""
    __tablename__ = 'instances'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_instances0uuid'),
        UniqueConstraint('name', name='uniq_instances0name'),
        Index('instances_state_idx', 'state'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    name = orm.mapped_column(String(255))
    state = orm.mapped_column(String(15), nullable=False)
    current_task = orm.mapped_column(String(64))
    resource_class = orm.mapped_column(String(80), nullable=False)
    traits = _json()
    candidate_nodes = _json()
    image_source = orm.mapped_column(Text, nullable=False)
    instance_info = _json()
    configdrive = orm.mapped_column(Text)
    max_attempts = orm.mapped_column(Integer, nullable=False)
    attempts = orm.mapped_column(Integer, nullable=False, default=0)
    node_uuid = orm.mapped_column(String(36))
    allocation_uuid = orm.mapped_column(String(36))
    last_error = orm.mapped_column(Text)
    # the conductor running the instance's flow
    conductor = orm.mapped_column(String(255))
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class Chassis(Base):
    __tablename__ = 'chassis'
    __table_args__ = (UniqueConstraint('uuid', name='uniq_chassis0uuid'),)

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    description = orm.mapped_column(String(255))
    extra = _json()
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class Portgroup(Base):
    """A bond of ports. ``node_id`` cascades like ports: a portgroup is
    part of its node and means nothing without it."""
    __tablename__ = 'portgroups'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_portgroups0uuid'),
        UniqueConstraint('address', name='uniq_portgroups0address'),
        UniqueConstraint('name', name='uniq_portgroups0name'),
        Index('portgroups_node_id_idx', 'node_id'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    name = orm.mapped_column(String(255))
    node_id = orm.mapped_column(
        Integer, ForeignKey('nodes.id', ondelete='CASCADE'), nullable=False)
    address = orm.mapped_column(String(18))
    extra = _json()
    internal_info = _json()
    standalone_ports_supported = orm.mapped_column(Boolean, default=True,
                                                   nullable=False)
    mode = orm.mapped_column(String(255))
    properties = _json()
    physical_network = orm.mapped_column(String(64))
    category = orm.mapped_column(String(80))
    dynamic_portgroup = orm.mapped_column(Boolean, default=False,
                                          nullable=False)
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class VolumeConnector(Base):
    __tablename__ = 'volume_connectors'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_volumeconnectors0uuid'),
        UniqueConstraint('type', 'connector_id',
                         name='uniq_volumeconnectors0type0connector_id'),
        Index('volume_connectors_node_id_idx', 'node_id'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    node_id = orm.mapped_column(
        Integer, ForeignKey('nodes.id', ondelete='CASCADE'), nullable=False)
    type = orm.mapped_column(String(32), nullable=False)
    connector_id = orm.mapped_column(String(255), nullable=False)
    extra = _json()
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class VolumeTarget(Base):
    __tablename__ = 'volume_targets'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_volumetargets0uuid'),
        UniqueConstraint('node_id', 'boot_index',
                         name='uniq_volumetargets0node_id0boot_index'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    node_id = orm.mapped_column(
        Integer, ForeignKey('nodes.id', ondelete='CASCADE'), nullable=False)
    volume_type = orm.mapped_column(String(64), nullable=False)
    properties = _json()
    boot_index = orm.mapped_column(Integer, nullable=False)
    volume_id = orm.mapped_column(String(36), nullable=False)
    extra = _json()
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class DeployTemplate(Base):
    """Steps applied at deploy time to nodes whose instance asks for the
    trait named like the template. Steps are kept as one JSON list: they
    are always read and written whole, never queried one by one."""
    __tablename__ = 'deploy_templates'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_deploytemplates0uuid'),
        UniqueConstraint('name', name='uniq_deploytemplates0name'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    name = orm.mapped_column(String(255), nullable=False)
    steps = _json()
    extra = _json()
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class Runbook(Base):
    """A named list of steps an operator (or a project) runs on a node."""
    __tablename__ = 'runbooks'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_runbooks0uuid'),
        UniqueConstraint('name', name='uniq_runbooks0name'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    name = orm.mapped_column(String(255), nullable=False)
    description = orm.mapped_column(String(255))
    public = orm.mapped_column(Boolean, default=False, nullable=False)
    owner = orm.mapped_column(String(255))
    disable_ramdisk = orm.mapped_column(Boolean, default=False,
                                        nullable=False)
    steps = _json()
    traits = _json()
    extra = _json()
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)


class InspectionRule(Base):
    __tablename__ = 'inspection_rules'
    __table_args__ = (
        UniqueConstraint('uuid', name='uniq_inspection_rules0uuid'),
        Index('inspection_rule_phase_idx', 'phase'),
    )

    id = orm.mapped_column(Integer, primary_key=True)
    uuid = orm.mapped_column(String(36), nullable=False)
    priority = orm.mapped_column(Integer, default=0, nullable=False)
    description = orm.mapped_column(String(255))
    scope = orm.mapped_column(String(255))
    sensitive = orm.mapped_column(Boolean, default=False, nullable=False)
    phase = orm.mapped_column(String(16), default='main', nullable=False)
    conditions = _json()
    actions = _json()
    created_at = orm.mapped_column(DateTime)
    updated_at = orm.mapped_column(DateTime)
