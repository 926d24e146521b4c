"""The ``netinstall`` deploy interface: a distribution's own installer
writes the node, from an install repository.

The node network-boots the installer kernel and initrd (from the
repository, or the pre-seeded netinstall cache) with the repository and
an optional kickstart/preseed/AutoYaST URL on its command line, and the
deploy waits in ``wait call-back`` until the installer reports back
(``POST /v1/heartbeat/{node}`` from its post-install script; the node's
UUID and the API URL are on the command line for it). The flow then
switches the node to boot its disk, so its next reboot cannot start the
installer again.

instance_info keys:
  netinstall_distro, netinstall_release, netinstall_repo, netinstall_arch
  (default x86_64) — or kernel and ramdisk naming the installer directly —
  plus netinstall_config (kickstart/preseed URL) and kernel_append_params.
"""

from bootflow.common import exception
from bootflow.common import states
from bootflow.drivers import base
from bootflow.drivers.interfaces import deploy
from bootflow.drivers.modules.netboot import cmdline
from bootflow.drivers.modules.netboot import files
from bootflow.drivers.modules.netboot import sources
from bootflow.images import netinstall

PROPERTIES = {}


def installer(task):
    """The kernel, initrd and command-line parameters to boot; raises a
    400-class error for anything unusable."""
    info = task.node.instance_info or {}
    config = info.get('netinstall_config')
    if config is not None:
        cmdline.check_url(config, 'instance_info/netinstall_config')
    if info.get('kernel') or info.get('ramdisk'):
        kernel = sources.check(info.get('kernel'), 'instance_info/kernel')
        ramdisk = sources.check(info.get('ramdisk'), 'instance_info/ramdisk')
        repo = info.get('netinstall_repo')
        params = ([('inst.repo', cmdline.check_url(
            repo, 'instance_info/netinstall_repo'))] if repo else [])
        if config:
            params.append(('inst.ks', config))
        result = netinstall.Installer(kernel, ramdisk, params)
    else:
        for key in ('netinstall_distro', 'netinstall_release',
                    'netinstall_repo'):
            if not info.get(key):
                raise exception.MissingParameterValue(
                    err='A netinstall deploy needs instance_info/%s (or '
                        'instance_info kernel and ramdisk)' % key)
        repo = cmdline.check_url(info['netinstall_repo'],
                                 'instance_info/netinstall_repo')
        result = netinstall.resolve(
            info['netinstall_distro'], info['netinstall_release'], repo,
            arch=info.get('netinstall_arch', 'x86_64'), config_url=config)
    params = result.params + [('bootflow_node', task.node.uuid),
                              ('SERVER_ADDR', files.api_url())]
    cmdline.build(params)
    return result._replace(params=params)


class NetinstallDeploy(deploy.DeployInterface):

    def get_properties(self):
        return dict(PROPERTIES)

    def validate(self, task):
        if not hasattr(task.driver.boot, 'prepare_installer'):
            raise exception.InvalidParameterValue(
                err='The netinstall deploy needs a network boot interface '
                    '(pxe, ipxe or http), not %s'
                    % task.node.boot_interface)
        installer(task)

    def prepare(self, task):
        found = installer(task)
        info = task.node.instance_info or {}
        task.driver.boot.prepare_installer(
            task, found.kernel, found.ramdisk, found.params,
            checksums=(info.get('kernel_checksum'),
                       info.get('ramdisk_checksum')))

    def clean_up(self, task):
        task.driver.boot.clean_up_ramdisk(task)

    @base.deploy_step(priority=100)
    def deploy(self, task):
        """Start the installer and wait for its call-back."""
        task.driver.power.reboot(task)
        task.node.power_state = states.POWER_ON
        return states.DEPLOYWAIT

    def tear_down(self, task):
        task.driver.power.set_power_state(task, states.POWER_OFF)
        task.node.power_state = states.POWER_OFF
        return states.DELETED
