"""Engine set-up and transaction helpers.

SQLite is the embedded default, so it gets care that Ironic does not give
it: WAL (readers never wait for writers), a busy timeout for writers in
other processes, ``BEGIN IMMEDIATE`` for write transactions (a deferred
transaction that later tries to write can fail at once with "database is
locked" instead of waiting), and one write lock per process so that this
process's own threads queue in Python instead of sleeping in SQLite's busy
handler.  Every write is retried on lock conflicts and deadlocks, for
PostgreSQL as well.
"""

import contextlib
import functools
import random
import threading
import time

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from oslo_log import log

from bootflow.common import exception
from bootflow.conf import CONF

LOG = log.getLogger(__name__)

_ENGINE = None
_ENGINE_LOCK = threading.Lock()
_SQLITE_WRITE_LOCK = threading.RLock()
_local = threading.local()


def _json_dumps(value):
    return orjson.dumps(value).decode()


def _configure_sqlite(engine):
    timeout = CONF.database.sqlite_busy_timeout

    @event.listens_for(engine, 'connect')
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's begin event issue BEGIN itself (see below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute('PRAGMA journal_mode=WAL')
        cur.execute('PRAGMA synchronous=NORMAL')
        cur.execute('PRAGMA foreign_keys=ON')
        cur.execute('PRAGMA busy_timeout=%d' % timeout)
        cur.close()

    @event.listens_for(engine, 'begin')
    def _on_begin(conn):
        conn.exec_driver_sql(conn.info.get('bootflow_begin', 'BEGIN'))


def create_engine(url=None):
    url = url or CONF.database.connection
    kwargs = {'json_serializer': _json_dumps,
              'json_deserializer': orjson.loads,
              'pool_pre_ping': False}
    if url.startswith('sqlite'):
        kwargs['connect_args'] = {'check_same_thread': False,
                                  'timeout': CONF.database.sqlite_busy_timeout
                                  / 1000.0}
        if ':memory:' not in url and url.rstrip('/') != 'sqlite:':
            kwargs.update(pool_size=8, max_overflow=56)
    else:
        kwargs.update(pool_size=CONF.database.max_pool_size or 10,
                      max_overflow=CONF.database.max_overflow or 50,
                      pool_recycle=CONF.database.connection_recycle_time,
                      pool_pre_ping=True)
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == 'sqlite':
        _configure_sqlite(engine)
    return engine


_FLOW_ENGINE = None


def get_flow_engine():
    """The engine taskflow's persistence writes through.

    On SQLite it is a second engine on the same file whose transactions
    all start with BEGIN IMMEDIATE: taskflow reads before it writes in one
    transaction, and a deferred one would fail outright (not wait) if
    another connection committed in between. Elsewhere it is the main
    engine.
    """
    global _FLOW_ENGINE
    engine = get_engine()
    if engine.dialect.name != 'sqlite':
        return engine
    with _ENGINE_LOCK:
        if _FLOW_ENGINE is None or _FLOW_ENGINE.url != engine.url:
            if _FLOW_ENGINE is not None:
                _FLOW_ENGINE.dispose()
            _FLOW_ENGINE = create_engine(
                engine.url.render_as_string(hide_password=False))

            @event.listens_for(_FLOW_ENGINE, 'connect')
            def _immediate(dbapi_conn, record):
                record.info['bootflow_begin'] = 'BEGIN IMMEDIATE'
        return _FLOW_ENGINE


def write_serialized():
    """Held around writes that bypass ``writer()`` (taskflow's), so this
    process's SQLite writers queue on a lock instead of busy-polling."""
    if is_sqlite():
        return _SQLITE_WRITE_LOCK
    return contextlib.nullcontext()


def get_engine():
    global _ENGINE
    if _ENGINE is None:
        with _ENGINE_LOCK:
            if _ENGINE is None:
                _ENGINE = create_engine()
    return _ENGINE


def dispose():
    global _ENGINE, _FLOW_ENGINE
    with _ENGINE_LOCK:
        for engine in (_ENGINE, _FLOW_ENGINE):
            if engine is not None:
                engine.dispose()
        _ENGINE = _FLOW_ENGINE = None


def is_sqlite():
    return get_engine().dialect.name == 'sqlite'


@contextlib.contextmanager
def reader():
    """A read transaction; nested use reuses the enclosing connection."""
    conn = getattr(_local, 'conn', None)
    if conn is not None:
        yield conn
        return
    with get_engine().connect() as conn:
        with conn.begin():
            _local.conn = conn
            try:
                yield conn
            finally:
                _local.conn = None


@contextlib.contextmanager
def writer():
    """A write transaction; nested use joins the enclosing one."""
    conn = getattr(_local, 'conn', None)
    if conn is not None:
        yield conn
        return
    engine = get_engine()
    sqlite = engine.dialect.name == 'sqlite'
    lock = _SQLITE_WRITE_LOCK if sqlite else contextlib.nullcontext()
    with lock:
        with engine.connect() as conn:
            if sqlite:
                conn.info['bootflow_begin'] = 'BEGIN IMMEDIATE'
            try:
                with conn.begin():
                    _local.conn = conn
                    try:
                        yield conn
                    finally:
                        _local.conn = None
            finally:
                conn.info.pop('bootflow_begin', None)


def _is_retriable(exc):
    text = str(getattr(exc, 'orig', exc)).lower()
    return ('database is locked' in text or 'deadlock' in text
            or 'could not serialize' in text
            or 'database table is locked' in text)


def retry_on_conflict(func):
    """Run ``func`` again when the database reports a lock conflict.

    Only the outermost call retries: an inner failure must abort the whole
    transaction it joined.
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if getattr(_local, 'conn', None) is not None:
            return func(*args, **kwargs)
        attempts = CONF.database.db_retry_attempts
        for attempt in range(attempts + 1):
            try:
                return func(*args, **kwargs)
            except sa_exc.OperationalError as e:
                if not _is_retriable(e) or attempt >= attempts:
                    if _is_retriable(e):
                        raise exception.DBRetryExhausted() from e
                    raise
                LOG.debug('Retrying %s after a database lock conflict',
                          func.__name__)
                time.sleep(min(2.0, 0.02 * (2 ** attempt))
                           * random.uniform(0.5, 1.0))
    return wrapper
