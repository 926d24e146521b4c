#!/usr/bin/env python3
"""The real deploy cycle on ``bootflow lab`` machines, phase by phase.

Builds BootOS (``bootflow-build-bootos``, cached), starts the all-in-one
service and a lab of QEMU machines (TCG) behind the lab's Redfish BMC,
cleans them (``provide``), then deploys a whole-disk image and times,
from the deploy request, each phase as the API and the serial console
show it:

    power on → BootOS init → agent start → first heartbeat → inventory
    (the write step starts) → image written → booted from disk → active

Run once with one machine and once with two in parallel (``--machines
1,2``); with ``--kexec`` the second boot is a warm one. Prints a table and
JSON (``--json``). Also: the initramfs size, and the agent's RSS and the
guest's used memory as the agent logs them on the console.

Usage: benchmarks/bootos_cycle_bench.py [--machines 1,2] [--kexec]
       [--memory 1024] [--format raw|qcow2] [--json]
(as root, with qemu-system-x86, qemu-utils, e2fsprogs and apt).
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bootflow import lab as lab_mod  # noqa: E402
from bootflow.bootos import build  # noqa: E402
from tests.e2e import assets  # noqa: E402
from tests.e2e import instance_image  # noqa: E402
from tests.functional.conftest import HttpApi  # noqa: E402
from tests.functional.conftest import _free_port  # noqa: E402
from tests.functional.conftest import free_udp_ports  # noqa: E402
from tests.functional.conftest import start_service  # noqa: E402

PHASES = ('power_on', 'bootos_init', 'agent_start', 'first_heartbeat',
          'inventory', 'image_written', 'booted_from_disk', 'active')
MEMORY = re.compile(r'memory: agent RSS (\d+) MiB; machine (\d+) MiB used '
                    r'of (\d+) MiB')
TIMEOUT = 900


def _config(http_root, http_port, allowed):
    return {
        'DEFAULT': {'enabled_hardware_types': 'redfish,fake-hardware',
                    'enabled_boot_interfaces': 'ipxe,fake',
                    'enabled_deploy_interfaces': 'direct,fake',
                    'enabled_inspect_interfaces': 'agent,no-inspect,fake'},
        'deploy': {'http_root': str(http_root),
                   'http_url': 'http://10.0.2.100',
                   'http_server_host': '127.0.0.1',
                   'http_server_port': str(http_port)},
        'conductor': {'api_url': 'http://10.0.2.100:6385',
                      'file_url_allowed_paths': allowed,
                      'sync_power_state_interval': '600'},
        'agent': {'poll_interval': '1'},
    }


def _serial(machine, offset=0):
    try:
        return Path(machine.serial_log).read_text(errors='replace')[offset:]
    except OSError:
        return ''


def _wait_state(api, uuids, state):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        nodes = [api.node(u) for u in uuids]
        if all(n['provision_state'] == state and n['reservation'] is None
               for n in nodes):
            return
        bad = [n for n in nodes if n['provision_state'].endswith('failed')]
        if bad:
            raise SystemExit('node %s: %s: %s' % (
                bad[0]['name'], bad[0]['provision_state'],
                bad[0]['last_error']))
        time.sleep(0.5)
    raise SystemExit('nodes did not reach %s in %ss' % (state, TIMEOUT))


def _agent_marks(api, uuid):
    """The heartbeat and progress the cleaning left behind, so that only
    the deploy's own count."""
    info = api.node(uuid).get('driver_internal_info') or {}
    return info.get('agent_last_heartbeat'), info.get('agent_progress')


def _observe(api, machine, uuid, offset, started, seen, marker, before):
    """Record the phases this poll shows for one machine."""
    now = round(time.monotonic() - started, 1)
    node = api.node(uuid)
    info = node.get('driver_internal_info') or {}
    text = _serial(machine, offset)
    heartbeat, progress = info.get('agent_last_heartbeat'), \
        info.get('agent_progress') or {}
    checks = {
        'power_on': node['power_state'] == 'power on',
        'bootos_init': 'BOOTOS: init' in text,
        'agent_start': 'BOOTOS: agent start' in text,
        'first_heartbeat': bool(heartbeat) and heartbeat != before[0],
        'inventory': (node.get('deploy_step') or {}).get('step')
        == 'write_image',
        'image_written': progress != before[1]
        and progress.get('phase') == 'done',
        'booted_from_disk': marker in text,
        'active': node['provision_state'] == 'active',
    }
    for phase in PHASES:
        if checks[phase] and phase not in seen:
            seen[phase] = now
    return len(seen) == len(PHASES)


def deploy_round(api, cli_run, lab, nodes, image, fmt, kexec):
    """Deploy every node at once; per machine, seconds to each phase."""
    machines = lab.machines
    offsets = {m.name: len(_serial(m)) for m in machines}
    before = {m.name: _agent_marks(api, nodes[m.name]) for m in machines}
    marker = instance_image.INSTANCE_MARKER if kexec else assets.DISK_MARKER
    started = time.monotonic()
    for machine in machines:
        uuid = nodes[machine.name]
        api.patch_node(uuid, [
            {'op': 'add', 'path': '/instance_info', 'value': {
                'image_source': 'file://%s' % image[fmt],
                'image_checksum': image[fmt + '_sha256'],
                'image_disk_format': fmt}},
            {'op': 'add', 'path': '/driver_info/bootos_kexec',
             'value': 'true' if kexec else 'false'}])
        api.provision(uuid, 'active')
    seen = {m.name: {} for m in machines}
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        done = [_observe(api, m, nodes[m.name], offsets[m.name], started,
                         seen[m.name], marker, before[m.name])
                for m in machines]
        if all(done):
            break
        time.sleep(0.2)
    else:
        raise SystemExit('deploy round timed out: %s' % seen)
    wall = round(time.monotonic() - started, 1)
    memory = {}
    for machine in machines:
        found = MEMORY.findall(_serial(machine, offsets[machine.name]))
        if found:
            rss, used, total = map(int, found[-1])
            memory[machine.name] = {'agent_rss_mib': rss,
                                    'guest_used_mib': used,
                                    'guest_total_mib': total}
    return {'machines': len(machines), 'wall_s': wall, 'phases': seen,
            'memory': memory}


def undeploy(api, nodes):
    for uuid in nodes.values():
        api.provision(uuid, 'deleted')
    _wait_state(api, list(nodes.values()), 'available')


def run(count, args, bootos, image, workdir):
    http_root, http_port = workdir / 'httpboot', _free_port()
    allowed = '%s,%s' % (Path(bootos['kernel']).parent,
                         Path(image['raw']).parent)
    service = start_service('sqlite', workdir, extra_config=_config(
        http_root, http_port, allowed))
    lab = lab_mod.Lab(workdir / ('lab-%d' % count), die_with_parent=True)
    try:
        lab.create(count=count, memory_mib=args.memory, cpus=1,
                   disk_size='1G', api_port=int(
                       service.endpoint.rsplit(':', 1)[1]),
                   http_port=http_port, bmc_port=_free_port(),
                   ipmi_port=free_udp_ports(count))
        api = HttpApi(service)
        nodes = {n['name']: n['uuid'] for n in lab.enroll(
            service.endpoint,
            deploy_kernel='file://%s' % bootos['kernel'],
            deploy_ramdisk='file://%s' % bootos['initramfs'],
            boot_interface='ipxe', deploy_interface='direct',
            inspect_interface='no-inspect')}
        uuids = list(nodes.values())
        for uuid in uuids:
            api.provision(uuid, 'manage')
        _wait_state(api, uuids, 'manageable')
        started = time.monotonic()
        for uuid in uuids:
            api.provision(uuid, 'provide')
        _wait_state(api, uuids, 'available')
        clean_s = round(time.monotonic() - started, 1)
        result = deploy_round(api, None, lab, nodes, image, args.format,
                              args.kexec)
        result['clean_s'] = clean_s
        return result
    finally:
        lab.destroy()
        service.stop()


def _table(results, sizes):
    lines = ['initramfs: %.1f MiB, kernel: %.1f MiB' % sizes, '']
    header = '%-18s' % 'phase (s)' + ''.join(
        '%12s' % ('%d machine%s' % (r['machines'], 's' * (r['machines'] > 1)))
        for r in results)
    lines.append(header)
    for phase in PHASES:
        row = '%-18s' % phase
        for r in results:
            values = [p.get(phase) for p in r['phases'].values()]
            row += '%12s' % ('/'.join('%.1f' % v for v in values
                                      if v is not None) or '-')
        lines.append(row)
    lines.append('%-18s' % 'deploy wall' + ''.join(
        '%12.1f' % r['wall_s'] for r in results))
    lines.append('%-18s' % 'clean (provide)' + ''.join(
        '%12.1f' % r['clean_s'] for r in results))
    for r in results:
        for name, mem in sorted(r['memory'].items()):
            lines.append('%s (%d-machine run): agent RSS %d MiB, guest used '
                         '%d of %d MiB' % (name, r['machines'],
                                           mem['agent_rss_mib'],
                                           mem['guest_used_mib'],
                                           mem['guest_total_mib']))
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--machines', default='1,2')
    parser.add_argument('--memory', type=int, default=1024)
    parser.add_argument('--format', choices=('raw', 'qcow2'), default='raw')
    parser.add_argument('--kexec', action='store_true')
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix='bootos-cycle-'))
    started = time.monotonic()
    bootos = build.build(output=str(workdir / 'bootos'))
    build_s = round(time.monotonic() - started, 1)
    image = instance_image.build(_mkdir(workdir / 'image'))
    sizes = (os.path.getsize(bootos['initramfs']) / 2 ** 20,
             os.path.getsize(bootos['kernel']) / 2 ** 20)
    results = [run(int(n), args, bootos, image, _mkdir(workdir / n))
               for n in args.machines.split(',')]
    if args.json:
        print(json.dumps({'build_s': build_s, 'initramfs_bytes':
                          os.path.getsize(bootos['initramfs']),
                          'results': results}, indent=2))
    else:
        print('BootOS build (cached if built before): %.1f s' % build_s)
        print(_table(results, sizes))


def _mkdir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == '__main__':
    main()
