"""How the conductor reaches other OpenStack services: ``[glance]`` for
images named by UUID, ``[neutron]`` for the ``neutron`` network interface.

Each group carries keystoneauth1's own session (TLS, timeout), auth
(``auth_type`` and the plugin's options, e.g. ``auth_url``, ``username``)
and adapter (``service_type``, ``valid_interfaces``, ``region_name``,
``endpoint_override``, retries) options, as Ironic's groups of the same
names do, so an operator's sections carry over and any keystoneauth
plugin works, ``auth_type = none`` with ``endpoint_override`` included.
The plugin options are registered when a plugin is loaded; the sample
lists those of the password plugins, the usual ones.
"""

import copy

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

# Catalog types the adapters look up; Ironic's defaults.
SERVICE_TYPES = {'glance': 'image', 'neutron': 'network'}
VALID_INTERFACES = ['internal', 'public']
# Plugins whose options the sample shows (as Ironic's sample does).
SAMPLE_PLUGINS = ('password', 'v2password', 'v3password')

glance_opts = [
    cfg.IntOpt('num_retries', default=0, min=0,
               help='Extra attempts of a request to the image service '
                    'that could not connect or got a 5xx answer, before '
                    'the deploy fails. Used when the adapter options '
                    'connect_retries / status_code_retries are not set.'),
]

neutron_opts = [
    cfg.IntOpt('retries', default=3, min=0,
               help='Extra attempts of a request to the networking '
                    'service that could not connect or got a 5xx answer. '
                    'Used when the adapter options connect_retries / '
                    'status_code_retries are not set.'),
    cfg.IntOpt('request_timeout', default=45, min=1,
               help='Seconds a request to the networking service may '
                    'take. Used when the session option "timeout" is not '
                    'set.'),
]

glance_group = cfg.OptGroup(
    'glance', title='Image service (Glance)',
    help='How the conductor reaches the image service for an '
         'instance_info/image_source that is an image UUID or '
         'glance://UUID. Unset auth_type: such image sources are refused.')
neutron_group = cfg.OptGroup(
    'neutron', title='Networking service (Neutron)',
    help='How the "neutron" network interface reaches the networking '
         'service to check and bind VIFs.')

OWN_OPTS = {'glance': glance_opts, 'neutron': neutron_opts}
GROUPS = {'glance': glance_group, 'neutron': neutron_group}


def _adapter_defaults(opts, group):
    cfg.set_defaults(opts, service_type=SERVICE_TYPES[group],
                     valid_interfaces=list(VALID_INTERFACES))


def register_opts(conf):
    for name, group in GROUPS.items():
        conf.register_group(group)
        conf.register_opts(OWN_OPTS[name], group=group)
        ks_loading.register_session_conf_options(conf, name)
        ks_loading.register_auth_conf_options(conf, name)
        adapter = ks_loading.register_adapter_conf_options(
            conf, name, include_deprecated=False)
        _adapter_defaults(adapter, name)


def _add_missing(opts, more):
    names = {opt.dest for opt in opts}
    for opt in more:
        if opt.dest not in names:
            opts.append(opt)
            names.add(opt.dest)


def sample_opts(group):
    """The group's options for oslo-config-generator: ours, the common
    auth ones, those of the password plugins and keystoneauth's session
    and adapter options with this group's defaults. Copies, so setting
    the defaults here never touches the registered options."""
    opts = copy.deepcopy(OWN_OPTS[group])
    _add_missing(opts, ks_loading.get_auth_common_conf_options())
    for name in SAMPLE_PLUGINS:
        _add_missing(opts, ks_loading.get_auth_plugin_conf_options(name))
    _add_missing(opts, ks_loading.get_session_conf_options())
    adapter = ks_loading.get_adapter_conf_options(include_deprecated=False)
    _adapter_defaults(adapter, group)
    _add_missing(opts, adapter)
    return sorted(opts, key=lambda opt: opt.dest)
