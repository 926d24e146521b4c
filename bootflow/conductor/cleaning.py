"""Cleaning: automated (after provide and undeploy) and manual (the
``clean`` verb with explicit steps, ending in ``manageable``)."""

from oslo_log import log

from bootflow.common import states
from bootflow.conductor import power
from bootflow.conductor import steps
from bootflow.conf import CONF

LOG = log.getLogger(__name__)


def automated_clean_enabled(node):
    if node.automated_clean is not None:
        return node.automated_clean
    return CONF.conductor.automated_clean


def do_clean(task, clean_steps=None):
    """Run cleaning for a node already in ``cleaning``."""
    node = task.node
    manual = clean_steps is not None
    try:
        if not manual and not automated_clean_enabled(node):
            LOG.info('Automated cleaning is disabled for node %s', node.uuid)
            task.process_event('done')
            return
        task.driver.power.validate(task)
        task.driver.deploy.prepare_cleaning(task)
        plan = (steps.resolve_requested(task, 'clean', clean_steps) if manual
                else steps.automated_steps(task, 'clean'))
        if steps.run_steps(task, 'clean', plan) == states.CLEANWAIT:
            task.process_event('wait')
            return
        task.driver.deploy.tear_down_cleaning(task)
        power.set_power(task, states.POWER_OFF)
        node.last_error = None
        task.process_event('manage' if manual else 'done')
    except Exception as e:
        try:
            task.driver.deploy.tear_down_cleaning(task)
        except Exception:
            LOG.exception('Tear-down after failed cleaning of %s failed',
                          node.uuid)
        task.fail('fail', 'Failed to clean: %s' % e)
