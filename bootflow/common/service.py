"""Process start-up shared by every command: config, logging, database."""

import gc
import sys

from oslo_log import log
import oslo_messaging as messaging

from bootflow.conf import CONF
from bootflow.db import migration

LOG = log.getLogger(__name__)


def prepare(argv=None, default_config_files=None):
    """Parse ``--config-file`` and friends and set up logging."""
    log.register_options(CONF)
    # Registers transport_url and friends (a public side effect of parse),
    # so commands can read them before any transport exists.
    messaging.TransportURL.parse(CONF)
    log.set_defaults(default_log_levels=log.get_default_log_levels() + [
        'cheroot=WARNING', 'alembic=WARNING', 'stevedore=WARNING'])
    CONF(sys.argv[1:] if argv is None else argv, project='bootflow',
         default_config_files=default_config_files)
    log.setup(CONF, 'bootflow')


def ensure_schema():
    """Bring the database to the current schema (idempotent)."""
    migration.upgrade('head')


def tune_gc():
    """Call once start-up is done.

    A full node list allocates ~100,000 short-lived objects; with Python's
    default thresholds that triggers a full collection every few lists,
    which walks every long-lived object and doubles those lists' latency.
    Freezing what start-up created and collecting the young generation
    less often removes those pauses.
    """
    gc.freeze()
    gc.set_threshold(10000, 20, 20)
