#!/usr/bin/env python3
"""Boot-file serving: bootflow's built-in HTTP server against nginx.

Nodes fetch kernels, ramdisks and ISOs of hundreds of MB over plain HTTP,
and GRUB reads inside ISOs with Range requests, so what matters is bulk
throughput and ranged reads at the cost of little memory. In a temporary
directory (removed at the end) this writes one file (``--size-mb``, a
random 4 MiB block repeated), serves it on 127.0.0.1 from

* nginx (``/usr/sbin/nginx``, one worker per CPU) running the server
  block of ``etc/bootflow/nginx-httpboot.conf.sample`` with this run's
  listen address and root, pid, logs and temp paths in the temporary
  directory,
* bootflow's built-in server (``bootflow.images.http_server``) in a child
  process (``--python``, default this interpreter, with this checkout on
  its path),
* ``python3 -m http.server`` (no Range support: ranged reads skipped),

and measures, one server at a time: ``curl -o /dev/null`` of the whole file
``--rounds`` times (median MiB/s), ``--parallel`` curls at once (total
MiB/s), ``--ranges`` random ranges of ``--range-kib`` KiB over one
keep-alive ``requests.Session`` (requests/s; a sample of them checked
byte for byte), and the server's RSS (VmRSS summed over its process
tree) when idle and at the end, the peak (VmHWM) of its largest process,
and the CPU seconds of the tree. Prints a table; everything is bounded by
timeouts and runs on localhost only.

  python benchmarks/boot_files_bench.py [--size-mb 500] [--rounds 3]
"""

import argparse
import os
import random
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

import proc_sampler

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
NGINX = '/usr/sbin/nginx'
MIB = 1 << 20
BUILTIN = '''
import signal, sys, threading
from bootflow.images import http_server
server = http_server.make_server(sys.argv[1], '127.0.0.1', 0)
server.start()
print(server.port, flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
while not done.wait(1):
    pass
server.stop()
'''
SAMPLE = os.path.join(REPO, 'etc', 'bootflow', 'nginx-httpboot.conf.sample')
NGINX_CONF = '''
worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/httpboot.conf;
}}
'''


def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_listening(port, proc, timeout=15):
    """Returns once ``port`` accepts; kills ``proc`` if it never does."""
    try:
        _wait_listening(port, proc, timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def _wait_listening(port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError('server exited with %s' % proc.returncode)
        try:
            socket.create_connection(('127.0.0.1', port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('nothing listening on port %d' % port)


def write_file(path, size):
    block = os.urandom(4 * MIB)
    with open(path, 'wb') as f:
        for offset in range(0, size, len(block)):
            f.write(block[:size - offset])


def nginx_server_block(port, root):
    """The documented sample with this run's address and root: what is
    measured is what operators are told to deploy."""
    with open(SAMPLE) as f:
        text = f.read()
    text = re.sub(r'(?m)^(\s*)listen .*;\n(\s*listen .*;\n)*',
                  r'\1listen 127.0.0.1:%d;\n' % port, text)
    text, found = re.subn(r'(?m)^(\s*)root .*;', r'\1root %s;' % root,
                          text)
    if found != 1 or '127.0.0.1:%d' % port not in text:
        raise RuntimeError('cannot adapt %s' % SAMPLE)
    return text


def start_nginx(tmp, root):
    port = free_port()
    with open(os.path.join(tmp, 'httpboot.conf'), 'w') as f:
        f.write(nginx_server_block(port, root))
    conf = os.path.join(tmp, 'nginx.conf')
    with open(conf, 'w') as f:
        f.write(NGINX_CONF.format(tmp=tmp))
    proc = subprocess.Popen([NGINX, '-c', conf, '-p', tmp, '-g',
                             'daemon off;'], stdin=subprocess.DEVNULL)
    wait_listening(port, proc)
    return proc, port


def start_builtin(root, python):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [REPO, os.environ.get('PYTHONPATH')])))
    proc = subprocess.Popen([python, '-c', BUILTIN, root], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            text=True)
    ready = select.select([proc.stdout], [], [], 30)[0]
    port = int(proc.stdout.readline() or 0) if ready else 0
    wait_listening(port, proc, timeout=1 if port else 0)
    return proc, port


def start_stdlib(root, python):
    port = free_port()
    proc = subprocess.Popen(
        [python, '-m', 'http.server', str(port), '--bind', '127.0.0.1',
         '--directory', root], stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, proc)
    return proc, port


def usage(pid):
    """(RSS MiB, peak RSS MiB of the largest process, CPU s) of a tree."""
    rss = hwm = cpu = 0
    for p in proc_sampler.tree(pid):
        status = proc_sampler.read_status(p) or {}
        rss += status.get('VmRSS', 0)
        hwm = max(hwm, status.get('VmHWM', 0))
        cpu += proc_sampler.cpu_seconds(p) or 0
    return rss / 1024.0, hwm / 1024.0, cpu


def curl(url, size, count=1):
    """MiB/s of ``count`` simultaneous whole-file downloads, in total."""
    cmd = ['curl', '-s', '--max-time', '300', '-o', '/dev/null', '-w',
           '%{size_download} %{time_total}\\n', url]
    started = time.monotonic()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
             for _ in range(count)]
    try:
        outs = [p.communicate(timeout=320)[0].split() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.monotonic() - started
    if any(int(float(o[0])) != size for o in outs if o) or \
            len(outs) != count or not all(outs):
        raise RuntimeError('short download from %s: %s' % (url, outs))
    if count == 1:
        wall = float(outs[0][1])
    return size * count / MIB / wall


def ranged(url, path, size, count, length):
    """Random single ranges over one keep-alive session: requests/s."""
    rnd = random.Random(42)
    offsets = [rnd.randrange(0, size - length) for _ in range(count)]
    session = requests.Session()
    started = time.monotonic()
    for offset in offsets:
        resp = session.get(url, timeout=30, headers={
            'Range': 'bytes=%d-%d' % (offset, offset + length - 1)})
        if resp.status_code != 206 or len(resp.content) != length:
            raise RuntimeError('bad range answer %s' % resp.status_code)
    rate = count / (time.monotonic() - started)
    with open(path, 'rb') as f:
        for offset in offsets[:50]:
            resp = session.get(url, timeout=30, headers={
                'Range': 'bytes=%d-%d' % (offset, offset + length - 1)})
            if resp.content != os.pread(f.fileno(), length, offset):
                raise RuntimeError('wrong bytes for range at %d' % offset)
    session.close()
    return rate


def measure(name, start, has_ranges, args, path, size):
    proc, port = start()
    url = 'http://127.0.0.1:%d/%s' % (port, os.path.basename(path))
    try:
        idle = usage(proc.pid)[0]
        rates = [curl(url, size) for _ in range(args.rounds)]
        log('%s: whole file %s MiB/s' % (
            name, ', '.join('%.0f' % r for r in rates)))
        parallel = curl(url, size, args.parallel) if args.parallel else None
        ranges = None
        if has_ranges and args.ranges:
            ranges = ranged(url, path, size, args.ranges,
                            args.range_kib * 1024)
        rss, hwm, cpu = usage(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {'name': name, 'median': statistics.median(rates),
            'min': min(rates), 'max': max(rates), 'parallel': parallel,
            'ranges': ranges, 'rss_idle': idle, 'rss_end': rss,
            'hwm': hwm, 'cpu': cpu}


def fmt(value, spec):
    return 'n/a' if value is None else spec % value


def table(results, args):
    base = results[0]
    print('| server | whole file MiB/s median (min-max) | vs nginx '
          '| %d parallel, total MiB/s | %d x %d KiB ranges, req/s '
          '| vs nginx | RSS MiB idle / end / peak | CPU s |' % (
              args.parallel, args.ranges, args.range_kib))
    print('|---|---:|---:|---:|---:|---:|---:|---:|')
    for r in results:
        ratio = (fmt(r['ranges'] / base['ranges'], '%.2f')
                 if r['ranges'] and base['ranges'] else 'n/a')
        print('| %s | %.0f (%.0f-%.0f) | %.2f | %s | %s | %s '
              '| %.1f / %.1f / %.1f | %.1f |' % (
                  r['name'], r['median'], r['min'], r['max'],
                  r['median'] / base['median'], fmt(r['parallel'], '%.0f'),
                  fmt(r['ranges'], '%.0f'), ratio, r['rss_idle'],
                  r['rss_end'], r['hwm'], r['cpu']))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size-mb', type=int, default=500,
                        help='file size in MiB (500)')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--parallel', type=int, default=4,
                        help='simultaneous downloads, 0 skips (4)')
    parser.add_argument('--ranges', type=int, default=1000,
                        help='ranged requests, 0 skips (1000)')
    parser.add_argument('--range-kib', type=int, default=64)
    parser.add_argument('--python', default=sys.executable,
                        help='interpreter for the Python servers')
    parser.add_argument('--tmp-dir', help='parent of the work directory')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not os.access(NGINX, os.X_OK):
        sys.exit('%s is needed as the baseline' % NGINX)
    tmp = tempfile.mkdtemp(prefix='bootfiles-bench-', dir=args.tmp_dir)
    try:
        os.chmod(tmp, 0o755)    # nginx workers may run as nobody
        root = os.path.join(tmp, 'root')
        os.mkdir(root)
        path = os.path.join(root, 'ramdisk.img')
        size = args.size_mb * MIB
        log('writing %d MiB to %s' % (args.size_mb, path))
        write_file(path, size)
        servers = [
            ('nginx', lambda: start_nginx(tmp, root), True),
            ('bootflow built-in', lambda: start_builtin(root, args.python),
             True),
            ('python -m http.server', lambda: start_stdlib(
                root, args.python), False)]
        results = [measure(name, start, has_ranges, args, path, size)
                   for name, start, has_ranges in servers]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    version = subprocess.run([NGINX, '-v'], capture_output=True, text=True)
    print('%d MiB file, %d rounds, 127.0.0.1, %d CPUs, Python %s, %s' % (
        args.size_mb, args.rounds, os.cpu_count(), sys.version.split()[0],
        version.stderr.strip().replace('nginx version: ', '')))
    table(results, args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
