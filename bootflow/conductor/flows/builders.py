"""Flow builders: one small function per provisioning operation.

They are module-level functions taking only JSON-friendly arguments
because taskflow records the builder's import path and arguments with the
persisted flow: after a crash, the very same flow is rebuilt from them and
resumed atom by atom. Changing an atom's name therefore breaks resuming
flows persisted by an older version; add atoms rather than rename them.
"""

from taskflow.patterns import linear_flow

from bootflow.common import states
from bootflow.conductor.flows import tasks

DEPLOY_STATES = (states.DEPLOYING, states.DEPLOYWAIT)


def deploy_flow(deploy_steps=None):
    """Ramdisk boot config, deploy steps, instance boot, power on, active.

    Interfaces were validated before the node left ``available``.
    """
    return linear_flow.Flow('deploy').add(
        tasks.PrepareRamdisk('prepare_ramdisk'),
        tasks.RunSteps('deploy', requested=deploy_steps),
        tasks.EndAgentSession('end_agent_session'),
        tasks.PrepareInstanceBoot('prepare_instance_boot'),
        tasks.SetPower('power_on', states.POWER_ON,
                       revert_to=states.POWER_OFF),
        tasks.Finish('done', DEPLOY_STATES),
    )


def _clean_atoms(manual_steps=None, skip=False):
    finish = tasks.Finish('manage' if manual_steps is not None else 'done',
                          (states.CLEANING, states.CLEANWAIT))
    if skip:
        return [finish]
    return [
        tasks.Validate(('power',)),
        tasks.PrepareCleaning('prepare_cleaning', requested=manual_steps),
        tasks.RunSteps('clean', requested=manual_steps),
        tasks.EndAgentSession('end_agent_session'),
        tasks.TearDownCleaning('tear_down_cleaning'),
        tasks.SetPower('power_off', states.POWER_OFF),
        finish,
    ]


def clean_flow(manual_steps=None, skip=False):
    """Automated cleaning (``skip`` when disabled for the node) or manual
    cleaning with the requested steps, which ends in ``manageable``."""
    return linear_flow.Flow('clean').add(*_clean_atoms(manual_steps, skip))


def undeploy_flow(skip_clean=False):
    """Tear the instance down, then clean, as one flow: a crash between
    the two resumes into cleaning instead of leaving ``deleting``."""
    return linear_flow.Flow('undeploy').add(
        tasks.SetPower('undeploy_power_off', states.POWER_OFF),
        tasks.TearDownInstance('tear_down_instance'),
        tasks.Transition('start_cleaning', 'clean', (states.DELETING,)),
        *_clean_atoms(skip=skip_clean))


def verify_flow():
    return linear_flow.Flow('verify').add(
        tasks.Validate(('power', 'management')),
        tasks.ReadPowerState('read_power_state'),
        tasks.Finish('done', (states.VERIFYING,)),
    )


def adopt_flow():
    return linear_flow.Flow('adopt').add(
        tasks.Validate(('power', 'management', 'boot', 'deploy')),
        tasks.PrepareInstanceBoot('prepare_instance_boot'),
        tasks.ReadPowerState('read_power_state'),
        tasks.Finish('done', (states.ADOPTING,)),
    )


def inspect_flow():
    return linear_flow.Flow('inspect').add(
        tasks.Inspect('inspect_hardware'),
        tasks.EndAgentSession('end_agent_session'),
        tasks.InspectionDone('inspection_done'),
        tasks.Finish('done', (states.INSPECTING,)),
    )


def rescue_flow():
    return linear_flow.Flow('rescue').add(
        tasks.Rescue('rescue'),
        tasks.Finish('done', (states.RESCUING,)),
    )


def unrescue_flow():
    return linear_flow.Flow('unrescue').add(
        tasks.Unrescue('unrescue'),
        tasks.Finish('done', (states.UNRESCUING,)),
    )


BUILDERS = {
    'deploy': deploy_flow,
    'clean': clean_flow,
    'undeploy': undeploy_flow,
    'verify': verify_flow,
    'adopt': adopt_flow,
    'inspect': inspect_flow,
    'rescue': rescue_flow,
    'unrescue': unrescue_flow,
}

# How a failure reads on the node, by the state it failed in.
FAILURE_PREFIX = {
    states.DEPLOYING: 'Failed to deploy',
    states.DEPLOYWAIT: 'Failed to deploy',
    states.CLEANING: 'Failed to clean',
    states.CLEANWAIT: 'Failed to clean',
    states.DELETING: 'Failed to tear down',
    states.VERIFYING: 'Failed to verify',
    states.ADOPTING: 'Failed to adopt',
    states.INSPECTING: 'Failed to inspect hardware',
    states.INSPECTWAIT: 'Failed to inspect hardware',
    states.RESCUING: 'Failed to rescue',
    states.RESCUEWAIT: 'Failed to rescue',
    states.UNRESCUING: 'Failed to unrescue',
}


def failure_event(provision_state):
    """Ironic sends a failed tear-down to ``error``; every other failure
    to its operation's ``* failed`` state."""
    return 'error' if provision_state == states.DELETING else 'fail'
