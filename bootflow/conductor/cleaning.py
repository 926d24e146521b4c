"""Cleaning policy; the cleaning itself is a flow (flows.builders)."""

from bootflow.conf import CONF


def automated_clean_enabled(node):
    """The node's own setting wins over the conductor's default."""
    if node.automated_clean is not None:
        return node.automated_clean
    return CONF.conductor.automated_clean
