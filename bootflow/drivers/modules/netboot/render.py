"""Boot configs from Jinja2 templates.

Templates hold the syntax of each boot loader; everything put into them
was validated beforehand (URLs and command lines by
:mod:`~bootflow.drivers.modules.netboot.cmdline`), so no escaping is done
here. ``StrictUndefined`` makes a missing value an error, never an empty
string in a boot config.
"""

import os

import jinja2

TEMPLATES = os.path.join(os.path.dirname(__file__), 'templates')

# Where common ISOs keep their kernel and initrd, tried in order when the
# node does not say (instance_info boot_iso_kernel / boot_iso_ramdisk).
ISO_LAYOUTS = (
    ('/boot/vmlinuz', '/boot/initrd.gz'),        # bootflow-build-bootos
    ('/casper/vmlinuz', '/casper/initrd'),              # Ubuntu
    ('/images/pxeboot/vmlinuz', '/images/pxeboot/initrd.img'),  # EL, Fedora
    ('/isolinux/vmlinuz', '/isolinux/initrd.img'),
    ('/install.amd/vmlinuz', '/install.amd/initrd.gz'),  # Debian
    ('/live/vmlinuz', '/live/initrd.img'),               # Debian live
    ('/boot/x86_64/loader/linux', '/boot/x86_64/loader/initrd'),  # SUSE
)

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    autoescape=False)


def render(template, **values):
    return _ENV.get_template(template).render(**values)
