"""Redfish firmware: versions of the BIOS and the BMC, and updates through
the UpdateService's SimpleUpdate.

A BMC answers a SimpleUpdate at once and flashes in the background, so an
update follows the BMC's task (its progress goes to
``driver_internal_info['firmware_progress']``), bounded by
``[redfish]firmware_update_timeout``. A finished task is not trusted on
its own: BIOS images often only take effect on the next boot (the node is
rebooted when the version has not moved) and a BMC restarts itself after
flashing (it is unreachable for a while), so the step waits for the new
version to show and fails if it never does.

Waiting on the BMC's task is :mod:`.tasks`, shared with BIOS and RAID.
"""

import time
from urllib import parse

from oslo_log import log
import sushy
from sushy import exceptions as sushy_exc

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.db import node_data
from bootflow.drivers import base
from bootflow.drivers.interfaces import optional
from bootflow.drivers.modules.redfish import tasks
from bootflow.drivers.modules.redfish import utils

LOG = log.getLogger(__name__)

COMPONENTS = ('bios', 'bmc')
SETTING_KEYS = ('component', 'url', 'wait')
PROGRESS_KEY = 'firmware_progress'
# URL scheme -> SimpleUpdate TransferProtocol.
PROTOCOLS = {
    'http': sushy.UpdateTransferProtocolType.HTTP,
    'https': sushy.UpdateTransferProtocolType.HTTPS,
    'ftp': sushy.UpdateTransferProtocolType.FTP,
    'sftp': sushy.UpdateTransferProtocolType.SFTP,
    'scp': sushy.UpdateTransferProtocolType.SCP,
    'tftp': sushy.UpdateTransferProtocolType.TFTP,
    'nfs': sushy.UpdateTransferProtocolType.NFS,
    'cifs': sushy.UpdateTransferProtocolType.CIFS,
}
_UPDATE_ARGSINFO = {
    'settings': {
        'description': 'List of firmware updates, run in order: '
                       '{"component": "bios" or "bmc", "url": image URL '
                       'the BMC downloads, "wait": optional seconds to '
                       'allow, once the BMC has flashed, for the new '
                       'version to show}',
        'required': True,
    },
}


def safe_url(url):
    """``url`` without credentials or query (signed URLs carry tokens),
    for logs and the node's progress record."""
    parts = parse.urlsplit(url)
    netloc = parts.hostname or ''
    if parts.port:
        netloc = '%s:%s' % (netloc, parts.port)
    return parse.urlunsplit((parts.scheme, netloc, parts.path, '', ''))


def parse_settings(node, settings):
    """The update list, checked whole before anything is flashed."""
    if not isinstance(settings, list) or not settings:
        raise exception.InvalidParameterValue(
            err='Firmware update of node %s needs "settings": a non-empty '
                'list of {"component", "url"}' % node.uuid)
    problems, parsed = [], []
    for index, item in enumerate(settings):
        if not isinstance(item, dict):
            problems.append('item %d is not an object' % index)
            continue
        unknown = sorted(set(item) - set(SETTING_KEYS))
        if unknown:
            problems.append('item %d: unknown key(s) %s'
                            % (index, ', '.join(map(str, unknown))))
        component = item.get('component')
        if component not in COMPONENTS:
            problems.append('item %d: component must be one of %s, not %r'
                            % (index, ', '.join(COMPONENTS), component))
        url = item.get('url')
        scheme = parse.urlsplit(url).scheme.lower() \
            if isinstance(url, str) else None
        if scheme not in PROTOCOLS or not parse.urlsplit(url).hostname:
            problems.append('item %d: url must be an image URL (%s)'
                            % (index, ', '.join(sorted(PROTOCOLS))))
        wait = item.get('wait')
        if wait is not None and (isinstance(wait, bool) or not isinstance(
                wait, (int, float)) or wait < 0):
            problems.append('item %d: wait must be a number of seconds'
                            % index)
        parsed.append(dict(item))
    if problems:
        raise exception.InvalidParameterValue(
            err='Invalid firmware update settings for node %s: %s'
                % (node.uuid, '; '.join(problems)))
    return parsed


def read_version(node, component):
    """The component's version as the BMC reports it now (fresh GET)."""
    if component == 'bios':
        return utils.get_system(node).bios_version
    return utils.get_manager(node).firmware_version


def _component(component, version, resource=None):
    item = {'component': component, 'current_version': version}
    model = getattr(resource, 'model', None) if component == 'bmc' else None
    if isinstance(model, str) and model:
        item['model'] = model
    return item


def _record_progress(task, **values):
    node = task.node
    info = dict(node.driver_internal_info or {})
    progress = dict(info.get(PROGRESS_KEY) or {}, **values)
    if progress != info.get(PROGRESS_KEY):
        info[PROGRESS_KEY] = progress
        node.driver_internal_info = info
        node.save()


def _clear_progress(task):
    info = dict(task.node.driver_internal_info or {})
    if info.pop(PROGRESS_KEY, None) is not None:
        task.node.driver_internal_info = info
        task.node.save()


class RedfishFirmware(optional.FirmwareInterface):
    """BIOS and BMC firmware of a Redfish system."""

    def get_properties(self):
        return dict(utils.COMMON_PROPERTIES)

    def validate(self, task):
        utils.parse_driver_info(task.node)

    def cache_firmware_components(self, task):
        node = task.node
        components = []
        with utils.errors(node, 'firmware versions read'):
            system = utils.get_system(node)
            if system.bios_version:
                components.append(_component('bios', system.bios_version))
            try:
                manager = utils.get_manager(node)
            except sushy_exc.MissingAttributeError:
                manager = None  # a system without a manager link
            if manager is not None and manager.firmware_version:
                components.append(_component(
                    'bmc', manager.firmware_version, manager))
        if components:
            node_data.store_firmware_components(node.id, components)

    @base.clean_step(priority=0, argsinfo=_UPDATE_ARGSINFO,
                     requires_ramdisk=False)
    @base.deploy_step(priority=0, argsinfo=_UPDATE_ARGSINFO,
                      requires_ramdisk=False)
    def update(self, task, settings):
        """Flash each listed image in turn; each must end with the new
        version showing, or the step fails there."""
        node = task.node
        updates = parse_settings(node, settings)
        for number, item in enumerate(updates, 1):
            LOG.info('Node %(node)s: firmware update %(n)d of %(total)d: '
                     '%(component)s from %(url)s',
                     {'node': node.uuid, 'n': number,
                      'total': len(updates), 'component': item['component'],
                      'url': safe_url(item['url'])})
            try:
                self._update_one(task, item)
            except exception.BootflowException as exc:
                _record_progress(task, state='failed', error=str(exc))
                raise
        _clear_progress(task)
        self.cache_firmware_components(task)

    def _update_one(self, task, item):
        node, component = task.node, item['component']
        what = 'firmware update of %s on node %s' % (component, node.uuid)
        deadline = time.monotonic() + CONF.redfish.firmware_update_timeout
        with utils.errors(node, 'firmware update of %s' % component):
            if component == 'bios':
                target = utils.get_system(node)
                before = target.bios_version
            else:
                target = utils.get_manager(node)
                before = target.firmware_version
            # Known before it changes: the first version stored stays
            # the node's initial_version.
            node_data.store_firmware_components(
                node.id, [_component(component, before, target)])
            _record_progress(task, component=component,
                             url=safe_url(item['url']), state='starting',
                             percent=None, version_before=before,
                             error=None)
            service = utils.get_update_service(node)
            monitor = service.simple_update(
                image_uri=item['url'], targets=[target.path],
                transfer_protocol=PROTOCOLS[
                    parse.urlsplit(item['url']).scheme.lower()])
            _record_progress(task, state='running',
                             task_monitor=monitor.task_monitor_uri)
            tasks.wait_task(node, monitor, max(deadline - time.monotonic(), 1),
                            what, progress=lambda t: self._progress(task, t))
            _record_progress(task, state='verifying', percent=100)
            after = self._verify(task, item, before, deadline, what)
        LOG.info('Node %(node)s: %(component)s firmware is now %(after)s '
                 '(was %(before)s)', {'node': node.uuid, 'after': after,
                                      'component': component,
                                      'before': before})
        node_data.store_firmware_components(
            node.id, [_component(component, after, target)],
            flashed=True)

    @staticmethod
    def _progress(task, sushy_task):
        percent = sushy_task.percent_complete
        state = tasks.value(sushy_task.task_state)
        previous = (task.node.driver_internal_info or {}).get(
            PROGRESS_KEY) or {}
        if (percent, state) != (previous.get('percent'),
                                previous.get('task_state')):
            LOG.info('Node %(node)s: firmware update of %(component)s: '
                     '%(state)s, %(percent)s%%',
                     {'node': task.node.uuid, 'state': state,
                      'component': previous.get('component'),
                      'percent': '?' if percent is None else percent})
            _record_progress(task, percent=percent, task_state=state)

    def _verify(self, task, item, before, deadline, what):
        """Wait for the version to move on; a BIOS that only flashes on
        the next boot gets that boot."""
        node, component = task.node, item['component']

        def moved():
            version = read_version(node, component)
            return version if version and version != before else None

        try:
            version = moved()
        except tasks.TRANSIENT_ERRORS:  # a BMC restarting after its own flash
            version = None
        if version:
            return version
        if component == 'bios':
            LOG.info('Node %s: rebooting so the new BIOS firmware takes '
                     'effect', node.uuid)
            task.driver.power.reboot(task)
        budget = item.get('wait')
        if budget is None:
            budget = max(deadline - time.monotonic(), 1)
        try:
            return tasks.poll(node, moved, budget,
                              CONF.redfish.firmware_poll_interval,
                              'the new %s firmware version on node %s'
                              % (component, node.uuid))
        except exception.DriverOperationError as exc:
            raise exception.DriverOperationError(
                err='The BMC finished the %s but the %s version is still '
                    '%s: the image was not applied (%s)'
                    % (what, component, before, exc)) from None
