#!/usr/bin/env python3
"""Side-by-side table of api_bench.py results.

Usage: summarize.py [--format markdown|text] BASELINE.json OTHER.json [...]
   or: summarize.py name=BASELINE.json name=OTHER.json

The first file is the baseline: every other column gets a ratio
"OTHER / BASELINE".  The "better" column says which direction is good
(lower for times and memory, higher for throughput), so a ratio of 0.25 on
a "lower" row means four times faster / smaller.
"""

import argparse
import json
import os
import sys


def load(spec):
    name, sep, path = spec.partition('=')
    if not sep:
        path, name = spec, None
    with open(path) as f:
        data = json.load(f)
    if not name:
        name = data.get('label') or data.get('server_name') or \
            os.path.splitext(os.path.basename(path))[0]
    return name, data


def dig(data, *keys):
    for key in keys:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and \
                -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def by_target(data, section):
    return {item.get('target_total'): item for item in data.get(section) or []}


def rows_for(results):
    """Yields (label, better, [value per result])."""
    targets = []
    for _, data in results:
        for item in data.get('enroll') or []:
            if item.get('target_total') not in targets:
                targets.append(item.get('target_total'))
    targets.sort()
    enrolls = [by_target(d, 'enroll') for _, d in results]
    lists = [by_target(d, 'lists') for _, d in results]

    def each(tables, *keys):
        return [dig(table, *keys) for table in tables]

    for t in targets:
        yield ('enroll node+port, nodes/s @%s' % t, 'higher',
               each(enrolls, t, 'nodes_per_s'))
    for t in targets:
        vals = []
        for table in enrolls:
            failed = dig(table, t, 'failed_requests')
            retries = dig(table, t, 'retries')
            vals.append(None if failed is None
                        else '%s / %s' % (failed, retries))
        yield ('enroll failed requests / retries @%s' % t, 'lower', vals)
    list_rows = (
        ('GET /v1/nodes first page, median ms', 'nodes_first_page'),
        ('GET /v1/nodes/detail first page, median ms', 'detail_first_page'),
        ('GET /v1/nodes all pages, ms', 'nodes_all_pages'),
        ('GET /v1/nodes/detail all pages, ms', 'detail_all_pages'),
        ('openstacksdk nodes(), ms', 'sdk_nodes'),
        ('openstacksdk nodes(details=True), ms', 'sdk_nodes_detail'),
    )
    for label, key in list_rows:
        for t in targets:
            vals = each(lists, t, key, 'median_ms')
            if any(v is not None for v in vals):
                yield ('%s @%s' % (label, t), 'lower', vals)
    for t in targets:
        yield ('nodes seen in listing @%s' % t, '',
               each(lists, t, 'nodes_seen'))
    prov = [d.get('provision') or {} for _, d in results]
    n = [p.get('nodes') for p in prov]
    size = next((x for x in n if x), None)
    if size:
        for phase, state in (('manage', 'manageable'),
                             ('provide', 'available'),
                             ('deploy', 'active'),
                             ('undeploy', 'available')):
            yield ('%d nodes: %s -> all %s, s' % (size, phase, state),
                   'lower', [dig(p, 'phases', phase, 'seconds') for p in prov])
        yield ('%d nodes: whole cycle, s' % size, 'lower',
               [p.get('cycle_seconds') for p in prov])
        yield ('%d nodes: completed cycle' % size, 'higher',
               [p.get('completed') for p in prov])
        yield ('%d nodes: ended in failure states' % size, 'lower',
               [p.get('ended_in_failure_states') for p in prov])
    rss = [d.get('rss') or {} for _, d in results]
    yield ('peak RSS (pid + children), MiB', 'lower',
           [r.get('peak_mib') for r in rss])
    yield ('threads of pid at peak (whole tree)', 'lower',
           [None if r.get('threads_at_peak') is None else '%s (%s)' % (
               r.get('threads_at_peak'), r.get('tree_threads_at_peak'))
            for r in rss])
    yield ('service CPU seconds, whole run', 'lower',
           [r.get('cpu_seconds_total') for r in rss])
    yield ('failed requests / retries, whole run', 'lower',
           [None if d.get('total_failed_requests') is None else
            '%s / %s' % (d.get('total_failed_requests'),
                         d.get('total_retries')) for _, d in results])
    yield ('bench wall time, s', '', [d.get('wall_seconds')
                                      for _, d in results])


def fmt(value):
    if value is None:
        return '-'
    if isinstance(value, float):
        if abs(value) >= 100:
            return '{:,.0f}'.format(value)
        return '{:.1f}'.format(value) if abs(value) >= 10 else \
            '{:.2f}'.format(value)
    if isinstance(value, int):
        return '{:,}'.format(value)
    return str(value)


def ratio(base, other):
    if isinstance(base, (int, float)) and isinstance(other, (int, float)) \
            and base:
        return '%.2f' % (other / float(base))
    return '-'


def render(results, style):
    names = [name for name, _ in results]
    header = ['metric'] + names
    header += ['%s/%s' % (n, names[0]) for n in names[1:]]
    header.append('better')
    table = []
    for label, better, vals in rows_for(results):
        row = [label] + [fmt(v) for v in vals]
        row += [ratio(vals[0], v) if better else '' for v in vals[1:]]
        row.append(better)
        table.append(row)
    lines = []
    if style == 'markdown':
        lines.append('| ' + ' | '.join(header) + ' |')
        lines.append('|' + '|'.join(['---'] + ['---:'] * (len(header) - 2)
                                    + ['---']) + '|')
        lines += ['| ' + ' | '.join(r) + ' |' for r in table]
    else:
        widths = [max(len(r[i]) for r in [header] + table)
                  for i in range(len(header))]
        for r in [header] + table:
            lines.append('  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))))
    notes = []
    for name, data in results:
        bits = ['%s: %s' % (name, data.get('endpoint'))]
        if data.get('api_version'):
            bits.append('API %s (server max %s)' % (
                data.get('api_version'), data.get('server_max_version')))
        if data.get('started'):
            bits.append('started %s' % data['started'])
        load = dig(data, 'host', 'loadavg_start')
        if load:
            bits.append('load %.2f' % load[0])
        if data.get('fatal'):
            bits.append('FATAL: %s' % data['fatal'])
        notes.append(', '.join(bits))
    return '\n'.join(lines + [''] + notes)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--format', choices=('markdown', 'text'),
                   default='markdown')
    p.add_argument('results', nargs='+',
                   help='api_bench.py JSON files, optionally name=path')
    args = p.parse_args(argv)
    results = []
    for spec in args.results:
        try:
            results.append(load(spec))
        except (OSError, ValueError) as exc:
            print('summarize.py: skipping %s: %s' % (spec, exc),
                  file=sys.stderr)
    if not results:
        return 1
    print(render(results, args.format))
    return 0


if __name__ == '__main__':
    sys.exit(main())
