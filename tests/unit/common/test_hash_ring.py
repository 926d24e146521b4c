"""The hash ring: which live conductor answers for which node."""

import datetime
import uuid

from bootflow.common import hash_ring
from bootflow.db import api as db_api


def _conductor(host, group='', drivers=('fake-hardware',), age=0):
    db_api.register_conductor(host, group, list(drivers), {})
    if age:
        old = db_api.utcnow() - datetime.timedelta(seconds=age)
        with db_api.writer() as conn:
            conn.execute(db_api.CONDUCTORS.update().where(
                db_api.CONDUCTORS.c.hostname == host).values(updated_at=old))


def _nodes(count, group=''):
    return [{'uuid': str(uuid.uuid4()), 'driver': 'fake-hardware',
             'conductor_group': group} for _ in range(count)]


def test_nodes_spread_and_move_little_when_a_conductor_leaves(db):
    for host in ('c1', 'c2', 'c3'):
        _conductor(host)
    ring = hash_ring.HashRingManager(ttl=0)
    nodes = _nodes(600)
    before = {n['uuid']: ring.host_for(n) for n in nodes}
    counts = {h: list(before.values()).count(h) for h in ('c1', 'c2', 'c3')}
    assert all(100 < c < 300 for c in counts.values()), counts
    db_api.unregister_conductor('c3')
    after = {n['uuid']: ring.host_for(n) for n in nodes}
    assert set(after.values()) == {'c1', 'c2'}
    moved = [u for u in before if before[u] != 'c3' and after[u] != before[u]]
    # consistent hashing: only the departed conductor's nodes move
    assert moved == []


def test_dead_conductors_and_other_groups_are_not_on_the_ring(db, conf):
    conf.set_override('heartbeat_timeout', 30, 'conductor')
    _conductor('live')
    _conductor('stale', age=60)
    _conductor('rack2', group='Rack2')
    ring = hash_ring.HashRingManager(ttl=0)
    assert {ring.host_for(n) for n in _nodes(50)} == {'live'}
    assert {ring.host_for(n) for n in _nodes(20, group='rack2')} == {'rack2'}
    assert ring.host_for(dict(_nodes(1)[0], driver='other')) is None
    assert ring.alive_hosts() == {'live', 'rack2'}


def test_chooser_matches_host_for(db):
    for host in ('a', 'b'):
        _conductor(host)
    ring = hash_ring.HashRingManager(ttl=0)
    choose = ring.chooser()
    for node in _nodes(40):
        assert choose(node) == ring.host_for(node)
