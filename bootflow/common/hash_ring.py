"""Which conductor looks after which node: a consistent hash ring.

There is one ring per (conductor group, hardware type), made of the live
conductors of that group that load that hardware type, as in Ironic. A
node's uuid hashes onto its ring; when a conductor joins or leaves, only
about 1/N of the nodes move, so a conductor failure disturbs the others
little. The API routes a node's RPC to its conductor's own topic with
this; conductors use it to pick the nodes their periodic work covers and
to take over nodes of conductors that stopped heartbeating.

The rings themselves come from tooz; this module decides who is on them.
"""

import datetime
import threading
import time

from tooz import hashring

from bootflow.conf import CONF
from bootflow.db import api as db_api


def is_alive(conductor, now=None):
    if not conductor['online'] or conductor['updated_at'] is None:
        return False
    now = now or datetime.datetime.now(
        datetime.timezone.utc).replace(tzinfo=None)
    age = (now - conductor['updated_at']).total_seconds()
    return age <= CONF.conductor.heartbeat_timeout


class HashRingManager:
    """Rings built from the conductors table, re-read at most every
    ``hash_ring_reset_interval`` seconds (or on demand)."""

    def __init__(self, ttl=None):
        self._ttl = ttl
        self._lock = threading.Lock()
        self._loaded_at = None
        self._rings = {}
        self._alive = frozenset()
        self._cache = {}

    @property
    def ttl(self):
        if self._ttl is not None:
            return self._ttl
        return CONF.hash_ring_reset_interval

    def reset(self):
        with self._lock:
            self._loaded_at = None

    def _load(self):
        members = {}
        alive = set()
        for cond in db_api.list_conductors():
            if not is_alive(cond):
                continue
            alive.add(cond['hostname'])
            group = (cond['conductor_group'] or '').lower()
            for driver in cond['drivers'] or []:
                members.setdefault((group, driver), set()).add(
                    cond['hostname'])
        rings = {}
        for key, hosts in members.items():
            hosts = frozenset(hosts)
            ring = self._cache.get(hosts)
            if ring is None:
                ring = hashring.HashRing(
                    sorted(hosts),
                    partitions=2 ** CONF.hash_partition_exponent)
            rings[key] = (hosts, ring)
        self._cache = {hosts: ring for hosts, ring in rings.values()}
        return rings, frozenset(alive)

    def _refresh(self, force=False):
        now = time.monotonic()
        if (not force and self._loaded_at is not None
                and now - self._loaded_at < self.ttl):
            return
        with self._lock:
            if (not force and self._loaded_at is not None
                    and now - self._loaded_at < self.ttl):
                return
            self._rings, self._alive = self._load()
            self._loaded_at = time.monotonic()

    def alive_hosts(self, force=False):
        self._refresh(force)
        return self._alive

    def host_for(self, node, force=False):
        """The live conductor managing ``node`` (a row with uuid, driver,
        conductor_group), or None when no live conductor can."""
        self._refresh(force)
        key = ((node.get('conductor_group') or '').lower(), node['driver'])
        entry = self._rings.get(key)
        if entry is None:
            if not force:
                # a conductor may have joined since the cached read
                return self.host_for(node, force=True)
            return None
        hosts = entry[1].get_nodes(node['uuid'].encode(), replicas=1)
        return next(iter(hosts), None)

    def chooser(self):
        """A function node -> host using one snapshot of the rings, for
        rendering whole pages of nodes."""
        self._refresh()
        rings = self._rings

        def choose(node):
            entry = rings.get(((node.get('conductor_group') or '').lower(),
                               node.get('driver')))
            if entry is None:
                return None
            return next(iter(entry[1].get_nodes(node['uuid'].encode(),
                                                replicas=1)), None)
        return choose


RING = HashRingManager()
