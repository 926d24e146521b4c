"""Option lists for oslo-config-generator (tools/config/bootflow-config-generator.conf)."""

from bootflow.conf import api
from bootflow.conf import conductor
from bootflow.conf import database
from bootflow.conf import default
from bootflow.conf import drivers
from bootflow.conf import fake


def list_opts():
    return [
        ('DEFAULT', default.opts + drivers.opts),
        ('api', api.opts),
        ('conductor', conductor.opts),
        ('database', database.opts),
        ('fake', fake.opts),
    ]
