#!/usr/bin/env python3
"""Image deployment figures: write throughput, bytes fetched from the
origin by many nodes, and a redeploy after 1 % of the blocks changed.

1. ``throughput``: a raw image (default 2 GiB, pseudo-random bytes) to a
   file disk, by the agent's streaming writer (HTTP from the built-in boot
   file server, sha256 verified while writing, fsync) and by its block
   writer (from the block store over the same server), versus
   ``dd bs=4M conv=fsync`` of the same bytes to the same kind of file.
2. ``fleet``: the all-in-one service, N nodes (default 10) deploying the
   same image (default 1 GiB) at once with the real ``bootos-agent``
   processes, each writing its own file disk; bytes the origin served.
3. ``redeploy``: one of those nodes rebuilt with a copy of the image in
   which 1 % of the blocks changed: bytes the agent fetched and wrote.

Ironic's direct deploy streams and writes the whole image on every deploy
(its agent has no block reuse), so its figures per deploy are the image
size for both fetched and written bytes; with image_download_source=http
its conductor caches the image, so the origin serves it once, as ours.

JSON on stdout, progress on stderr. Needs root only for dropping caches
(skipped otherwise); run from the repository with its venv's python.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time


import bootos_inspection_bench as bib

MIB = 1024 * 1024
BLOCK = 4 * MIB
HEADERS = {'X-OpenStack-Ironic-API-Version': '1.87'}
bib.HEADERS = HEADERS


def make_image(path, size, seed=b'bootflow-bench'):
    """Pseudo-random, incompressible bytes, fast to make (sha512 chain
    per MiB rather than urandom), with an msdos label at the front."""
    unit = hashlib.sha512(seed).digest() * (MIB // 64)
    with open(path, 'wb') as f:
        for i in range(size // MIB):
            f.write(i.to_bytes(8, 'big') + unit[8:])
    subprocess.run(['sfdisk', '--quiet', '--no-reread', path],
                   input='label: dos\nstart=2048, type=83\n', text=True,
                   check=True, capture_output=True)
    return path


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(4 * MIB), b''):
            h.update(chunk)
    return h.hexdigest()


def drop_caches():
    subprocess.run(['sync'])
    try:
        with open('/proc/sys/vm/drop_caches', 'w') as f:
            f.write('3\n')
    except OSError:
        pass


def fresh_disk(path, size):
    if os.path.exists(path):
        os.unlink(path)
    with open(path, 'wb') as f:
        f.truncate(size)
    drop_caches()


class FileServer:
    """The built-in boot file server over ``root``, counting bytes out."""

    def __init__(self, root):
        from bootflow.images import http_server
        self.server = http_server.make_server(root, '127.0.0.1', 0)
        self.server.start()
        self.url = 'http://127.0.0.1:%d' % self.server.port

    def stop(self):
        self.server.stop()


class CountingOrigin:
    """A static origin (stdlib server) counting the bytes it sends."""

    def __init__(self, root):
        import functools
        import http.server
        bench = self
        self.sent = 0
        self.lock = threading.Lock()

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def copyfile(self, source, outputfile):
                n = 0
                for chunk in iter(lambda: source.read(MIB), b''):
                    outputfile.write(chunk)
                    n += len(chunk)
                with bench.lock:
                    bench.sent += n

        self.httpd = http.server.ThreadingHTTPServer(
            ('127.0.0.1', 0), functools.partial(Handler, directory=root))
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever,
                         daemon=True).start()
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def timed(func):
    start = time.monotonic()
    value = func()
    return time.monotonic() - start, value


def throughput(args, work):
    from bootflow.agent.imaging import blocks
    from bootflow.agent.imaging import stream
    from bootflow.images import blockstore
    size = args.throughput_mb * MIB
    served = os.path.join(work, 'served')
    os.makedirs(served)
    image = make_image(os.path.join(served, 'image.raw'), size)
    digest = sha256(image)
    target = os.path.join(work, 'disk.img')
    out = {'image_bytes': size, 'runs': args.runs}
    server = FileServer(served)
    try:
        store = blockstore.BlockStore(os.path.join(served, 'blocks'))
        manifest, msha = store.ingest(image, 'bench', BLOCK)
        runs = {'dd': [], 'stream': [], 'blocks': []}
        for _ in range(args.runs):
            fresh_disk(target, size + MIB)
            runs['dd'].append(timed(lambda: subprocess.run(
                ['dd', 'if=%s' % image, 'of=%s' % target, 'bs=4M',
                 'conv=fsync,notrunc', 'status=none'], check=True))[0])
            fresh_disk(target, size + MIB)
            runs['stream'].append(timed(lambda: stream.stream_image(
                target, server.url + '/image.raw', 'sha256:' + digest,
                'raw'))[0])
            fresh_disk(target, size + MIB)
            runs['blocks'].append(timed(lambda: blocks.write_blocks(
                target, manifest, [server.url + '/blocks'],
                reuse=False))[0])
        assert sha256_prefix(target, size) == digest
    finally:
        server.stop()
    for name, secs in runs.items():
        best = min(secs)
        out[name] = {'seconds': [round(s, 2) for s in secs],
                     'best_mib_s': round(size / MIB / best, 1)}
    for name in ('stream', 'blocks'):
        out['%s_vs_dd' % name] = round(
            out[name]['best_mib_s'] / out['dd']['best_mib_s'], 3)
    os.unlink(target)
    return out


def sha256_prefix(path, size):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        left = size
        while left:
            chunk = f.read(min(left, 4 * MIB))
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


class Fleet:
    """The service, its nodes and their file disks."""

    def __init__(self, args, work):
        self.args, self.work = args, work
        self.origin_dir = os.path.join(work, 'origin')
        os.makedirs(self.origin_dir)
        port = bib.free_port()
        svc_args = argparse.Namespace(
            db='sqlite', workers=max(20, args.nodes * 2), nodes=args.nodes,
            poll_interval=0.5, set=[
                'agent.progress_interval=1.0',
                'deploy.http_server_port=%d' % port,
                'deploy.http_url=http://127.0.0.1:%d' % port])
        self.svc = bib.Service(svc_args, os.path.join(work, 'svc'))
        self.api = bib.Api(self.svc.endpoint)
        self.origin = CountingOrigin(self.origin_dir)

    def host(self, i, size):
        tree = bib.make_fixture(self.work, i)
        for rel, text in (('sys/block/vda/size', '%d\n' % (size // 512)),
                          ('sys/block/vda/serial', 'BENCH%04d\n' % i)):
            with open(os.path.join(tree, rel), 'w') as f:
                f.write(text)
        os.makedirs(os.path.join(tree, 'dev'), exist_ok=True)
        disk = os.path.join(tree, 'dev', 'vda')
        with open(disk, 'wb') as f:
            f.truncate(size)
        return tree, disk

    def create(self, i):
        node = self.api.call('POST', '/v1/nodes', {
            'driver': 'fake-hardware', 'deploy_interface': 'direct',
            'automated_clean': False, 'name': 'imgbench-%04d' % i,
            'properties': {'root_device': {'serial': 'BENCH%04d' % i}}},
            ok=(201,))
        return node['uuid']

    def agent(self, tree, uuid):
        exe = os.path.join(os.path.dirname(sys.executable), 'bootos-agent')
        log = open(os.path.join(tree, 'agent.log'), 'wb')
        return subprocess.Popen(
            [exe, '--api-url', self.svc.endpoint, '--root', tree,
             '--cmdline-file', os.devnull, '--node-uuid', uuid,
             '--lookup-timeout', '120'],
            stdout=log, stderr=subprocess.STDOUT)

    def wait(self, uuids, state, timeout=1800):
        deadline = time.monotonic() + timeout
        while True:
            nodes = self.api.states(uuids)
            if all(n['provision_state'] == state and not n['reservation']
                   for n in nodes.values()):
                return
            bad = [n for n in nodes.values() if 'failed' in
                   n['provision_state']]
            if bad or time.monotonic() > deadline:
                raise bib.BenchError('not all %s: %s' % (state, bad or
                                                         bib.count_states(
                                                             nodes)))
            time.sleep(0.5)

    def progress(self, uuid):
        node = self.api.call('GET', '/v1/nodes/%s' % uuid)
        return node['driver_internal_info']['agent_progress']


def deploy_all(fleet, uuids, trees, info):
    pool = concurrent.futures.ThreadPoolExecutor(16)
    for uuid in uuids:
        fleet.api.call('PATCH', '/v1/nodes/%s' % uuid, [
            {'op': 'add', 'path': '/instance_info/%s' % k, 'value': v}
            for k, v in info.items()])
    start = time.monotonic()
    list(pool.map(lambda u: fleet.api.call(
        'PUT', '/v1/nodes/%s/states/provision' % u, {'target': 'active'},
        ok=(202,)), uuids))
    fleet.wait(uuids, 'wait call-back')
    procs = [fleet.agent(trees[u], u) for u in uuids]
    fleet.wait(uuids, 'active')
    seconds = time.monotonic() - start
    for proc in procs:
        proc.wait(60)
    return seconds


def changed_copy(image, dest, blocks_total, changed, tag):
    """``image`` with ``changed`` blocks (spread out) altered."""
    shutil.copyfile(image, dest)
    step = blocks_total // changed
    with open(dest, 'r+b') as f:
        for k in range(changed):
            f.seek((1 + k * step) * BLOCK + 4096)
            f.write(b'changed block %d %s' % (k, tag))
    return dest


def rebuild(fleet, uuid, tree, size, source, checksum, expected):
    """Rebuild one node with another image; bytes fetched and written."""
    sent_before = fleet.origin.sent
    fleet.api.call('PATCH', '/v1/nodes/%s' % uuid, [
        {'op': 'add', 'path': '/instance_info/image_source',
         'value': source},
        {'op': 'add', 'path': '/instance_info/image_checksum',
         'value': checksum}])
    start = time.monotonic()
    fleet.api.call('PUT', '/v1/nodes/%s/states/provision' % uuid,
                   {'target': 'rebuild'}, ok=(202,))
    fleet.wait([uuid], 'wait call-back')
    proc = fleet.agent(tree, uuid)
    fleet.wait([uuid], 'active')
    proc.wait(60)
    prog = fleet.progress(uuid)
    disk = os.path.join(tree, 'dev', 'vda')
    assert sha256_prefix(disk, size) == sha256(expected)
    return {
        'seconds': round(time.monotonic() - start, 1),
        'agent_bytes_fetched': prog['bytes_fetched'],
        'agent_bytes_written': prog['bytes_written'],
        'fetched_vs_image': round(prog['bytes_fetched'] / size, 4),
        'written_vs_image': round(prog['bytes_written'] / size, 4),
        'origin_bytes': fleet.origin.sent - sent_before}


def fleet_and_redeploy(args, work):
    size = args.image_mb * MIB
    fleet = Fleet(args, work)
    fleet.svc.start()
    try:
        image = make_image(os.path.join(fleet.origin_dir, 'v1.raw'), size)
        uuids = [fleet.create(i) for i in range(args.nodes)]
        trees = {}
        for i, uuid in enumerate(uuids):
            trees[uuid] = fleet.host(i, size + 64 * MIB)[0]
            fleet.api.call('PUT', '/v1/nodes/%s/states/provision' % uuid,
                           {'target': 'manage'}, ok=(202,))
        fleet.wait(uuids, 'manageable')
        for uuid in uuids:
            fleet.api.call('PUT', '/v1/nodes/%s/states/provision' % uuid,
                           {'target': 'provide'}, ok=(202,))
        fleet.wait(uuids, 'available')
        bib.log('deploying %d nodes with a %d MiB image'
                % (args.nodes, args.image_mb))
        seconds = deploy_all(fleet, uuids, trees, {
            'image_source': fleet.origin.url + '/v1.raw',
            'image_checksum': 'sha256:' + sha256(image),
            'image_disk_format': 'raw'})
        fetched = [fleet.progress(u)['bytes_fetched'] for u in uuids]
        out = {'fleet': {
            'nodes': args.nodes, 'image_bytes': size,
            'seconds': round(seconds, 1),
            'origin_bytes': fleet.origin.sent,
            'origin_vs_image': round(fleet.origin.sent / size, 3),
            'agent_bytes_fetched_each': sorted(set(fetched)),
            'ironic_direct_origin_bytes_model': size * args.nodes}}

        blocks_total = -(-size // BLOCK)
        changed = -(-blocks_total // 100)
        v2 = changed_copy(image, os.path.join(fleet.origin_dir, 'v2.raw'),
                          blocks_total, changed, b'two')
        out['redeploy'] = rebuild(fleet, uuids[0], trees[uuids[0]], size,
                                  fleet.origin.url + '/v2.raw',
                                  'sha256:' + sha256(v2), v2)
        out['redeploy'].update(blocks_total=blocks_total,
                               blocks_changed=changed,
                               ironic_direct_bytes_model=size)
        # the same change published as blocks (bootflow-image manifest):
        # the conductor now fetches only the changed blocks from the origin
        from bootflow.images import blockstore
        v3 = changed_copy(image, os.path.join(work, 'v3.raw'),
                          blocks_total, changed, b'three')
        path, digest = blockstore.export(
            v3, os.path.join(fleet.origin_dir, 'mirror'), BLOCK)
        out['redeploy_from_manifest'] = rebuild(
            fleet, uuids[1], trees[uuids[1]], size, '%s/mirror/%s' % (
                fleet.origin.url, os.path.basename(path)),
            'sha256:' + digest, v3)
        return out
    finally:
        fleet.svc.stop()
        fleet.origin.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--throughput-mb', type=int, default=2048)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--image-mb', type=int, default=1024)
    parser.add_argument('--nodes', type=int, default=10)
    parser.add_argument('--only', choices=('throughput', 'fleet'))
    parser.add_argument('--work', help='work directory (default: a '
                        'temporary one, removed afterwards)')
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix='imgbench-')
    result = {'machine': {'python': platform.python_version(),
                          'cpus': os.cpu_count(),
                          'date': time.strftime('%Y-%m-%d')}}
    try:
        if args.only in (None, 'throughput'):
            bib.log('throughput: %d MiB x %d runs' % (args.throughput_mb,
                                                      args.runs))
            result['throughput'] = throughput(args, os.path.join(
                work, 'tp'))
        if args.only in (None, 'fleet'):
            result.update(fleet_and_redeploy(args, os.path.join(
                work, 'fleet')))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
