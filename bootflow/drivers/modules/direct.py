"""The ``direct`` deploy interface: BootOS writes the image to the disk.

As with Ironic's ``direct`` deploy, the node boots the ramdisk, its agent
writes the image (whole-disk or partition, then the config drive) and the
node then boots from its disk. Unlike Ironic's, the bytes normally come
from the conductor's block store: each image is split once into
content-addressed blocks, and an agent fetches only the blocks its disk
does not already hold (``[deploy]image_download_source``).

The conductor does what needs trust and the image's origin — checksum
policy, format checks, qcow2 conversion, file:// allow-list, config drive
building — so the ramdisk only ever writes verified raw bytes. Cleaning
steps erase disk metadata (automated by default) or whole disks.
"""

from oslo_log import log

from bootflow.agent.imaging import rootdev
from bootflow.bootos import commands
from bootflow.bootos import warm_reboot
from bootflow.common import exception
from bootflow.common import states
from bootflow.conf import CONF
from bootflow.conf import imaging as imaging_conf
from bootflow.drivers import base
from bootflow.drivers.modules import agent
from bootflow.drivers.modules.netboot import interfaces as netboot
from bootflow.images import configdrive
from bootflow.images import glance
from bootflow.images import prepare
from bootflow.images import source

LOG = log.getLogger(__name__)

PROPERTIES = dict(agent.PROPERTIES, image_download_source=(
    'How the agent gets the image: blocks, http or direct (default: '
    '[deploy]image_download_source). Also read from instance_info. '
    'Optional.'), **warm_reboot.PROPERTIES)

_CLEAN_PRIORITY = {
    'erase_devices_metadata': 'erase_devices_metadata_priority',
    'erase_devices': 'erase_devices_priority',
}
MIB = 1024 * 1024


def download_source(node):
    for where in (node.instance_info, node.driver_info):
        value = (where or {}).get('image_download_source')
        if value:
            if value not in imaging_conf.DOWNLOAD_SOURCES:
                raise exception.InvalidParameterValue(
                    err='image_download_source must be one of %s, not %r'
                    % (', '.join(imaging_conf.DOWNLOAD_SOURCES), value))
            return value
    return CONF.deploy.image_download_source


def image_type(node):
    """Ironic's rule: a partition image comes with its kernel and
    ramdisk, unless instance_info says otherwise."""
    info = node.instance_info or {}
    declared = info.get('image_type')
    if declared:
        if declared not in ('whole-disk', 'partition'):
            raise exception.InvalidParameterValue(
                err='instance_info/image_type must be "whole-disk" or '
                    '"partition", not %r' % declared)
        return declared
    return 'partition' if info.get('kernel') and info.get('ramdisk') \
        else 'whole-disk'


def _int(info, key, default=0):
    value = info.get(key, default)
    try:
        value = int(value or 0)
    except (TypeError, ValueError):
        value = -1
    if value < 0:
        raise exception.InvalidParameterValue(
            err='instance_info/%s must be a non-negative integer, not %r'
            % (key, info.get(key)))
    return value


def partition_layout(task):
    info = task.node.instance_info or {}
    label = (info.get('capabilities') or {}).get('disk_label') \
        if isinstance(info.get('capabilities'), dict) else None
    if label not in (None, 'msdos', 'gpt'):
        raise exception.InvalidParameterValue(
            err='capabilities/disk_label must be msdos or gpt, not %r'
            % label)
    fmt = info.get('ephemeral_format') or 'ext4'
    if fmt not in ('ext4', 'vfat'):
        raise exception.InvalidParameterValue(
            err='ephemeral_format must be ext4 or vfat, not %r' % fmt)
    return {
        'disk_label': label or (
            'gpt' if netboot.boot_mode(task) == 'uefi' else 'msdos'),
        'root_mb': _int(info, 'root_gb') * 1024,
        'swap_mb': _int(info, 'swap_mb'),
        'ephemeral_mb': _int(info, 'ephemeral_gb') * 1024,
        'ephemeral_format': fmt,
        'configdrive_mb': CONF.deploy.configdrive_size_mb,
    }


def root_device_hints(node):
    hints = (node.properties or {}).get('root_device')
    if not hints:
        return None
    try:
        return rootdev.validate_hints(hints)
    except ValueError as exc:
        raise exception.InvalidParameterValue(
            err='Invalid root device hints %s: %s' % (hints, exc))


class DirectDeploy(agent.BootOSDeploy):
    """Deploy steps: ``deploy`` (100, BootOS up and configured, as for the
    ``bootos`` interface) then ``write_image`` (80)."""

    def get_properties(self):
        return dict(PROPERTIES)

    def validate(self, task):
        super().validate(task)
        node = task.node
        info = node.instance_info or {}
        if not info.get('image_source'):
            raise exception.MissingParameterValue(
                err='Node %s has no instance_info/image_source to deploy'
                % node.uuid)
        mode = download_source(node)
        if glance.is_glance_ref(info['image_source']):
            # its checksum and format come from the image service
            glance.check_configured(info['image_source'])
            if mode == 'direct':
                raise exception.InvalidParameterValue(
                    err=prepare.DIRECT_GLANCE % info['image_source'])
        else:
            source.checksum_of(info, CONF.agent.allow_md5_checksum,
                               fetch=False)
        warm_reboot.enabled(node)
        root_device_hints(node)
        if image_type(node) == 'partition':
            partition_layout(task)
        if info.get('configdrive'):
            configdrive.check(info['configdrive'])

    def get_steps(self, kind, task=None):
        """Cleaning priorities come from the configuration, as Ironic's
        ``[deploy]erase_devices*_priority`` do."""
        found = super().get_steps(kind, task)
        if kind == 'clean':
            for step in found:
                option = _CLEAN_PRIORITY.get(step['step'])
                if option:
                    step['priority'] = getattr(CONF.deploy, option)
        return found

    @base.deploy_step(priority=80)
    def write_image(self, task):
        node = task.node
        image = prepare.prepare(node, download_source(node))
        kind = image.pop('image_type', None) or image_type(node)
        params = {
            'root_device': root_device_hints(node),
            'image_type': kind,
            'image': image,
            'configdrive': configdrive.to_agent(
                (node.instance_info or {}).get('configdrive')),
            'configdrive_mb': CONF.deploy.configdrive_size_mb,
            'allow_md5': CONF.agent.allow_md5_checksum,
            'max_bytes': CONF.deploy.max_image_size_mb * MIB,
            'read_timeout': CONF.deploy.image_read_timeout,
            'workers': CONF.agent.image_fetch_workers,
            'progress_interval': CONF.agent.progress_interval,
        }
        if kind == 'partition':
            params['partitions'] = partition_layout(task)
        LOG.info('Node %s: writing %s (%s, %s) through BootOS', node.uuid,
                 node.instance_info.get('image_source'), kind,
                 image.get('mode'))
        return self._queue(task, 'image.write', params)

    @base.clean_step(priority=99)
    def erase_devices_metadata(self, task):
        return self._queue(task, 'disk.erase_metadata', {'devices': None})

    @base.clean_step(priority=0, argsinfo={
        'allow_shred': {'description': 'Overwrite disks that have no '
                                       'hardware secure erase with zeros.',
                        'required': False}})
    def erase_devices(self, task, allow_shred=None):
        if allow_shred is None:
            allow_shred = CONF.deploy.erase_devices_allow_shred
        return self._queue(task, 'disk.erase', {
            'devices': None, 'allow_shred': bool(allow_shred),
            'progress_interval': CONF.agent.progress_interval})

    def _queue(self, task, name, params):
        info = dict(task.node.driver_internal_info or {})
        commands.enqueue(info, name, params)
        task.node.driver_internal_info = info
        task.node.save()
        return (states.CLEANWAIT
                if task.node.provision_state == states.CLEANING
                else states.DEPLOYWAIT)

    def clean_up(self, task):
        prepare.cleanup(task.node)
        super().clean_up(task)

    def tear_down(self, task):
        prepare.cleanup(task.node)
        return super().tear_down(task)
