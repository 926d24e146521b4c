"""Which fields each resource shows, and from which API version.

A field appears in a response only when the request's version is at least
the one that introduced it, so older clients see exactly what they expect.
"""

# Node fields in Ironic's order, with the version that introduced each.
NODE_FIELDS = (
    ('uuid', 1), ('created_at', 1), ('updated_at', 1),
    ('automated_clean', 47), ('bios_interface', 40),
    ('boot_interface', 31), ('boot_mode', 75), ('clean_step', 7),
    ('conductor_group', 46), ('console_enabled', 1),
    ('console_interface', 31), ('disable_power_off', 95),
    ('deploy_interface', 31), ('deploy_step', 44), ('description', 51),
    ('driver', 1), ('driver_info', 1), ('driver_internal_info', 3),
    ('extra', 1), ('fault', 42), ('firmware_interface', 86),
    ('health', 109), ('inspection_finished_at', 6),
    ('inspection_started_at', 6), ('inspect_interface', 31),
    ('instance_info', 1), ('instance_name', 104), ('instance_uuid', 1),
    ('last_error', 1), ('lessee', 65), ('maintenance', 1),
    ('maintenance_reason', 1), ('management_interface', 31), ('name', 5),
    ('network_data', 66), ('network_interface', 20), ('owner', 50),
    ('parent_node', 83), ('power_interface', 31), ('power_state', 1),
    ('properties', 1), ('protected', 48), ('protected_reason', 48),
    ('provision_state', 1), ('provision_updated_at', 1),
    ('raid_config', 12), ('raid_interface', 31), ('rescue_interface', 38),
    ('reservation', 1), ('resource_class', 21), ('retired', 61),
    ('retired_reason', 61), ('secure_boot', 75), ('service_step', 89),
    ('shard', 82), ('storage_interface', 33), ('target_power_state', 1),
    ('target_provision_state', 1), ('target_raid_config', 12),
    ('traits', 37), ('vendor_interface', 31),
    # computed
    ('links', 1), ('conductor', 49), ('allocation_uuid', 52),
    ('chassis_uuid', 1), ('ports', 1), ('states', 1), ('portgroups', 24),
    ('volume', 32),
)
NODE_FIELD_VERSION = dict(NODE_FIELDS)

# What a plain (non-detail) node list shows.
NODE_LIST_FIELDS = ('uuid', 'instance_uuid', 'maintenance', 'power_state',
                    'provision_state', 'name', 'links')

# Fields computed rather than read from a column.
NODE_COMPUTED = {'links', 'conductor', 'allocation_uuid', 'ports', 'states',
                 'portgroups', 'volume', 'traits'}
NODE_LINK_FIELDS = {'ports': 1, 'states': 1, 'portgroups': 24, 'volume': 32}

# Fields a PATCH may change, and when they became patchable.
NODE_PATCHABLE = (
    'automated_clean', 'bios_interface', 'boot_interface', 'chassis_uuid',
    'conductor_group', 'console_interface', 'deploy_interface',
    'description', 'disable_power_off', 'driver', 'driver_info', 'extra',
    'inspect_interface', 'instance_info', 'instance_name', 'instance_uuid',
    'lessee', 'maintenance', 'management_interface', 'name',
    'network_data', 'network_interface', 'owner', 'power_interface',
    'properties', 'protected', 'protected_reason', 'raid_interface',
    'rescue_interface', 'resource_class', 'retired', 'retired_reason',
    'shard', 'storage_interface', 'vendor_interface', 'parent_node',
    'firmware_interface',
)

# Fields a POST may set.
NODE_CREATABLE = set(NODE_PATCHABLE) | {'uuid', 'traits', 'chassis_uuid'}

NODE_STATES_FIELDS = (
    ('console_enabled', 1), ('last_error', 1), ('power_state', 1),
    ('provision_state', 1), ('target_power_state', 1),
    ('target_provision_state', 1), ('provision_updated_at', 1),
    ('raid_config', 12), ('target_raid_config', 12), ('boot_mode', 75),
    ('secure_boot', 75),
)

PORT_FIELDS = (
    ('uuid', 1), ('created_at', 1), ('updated_at', 1), ('address', 1),
    ('extra', 1), ('internal_info', 18), ('is_smartnic', 53),
    ('local_link_connection', 19), ('physical_network', 34),
    ('pxe_enabled', 19), ('node_uuid', 1), ('name', 88),
    ('description', 97), ('vendor', 100), ('category', 101),
    ('available_for_dynamic_portgroup', 111), ('links', 1),
    ('portgroup_uuid', 24),
)
PORT_FIELD_VERSION = dict(PORT_FIELDS)
PORT_LIST_FIELDS = ('uuid', 'address', 'links')
PORT_PATCHABLE = ('address', 'node_uuid', 'extra', 'local_link_connection',
                  'pxe_enabled', 'physical_network', 'is_smartnic', 'name',
                  'description', 'vendor', 'category', 'portgroup_uuid')

# Allocation fields (API 1.52+), with the version that introduced each.
ALLOCATION_FIELDS = (
    ('uuid', 52), ('created_at', 52), ('updated_at', 52), ('name', 52),
    ('node_uuid', 52), ('state', 52), ('last_error', 52),
    ('resource_class', 52), ('traits', 52), ('candidate_nodes', 52),
    ('extra', 52), ('owner', 60), ('links', 52),
)
ALLOCATION_PATCHABLE = ('name', 'extra')


def visible(table, version):
    """Field names of ``table`` shown at ``version`` (a (1, N) tuple)."""
    minor = version[1]
    return [name for name, since in table if minor >= since]
