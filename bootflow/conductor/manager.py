"""The conductor's RPC endpoint: validate, lock, dispatch — nothing more.

Each provision action's work is a taskflow flow (bootflow.conductor.flows);
this class only checks the request against the node, takes the lock,
moves the node and hands the flow to a worker.
"""

import functools

import oslo_messaging as messaging
from oslo_log import log
from oslo_utils import timeutils

from bootflow.bootos import session as agent_session
from bootflow.common import exception
from bootflow.common import states
from bootflow.conductor import cleaning
from bootflow.conductor import hardware
from bootflow.conductor import instances
from bootflow.conductor import power
from bootflow.conductor import rpcapi
from bootflow.conductor import task_manager
from bootflow.conductor.flows import runner
from bootflow.conf import drivers as driver_opts

LOG = log.getLogger(__name__)

# Interfaces `node validate` reports, in Ironic's order.
VALIDATED = ('boot', 'deploy', 'management', 'network', 'power', 'bios',
             'console', 'firmware', 'inspect', 'raid', 'rescue', 'storage')

# Flows before which the hardware's BIOS settings, firmware versions and
# boot mode are read into the database, as Ironic does around cleaning.
_CACHE_BEFORE = {'verify', 'clean', 'inspect'}

# Actions refused while the node is in maintenance.
_NOT_IN_MAINTENANCE = {'deploy', 'rebuild', 'provide', 'clean', 'inspect',
                       'rescue', 'unrescue', 'adopt'}


class RPCEndpoint:
    """What the RPC server dispatches to: the manager, with its own errors
    (node locked, pool full, bad request) marked as answers for the caller
    rather than server faults, so oslo.messaging logs them at debug level
    instead of as tracebacks."""

    def __init__(self, manager):
        self._manager = manager
        self.target = manager.target

    def __getattr__(self, name):
        attr = getattr(self._manager, name)
        if name.startswith('_') or not callable(attr):
            return attr
        return functools.wraps(attr)(messaging.expected_exceptions(
            exception.BootflowException)(attr))


class ConductorManager:
    target = messaging.Target(version=rpcapi.RPC_API_VERSION)

    def __init__(self, service):
        self.service = service

    def _acquire(self, context, node_id, purpose, shared=False):
        return task_manager.acquire(self.service, context, node_id,
                                    shared=shared, purpose=purpose)

    # -- provisioning ------------------------------------------------------

    def do_provisioning_action(self, context, node_id, action,
                               configdrive=None, clean_steps=None,
                               deploy_steps=None, rescue_password=None,
                               disable_ramdisk=None):
        event = states.VERBS.get(action)
        if event is None:
            raise exception.InvalidParameterValue(
                err='Unknown provision action %s' % action)
        with self._acquire(context, node_id, action) as task:
            node = task.node
            if not task.fsm.is_actionable_event(event):
                raise exception.InvalidStateRequested(
                    action=action, node=node.uuid,
                    state=node.provision_state)
            if node.maintenance and event in _NOT_IN_MAINTENANCE:
                raise exception.NodeInMaintenance(op=action, node=node.uuid)
            if event in ('delete', 'rebuild') and node.protected:
                raise exception.NodeProtected(node=node.uuid)
            handler = getattr(self, '_%s' % event)
            handler(task, configdrive=configdrive, clean_steps=clean_steps,
                    deploy_steps=deploy_steps,
                    rescue_password=rescue_password)

    def _deploy(self, task, configdrive, deploy_steps, event='deploy', **_):
        for kind in ('power', 'management', 'boot', 'deploy', 'network',
                     'storage'):
            task.driver.interfaces[kind].validate(task)
        node = task.node
        if configdrive:
            node.instance_info = dict(node.instance_info or {},
                                      configdrive=configdrive)
        node.last_error = None
        self._flow(task, event, 'deploy', deploy_steps=deploy_steps)

    def _rebuild(self, task, configdrive, deploy_steps, **_):
        self._deploy(task, configdrive, deploy_steps, event='rebuild')

    def _delete(self, task, **_):
        self._flow(task, 'delete', 'undeploy',
                   skip_clean=not cleaning.automated_clean_enabled(
                       task.node))

    def _manage(self, task, **_):
        if task.fsm.current_state == states.ENROLL:
            self._flow(task, 'manage', 'verify')
        else:
            task.process_event('manage')

    def _provide(self, task, **_):
        self._flow(task, 'provide', 'clean',
                   skip=not cleaning.automated_clean_enabled(task.node))

    def _clean(self, task, clean_steps, **_):
        if not clean_steps:
            raise exception.InvalidParameterValue(
                err='clean_steps is required when setting the provision '
                    'state to "clean"')
        self._flow(task, 'clean', 'clean', target_state=states.MANAGEABLE,
                   manual_steps=list(clean_steps))

    def _inspect(self, task, **_):
        task.driver.inspect.validate(task)
        self._flow(task, 'inspect', 'inspect')

    def _adopt(self, task, **_):
        self._flow(task, 'adopt', 'adopt')

    def _rescue(self, task, rescue_password, **_):
        if not rescue_password:
            raise exception.MissingParameterValue(
                err='rescue_password is required for the rescue action')
        task.driver.rescue.validate(task)
        task.node.instance_info = dict(task.node.instance_info or {},
                                       rescue_password=rescue_password)
        self._flow(task, 'rescue', 'rescue')

    def _unrescue(self, task, **_):
        self._flow(task, 'unrescue', 'unrescue')

    @staticmethod
    def _flow(task, event, flow, target_state=None, **flow_args):
        """Move the node and run the operation's flow in a worker.

        The request is saved with the state change, so that a conductor
        dying before the worker recorded the flow still leaves enough to
        start it afresh on whichever conductor takes the node over.
        """
        task.node.driver_internal_info = dict(
            task.node.driver_internal_info or {},
            flow_request={'flow': flow, 'args': flow_args})
        start = (hardware.cache_then_start if flow in _CACHE_BEFORE
                 else runner.start)
        task.process_event(event, callback=start,
                           call_args=(flow,), call_kwargs=flow_args,
                           target_state=target_state)

    def _abort(self, task, **_):
        """Abort a wait: the node fails at once (as in Ironic), then the
        parked flow is woken to revert what it had done."""
        state = task.node.provision_state
        hardware.record_error(task, '%s aborted by request' % state)
        if state in states.WAIT_STATES:
            task.process_event('abort', callback=runner.resume,
                               call_args=('abort',))
        else:
            task.process_event('abort')

    def _unhold(self, task, **_):
        task.process_event('unhold')

    def _service(self, task, **_):
        raise exception.InvalidParameterValue(
            err='Servicing is not supported by this service yet')

    # -- instances (bootflow's own launch API) ------------------------------

    def launch_instance(self, context, instance_id):
        instances.start(self.service, instance_id, 'launch')

    def delete_instance(self, context, instance_id):
        instances.start(self.service, instance_id, 'delete')

    # -- the ramdisk's callback ---------------------------------------------

    def heartbeat(self, context, node_id, callback_url=None,
                  agent_version=None, agent_status=None):
        """The ramdisk is up (or done with a step): wake the node's parked
        flow. Only nodes in a wait state take note; a flow that waits for
        BootOS results is not woken by a bare heartbeat (it would finish
        without them)."""
        with self._acquire(context, node_id, 'heartbeat') as task:
            node = task.node
            if node.provision_state not in states.WAIT_STATES:
                LOG.debug('Heartbeat for node %s in state %s ignored',
                          node.uuid, node.provision_state)
                return
            info = dict(node.driver_internal_info or {})
            if callback_url:
                info['agent_url'] = callback_url
            if agent_version:
                info['agent_version'] = agent_version
            info['agent_last_heartbeat'] = timeutils.utcnow().isoformat()
            node.driver_internal_info = info
            if not node.maintenance and \
                    not agent_session.waits_for_results(task):
                task.spawn_after(runner.resume, 'callback')
            node.save()

    # -- the BootOS agent ----------------------------------------------------

    def get_node_with_token(self, context, node_id):
        """A lookup: the node's ramdisk view with a token issued on the
        first call after the node booted, ``******`` after that."""
        with self._acquire(context, node_id, 'agent lookup') as task:
            # checked again under the lock: the flow may have moved on
            # while this lookup waited for it
            agent_session.check_lookup_allowed(task.node)
            return agent_session.lookup_view(
                task.node, agent_session.issue_token(task))

    def continue_inspection(self, context, node_id, inventory,
                            plugin_data=None, discovered=False):
        with self._acquire(context, node_id, 'inspection data') as task:
            return agent_session.continue_inspection(
                task, inventory, plugin_data or {}, discovered=discovered)

    def bootos_poll(self, context, node_id, results=None, events=None,
                    agent_version=None):
        with self._acquire(context, node_id, 'agent poll') as task:
            return agent_session.handle_poll(task, results or (),
                                             events or (), agent_version)

    # -- power -------------------------------------------------------------

    def change_node_power_state(self, context, node_id, new_state,
                                timeout=None):
        with self._acquire(context, node_id, 'power ' + new_state) as task:
            supported = task.driver.power.get_supported_power_states(task)
            if new_state not in supported:
                raise exception.InvalidParameterValue(
                    err='The requested power state %s is not supported by '
                        'node %s; supported: %s'
                        % (new_state, task.node.uuid, ', '.join(supported)))
            task.driver.power.validate(task)
            task.node.target_power_state = (
                states.POWER_ON if new_state in (states.REBOOT,
                                                 states.SOFT_REBOOT)
                else states.POWER_OFF if new_state == states.SOFT_POWER_OFF
                else new_state)
            task.node.last_error = None
            task.node.save()
            task.spawn_after(power.do_power_action, new_state, timeout)

    # -- synchronous driver calls -------------------------------------------

    def validate_driver_interfaces(self, context, node_id):
        task = self._acquire(context, node_id, 'validate', shared=True)
        result = {}
        for kind in VALIDATED:
            iface = task.driver.interfaces[kind]
            if not iface.supported:
                result[kind] = {
                    'result': False,
                    'reason': 'Driver %s does not support %s (disabled or '
                              'not implemented).' % (task.node.driver, kind)}
                continue
            try:
                iface.validate(task)
                result[kind] = {'result': True}
            except Exception as e:
                result[kind] = {'result': False, 'reason': str(e)}
        return result

    def set_boot_device(self, context, node_id, device, persistent=False):
        with self._acquire(context, node_id, 'set boot device') as task:
            task.driver.management.validate(task)
            task.driver.management.set_boot_device(task, device,
                                                   persistent=persistent)

    def get_boot_device(self, context, node_id):
        task = self._acquire(context, node_id, 'get boot device', True)
        return task.driver.management.get_boot_device(task)

    def get_supported_boot_devices(self, context, node_id):
        task = self._acquire(context, node_id, 'boot devices', True)
        return task.driver.management.get_supported_boot_devices(task)

    def inject_nmi(self, context, node_id):
        with self._acquire(context, node_id, 'inject nmi') as task:
            task.driver.management.validate(task)
            task.driver.management.inject_nmi(task)

    def vif_list(self, context, node_id):
        task = self._acquire(context, node_id, 'vif list', True)
        return task.driver.network.vif_list(task)

    def vif_attach(self, context, node_id, vif_info):
        with self._acquire(context, node_id, 'vif attach') as task:
            task.driver.network.vif_attach(task, vif_info)

    def vif_detach(self, context, node_id, vif_id):
        with self._acquire(context, node_id, 'vif detach') as task:
            task.driver.network.vif_detach(task, vif_id)

    # -- boot mode, console, RAID, indicators, virtual media ---------------

    def _spawn_change(self, context, node_id, purpose, worker, *args):
        """Validate, clear the last error and continue in a worker (the
        API answers 202 at once, as Ironic does)."""
        with self._acquire(context, node_id, purpose) as task:
            task.driver.management.validate(task)
            task.node.last_error = None
            task.node.save()
            task.spawn_after(worker, *args)

    def change_node_boot_mode(self, context, node_id, new_state):
        self._spawn_change(context, node_id, 'changing node boot mode',
                           hardware.change_boot_mode, new_state)

    def change_node_secure_boot(self, context, node_id, new_state):
        self._spawn_change(context, node_id, 'changing node secure boot',
                           hardware.change_secure_boot, new_state)

    def set_target_raid_config(self, context, node_id, target_raid_config):
        with self._acquire(context, node_id, 'set target RAID') as task:
            # an empty target clears it, whatever the RAID interface
            if target_raid_config:
                task.driver.raid.validate_raid_config(task,
                                                      target_raid_config)
            task.node.target_raid_config = target_raid_config
            task.node.save()

    def get_console_information(self, context, node_id):
        task = self._acquire(context, node_id, 'console info', True)
        if not task.node.console_enabled:
            raise exception.NodeConsoleNotEnabled(node=task.node.uuid)
        task.driver.console.validate(task)
        return task.driver.console.get_console(task)

    def set_console_mode(self, context, node_id, enabled):
        task = self._acquire(context, node_id, 'console mode', True)
        task.driver.console.validate(task)
        if bool(task.node.console_enabled) == enabled:
            LOG.info('Console of node %s is already %s', task.node.uuid,
                     'enabled' if enabled else 'disabled')
            return
        with self._acquire(context, node_id, 'setting console') as task:
            task.node.last_error = None
            task.node.save()
            task.spawn_after(hardware.set_console, enabled)

    def get_supported_indicators(self, context, node_id, component=None):
        task = self._acquire(context, node_id, 'indicators', True)
        task.driver.management.validate(task)
        return task.driver.management.get_supported_indicators(
            task, component)

    def get_indicator_state(self, context, node_id, component, indicator):
        task = self._acquire(context, node_id, 'indicator state', True)
        task.driver.management.validate(task)
        return task.driver.management.get_indicator_state(task, component,
                                                          indicator)

    def set_indicator_state(self, context, node_id, component, indicator,
                            state):
        with self._acquire(context, node_id, 'set indicator') as task:
            task.driver.management.validate(task)
            task.driver.management.set_indicator_state(task, component,
                                                       indicator, state)

    def get_virtual_media(self, context, node_id):
        task = self._acquire(context, node_id, 'virtual media', True)
        task.driver.management.validate(task)
        return task.driver.management.get_virtual_media(task)

    def _vmedia_change(self, context, node_id, purpose, worker, **kwargs):
        with self._acquire(context, node_id, purpose) as task:
            task.driver.management.validate(task)
            node = task.node
            if node.maintenance and node.fault == states.POWER_FAILURE:
                raise exception.TemporaryFailure(
                    'Unable to %s virtual media for node %s due to power '
                    'failure state' % (purpose.split()[0], node.uuid))
            node.last_error = None
            node.save()
            task.spawn_after(worker, **kwargs)

    def attach_virtual_media(self, context, node_id, device_type, image_url,
                             image_download_source='local'):
        self._vmedia_change(context, node_id, 'attach virtual media',
                            hardware.attach_virtual_media,
                            device_type=device_type, image_url=image_url)

    def detach_virtual_media(self, context, node_id, device_types=None):
        self._vmedia_change(context, node_id, 'detach virtual media',
                            hardware.detach_virtual_media,
                            device_types=device_types)

    def get_driver_properties(self, context, driver_name):
        catalog = self.service.catalog
        if driver_name not in catalog.hardware_types:
            raise exception.DriverNotFound(driver_name=driver_name)
        props = dict(catalog.hardware_types[driver_name].get_properties())
        for kind in driver_opts.INTERFACE_KINDS:
            for name in catalog.enabled_for(driver_name, kind):
                props.update(catalog.interfaces[kind][name].get_properties())
        return props

    # -- allocations -------------------------------------------------------
    # Imported here so that this section stays self-contained while the
    # rest of the module is being rewritten.

    def create_allocation(self, context, allocation_id,
                          backfill_node_id=None):
        """Process a stored allocation: in a worker, or at once when
        backfilling an already deployed node."""
        from bootflow.conductor import allocations
        allocations.start(self.service, allocation_id,
                          backfill_node_id=backfill_node_id)

    def destroy_allocation(self, context, allocation_id):
        from bootflow.conductor import allocations
        allocations.destroy(allocation_id)
