"""Option lists for oslo-config-generator.

See tools/config/bootflow-config-generator.conf.
"""

from oslo_config import cfg
from oslo_db import options as db_options

from bootflow.conf import api
from bootflow.conf import bmc
from bootflow.conf import bootos
from bootflow.conf import conductor
from bootflow.conf import database
from bootflow.conf import default
from bootflow.conf import dhcp
from bootflow.conf import drivers
from bootflow.conf import fake
from bootflow.conf import imaging
from bootflow.conf import instances
from bootflow.conf import netboot
from bootflow.conf import services


def list_opts():
    return [
        ('DEFAULT', default.opts + drivers.opts + netboot.default_opts),
        ('agent', bootos.agent_opts + imaging.agent_opts),
        ('api', api.opts + bootos.api_opts),
        ('auto_discovery', bootos.discovery_opts),
        ('bootos', bootos.bootos_opts),
        ('conductor', conductor.opts),
        ('database', database.opts),
        ('deploy', netboot.deploy_opts + imaging.deploy_opts),
        ('dhcp', dhcp.opts_dhcp),
        ('dnsmasq', dhcp.opts_dnsmasq),
        ('fake', fake.opts),
        ('glance', services.sample_opts('glance')),
        ('image_store', imaging.image_store_opts),
        ('inspector', bootos.inspector_opts),
        ('instances', instances.opts),
        ('ipmi', bmc.ipmi_opts),
        ('netinstall', netboot.netinstall_opts),
        ('neutron', services.sample_opts('neutron')),
        ('pxe', netboot.pxe_opts),
        ('redfish', bmc.redfish_opts),
    ]


def update_opt_defaults():
    """Show bootflow's own defaults of other libraries' options in the
    sample (the embedded SQLite database instead of oslo.db's none)."""
    # oslo.db's list_opts copies its option objects; defaults set on those
    # objects are what the generator prints.
    cfg.set_defaults(db_options.database_opts,
                     connection=database.DEFAULT_CONNECTION)
