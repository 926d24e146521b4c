"""Options of image deployment: where images come from, how they are
checked, the block store agents fetch from, and disk erasure."""

from oslo_config import cfg

DOWNLOAD_SOURCES = ('blocks', 'http', 'direct')

deploy_opts = [
    cfg.StrOpt('image_download_source', default='blocks',
               choices=[
                   ('blocks', 'The conductor splits the image into '
                    'content-addressed blocks; agents fetch only the blocks '
                    'their disk lacks, from the conductor and the mirrors '
                    'in [image_store]mirrors.'),
                   ('http', 'The conductor caches the whole image and '
                    'serves it from its HTTP server; agents stream it.'),
                   ('direct', 'Agents stream the image from its '
                    'image_source URL themselves.')],
               help='How agents get the image of a "direct" deploy. A node '
                    'overrides it with instance_info or driver_info '
                    '"image_download_source".'),
    cfg.IntOpt('max_image_size_mb', default=131072, min=1,
               help='Largest image, in MiB, the conductor downloads or an '
                    'agent writes; a source that sends more (or never '
                    'ends) fails the deploy.'),
    cfg.IntOpt('image_download_timeout', default=7200, min=1,
               help='Seconds a conductor may spend downloading one image '
                    'before the deploy fails.'),
    cfg.IntOpt('image_read_timeout', default=60, min=1,
               help='Seconds without data after which a download (by the '
                    'conductor or an agent) fails.'),
    cfg.IntOpt('qemu_img_timeout', default=1800, min=1,
               help='Seconds qemu-img may take to inspect or convert an '
                    'image.'),
    cfg.IntOpt('configdrive_size_mb', default=64, min=1,
               help='Size of the config drive partition (Ironic\'s is 64 '
                    'MiB).'),
    cfg.IntOpt('erase_devices_metadata_priority', default=99, min=0,
               help='Priority of the erase_devices_metadata clean step in '
                    'automated cleaning (0 disables it).'),
    cfg.IntOpt('erase_devices_priority', default=0, min=0,
               help='Priority of the erase_devices clean step in automated '
                    'cleaning (0 disables it). It uses hardware secure '
                    'erase, which virtual disks lack.'),
    cfg.BoolOpt('erase_devices_allow_shred', default=False,
                help='Let erase_devices overwrite a disk with zeros when it '
                     'has no hardware secure erase, instead of failing.'),
    cfg.BoolOpt('power_off_after_deploy_failure', default=True,
                help='Power a node off when its deploy fails, so it does '
                     'not sit in the ramdisk or boot a half-written disk.'),
]

agent_opts = [
    cfg.BoolOpt('allow_md5_checksum', default=False,
                help='Accept md5 image checksums. Off: md5 collisions are '
                     'cheap, so an md5 only proves accidental integrity.'),
    cfg.IntOpt('image_fetch_workers', default=4, min=1, max=32,
               help='Blocks an agent fetches in parallel.'),
    cfg.FloatOpt('progress_interval', default=2.0, min=0.1,
                 help='Seconds between an agent\'s progress reports while '
                      'it writes an image or erases a disk.'),
]

image_store_opts = [
    cfg.StrOpt('blocks_dir', default='',
               help='Where the block store keeps blocks and manifests. '
                    'Empty: <[deploy]http_root>/blocks, which the built-in '
                    'HTTP server serves to agents. Elsewhere, serve it '
                    'yourself and list its URL in "mirrors".'),
    cfg.IntOpt('block_size_mb', default=4, min=1, max=64,
               help='Size of one block, in MiB. Changing it re-splits '
                    'images on their next use.'),
    cfg.ListOpt('mirrors', default=[],
                help='More base URLs serving this block store\'s layout '
                     '(<url>/<2 hex>/<sha256>), e.g. other conductors or a '
                     'static web server. Agents measure each, prefer the '
                     'fastest and fail over between them.'),
    cfg.IntOpt('origin_fetch_workers', default=4, min=1, max=32,
               help='Blocks the conductor fetches in parallel from the '
                    'mirrors of a block-distributed image_source.'),
]


def register_opts(conf):
    conf.register_opts(deploy_opts, group='deploy')
    conf.register_opts(agent_opts, group='agent')
    conf.register_opts(image_store_opts, group='image_store')
