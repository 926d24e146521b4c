"""/v1/nodes/{node}/history: the journal of a node's noteworthy events
(failures above all), newest kept, read-only."""

from oslo_utils import uuidutils

from bootflow.api import collection
from bootflow.api import versions
from bootflow.api.controllers import nodes
from bootflow.common import exception
from bootflow.db import node_data

SINCE = versions.NODE_SUBRESOURCES['history']
# A brief list cuts long events, so that a page of them stays readable.
BRIEF_EVENT_LENGTH = 255
_SORT_KEYS = {name for name, _ in versions.HISTORY_FIELDS} - {'event'}


def _event_doc(req, node_ident, row, detail):
    if detail:
        fields = versions.visible(versions.HISTORY_FIELDS, req.version)
    else:
        fields = versions.HISTORY_BRIEF_FIELDS
    doc = {}
    for field in fields:
        value = row[field]
        if field == 'created_at':
            value = collection.isotime(value)
        doc[field] = value
    event = doc.get('event') or ''
    if not detail and len(event) > BRIEF_EVENT_LENGTH:
        doc['event'] = event[:BRIEF_EVENT_LENGTH - 4] + '...'
    doc['links'] = [{'href': '%s/v1/nodes/%s/history/%s' % (
        collection.base_url(req), node_ident, row['uuid']), 'rel': 'self'}]
    return doc


def _marker(req):
    marker = req.GET.get('marker')
    if marker is not None and not uuidutils.is_uuid_like(marker):
        raise exception.InvalidParameterValue(
            err='Expected UUID for marker: %s' % marker)
    return marker


def list_history(req, node_ident):
    req.require_version(SINCE)
    node = nodes.get_node_or_404(req, node_ident)
    detail = bool(collection.parse_strict_bool('detail',
                                               req.GET.get('detail')))
    limit = collection.parse_limit(req)
    sort_key = req.GET.get('sort_key', 'created_at')
    sort_dir = req.GET.get('sort_dir', 'asc')
    if sort_key not in _SORT_KEYS:
        raise exception.InvalidParameterValue(
            err='The sort_key value "%s" is an invalid field for sorting'
                % sort_key)
    if sort_dir not in ('asc', 'desc'):
        raise exception.InvalidParameterValue(
            err="Invalid sort direction: %s. Acceptable values are 'asc' "
                "or 'desc'" % sort_dir)
    rows = node_data.list_history(node['id'], limit=limit,
                                  marker=_marker(req), sort_key=sort_key,
                                  sort_dir=sort_dir)
    body = {'history': [_event_doc(req, node_ident, row, detail)
                        for row in rows]}
    nxt = collection.next_link(req, 'nodes/%s/history' % node_ident, rows,
                               limit)
    if nxt:
        body['next'] = nxt
    return body


list_history.min_version = SINCE


def show_event(req, node_ident, event):
    req.require_version(SINCE)
    node = nodes.get_node_or_404(req, node_ident)
    row = node_data.get_history(event)
    if row['node_id'] != node['id']:
        raise exception.NodeHistoryNotFound(history=event)
    return _event_doc(req, node_ident, row, detail=True)


show_event.min_version = SINCE


def register(router):
    base = '/v1/nodes/{node_ident}/history'
    router.add('GET', base, list_history)
    router.add('GET', base + '/{event}', show_event)
