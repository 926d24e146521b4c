"""``baremetal node progress``: how far a node's image write or disk
erasure got, as a progress bar.

The agent's latest report is on the node (``driver_internal_info``
``agent_progress``), so this only reads the node; it works with every
credential ``baremetal`` already uses.
"""

import sys
import time

from osc_lib.command import command
from osc_lib import exceptions

BUSY = ('deploying', 'wait call-back', 'cleaning', 'clean wait')
FAILED = ('deploy failed', 'clean failed', 'error')
WIDTH = 30


def _size(n):
    n = float(n or 0)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if n < 1024 or unit == 'TiB':
            return '%.1f %s' % (n, unit) if unit != 'B' else '%d B' % n
        n /= 1024


def render(node):
    """One line: bar, percent, bytes, blocks, step and phase."""
    info = node.get('driver_internal_info') or {}
    prog = info.get('agent_progress') or {}
    step = node.get('deploy_step') or node.get('clean_step') or {}
    pct = prog.get('percent')
    filled = int(WIDTH * (pct or 0) / 100)
    bar = '[%s%s]' % ('#' * filled, '.' * (WIDTH - filled))
    parts = [bar, '%5.1f%%' % pct if pct is not None else '    ?%']
    if prog.get('bytes_total'):
        parts.append('%s / %s' % (_size(prog.get('bytes_written')),
                                  _size(prog['bytes_total'])))
    if prog.get('blocks_total') is not None:
        parts.append('blocks: %s fetched, %s reused, %s zero of %s' % (
            prog.get('blocks_fetched', 0), prog.get('blocks_reused', 0),
            prog.get('blocks_zero', 0), prog['blocks_total']))
    where = prog.get('step') or (
        '%s.%s' % (step['interface'], step['step']) if step else None)
    parts.append('%s%s (%s)' % (
        node.get('provision_state'), ' %s' % where if where else '',
        prog.get('phase') or 'no report yet'))
    return '  '.join(parts)


class ShowProgress(command.Command):
    """Show the progress of a node's image write or disk erasure."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('node', help='Name or UUID of the node.')
        parser.add_argument('--wait', type=int, nargs='?', const=0,
                            metavar='TIMEOUT',
                            help='Follow until the node leaves deploying/'
                                 'cleaning (0: no time limit).')
        parser.add_argument('--interval', type=float, default=1.0,
                            help='Seconds between refreshes with --wait.')
        return parser

    def _node(self, ident):
        http = self.app.client_manager.baremetal.http_client
        _, doc = http.json_request(
            'GET', '/v1/nodes/%s' % ident,
            headers={'X-OpenStack-Ironic-API-Version': '1.87'})
        return doc

    def take_action(self, args):
        out = self.app.stdout
        tty = getattr(out, 'isatty', lambda: False)()
        deadline = (time.monotonic() + args.wait) if args.wait else None
        last = None
        while True:
            node = self._node(args.node)
            line = render(node)
            if line != last:
                out.write(('\r%s' if tty else '%s\n') % line)
                out.flush()
                last = line
            if args.wait is None or node['provision_state'] not in BUSY:
                break
            if deadline and time.monotonic() > deadline:
                raise exceptions.CommandError(
                    'Node %s is still %s after %s seconds'
                    % (args.node, node['provision_state'], args.wait))
            time.sleep(args.interval)
        if tty:
            out.write('\n')
        if node['provision_state'] in FAILED:
            raise exceptions.CommandError('Node %s: %s' % (
                args.node, node.get('last_error') or node['provision_state']))


if __name__ == '__main__':   # pragma: no cover
    sys.exit('run as: baremetal node progress NODE')
