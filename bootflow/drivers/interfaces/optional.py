"""Interface kinds a node may leave out (each has a ``no-*`` null object).

They are small, so they share a module; the mandatory kinds have one each.
"""

import abc

import jsonschema

from bootflow.common import exception
from bootflow.drivers import base

# What a target RAID configuration may say: the keys and values Ironic's
# RAID interface accepts, so configurations written for Ironic work here.
RAID_LEVELS = ('JBOD', '0', '1', '2', '5', '6', '1+0', '5+0', '6+0')
RAID_CONFIG_SCHEMA = {
    'type': 'object',
    'properties': {
        'logical_disks': {
            'type': 'array',
            'minItems': 1,
            'items': {
                'type': 'object',
                'properties': {
                    'raid_level': {'type': 'string', 'enum': RAID_LEVELS},
                    'size_gb': {'anyOf': [
                        {'type': 'integer', 'minimum': 0},
                        {'type': 'string', 'enum': ['MAX']}]},
                    'volume_name': {'type': 'string'},
                    'is_root_volume': {'type': 'boolean'},
                    'share_physical_disks': {'type': 'boolean'},
                    'disk_type': {'type': 'string',
                                  'enum': ['hdd', 'ssd']},
                    'interface_type': {'type': 'string',
                                       'enum': ['sata', 'scsi', 'sas']},
                    'number_of_physical_disks': {'type': 'integer',
                                                 'exclusiveMinimum': 0},
                    'controller': {'type': 'string'},
                    'physical_disks': {'anyOf': [
                        {'type': 'array', 'items': {'type': 'string'}},
                        {'type': 'array', 'items': {'type': 'object'},
                         'minItems': 2}]},
                },
                'required': ['raid_level', 'size_gb'],
                'additionalProperties': False,
            },
        },
    },
    'required': ['logical_disks'],
    'additionalProperties': False,
}


def validate_raid_config(config):
    """Raise InvalidParameterValue unless ``config`` is a RAID target the
    RAID interfaces understand (at most one root volume, too)."""
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(RAID_CONFIG_SCHEMA).iter_errors(
            config))
    if error is not None:
        raise exception.InvalidParameterValue(
            err='RAID config validation error: %s' % error.message)
    roots = [d for d in config['logical_disks'] if d.get('is_root_volume')]
    if len(roots) > 1:
        raise exception.InvalidParameterValue(
            err='Raid config cannot have more than one root volume. %d root '
                'volumes were specified' % len(roots))


class BIOSInterface(base.BaseInterface):
    interface_type = 'bios'

    @abc.abstractmethod
    def apply_configuration(self, task, settings):
        """Apply a list of ``{'name': ..., 'value': ...}`` BIOS settings."""

    @abc.abstractmethod
    def factory_reset(self, task):
        """Reset BIOS settings to factory defaults."""

    @abc.abstractmethod
    def cache_bios_settings(self, task):
        """Read the current settings and store them for the API."""


class RAIDInterface(base.BaseInterface):
    interface_type = 'raid'

    @abc.abstractmethod
    def create_configuration(self, task, create_root_volume=True,
                             create_nonroot_volumes=True):
        """Build ``node.target_raid_config``."""

    @abc.abstractmethod
    def delete_configuration(self, task):
        """Delete every logical disk."""

    def validate_raid_config(self, task, raid_config):
        validate_raid_config(raid_config)


class FirmwareInterface(base.BaseInterface):
    interface_type = 'firmware'

    @abc.abstractmethod
    def update(self, task, settings):
        """Flash the firmware components listed in ``settings``."""

    @abc.abstractmethod
    def cache_firmware_components(self, task):
        """Read component versions and store them for the API."""


class ConsoleInterface(base.BaseInterface):
    interface_type = 'console'

    @abc.abstractmethod
    def start_console(self, task):
        pass

    @abc.abstractmethod
    def stop_console(self, task):
        pass

    @abc.abstractmethod
    def get_console(self, task):
        """``{'type': ..., 'url': ...}`` for a client to attach."""


class RescueInterface(base.BaseInterface):
    interface_type = 'rescue'

    @abc.abstractmethod
    def rescue(self, task):
        """Boot the rescue ramdisk; returns ``RESCUE`` or ``RESCUEWAIT``."""

    @abc.abstractmethod
    def unrescue(self, task):
        """Return the node to its instance; returns ``ACTIVE``."""

    def clean_up(self, task):
        """Undo a rescue that failed half-way (rescue boot config)."""


class StorageInterface(base.BaseInterface):
    interface_type = 'storage'

    def attach_volumes(self, task):
        pass

    def detach_volumes(self, task):
        pass

    def should_write_image(self, task):
        return True


class VendorInterface(base.BaseInterface):
    interface_type = 'vendor'
