"""The conductor's RPC endpoint: validate, lock, dispatch — nothing more.

Each provision action's work lives in its own module (deployments,
cleaning, verification, power); this class only checks the request
against the node, takes the lock and hands the work to a worker.
"""

import oslo_messaging as messaging
from oslo_log import log

from bootflow.common import exception
from bootflow.common import states
from bootflow.conductor import cleaning
from bootflow.conductor import deployments
from bootflow.conductor import power
from bootflow.conductor import rpcapi
from bootflow.conductor import task_manager
from bootflow.conductor import verification
from bootflow.conf import drivers as driver_opts

LOG = log.getLogger(__name__)

# Interfaces `node validate` reports, in Ironic's order.
VALIDATED = ('boot', 'deploy', 'management', 'network', 'power', 'bios',
             'console', 'firmware', 'inspect', 'raid', 'rescue', 'storage')

# Actions refused while the node is in maintenance.
_NOT_IN_MAINTENANCE = {'deploy', 'rebuild', 'provide', 'clean', 'inspect',
                       'rescue', 'unrescue', 'adopt'}


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

    def _deploy(self, task, configdrive, deploy_steps, **_):
        deployments.validate_deploy(task)
        task.process_event('deploy',
                           callback=deployments.do_deploy,
                           call_args=(configdrive, deploy_steps))

    def _rebuild(self, task, configdrive, deploy_steps, **_):
        deployments.validate_deploy(task)
        task.process_event('rebuild', callback=deployments.do_deploy,
                           call_args=(configdrive, deploy_steps))

    def _delete(self, task, **_):
        task.process_event('delete', callback=deployments.do_tear_down)

    def _manage(self, task, **_):
        if task.fsm.current_state == states.ENROLL:
            task.process_event('manage', callback=verification.do_verify)
        else:
            task.process_event('manage')

    def _provide(self, task, **_):
        task.process_event('provide', callback=cleaning.do_clean)

    def _clean(self, task, clean_steps, **_):
        if not clean_steps:
            raise exception.InvalidParameterValue(
                err='clean_steps is required when setting the provision '
                    'state to "clean"')
        cleaning_steps = list(clean_steps)
        task.process_event('clean', callback=cleaning.do_clean,
                           call_args=(cleaning_steps,),
                           target_state=states.MANAGEABLE)

    def _inspect(self, task, **_):
        task.driver.inspect.validate(task)
        task.process_event('inspect', callback=verification.do_inspect)

    def _adopt(self, task, **_):
        task.process_event('adopt', callback=verification.do_adopt)

    def _rescue(self, task, rescue_password, **_):
        if not rescue_password:
            raise exception.MissingParameterValue(
                err='rescue_password is required for the rescue action')
        task.driver.rescue.validate(task)
        task.process_event('rescue', callback=verification.do_rescue,
                           call_args=(rescue_password,))

    def _unrescue(self, task, **_):
        task.process_event('unrescue', callback=verification.do_unrescue)

    def _abort(self, task, **_):
        state = task.node.provision_state
        if state == states.INSPECTWAIT:
            task.driver.inspect.abort(task)
        task.node.last_error = '%s aborted by request' % state
        task.process_event('abort')

    def _unhold(self, task, **_):
        task.process_event('unhold')

    def _service(self, task, **_):
        raise exception.InvalidParameterValue(
            err='Servicing is not supported by this service yet')

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

    def get_driver_properties(self, context, driver_name):
        catalog = self.service.catalog
        if driver_name not in catalog.hardware_types:
            raise exception.DriverNotFound(driver_name=driver_name)
        props = dict(catalog.hardware_types[driver_name].get_properties())
        for kind in driver_opts.INTERFACE_KINDS:
            for name in catalog.enabled_for(driver_name, kind):
                props.update(catalog.interfaces[kind][name].get_properties())
        return props
