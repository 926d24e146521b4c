"""BootOS from a virtual CD: the ``redfish-virtual-media`` boot interface.

One ``bootflow lab`` machine, the ``redfish`` driver, and the ISO that
``bootflow-build-bootos`` writes, with the API's address baked into its
ISOLINUX configuration (``--iso-append``: virtual media passes no kernel
parameters). ``provide`` publishes the ISO on the boot file server, has
the lab BMC insert it (Redfish VirtualMedia.InsertMedia; the BMC fetches
it and QEMU gets it in its CD drive) and boot the CD once: BootOS starts
from it, its agent finds its node by MAC, cleaning wipes the disk's stale
partition table, and the CD is ejected again.
"""

from pathlib import Path

import pytest

from tests.e2e.conftest import require
from tests.e2e.test_lab_cycle import GUEST_API_URL
from tests.e2e.test_lab_cycle import _service_config
from tests.e2e.test_lab_cycle import _stale_metadata
from tests.e2e.test_lab_cycle import read_disk
from tests.functional.conftest import BaremetalCLI
from tests.functional.conftest import HttpApi
from tests.functional.conftest import _free_port
from tests.functional.conftest import free_udp_ports
from tests.functional.conftest import start_service
from tests.functional.conftest import wait_for

pytestmark = pytest.mark.e2e

TIMEOUT = 480
ISO_APPEND = 'console=ttyS0,115200n8 ipa-api-url=%s' % GUEST_API_URL


def _bootos_iso(directory):
    from bootflow.bootos import build
    from tests.e2e import assets
    try:
        return build.build(output=str(directory), iso_append=ISO_APPEND)
    except build.BuildError as exc:
        raise assets.Unavailable('cannot build BootOS: %s' % exc)


def test_provide_boots_bootos_from_virtual_media(qemu_binary,
                                                 tmp_path_factory):
    from bootflow import lab as lab_mod
    base = tmp_path_factory.mktemp('lab-vmedia')
    bootos = require(_bootos_iso, base / 'bootos')
    http_root, http_port = base / 'httpboot', _free_port()
    config = _service_config(http_root, http_port,
                             Path(bootos['iso']).parent)
    config['DEFAULT']['enabled_boot_interfaces'] = \
        'redfish-virtual-media,ipxe,fake'
    service = start_service('sqlite', base, extra_config=config)
    lab = lab_mod.Lab(base / 'lab', die_with_parent=True)
    try:
        lab.create(count=1, memory_mib=1024, cpus=1, disk_size='1G',
                   api_port=int(service.endpoint.rsplit(':', 1)[1]),
                   http_port=http_port, bmc_port=_free_port(),
                   ipmi_port=free_udp_ports(1))
        lab.stop()
        machine = lab.machines[0]
        _stale_metadata(machine)
        lab.start()
        api, cli = HttpApi(service), BaremetalCLI(service)
        node, = lab.enroll(service.endpoint,
                           boot_interface='redfish-virtual-media',
                           deploy_interface='direct',
                           inspect_interface='no-inspect')
        uuid = node['uuid']
        cli.run('node', 'set', uuid, '--driver-info',
                'deploy_iso=file://%s' % bootos['iso'])
        cli.run('node', 'manage', uuid, '--wait', '120')
        cli.run('node', 'provide', uuid)
        power = lab.power(machine.name)
        wait_for(power.cd_medium, timeout=120, interval=0.5,
                 message='the BootOS ISO in the virtual CD drive')
        serial = Path(machine.serial_log)

        def settled():
            found = api.node(uuid)
            return (found['reservation'] is None and
                    found['provision_state'] in ('available',
                                                 'clean failed')
                    and found)
        found = wait_for(settled, timeout=TIMEOUT, interval=1,
                         message='node %s to finish cleaning' % uuid)
        text = serial.read_text(errors='replace')
        assert found['provision_state'] == 'available', (
            found['last_error'], text[-3000:])
        # booted from the CD: ISOLINUX's parameters, not a network boot's
        assert 'ipa-api-url=%s' % GUEST_API_URL in text
        assert 'BOOTIF=' not in text
        assert 'This machine is node %s' % uuid in text
        assert read_disk(machine, 512) == b'\0' * 512
        assert power.cd_medium() is None
    finally:
        lab.destroy()
        service.stop()
