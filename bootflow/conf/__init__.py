"""bootflow's configuration: one module per option group, registered here.

Option names follow Ironic's wherever Ironic has the option, so an operator's
``ironic.conf`` sections carry over with little editing.
"""

from oslo_config import cfg

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

CONF = cfg.CONF

default.register_opts(CONF)
drivers.register_opts(CONF)
api.register_opts(CONF)
conductor.register_opts(CONF)
database.register_opts(CONF)
fake.register_opts(CONF)
instances.register_opts(CONF)
netboot.register_opts(CONF)
dhcp.register_opts(CONF)
bootos.register_opts(CONF)
imaging.register_opts(CONF)
bmc.register_opts(CONF)
services.register_opts(CONF)
