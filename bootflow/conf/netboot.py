"""Network boot options: where boot files go, how nodes fetch them.

Names follow Ironic's ``[pxe]``/``[deploy]`` options where Ironic has one,
so an operator's settings carry over. Paths default under ``state_path``
so the all-in-one runs as an unprivileged user too.
"""

from oslo_config import cfg
from oslo_utils import netutils

default_opts = [
    cfg.HostAddressOpt('my_ip',
                       default=netutils.get_my_ipv4(),
                       sample_default='127.0.0.1',
                       help='Address of this host that nodes can reach; '
                            'the default for the HTTP and TFTP server '
                            'addresses given to nodes.'),
]

pxe_opts = [
    cfg.StrOpt('tftp_root', default='$state_path/tftpboot',
               help='TFTP root: only the small network bootstrap '
                    'programs and pxelinux configs live here; kernels and '
                    'ramdisks are fetched over HTTP.'),
    cfg.StrOpt('tftp_server', default='$my_ip',
               help='TFTP server address given to nodes over DHCP.'),
    cfg.StrOpt('pxe_bootfile_name', default='lpxelinux.0',
               help='Bootstrap program for BIOS nodes of the "pxe" boot '
                    'interface. lpxelinux (not pxelinux) is what can load '
                    'kernels over HTTP.'),
    cfg.StrOpt('uefi_pxe_bootfile_name', default='grubx64.efi',
               help='Bootstrap program for UEFI nodes of the "pxe" boot '
                    'interface (GRUB, reading grub.cfg-01-<mac>).'),
    cfg.StrOpt('ipxe_bootfile_name', default='undionly.kpxe',
               help='iPXE build BIOS nodes chain-load over TFTP.'),
    cfg.StrOpt('uefi_ipxe_bootfile_name', default='snponly.efi',
               help='iPXE build UEFI nodes chain-load over TFTP.'),
    cfg.StrOpt('kernel_append_params', default='nofb vga=normal',
               help='Kernel parameters added to every network boot; a '
                    'node\'s driver_info or instance_info '
                    'kernel_append_params replaces them.'),
    cfg.StrOpt('instance_master_path', default='$state_path/master_images',
               help='Master copies of kernels, ramdisks and ISOs, each '
                    'downloaded once and hard-linked into http_root for '
                    'every node that boots it.'),
    cfg.IntOpt('image_cache_size', default=20480, min=0,
               help='MiB the master image cache may hold; 0: no limit. '
                    'Images in use by a node are never evicted.'),
    cfg.IntOpt('image_cache_ttl', default=10080, min=0,
               help='Minutes an image no node uses stays cached; 0: '
                    'forever.'),
    cfg.IntOpt('image_cache_clean_interval', default=600, min=0,
               help='Seconds between evictions of expired images from '
                    'the master cache (they are also evicted before each '
                    'download); 0 disables the periodic eviction.'),
]

deploy_opts = [
    cfg.StrOpt('http_root', default='$state_path/httpboot',
               help='Directory served over HTTP to booting nodes: '
                    'per-node kernels, ramdisks, ISOs and boot scripts.'),
    cfg.StrOpt('http_url',
               help='Base URL nodes fetch http_root from. Unset: '
                    'http://<my_ip>:<http_server_port>.'),
    cfg.BoolOpt('http_server_enabled', default=True,
                help='Serve http_root from the all-in-one "bootflow" '
                     'process. Turn off when nginx or another web server '
                     'serves it (see etc/bootflow/'
                     'nginx-httpboot.conf.sample).'),
    cfg.HostAddressOpt('http_server_host', default='0.0.0.0',
                       help='Address the built-in boot file server '
                            'listens on.'),
    cfg.PortOpt('http_server_port', default=8088,
                help='Port the built-in boot file server listens on.'),
    cfg.StrOpt('default_boot_mode', default='uefi',
               choices=['uefi', 'bios'],
               help='Boot mode assumed for a node whose boot_mode is not '
                    'known (from its BMC or a boot_mode capability); it '
                    'picks the bootstrap program offered over DHCP.'),
]

netinstall_opts = [
    cfg.StrOpt('cache_dir', default='$state_path/netinstall',
               help='Pre-seeded installer kernels and initrds, as '
                    '<cache_dir>/<distro>/<release>/<arch>/{kernel,'
                    'initrd}; used instead of downloading from the '
                    'install repository when present.'),
]


def register_opts(conf):
    conf.register_opts(default_opts)
    conf.register_opts(pxe_opts, group='pxe')
    conf.register_opts(deploy_opts, group='deploy')
    conf.register_opts(netinstall_opts, group='netinstall')
