"""The version table drives what every version shows: for each node and
port field introduced at 1.N, a request at 1.(N-1) neither shows it nor
may select it, and a request at 1.N does both."""

import pytest

from bootflow.api import microversion
from bootflow.api import versions
from tests.unit.api.test_nodes_api import client  # noqa: F401 (fixture)
from tests.unit.api.test_nodes_api import v

MAX_MINOR = microversion.MAX_VERSION[1]
FIELDS_MINOR = versions.SWITCHES['FIELDS_SELECTOR']


def _versioned(table):
    return [(name, since) for name, since in table if since > 1]


def test_history_covers_every_minor_once():
    minors = [minor for minor, _ in versions.HISTORY]
    assert minors == list(range(1, MAX_MINOR + 1))
    assert all(isinstance(text, str) and text and '\n' not in text
               for _, text in versions.HISTORY)


@pytest.mark.parametrize('table', [
    versions.NODE_FIELDS, versions.PORT_FIELDS, versions.DRIVER_FIELDS,
    versions.NODE_STATES_FIELDS, versions.CONDUCTOR_FIELDS,
    tuple(versions.SWITCHES.items()),
    tuple((k, m) for k, (m, _) in versions.NODE_FILTERS.items()),
    tuple(versions.PORT_FILTERS.items()),
], ids=['node', 'port', 'driver', 'states', 'conductor', 'switches',
        'node-filters', 'port-filters'])
def test_tables_name_real_versions(table):
    names = [name for name, _ in table]
    assert len(names) == len(set(names))
    assert all(1 <= since <= MAX_MINOR for _, since in table)


def test_node_tables_agree():
    known = set(versions.NODE_FIELD_VERSION)
    assert set(versions.NODE_PATCHABLE) <= known
    assert versions.NODE_CREATABLE <= known
    assert set(versions.NODE_LIST_FIELDS) <= known
    assert set(versions.PORT_PATCHABLE) <= set(versions.PORT_FIELD_VERSION)


@pytest.fixture
def node_path(client):  # noqa: F811
    node = client.node(name='table-node')
    return '/v1/nodes/%s' % node['uuid']


@pytest.fixture
def port_path(client):  # noqa: F811
    node = client.node(name='table-port-node')
    resp = client.post('/v1/ports', {'node_uuid': node['uuid'],
                                     'address': '52:54:00:12:00:01'})
    assert resp.status_int == 201, resp.body
    return '/v1/ports/%s' % resp.doc['uuid']


@pytest.mark.parametrize('field,since', _versioned(versions.NODE_FIELDS))
def test_node_field_appears_at_its_version(client, node_path,  # noqa: F811
                                           field, since):
    before = client.get(node_path, v(since - 1))
    after = client.get(node_path, v(since))
    assert before.status_int == after.status_int == 200
    assert field not in before.doc
    assert field in after.doc
    if field in versions.NODE_UNSELECTABLE:
        return
    query = '%s?fields=%s' % (node_path, field)
    if since - 1 >= FIELDS_MINOR:
        assert client.get(query, v(since - 1)).status_int == 406
    selected = client.get(query, v(max(since, FIELDS_MINOR)))
    assert selected.status_int == 200, selected.body
    assert set(selected.doc) == {field, 'links'}


@pytest.mark.parametrize('field,since', _versioned(versions.PORT_FIELDS))
def test_port_field_appears_at_its_version(client, port_path,  # noqa: F811
                                           field, since):
    before = client.get(port_path, v(since - 1))
    after = client.get(port_path, v(since))
    assert field not in before.doc
    assert field in after.doc
    query = '%s?fields=%s' % (port_path, field)
    if since - 1 >= FIELDS_MINOR:
        assert client.get(query, v(since - 1)).status_int == 406
    selected = client.get(query, v(max(since, FIELDS_MINOR)))
    assert set(selected.doc) == {field, 'links'}


@pytest.mark.parametrize('field,since', versions.NODE_STATES_FIELDS)
def test_node_list_at_oldest_version_hides_younger_fields(
        client, node_path, field, since):  # noqa: F811
    detail = client.get('/v1/nodes/detail', v(1)).doc['nodes'][0]
    assert set(detail) <= {name for name, s in versions.NODE_FIELDS
                           if s == 1}
    assert (field in detail) == (since == 1)


@pytest.mark.parametrize('field,since',
                         _versioned(versions.DRIVER_FIELDS))
def test_driver_field_appears_at_its_version(client, field,  # noqa: F811
                                             since):
    path = '/v1/drivers/fake-hardware'
    assert field not in client.get(path, v(since - 1)).doc
    assert field in client.get(path, v(since)).doc


@pytest.mark.parametrize('param,spec', sorted(versions.NODE_FILTERS.items()))
def test_node_filter_accepted_from_its_version(client, param,  # noqa: F811
                                               spec):
    minor, kind = spec
    value = {'bool': 'true', 'uuid': '1be26c0b-03f2-4d2e-ae87-c02d7f33c123',
             'state': 'enroll', 'fault': 'power failure',
             'list': 'a,b'}.get(kind, 'x')
    query = '/v1/nodes?%s=%s' % (param, value)
    if minor > 1:
        assert client.get(query, v(minor - 1)).status_int == 406
    assert client.get(query, v(minor)).status_int == 200
