"""Single flight: one download per image across threads and processes,
while different images still download in parallel."""

import hashlib
import multiprocessing
import os
import threading
import time

import pytest

from bootflow.images import cache
from bootflow.images import locks

SRC = 'http://images.example/deploy.iso'
DATA = b'iso bytes ' * 4096
SHA256 = hashlib.sha256(DATA).hexdigest()
WAIT = 30  # seconds; only reached when the code under test is broken


def _write(dest_path, data=DATA):
    with open(dest_path, 'wb') as f:
        f.write(data)


def _wait_for(condition, timeout=WAIT):
    """Poll for a condition another process makes true (no event to wait
    on across processes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_ten_threads_one_download(tmp_path, monkeypatch):
    callers = 10
    arrived = []
    all_arrived = threading.Event()
    real_acquire = locks.KeyLock.acquire

    def counting_acquire(self, blocking=True):
        if blocking:
            arrived.append(threading.get_ident())
            if len(arrived) == callers:
                all_arrived.set()
        return real_acquire(self, blocking)

    monkeypatch.setattr(locks.KeyLock, 'acquire', counting_acquire)
    downloads = []

    def downloader(source, dest_path):
        downloads.append(source)
        # hold the download until every caller is inside fetch_image,
        # queued on the key: they must all wait and then reuse it
        assert all_arrived.wait(WAIT)
        _write(dest_path)

    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0,
                         downloader=downloader)
    dests = [str(tmp_path / ('node%d' % i)) for i in range(callers)]
    errors = []

    def worker(dest):
        try:
            c.fetch_image(SRC, dest, checksum=SHA256)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(d,)) for d in dests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert errors == []
    assert downloads == [SRC]
    inodes = {os.stat(d).st_ino for d in dests}
    master = os.path.join(c.master_dir, cache.master_key(SRC, SHA256))
    assert inodes == {os.stat(master).st_ino}
    assert os.stat(master).st_nlink == callers + 1
    assert not [ident for ident in locks._THREAD_LOCKS._locks
                if ident[0] == os.path.realpath(c.master_dir)]


def test_different_images_download_in_parallel(tmp_path):
    started = {'a': threading.Event(), 'b': threading.Event()}

    def downloader(source, dest_path):
        name = source.rsplit('/', 1)[1]
        started[name].set()
        # each download waits for the other to have started: a lock
        # shared between images would deadlock here
        other = 'b' if name == 'a' else 'a'
        assert started[other].wait(WAIT), 'downloads were serialized'
        _write(dest_path, name.encode())

    c = cache.ImageCache(str(tmp_path / 'master'), 0, 0,
                         downloader=downloader)
    errors = []

    def worker(name):
        try:
            c.fetch_image('http://x/' + name, str(tmp_path / name))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in 'ab']
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert errors == []
    assert (tmp_path / 'a').read_bytes() == b'a'
    assert (tmp_path / 'b').read_bytes() == b'b'


def _child_fetch(master_dir, dest, marker):
    """Runs in another process: a second conductor sharing master_dir."""
    def downloader(source, dest_path):
        with open(marker, 'w'):
            pass
        _write(dest_path)

    cache.ImageCache(master_dir, 0, 0, downloader=downloader).fetch_image(
        SRC, dest, checksum=SHA256)


def _flock_waiters(path):
    """Processes blocked in flock() on ``path``, from /proc/locks."""
    ino = os.stat(path).st_ino
    count = 0
    with open('/proc/locks') as f:
        for line in f:
            fields = line.split()
            if '->' in fields and any(
                    fld.count(':') == 2 and fld.rsplit(':', 1)[1] == str(ino)
                    for fld in fields):
                count += 1
    return count


def test_processes_sharing_the_cache_download_once(tmp_path):
    if not os.access('/proc/locks', os.R_OK):
        pytest.skip('needs /proc/locks to see a process wait on the lock')
    master_dir = str(tmp_path / 'master')
    lock_path = os.path.join(
        master_dir, '.%s.lock' % cache.master_key(SRC, SHA256))
    marker = str(tmp_path / 'child-downloaded')
    ctx = multiprocessing.get_context('spawn')
    child = ctx.Process(target=_child_fetch,
                        args=(master_dir, str(tmp_path / 'child'), marker))

    def downloader(source, dest_path):
        # we hold the key's lock: let the other process queue on it
        child.start()
        assert _wait_for(lambda: _flock_waiters(lock_path) == 1)
        _write(dest_path)

    c = cache.ImageCache(master_dir, 0, 0, downloader=downloader)
    c.fetch_image(SRC, str(tmp_path / 'parent'), checksum=SHA256)
    child.join(WAIT)
    assert child.exitcode == 0
    assert not os.path.exists(marker), 'the other process downloaded too'
    assert os.path.samefile(tmp_path / 'parent', tmp_path / 'child')
