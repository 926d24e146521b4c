"""/v1/events: notifications from the networking service about ports.

Neutron's ironic notifier posts port binding changes here. They are
checked and acknowledged so the notifier does not retry; nothing in
bootflow waits on them yet, so they are only logged.
"""

from oslo_log import log

from bootflow.api import resource
from bootflow.api import validation
from bootflow.api import versions
from bootflow.api import wsgi

LOG = log.getLogger(__name__)
SINCE = versions.ENDPOINT_SINCE['events']

EVENT_TYPES = ('network.bind_port', 'network.unbind_port',
               'network.delete_port')
_NULLABLE_UUID = {'type': ['string', 'null'], 'format': 'uuid'}

EVENTS_BODY = {
    'type': 'object',
    'properties': {
        'events': {
            'type': 'array',
            'minItems': 1,
            'items': {
                'type': 'object',
                'properties': {
                    'event': {'type': 'string', 'enum': list(EVENT_TYPES)},
                    'port_id': validation.UUID,
                    'mac_address': validation.MAC,
                    'status': {'type': 'string'},
                    'device_id': _NULLABLE_UUID,
                    'binding:host_id': _NULLABLE_UUID,
                    'binding:vnic_type': {'type': ['string', 'null']},
                },
                'required': ['event', 'port_id', 'mac_address', 'status'],
                'additionalProperties': False,
            },
        },
    },
    'required': ['events'],
    'additionalProperties': False,
}


def post_events(req):
    req.require_version(SINCE)
    body = req.json_body_or_error()
    validation.validate(EVENTS_BODY, body)
    for event in body['events']:
        LOG.debug('External event received: %s', event)
    return wsgi.Response(None, 204)


def register(router):
    router.add('POST', '/v1/events', resource.label(
        post_events, request_schema=EVENTS_BODY, min_version=SINCE,
        status=204))
