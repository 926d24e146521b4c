"""Verifying (enroll -> manageable) and adoption (manageable -> active)."""

from oslo_log import log

from bootflow.common import states

LOG = log.getLogger(__name__)


def do_verify(task):
    """Prove bootflow can reach the BMC: validate and read power state."""
    node = task.node
    try:
        task.driver.power.validate(task)
        task.driver.management.validate(task)
        node.power_state = task.driver.power.get_power_state(task)
        node.last_error = None
        task.process_event('done')
    except Exception as e:
        task.fail('fail', 'Failed to verify node %s: %s' % (node.uuid, e))


def do_adopt(task):
    """Take over a node that is already running its workload."""
    node = task.node
    try:
        for kind in ('power', 'management', 'boot', 'deploy'):
            task.driver.interfaces[kind].validate(task)
        task.driver.boot.prepare_instance(task)
        node.power_state = task.driver.power.get_power_state(task)
        node.last_error = None
        task.process_event('done')
    except Exception as e:
        task.fail('fail', 'Failed to adopt node %s: %s' % (node.uuid, e))


def do_inspect(task):
    node = task.node
    try:
        result = task.driver.inspect.inspect_hardware(task)
        if result == states.INSPECTWAIT:
            task.process_event('wait')
            return
        node.last_error = None
        task.process_event('done')
    except Exception as e:
        task.fail('fail', 'Failed to inspect hardware: %s' % e)


def do_rescue(task, rescue_password):
    node = task.node
    try:
        info = dict(node.instance_info or {}, rescue_password=rescue_password)
        node.instance_info = info
        result = task.driver.rescue.rescue(task)
        task.process_event('wait' if result == states.RESCUEWAIT else 'done')
    except Exception as e:
        task.fail('fail', 'Failed to rescue: %s' % e)


def do_unrescue(task):
    node = task.node
    try:
        task.driver.rescue.unrescue(task)
        info = dict(node.instance_info or {})
        info.pop('rescue_password', None)
        node.instance_info = info
        task.process_event('done')
    except Exception as e:
        task.fail('fail', 'Failed to unrescue: %s' % e)
