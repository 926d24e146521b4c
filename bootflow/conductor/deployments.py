"""Deploy, rebuild and undeploy: the work a worker thread does after the
API's provision request moved the node to ``deploying`` or ``deleting``."""

from oslo_log import log

from bootflow.common import states
from bootflow.conductor import cleaning
from bootflow.conductor import power
from bootflow.conductor import steps

LOG = log.getLogger(__name__)


def validate_deploy(task):
    for kind in ('power', 'management', 'boot', 'deploy', 'network',
                 'storage'):
        task.driver.interfaces[kind].validate(task)


def do_deploy(task, configdrive=None, deploy_steps=None):
    node = task.node
    try:
        if configdrive:
            info = dict(node.instance_info or {}, configdrive=configdrive)
            node.instance_info = info
        node.last_error = None
        task.driver.deploy.prepare(task)
        plan = steps.automated_steps(task, 'deploy')
        if deploy_steps:
            plan = sorted(plan + steps.resolve_requested(task, 'deploy',
                                                         deploy_steps),
                          key=lambda s: -s['priority'])
        if steps.run_steps(task, 'deploy', plan) == states.DEPLOYWAIT:
            task.process_event('wait')
            return
        task.driver.boot.prepare_instance(task)
        power.set_power(task, states.POWER_ON)
        task.process_event('done')
        LOG.info('Node %s deployed', node.uuid)
    except Exception as e:
        try:
            task.driver.deploy.clean_up(task)
        except Exception:
            LOG.exception('Clean-up after a failed deploy of %s failed',
                          node.uuid)
        task.fail('fail', 'Failed to deploy: %s' % e)


def do_tear_down(task):
    node = task.node
    try:
        power.set_power(task, states.POWER_OFF)
        task.driver.deploy.tear_down(task)
        task.driver.boot.clean_up_instance(task)
        task.driver.deploy.clean_up(task)
        node.instance_info = {}
        node.instance_uuid = None
        node.instance_name = None
        node.last_error = None
        info = dict(node.driver_internal_info or {})
        for key in ('is_whole_disk_image', 'root_uuid_or_disk_id',
                    'deploy_steps'):
            info.pop(key, None)
        node.driver_internal_info = info
    except Exception as e:
        task.fail('error', 'Failed to tear down: %s' % e)
        return
    task.process_event('clean')
    cleaning.do_clean(task)
