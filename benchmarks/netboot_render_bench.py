#!/usr/bin/env python3
"""Boot config rendering for many nodes: the templates alone, and the
whole prepare_ramdisk + prepare_instance of each boot interface (files
written atomically and fsynced, boot images hard-linked from the master
cache, records kept on the node).

    python benchmarks/netboot_render_bench.py [--nodes 1000] [--rounds 3]

Prints one line per measurement: total ms for all nodes and µs per node
(median of the rounds). Everything happens in a temp dir; the DHCP
provider is 'none'.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

from bootflow.conf import CONF  # noqa: E402
from bootflow.drivers.modules.netboot import cmdline  # noqa: E402
from bootflow.drivers.modules.netboot import interfaces  # noqa: E402
from bootflow.drivers.modules.netboot import render  # noqa: E402
from bootflow.drivers.modules.netboot import sources  # noqa: E402


class _Management:
    def get_supported_boot_devices(self, task):
        return ['pxe', 'disk', 'uefi-http']

    def set_boot_device(self, task, device, persistent=False):
        pass


class _Node(types.SimpleNamespace):
    def save(self):
        pass


def _tasks(count, images):
    tasks = []
    for i in range(count):
        mac = '52:54:%02x:%02x:%02x:%02x' % (
            i >> 24 & 255, i >> 16 & 255, i >> 8 & 255, i & 255)
        node = _Node(uuid=str(uuid.uuid4()), id=i, boot_mode='bios',
                     properties={}, driver_internal_info={},
                     instance_info={}, driver_info={
                         'deploy_kernel': 'file://%s/vmlinuz' % images,
                         'deploy_ramdisk': 'file://%s/initrd' % images,
                         'deploy_iso': 'file://%s/boot.iso' % images,
                         'kernel_append_params': 'console=ttyS0'})
        tasks.append(types.SimpleNamespace(
            node=node, ports=[{'uuid': str(i), 'address': mac,
                               'pxe_enabled': True}],
            driver=types.SimpleNamespace(management=_Management())))
    return tasks


def _configure(work):
    images = os.path.join(work, 'images')
    os.makedirs(images)
    for name in ('vmlinuz', 'initrd', 'boot.iso'):
        with open(os.path.join(images, name), 'wb') as f:
            f.write(os.urandom(1 << 20))
    CONF([], project='bootflow', default_config_files=[])
    CONF.set_override('http_root', os.path.join(work, 'http'), 'deploy')
    CONF.set_override('http_url', 'http://192.0.2.1:8088', 'deploy')
    CONF.set_override('tftp_root', os.path.join(work, 'tftp'), 'pxe')
    CONF.set_override('instance_master_path',
                      os.path.join(work, 'master'), 'pxe')
    CONF.set_override('api_url', 'http://192.0.2.1:6385', 'conductor')
    CONF.set_override('file_url_allowed_paths', [images], 'conductor')
    CONF.set_override('dhcp_provider', 'none', 'dhcp')
    sources._CACHE = None
    return images


def _timed(func, items):
    start = time.perf_counter()
    for item in items:
        func(item)
    return (time.perf_counter() - start) * 1000


def _render_only(task):
    mac = task.ports[0]['address']
    render.render('ipxe_config.j2', node_uuid=task.node.uuid, mac=mac,
                  purpose='the BootOS ramdisk', local=False,
                  kernel_url='http://h/k', ramdisk_url='http://h/r',
                  cmdline=interfaces.ramdisk_cmdline(task, mac))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--nodes', type=int, default=1000)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='bf-render-') as work:
        tasks = _tasks(args.nodes, _configure(work))
        cmdline.build([])
        times = {}
        for _ in range(args.rounds):
            times.setdefault('ipxe script render + command line',
                             []).append(_timed(_render_only, tasks))
            for name, cls in (('ipxe', interfaces.IPXEBoot),
                              ('pxe', interfaces.PXEBoot),
                              ('http', interfaces.HTTPBoot),
                              ('grub-iso', interfaces.GrubISOBoot)):
                # One deploy's life per round: ramdisk config, switch to
                # local boot, tear-down.
                iface = cls()
                for phase in ('prepare_ramdisk', 'prepare_instance',
                              'clean_up_instance'):
                    times.setdefault('%s %s' % (name, phase), []).append(
                        _timed(getattr(iface, phase), tasks))
        print('%d nodes, median of %d rounds' % (args.nodes, args.rounds))
        for label, values in times.items():
            total = statistics.median(values)
            print('%-36s %9.1f ms  %7.1f us/node'
                  % (label, total, total * 1000 / args.nodes))

if __name__ == '__main__':
    main()
