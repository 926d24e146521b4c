"""Small helpers for conductor tests."""

import time

from bootflow.db import api as db_api


def make_node(**values):
    values.setdefault('driver', 'fake-hardware')
    for kind in ('bios', 'boot', 'console', 'deploy', 'firmware', 'inspect',
                 'management', 'network', 'power', 'raid', 'rescue',
                 'storage', 'vendor'):
        values.setdefault('%s_interface' % kind, None)
    return db_api.create_node(values)


def wait_for(predicate, timeout=10.0):
    """Poll until ``predicate()`` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('condition not met within %ss' % timeout)
        time.sleep(0.01)


def wait_state(node_id, state, timeout=10.0):
    return wait_for(lambda: (lambda n: n if n['provision_state'] == state
                             and n['reservation'] is None else None)(
        db_api.get_node(node_id)), timeout)
