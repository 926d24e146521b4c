"""Keeping the global CONF as the next test expects it."""

import contextlib

GROUPS = ('glance', 'neutron', 'service_user')


@contextlib.contextmanager
def plugin_options_removed(conf):
    """Unregister the auth plugin options a test made keystoneauth1
    register: some are required (auth_url), so they would make the next
    test's ``CONF([])`` fail."""
    before = {g: set(conf._groups[g]._opts) if g in conf._groups else set()
              for g in GROUPS}
    try:
        yield
    finally:
        conf.reset()
        for group in GROUPS:
            if group not in conf._groups:
                continue
            options = conf._groups[group]._opts
            for name in set(options) - before[group]:
                conf.unregister_opt(options[name]['opt'], group)
