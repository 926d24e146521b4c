"""One lock per cache key, held across threads and processes.

Conductors on one host may share a master cache directory, so a key is
guarded by ``fcntl.flock`` on a lock file as well as by a thread lock
(flock does not exclude threads of one process that open the file
separately). Eviction needs a non-blocking try, which is why this is not
oslo.concurrency's ``lockutils.lock``.
"""

import fcntl
import os
import threading


class _ThreadLocks:
    """Per-(master_dir, key) thread locks, dropped when nobody wants them.

    Module-wide so that two ImageCache objects over the same directory in
    one process still exclude each other.
    """

    def __init__(self):
        self._guard = threading.Lock()
        self._locks = {}

    def get(self, ident):
        with self._guard:
            entry = self._locks.setdefault(ident, [threading.Lock(), 0])
            entry[1] += 1
            return entry[0]

    def put(self, ident):
        with self._guard:
            entry = self._locks[ident]
            entry[1] -= 1
            if not entry[1]:
                del self._locks[ident]


_THREAD_LOCKS = _ThreadLocks()


class KeyLock:
    """Exclusive lock on one key, across threads and processes."""

    def __init__(self, master_dir, key):
        self._ident = (os.path.realpath(master_dir), key)
        self._path = os.path.join(master_dir, '.%s.lock' % key)
        self._fd = self._tlock = None

    def acquire(self, blocking=True):
        tlock = _THREAD_LOCKS.get(self._ident)
        if not tlock.acquire(blocking):
            _THREAD_LOCKS.put(self._ident)
            return False
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                         0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX
                            | (0 if blocking else fcntl.LOCK_NB))
            except BaseException:
                os.close(fd)
                raise
        except BlockingIOError:
            self._release_thread_lock(tlock)
            return False
        except BaseException:
            self._release_thread_lock(tlock)
            raise
        self._fd, self._tlock = fd, tlock
        return True

    def release(self):
        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        self._release_thread_lock(self._tlock)

    def _release_thread_lock(self, tlock):
        tlock.release()
        _THREAD_LOCKS.put(self._ident)

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()
