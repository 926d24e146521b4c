"""DHCP providers: how booting nodes learn where their boot program is.

See bootflow.dhcp.base for the interface and the loader.
"""

from bootflow.dhcp.base import get_provider  # noqa: F401
