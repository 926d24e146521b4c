"""Network boot interfaces: pxe, ipxe, http (UEFI HTTP via GRUB) and
grub-iso.

They differ only in the boot loader they write for (one config file per
PXE-enabled MAC) and in the DHCP options that lead a node to it; fetching
boot files, building command lines, switching to local boot and cleaning
up are shared. Every config a node reads comes from a template filled
with validated values, and every file written is recorded on the node so
clean-up removes exactly that.

After a deploy, :meth:`prepare_instance` replaces the ramdisk or
installer config by one that boots the local disk, withdraws the node's
DHCP boot offer and makes disk the persistent boot device: even a BMC
that keeps network-booting cannot bring the node back into BootOS or the
installer. A rebuild's :meth:`prepare_ramdisk` switches it back.
"""

from oslo_log import log
from oslo_utils import strutils

from bootflow.common import atomic_file
from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.drivers.interfaces import boot
from bootflow.drivers.interfaces import management
from bootflow.drivers.modules.netboot import cmdline
from bootflow.drivers.modules.netboot import files
from bootflow.drivers.modules.netboot import render
from bootflow.drivers.modules.netboot import sources

LOG = log.getLogger(__name__)

RAMDISK = 'the BootOS ramdisk'
INSTALLER = 'the installer'
LOCAL = 'from its local disk'
# grub-mknetdir's layout under tftp_root, for BIOS nodes booting GRUB.
GRUB_BIOS_BOOTFILE = 'grub/i386-pc/core.0'

PROPERTIES = {
    'deploy_kernel': 'URL of the BootOS kernel (http, https or file). '
                     'Required.',
    'deploy_ramdisk': 'URL of the BootOS initrd. Required.',
    'kernel_append_params': 'Extra kernel parameters for the ramdisk, '
                            'instead of [pxe]kernel_append_params.',
    'bootos_developer_mode': 'Boot BootOS in developer mode (DEVELOPER=1):'
                             ' it configures unsupported hardware too.',
    'bootos_pre_script': 'URL of a script BootOS runs when it starts.',
    'bootos_post_script': 'URL of a script BootOS runs before reboot.',
    'bootos_pre_script_checksum': 'Checksum of the PRE script '
                                  '("sha256:<hex>", or a bare hex digest).',
    'bootos_post_script_checksum': 'Checksum of the POST script.',
}


def pxe_ports(task):
    return [p for p in task.ports if p.get('pxe_enabled', True)]


def boot_mode(task):
    caps = (task.node.properties or {}).get('capabilities') or ''
    if isinstance(caps, str):
        caps = dict(c.split(':', 1) for c in caps.split(',') if ':' in c)
    return (caps.get('boot_mode') or task.node.boot_mode or
            CONF.deploy.default_boot_mode)


def _append(task, info_first):
    """kernel_append_params: the node's own (instance_info first for the
    instance or installer, driver_info first for the ramdisk), else the
    operator's default."""
    for info in info_first:
        value = (info or {}).get('kernel_append_params')
        if value is not None:
            return cmdline.split_append(value)
    return cmdline.split_append(CONF.pxe.kernel_append_params,
                                '[pxe]kernel_append_params')


def ramdisk_cmdline(task, mac, extra=None):
    node = task.node
    info = node.driver_info or {}
    return cmdline.build(
        cmdline.ramdisk_params(
            node.uuid, files.api_url(), mac=mac,
            developer=strutils.bool_from_string(
                info.get('bootos_developer_mode')),
            pre_url=info.get('bootos_pre_script'),
            post_url=info.get('bootos_post_script'),
            pre_checksum=info.get('bootos_pre_script_checksum'),
            post_checksum=info.get('bootos_post_script_checksum'),
            extra=sorted((extra or {}).items())),
        append=_append(task, (node.driver_info, node.instance_info)))


def set_boot_device(task, device, persistent):
    mgmt = task.driver.management
    if device in mgmt.get_supported_boot_devices(task):
        mgmt.set_boot_device(task, device, persistent=persistent)
    else:
        LOG.warning('Node %s cannot be set to boot from %s; set it by hand',
                    task.node.uuid, device)


def _dhcp():
    from bootflow.dhcp import base as dhcp_base
    return dhcp_base.get_provider()


def publish_dhcp(task, options):
    """Hand ``options`` to the DHCP provider; one that cannot tell iPXE
    clients apart gets only what non-iPXE firmware needs (the operator's
    DHCP then chains iPXE to ``boot.ipxe`` itself)."""
    provider = _dhcp()
    if not provider.supports_ipxe_tag():
        options = [dict(o, opt_name=o['opt_name'].replace('tag:!ipxe,', ''))
                   for o in options
                   if not o['opt_name'].startswith('tag:ipxe,')]
    provider.update_dhcp_opts(task, options)


def _grub_path(url):
    """GRUB names files on an HTTP server as ``(http,host)/path``."""
    scheme, rest = url.split('://', 1)
    host, _, path = rest.partition('/')
    return '(%s,%s)/%s' % (scheme, host, path)


class _NetBoot(boot.BootInterface):
    """What the boot loaders share; subclasses say what to write."""

    boot_device = management.PXE
    # Whether BOOTIF goes on the command line (pxelinux adds it itself).
    bootif_in_cmdline = True

    def get_properties(self):
        return dict(PROPERTIES)

    def validate(self, task):
        if not pxe_ports(task):
            raise exception.MissingParameterValue(
                err='Node %s has no PXE-enabled port to boot from'
                    % task.node.uuid)
        self._check_sources(task)
        for port in pxe_ports(task):
            ramdisk_cmdline(task, port['address'])
        _append(task, (task.node.instance_info,))

    def _check_sources(self, task):
        info = task.node.driver_info or {}
        sources.check(info.get('deploy_kernel'), 'driver_info/deploy_kernel')
        sources.check(info.get('deploy_ramdisk'),
                      'driver_info/deploy_ramdisk')

    # -- what a loader writes ------------------------------------------

    def config_files(self, task, mac, **values):
        """``[(path, text)]`` for one MAC. ``values``: purpose, local and,
        unless local, kernel_url, ramdisk_url and cmdline."""
        raise NotImplementedError

    def dhcp_options(self, task):
        raise NotImplementedError

    # -- the boot interface --------------------------------------------

    def prepare_ramdisk(self, task, ramdisk_params=None):
        node = task.node
        info = node.driver_info or {}
        files.remove_recorded(node)
        kernel = sources.fetch(node, info['deploy_kernel'], 'deploy_kernel',
                               info.get('deploy_kernel_checksum'))
        ramdisk = sources.fetch(node, info['deploy_ramdisk'],
                                'deploy_ramdisk',
                                info.get('deploy_ramdisk_checksum'))
        self._publish(task, RAMDISK, kernel, ramdisk,
                      lambda mac: ramdisk_cmdline(
                          task, mac if self.bootif_in_cmdline else None,
                          ramdisk_params))

    def prepare_installer(self, task, kernel_source, ramdisk_source,
                          params, checksums=(None, None)):
        """Network-boot a distribution's installer with ``params`` (the
        repository, the kickstart or preseed URL) on its command line."""
        node = task.node
        files.remove_recorded(node)
        kernel = sources.fetch(node, kernel_source, 'installer_kernel',
                               checksums[0])
        ramdisk = sources.fetch(node, ramdisk_source, 'installer_ramdisk',
                                checksums[1])
        line = cmdline.build(params, append=_append(
            task, (node.instance_info, node.driver_info)))
        self._publish(task, INSTALLER, kernel, ramdisk, lambda mac: line)

    def _publish(self, task, purpose, kernel_url, ramdisk_url, line_for):
        self._write(task, purpose=purpose, local=False,
                    kernel_url=kernel_url, ramdisk_url=ramdisk_url,
                    line_for=line_for)
        publish_dhcp(task, self.dhcp_options(task))
        set_boot_device(task, self.boot_device, persistent=False)
        task.node.save()

    def _write(self, task, line_for=None, **values):
        for port in pxe_ports(task):
            mac = port['address']
            if line_for is not None:
                values['cmdline'] = line_for(mac)
            for path, text in self.config_files(task, mac, **values):
                # Recorded first: a write failing half-way through the
                # ports still leaves nothing clean-up does not know of.
                files.record(task.node, [path])
                atomic_file.write(path, text, parents=True)

    def clean_up_ramdisk(self, task):
        files.remove_recorded(task.node)
        _dhcp().clean_dhcp_opts(task)
        task.node.save()

    def prepare_instance(self, task):
        files.remove_recorded(task.node)
        self._write(task, purpose=LOCAL, local=True)
        _dhcp().clean_dhcp_opts(task)
        set_boot_device(task, management.DISK, persistent=True)
        task.node.save()

    def clean_up_instance(self, task):
        files.remove_recorded(task.node)
        task.node.save()


def _values(task, mac, values):
    return dict(values, node_uuid=task.node.uuid, mac=mac)


def _server_options(bootfile):
    server = CONF.pxe.tftp_server
    return [{'opt_name': 'bootfile-name', 'opt_value': bootfile},
            {'opt_name': 'tftp-server', 'opt_value': server},
            {'opt_name': 'server-ip-address', 'opt_value': server}]


class IPXEBoot(_NetBoot):
    """iPXE: a per-MAC script fetched over HTTP loads kernel and initrd
    over HTTP. Plain PXE firmware first chain-loads iPXE over TFTP."""

    def config_files(self, task, mac, **values):
        # The script every iPXE client chains to first; shared by all
        # nodes, so never recorded or removed.
        atomic_file.write_if_changed(
            files.http_path('boot.ipxe'),
            render.render('ipxe_bootstrap.j2', base_url=files.http_url()),
            parents=True)
        text = render.render('ipxe_config.j2', **_values(task, mac, values))
        return [(files.http_path('ipxe', cmdline.mac_hyphens(mac) + '.ipxe'),
                 text)]

    def dhcp_options(self, task):
        first = (CONF.pxe.uefi_ipxe_bootfile_name
                 if boot_mode(task) == 'uefi'
                 else CONF.pxe.ipxe_bootfile_name)
        opts = _server_options(first)
        opts[0]['opt_name'] = 'tag:!ipxe,bootfile-name'
        opts.append({'opt_name': 'tag:ipxe,bootfile-name',
                     'opt_value': files.http_url('boot.ipxe')})
        return opts


class PXEBoot(_NetBoot):
    """PXE: lpxelinux (BIOS) or GRUB (UEFI) loaded over TFTP read a
    per-MAC config and load kernel and initrd over HTTP."""

    bootif_in_cmdline = False

    def config_files(self, task, mac, **values):
        values = _values(task, mac, values)
        hyphens = cmdline.mac_hyphens(mac)
        result = [(files.tftp_path('pxelinux.cfg', '01-' + hyphens),
                   render.render('pxelinux_config.j2', **values))]
        if not values['local']:
            values = dict(values,
                          cmdline='%s BOOTIF=01-%s' % (values['cmdline'],
                                                       hyphens),
                          kernel_path=_grub_path(values['kernel_url']),
                          ramdisk_path=_grub_path(values['ramdisk_url']))
        result.append((files.tftp_path('grub', 'grub.cfg-01-' + hyphens),
                       render.render('grub_config.j2', **values)))
        return result

    def dhcp_options(self, task):
        return _server_options(CONF.pxe.uefi_pxe_bootfile_name
                               if boot_mode(task) == 'uefi'
                               else CONF.pxe.pxe_bootfile_name)


class HTTPBoot(_NetBoot):
    """UEFI HTTP boot: the firmware loads GRUB from http_url, which reads
    ``grub/grub.cfg-01-<mac>`` from the same server."""

    boot_device = management.UEFIHTTP

    def config_files(self, task, mac, **values):
        values = _values(task, mac, values)
        if not values['local']:
            values['kernel_path'] = _grub_path(values['kernel_url'])
            values['ramdisk_path'] = _grub_path(values['ramdisk_url'])
        return [(self._grub_cfg(mac),
                 render.render('grub_config.j2', **values))]

    @staticmethod
    def _grub_cfg(mac):
        """The node's config, and the shared ``grub/grub.cfg`` leading to
        it: GRUB 2.06 searches per-MAC configs only under a TFTP prefix,
        not under the (http,...) one it has when loaded over HTTP."""
        atomic_file.write_if_changed(
            files.http_path('grub', 'grub.cfg'),
            render.render('grub_bootstrap.j2', base_url=files.http_url()),
            parents=True)
        return files.http_path('grub',
                               'grub.cfg-01-' + cmdline.mac_hyphens(mac))

    def dhcp_options(self, task):
        opts = _server_options(
            files.http_url(CONF.pxe.uefi_pxe_bootfile_name)
            if boot_mode(task) == 'uefi' else GRUB_BIOS_BOOTFILE)
        return opts


def _iso_paths(info):
    kernel, initrd = info.get('boot_iso_kernel'), info.get('boot_iso_ramdisk')
    if bool(kernel) != bool(initrd):
        raise exception.InvalidParameterValue(
            err='boot_iso_kernel and boot_iso_ramdisk go together')
    for path in (kernel, initrd):
        if path and (not path.startswith('/') or '..' in path):
            raise exception.InvalidParameterValue(
                err='Paths inside an ISO are absolute, without "..": %r'
                    % path)
        if path:
            cmdline.check_token(path, 'Path inside the ISO')
    return kernel, initrd


class GrubISOBoot(HTTPBoot):
    """GRUB2 ``loopback``: boots the kernel and initrd inside an ISO,
    which GRUB reads over HTTP with range requests — the ISO is never
    unpacked. The ramdisk is driver_info/deploy_iso; an instance whose
    instance_info names a boot_iso keeps booting that ISO."""

    def get_properties(self):
        props = {k: v for k, v in PROPERTIES.items()
                 if k not in ('deploy_kernel', 'deploy_ramdisk')}
        props['deploy_iso'] = 'URL of the BootOS ISO. Required.'
        return props

    def _check_sources(self, task):
        info = task.node.driver_info or {}
        sources.check(info.get('deploy_iso'), 'driver_info/deploy_iso')
        _iso_paths(info)
        instance = task.node.instance_info or {}
        if instance.get('boot_iso'):
            sources.check(instance['boot_iso'], 'instance_info/boot_iso')
            _iso_paths(instance)

    def prepare_ramdisk(self, task, ramdisk_params=None):
        info = task.node.driver_info or {}
        self._boot_iso(task, RAMDISK, info, info['deploy_iso'],
                       lambda mac: ramdisk_cmdline(task, mac,
                                                   ramdisk_params))

    def prepare_installer(self, task, *args, **kwargs):
        raise exception.InvalidParameterValue(
            err='The grub-iso boot interface boots ISOs; use pxe, ipxe or '
                'http to boot an installer kernel')

    def prepare_instance(self, task):
        info = task.node.instance_info or {}
        if not info.get('boot_iso'):
            return super().prepare_instance(task)
        line = cmdline.build([], append=_append(task, (info,)))
        self._boot_iso(task, 'the instance', info, info['boot_iso'],
                       lambda mac: line, persistent=True)

    def _boot_iso(self, task, purpose, info, source, line_for,
                  persistent=False):
        node = task.node
        files.remove_recorded(node)
        iso_url = sources.fetch(node, source, 'boot.iso',
                                info.get('boot_iso_checksum'))
        kernel, initrd = _iso_paths(info)
        self._write(task, purpose=purpose, local=False,
                    iso_path=_grub_path(iso_url), iso_kernel=kernel,
                    iso_initrd=initrd, line_for=line_for)
        publish_dhcp(task, self.dhcp_options(task))
        set_boot_device(task, self.boot_device, persistent=persistent)
        node.save()

    def config_files(self, task, mac, **values):
        if values['local']:
            return super().config_files(task, mac, **values)
        values = _values(task, mac, values)
        return [(self._grub_cfg(mac),
                 render.render('grub_iso.j2', layouts=render.ISO_LAYOUTS,
                               **values))]
