"""nova's launch, reboot and delete, on a ``bootflow lab`` machine.

One QEMU machine (TCG) behind the lab BMC, the production ``redfish``
driver, BootOS from ``bootflow-build-bootos`` and the ``direct`` deploy,
driven only through openstacksdk with the calls nova's ironic driver
makes (tests/functional/nova_driver.py): reserve the node, attach a VIF
to its port, write instance_info as nova does plus what Ironic would take
from glance (an http image_source, its sha256 and disk format), validate,
deploy with nova's gzipped ISO config drive and wait for ``active``; the
machine then boots its disk (the MBR's marker on the serial console) and
the disk holds the image and a ``config-2`` partition with the instance's
metadata. A hard reboot boots the disk again. Delete: nova's unprovision
and clean-up, then cleaning by BootOS wipes the disk and the node is
``available`` with no VIF and no instance.

Not replayed here: rescue (no rescue interface drives real hardware in
bootflow; the fake-hardware test covers it) and soft reboot (the test
instance ignores ACPI, as a busy OS may).
"""

import types
import uuid
from pathlib import Path

import pytest

from tests.e2e import assets
from tests.e2e import instance_image
from tests.e2e.conftest import require
from tests.e2e.httpd import FileServer
from tests.e2e.test_lab_cycle import STATE_TIMEOUT
from tests.e2e.test_lab_cycle import _bootos
from tests.e2e.test_lab_cycle import _check_disk
from tests.e2e.test_lab_cycle import _service_config
from tests.e2e.test_lab_cycle import read_disk
from tests.functional import nova_driver as nova
from tests.functional.conftest import _free_port
from tests.functional.conftest import free_udp_ports
from tests.functional.conftest import start_service
from tests.functional.conftest import wait_for

pytestmark = pytest.mark.e2e


class Rig:
    """The service, the lab machine, the image server and nova."""

    def __init__(self, service, lab, bootos, image, images):
        self.service, self.lab = service, lab
        self.bootos, self.image, self.images = bootos, image, images
        self.machine = lab.machines[0]
        self.conn = nova.connect(service.endpoint)
        self.driver = nova.NovaDriver(self.conn, poll_interval=1,
                                      timeout=STATE_TIMEOUT)

    @property
    def machines(self):
        """What the e2e report hook attaches to a failure."""
        return [types.SimpleNamespace(name=self.machine.name,
                                      describe=self.console_tail)]

    def serial(self):
        try:
            return Path(self.machine.serial_log).read_text(errors='replace')
        except OSError:
            return ''

    def console_tail(self, lines=40):
        return 'serial console:\n' + '\n'.join(
            self.serial().splitlines()[-lines:])


@pytest.fixture
def rig(qemu_binary, tmp_path_factory):
    from bootflow import lab as lab_mod
    base = tmp_path_factory.mktemp('nova-lab')
    bootos = require(_bootos, tmp_path_factory)
    image = require(instance_image.build, base / 'image')
    http_root, http_port = base / 'httpboot', _free_port()
    service = start_service('sqlite', base, extra_config=_service_config(
        http_root, http_port, Path(bootos['kernel']).parent))
    lab = lab_mod.Lab(base / 'lab', die_with_parent=True)
    try:
        with FileServer(base / 'image') as images:
            lab.create(count=1, memory_mib=1024, cpus=1, disk_size='1G',
                       api_port=int(service.endpoint.rsplit(':', 1)[1]),
                       http_port=http_port, bmc_port=_free_port(),
                       ipmi_port=free_udp_ports(1))
            state = Rig(service, lab, bootos, image, images)
            yield state
            state.conn.close()
    finally:
        lab.destroy()
        service.stop()


def _enroll(rig):
    """The operator's part: an available node whose first cleaning is
    skipped (the disk is blank), automated cleaning on again for nova's
    delete."""
    node, = rig.lab.enroll(
        rig.service.endpoint, deploy_kernel='file://%s' % rig.bootos['kernel'],
        deploy_ramdisk='file://%s' % rig.bootos['initramfs'],
        boot_interface='ipxe', deploy_interface='direct',
        inspect_interface='no-inspect')
    bm = rig.conn.baremetal
    bm.patch_node(node['uuid'], [
        {'op': 'add', 'path': '/automated_clean', 'value': False},
        {'op': 'add', 'path': '/properties/local_gb', 'value': 1}])
    bm.set_node_provision_state(node['uuid'], 'manage', wait=True,
                                timeout=120)
    bm.set_node_provision_state(node['uuid'], 'provide', wait=True,
                                timeout=120)
    bm.patch_node(node['uuid'], [{'op': 'replace', 'value': True,
                                  'path': '/automated_clean'}])
    return node['uuid']


def _glance_fields(rig, node_id):
    """What Ironic reads from glance for nova's image_source: a URL the
    conductor can fetch, its sha256 and disk format."""
    rig.conn.baremetal.patch_node(node_id, [
        {'op': 'add', 'path': '/instance_info/%s' % key, 'value': value}
        for key, value in (
            ('image_os_hash_algo', 'sha256'),
            ('image_os_hash_value', rig.image['raw_sha256']),
            ('image_disk_format', 'raw'))])


def _disk_boots(rig, since):
    return wait_for(lambda: assets.DISK_MARKER in rig.serial()[since:],
                    timeout=180, interval=1,
                    message='%s to boot its disk' % rig.machine.name)


def test_nova_launch_reboot_delete(rig):
    node_id = _enroll(rig)
    port, = rig.conn.baremetal.ports(node=node_id, details=True)
    url = 'http://127.0.0.1:%d/%s' % (
        rig.images.port, Path(rig.image['raw']).name)
    instance = nova.Instance(uuid=str(uuid.uuid4()), display_name='nova-e2e',
                             image=url, root_gb=1, vcpus=1, memory_mb=1024,
                             vifs=[str(uuid.uuid4())])
    since = len(rig.serial())

    rig.driver.prepare_for_spawn(node_id, instance)
    rig.driver.plug_vifs(node_id, instance)
    _glance_fields(rig, node_id)
    node = rig.driver.spawn(node_id, instance, admin_pass='e2e-pass')
    assert node.provision_state == 'active'
    assert node.power_state == 'power on'
    assert '/' + Path(rig.image['raw']).name in rig.images.requests
    _disk_boots(rig, since)
    _check_disk(types.SimpleNamespace(image=rig.image), rig.machine)
    assert instance.uuid.encode() in _config_drive(rig)
    assert rig.conn.baremetal.list_node_vifs(node_id) == instance.vifs

    since = len(rig.serial())
    assert rig.driver.reboot(instance, soft=False) == 'HARD'
    assert rig.driver.node_of(instance).power_state == 'power on'
    _disk_boots(rig, since)

    rig.driver.destroy(instance)
    assert rig.conn.baremetal.list_node_vifs(node_id) == []
    seen = []

    def available():
        found = rig.conn.baremetal.get_node(node_id)
        seen.append(found.provision_state)
        return (found.provision_state in ('available', 'clean failed')
                and found.reservation is None and found)
    found = wait_for(available, timeout=STATE_TIMEOUT, interval=1,
                     message='node %s cleaned' % node_id)
    assert found.provision_state == 'available', found.last_error
    assert set(seen) & {'cleaning', 'clean wait'}, seen
    assert found.instance_id is None and found.instance_info == {}
    assert read_disk(rig.machine, 512) == b'\0' * 512
    assert 'tenant_vif_port_id' not in (
        rig.conn.baremetal.get_port(port.id).internal_info or {})


def _config_drive(rig):
    """The config-2 partition's first MiB (its metadata lives there)."""
    disk = read_disk(rig.machine, 512)
    entry = disk[446 + 16:446 + 32]
    start = int.from_bytes(entry[8:12], 'little') * 512
    return read_disk(rig.machine, 1024 * 1024, start)
