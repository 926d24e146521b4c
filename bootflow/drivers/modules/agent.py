"""Interfaces driven by the BootOS agent: ``agent`` inspection and the
``bootos`` deploy interface, whose steps apply a configuration template.

Both boot the node into BootOS (through the node's boot interface) and
leave the work to the agent: the conductor queues commands, the agent
pulls them when it polls, and the parked flow wakes when the results are
in (``bootflow.bootos.session``). When the agent has finished — its POST
script has run — the flow powers the node off.

driver_info keys: bootos_template (a template name), bootos_developer_mode,
bootos_pre_script / bootos_post_script (URLs) and their *_checksum, plus
what the boot interface needs (deploy_kernel, deploy_ramdisk, ...).
"""

from bootflow.bootos import configuration
from bootflow.bootos import session
from bootflow.bootos import commands
from bootflow.common import states
from bootflow.conductor import power
from bootflow.drivers import base
from bootflow.drivers.interfaces import deploy
from bootflow.drivers.interfaces import inspect as inspect_iface
from bootflow.drivers.modules import network
from bootflow.drivers.modules.netboot import files

PROPERTIES = {
    'bootos_template': 'Name of the configuration template to apply '
                       '(default: the matching template of highest '
                       'priority). Optional.',
    'bootos_developer_mode': 'Apply the configuration even to hardware '
                             'that is not on the support list. Optional.',
}

_STEP_ARGS = {
    'dry_run': {'description': 'Report what would change, change '
                               'nothing.', 'required': False},
    'template': {'description': 'Template to use instead of the node\'s.',
                 'required': False},
}


def boot_into_bootos(task, params=None):
    task.driver.boot.prepare_ramdisk(task, params or {})
    power.set_power(task, states.REBOOT)


def leave_bootos(task):
    task.driver.boot.clean_up_ramdisk(task)
    power.set_power(task, states.POWER_OFF)


class AgentInspect(inspect_iface.InspectInterface):
    """Inspection by BootOS: the agent uploads its inventory to
    ``/v1/continue_inspection`` (its URL is on the kernel command line as
    ``ipa-inspection-callback-url``, as for Ironic's agent)."""

    # the flow waits for the upload, not for any heartbeat
    agent_driven = True

    def get_properties(self):
        return dict(PROPERTIES)

    def validate(self, task):
        task.driver.boot.validate(task)

    def inspect_hardware(self, task):
        boot_into_bootos(task, {'ipa-inspection-callback-url':
                                files.api_url() + '/v1/continue_inspection'})
        return states.INSPECTWAIT

    def abort(self, task):
        session.close(task)
        task.driver.boot.clean_up_ramdisk(task)

    def complete(self, task):
        leave_bootos(task)


class BootOSDeploy(deploy.DeployInterface):
    """Configuration by BootOS, section by section (BIOS, RAID, BMC, disks),
    as clean steps (requested with ``baremetal node clean``) and deploy
    steps; the ``deploy`` step applies every section of the node's
    template."""

    agent_driven = True

    def get_properties(self):
        return dict(PROPERTIES)

    def validate(self, task):
        task.driver.boot.validate(task)
        name = (task.node.driver_info or {}).get('bootos_template')
        if name:
            configuration.select(task.node, None, name)

    def prepare(self, task):
        network.on_deploy(task)
        task.driver.boot.prepare_ramdisk(task, {})

    def clean_up(self, task):
        task.driver.boot.clean_up_ramdisk(task)

    def prepare_cleaning(self, task):
        boot_into_bootos(task)

    def tear_down_cleaning(self, task):
        task.driver.boot.clean_up_ramdisk(task)

    def tear_down(self, task):
        leave_bootos(task)
        network.on_tear_down(task)
        return states.DELETED

    def _apply(self, task, sections, dry_run=False, template=None,
               always_wait=False):
        """Queue the sections' commands and wait for their results; with
        nothing to apply, don't wait (the history says why) unless the
        caller needs the agent anyway."""
        if not session.active(task.node) and \
                task.node.power_state != states.POWER_ON:
            power.set_power(task, states.REBOOT)
        queued = configuration.queue(task, sections=sections,
                                     dry_run=dry_run, template_name=template)
        if not queued and always_wait:
            # the agent still has to come up: its PRE script and a fresh
            # inventory are part of every BootOS deploy
            info = dict(task.node.driver_internal_info or {})
            commands.enqueue(info, 'inventory.collect')
            task.node.driver_internal_info = info
            queued = 1
        task.node.save()
        if not queued:
            return None
        return (states.CLEANWAIT
                if task.node.provision_state == states.CLEANING
                else states.DEPLOYWAIT)

    @base.deploy_step(priority=100, argsinfo=_STEP_ARGS)
    def deploy(self, task, dry_run=False, template=None):
        return self._apply(task, None, dry_run, template, always_wait=True)

    @base.clean_step(priority=0, argsinfo=_STEP_ARGS)
    @base.deploy_step(priority=0, argsinfo=_STEP_ARGS)
    def apply_configuration(self, task, dry_run=False, template=None):
        return self._apply(task, None, dry_run, template)

    @base.clean_step(priority=0, argsinfo=_STEP_ARGS)
    @base.deploy_step(priority=0, argsinfo=_STEP_ARGS)
    def configure_bios(self, task, dry_run=False, template=None):
        return self._apply(task, ('bios',), dry_run, template)

    @base.clean_step(priority=0, argsinfo=_STEP_ARGS)
    @base.deploy_step(priority=0, argsinfo=_STEP_ARGS)
    def configure_raid(self, task, dry_run=False, template=None):
        return self._apply(task, ('raid',), dry_run, template)

    @base.clean_step(priority=0, argsinfo=_STEP_ARGS)
    @base.deploy_step(priority=0, argsinfo=_STEP_ARGS)
    def configure_bmc(self, task, dry_run=False, template=None):
        return self._apply(task, ('bmc',), dry_run, template)

    @base.clean_step(priority=0, argsinfo=_STEP_ARGS)
    @base.deploy_step(priority=0, argsinfo=_STEP_ARGS)
    def configure_disks(self, task, dry_run=False, template=None):
        return self._apply(task, ('disks',), dry_run, template)
