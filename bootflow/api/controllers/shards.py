"""/v1/shards (API 1.82): how many nodes each shard holds.

Shards split the nodes among independent API consumers (each nova-compute
watching one shard); this list lets an operator see the split. Nodes
without a shard count under the name "None", as in Ironic.
"""

import sqlalchemy as sa

from bootflow.api import versions
from bootflow.common import exception
from bootflow.db import api as db_api


def list_shards(req):
    if not req.allows(versions.SWITCHES['SHARDS']):
        raise exception.NotFound('The API version does not allow shards')
    nodes = db_api.NODES
    query = sa.select(nodes.c.shard, sa.func.count(nodes.c.id)).group_by(
        nodes.c.shard)
    with db_api.reader() as conn:
        counts = conn.execute(query).all()
    # the biggest first; equal counts by name, so the order is stable
    counts.sort(key=lambda row: (-row[1], str(row[0])))
    return {'shards': [{'name': str(shard), 'count': count}
                       for shard, count in counts]}


def show_shard(req, shard):
    # A shard is only a label on nodes: there is nothing to show.
    if not req.allows(versions.SWITCHES['SHARDS']):
        raise exception.NotFound('The API version does not allow shards')
    raise exception.NotFound('The resource could not be found.')


def register(router):
    router.add('GET', '/v1/shards', list_shards)
    router.add('GET', '/v1/shards/{shard}', show_shard)
