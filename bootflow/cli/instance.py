"""``baremetal instance ...``: bootflow's launch API from the OpenStack CLI.

Loaded by python-ironicclient's ``baremetal`` (and ``openstack
baremetal``) command through the ``openstack.baremetal.v1`` entry point
group, so it uses the same endpoint, credentials and options as every
other ``baremetal`` command; nothing to configure twice.
"""

import json
import time

from osc_lib.command import command
from osc_lib import exceptions

PATH = '/bootflow/v1/instances'
COLUMNS = ('uuid', 'name', 'state', 'current_task', 'resource_class',
           'traits', 'candidate_nodes', 'image_source', 'max_attempts',
           'attempts', 'node_uuid', 'allocation_uuid', 'last_error',
           'conductor', 'created_at', 'updated_at')


def _http(app):
    return app.client_manager.baremetal.http_client


def _row(doc):
    return tuple(doc.get(c) for c in COLUMNS)


def _wait(app, ident, timeout):
    """Until the launch ends; a failed launch is a failed command."""
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        _, doc = _http(app).json_request('GET', '%s/%s' % (PATH, ident))
        if doc['state'] == 'active':
            return doc
        if doc['state'] == 'error':
            raise exceptions.CommandError(
                'Instance %s failed: %s' % (ident, doc['last_error']))
        if deadline and time.monotonic() > deadline:
            raise exceptions.CommandError(
                'Instance %s is still %s (%s) after %s seconds'
                % (ident, doc['state'], doc['current_task'], timeout))
        time.sleep(1)


class LaunchInstance(command.ShowOne):
    """Launch an instance: schedule a node and deploy it, retrying other
    nodes when a deploy fails."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--resource-class', required=True)
        parser.add_argument('--trait', action='append', default=[],
                            dest='traits', help='Required trait (repeat).')
        parser.add_argument('--candidate-node', action='append', default=[],
                            dest='candidate_nodes',
                            help='Only consider this node (repeat).')
        parser.add_argument('--image', required=True, dest='image_source',
                            help='Image URL (or image reference).')
        parser.add_argument('--instance-info', metavar='JSON',
                            help='Extra instance_info for the node.')
        parser.add_argument('--configdrive', help='Config drive contents.')
        parser.add_argument('--max-attempts', type=int,
                            help='Nodes to try before giving up.')
        parser.add_argument('--name')
        parser.add_argument('--wait', type=int, nargs='?', const=0,
                            metavar='TIMEOUT',
                            help='Wait until active (0: no time limit).')
        return parser

    def take_action(self, args):
        body = {'resource_class': args.resource_class,
                'image_source': args.image_source}
        for key in ('traits', 'candidate_nodes', 'configdrive', 'name',
                    'max_attempts'):
            if getattr(args, key):
                body[key] = getattr(args, key)
        if args.instance_info:
            body['instance_info'] = json.loads(args.instance_info)
        _, doc = _http(self.app).json_request('POST', PATH, body=body)
        if args.wait is not None:
            doc = _wait(self.app, doc['uuid'], args.wait)
        return COLUMNS, _row(doc)


class ShowInstance(command.ShowOne):
    """Show an instance, with the step its launch is at."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('instance', help='Name or UUID.')
        return parser

    def take_action(self, args):
        _, doc = _http(self.app).json_request(
            'GET', '%s/%s' % (PATH, args.instance))
        return COLUMNS, _row(doc)


class ListInstances(command.Lister):
    """List instances."""

    def take_action(self, args):
        _, doc = _http(self.app).json_request('GET', PATH)
        cols = ('uuid', 'name', 'state', 'current_task', 'node_uuid',
                'attempts')
        return cols, [tuple(i.get(c) for c in cols)
                      for i in doc['instances']]


class DeleteInstance(command.Command):
    """Delete an instance: undeploy its node and release the allocation."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('instance', help='Name or UUID.')
        parser.add_argument('--wait', type=int, nargs='?', const=0,
                            metavar='TIMEOUT',
                            help='Wait until it is gone.')
        return parser

    def take_action(self, args):
        http = _http(self.app)
        path = '%s/%s' % (PATH, args.instance)
        http.json_request('DELETE', path)
        if args.wait is None:
            return
        deadline = time.monotonic() + args.wait if args.wait else None
        while True:
            try:
                _, doc = http.json_request('GET', path)
            except Exception as e:
                if getattr(e, 'http_status', None) == 404:
                    return
                raise
            if doc['state'] == 'error':
                raise exceptions.CommandError(
                    'Deleting %s failed: %s' % (args.instance,
                                                doc['last_error']))
            if deadline and time.monotonic() > deadline:
                raise exceptions.CommandError(
                    'Instance %s not deleted after %s seconds'
                    % (args.instance, args.wait))
            time.sleep(1)
