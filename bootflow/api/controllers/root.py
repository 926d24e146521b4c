"""``/`` and ``/v1``: the version documents clients discover first."""

from bootflow.api import collection
from bootflow.api import microversion
from bootflow.api import wsgi


def _version(base):
    return {'id': 'v1',
            'links': [{'href': '%s/v1/' % base, 'rel': 'self'}],
            'status': 'CURRENT',
            'min_version': microversion.fmt(wsgi.MIN_VERSION),
            'version': microversion.fmt(wsgi.MAX_VERSION)}


def root(req):
    base = collection.base_url(req)
    version = _version(base)
    return {'name': 'bootflow',
            'description': 'bootflow provisions bare metal machines over '
                           'the network, speaking the OpenStack Ironic API.',
            'default_version': version, 'versions': [version]}


def v1(req):
    base = collection.base_url(req)
    doc = {'id': 'v1',
           'links': [{'href': '%s/v1/' % base, 'rel': 'self'}],
           'media_types': {'base': 'application/json',
                           'type': 'application/vnd.openstack.ironic.v1+json'}}
    for resource, since in (('nodes', 1), ('ports', 1), ('drivers', 1),
                            ('chassis', 1), ('portgroups', 23), ('volume', 32),
                            ('conductors', 49),
                            ('events', 54), ('deploy_templates', 55),
                            ('runbooks', 92), ('inspection_rules', 96)):
        if req.allows(since):
            doc[resource] = [
                {'href': '%s/v1/%s/' % (base, resource), 'rel': 'self'},
                {'href': '%s/%s/' % (base, resource), 'rel': 'bookmark'}]
    doc['version'] = _version(base)
    return doc


def register(router):
    router.add('GET', '/', root)
    router.add('GET', '/v1', v1)
