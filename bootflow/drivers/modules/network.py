from bootflow.drivers.interfaces import network


class NoopNetwork(network.NetworkInterface):
    """VIF bookkeeping only; no switch is touched."""


class FlatNetwork(network.NetworkInterface):
    """One flat provisioning/tenant network: the node's ports are used as
    they are cabled; nothing to reconfigure between phases."""
