"""Inventory collectors, loaded by name from ``bootflow.agent.collectors``.

Each is ``f(system, context=None) -> (value, notes)``: ``value`` goes into
the inventory under the collector's name (``bmc`` is merged into the top
level, where Ironic keeps bmc_address); ``notes`` are human-readable lines
saying what could not be collected and why.  A collector never raises for
a missing file or tool: absence is a normal answer on real hardware.
"""

from bootflow.agent.collectors.base import Context  # noqa: F401
from bootflow.agent.collectors.base import normalize_mac  # noqa: F401
from bootflow.agent.collectors.base import resolve_bootif  # noqa: F401
from bootflow.agent.collectors.compute import cpu  # noqa: F401
from bootflow.agent.collectors.compute import memory  # noqa: F401
from bootflow.agent.collectors.firmware import boot  # noqa: F401
from bootflow.agent.collectors.firmware import hostname  # noqa: F401
from bootflow.agent.collectors.firmware import system_vendor  # noqa: F401
from bootflow.agent.collectors.network import bmc  # noqa: F401
from bootflow.agent.collectors.network import interfaces  # noqa: F401
from bootflow.agent.collectors.storage import disks  # noqa: F401

MERGED = ('bmc',)
"""Collectors whose dict value is merged into the inventory's top level."""
