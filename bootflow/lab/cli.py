"""``bootflow lab``: QEMU machines behind a Redfish and IPMI BMC, here only.

  bootflow lab create [--count N] [--memory MiB] [--cpus N] [--disk-size S]
                      [--api-port P] [--http-port P] [--bmc-port P]
                      [--username U --password W] [--ipmi-port P]
  bootflow lab start | stop | destroy | list [--json]
  bootflow lab enroll [--url URL] [--driver redfish|ipmi]
                      [--deploy-kernel URL --deploy-ramdisk URL]
                      [--boot-interface I] [--deploy-interface I]
                      [--inspect-interface I] [--resource-class C] [--token T]
  bootflow lab console NAME [--no-follow] [--lines N]

Every command takes --lab-dir (default: $BOOTFLOW_LAB_DIR, else
${XDG_STATE_HOME:-~/.local/state}/bootflow/lab).
"""

import argparse
import json
import os
import sys
import time

from bootflow.lab import enroll as enrolllib
from bootflow.lab import lab as lablib
from bootflow.lab import machine as machinelib
from bootflow.lab import state as statelib

COLUMNS = ('name', 'uuid', 'mac', 'power', 'bmc_url', 'ipmi', 'serial_log')


def _parser():
    parser = argparse.ArgumentParser(
        prog='bootflow lab', description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--lab-dir', help='the lab directory')
    sub = parser.add_subparsers(dest='command', required=True)
    create = sub.add_parser('create', parents=[common],
                            help='create the lab and start it (all off)')
    defaults = statelib.DEFAULTS
    create.add_argument('--count', type=int, default=defaults['count'])
    create.add_argument('--memory', type=int, default=defaults['memory_mib'],
                        metavar='MiB')
    create.add_argument('--cpus', type=int, default=defaults['cpus'])
    create.add_argument('--disk-size', default=defaults['disk_size'])
    create.add_argument('--nics', type=int, default=defaults['nics'],
                        help='NICs per machine; the first network-boots')
    create.add_argument('--ipmi-port', type=int,
                        default=defaults['ipmi_port'],
                        help='first UDP port of the machines\' IPMI (one '
                             'each, counting up; 0: no IPMI)')
    for name in ('api', 'http', 'bmc'):
        create.add_argument('--%s-port' % name, type=int,
                            default=defaults['%s_port' % name])
    create.add_argument('--username', default=defaults['username'])
    create.add_argument('--password', default=defaults['password'])
    for name, text in (('start', 'start QEMU and the BMC (machines off)'),
                       ('stop', 'stop every process, keep the state'),
                       ('destroy', 'stop, then remove the lab')):
        sub.add_parser(name, parents=[common], help=text)
    listing = sub.add_parser('list', parents=[common], help='the machines')
    listing.add_argument('--json', action='store_true')
    enroll = sub.add_parser('enroll', parents=[common],
                            help='one redfish node per machine')
    enroll.add_argument('--url', default='http://127.0.0.1:6385')
    enroll.add_argument('--token', default=os.environ.get('OS_TOKEN'))
    enroll.add_argument('--deploy-kernel')
    enroll.add_argument('--deploy-ramdisk')
    for field, value in enrolllib.DEFAULTS.items():
        enroll.add_argument('--' + field.replace('_', '-'), default=value)
    console = sub.add_parser('console', parents=[common],
                             help='show (and follow) a serial console')
    console.add_argument('name')
    console.add_argument('--no-follow', action='store_true')
    console.add_argument('--lines', type=int, default=50)
    return parser


def _create(lab, args):
    lab.create(count=args.count, memory_mib=args.memory, cpus=args.cpus,
               disk_size=args.disk_size, api_port=args.api_port,
               http_port=args.http_port, bmc_port=args.bmc_port,
               username=args.username, password=args.password,
               nics=args.nics, ipmi_port=args.ipmi_port)
    print('lab in %s: %d machines, BMC %s (ready in %.1fs)'
          % (lab.lab_dir, len(lab.machines), lab.bmc_url,
             lab.timings['create']))
    print('\nThe bootflow service serving this lab needs:')
    for section, options in lab.service_config().items():
        print('[%s]' % section)
        for key, value in options.items():
            print('%s = %s' % (key, value))
    print('(and its API on 127.0.0.1:%d)' % lab.config['api_port'])
    return 0


def _list(lab, args):
    rows = lab.rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows])
              for c in COLUMNS}
    print('  '.join(c.upper().ljust(widths[c]) for c in COLUMNS).rstrip())
    for row in rows:
        print('  '.join(str(row[c]).ljust(widths[c])
                        for c in COLUMNS).rstrip())
    return 0


def _enroll(lab, args):
    nodes = lab.enroll(args.url, token=args.token,
                       deploy_kernel=args.deploy_kernel,
                       deploy_ramdisk=args.deploy_ramdisk,
                       **{f: getattr(args, f) for f in enrolllib.DEFAULTS})
    for node in nodes:
        print('%s %s %s' % (node['name'], node['uuid'],
                            node.get('provision_state')))
    return 0


def _console(lab, args):
    path = lab.machine(args.name).serial_log
    try:
        with open(path, 'rb') as stream:
            lines = stream.read().splitlines(keepends=True)
            sys.stdout.buffer.write(b''.join(lines[-args.lines:]))
            sys.stdout.flush()
            while not args.no_follow:
                chunk = stream.read()
                if chunk:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                else:
                    time.sleep(0.2)
    except FileNotFoundError:
        print('no serial log yet: %s' % path, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    lab = lablib.Lab(args.lab_dir)
    actions = {
        'create': _create,
        'start': lambda lab, args: lab.start() and _list(lab, args),
        'stop': lambda lab, args: lab.stop() and 0,
        'destroy': lambda lab, args: lab.destroy() and 0,
        'list': _list,
        'enroll': _enroll,
        'console': _console,
    }
    if args.command == 'start':
        args.json = False
    try:
        return actions[args.command](lab, args) or 0
    except (lablib.LabError, machinelib.MachineError,
            enrolllib.EnrollError, KeyError,
            enrolllib.requests.RequestException) as exc:
        print('bootflow lab %s: %s' % (args.command,
                                       exc.args[0] if exc.args else exc),
              file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
