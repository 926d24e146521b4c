"""CPU and memory: what scheduling and template matching look at first."""

import math
import platform
import re

from bootflow.agent.collectors import base
from bootflow.agent import system as system_mod

_CPU_DIR = 'sys/devices/system/cpu'
_CPU_NAME = re.compile(r'^cpu\d+$')
_MODEL_KEYS = ('model name', 'Model', 'Processor', 'cpu')
_SIZE_UNITS = {'bytes': 1.0 / 2 ** 20, 'kb': 1.0 / 1024, 'mb': 1,
               'gb': 1024, 'tb': 1024 ** 2}
DMIDECODE_MEMORY = ['dmidecode', '-t', 'memory']


def _cpuinfo_blocks(text):
    """One dict per processor stanza of /proc/cpuinfo (blank-line split)."""
    blocks = []
    for stanza in re.split(r'\n\s*\n', text or ''):
        fields = dict(base.colon_fields(stanza))
        if fields:
            blocks.append(fields)
    return blocks


def _frequency(system, first):
    """Max frequency in MHz as a string, the way Ironic reports it.

    cpufreq's maximum is preferred: ``cpu MHz`` in cpuinfo is the current,
    power-managed clock and changes from one read to the next.
    """
    khz = base.parse_int(system.value(_CPU_DIR + '/cpu0/cpufreq/'
                                      'cpuinfo_max_freq'))
    if khz:
        return str(khz // 1000)
    mhz = first.get('cpu MHz') or first.get('clock', '').rstrip('MHz')
    try:
        return str(int(float(mhz)))
    except ValueError:
        return None


def _socket_count(system, blocks):
    packages = set()
    for name in system.listdir(_CPU_DIR):
        if _CPU_NAME.match(name):
            package = system.value('%s/%s/topology/physical_package_id'
                                   % (_CPU_DIR, name))
            if package is not None:
                packages.add(package)
    if not packages:
        packages = {b['physical id'] for b in blocks if 'physical id' in b}
    return len(packages) or None


def _architecture(system):
    """``uname -m`` of the machine described, not of the test runner.

    platform.machine() only answers for the live root; a fixture tree says
    it with proc/sys/kernel/arch or a captured ``uname -m``.
    """
    arch = system.value('proc/sys/kernel/arch')
    if arch:
        return arch
    if system.live:
        return platform.machine() or None
    out = system.run(['uname', '-m'])
    return out.strip() if out and out.strip() else None


def cpu(system, context=None):
    """cpu{model_name, frequency, count, architecture, flags, socket_count}."""
    notes = []
    text = system.read('proc/cpuinfo')
    if text is None:
        notes.append('proc/cpuinfo unreadable: cpu model, frequency and '
                     'flags not collected')
    blocks = _cpuinfo_blocks(text)
    first = blocks[0] if blocks else {}
    model = next((first[k] for k in _MODEL_KEYS if first.get(k)), None)
    flags = (first.get('flags') or first.get('Features') or '').split()
    count = base.parse_cpu_list(system.value(_CPU_DIR + '/online'))
    if count is None:
        count = sum(1 for b in blocks if 'processor' in b) or None
    value = {
        'model_name': model,
        'frequency': _frequency(system, first),
        'count': count,
        'architecture': _architecture(system),
        'flags': flags,
        'socket_count': _socket_count(system, blocks),
    }
    for key in ('count', 'architecture', 'socket_count'):
        if value[key] is None:
            notes.append('cpu %s could not be determined' % key)
    return value, notes


def _size_mb(text):
    """MB from a dmidecode size (``16 GB``, ``16384 MB``); None if empty."""
    match = re.match(r'^(\d+)\s*(bytes|kB|MB|GB|TB)$', text.strip(), re.I)
    if not match:
        return None
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def dimm_total_mb(text):
    """Sum of the installed DIMMs in ``dmidecode -t memory`` output.

    Only the exact ``Size`` key of Memory Device (type 17) records counts:
    recent dmidecode also prints ``Volatile Size`` and ``Cache Size``.
    """
    total = 0
    for record in re.split(r'\n\s*\n', text or ''):
        heading = [line.strip() for line in record.splitlines()[:3]]
        if 'Memory Device' not in heading:
            continue
        for key, val in base.colon_fields(record):
            if key == 'Size':
                total += _size_mb(val) or 0
    return int(total)


def _estimate_mb(total_bytes):
    """Round MemTotal up to what was probably installed.

    MemTotal lacks the memory the firmware and kernel keep for themselves
    (a few hundred MB), so round up to a whole GiB (128 MiB when small).
    """
    mib = total_bytes / 2 ** 20
    step = 1024 if mib >= 2048 else 128
    return int(math.ceil(mib / step) * step)


def memory(system, context=None):
    """memory{total (bytes the kernel sees), physical_mb (installed)}."""
    notes = []
    total = None
    for key, val in base.colon_fields(system.read('proc/meminfo')):
        if key == 'MemTotal':
            kb = base.parse_int(val.split()[0]) if val else None
            total = kb * 1024 if kb is not None else None
            break
    if total is None:
        notes.append('MemTotal not found in proc/meminfo: memory.total not '
                     'collected')
    result = system.run_result(DMIDECODE_MEMORY)
    physical = None
    if result.found and result.rc == 0:
        physical = dimm_total_mb(result.stdout) or None
        why = 'dmidecode -t memory lists no memory device'
    else:
        why = system_mod.describe_failure(DMIDECODE_MEMORY, result)
    if physical is None and total is not None:
        physical = _estimate_mb(total)
        notes.append('%s: memory.physical_mb estimated from MemTotal (%d)'
                     % (why, physical))
    elif physical is None:
        notes.append('%s: memory.physical_mb not collected' % why)
    return {'total': total, 'physical_mb': physical}, notes
