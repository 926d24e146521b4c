"""``bootos-agent``: the program the BootOS ramdisk starts at boot.

Exit codes tell the ramdisk's init what happened without parsing logs:
0 provisioning finished, 2 the settings cannot work (fix the boot
config), 3 the operator's PRE script failed, 4 any other fatal error.
"""

import argparse
import logging
import signal
import sys
import threading

from bootflow.agent import agent as agent_mod
from bootflow.agent import logbuffer
from bootflow.agent import settings as settings_mod
from bootflow.agent import system

LOG = logging.getLogger('bootflow.agent')


def build_parser():
    """Flags mirror the kernel parameters; every default is None so an
    unset flag leaves the kernel command line's value alone."""
    p = argparse.ArgumentParser(
        prog='bootos-agent',
        description='BootOS agent: identifies this machine to the bootflow '
                    'API and runs the commands the conductor queues.')
    p.add_argument('--api-url', help='API URL (kernel: ipa-api-url= or '
                   'SERVER_ADDR=)')
    p.add_argument('--node-uuid', help='node UUID (kernel: bootflow_node=)')
    p.add_argument('--root', help='machine root or fixture tree '
                   '(default /)')
    p.add_argument('--cmdline-file', help='kernel command line to read '
                   '(default <root>/proc/cmdline)')
    p.add_argument('--developer', action='store_const', const=True,
                   help='developer mode (kernel: DEVELOPER=1)')
    p.add_argument('--pre-url', help='PRE script URL (kernel: PRE=)')
    p.add_argument('--pre-checksum', help='PRE checksum (kernel: '
                   'PRE_CHECKSUM=)')
    p.add_argument('--post-url', help='POST script URL (kernel: POST=)')
    p.add_argument('--post-checksum', help='POST checksum (kernel: '
                   'POST_CHECKSUM=)')
    p.add_argument('--bootif', help='MAC of the PXE interface (kernel: '
                   'BOOTIF=)')
    p.add_argument('--inspect', action='store_const', const=True,
                   help='inspection boot: send the inventory instead of '
                   'looking the node up')
    p.add_argument('--discover', action='store_const', const=True,
                   help='enrol the machine when lookup finds no node')
    p.add_argument('--insecure', action='store_const', const=True,
                   help='do not verify the API TLS certificate (kernel: '
                   'ipa-insecure=1)')
    p.add_argument('--lookup-timeout', type=float,
                   help='seconds to retry lookup while no node matches '
                   '(default %d)' % settings_mod.DEFAULT_LOOKUP_TIMEOUT)
    p.add_argument('--script-timeout', type=float,
                   help='seconds a PRE/POST script may run (default %d)'
                   % settings_mod.DEFAULT_SCRIPT_TIMEOUT)
    p.add_argument('--poll-interval', type=float,
                   help='seconds between polls until the server says '
                   '(default %d)' % settings_mod.DEFAULT_POLL_INTERVAL)
    p.add_argument('--log-level', help='console log level (default INFO)')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    buffer = logbuffer.setup(args.log_level or 'INFO')
    try:
        settings = settings_mod.load(args)
    except (settings_mod.SettingsError, OSError) as exc:
        LOG.error('Bad settings: %s', exc)
        return agent_mod.EXIT_SETTINGS
    LOG.info('bootos-agent %s starting; API %s', agent_mod.agent_version(),
             settings.api_url)
    agent = agent_mod.Agent(settings, log_buffer=buffer)
    summary = system.memory_summary()
    if summary:
        LOG.info('%s', summary)
    # Signals can only be caught in the main thread (tests call main()
    # from others); SIGTERM from init ends the loop with the log shipped.
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        previous = signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    try:
        code = agent.run()
        if code == agent_mod.EXIT_OK and agent.kexec_loaded:
            from bootflow.agent import kexec
            kexec.execute()
        return code
    except KeyboardInterrupt:
        LOG.error('Interrupted')
        return agent_mod.EXIT_FATAL
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


if __name__ == '__main__':
    sys.exit(main())
