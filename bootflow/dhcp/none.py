"""The ``none`` DHCP provider: the operator's DHCP server is on its own.

For sites whose DHCP server bootflow cannot configure (a corporate one, a
router): the operator points it at the boot programs by hand, once for
all nodes. Nothing is published or withdrawn, so the methods do nothing
-- they do not even validate the options, which no server will see.
"""

from bootflow.dhcp import base


class NoneDHCP(base.BaseDHCP):

    def update_dhcp_opts(self, task, options):
        pass

    def clean_dhcp_opts(self, task):
        pass

    def supports_ipxe_tag(self):
        """False: bootflow cannot know whether the operator's server
        tells iPXE clients apart, so boot interfaces must not rely on
        ``tag:ipxe`` options reaching anyone."""
        return False
