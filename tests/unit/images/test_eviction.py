"""Eviction: TTL first, then least recently used down to max_size; a
master a node still links is never removed. Time is set with os.utime."""

import os
import time

import pytest

from bootflow.images import cache
from bootflow.images import locks
from bootflow.images import download

SIZE = 10
TTL = 3600


def _downloader(source, dest_path):
    with open(dest_path, 'wb') as f:
        f.write(source[-1].encode() * SIZE)


@pytest.fixture
def nodes(tmp_path):
    path = tmp_path / 'nodes'
    path.mkdir()
    return path


def _populate(c, nodes, names, keep_linked=()):
    """Fetch one SIZE-byte image per name; unlink the dests not kept.

    Through an unlimited cache on the same directory, so that filling it
    does not already evict.
    """
    filler = cache.ImageCache(c.master_dir, 0, 0, downloader=_downloader)
    masters = {}
    for name in names:
        dest = str(nodes / name)
        filler.fetch_image('http://img/' + name, dest)
        masters[name] = os.path.join(
            c.master_dir, cache.master_key('http://img/' + name))
        if name not in keep_linked:
            os.unlink(dest)
    return masters


def _age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def _present(masters):
    return sorted(n for n, p in masters.items() if os.path.exists(p))


def test_ttl_evicts_unused_masters_only(tmp_path, nodes):
    c = cache.ImageCache(str(tmp_path / 'm'), 0, TTL, downloader=_downloader)
    masters = _populate(c, nodes, 'abc', keep_linked='c')
    _age(masters['a'], TTL + 60)
    _age(masters['b'], TTL - 60)
    _age(masters['c'], TTL * 10)  # ancient, but a node links it
    assert c.clean_up() == SIZE
    assert _present(masters) == ['b', 'c']


def test_ttl_zero_keeps_forever(tmp_path, nodes):
    c = cache.ImageCache(str(tmp_path / 'm'), 0, 0, downloader=_downloader)
    masters = _populate(c, nodes, 'ab')
    for path in masters.values():
        _age(path, 10 ** 8)
    assert c.clean_up() == 0
    assert _present(masters) == ['a', 'b']


def test_size_evicts_least_recently_used(tmp_path, nodes):
    c = cache.ImageCache(str(tmp_path / 'm'), 2 * SIZE + 5, 0,
                         downloader=_downloader)
    masters = _populate(c, nodes, 'abc')
    _age(masters['a'], 100)
    _age(masters['b'], 300)
    _age(masters['c'], 200)
    assert c.clean_up() == SIZE
    assert _present(masters) == ['a', 'c']
    # room for SIZE more bytes: only 'a' may stay
    assert c.clean_up(amount=SIZE) == SIZE
    assert _present(masters) == ['a']


def test_linked_masters_survive_even_over_size(tmp_path, nodes):
    c = cache.ImageCache(str(tmp_path / 'm'), 1, 1, downloader=_downloader)
    masters = _populate(c, nodes, 'ab', keep_linked='ab')
    for path in masters.values():
        _age(path, 10 ** 6)
    assert c.clean_up() == 0
    assert _present(masters) == ['a', 'b']


def test_master_being_fetched_is_not_evicted(tmp_path, nodes):
    c = cache.ImageCache(str(tmp_path / 'm'), 1, 1, downloader=_downloader)
    masters = _populate(c, nodes, 'a')
    _age(masters['a'], 10 ** 6)
    lock = locks.KeyLock(c.master_dir, cache.master_key('http://img/a'))
    with lock:
        assert c.clean_up() == 0
    assert _present(masters) == ['a']
    assert c.clean_up() == SIZE


def test_download_trims_the_cache_when_size_was_unknown(tmp_path, nodes):
    c = cache.ImageCache(str(tmp_path / 'm'), 2 * SIZE + 5, 0,
                         downloader=_downloader)
    masters = _populate(c, nodes, 'ab')
    _age(masters['a'], 200)
    _age(masters['b'], 100)
    c.fetch_image('http://img/c', str(nodes / 'c'))
    assert _present(masters) == ['b']
    assert (nodes / 'c').read_bytes() == b'c' * SIZE


def test_room_is_made_before_a_download_of_known_size(tmp_path, nodes,
                                                      monkeypatch):
    seen = []
    real_fetch = download.fetch

    def watching_fetch(source, dest_path):
        seen.append(sorted(n for n in os.listdir(c.master_dir)
                           if not n.startswith('.')))
        real_fetch(source, dest_path)

    monkeypatch.setattr(download, 'fetch', watching_fetch)
    images = tmp_path / 'images'
    images.mkdir()
    for name in 'abc':
        (images / name).write_bytes(name.encode() * SIZE)
    c = cache.ImageCache(str(tmp_path / 'm'), 2 * SIZE + 5, 0)
    for name in 'ab':
        c.fetch_image('file://%s/%s' % (images, name), str(nodes / name))
        os.unlink(nodes / name)
    oldest = os.path.join(c.master_dir,
                          cache.master_key('file://%s/a' % images))
    _age(oldest, 100)
    c.fetch_image('file://%s/c' % images, str(nodes / 'c'))
    assert len(seen[2]) == 1, 'the oldest master was not evicted first'
    assert not os.path.exists(oldest)


def test_orphaned_partial_downloads_are_removed(tmp_path):
    c = cache.ImageCache(str(tmp_path / 'm'), 0, 0)
    orphan_key = cache.master_key('http://img/dead')
    busy_key = cache.master_key('http://img/busy')
    orphan = os.path.join(c.master_dir, '.%s.1234.part' % orphan_key)
    busy = os.path.join(c.master_dir, '.%s.5678.part' % busy_key)
    for path in (orphan, busy):
        with open(path, 'wb') as f:
            f.write(b'x' * SIZE)
    with locks.KeyLock(c.master_dir, busy_key):
        assert c.clean_up() == SIZE
    assert not os.path.exists(orphan)
    assert os.path.exists(busy)
