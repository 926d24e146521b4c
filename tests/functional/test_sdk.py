"""openstacksdk's baremetal proxy against bootflow."""

import pytest
from openstack import exceptions as sdk_exc

from .conftest import random_mac, unique

pytestmark = pytest.mark.functional

TIMEOUT = 60


@pytest.fixture
def bm(sdk):
    return sdk.baremetal


@pytest.fixture
def sdk_cleanup(api, node_cleanup):
    """Register node ids for best-effort deletion after the test."""
    def register(node_id):
        node_cleanup.append((api, node_id))
        return node_id
    return register


def test_drivers(bm, service):
    drivers = {d.name: d for d in bm.drivers()}
    assert 'fake-hardware' in drivers
    if service.conductor_host:
        assert service.conductor_host in drivers['fake-hardware'].hosts
    driver = bm.get_driver('fake-hardware')
    assert driver.name == 'fake-hardware'
    assert driver.hosts
    detailed = {d.name: d for d in bm.drivers(details=True)}
    assert 'fake' in detailed['fake-hardware'].enabled_power_interfaces
    assert detailed['fake-hardware'].default_power_interface == 'fake'
    with pytest.raises(sdk_exc.NotFoundException):
        bm.get_driver('no-such-driver-ft')


def test_node_lifecycle(bm, sdk_cleanup):
    name = unique('ft-sdk')
    node = bm.create_node(driver='fake-hardware', name=name,
                          resource_class='ft-sdk-rc',
                          properties={'cpus': 2, 'memory_mb': 1024})
    sdk_cleanup(node.id)
    assert node.name == name
    assert node.provision_state == 'enroll'
    assert node.driver == 'fake-hardware'
    assert node.properties == {'cpus': 2, 'memory_mb': 1024}

    # list with details and by name
    listed = [n for n in bm.nodes(details=True, resource_class='ft-sdk-rc')
              if n.id == node.id]
    assert len(listed) == 1
    assert listed[0].name == name
    assert listed[0].driver == 'fake-hardware'
    assert listed[0].properties == {'cpus': 2, 'memory_mb': 1024}
    brief = [n for n in bm.nodes() if n.id == node.id]
    assert len(brief) == 1 and brief[0].name == name
    assert bm.get_node(name).id == node.id
    assert bm.get_node(node.id).name == name
    partial = bm.get_node(node.id, fields=['uuid', 'provision_state'])
    assert partial.id == node.id
    assert partial.provision_state == 'enroll'

    # patch
    patched = bm.patch_node(node, [
        {'op': 'add', 'path': '/extra/rack', 'value': 'r9'},
        {'op': 'replace', 'path': '/properties/cpus', 'value': 8},
        {'op': 'add', 'path': '/driver_info/fake_key', 'value': 'v'},
    ])
    assert patched.extra == {'rack': 'r9'}
    assert patched.properties == {'cpus': 8, 'memory_mb': 1024}
    assert patched.driver_info == {'fake_key': 'v'}
    patched = bm.patch_node(node, [{'op': 'remove', 'path': '/extra/rack'}])
    assert patched.extra == {}

    # validate
    result = bm.validate_node(node)
    for iface in ('boot', 'deploy', 'power', 'management'):
        assert result[iface].result is True, (iface, result[iface].reason)

    # provision: manage -> provide -> active
    node = bm.set_node_provision_state(node, 'manage', wait=True,
                                       timeout=TIMEOUT)
    assert node.provision_state == 'manageable'
    node = bm.set_node_provision_state(node, 'provide', wait=True,
                                       timeout=TIMEOUT)
    assert node.provision_state == 'available'
    node = bm.set_node_provision_state(node, 'active', wait=True,
                                       timeout=TIMEOUT)
    assert node.provision_state == 'active'
    assert bm.get_node(node.id).power_state in (None, 'power on')

    # power
    bm.set_node_power_state(node, 'power off', wait=True, timeout=TIMEOUT)
    assert bm.get_node(node.id).power_state == 'power off'
    bm.set_node_power_state(node, 'power on', wait=True, timeout=TIMEOUT)
    assert bm.get_node(node.id).power_state == 'power on'
    bm.set_node_power_state(node, 'rebooting', wait=True, timeout=TIMEOUT)
    assert bm.get_node(node.id).power_state == 'power on'

    # maintenance
    bm.set_node_maintenance(node, reason='sdk says so')
    got = bm.get_node(node.id)
    assert got.is_maintenance is True
    assert got.maintenance_reason == 'sdk says so'
    bm.unset_node_maintenance(node)
    got = bm.get_node(node.id)
    assert got.is_maintenance is False
    assert got.maintenance_reason is None

    # undeploy and delete
    node = bm.set_node_provision_state(node, 'deleted', wait=True,
                                       timeout=TIMEOUT)
    assert node.provision_state == 'available'
    bm.delete_node(node)
    with pytest.raises(sdk_exc.NotFoundException):
        bm.get_node(node.id)
    assert bm.delete_node(node.id, ignore_missing=True) is None


def test_wait_for_nodes_provision_state(bm, sdk_cleanup):
    nodes = [bm.create_node(driver='fake-hardware', name=unique('ft-sdkw'))
             for _ in range(3)]
    for n in nodes:
        sdk_cleanup(n.id)
    for n in nodes:
        bm.set_node_provision_state(n, 'manage')
    done = bm.wait_for_nodes_provision_state(nodes, 'manageable',
                                             timeout=TIMEOUT)
    assert sorted(n.id for n in done) == sorted(n.id for n in nodes)
    assert all(n.provision_state == 'manageable' for n in done)
    for n in nodes:
        bm.set_node_provision_state(n, 'provide')
    done = bm.wait_for_nodes_provision_state([n.id for n in nodes],
                                             'available', timeout=TIMEOUT)
    assert {n.provision_state for n in done} == {'available'}


def test_create_node_manageable(bm, sdk_cleanup):
    # openstacksdk moves the node to manageable itself when asked to.
    node = bm.create_node(driver='fake-hardware', name=unique('ft-sdkm'),
                          provision_state='manageable')
    sdk_cleanup(node.id)
    assert node.provision_state == 'manageable'
    assert bm.get_node(node.id).provision_state == 'manageable'


def test_ports(bm, sdk_cleanup):
    node = bm.create_node(driver='fake-hardware', name=unique('ft-sdkp'))
    sdk_cleanup(node.id)
    macs = sorted(random_mac() for _ in range(2))
    ports = [bm.create_port(node_uuid=node.id, address=mac,
                            extra={'slot': str(i)})
             for i, mac in enumerate(macs)]
    assert [p.address for p in ports] == macs
    assert all(p.node_id == node.id for p in ports)
    listed = list(bm.ports(node=node.id, details=True))
    assert sorted(p.address for p in listed) == macs
    assert {p.extra['slot'] for p in listed} == {'0', '1'}
    by_addr = list(bm.ports(address=macs[0]))
    assert [p.id for p in by_addr] == [ports[0].id]
    assert bm.get_port(ports[1].id).address == macs[1]
    bm.delete_port(ports[0])
    assert [p.address for p in bm.ports(node=node.id)] == [macs[1]]
    with pytest.raises(sdk_exc.NotFoundException):
        bm.get_port(ports[0].id)
    with pytest.raises(sdk_exc.ConflictException):
        bm.create_port(node_uuid=node.id, address=macs[1])
    with pytest.raises(sdk_exc.BadRequestException):
        bm.create_port(node_uuid=node.id, address='not-a-mac')


def test_traits(bm, sdk_cleanup):
    node = bm.create_node(driver='fake-hardware', name=unique('ft-sdkt'))
    sdk_cleanup(node.id)
    bm.add_node_trait(node, 'CUSTOM_FT_ONE')
    assert bm.get_node(node.id).traits == ['CUSTOM_FT_ONE']
    bm.add_node_trait(node, 'CUSTOM_FT_ONE')  # idempotent
    bm.set_node_traits(node, ['CUSTOM_FT_TWO', 'CUSTOM_FT_THREE'])
    assert sorted(bm.get_node(node.id).traits) == ['CUSTOM_FT_THREE',
                                                   'CUSTOM_FT_TWO']
    bm.remove_node_trait(node, 'CUSTOM_FT_TWO')
    assert bm.get_node(node.id).traits == ['CUSTOM_FT_THREE']
    bm.set_node_traits(node, [])
    assert bm.get_node(node.id).traits == []
    with pytest.raises(sdk_exc.BadRequestException):
        bm.add_node_trait(node, 'not a valid trait!')


def test_errors(bm, sdk_cleanup):
    with pytest.raises(sdk_exc.NotFoundException):
        bm.get_node(unique('ft-missing'))
    with pytest.raises(sdk_exc.BadRequestException) as err:
        bm.create_node(driver='no-such-driver-ft')
    assert 'no-such-driver-ft' in str(err.value)
    node = bm.create_node(driver='fake-hardware', name=unique('ft-sdke'))
    sdk_cleanup(node.id)
    with pytest.raises(sdk_exc.ConflictException):
        bm.create_node(driver='fake-hardware', name=node.name)
    with pytest.raises(sdk_exc.BadRequestException):
        bm.set_node_provision_state(node, 'active')
    with pytest.raises(sdk_exc.BadRequestException):
        bm.patch_node(node, [{'op': 'replace', 'path': '/uuid',
                              'value': '1be26c0b-03f2-4d2e-ae87-'
                                       'c02d7f33c123'}])
    assert bm.get_node(node.id).provision_state == 'enroll'
