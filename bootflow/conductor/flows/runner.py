"""Running node flows: persisted in the service database, parked while
the ramdisk works, resumed by its callback or after a conductor crash.

Each node has at most one flow at a time, kept in a taskflow logbook whose
uuid is the node's uuid (taskflow's SQLAlchemy persistence, on bootflow's
own engine, tables created by bootflow's migrations). The logbook is
dropped when the flow ends, so the tables only ever hold flows in
progress: the ones a crashed conductor leaves behind are exactly the ones
to resume.

Every entry point here runs in a conductor worker that holds the node's
lock (``task``); the worker releases it when the function returns, parked
or not. A parked flow holds no thread and no lock — only rows.
"""

import contextlib
import threading

import sqlalchemy as sa
from oslo_log import log
from taskflow import engines
from taskflow import exceptions as tf_exc
from taskflow.engines import helpers
from taskflow import states as tf_states
from taskflow.persistence.backends import impl_sqlalchemy
from taskflow.persistence import models as tf_models
from taskflow.utils import persistence_utils as p_utils

from bootflow.common import states
from bootflow.conductor.flows import builders
from bootflow.conductor.flows import tasks
from bootflow.db import engine as db_engine

LOG = log.getLogger(__name__)

_BACKEND = None
_BACKEND_LOCK = threading.Lock()


class _Backend(impl_sqlalchemy.SQLAlchemyBackend):
    """Taskflow's SQLAlchemy persistence with one shared connection object
    whose every call queues on the process's SQLite write lock, like
    bootflow's own writes.

    Taskflow asks for a connection per storage operation and each one
    builds its table objects afresh, which defeats SQLAlchemy's statement
    cache (most of a flow's run time went there); the connection object
    holds no database connection of its own, so sharing it is safe.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._shared = None

    def get_connection(self):
        if self._shared is None:
            conn = _LeanConnection(self, upgrade_lock=self._upgrade_lock)
            conn.validate(max_retries=self._max_retries)
            self._shared = _SerializedConnection(conn)
        return self._shared


class _LeanConnection(impl_sqlalchemy.Connection):
    """Two of taskflow's updates, with the same effect in fewer queries.

    Taskflow's engine storage holds the complete, current copy of every
    detail it saves, and saves an atom's detail itself whenever the atom
    changes. So an atom update can overwrite the row without reading and
    merging it first, and a flow update needs to write the flow's row and
    insert atoms new to it, not rewrite every atom — which taskflow's
    own version does on each flow state change.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._statements = {}

    def _update_by_uuid(self, table, keys):
        """An UPDATE with bound parameters, built once per table and set of
        columns: building statements from literal values cost more than
        running them."""
        key = (table.name, keys)
        stmt = self._statements.get(key)
        if stmt is None:
            stmt = table.update().where(
                table.c.uuid == sa.bindparam('match_uuid')).values(
                    {k: sa.bindparam(k) for k in keys})
            self._statements[key] = stmt
        return stmt

    def _update_row(self, conn, table, detail):
        values = detail.to_dict()
        values.pop('uuid', None)
        stmt = self._update_by_uuid(table, tuple(sorted(values)))
        return conn.execute(stmt, dict(values, match_uuid=detail.uuid)
                            ).rowcount

    def update_atom_details(self, atom_detail):
        with self._engine.begin() as conn:
            count = self._update_row(conn, self._tables.atomdetails,
                                     atom_detail)
        if not count:
            raise tf_exc.NotFound('No atom details found with uuid %r'
                                  % atom_detail.uuid)
        return atom_detail

    def update_flow_details(self, flow_detail):
        atoms = self._tables.atomdetails
        with self._engine.begin() as conn:
            count = self._update_row(conn, self._tables.flowdetails,
                                     flow_detail)
            if not count:
                raise tf_exc.NotFound('No flow details found with uuid %r'
                                      % flow_detail.uuid)
            known = set(conn.execute(sa.select(atoms.c.uuid).where(
                atoms.c.parent_uuid == flow_detail.uuid)).scalars())
            new = [dict(atom.to_dict(), parent_uuid=flow_detail.uuid,
                        atom_type=tf_models.atom_detail_type(atom))
                   for atom in flow_detail if atom.uuid not in known]
            if new:
                # one statement for all of a new flow's atoms
                conn.execute(atoms.insert(), new)
        return flow_detail


class _SerializedConnection:
    def __init__(self, conn):
        self._conn = conn

    def __getattr__(self, name):
        attr = getattr(self._conn, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with db_engine.write_serialized():
                return attr(*args, **kwargs)
        return call


def backend():
    """Taskflow's persistence on bootflow's database (its SQLite settings
    and pools); rebuilt if the engine was replaced (tests do)."""
    global _BACKEND
    engine = db_engine.get_flow_engine()
    current = _BACKEND
    if current is None or current.engine is not engine:
        with _BACKEND_LOCK:
            if _BACKEND is None or _BACKEND.engine is not engine:
                url = engine.url.render_as_string(hide_password=False)
                _BACKEND = _Backend({'connection': url}, engine=engine)
            current = _BACKEND
    return current


@contextlib.contextmanager
def _connection():
    conn = backend().get_connection()
    try:
        yield conn
    finally:
        conn.close()


def flow_detail(book_uuid):
    """The flow in progress of a node (or instance), or None."""
    with _connection() as conn:
        try:
            book = conn.get_logbook(book_uuid)
        except Exception:   # taskflow raises NotFound
            return None
    details = list(book)
    return details[0] if details else None


def forget(book_uuid):
    with _connection() as conn:
        try:
            conn.destroy_logbook(book_uuid)
        except Exception:
            pass


def start(task, name, **kwargs):
    """Worker body: build the operation's flow for the locked node and run
    it until it ends or parks. Never leaves the node half-way: if the flow
    cannot even be set up, the node fails with the reason."""
    try:
        engine = _new_engine(task, name, kwargs)
    except Exception as e:
        LOG.exception('Could not start the %s flow of node %s', name,
                      task.node.uuid)
        _fail(task, e)
        return
    _drive(task, engine)


def _new_engine(task, name, kwargs):
    return new_engine(task.node.uuid, builders.BUILDERS[name], kwargs)


def new_engine(book_uuid, factory, kwargs, store=None):
    """A fresh, persisted flow under the logbook ``book_uuid`` (any older
    flow there is dropped)."""
    forget(book_uuid)
    flow = factory(**kwargs)
    book = tf_models.LogBook('flow of %s' % book_uuid, uuid=book_uuid)
    detail = p_utils.create_flow_detail(flow, book=book)
    # The builder's name and arguments go in with the flow's first save,
    # in the same transaction: a crash can never leave a flow behind
    # that could not be rebuilt.
    helpers.save_factory_details(detail, factory, None, kwargs)
    with _connection() as conn:
        conn.save_logbook(book)
    return engines.load(flow, flow_detail=detail, book=book,
                        backend=backend(), store=store)


def resume(task, reason, error=None):
    """Wake the node's parked (or interrupted) flow.

    ``reason`` is 'callback', 'timeout', 'abort', 'error' (the ramdisk
    reported ``error``), or None for a flow a dead conductor left running.
    Returns False when there is no flow to resume.
    """
    detail = flow_detail(task.node.uuid)
    if detail is None:
        return False
    state = detail.state
    if state == tf_states.SUCCESS:
        forget(task.node.uuid)
        return True
    if state in (tf_states.FAILURE, tf_states.REVERTED):
        _fail(task, 'the flow had already failed before the conductor '
                    'stopped')
        return True
    try:
        engine = _reload(detail)
    except Exception as e:
        LOG.exception('Could not reload the flow of node %s',
                      task.node.uuid)
        _fail(task, 'its flow could not be resumed: %s' % e)
        return True
    task.resume_reason = reason
    task.resume_error = error
    _drive(task, engine)
    return True


def _reload(detail):
    """The persisted flow, rebuilt, with its parked atom due to run
    again."""
    engine = engines.load_from_detail(detail, backend=backend())
    engine.compile()
    engine.prepare()
    for atom in detail:
        if atom.state == tf_states.SUCCESS and atom.results == tasks.PARKED:
            engine.storage.set_atom_intention(atom.name, tf_states.EXECUTE)
            engine.storage.set_atom_state(atom.name, tf_states.PENDING)
    return engine


def _drive(task, engine):
    parked = []

    def on_success(state, details):
        if details.get('result') == tasks.PARKED:
            parked.append(details.get('task_name'))
            engine.suspend()

    engine.atom_notifier.register(tf_states.SUCCESS, on_success)
    storage = engine.storage
    # Atoms report no progress of their own, yet taskflow would save a
    # 0.0 and a 1.0 for each in separate transactions: almost half of a
    # flow's writes, for nothing a resume needs.
    storage.set_task_progress = _no_progress
    storage.inject({'task': task}, transient=True)
    try:
        engine.run()
    except Exception as e:
        _fail(task, e)
        return
    if parked:
        LOG.debug('Node %s parked in %s at %s', task.node.uuid,
                  task.node.provision_state, parked[0])
        return
    forget(task.node.uuid)


def _no_progress(task_name, progress, details=None):
    return None


def _fail(task, error):
    node = task.node
    state = node.provision_state
    prefix = builders.FAILURE_PREFIX.get(state)
    # an aborted wait is already in its failed state: the reason says all
    message = '%s: %s' % (prefix, error) if prefix else str(error)
    task.fail(builders.failure_event(state), message)
    forget(node.uuid)


def fail_without_flow(task, reason):
    """A node in a transitional state with no flow to go on with (its
    conductor died before the flow was saved): fail it with a reason."""
    state = task.node.provision_state
    if state in states.TRANSITIONAL_STATES or state in states.WAIT_STATES:
        _fail(task, reason)
