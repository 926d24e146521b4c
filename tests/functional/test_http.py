"""Raw HTTP checks of bootflow's Ironic-compatible REST API."""

import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .conftest import (MAX_VERSION_HEADER, MIN_VERSION_HEADER,
                       VERSION_HEADER, HttpApi, assert_ironic_error,
                       decode_error, random_mac, unique)

pytestmark = pytest.mark.functional


def _version_tuple(text):
    major, minor = text.split('.')
    return int(major), int(minor)


def _self_link(links):
    return [link['href'] for link in links if link['rel'] == 'self']


# --------------------------------------------------------------------------
# Root documents and versions
# --------------------------------------------------------------------------

def test_root_document(service):
    resp = requests.get(service.url('/'), timeout=30)
    assert resp.status_code == 200
    doc = resp.json()
    assert doc['name']
    versions = doc['versions']
    assert [v['id'] for v in versions] == ['v1']
    v1 = versions[0]
    assert v1['status'] == 'CURRENT'
    assert v1['min_version'] == resp.headers[MIN_VERSION_HEADER]
    assert v1['version'] == resp.headers[MAX_VERSION_HEADER]
    assert _self_link(v1['links']) == [service.url('/v1/')]
    assert doc['default_version']['id'] == 'v1'
    assert doc['default_version']['version'] == v1['version']
    assert resp.headers['Content-Type'].startswith('application/json')


def test_v1_document(service):
    resp = requests.get(service.url('/v1'), timeout=30)
    assert resp.status_code == 200
    doc = resp.json()
    assert doc['id'] == 'v1'
    assert _self_link(doc['links']) == [service.url('/v1/')]
    assert doc['media_types']['base'] == 'application/json'
    for collection in ('nodes', 'ports', 'drivers'):
        assert service.url('/v1/%s/' % collection) in \
            _self_link(doc[collection]), doc[collection]
    assert doc['version']['version'] == resp.headers[MAX_VERSION_HEADER]
    assert doc['version']['min_version'] == \
        resp.headers[MIN_VERSION_HEADER]
    # trailing slash works too
    assert requests.get(service.url('/v1/'), timeout=30).json() == doc


def test_version_range(service):
    resp = requests.get(service.url('/v1'), timeout=30)
    lo = _version_tuple(resp.headers[MIN_VERSION_HEADER])
    hi = _version_tuple(resp.headers[MAX_VERSION_HEADER])
    assert lo == (1, 1)
    # Current clients negotiate well past 1.80; anything older would lose
    # fields such as owner, lessee, retired, shard...
    assert hi >= (1, 80), hi


@pytest.mark.parametrize('path', ['/', '/v1', '/v1/nodes', '/v1/ports',
                                  '/v1/drivers', '/v1/conductors',
                                  '/v1/nodes/ft-no-such-node'])
def test_version_headers_everywhere(service, path):
    lo = requests.get(service.url('/v1'), timeout=30).headers[
        MIN_VERSION_HEADER]
    hi = requests.get(service.url('/v1'), timeout=30).headers[
        MAX_VERSION_HEADER]
    if path in ('/', '/v1'):
        versions = {None: '1.1', 'latest': hi}
    else:
        versions = {None: '1.1', 'latest': hi, '1.50': '1.50'}
    if path == '/v1/conductors':  # conductors appeared in 1.49
        versions.pop(None)
    for requested, negotiated in versions.items():
        headers = {VERSION_HEADER: requested} if requested else {}
        resp = requests.get(service.url(path), headers=headers, timeout=30)
        assert resp.status_code in (200, 404), (path, resp.status_code,
                                                resp.text)
        assert resp.headers.get(MIN_VERSION_HEADER) == lo, resp.headers
        assert resp.headers.get(MAX_VERSION_HEADER) == hi, resp.headers
        assert resp.headers.get(VERSION_HEADER) == negotiated, \
            (path, requested, dict(resp.headers))


def test_conductors_require_1_49(service):
    resp = requests.get(service.url('/v1/conductors'),
                        headers={VERSION_HEADER: '1.48'}, timeout=30)
    assert resp.status_code == 404, resp.text


@pytest.mark.parametrize('version', ['1.999', '1.0', '2.1'])
def test_unsupported_version(service, version):
    resp = requests.get(service.url('/v1/nodes'),
                        headers={VERSION_HEADER: version}, timeout=30)
    assert resp.status_code == 406, resp.text
    assert resp.headers[MIN_VERSION_HEADER] == '1.1'
    assert _version_tuple(resp.headers[MAX_VERSION_HEADER]) >= (1, 80)
    error = decode_error(resp)
    text = error.get('faultstring') or error.get('description') or ''
    assert version in text, error


def test_malformed_version(service):
    resp = requests.get(service.url('/v1/nodes'),
                        headers={VERSION_HEADER: 'one.two'}, timeout=30)
    assert resp.status_code in (400, 406), resp.text
    decode_error(resp)


# --------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------

def test_error_unknown_driver(api):
    resp = api.post('/v1/nodes', json={'driver': 'no-such-driver-ft'})
    assert_ironic_error(resp, 400, 'no-such-driver-ft')


def test_error_unknown_node(api):
    name = unique('ft-missing')
    resp = api.get('/v1/nodes/%s' % name)
    assert_ironic_error(resp, 404, name, 'could not be found')
    missing = str(uuid.uuid4())
    for method in ('GET', 'PATCH', 'DELETE'):
        kwargs = {'json': []} if method == 'PATCH' else {}
        resp = api.request(method, '/v1/nodes/%s' % missing, **kwargs)
        assert_ironic_error(resp, 404, missing)
    resp = api.put('/v1/nodes/%s/states/provision' % missing,
                   json={'target': 'manage'})
    assert_ironic_error(resp, 404, missing)


def test_error_invalid_transition(api, node_cleanup):
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    resp = api.put('/v1/nodes/%s/states/provision' % node['uuid'],
                   json={'target': 'active'})
    assert_ironic_error(resp, 400, node['uuid'], 'enroll', 'active')
    resp = api.put('/v1/nodes/%s/states/provision' % node['uuid'],
                   json={'target': 'provide'})
    assert_ironic_error(resp, 400, 'enroll')
    resp = api.put('/v1/nodes/%s/states/provision' % node['uuid'],
                   json={'target': 'no-such-target'})
    assert_ironic_error(resp, 400)
    assert api.node(node['uuid'])['provision_state'] == 'enroll'


def test_error_duplicate_name(api, node_cleanup):
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    resp = api.post('/v1/nodes', json={'driver': 'fake-hardware',
                                       'name': node['name']})
    assert_ironic_error(resp, 409, node['name'], 'already exists')
    other = api.create_node()
    node_cleanup.append((api, other['uuid']))
    resp = api.patch('/v1/nodes/%s' % other['uuid'],
                     json=[{'op': 'replace', 'path': '/name',
                            'value': node['name']}])
    assert_ironic_error(resp, 409, node['name'])


def test_error_duplicate_uuid(api, node_cleanup):
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    resp = api.post('/v1/nodes', json={'driver': 'fake-hardware',
                                       'uuid': node['uuid']})
    assert_ironic_error(resp, 409, node['uuid'])


def test_error_duplicate_mac(api, node_cleanup):
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    mac = random_mac()
    api.create_port(node['uuid'], mac)
    resp = api.post('/v1/ports', json={'node_uuid': node['uuid'],
                                       'address': mac})
    assert_ironic_error(resp, 409, mac, 'already exists')
    # MACs are compared case-insensitively.
    resp = api.post('/v1/ports', json={'node_uuid': node['uuid'],
                                       'address': mac.upper()})
    assert_ironic_error(resp, 409, mac)


@pytest.mark.parametrize('address', ['zz:54:00:00:00:01', '52:54:00:00:01',
                                     'not-a-mac'])
def test_error_bad_mac(api, node_cleanup, address):
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    resp = api.post('/v1/ports', json={'node_uuid': node['uuid'],
                                       'address': address})
    assert_ironic_error(resp, 400, address)


def test_error_port_unknown_node(api):
    resp = api.post('/v1/ports', json={'node_uuid': str(uuid.uuid4()),
                                       'address': random_mac()})
    assert resp.status_code in (400, 404), resp.text
    decode_error(resp)


@pytest.mark.parametrize('op', [
    {'op': 'replace', 'path': '/uuid',
     'value': '1be26c0b-03f2-4d2e-ae87-c02d7f33c123'},
    {'op': 'replace', 'path': '/provision_state', 'value': 'active'},
    {'op': 'add', 'path': '/no_such_field', 'value': 1},
    {'op': 'remove', 'path': '/extra/not-there'},
    {'op': 'bogus', 'path': '/extra/x', 'value': 1},
])
def test_error_bad_patch(api, node_cleanup, op):
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    resp = api.patch('/v1/nodes/%s' % node['uuid'], json=[op])
    assert_ironic_error(resp, 400)
    after = api.node(node['uuid'])
    assert after['uuid'] == node['uuid']
    assert after['provision_state'] == 'enroll'
    assert after['extra'] == {}


def test_error_patch_uuid_message(api, node_cleanup):
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    resp = api.patch('/v1/nodes/%s' % node['uuid'],
                     json=[{'op': 'replace', 'path': '/uuid',
                            'value': str(uuid.uuid4())}])
    assert_ironic_error(resp, 400, '/uuid')


def test_error_delete_active_node(api, node_cleanup):
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    api.move_to(node['uuid'], 'active')
    resp = api.delete('/v1/nodes/%s' % node['uuid'])
    assert_ironic_error(resp, 409, node['uuid'], 'active')
    assert api.node(node['uuid'])['provision_state'] == 'active'


@pytest.mark.needs_fake_delay
def test_error_node_locked(sqlite_api, node_cleanup):
    api = sqlite_api
    node = api.create_node(driver_info={'fake_deploy_delay': 5})
    node_cleanup.append((api, node['uuid']))
    api.move_to(node['uuid'], 'available')
    started = time.monotonic()
    api.provision(node['uuid'], 'active')
    answers = {}
    for target in ('deleted', 'active'):
        answers[target] = api.put(
            '/v1/nodes/%s/states/provision' % node['uuid'],
            json={'target': target})
    assert time.monotonic() - started < 5, 'test too slow to be valid'
    wrong = {t: (r.status_code, r.text[:300]) for t, r in answers.items()
             if r.status_code != 409}
    assert not wrong, 'expected 409 NodeLocked, got %r' % wrong
    for resp in answers.values():
        fault = assert_ironic_error(resp, 409, node['uuid'], 'locked')
        assert 'retry' in fault['faultstring']
    current = api.node(node['uuid'])
    assert current['reservation']
    assert current['provision_state'] in ('deploying', 'wait call-back')
    assert current['target_provision_state'] == 'active'
    # Other updates are refused with the same error while locked...
    resp = api.put('/v1/nodes/%s/states/power' % node['uuid'],
                   json={'target': 'power off'})
    assert_ironic_error(resp, 409, 'locked')
    # ...and the deployment completes once the delay is over.
    done = api.wait_provision_state(node['uuid'], 'active', timeout=90)
    assert done['reservation'] is None
    # the delay applies to the cleanup's undeploy too
    api.patch_node(node['uuid'], [
        {'op': 'remove', 'path': '/driver_info/fake_deploy_delay'}])


# --------------------------------------------------------------------------
# Lists: pagination, sorting, fields, filters
# --------------------------------------------------------------------------

@pytest.fixture(scope='module')
def tagged_nodes(api):
    """Five nodes sharing a unique resource class, created for the module."""
    rc = unique('ft-rc')
    owner = unique('ft-owner')
    nodes = []
    for i in range(5):
        nodes.append(api.create_node(name='%s-%d' % (rc, i),
                                     resource_class=rc))
    # node 0: maintenance; node 1: associated; node 2..4: owner set;
    # node 3: manageable
    api.patch_node(nodes[0]['uuid'], [
        {'op': 'replace', 'path': '/maintenance', 'value': True}])
    api.patch_node(nodes[1]['uuid'], [
        {'op': 'add', 'path': '/instance_uuid', 'value': str(uuid.uuid4())}])
    for node in nodes[2:]:
        api.patch_node(node['uuid'], [
            {'op': 'add', 'path': '/owner', 'value': owner}])
    api.move_to(nodes[3]['uuid'], 'manageable')
    yield {'rc': rc, 'owner': owner,
           'nodes': [api.node(n['uuid']) for n in nodes]}
    for node in nodes:
        api.delete_node_quietly(node['uuid'])


def _list(api, query, path='/v1/nodes'):
    resp = api.get(path, params=query)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _uuids(doc, key='nodes'):
    return [item['uuid'] for item in doc[key]]


def test_pagination(api, tagged_nodes):
    rc = tagged_nodes['rc']
    expected = sorted(n['uuid'] for n in tagged_nodes['nodes'])
    first = _list(api, {'resource_class': rc, 'limit': 2,
                        'sort_key': 'uuid'})
    assert len(first['nodes']) == 2
    assert _uuids(first) == expected[:2]
    assert 'next' in first, first
    next_url = urlsplit(first['next'])
    query = parse_qs(next_url.query)
    assert query['marker'] == [expected[1]], first['next']
    assert query['limit'] == ['2'], first['next']
    assert next_url.path.rstrip('/') == '/v1/nodes'
    # The next link works as it is...
    resp = api.get(first['next'])
    assert resp.status_code == 200, resp.text
    assert not set(_uuids(resp.json())) & set(expected[:2])
    # ...and its marker walks the filtered collection to its end.
    seen = list(_uuids(first))
    marker = query['marker'][0]
    pages = 1
    while marker:
        page = _list(api, {'resource_class': rc, 'limit': 2,
                           'sort_key': 'uuid', 'marker': marker})
        pages += 1
        seen.extend(_uuids(page))
        marker = None
        if 'next' in page:
            marker = parse_qs(urlsplit(page['next']).query)['marker'][0]
        assert pages < 10
    assert seen == expected
    # A complete page without a successor has no next link.
    whole = _list(api, {'resource_class': rc, 'limit': 10})
    assert 'next' not in whole
    assert len(whole['nodes']) == 5


def test_pagination_unknown_marker(api, tagged_nodes):
    marker = str(uuid.uuid4())
    resp = api.get('/v1/nodes', params={'marker': marker, 'limit': 2})
    assert_ironic_error(resp, 404, marker)


def test_pagination_bad_limit(api):
    resp = api.get('/v1/nodes', params={'limit': -1})
    assert_ironic_error(resp, 400)


def test_sorting(api, tagged_nodes):
    rc = tagged_nodes['rc']
    names = sorted(n['name'] for n in tagged_nodes['nodes'])
    doc = _list(api, {'resource_class': rc, 'sort_key': 'name',
                      'sort_dir': 'asc'})
    assert [n['name'] for n in doc['nodes']] == names
    doc = _list(api, {'resource_class': rc, 'sort_key': 'name',
                      'sort_dir': 'desc'})
    assert [n['name'] for n in doc['nodes']] == names[::-1]
    doc = _list(api, {'resource_class': rc, 'sort_key': 'name',
                      'sort_dir': 'desc', 'limit': 2})
    assert [n['name'] for n in doc['nodes']] == names[::-1][:2]
    page2 = _list(api, {'resource_class': rc, 'sort_key': 'name',
                        'sort_dir': 'desc', 'limit': 2,
                        'marker': doc['nodes'][-1]['uuid']})
    assert [n['name'] for n in page2['nodes']] == names[::-1][2:4]
    resp = api.get('/v1/nodes', params={'sort_dir': 'sideways'})
    assert_ironic_error(resp, 400)
    resp = api.get('/v1/nodes', params={'sort_key': 'no_such_column'})
    assert_ironic_error(resp, 400)


def test_fields(api, tagged_nodes):
    rc = tagged_nodes['rc']
    doc = _list(api, {'resource_class': rc, 'fields': 'uuid,name'})
    assert len(doc['nodes']) == 5
    for node in doc['nodes']:
        assert set(node) - {'links'} == {'uuid', 'name'}, node
    node = tagged_nodes['nodes'][0]
    resp = api.get('/v1/nodes/%s' % node['uuid'],
                   params={'fields': 'uuid,provision_state,extra'})
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert set(got) - {'links'} == {'uuid', 'provision_state', 'extra'}
    assert got['provision_state'] == node['provision_state']
    resp = api.get('/v1/nodes/%s' % node['uuid'],
                   params={'fields': 'uuid,no_such_field'})
    assert_ironic_error(resp, 400)


def test_list_brief_and_detail(api, tagged_nodes):
    rc = tagged_nodes['rc']
    brief = _list(api, {'resource_class': rc})
    for node in brief['nodes']:
        assert set(node) == {'uuid', 'name', 'instance_uuid',
                             'maintenance', 'power_state', 'provision_state',
                             'links'}, node
    detail = _list(api, {'resource_class': rc}, path='/v1/nodes/detail')
    assert len(detail['nodes']) == 5
    for node in detail['nodes']:
        assert node['resource_class'] == rc
        assert node['driver'] == 'fake-hardware'
        for key in ('properties', 'extra', 'driver_info', 'created_at',
                    'owner', 'conductor_group', 'fault', 'traits'):
            assert key in node, key
    doc = _list(api, {'resource_class': rc, 'detail': 'true'})
    assert {n['uuid'] for n in doc['nodes']} == \
        {n['uuid'] for n in detail['nodes']}
    assert all('driver' in n for n in doc['nodes'])


def _filtered(api, rc, **query):
    query['resource_class'] = rc
    return {n['name'] for n in _list(api, query)['nodes']}


def test_filters(api, tagged_nodes):
    rc = tagged_nodes['rc']
    names = [n['name'] for n in tagged_nodes['nodes']]
    assert _filtered(api, rc) == set(names)
    assert _filtered(api, unique('ft-rc-none')) == set()
    assert _filtered(api, rc, provision_state='manageable') == {names[3]}
    assert _filtered(api, rc, provision_state='enroll') == \
        set(names) - {names[3]}
    assert _filtered(api, rc, driver='fake-hardware') == set(names)
    assert _filtered(api, rc, driver='manual-management') == set()
    assert _filtered(api, rc, maintenance='true') == {names[0]}
    assert _filtered(api, rc, maintenance='false') == set(names[1:])
    assert _filtered(api, rc, associated='true') == {names[1]}
    assert _filtered(api, rc, associated='false') == \
        set(names) - {names[1]}
    assert _filtered(api, rc, owner=tagged_nodes['owner']) == set(names[2:])
    assert _filtered(api, rc, owner=unique('ft-nobody')) == set()
    assert _filtered(api, rc, fault='power failure') == set()
    assert _filtered(api, rc, conductor_group='') == set(names)
    assert _filtered(api, rc, conductor_group=unique('ft-group')) == set()
    assert _filtered(api, rc, maintenance='true', associated='false') == \
        {names[0]}


@pytest.mark.parametrize('query', [
    {'maintenance': 'perhaps'},
    {'associated': 'perhaps'},
    {'provision_state': 'no-such-state'},
    {'fault': 'no such fault'},
    {'limit': 'many'},
], ids=lambda q: '%s=%s' % next(iter(q.items())))
def test_invalid_filters(api, query):
    resp = api.get('/v1/nodes', params=query)
    assert_ironic_error(resp, 400, next(iter(query.values())))


def test_conductor_group_unknown_rejected(api, node_cleanup):
    # A node may only be placed in a group that some conductor serves.
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    group = unique('ftgroup')
    resp = api.patch('/v1/nodes/%s' % node['uuid'],
                     json=[{'op': 'add', 'path': '/conductor_group',
                            'value': group}])
    assert_ironic_error(resp, 400, group)


# --------------------------------------------------------------------------
# Ports and conductors
# --------------------------------------------------------------------------

def test_node_ports(api, node_cleanup):
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    other = api.create_node()
    node_cleanup.append((api, other['uuid']))
    macs = sorted(random_mac() for _ in range(3))
    ports = [api.create_port(node['uuid'], mac) for mac in macs]
    api.create_port(other['uuid'])
    # (Ironic 39 answers /v1/nodes/<name>/ports with 404 "Portgroup None
    # could not be found", so only the UUID form is checked.)
    doc = _list(api, {}, path='/v1/nodes/%s/ports' % node['uuid'])
    assert sorted(p['address'] for p in doc['ports']) == macs
    assert {p['uuid'] for p in doc['ports']} == {p['uuid'] for p in ports}
    doc = _list(api, {}, path='/v1/nodes/%s/ports/detail' % node['uuid'])
    assert {p['node_uuid'] for p in doc['ports']} == {node['uuid']}
    doc = _list(api, {'node': node['uuid']}, path='/v1/ports')
    assert sorted(p['address'] for p in doc['ports']) == macs
    doc = _list(api, {'address': macs[1]}, path='/v1/ports')
    assert [p['uuid'] for p in doc['ports']] == [ports[1]['uuid']]
    doc = _list(api, {'limit': 2}, path='/v1/nodes/%s/ports' % node['uuid'])
    assert len(doc['ports']) == 2 and 'next' in doc
    resp = api.get('/v1/nodes/%s/ports' % uuid.uuid4())
    assert_ironic_error(resp, 404)
    # A port moves along with its MAC check.
    resp = api.patch('/v1/ports/%s' % ports[0]['uuid'],
                     json=[{'op': 'replace', 'path': '/address',
                            'value': macs[1]}])
    assert_ironic_error(resp, 409, macs[1])
    resp = api.delete('/v1/ports/%s' % ports[0]['uuid'])
    assert resp.status_code == 204, resp.text
    doc = _list(api, {}, path='/v1/nodes/%s/ports' % node['uuid'])
    assert sorted(p['address'] for p in doc['ports']) == macs[1:]


def test_drivers(api, service):
    doc = _list(api, {}, path='/v1/drivers')
    drivers = {d['name']: d for d in doc['drivers']}
    assert 'fake-hardware' in drivers, doc
    fake = drivers['fake-hardware']
    assert fake['type'] == 'dynamic'
    assert fake['hosts']
    if service.conductor_host:
        assert service.conductor_host in fake['hosts']
    assert service.url('/v1/drivers/fake-hardware') in \
        _self_link(fake['links'])
    resp = api.get('/v1/drivers/fake-hardware')
    assert resp.status_code == 200, resp.text
    detail = resp.json()
    assert detail['name'] == 'fake-hardware'
    assert detail['default_power_interface'] == 'fake'
    assert 'fake' in detail['enabled_deploy_interfaces']
    doc = _list(api, {'type': 'dynamic'}, path='/v1/drivers')
    assert 'fake-hardware' in {d['name'] for d in doc['drivers']}
    doc = _list(api, {'type': 'classic'}, path='/v1/drivers')
    assert doc['drivers'] == []
    resp = api.get('/v1/drivers/no-such-driver-ft')
    assert_ironic_error(resp, 404, 'no-such-driver-ft')
    resp = api.get('/v1/drivers/fake-hardware/properties')
    assert resp.status_code == 200, resp.text
    assert isinstance(resp.json(), dict)


def test_conductors(api, service):
    doc = _list(api, {}, path='/v1/conductors')
    hosts = {c['hostname']: c for c in doc['conductors']}
    assert hosts, doc
    for cond in doc['conductors']:
        assert set(cond) >= {'hostname', 'conductor_group', 'alive',
                             'links'}, cond
        assert isinstance(cond['alive'], bool)
    if service.conductor_host:
        assert service.conductor_host in hosts
        # The real Ironic on SQLite stops refreshing its heartbeat, so this
        # is only asserted for the service started by the fixture.
        assert hosts[service.conductor_host]['alive'] is True
        assert hosts[service.conductor_host]['conductor_group'] == ''
    host = sorted(hosts)[0]
    resp = api.get('/v1/conductors/%s' % host)
    assert resp.status_code == 200, resp.text
    detail = resp.json()
    assert detail['hostname'] == host
    assert 'fake-hardware' in detail['drivers']
    resp = api.get('/v1/conductors/%s' % unique('ft-nohost'))
    assert_ironic_error(resp, 404)
    doc = _list(api, {'detail': 'true'}, path='/v1/conductors')
    assert all('drivers' in c for c in doc['conductors'])


def test_node_conductor_field(api, service, node_cleanup):
    node = api.create_node()
    node_cleanup.append((api, node['uuid']))
    got = api.node(node['uuid'])
    if service.conductor_host:
        assert got['conductor'] == service.conductor_host
    else:
        assert got['conductor']


# --------------------------------------------------------------------------
# Concurrency: many writers against SQLite
# --------------------------------------------------------------------------

def test_concurrent_creates(sqlite_service):
    threads_n, per_thread = 8, 25
    rc = unique('ft-conc')
    prefix = '52:54:%02x' % (uuid.uuid4().int % 256)
    errors = []
    created = {}
    lock = threading.Lock()
    start = threading.Barrier(threads_n)

    def worker(index):
        api = HttpApi(sqlite_service)
        try:
            start.wait(30)
            for j in range(per_thread):
                name = '%s-%d-%d' % (rc, index, j)
                mac = '%s:%02x:%02x:%02x' % (prefix, index, j, 0x5a)
                resp = api.post('/v1/nodes', json={
                    'driver': 'fake-hardware', 'name': name,
                    'resource_class': rc})
                if resp.status_code != 201:
                    errors.append(('node', name, resp.status_code,
                                   resp.text[:300]))
                    continue
                node_uuid = resp.json()['uuid']
                resp = api.post('/v1/ports', json={'node_uuid': node_uuid,
                                                   'address': mac})
                if resp.status_code != 201:
                    errors.append(('port', mac, resp.status_code,
                                   resp.text[:300]))
                    continue
                with lock:
                    created[node_uuid] = (name, resp.json()['uuid'], mac)
        except Exception as exc:  # report, do not hang the test
            errors.append(('exception', index, repr(exc)))
        finally:
            api.session.close()

    threads = [threading.Thread(target=worker, args=(i,))
               for i in range(threads_n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not any(t.is_alive() for t in threads), 'workers hung'
        assert errors == [], errors[:10]
        assert len(created) == threads_n * per_thread

        api = HttpApi(sqlite_service)
        listed = []
        marker = None
        while True:
            query = {'resource_class': rc, 'limit': 100,
                     'fields': 'uuid,name'}
            if marker:
                query['marker'] = marker
            doc = _list(api, query)
            listed.extend(doc['nodes'])
            if not doc['nodes'] or 'next' not in doc:
                break
            marker = doc['nodes'][-1]['uuid']
        assert len(listed) == threads_n * per_thread
        assert {n['uuid'] for n in listed} == set(created)
        assert {n['name'] for n in listed} == \
            {v[0] for v in created.values()}
        # Every node has exactly its one port.
        port_count = 0
        for node_uuid, (_, port_uuid, mac) in list(created.items())[::20]:
            doc = _list(api, {}, path='/v1/nodes/%s/ports' % node_uuid)
            assert [(p['uuid'], p['address']) for p in doc['ports']] == \
                [(port_uuid, mac)]
        macs = {v[2] for v in created.values()}
        marker = None
        while True:
            query = {'limit': 500, 'fields': 'uuid,address'}
            if marker:
                query['marker'] = marker
            doc = _list(api, query, path='/v1/ports')
            port_count += sum(1 for p in doc['ports']
                              if p['address'] in macs)
            if not doc['ports'] or 'next' not in doc:
                break
            marker = doc['ports'][-1]['uuid']
        assert port_count == threads_n * per_thread
    finally:
        _delete_concurrently(sqlite_service, list(created))


def _delete_concurrently(service, uuids):
    chunks = [uuids[i::4] for i in range(4)]

    def worker(chunk):
        api = HttpApi(service)
        for node_uuid in chunk:
            try:
                api.delete('/v1/nodes/%s' % node_uuid)
            except requests.RequestException:
                pass

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
