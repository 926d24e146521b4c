"""The BootOS agent's lifecycle: PRE script, identify, poll, run commands.

The agent pulls its commands over the poll that is also its heartbeat.
Nodes behind NAT or on one-way provisioning networks then only need to
reach the API; the ramdisk needs no listening port and no TLS certificate
of its own; the conductor never blocks on (or times out against) a node;
and latency stays low because the agent re-polls at once after a result.
"""

import collections
import importlib.metadata
import logging
import os
import threading
import time

from bootflow.agent import client as agent_client
from bootflow.agent import logbuffer
from bootflow.agent import scripts
from bootflow.agent import system

LOG = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_SETTINGS = 2
EXIT_PRE_FAILED = 3
EXIT_FATAL = 4

SUCCEEDED = 'SUCCEEDED'
FAILED = 'FAILED'
MASKED_TOKEN = '******'
_NO_MAC = '00:00:00:00:00:00'


class FatalError(Exception):
    """The agent cannot go on; the message tells the operator why."""


def agent_version():
    try:
        return importlib.metadata.version('bootflow')
    except importlib.metadata.PackageNotFoundError:
        return 'unknown'


def lookup_addresses(inventory, bootif=None):
    """MACs to look the node up by: the PXE one first (it is the most
    likely to be a registered port), then every other interface's."""
    found = [bootif] if bootif else []
    for iface in (inventory or {}).get('interfaces') or ():
        mac = (iface.get('mac_address') or '').lower()
        if mac and mac != _NO_MAC and mac not in found:
            found.append(mac)
    return found


def disk_device(root, name):
    """The device path of an inventory disk name, or None."""
    if not name:
        return None
    from bootflow.agent.imaging import disk
    return disk.device_path(root, name)


def command_result(command, status, result=None, error=None):
    return {'id': command.get('id'), 'command_name': command.get('name'),
            'command_status': status, 'command_result': result,
            'command_error': error}


class _Running:
    """One command executing in a worker thread, so the main thread keeps
    heartbeating however long partitioning or a RAID build takes."""

    def __init__(self, command, func, on_failure, on_done):
        self.command = command
        self.result = None
        self._func = func
        self._on_failure = on_failure
        self._on_done = on_done
        self._finished = threading.Event()
        self.thread = threading.Thread(
            target=self._run, daemon=True,
            name='command-%s' % command.get('name'))

    def start(self):
        self.thread.start()

    def done(self):
        return self._finished.is_set()

    def _run(self):
        try:
            self.result = self._execute()
        finally:
            if self.result is None:     # not an Exception: SystemExit...
                self.result = command_result(
                    self.command, FAILED, error='the command was aborted')
            self._finished.set()
            self._on_done()

    def _execute(self):
        name = self.command.get('name')
        LOG.info('Running command %s (%s)', name, self.command.get('id'))
        try:
            value = self._func(self.command.get('params') or {})
        except Exception as exc:
            error = '%s: %s' % (type(exc).__name__, exc)
            LOG.exception('Command %s failed: %s', name, error)
            # Ship before the result is reported, so the log with the
            # traceback is there when the server sees the failure.
            self._on_failure('command %s failed: %s' % (name, error))
            return command_result(self.command, FAILED,
                                  getattr(exc, 'command_result', None),
                                  error)
        LOG.info('Command %s succeeded', name)
        return command_result(self.command, SUCCEEDED, value)


class Agent:
    """The agent for one boot of the ramdisk.

    :param settings: :class:`bootflow.agent.settings.Settings`.
    :param client: an API client (default: one for ``settings.api_url``).
    :param inventory_func: ``f(settings) -> (inventory, notes)``; the
        default dispatches ``collect_inventory`` to the hardware managers.
    :param apply_func: ``f(section, spec, dry_run=, developer=,
        inventory=) -> dict`` for ``template.apply``; the default
        dispatches ``apply_config_section`` to the hardware managers.
    :param log_buffer: the :class:`logbuffer.RingBufferHandler` to ship
        (default: the one ``logbuffer.setup()`` installed).
    """

    def __init__(self, settings, client=None, inventory_func=None,
                 apply_func=None, log_buffer=None, version=None):
        self.settings = settings
        self.version = version or agent_version()
        self.client = client or agent_client.Client(
            settings.api_url, agent_version=self.version,
            insecure=settings.insecure)
        self.inventory_func = inventory_func or self._hardware_inventory
        self.apply_func = apply_func or self._hardware_apply
        self.inventory = None
        self._dispatcher = None
        self.log_buffer = log_buffer or logbuffer.installed_buffer()
        self.commands = {
            'template.apply': self._cmd_template_apply,
            'inventory.collect': self._cmd_inventory_collect,
            'log.upload': self._cmd_log_upload,
            'system.finish': self._cmd_system_finish,
            'image.write': self._cmd_image_write,
            'disk.erase_metadata': self._cmd_erase_metadata,
            'disk.erase': self._cmd_erase,
        }
        self.interval = settings.poll_interval
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seen = set()
        self._queue = collections.deque()
        self._running = None
        self._results = []
        self._events = []
        self._finishing = False
        self._progress_at = 0.0
        self._written_device = None
        # set when system.finish loaded the deployed kernel: main() jumps
        # into it once the server has the result
        self.kexec_loaded = False

    # -- lifecycle ---------------------------------------------------

    def run(self):
        """Run the whole lifecycle; returns the process exit code."""
        pre = None
        if self.settings.pre_url:
            pre = self._script('pre', self.settings.pre_url,
                               self.settings.pre_checksum)
        try:
            self._identify()
        except (FatalError, agent_client.ClientError) as exc:
            LOG.error('Cannot identify this machine to the API: %s', exc)
            return EXIT_FATAL
        if pre is not None:
            self._emit(pre)
        try:
            if scripts.failed(pre):
                return self._abort_pre()
            return self._loop()
        except Exception as exc:
            LOG.exception('Fatal error: %s: %s', type(exc).__name__, exc)
            self._ship('fatal error: %s: %s' % (type(exc).__name__, exc))
            return EXIT_FATAL

    def stop(self):
        """Ask the poll loop to end (e.g. on SIGTERM); the log is shipped
        and run() returns EXIT_FATAL since provisioning did not finish."""
        self._stop.set()
        self._wake.set()

    def _identify(self):
        """Collect the inventory and get the node and its token."""
        inventory, notes = self._collect()
        if self.settings.inspect:
            response = self._inspect(inventory, notes)
        else:
            response = self._lookup(inventory, notes)
        node, config = self.client.identify(response)
        if not self.client.token:
            raise FatalError(
                'The server gave node %s no agent token (%r): an earlier '
                'agent run on this boot already received it; reboot the '
                'node to get a new one' % (node['uuid'],
                                           config.get('agent_token')))
        logbuffer.add_secret(self.client.token)
        self._set_interval(config.get('heartbeat_interval'))
        LOG.info('This machine is node %s', node['uuid'])

    def _lookup(self, inventory, notes):
        settings = self.settings
        addresses = lookup_addresses(inventory, settings.bootif)
        if not addresses and not settings.node_uuid:
            raise FatalError('No MAC address and no node UUID to look the '
                             'node up by (pass bootflow_node= or BOOTIF= on '
                             'the kernel command line)')
        # With discovery on, an unknown machine is enrolled at once
        # instead of waiting out the lookup timeout first.
        timeout = 0 if settings.discover else settings.lookup_timeout
        try:
            return self.client.lookup(addresses, settings.node_uuid,
                                      timeout=timeout)
        except agent_client.NotFound as exc:
            if not settings.discover:
                raise FatalError('No node matches this machine (%s) after '
                                 '%ss: %s' % (', '.join(addresses)
                                              or settings.node_uuid,
                                              timeout, exc.faultstring))
        LOG.info('No node matches this machine; discovering it')
        return self._inspect(inventory, notes)

    def _collect(self):
        """Inventory, or (None, notes) when collection failed: a lookup
        by BOOTIF or node UUID can still succeed without it."""
        try:
            inventory, notes = self.inventory_func(self.settings)
        except Exception as exc:
            LOG.exception('Inventory collection failed')
            return None, ['inventory collection failed: %s: %s'
                          % (type(exc).__name__, exc)]
        self.inventory = inventory
        return inventory, list(notes or ())

    def _inspect(self, inventory, notes):
        if inventory is None:
            raise FatalError('Cannot send an inventory: %s' % '; '.join(notes))
        return self.client.continue_inspection(
            inventory, notes, node_uuid=self.settings.node_uuid,
            url=self.settings.continue_inspection_url,
            developer=self.settings.developer)

    def _abort_pre(self):
        """Report the failed PRE script and give up: the operator's
        precondition for provisioning this machine does not hold.

        The log goes first: the report fails the node's flow, whose power
        off wipes the token a later upload would need.
        """
        self._ship('PRE script failed')
        try:
            self.client.poll([], self._take_events())
        except agent_client.ClientError as exc:
            LOG.error('Could not report the PRE script failure: %s', exc)
        return EXIT_PRE_FAILED

    def _loop(self):
        """Poll until the result of ``system.finish`` is accepted."""
        while True:
            self._wake.clear()
            self._harvest()
            if self._stop.is_set():
                raise FatalError('the agent was stopped before it finished')
            results, events = list(self._results), self._take_events()
            try:
                response = self.client.poll(results, events)
            except agent_client.TransientError as exc:
                LOG.warning('Poll failed, trying again in %ss: %s',
                            self.interval, exc)
                with self._lock:
                    self._events[:0] = events
                self._wake.wait(self.interval)
                continue
            del self._results[:len(results)]
            if any(r['command_name'] == 'system.finish' for r in results):
                LOG.info('Finished: the server has the final result')
                return EXIT_OK
            self._set_interval(response.get('heartbeat_interval'))
            self._receive(response.get('commands') or ())
            self._start_next()
            if not (results or events):
                self._wake.wait(self.interval)

    # -- commands ----------------------------------------------------

    def _receive(self, commands):
        """Queue new commands; the server re-sends a command until it has
        its result, so ids already seen are skipped."""
        for command in commands:
            if command.get('id') in self._seen:
                continue
            self._seen.add(command.get('id'))
            if self._finishing:
                LOG.warning('Ignoring command %s after system.finish',
                            command.get('name'))
                continue
            self._queue.append(command)

    def _start_next(self):
        if self._running is not None or not self._queue:
            return
        command = self._queue.popleft()
        func = self.commands.get(command.get('name'))
        if func is None:
            LOG.error('Unknown command %s', command.get('name'))
            self._results.append(command_result(
                command, FAILED,
                error='Unknown command %s' % command.get('name')))
            self._wake.set()
            return
        if command.get('name') == 'system.finish':
            self._finishing = True
        self._running = _Running(command, func, self._ship, self._wake.set)
        self._running.start()

    def _harvest(self):
        """Move a finished command's result to the ones to report."""
        if self._running is not None and self._running.done():
            self._results.append(self._running.result)
            self._running = None

    def _cmd_template_apply(self, params):
        developer = params.get('developer')
        if developer is None:
            developer = self.settings.developer
        return self.apply_func(params.get('section'), params.get('spec'),
                               dry_run=bool(params.get('dry_run')),
                               developer=bool(developer),
                               inventory=self.inventory)

    def _cmd_inventory_collect(self, params):
        inventory, notes = self.inventory_func(self.settings)
        self.inventory = inventory
        return {'inventory': inventory, 'notes': list(notes or ())}

    def _cmd_log_upload(self, params):
        text = self.log_buffer.text() if self.log_buffer else ''
        self.client.upload_log(params.get('reason') or 'requested', text)
        return {}

    def _cmd_system_finish(self, params):
        """POST script, then the agent is done: its result being accepted
        ends the loop.  A failed POST fails the command (the server sees
        it) but the agent still exits 0: there is nothing left to do."""
        event = None
        if self.settings.post_url:
            event = self._script('post', self.settings.post_url,
                                 self.settings.post_checksum)
            self._emit(event)
            if scripts.failed(event):
                raise PostScriptFailed(event)
        result = {'post': event}
        summary = system.memory_summary()
        if summary:
            LOG.info('At the end, %s', summary)
        if params.get('kexec'):
            from bootflow.agent import kexec
            result['kexec'] = kexec.prepare(
                disk_device(self.settings.root, self._written_device),
                sys_root=os.path.join(self.settings.root, 'sys'))
            self.kexec_loaded = bool(result['kexec'].get('loaded'))
        return result

    def _disks(self):
        if not (self.inventory or {}).get('disks'):
            self.inventory, _notes = self.inventory_func(self.settings)
        return list((self.inventory or {}).get('disks') or ())

    def _cmd_image_write(self, params):
        from bootflow.agent.imaging import deploy
        result = deploy.write_image(
            params, self._disks(), root=self.settings.root,
            progress=self._progress_for('image.write', params))
        self._written_device = result.get('root_device')
        return result

    def _cmd_erase_metadata(self, params):
        from bootflow.agent.imaging import deploy
        return deploy.erase_metadata(params, self._disks(),
                                     root=self.settings.root)

    def _cmd_erase(self, params):
        from bootflow.agent.imaging import deploy
        return deploy.erase_devices(
            params, self._disks(), root=self.settings.root,
            progress=self._progress_for('disk.erase', params))

    # -- progress ----------------------------------------------------

    def _progress_for(self, command, params):
        """A throttled reporter: long writes tell the server how far
        they got (shown on the node) without a poll per block; only the
        latest report waits to be sent."""
        try:
            interval = float(params.get('progress_interval') or 2.0)
        except (TypeError, ValueError):
            interval = 2.0

        def report(fields):
            now = time.monotonic()
            final = fields.get('phase') == 'done'
            if not final and now - self._progress_at < interval:
                return
            self._progress_at = now
            event = dict(fields, kind='progress', command=command)
            with self._lock:
                self._events = [e for e in self._events
                                if e.get('kind') != 'progress'] + [event]
            self._wake.set()
        return report

    # -- hardware managers -------------------------------------------

    def _hardware(self):
        """The managers, ranked once: ranking probes the hardware."""
        if self._dispatcher is None:
            from bootflow.agent import hardware
            self._dispatcher = hardware.Dispatcher(
                system.System(self.settings.root))
        return self._dispatcher

    def _hardware_inventory(self, settings):
        """Through the managers, so a vendor plugin can override
        collection like any other operation."""
        hardware = self._hardware()
        return hardware.dispatch('collect_inventory', hardware.system,
                                 settings.bootif)

    def _hardware_apply(self, section, spec, dry_run=False, developer=False,
                        inventory=None):
        return self._hardware().dispatch(
            'apply_config_section', section, spec, dry_run=dry_run,
            developer=developer, inventory=inventory)

    # -- helpers -----------------------------------------------------

    def _script(self, phase, url, checksum):
        return scripts.run(phase, url, checksum,
                           timeout=self.settings.script_timeout,
                           node_uuid=self.client.node_uuid
                           or self.settings.node_uuid,
                           api_url=self.settings.api_url,
                           developer=self.settings.developer)

    def _emit(self, event):
        with self._lock:
            self._events.append(event)

    def _take_events(self):
        with self._lock:
            events, self._events = self._events, []
        return events

    def _set_interval(self, value):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return
        if value > 0:
            self.interval = value

    def _ship(self, reason):
        if self.log_buffer is not None:
            self.log_buffer.ship(self.client, reason)
        else:
            LOG.warning('Not shipping the log (%s): no log buffer', reason)


class PostScriptFailed(Exception):
    """The POST script failed; its event still goes with the FAILED
    result (``command_result``) so the server has both."""

    def __init__(self, event):
        super().__init__('POST script failed (rc=%s): %s' % (
            event.get('rc'), event.get('error') or 'non-zero exit status'))
        self.command_result = {'post': event}
