"""Booting BootOS from virtual media: no DHCP, PXE or TFTP involved.

The BootOS ISO (``driver_info['deploy_iso']``) is published on our HTTP
server (through the image cache, as the network boot interfaces do), the
BMC is told to insert it as a virtual CD, and the node boots from that CD
once. The node's network never needs to offer a boot: this works where
PXE cannot, across routed networks and without a DHCP server we control.

Because nothing is on a kernel command line here, the BootOS on the ISO
must find the API itself (its own configuration or a lookup by MAC).
"""

from oslo_log import log

from bootflow.common import exception
from bootflow.drivers.interfaces import boot
from bootflow.drivers.interfaces import management
from bootflow.drivers.modules.netboot import files
from bootflow.drivers.modules.netboot import sources
from bootflow.drivers.modules.redfish import management as rf_management
from bootflow.drivers.modules.redfish import utils

LOG = log.getLogger(__name__)

PROPERTIES = {
    'deploy_iso': 'URL of the BootOS ISO (http, https, or file:// under '
                  '[conductor]file_url_allowed_paths) that the BMC '
                  'inserts as a virtual CD. Required.',
}
ISO_NAME = 'boot.iso'
# Where the published ISO's URL is kept while the node boots from it.
ISO_KEY = 'redfish_boot_iso'


class RedfishVirtualMediaBoot(boot.BootInterface):
    """Boot BootOS from a virtual CD; boot the instance from disk."""

    def get_properties(self):
        return dict(PROPERTIES)

    def validate(self, task):
        node = task.node
        sources.check((node.driver_info or {}).get('deploy_iso'),
                      'driver_info/deploy_iso')
        utils.parse_driver_info(node)
        if not isinstance(task.driver.management,
                          rf_management.RedfishManagement):
            raise exception.InvalidParameterValue(
                err='Node %s: the redfish-virtual-media boot interface '
                    'needs the redfish management interface, not %s'
                    % (node.uuid, type(task.driver.management).__name__))

    def prepare_ramdisk(self, task, ramdisk_params=None):
        node = task.node
        if ramdisk_params:
            LOG.debug('Node %s: ramdisk parameters %s cannot be passed on '
                      'a virtual CD and are left out', node.uuid,
                      sorted(ramdisk_params))
        source = sources.check((node.driver_info or {}).get('deploy_iso'),
                               'driver_info/deploy_iso')
        mgmt = task.driver.management
        # Eject first: a BMC refuses to insert into an occupied drive, and
        # the old ISO may be the very file about to be replaced.
        mgmt.detach_virtual_media(task, [management.CDROM])
        files.remove_recorded(node)
        iso_url = sources.fetch(node, source, ISO_NAME)
        mgmt.attach_virtual_media(task, management.CDROM, iso_url)
        mgmt.set_boot_device(task, management.CDROM, persistent=False)
        info = dict(node.driver_internal_info or {})
        info[ISO_KEY] = iso_url
        node.driver_internal_info = info
        node.save()

    def clean_up_ramdisk(self, task):
        node = task.node
        task.driver.management.detach_virtual_media(task, [management.CDROM])
        files.remove_recorded(node)
        info = dict(node.driver_internal_info or {})
        info.pop(ISO_KEY, None)
        node.driver_internal_info = info
        node.save()

    def prepare_instance(self, task):
        """The instance is on the disk: no CD left in, disk for good."""
        mgmt = task.driver.management
        mgmt.detach_virtual_media(task, [management.CDROM])
        mgmt.set_boot_device(task, management.DISK, persistent=True)

    def clean_up_instance(self, task):
        task.driver.management.detach_virtual_media(task, [management.CDROM])
