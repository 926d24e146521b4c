#!/usr/bin/env python3
"""API benchmark for bootflow, or for any service speaking Ironic's REST API v1.

Runs against one endpoint with noauth (``--endpoint http://127.0.0.1:6385``)
and measures four things:

  enroll     N nodes (POST /v1/nodes, driver fake-hardware) plus one port each
             (POST /v1/ports, unique MAC), from C client threads -> nodes/s.
             409 and 503 answers (and connection errors) are retried a few
             times; retries and final failures are counted.
  lists      for each cumulative size in --nodes (e.g. 1000,10000: enroll
             1000, measure, enroll 9000 more, measure): GET /v1/nodes and
             GET /v1/nodes/detail, first page (median ms over --repeats calls)
             and all pages following "next" links (median ms over
             --full-repeats); likewise openstacksdk's conn.baremetal.nodes()
             and nodes(details=True) when openstacksdk is importable.
  provision  M fresh nodes in parallel: manage -> provide -> deploy (target
             active) -> undeploy (target deleted).  Seconds from the first
             request of a phase until all nodes reach manageable, available,
             active, available; nodes ending in failure states are counted.
  rss        with --pid: RSS of PID plus its descendants sampled every 0.25 s
             -> peak MiB, threads of PID (and of the whole tree) at the peak,
             and the service's CPU seconds per phase.

The JSON summary goes to stdout (and to --out); progress goes to stderr.
Exit status: 0 when all phases ran (errors are counted in the JSON), 2 on a
fatal error (the partial JSON is still printed with "fatal" set), 130 when
interrupted.

Only the 'requests' package is needed; openstacksdk is optional.  The
script only talks to the given endpoint, which must be a loopback address
unless --allow-remote is given.
"""

import argparse
import concurrent.futures
import ipaddress
import json
import os
import random
import socket
import statistics
import sys
import threading
import time
import urllib.parse

from proc_sampler import cpu_seconds
from proc_sampler import read_status
from proc_sampler import tree as process_tree

try:
    import requests
except ImportError:  # pragma: no cover
    sys.exit('api_bench.py needs the "requests" package')

HEADER = 'X-OpenStack-Ironic-API-Version'
WANTED_VERSION = (1, 115)
RETRY_STATUSES = (409, 503)
FAILURE_STATES = ('deploy failed', 'clean failed', 'inspect failed',
                  'adopt failed', 'rescue failed', 'unrescue failed',
                  'service failed', 'error')
# (phase name, provision verb, state every node must reach)
CYCLE = (('manage', 'manage', 'manageable'),
         ('provide', 'provide', 'available'),
         ('deploy', 'active', 'active'),
         ('undeploy', 'deleted', 'available'))
MAX_ERROR_SAMPLES = 25


def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


class FatalError(Exception):
    pass


def ms(seconds):
    return round(seconds * 1000.0, 1)


def median_ms(samples):
    return ms(statistics.median(samples)) if samples else None


def percentile_ms(samples, pct):
    if not samples:
        return None
    ordered = sorted(samples)
    idx = min(len(ordered) - 1, int(round(pct / 100.0 * (len(ordered) - 1))))
    return ms(ordered[idx])


def parse_version(text):
    try:
        major, minor = str(text).split('.', 1)
        return int(major), int(minor)
    except (ValueError, AttributeError):
        return None


# ---------------------------------------------------------------------------
# Error bookkeeping
# ---------------------------------------------------------------------------

class Errors:
    """Thread-safe counters of retries and failed requests, per phase."""

    def __init__(self):
        self._lock = threading.Lock()
        self.retries = {}      # phase -> {status: count}
        self.failures = {}     # phase -> {status: count}
        self.samples = []      # first few failures/retries, verbatim

    def _bump(self, table, phase, status):
        per_phase = table.setdefault(phase, {})
        per_phase[str(status)] = per_phase.get(str(status), 0) + 1

    def record(self, kind, phase, method, url, status, body):
        with self._lock:
            self._bump(self.retries if kind == 'retry' else self.failures,
                       phase, status)
            if len(self.samples) < MAX_ERROR_SAMPLES:
                self.samples.append({
                    'kind': kind, 'phase': phase, 'method': method,
                    'path': urllib.parse.urlsplit(url).path
                    + ('?' + urllib.parse.urlsplit(url).query
                       if urllib.parse.urlsplit(url).query else ''),
                    'status': status, 'body': (body or '')[:500]})

    def count(self, table, phase=None):
        with self._lock:
            phases = [phase] if phase else list(table)
            return sum(sum(table.get(p, {}).values()) for p in phases)

    def as_dict(self):
        with self._lock:
            return {'retries': self.retries, 'failures': self.failures,
                    'samples': list(self.samples)}


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class Api:
    """Minimal Ironic API client: one requests.Session per thread."""

    def __init__(self, endpoint, timeout, retries, errors):
        self.endpoint = endpoint.rstrip('/')
        self.timeout = timeout
        self.retries = retries
        self.errors = errors
        self.version = None
        self._tls = threading.local()

    def session(self):
        sess = getattr(self._tls, 'session', None)
        if sess is None:
            sess = requests.Session()
            sess.headers['Accept'] = 'application/json'
            self._tls.session = sess
        return sess

    def url(self, path):
        return path if path.startswith('http') else self.endpoint + path

    def local_url(self, link):
        """Re-home a link the server returned onto our endpoint."""
        parts = urllib.parse.urlsplit(link)
        path = parts.path
        base_path = urllib.parse.urlsplit(self.endpoint).path.rstrip('/')
        if base_path and path.startswith(base_path + '/'):
            path = path[len(base_path):]
        return self.endpoint + path + ('?' + parts.query if parts.query else '')

    def call(self, method, path, phase, body=None, params=None,
             expect=(200,), retry=True):
        """Returns (status, parsed json or None, seconds of the last try).

        Retries 409/503/connection errors up to self.retries times; the
        final failure is recorded and returned with status (or 0 for a
        connection error).
        """
        url = self.url(path)
        attempts = 1 + (self.retries if retry else 0)
        status, text, elapsed = 0, '', 0.0
        for attempt in range(attempts):
            start = time.monotonic()
            try:
                resp = self.session().request(
                    method, url, json=body, params=params,
                    headers={HEADER: self.version} if self.version else None,
                    timeout=self.timeout)
                elapsed = time.monotonic() - start
                status, text = resp.status_code, resp.text
            except requests.RequestException as exc:
                elapsed = time.monotonic() - start
                status, text = 0, '%s: %s' % (type(exc).__name__, exc)
            if status in expect:
                try:
                    return status, (json.loads(text) if text else None), \
                        elapsed
                except ValueError:
                    self.errors.record('failure', phase, method, url,
                                       'bad-json', text)
                    return 'bad-json', None, elapsed
            retriable = status == 0 or status in RETRY_STATUSES
            if retriable and attempt + 1 < attempts:
                self.errors.record('retry', phase, method, url, status, text)
                time.sleep(min(2.0, 0.1 * (2 ** attempt))
                           * (0.5 + random.random()))
                continue
            break
        self.errors.record('failure', phase, method, url, status, text)
        return status, None, elapsed

    def list_all(self, path, phase, params=None, key='nodes', max_pages=100000):
        """Follows "next" links; returns (items, pages, seconds, ok)."""
        items, pages = [], 0
        start = time.monotonic()
        url, query = path, params
        while pages < max_pages:
            status, body, _ = self.call('GET', url, phase, params=query)
            if status != 200 or body is None:
                return items, pages, time.monotonic() - start, False
            pages += 1
            items.extend(body.get(key, []))
            nxt = body.get('next')
            if not nxt:
                break
            url, query = self.local_url(nxt), None
        return items, pages, time.monotonic() - start, True


def negotiate_version(api):
    status, body, _ = api.call('GET', '/', 'setup', retry=True)
    if status != 200 or not isinstance(body, dict):
        raise FatalError('GET / failed with status %s' % status)
    versions = [body.get('default_version') or {}] + list(
        body.get('versions') or [])
    found = [parse_version(v.get('version')) for v in versions
             if isinstance(v, dict)]
    found = [v for v in found if v]
    if not found:
        raise FatalError('GET / advertises no v1 microversion: %s'
                         % json.dumps(body)[:300])
    server_max = max(found)
    use = min(server_max, WANTED_VERSION)
    return '%d.%d' % use, '%d.%d' % server_max, body.get('name')


# ---------------------------------------------------------------------------
# Service RSS / threads / CPU sampling
# ---------------------------------------------------------------------------

class Sampler(threading.Thread):
    """Samples RSS of a PID and its descendants every `interval` seconds."""

    def __init__(self, pid, interval=0.25):
        super().__init__(name='rss-sampler', daemon=True)
        self.pid = pid
        self.interval = interval
        self.phase = 'setup'
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.samples = 0
        self.exited = False
        self.peak = {'rss_kib': 0}
        self.per_phase = {}
        self.max_threads = 0
        self.max_tree_threads = 0
        self.vmhwm_kib = 0
        self.cpu_marks = []     # (phase, cpu seconds of the tree at start)

    def cpu_now(self):
        try:
            return sum(cpu_seconds(p) or 0.0 for p in process_tree(self.pid))
        except OSError:
            return 0.0

    def set_phase(self, name):
        with self._lock:
            self.phase = name
            self.cpu_marks.append((name, self.cpu_now()))

    def sample(self):
        tree = process_tree(self.pid)
        rss, tree_threads, root_threads = 0, 0, None
        for pid in tree:
            st = read_status(pid)
            if not st:
                continue
            rss += st.get('VmRSS', 0)
            tree_threads += st.get('Threads', 0)
            self.vmhwm_kib = max(self.vmhwm_kib, st.get('VmHWM', 0))
            if pid == self.pid:
                root_threads = st.get('Threads', 0)
        if root_threads is None:
            self.exited = True
            return
        with self._lock:
            self.samples += 1
            self.max_threads = max(self.max_threads, root_threads)
            self.max_tree_threads = max(self.max_tree_threads, tree_threads)
            if rss > self.peak['rss_kib']:
                self.peak = {'rss_kib': rss, 'threads': root_threads,
                             'tree_threads': tree_threads,
                             'processes': len(tree), 'phase': self.phase}
            if rss > self.per_phase.get(self.phase, 0):
                self.per_phase[self.phase] = rss

    def run(self):
        while not self._halt.is_set() and not self.exited:
            try:
                self.sample()
            except Exception as exc:  # never let sampling kill the bench
                log('rss sampler: %s' % exc)
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(5)

    def summary(self):
        with self._lock:
            marks = self.cpu_marks + [('end', self.cpu_now())]
            cpu = {}
            for (name, start), (_, end) in zip(marks, marks[1:]):
                cpu[name] = round(cpu.get(name, 0.0) + end - start, 2)
            mib = lambda kib: round(kib / 1024.0, 1)  # noqa: E731
            return {
                'pid': self.pid,
                'samples': self.samples,
                'interval_s': self.interval,
                'pid_exited': self.exited,
                'peak_mib': mib(self.peak['rss_kib']),
                'threads_at_peak': self.peak.get('threads'),
                'tree_threads_at_peak': self.peak.get('tree_threads'),
                'processes_at_peak': self.peak.get('processes'),
                'peak_phase': self.peak.get('phase'),
                'max_threads': self.max_threads,
                'max_tree_threads': self.max_tree_threads,
                'vmhwm_max_mib': mib(self.vmhwm_kib),
                'peak_mib_per_phase': {k: mib(v)
                                       for k, v in self.per_phase.items()},
                'cpu_seconds_per_phase': cpu,
                'cpu_seconds_total': round(sum(cpu.values()), 2),
            }


class NullSampler:
    def set_phase(self, name):
        pass

    def stop(self):
        pass

    def summary(self):
        return None


# ---------------------------------------------------------------------------
# Phases
# ---------------------------------------------------------------------------

class Bench:
    def __init__(self, args, api, sampler):
        self.args = args
        self.api = api
        self.sampler = sampler
        self.run_id = '%06x' % random.getrandbits(24)
        # MAC = 02:<2 random bytes>:<3-byte counter>, unique per run
        self.mac_prefix = random.getrandbits(16)
        self.serial = 0
        self.serial_lock = threading.Lock()
        self.created = 0

    def next_serial(self):
        with self.serial_lock:
            self.serial += 1
            return self.serial

    def mac(self, serial):
        value = (0x02 << 40) | (self.mac_prefix << 24) | (serial & 0xFFFFFF)
        return ':'.join('%02x' % ((value >> s) & 0xFF)
                        for s in range(40, -8, -8))

    def pool(self):
        return concurrent.futures.ThreadPoolExecutor(
            max_workers=self.args.concurrency)

    # -- enroll --------------------------------------------------------------
    def create_node(self, phase, kind):
        """POST node + port. Returns (uuid or None, port ok, t_node, t_port)."""
        serial = self.next_serial()
        status, node, t_node = self.api.call(
            'POST', '/v1/nodes', phase, expect=(201,),
            body={'driver': 'fake-hardware',
                  'name': 'bench-%s-%s%d' % (self.run_id, kind, serial)})
        if status != 201 or not node or 'uuid' not in node:
            return None, False, t_node, None
        status, _, t_port = self.api.call(
            'POST', '/v1/ports', phase, expect=(201,),
            body={'node_uuid': node['uuid'], 'address': self.mac(serial)})
        return node['uuid'], status == 201, t_node, t_port

    def create_many(self, count, phase, kind):
        uuids, node_times, port_times = [], [], []
        nodes_failed = ports_failed = 0
        start = time.monotonic()
        last_log = start
        deadline = start + self.args.enroll_timeout
        with self.pool() as pool:
            futures = [pool.submit(self.create_node, phase, kind)
                       for _ in range(count)]
            try:
                for done, fut in enumerate(
                        concurrent.futures.as_completed(
                            futures, timeout=self.args.enroll_timeout), 1):
                    uuid, port_ok, t_node, t_port = fut.result()
                    node_times.append(t_node)
                    if uuid is None:
                        nodes_failed += 1
                    else:
                        uuids.append(uuid)
                        port_times.append(t_port)
                        if not port_ok:
                            ports_failed += 1
                    now = time.monotonic()
                    if now - last_log >= 5 or done == count:
                        last_log = now
                        log('  %s: %d/%d nodes (%.1f nodes/s)'
                            % (phase, done, count,
                               done / max(now - start, 1e-9)))
                    if now > deadline:
                        raise concurrent.futures.TimeoutError()
            except concurrent.futures.TimeoutError:
                log('  %s: timed out after %ds' % (phase,
                                                   self.args.enroll_timeout))
                for fut in futures:
                    fut.cancel()
        seconds = time.monotonic() - start
        return {
            'requested': count,
            'nodes_created': len(uuids),
            'nodes_failed': nodes_failed,
            'ports_failed': ports_failed,
            'complete_pairs': len(uuids) - ports_failed,
            'seconds': round(seconds, 2),
            'nodes_per_s': round((len(uuids) - ports_failed)
                                 / max(seconds, 1e-9), 1),
            'node_post_ms_p50': median_ms(node_times),
            'node_post_ms_p95': percentile_ms(node_times, 95),
            'port_post_ms_p50': median_ms([t for t in port_times if t]),
            'port_post_ms_p95': percentile_ms([t for t in port_times if t],
                                              95),
            'retries': self.api.errors.count(self.api.errors.retries, phase),
            'failed_requests': self.api.errors.count(self.api.errors.failures,
                                                     phase),
        }, uuids

    def enroll(self, target):
        count = max(0, target - self.created)
        phase = 'enroll-%d' % target
        self.sampler.set_phase(phase)
        log('enroll: %d nodes + ports with %d threads (total target %d)'
            % (count, self.args.concurrency, target))
        result, uuids = self.create_many(count, phase, 'n')
        self.created += len(uuids)
        result['target_total'] = target
        result['enrolled_total'] = self.created
        log('enroll: %d nodes in %.1fs -> %.1f nodes/s, %d retries, '
            '%d failed requests' % (result['nodes_created'], result['seconds'],
                                    result['nodes_per_s'], result['retries'],
                                    result['failed_requests']))
        return result

    # -- lists ---------------------------------------------------------------
    def first_page(self, path, phase):
        times, count, has_next, failed = [], None, None, 0
        for _ in range(self.args.repeats):
            start = time.monotonic()
            status, body, _ = self.api.call('GET', path, phase, retry=False)
            elapsed = time.monotonic() - start
            if status != 200 or body is None:
                failed += 1
                continue
            times.append(elapsed)
            count = len(body.get('nodes', []))
            has_next = bool(body.get('next'))
        return {'median_ms': median_ms(times),
                'min_ms': ms(min(times)) if times else None,
                'items': count, 'has_next': has_next, 'failed': failed}

    def all_pages(self, path, phase):
        times, count, pages, failed = [], None, None, 0
        for _ in range(self.args.full_repeats):
            items, npages, seconds, ok = self.api.list_all(path, phase)
            if not ok:
                failed += 1
                continue
            times.append(seconds)
            count, pages = len(items), npages
        return {'median_ms': median_ms(times), 'items': count,
                'pages': pages, 'failed': failed}

    def sdk_connection(self):
        if self.args.no_sdk:
            return None, 'disabled'
        try:
            import openstack.connection
        except ImportError:
            return None, 'openstacksdk not importable'
        try:
            conn = openstack.connection.Connection(
                auth_type='none',
                baremetal_endpoint_override=self.api.endpoint)
            return conn, None
        except Exception as exc:
            return None, '%s: %s' % (type(exc).__name__, exc)

    def sdk_list(self, conn, details):
        times, count, error = [], None, None
        for _ in range(self.args.full_repeats):
            start = time.monotonic()
            try:
                count = sum(1 for _ in conn.baremetal.nodes(details=details))
            except Exception as exc:
                error = '%s: %s' % (type(exc).__name__, str(exc)[:300])
                continue
            times.append(time.monotonic() - start)
        return {'median_ms': median_ms(times), 'items': count,
                'error': error}

    def lists(self, target, conn, sdk_note):
        phase = 'list-%d' % target
        self.sampler.set_phase(phase)
        log('lists at %d nodes ...' % target)
        result = {'target_total': target, 'enrolled_total': self.created}
        result['nodes_first_page'] = self.first_page('/v1/nodes', phase)
        result['detail_first_page'] = self.first_page('/v1/nodes/detail',
                                                      phase)
        result['nodes_all_pages'] = self.all_pages('/v1/nodes', phase)
        result['detail_all_pages'] = self.all_pages('/v1/nodes/detail', phase)
        result['nodes_seen'] = result['nodes_all_pages']['items']
        if conn is not None:
            result['sdk_nodes'] = self.sdk_list(conn, False)
            result['sdk_nodes_detail'] = self.sdk_list(conn, True)
        else:
            result['sdk'] = sdk_note
        log('lists at %s nodes: first page %s / detail %s ms; all pages %s / '
            '%s ms; sdk %s / %s ms' % (
                result['nodes_seen'],
                result['nodes_first_page']['median_ms'],
                result['detail_first_page']['median_ms'],
                result['nodes_all_pages']['median_ms'],
                result['detail_all_pages']['median_ms'],
                result.get('sdk_nodes', {}).get('median_ms'),
                result.get('sdk_nodes_detail', {}).get('median_ms')))
        return result

    # -- provision -----------------------------------------------------------
    def node_state(self, uuid, phase):
        status, body, _ = self.api.call(
            'GET', '/v1/nodes/%s' % uuid, phase,
            params={'fields': 'uuid,provision_state,target_provision_state,'
                              'last_error'})
        return body if status == 200 else None

    def run_phase(self, name, verb, target, nodes):
        """Moves `nodes` (a list of uuids) towards `target`.

        Returns (phase result, uuids that reached target)."""
        phase = 'provision-' + name
        self.sampler.set_phase(phase)
        start = time.monotonic()
        body = {'target': verb}

        def kick(uuid):
            status, _, elapsed = self.api.call(
                'PUT', '/v1/nodes/%s/states/provision' % uuid, phase,
                body=body, expect=(202,))
            return uuid, status, elapsed

        pending, rejected, put_times = set(), {}, []
        with self.pool() as pool:
            for uuid, status, elapsed in pool.map(kick, nodes):
                put_times.append(elapsed)
                if status == 202:
                    pending.add(uuid)
                else:
                    rejected[str(status)] = rejected.get(str(status), 0) + 1
        requests_s = time.monotonic() - start

        reached, failed, failed_states, last_errors = [], 0, {}, []
        suspects = {}
        deadline = start + self.args.phase_timeout
        last_progress = last_check = time.monotonic()
        polls = 0
        while pending and time.monotonic() < deadline:
            polls += 1
            items, _, _, ok = self.api.list_all(
                '/v1/nodes', phase, params={'provision_state': target})
            if ok:
                hits = pending.intersection(i.get('uuid') for i in items)
                if hits:
                    reached.extend(hits)
                    pending -= hits
                    last_progress = time.monotonic()
            now = time.monotonic()
            # Look at stragglers one by one when progress stalls, so that
            # nodes stuck in a failure (or a wrong stable) state end the
            # wait early.  A stable wrong state must be seen twice.
            if pending and now - last_progress >= self.args.stall_check and \
                    now - last_check >= self.args.stall_check:
                last_check = now
                with self.pool() as pool:
                    states = list(pool.map(
                        lambda u: (u, self.node_state(u, phase)),
                        sorted(pending)))
                for uuid, st in states:
                    if not st:
                        continue
                    state = st.get('provision_state')
                    if state == target:
                        reached.append(uuid)
                        pending.discard(uuid)
                        continue
                    stable = not st.get('target_provision_state')
                    if state in FAILURE_STATES or (
                            stable and suspects.get(uuid) == state):
                        pending.discard(uuid)
                        failed += 1
                        failed_states[state] = failed_states.get(state, 0) + 1
                        if st.get('last_error') and len(last_errors) < 5:
                            last_errors.append(st['last_error'][:300])
                    elif stable:
                        suspects[uuid] = state
                    else:
                        suspects.pop(uuid, None)
            if pending:
                time.sleep(self.args.poll_interval)
        seconds = time.monotonic() - start
        result = {
            'nodes': len(nodes),
            'reached': len(reached),
            'seconds': round(seconds, 2),
            'requests_seconds': round(requests_s, 2),
            'put_ms_p50': median_ms(put_times),
            'rejected': rejected,
            'failed': failed,
            'failed_states': failed_states,
            'timed_out': len(pending),
            'polls': polls,
        }
        if last_errors:
            result['last_errors'] = last_errors
        log('  %s: %d/%d %s in %.2fs (%d rejected, %d failed, %d timed out)'
            % (name, len(reached), len(nodes), target, seconds,
               sum(rejected.values()), failed, len(pending)))
        return result, reached

    def provision(self, count):
        self.sampler.set_phase('provision-create')
        log('provision: creating %d fresh nodes' % count)
        created, uuids = self.create_many(count, 'provision-create', 'p')
        result = {'nodes': count, 'created': created['nodes_created'],
                  'create_failed': created['nodes_failed'], 'phases': {}}
        start = time.monotonic()
        current = uuids
        for name, verb, target in CYCLE:
            if not current:
                break
            phase_result, current = self.run_phase(name, verb, target,
                                                   current)
            result['phases'][name] = phase_result
        result['cycle_seconds'] = round(time.monotonic() - start, 2)
        result['completed'] = len(current)
        # Final states of every provisioned node.
        self.sampler.set_phase('provision-final')
        final = {}
        with self.pool() as pool:
            for st in pool.map(lambda u: self.node_state(u, 'provision-final'),
                               uuids):
                state = st.get('provision_state') if st else 'unknown'
                final[state] = final.get(state, 0) + 1
        result['final_states'] = final
        result['ended_in_failure_states'] = sum(
            n for state, n in final.items() if state in FAILURE_STATES)
        log('provision: cycle %.2fs, %d/%d completed, final states %s'
            % (result['cycle_seconds'], len(current), count, final))
        return result


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def check_endpoint(endpoint, allow_remote):
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise FatalError('bad endpoint %r' % endpoint)
    if allow_remote:
        return
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(parts.hostname, None)}
    except socket.gaierror as exc:
        raise FatalError('cannot resolve %s: %s' % (parts.hostname, exc))
    if not all(ipaddress.ip_address(a.split('%')[0]).is_loopback
               for a in addrs):
        raise FatalError('%s is not a loopback address; pass --allow-remote '
                         'to benchmark it anyway' % parts.hostname)


def int_list(text):
    values = [int(v) for v in text.split(',') if v.strip()]
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError('sizes must be >= 0')
    return values


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--endpoint', default='http://127.0.0.1:6385',
                   help='base URL of the API (without /v1)')
    p.add_argument('--pid', type=int,
                   help='service PID whose RSS (plus children) to sample')
    p.add_argument('--nodes', type=int_list, default=[100, 1000],
                   help='cumulative node counts at which lists are measured')
    p.add_argument('--provision', type=int, default=100,
                   help='fresh nodes taken through the provision cycle '
                        '(0 skips it)')
    p.add_argument('--concurrency', '-c', type=int, default=4,
                   help='client threads')
    p.add_argument('--repeats', type=int, default=5,
                   help='calls per first-page list measurement')
    p.add_argument('--full-repeats', type=int, default=3,
                   help='runs per all-pages and openstacksdk measurement')
    p.add_argument('--no-sdk', action='store_true',
                   help='skip the openstacksdk list measurements')
    p.add_argument('--timeout', type=float, default=60.0,
                   help='per-request timeout, seconds')
    p.add_argument('--retries', type=int, default=4,
                   help='retries of 409/503/connection errors per request')
    p.add_argument('--enroll-timeout', type=int, default=3600,
                   help='limit for one enroll step, seconds')
    p.add_argument('--phase-timeout', type=int, default=600,
                   help='limit for one provision phase, seconds')
    p.add_argument('--poll-interval', type=float, default=0.25,
                   help='seconds between provision-state polls')
    p.add_argument('--stall-check', type=float, default=5.0,
                   help='inspect stragglers one by one after this many '
                        'seconds without progress')
    p.add_argument('--rss-interval', type=float, default=0.25)
    p.add_argument('--out', help='also write the JSON summary to this file')
    p.add_argument('--label', help='free-form label stored in the JSON')
    p.add_argument('--allow-remote', action='store_true',
                   help='allow a non-loopback endpoint')
    args = p.parse_args(argv)
    if args.concurrency < 1 or args.repeats < 1 or args.full_repeats < 1:
        p.error('--concurrency, --repeats and --full-repeats must be >= 1')
    if sorted(args.nodes) != args.nodes:
        p.error('--nodes must be increasing (sizes are cumulative)')
    return args


def main(argv=None):
    args = parse_args(argv)
    errors = Errors()
    api = Api(args.endpoint, args.timeout, args.retries, errors)
    summary = {
        'tool': 'bootflow benchmarks/api_bench.py',
        'label': args.label,
        'endpoint': api.endpoint,
        'started': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        'host': {'cpus': os.cpu_count(), 'loadavg_start': os.getloadavg()},
        'args': {k: v for k, v in vars(args).items() if k != 'out'},
        'fatal': None,
    }
    sampler = NullSampler()
    code = 0
    wall = time.monotonic()
    try:
        check_endpoint(args.endpoint, args.allow_remote)
        if args.pid:
            if not os.path.exists('/proc/%d' % args.pid):
                raise FatalError('--pid %d: no such process' % args.pid)
            sampler = Sampler(args.pid, args.rss_interval)
            sampler.start()
        version, server_max, name = negotiate_version(api)
        api.version = version
        summary.update(api_version=version, server_max_version=server_max,
                       server_name=name)
        log('%s at %s: max microversion %s, using %s'
            % (name or 'server', api.endpoint, server_max, version))
        bench = Bench(args, api, sampler)
        summary['run_id'] = bench.run_id
        conn, sdk_note = (None, None)
        if args.nodes:
            conn, sdk_note = bench.sdk_connection()
            if sdk_note:
                log('openstacksdk lists skipped: %s' % sdk_note)
        summary['enroll'], summary['lists'] = [], []
        for target in args.nodes:
            summary['enroll'].append(bench.enroll(target))
            summary['lists'].append(bench.lists(target, conn, sdk_note))
        if args.provision:
            summary['provision'] = bench.provision(args.provision)
    except FatalError as exc:
        summary['fatal'] = str(exc)
        log('FATAL: %s' % exc)
        code = 2
    except KeyboardInterrupt:
        summary['fatal'] = 'interrupted'
        log('interrupted')
        code = 130
    except Exception as exc:  # report, but still print what we have
        summary['fatal'] = '%s: %s' % (type(exc).__name__, exc)
        log('FATAL: %s' % summary['fatal'])
        code = 2
    finally:
        sampler.stop()
    summary['rss'] = sampler.summary()
    summary['errors'] = errors.as_dict()
    summary['total_failed_requests'] = errors.count(errors.failures)
    summary['total_retries'] = errors.count(errors.retries)
    summary['wall_seconds'] = round(time.monotonic() - wall, 1)
    summary['host']['loadavg_end'] = os.getloadavg()
    text = json.dumps(summary, indent=2, sort_keys=False)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    if summary['rss']:
        log('peak RSS %.1f MiB (%s threads in pid, %s in tree)'
            % (summary['rss']['peak_mib'], summary['rss']['threads_at_peak'],
               summary['rss']['tree_threads_at_peak']))
    log('done in %.1fs: %d failed requests, %d retries'
        % (summary['wall_seconds'], summary['total_failed_requests'],
           summary['total_retries']))
    return code


if __name__ == '__main__':
    sys.exit(main())
