"""Options of the BMC drivers: Redfish (sushy) and IPMI (ipmitool).

The timeouts are what keeps a dead BMC from holding a worker: every
request has a connect and a read timeout, retries are counted, and waits
for a state change are bounded.
"""

from oslo_config import cfg

redfish_opts = [
    cfg.IntOpt('connection_attempts', default=3, min=1,
               help='Attempts to reach a Redfish BMC before an operation '
                    'fails (connection errors only; errors the BMC '
                    'returns are not retried).'),
    cfg.FloatOpt('connection_retry_interval', default=1.0, min=0,
                 help='Seconds between connection attempts.'),
    cfg.FloatOpt('connect_timeout', default=5.0, min=0.1,
                 help='Seconds to wait for a TCP/TLS connection to the BMC.'),
    cfg.FloatOpt('read_timeout', default=30.0, min=0.1,
                 help='Seconds to wait for the BMC to answer a request.'),
    cfg.IntOpt('power_state_change_timeout', default=60, min=1,
               help='Seconds to wait for a Redfish system to report the '
                    'power state it was asked for.'),
    cfg.FloatOpt('power_poll_interval', default=1.0, min=0.01,
                 help='Seconds between power state reads while waiting for '
                      'a change.'),
    cfg.StrOpt('auth_type', default='auto',
               choices=['basic', 'session', 'auto'],
               help='Default Redfish authentication, overridden by '
                    'driver_info/redfish_auth_type: session (a session '
                    'token), basic (HTTP basic on each request) or auto '
                    '(session, falling back to basic).'),
    cfg.IntOpt('session_cache_size', default=1000, min=1,
               help='Redfish connections (with their sessions) kept open '
                    'for reuse, one per BMC address and credentials.'),
    cfg.IntOpt('firmware_update_timeout', default=1800, min=1,
               help='Seconds a firmware update may take on the BMC before '
                    'the step fails.'),
    cfg.FloatOpt('firmware_poll_interval', default=2.0, min=0.01,
                 help='Seconds between reads of a firmware update task.'),
    cfg.IntOpt('bios_apply_timeout', default=600, min=1,
               help='Seconds to wait for BIOS settings to take effect '
                    '(including the reboot that applies them).'),
    cfg.IntOpt('raid_timeout', default=600, min=1,
               help='Seconds to wait for RAID volumes to be created or '
                    'deleted.'),
    cfg.IntOpt('vmedia_timeout', default=60, min=1,
               help='Seconds to wait for virtual media to be inserted or '
                    'ejected.'),
]

ipmi_opts = [
    cfg.IntOpt('command_retry_timeout', default=60, min=1,
               help='Seconds an IPMI command is retried for before it '
                    'fails.'),
    cfg.FloatOpt('min_command_interval', default=0.5, min=0,
                 help='Minimum seconds between two commands to the same '
                      'BMC: many BMCs drop sessions opened too fast.'),
    cfg.FloatOpt('command_timeout', default=10.0, min=0.5,
                 help='Seconds one ipmitool run may take before it is '
                      'killed.'),
    cfg.IntOpt('power_state_change_timeout', default=60, min=1,
               help='Seconds to wait for the BMC to report the power state '
                    'it was asked for.'),
    cfg.FloatOpt('power_poll_interval', default=1.0, min=0.01,
                 help='Seconds between power state reads while waiting for '
                      'a change.'),
    cfg.StrOpt('cipher_suite',
               help='IPMI 2.0 cipher suite (ipmitool -C), used when a '
                    'node\'s driver_info/ipmi_cipher_suite is not set. '
                    'Unset: ipmitool\'s default.'),
    cfg.BoolOpt('debug', default=False,
                help='Run ipmitool with -v and log its output.'),
    cfg.StrOpt('ipmitool_path', default='ipmitool',
               help='The ipmitool binary.'),
]


def register_opts(conf):
    conf.register_group(cfg.OptGroup('redfish', title='Redfish driver'))
    conf.register_opts(redfish_opts, group='redfish')
    conf.register_group(cfg.OptGroup('ipmi', title='IPMI driver'))
    conf.register_opts(ipmi_opts, group='ipmi')
