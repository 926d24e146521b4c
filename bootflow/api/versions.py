"""Which fields each resource shows, and from which API version.

A field appears in a response only when the request's version is at least
the one that introduced it, so older clients see exactly what they expect.
Every microversion number the controllers act on lives in this module:
the per-resource field tables, ``SWITCHES`` for behaviour that changed at
some version, and ``HISTORY``, the one-line story of each microversion.
"""

# What each microversion brought, oldest first.
HISTORY = (
    (1, 'versioned API as of Kilo: maintenance reason and endpoints, vendor '
        'passthru methods, config drive on deploy'),
    (2, 'the state of a node ready for deployment is called "available"'),
    (3, 'node driver_internal_info is shown'),
    (4, 'manageable state, with the manage and provide verbs'),
    (5, 'nodes have logical names usable instead of their UUID'),
    (6, 'hardware inspection states and the inspect verb'),
    (7, 'node clean_step is shown'),
    (8, 'a fields query parameter selects the fields returned'),
    (9, 'node lists can be filtered by provision_state'),
    (10, 'node names may use any RFC 3986 unreserved character'),
    (11, 'new nodes start in the enroll state'),
    (12, 'RAID configuration of nodes and drivers'),
    (13, 'the abort verb interrupts waiting cleaning'),
    (14, 'links to node states and driver properties'),
    (15, 'manual cleaning with explicit clean steps'),
    (16, 'node lists can be filtered by driver'),
    (17, 'the adopt verb takes over running machines'),
    (18, 'port internal_info is shown'),
    (19, 'port local_link_connection and pxe_enabled'),
    (20, 'node network_interface'),
    (21, 'node resource_class, and filtering by it'),
    (22, 'ramdisk lookup and heartbeat endpoints'),
    (23, 'port groups'),
    (24, 'port groups below nodes, ports below port groups, '
         'port portgroup_uuid'),
    (25, 'chassis_uuid can be removed from a node'),
    (26, 'port group mode and properties'),
    (27, 'soft power off, soft reboot and power timeouts'),
    (28, 'VIF attachment endpoints'),
    (29, 'injecting a non-maskable interrupt'),
    (30, 'hardware types listed as dynamic drivers with their interfaces'),
    (31, 'per-node hardware interface fields'),
    (32, 'volume connectors and targets'),
    (33, 'node storage_interface'),
    (34, 'port physical_network'),
    (35, 'config drive on rebuild'),
    (36, 'agent version reported in heartbeats'),
    (37, 'node traits'),
    (38, 'rescue and unrescue, node rescue_interface'),
    (39, 'the inspect wait state'),
    (40, 'BIOS settings and node bios_interface'),
    (41, 'inspection can be aborted'),
    (42, 'node fault, and filtering by it'),
    (43, 'detail=true on list endpoints'),
    (44, 'node deploy_step is shown'),
    (45, 'reset_interfaces when changing a node\'s driver'),
    (46, 'node conductor_group'),
    (47, 'node automated_clean'),
    (48, 'node protected and protected_reason'),
    (49, 'conductors endpoint and node conductor field'),
    (50, 'node owner'),
    (51, 'node description and filtering by description_contains'),
    (52, 'allocations'),
    (53, 'smart NIC ports (is_smartnic)'),
    (54, 'external events endpoint'),
    (55, 'deploy templates'),
    (56, 'config drive built from JSON'),
    (57, 'allocations can be updated'),
    (58, 'allocations can be backfilled'),
    (59, 'vendor_data in config drives'),
    (60, 'allocation owner'),
    (61, 'node retired and retired_reason'),
    (62, 'agent tokens'),
    (63, 'hardware indicators'),
    (64, 'network_type in port local_link_connection'),
    (65, 'node lessee'),
    (66, 'node network_data'),
    (67, 'VIF attachment to a chosen port or port group'),
    (68, 'agent_verify_ca in heartbeats'),
    (69, 'deploy steps when deploying'),
    (70, 'manual cleaning without booting the ramdisk'),
    (71, 'scope-based access policies'),
    (72, 'agent status in heartbeats'),
    (73, 'deploy and undeploy verbs'),
    (74, 'BIOS setting registry details'),
    (75, 'node boot_mode and secure_boot'),
    (76, 'boot mode and secure boot can be changed'),
    (77, 'fields selector on drivers'),
    (78, 'node history'),
    (79, 'allocations prefer a node name match'),
    (80, 'project-scoped node creation and deletion'),
    (81, 'node inventory'),
    (82, 'node shard, shards endpoint'),
    (83, 'parent and child nodes'),
    (84, 'ramdisk callback to continue inspection'),
    (85, 'unhold verb'),
    (86, 'firmware interface and firmware components'),
    (87, 'servicing: the service verb and node service_step'),
    (88, 'port name'),
    (89, 'attaching and detaching virtual media'),
    (90, 'OVN VTEP switch data in port local_link_connection'),
    (91, 'no special meaning for a trailing .json'),
    (92, 'runbooks'),
    (93, 'listing virtual media'),
    (94, 'ports can be created with node_ident (a node name or UUID)'),
    (95, 'node disable_power_off'),
    (96, 'inspection rules'),
    (97, 'port description'),
    (98, 'JSON patch paths may name keys containing ~ or /'),
    (99, 'port and port group lists filtered by conductor group'),
    (100, 'port vendor'),
    (101, 'port category'),
    (102, 'port group physical_network'),
    (103, 'port group category'),
    (104, 'node instance_name, and filtering by it'),
    (105, 'OVN VTEP switch data no longer accepted'),
    (106, 'port group lists filtered by shard'),
    (107, 'X-OpenStack-Request-Id response header'),
    (108, 'servicing without booting the ramdisk'),
    (109, 'node health'),
    (110, 'deployment can be aborted while waiting for the agent'),
    (111, 'dynamic port groups: port available_for_dynamic_portgroup'),
    (112, 'runbook traits and description'),
    (113, 'node history records the project'),
    (114, 'firmware components report vendor, model and serial number'),
    (115, 'node history records states and durations'),
)

# Behaviour that changed at a version, by name; controllers ask
# ``req.allows(SWITCHES[...])`` rather than naming numbers themselves.
SWITCHES = {
    'AVAILABLE_STATE_NAME': 2,
    'MANAGEABLE_STATE': 4,
    'NODE_NAME': 5,
    'INSPECT_STATES': 6,
    'FIELDS_SELECTOR': 8,
    'PROVISION_STATE_FILTER': 9,
    'UNRESTRICTED_NODE_NAME': 10,
    'ENROLL_DEFAULT': 11,
    'RAID': 12,
    'STATES_AND_PROPERTIES_LINKS': 14,
    'DRIVER_FILTER': 16,
    'RESOURCE_CLASS_FILTER': 21,
    'PORTGROUPS': 23,
    'PORTGROUP_SUBRESOURCES': 24,
    'UNSET_CHASSIS_UUID': 25,
    'DYNAMIC_DRIVERS': 30,
    'VOLUME': 32,
    'INSPECT_WAIT_STATE': 39,
    'FAULT_FILTER': 42,
    'DETAIL_QUERY': 43,
    'RESET_INTERFACES': 45,
    'CONDUCTOR_GROUP_FILTER': 46,
    'CONDUCTORS': 49,
    'OWNER_FILTER': 50,
    'DESCRIPTION_FILTER': 51,
    'LESSEE_FILTER': 65,
    'NETWORK_TYPE': 64,
    'DRIVER_FIELDS_SELECTOR': 77,
    'SHARDS': 82,
    'CHILD_NODES': 83,
    'PORT_NAME': 88,
    'PORT_NODE_IDENT': 94,
    'SPECIAL_CHARS_IN_PATCH': 98,
    'PORT_CONDUCTOR_GROUPS_FILTER': 99,
    'INSTANCE_NAME_FILTER': 104,
}


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
    ('retired_reason', 61), ('secure_boot', 75), ('service_step', 87),
    ('shard', 82), ('storage_interface', 33), ('target_power_state', 1),
    ('target_provision_state', 1), ('target_raid_config', 12),
    ('traits', 37), ('vendor_interface', 31),
    # computed
    ('links', 1), ('conductor', 49), ('allocation_uuid', 52),
    ('chassis_uuid', 1), ('ports', 1), ('states', 14), ('portgroups', 24),
    ('volume', 32),
)
NODE_FIELD_VERSION = dict(NODE_FIELDS)

# What a plain (non-detail) node list shows.
NODE_LIST_FIELDS = ('uuid', 'instance_uuid', 'maintenance', 'power_state',
                    'provision_state', 'name', 'links')

# Fields computed rather than read from a column.
NODE_COMPUTED = {'links', 'conductor', 'allocation_uuid', 'ports', 'states',
                 'portgroups', 'volume', 'traits'}
NODE_LINK_FIELDS = {'ports': 1, 'states': 14, 'portgroups': 24, 'volume': 32}

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

# Fields a POST may set (Ironic's create schema): protected and its
# reason only by PATCH, traits only through /traits.
NODE_CREATABLE = (set(NODE_PATCHABLE) - {'protected', 'protected_reason'}) \
    | {'uuid', 'boot_mode', 'secure_boot', 'console_enabled'}

# Fields shown in documents but refused by ``?fields=`` (Ironic only
# selects among the node's own attributes and a few computed ones).
NODE_UNSELECTABLE = {'created_at', 'updated_at', 'links', 'ports', 'states',
                     'portgroups', 'volume'}

# Node list query parameters: name -> (minor, kind). Ironic accepts
# retired, description_contains and project at any version, so they are
# listed from 1.
NODE_FILTERS = {
    'chassis_uuid': (1, 'uuid'), 'instance_uuid': (1, 'uuid'),
    'associated': (1, 'bool'), 'maintenance': (1, 'bool'),
    'retired': (1, 'bool'), 'description_contains': (1, 'str'),
    'project': (1, 'str'), 'provision_state': (9, 'state'),
    'driver': (16, 'str'), 'resource_class': (21, 'str'),
    'fault': (42, 'fault'), 'conductor_group': (46, 'str'),
    'conductor': (49, 'str'), 'owner': (50, 'str'),
    'lessee': (65, 'str'), 'shard': (82, 'list'), 'sharded': (82, 'bool'),
    'include_children': (83, 'bool'), 'parent_node': (83, 'str'),
    'instance_name': (104, 'str'),
}

# Provision states a version did not know yet, shown under the name that
# version used: state -> (minor that introduced it, older name).
LEGACY_STATE_NAMES = {
    'available': (2, None),
    'inspect wait': (39, 'inspecting'),
}

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
                  'description', 'vendor', 'category', 'portgroup_uuid',
                  'available_for_dynamic_portgroup')
# Fields a port POST may set; node_ident (1.94) names the node by name or
# UUID instead of node_uuid.
PORT_CREATABLE = set(PORT_PATCHABLE) | {'uuid', 'node_ident'}
PORT_BODY_VERSION = dict(PORT_FIELDS, node_ident=94)
# Columns that cannot order a port list.
PORT_UNSORTABLE = {'extra', 'internal_info', 'local_link_connection'}
# Port list query parameters: name -> minor.
PORT_FILTERS = {'node': 1, 'node_uuid': 1, 'address': 1, 'portgroup': 24,
                'shard': 82, 'description_contains': 1,
                'conductor_groups': 1}

# Driver interface fields (default_X_interface, enabled_X_interfaces) by
# interface kind, with the version that shows them; they are shown only
# from 1.30, when drivers became hardware types with interfaces.
DRIVER_INTERFACES = (
    ('bios', 40), ('boot', 30), ('console', 30), ('deploy', 30),
    ('firmware', 86), ('inspect', 30), ('management', 30),
    ('network', 30), ('power', 30), ('raid', 30), ('rescue', 38),
    ('storage', 33), ('vendor', 30),
)
DRIVER_FIELDS = (
    ('name', 1), ('hosts', 1), ('links', 1), ('properties', 14),
    ('type', 30),
) + tuple(item for kind, since in DRIVER_INTERFACES for item in (
    ('default_%s_interface' % kind, since),
    ('enabled_%s_interfaces' % kind, since)))

# Conductor fields (the endpoint itself is 1.49).
CONDUCTOR_FIELDS = (
    ('hostname', 49), ('conductor_group', 49), ('alive', 49),
    ('drivers', 49), ('created_at', 49), ('updated_at', 49), ('links', 49),
)
CONDUCTOR_LIST_FIELDS = ('hostname', 'conductor_group', 'alive', 'links')
CONDUCTOR_UNSORTABLE = {'alive', 'drivers', 'links'}

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


# Chassis (API 1.1).
CHASSIS_FIELDS = (
    ('uuid', 1), ('description', 1), ('extra', 1), ('created_at', 1),
    ('updated_at', 1), ('links', 1), ('nodes', 1),
)


# Node sub-resources and actions, with the version that introduced each;
# below it Ironic answers 404 (406 for the RAID target).
# (Indicators came with 1.63 in clients, but Ironic serves them at any
# version, so they are not listed.)
NODE_SUBRESOURCES = {
    'raid': 12, 'soft_power': 27, 'vifs': 28, 'inject_nmi': 29,
    'traits': 37, 'bios': 40, 'vif_port_uuid': 67, 'bios_registry': 74,
    'boot_mode': 76, 'history': 78, 'inventory': 81, 'children': 83,
    'firmware': 86, 'vmedia': 89, 'vmedia_get': 93,
}

# BIOS setting fields: ``name`` and ``value`` always, the registry from
# 1.74 (shown with ``?detail=true`` on lists, always on a single setting).
BIOS_FIELDS = (
    ('name', 40), ('value', 40), ('attribute_type', 74),
    ('allowable_values', 74), ('lower_bound', 74), ('max_length', 74),
    ('min_length', 74), ('read_only', 74), ('reset_required', 74),
    ('unique', 74), ('upper_bound', 74),
)

# Firmware component fields; the component's identity came with 1.114.
FIRMWARE_FIELDS = (
    ('component', 86), ('initial_version', 86), ('current_version', 86),
    ('last_version_flashed', 86), ('vendor', 114), ('model', 114),
    ('serial_number', 114),
)

# Node history event fields in Ironic's order; a plain list shows only
# those marked as brief.
HISTORY_FIELDS = (
    ('uuid', 78), ('created_at', 78), ('severity', 78),
    ('event_type', 78), ('event', 78), ('conductor', 78), ('user', 78),
    ('project', 113), ('state', 115), ('target_provision_state', 115),
    ('duration_seconds', 115),
)
HISTORY_BRIEF_FIELDS = ('uuid', 'created_at', 'severity', 'event')

# Deploy templates (API 1.55).
DEPLOY_TEMPLATE_FIELDS = (
    ('uuid', 55), ('name', 55), ('steps', 55), ('extra', 55),
    ('created_at', 55), ('updated_at', 55), ('links', 55),
)

# Runbooks (API 1.92); description and traits came with 1.112, when the
# name stopped having to be a trait.
RUNBOOK_FIELDS = (
    ('uuid', 92), ('name', 92), ('description', 112), ('traits', 112),
    ('disable_ramdisk', 92), ('owner', 92), ('public', 92), ('steps', 92),
    ('extra', 92), ('created_at', 92), ('updated_at', 92), ('links', 92),
)

# Inspection rules (API 1.96).
INSPECTION_RULE_FIELDS = (
    ('uuid', 96), ('description', 96), ('priority', 96), ('sensitive', 96),
    ('phase', 96), ('conditions', 96), ('actions', 96), ('created_at', 96),
    ('updated_at', 96), ('links', 96),
)

# Endpoints that are not field tables of their own.
ENDPOINT_SINCE = {
    'events': 54,
    'runbook_traits': 112,
    'runbook_any_name': 112,
}

# Port groups (API 1.23). The ``ports`` link is shown from the start, as in
# Ironic, though the collection it names answers from 1.24.
PORTGROUP_FIELDS = (
    ('uuid', 23), ('name', 23), ('address', 23), ('node_uuid', 23),
    ('standalone_ports_supported', 23), ('mode', 26), ('properties', 26),
    ('physical_network', 102), ('category', 103),
    ('dynamic_portgroup', 111), ('extra', 23), ('internal_info', 23),
    ('created_at', 23), ('updated_at', 23), ('links', 23), ('ports', 23),
)
# Query filters of port group lists.
PORTGROUP_FILTERS = (
    ('node', 23), ('address', 23), ('conductor_groups', 99), ('shard', 106),
)
# Ports below a port group and port groups below a node; a port's
# portgroup_uuid and the portgroup filter of port lists.
PORTGROUP_SUBRESOURCES = 24

# Volume connectors and targets (API 1.32), with ?detail= from the start.
VOLUME_CONNECTOR_FIELDS = (
    ('uuid', 32), ('type', 32), ('connector_id', 32), ('node_uuid', 32),
    ('extra', 32), ('created_at', 32), ('updated_at', 32), ('links', 32),
)
VOLUME_TARGET_FIELDS = (
    ('uuid', 32), ('volume_type', 32), ('properties', 32),
    ('boot_index', 32), ('volume_id', 32), ('node_uuid', 32), ('extra', 32),
    ('created_at', 32), ('updated_at', 32), ('links', 32),
)
VOLUME = 32
