"""An instance's life as nova's ironic driver lives it, on fake-hardware.

Everything goes through openstacksdk's baremetal proxy, in the order and
with the arguments nova's driver uses (tests/functional/nova_driver.py
says which release and what it does): the node cache and its filters,
reserving a node by instance_uuid, VIF attach, instance_info, validate,
deploy with a config drive built as nova builds it, soft and hard reboot,
soft and hard power off, power on, rebuild, rescue and unrescue, and
delete with nova's clean-up. Then the answers nova has special handling
for: 409 because the node is locked (retried by a connection configured
like nova's, raised by one without retries), 409 because another
instance holds the node, 400 for a request the node's state does not
allow or an invalid patch, a failed validation and a failed deploy.
"""

import base64
import contextlib
import gzip
import json
import os
import threading
import time
import uuid

import pytest
from openstack import exceptions as sdk_exc

from tests.functional import nova_driver as nova
from tests.functional.conftest import ENDPOINT_ENV
from tests.functional.conftest import HttpApi
from tests.functional.conftest import random_mac
from tests.functional.conftest import start_service
from tests.functional.conftest import unique
from tests.functional.conftest import wait_for

pytestmark = pytest.mark.functional

TIMEOUT = 60
RC = 'ft-nova'
# nova's retry settings, scaled down so a retried request takes seconds
RETRIES, RETRY_DELAY = 40, 0.25
PROPERTIES = {'cpus': 2, 'memory_mb': 2048, 'local_gb': 20,
              'cpu_arch': 'x86_64', 'capabilities': 'boot_mode:uefi'}


@pytest.fixture(scope='module')
def nova_service(tmp_path_factory):
    """A service of its own: its conductor answers 409 at once when a
    node is locked instead of first retrying the lock for ~3 s
    ([conductor]node_locked_retry_attempts), so what nova's client-side
    retries do shows in seconds."""
    if os.environ.get(ENDPOINT_ENV):
        pytest.skip('needs its own service configuration, not %s'
                    % ENDPOINT_ENV)
    service = start_service('sqlite', tmp_path_factory.mktemp('nova'), {
        'conductor': {'node_locked_retry_attempts': '0'}})
    yield service
    service.stop()


@pytest.fixture(scope='module')
def conn(nova_service):
    """The connection nova-compute would hold (retries on 409/503)."""
    connection = nova.connect(nova_service.endpoint, max_retries=RETRIES,
                              retry_interval=RETRY_DELAY)
    yield connection
    connection.close()


@pytest.fixture(scope='module')
def bare(nova_service):
    """The same service with no retries: what a 409 looks like raw."""
    connection = nova.connect(nova_service.endpoint, max_retries=0,
                              retry_interval=0)
    yield connection
    connection.close()


@pytest.fixture
def driver(conn):
    return nova.NovaDriver(conn, poll_interval=0.1, timeout=TIMEOUT)


@pytest.fixture(scope='module')
def make_node(conn, nova_service):
    """Available fake-hardware nodes with ports (the first one PXE) for
    the VIFs, as an operator enrolls them for nova; deleted at the end."""
    created = []

    def make(ports=1, **driver_info):
        bm = conn.baremetal
        node = bm.create_node(driver='fake-hardware', name=unique('ft-nova'),
                              resource_class=RC, properties=PROPERTIES,
                              driver_info=driver_info)
        created.append(node.id)
        for index in range(ports):
            bm.create_port(node_uuid=node.id, address=random_mac(),
                           pxe_enabled=index == 0)
        bm.set_node_provision_state(node, 'manage')
        wait_settled(conn, node.id, 'manageable')
        bm.set_node_provision_state(node, 'provide')
        return wait_settled(conn, node.id, 'available')[0]
    yield make
    api = HttpApi(nova_service)
    for node_id in created:
        api.delete_node_quietly(node_id)


def new_instance(vifs=1):
    return nova.Instance(
        uuid=str(uuid.uuid4()), display_name=unique('vm'),
        image=str(uuid.uuid4()),
        extra_specs={'capabilities:boot_mode': 'uefi',
                     'trait:CUSTOM_NOVA_FT': 'required',
                     'resources:CUSTOM_FT_NOVA': '1'},
        vifs=[str(uuid.uuid4()) for _ in range(vifs)])


def history(conn, node_id):
    resp = conn.baremetal.get('/nodes/%s/history' % node_id,
                              microversion='1.78')
    assert resp.status_code == 200, resp.text
    return resp.json()['history']


def wait_settled(conn, node_id, state):
    """The node at rest (unlocked, no target) in ``state``; the states the
    polling went through are returned too."""
    seen = []

    def check():
        node = conn.baremetal.get_node(node_id)
        seen.append(node.provision_state)
        return (node.provision_state == state and node.reservation is None
                and not node.target_provision_state and node)
    return wait_for(check, timeout=TIMEOUT, interval=0.05,
                    message='node %s to settle in %s' % (node_id, state)), \
        seen


@contextlib.contextmanager
def recording_states(conn, node_id):
    """Every provision state the node passes through while the block
    runs, seen by a second client: nova's own waits stop looking once
    the instance is gone, and its clean-up blocks until cleaning ends."""
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            state = conn.baremetal.get_node(
                node_id, fields=['provision_state']).provision_state
            if not seen or seen[-1] != state:
                seen.append(state)
            stop.wait(0.02)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(10)


def launch(driver, node_id, instance):
    """compute manager order: reserve, plug VIFs, spawn."""
    driver.prepare_for_spawn(node_id, instance)
    driver.plug_vifs(node_id, instance)
    return driver.spawn(node_id, instance, admin_pass='s3cret')


def decode_config_drive(value):
    return gzip.decompress(base64.b64decode(value))


# --------------------------------------------------------------------------
# The node cache
# --------------------------------------------------------------------------

def test_node_cache_and_filters_agree(conn, driver, make_node):
    """What nova computes from its cached fields and what the service's
    associated / provision_state / maintenance filters return are the
    same nodes; only nova's fields come back."""
    bm = conn.baremetal
    free, held, fixing = make_node(), make_node(), make_node()
    bm.set_node_maintenance(fixing, reason='disk swap')
    instance = new_instance()
    driver.prepare_for_spawn(held.id, instance)
    ours = {free.id, held.id, fixing.id}

    cache = {k: v for k, v in driver.node_cache().items() if k in ours}
    assert set(cache) == ours
    for node in cache.values():
        assert node.resource_class == RC
        assert node.properties == PROPERTIES
        assert node.power_state == 'power off'
        assert node.driver is None and node.driver_info is None, \
            'fields=%s ignored' % ','.join(nova.NODE_FIELDS)
    assert cache[held.id].instance_id == instance.uuid
    assert cache[fixing.id].is_maintenance is True
    offered = {k for k, n in cache.items() if driver.offers(n)}
    assert offered == {free.id}

    filtered = {n.id for n in bm.nodes(associated=False,
                                       provision_state='available',
                                       maintenance=False,
                                       resource_class=RC)}
    assert filtered & ours == offered
    associated = {n.id for n in bm.nodes(associated=True,
                                         resource_class=RC)}
    assert held.id in associated and not associated & {free.id, fixing.id}
    assert {n.id for n in bm.nodes(maintenance=True,
                                   resource_class=RC)} & ours == {fixing.id}
    assert instance.uuid in driver.list_instance_uuids()
    assert driver.node_of(instance).id == held.id

    # not deployed yet: destroy only drops the reservation
    assert driver.destroy(instance) is None
    node = bm.get_node(held.id)
    assert node.instance_id is None and node.instance_info == {}
    with pytest.raises(nova.NovaError, match='InstanceNotFound'):
        driver.node_of(instance)


# --------------------------------------------------------------------------
# An instance's life
# --------------------------------------------------------------------------

class Life:
    """What the steps of one instance's life share."""

    def __init__(self, conn, driver, node, instance):
        self.conn, self.driver = conn, driver
        self.node, self.instance = node, instance
        self.bm = conn.baremetal


@pytest.fixture(scope='class')
def life(conn, make_node):
    # every power action and ramdisk boot takes a moment, so that a
    # wait which returns early (a target not set before the 202) shows
    node = make_node(ports=2, fake_power_delay='0.3',
                     fake_boot_delay='0.5')
    driver = nova.NovaDriver(conn, poll_interval=0.05, timeout=TIMEOUT)
    return Life(conn, driver, node, new_instance(vifs=2))


@pytest.mark.incremental
class TestInstanceLife:

    def test_1_launch(self, life):
        node = launch(life.driver, life.node.id, life.instance)
        assert node.provision_state == 'active'
        assert node.instance_id == life.instance.uuid
        assert node.power_state == 'power on'
        # nova's wait never saw the node back in "available": the deploy
        # had started before the 202 came back
        assert life.driver.seen[-1] == 'active'
        assert set(life.driver.seen) <= {'deploying', 'wait call-back',
                                         'active'}, life.driver.seen
        assert sorted(life.bm.list_node_vifs(node.id)) == \
            sorted(life.instance.vifs)
        ports = list(life.bm.ports(node=life.node.id, details=True))
        bound = {p.internal_info.get('tenant_vif_port_id'): p
                 for p in ports}
        assert set(bound) == set(life.instance.vifs)
        info = life.bm.get_node(node.id).instance_info
        assert info['image_source'] == life.instance.image
        assert (info['root_gb'], info['swap_mb'], info['local_gb']) == \
            ('10', '0', '20')
        assert json.loads(info['capabilities']) == {'boot_mode': 'uefi'}
        assert info['traits'] == ['CUSTOM_NOVA_FT']
        assert info['display_name'] == life.instance.display_name
        self._check_config_drive(info['configdrive'], bound)

    @staticmethod
    def _check_config_drive(stored, bound):
        """The service kept the ISO form nova sent (or hides it), with
        each VIF's link on the MAC of the port it was bound to."""
        if stored == '******':
            return
        iso = decode_config_drive(stored)
        assert iso[0x8001:0x8006] == b'CD001'
        assert iso[0x8028:0x8030] == b'config-2'
        for vif, port in bound.items():
            assert vif.encode() in iso and port.address.encode() in iso

    def test_2_reboot_soft_then_hard(self, life):
        assert life.driver.reboot(life.instance, soft=True) == 'SOFT'
        assert life.driver.reboot(life.instance, soft=False) == 'HARD'
        node = life.driver.node_of(life.instance)
        assert (node.power_state, node.target_power_state) == \
            ('power on', None)
        assert node.provision_state == 'active'

    def test_3_power_off_soft_hard_and_on(self, life):
        assert life.driver.power_off(life.instance, timeout=5) == 'SOFT'
        assert life.driver.node_of(life.instance).power_state == \
            'power off'
        life.driver.power_on(life.instance)
        assert life.driver.node_of(life.instance).power_state == 'power on'
        assert life.driver.power_off(life.instance) == 'HARD'
        cached = life.driver.node_cache()[life.node.id]
        assert cached.power_state == 'power off'
        life.driver.power_on(life.instance)
        assert life.driver.node_of(life.instance).power_state == 'power on'

    def test_4_rebuild_with_a_new_image(self, life):
        old = life.instance.image
        life.instance.image = str(uuid.uuid4())
        life.driver.seen = []
        node = life.driver.rebuild(life.node.id, life.instance,
                                   preserve_ephemeral=False)
        assert node.provision_state == 'active'
        assert node.instance_id == life.instance.uuid
        assert 'deploying' in life.driver.seen, life.driver.seen
        info = life.bm.get_node(life.node.id).instance_info
        assert info['image_source'] == life.instance.image != old
        assert info['preserve_ephemeral'] == 'False'
        assert sorted(life.bm.list_node_vifs(life.node.id)) == \
            sorted(life.instance.vifs)
        assert life.bm.get_node(life.node.id).power_state == 'power on'

    def test_5_rescue_and_unrescue(self, life):
        node = life.driver.rescue(life.instance, 'r3scue-pw')
        assert node.provision_state == 'rescue'
        assert node.instance_id == life.instance.uuid
        node = life.driver.unrescue(life.instance)
        assert node.provision_state == 'active'
        info = life.bm.get_node(life.node.id).instance_info
        assert 'rescue_password' not in info
        assert info['image_source'] == life.instance.image

    def test_6_delete(self, bare, life):
        life.driver.seen = []
        with recording_states(bare, life.node.id) as passed:
            life.driver.destroy(life.instance)
            node, _ = wait_settled(life.conn, life.node.id, 'available')
        # fake-hardware's automated cleaning has no step to run, so
        # "cleaning" may pass too fast to be seen (the lab test sees it)
        assert passed[:2] == ['active', 'deleting'], passed
        assert passed[-1] == 'available', passed
        assert set(passed[2:-1]) <= {'cleaning'}, passed
        # nova's wait ended with the tear-down: the node no longer has
        # the instance, whatever cleaning still does
        assert life.driver.seen[-1] in nova.UNPROVISIONED + ('gone',)
        assert 'deleting' in life.driver.seen
        assert life.bm.list_node_vifs(life.node.id) == []
        for port in life.bm.ports(node=life.node.id, details=True):
            assert 'tenant_vif_port_id' not in (port.internal_info or {})
        assert node.instance_id is None
        assert node.instance_info == {}
        assert node.power_state == 'power off'
        assert life.driver.list_instance_uuids().count(
            life.instance.uuid) == 0
        assert nova.NovaDriver.offers(life.driver.node_cache()[node.id])
        assert [h for h in history(life.conn, node.id)
                if h['severity'] == 'ERROR'] == []


def test_rescue_password_is_not_shown(conn, driver, make_node):
    node = make_node()
    instance = new_instance(vifs=0)
    launch(driver, node.id, instance)
    try:
        driver.rescue(instance, 'r3scue-pw')
        info = conn.baremetal.get_node(node.id).instance_info
        # the rescue is still on; Ironic's show_instance_secrets masks it
        assert info['rescue_password'] == '******', info
    finally:
        driver.unrescue(instance)
        driver.destroy(instance)


# --------------------------------------------------------------------------
# The answers nova handles
# --------------------------------------------------------------------------

def test_locked_node_is_retried_with_novas_settings(conn, bare, driver,
                                                    make_node):
    """A node busy with a slow power off answers 409: nova's connection
    retries until the lock is gone and succeeds; without retries the
    same request raises ConflictException; requests nova makes with
    retry_on_conflict=False fail at once even on nova's connection."""
    node = make_node()
    instance = new_instance(vifs=1)
    launch(driver, node.id, instance)
    conn.baremetal.patch_node(node, [{'op': 'add', 'value': '2',
                                      'path': '/driver_info/'
                                              'fake_power_delay'}])
    bare.baremetal.set_node_power_state(node.id, 'power off')
    assert conn.baremetal.get_node(node.id).reservation is not None

    with pytest.raises(sdk_exc.ConflictException) as raw:
        bare.baremetal.set_node_power_state(node.id, 'power on')
    assert 'locked' in str(raw.value).lower()
    # a rebuild's instance_info (new image): not retried, even by nova
    instance.image = str(uuid.uuid4())
    started = time.monotonic()
    with pytest.raises(sdk_exc.ConflictException):
        conn.baremetal.patch_node(node, nova.deploy_patch(node, instance),
                                  retry_on_conflict=False)
    assert time.monotonic() - started < RETRY_DELAY * 4

    started = time.monotonic()
    driver.power_on(instance)
    waited = time.monotonic() - started
    assert waited > 1.0, 'no 409 was retried (%.1fs)' % waited
    assert waited < RETRIES * RETRY_DELAY
    assert driver.node_of(instance).power_state == 'power on'

    conn.baremetal.patch_node(node, [{'op': 'remove', 'path':
                                      '/driver_info/fake_power_delay'}])
    driver.destroy(instance)
    node, _ = wait_settled(conn, node.id, 'available')
    assert node.instance_id is None


def test_node_already_associated_is_a_409_not_retried(conn, driver,
                                                      make_node):
    """nova reserves with retry_on_conflict=False: another instance's
    reservation is an immediate 409 (nova: "node already associated"),
    and the first instance keeps the node."""
    node = make_node()
    first, second = new_instance(), new_instance()
    driver.prepare_for_spawn(node.id, first)
    started = time.monotonic()
    with pytest.raises(nova.NovaError, match='Failed to reserve') as err:
        driver.prepare_for_spawn(node.id, second)
    assert time.monotonic() - started < RETRY_DELAY * 4
    assert isinstance(err.value.__context__, sdk_exc.ConflictException)
    assert first.uuid in str(err.value)
    assert conn.baremetal.get_node(node.id).instance_id == first.uuid
    assert driver.destroy(first) is None
    assert conn.baremetal.get_node(node.id).instance_id is None


def test_bad_requests_are_400(conn, driver, make_node):
    """A reservation with a malformed instance UUID, a patch of a field
    that does not exist, and a rebuild of a node that was never deployed
    (nova: InstanceDeployFailure) are refused with 400, and leave the
    node as it was."""
    bm = conn.baremetal
    node = make_node()
    bad = new_instance()
    bad.uuid = 'not-a-uuid'
    with pytest.raises(nova.NovaError, match='Failed to reserve') as err:
        driver.prepare_for_spawn(node.id, bad)
    assert isinstance(err.value.__context__, sdk_exc.BadRequestException)
    with pytest.raises(sdk_exc.BadRequestException):
        bm.patch_node(node, [{'op': 'add', 'path': '/no_such_field',
                              'value': 1}], retry_on_conflict=False)

    instance = new_instance()
    driver.prepare_for_spawn(node.id, instance)
    with pytest.raises(nova.NovaError, match='rebuild') as err:
        driver.rebuild(node.id, instance)
    assert isinstance(err.value.__context__, sdk_exc.BadRequestException)
    found = bm.get_node(node.id)
    assert found.provision_state == 'available'
    assert found.instance_id == instance.uuid
    assert found.instance_info['image_source'] == instance.image
    driver.destroy(instance)
    found = bm.get_node(node.id)
    assert found.instance_id is None and found.instance_info == {}


def test_failed_validation_undoes_the_preparation(conn, driver, make_node):
    """validate says power cannot work: nova detaches the VIFs, removes
    instance_info and instance_uuid, and never asks for a deploy."""
    node = make_node()
    conn.baremetal.patch_node(node, [{'op': 'add', 'value': 'soon',
                                      'path': '/driver_info/'
                                              'fake_power_delay'}])
    instance = new_instance(vifs=1)
    driver.prepare_for_spawn(node.id, instance)
    driver.plug_vifs(node.id, instance)
    assert conn.baremetal.list_node_vifs(node.id) == instance.vifs
    with pytest.raises(nova.NovaError, match='failed to validate') as err:
        driver.spawn(node.id, instance)
    assert 'power' in str(err.value) and 'fake_power_delay' in \
        str(err.value)
    found = conn.baremetal.get_node(node.id)
    assert found.provision_state == 'available'
    assert found.instance_id is None and found.instance_info == {}
    assert conn.baremetal.list_node_vifs(node.id) == []


def test_failed_deploy_is_reported_then_deleted(conn, driver, make_node):
    """The deploy fails on the node: nova's wait raises with the node's
    last_error; the compute manager's destroy then unprovisions it from
    "deploy failed" back to available, and the history keeps the
    failure."""
    node = make_node(fake_deploy_fail='disk on fire')
    instance = new_instance(vifs=1)
    with pytest.raises(nova.NovaError, match='disk on fire') as err:
        launch(driver, node.id, instance)
    assert 'InstanceDeployFailure' in str(err.value)
    failed = conn.baremetal.get_node(node.id)
    assert failed.provision_state == 'deploy failed'
    assert failed.instance_id == instance.uuid
    events = [h for h in history(conn, node.id) if h['severity'] == 'ERROR']
    assert any('disk on fire' in h['event'] for h in events), events

    # the fault was the deploy's only (fake_deploy_fail fails the
    # tear-down too, which would end in "error")
    conn.baremetal.patch_node(node, [{'op': 'remove', 'path':
                                      '/driver_info/fake_deploy_fail'}])
    driver.destroy(instance)
    assert conn.baremetal.list_node_vifs(node.id) == []
    found, _ = wait_settled(conn, node.id, 'available')
    assert found.instance_id is None and found.instance_info == {}
    assert found.last_error is None
