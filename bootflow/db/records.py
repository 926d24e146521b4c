"""A node row with attribute access and change tracking.

The conductor mutates ``task.node`` as it works and saves once; only the
columns it changed are written, so a save never overwrites a concurrent
API update of another column (e.g. ``extra``) with a stale copy.
"""

from bootflow.db import api as db_api


class NodeRecord:
    __slots__ = ('_data', '_changes')

    def __init__(self, data):
        object.__setattr__(self, '_data', dict(data))
        object.__setattr__(self, '_changes', {})

    def __getattr__(self, name):
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        if name not in self._data:
            raise AttributeError('nodes have no column %s' % name)
        self._data[name] = value
        self._changes[name] = value

    def save(self):
        if not self._changes:
            return
        row = db_api.update_node(self._data['id'], self._changes)
        self._data.update(row)
        self._changes.clear()
