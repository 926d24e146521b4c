"""A running conductor: its drivers, worker pool, RPC server, heartbeat and
periodic tasks."""

import threading

import futurist
import oslo_messaging as messaging
from oslo_log import log

from bootflow.common import driver_factory
from bootflow.common import exception
from bootflow.common import hash_ring
from bootflow.common import rpc
from bootflow.conductor import allocations
from bootflow.conductor import instances
from bootflow.conductor import manager
from bootflow.conductor import periodics
from bootflow.conductor import power
from bootflow.conf import CONF
from bootflow.db import api as db_api
from bootflow.drivers.modules.netboot import sources
from bootflow.images import prepare as deploy_images

LOG = log.getLogger(__name__)


def _clean_image_caches():
    """Boot files and deploy images share the [pxe] cache limits; each
    cache evicts what no node links any more."""
    sources.clean_image_cache()
    freed = deploy_images.clean_cache()
    if freed:
        LOG.info('Deploy image cache: %d bytes of unused images evicted',
                 freed)


class ConductorService:
    def __init__(self, host=None):
        self.host = host or CONF.host
        self.catalog = driver_factory.DriverCatalog.from_config()
        size = CONF.conductor.workers_pool_size
        self._pool = futurist.ThreadPoolExecutor(max_workers=size)
        self._slots = threading.BoundedSemaphore(size)
        self.manager = manager.ConductorManager(self)
        self._rpc_server = None
        self._stop = threading.Event()
        self._threads = []

    # -- workers -----------------------------------------------------------

    def spawn_worker(self, func, *args):
        """Run ``func`` in the bounded pool, or refuse at once when every
        worker is busy (the API answers 503: the client may retry)."""
        if not self._slots.acquire(blocking=False):
            raise exception.NoFreeConductorWorker()

        def run():
            try:
                func(*args)
            finally:
                self._slots.release()

        try:
            self._pool.submit(run)
        except Exception:
            self._slots.release()
            raise exception.NoFreeConductorWorker()

    # -- life cycle --------------------------------------------------------

    def start(self, with_rpc=True):
        db_api.register_conductor(
            self.host, CONF.conductor.conductor_group,
            sorted(self.catalog.hardware_types), self.catalog.describe())
        hash_ring.RING.reset()
        recovered = periodics.recover_own(self)
        if recovered:
            LOG.warning('Resuming %d node(s) this conductor held when it '
                        'stopped', recovered)
        allocations.resume_unfinished(self)
        instances.take_over(self, include_own=True)
        if with_rpc:
            target = messaging.Target(topic=rpc.TOPIC, server=self.host)
            self._rpc_server = rpc.get_server(
                target, [manager.RPCEndpoint(self.manager)])
            self._rpc_server.start()
        self._start_loop('heartbeat', CONF.conductor.heartbeat_interval,
                         lambda: db_api.touch_conductor(self.host))
        self._start_loop('provision state check',
                         CONF.conductor.check_provision_state_interval,
                         self._check_provision_states)
        if CONF.conductor.sync_power_state_interval > 0:
            self._start_loop('power sync',
                             CONF.conductor.sync_power_state_interval,
                             lambda: power.sync_power_states(self))
        if CONF.pxe.image_cache_clean_interval > 0:
            self._start_loop('image cache clean-up',
                             CONF.pxe.image_cache_clean_interval,
                             _clean_image_caches)
        LOG.info('Conductor %s started with hardware types %s', self.host,
                 ', '.join(sorted(self.catalog.hardware_types)))

    def _check_provision_states(self):
        periodics.take_over_orphans(self)
        periodics.check_callback_timeouts(self)
        allocations.take_over_orphans(self)
        instances.take_over(self)

    def _start_loop(self, name, interval, func):
        def loop():
            while not self._stop.wait(interval):
                try:
                    func()
                except Exception:
                    LOG.exception('Periodic %s failed', name)

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self):
        self._stop.set()
        if self._rpc_server is not None:
            self._rpc_server.stop()
            self._rpc_server.wait()
        self._pool.shutdown(wait=True)
        power.stop_sync(self)
        try:
            db_api.unregister_conductor(self.host)
        except Exception:
            LOG.exception('Could not mark conductor %s offline', self.host)
