#!/usr/bin/env python3
"""Draw the provision state machine as a Mermaid ``stateDiagram-v2``.

The diagram is derived from ``bootflow.common.state_machine`` rather than
kept by hand, so the README cannot drift from the code unnoticed:
``--check`` fails (exit 1) when the README block is stale, and
``--update`` rewrites it.  Only the text between the two marker comments
is ever touched; the rest of the file belongs to its authors.

Usage::

    python tools/states_to_mermaid.py                    # print diagram
    python tools/states_to_mermaid.py --update README.md
    python tools/states_to_mermaid.py --check README.md
"""

import argparse
import re
import sys

BEGIN_MARKER = '<!-- states:begin -->'
END_MARKER = '<!-- states:end -->'

# Explicit text colour: GitHub's dark theme would otherwise draw light
# text on the light fill.
STABLE_STYLE = 'fill:#d5f5e3,stroke:#1e8449,stroke-width:3px,color:#000'


class MarkersNotFound(Exception):
    """The file has no (or a malformed) begin/end marker pair."""


def _load_machine():
    # Imported lazily so ``--help`` works outside an installed environment.
    from bootflow.common import state_machine
    # A state the machine records no target for is one a node rests in;
    # that is the machine's own definition of "stable", so use it.
    targets = state_machine._TARGETS
    return state_machine.TRANSITIONS, targets


def _state_id(name):
    # Mermaid ids must be bare words; names like "wait call-back" are not.
    return re.sub(r'[^0-9A-Za-z]+', '_', name).strip('_')


def render(transitions=None, targets=None):
    """Return the diagram text (no code fence), ending with a newline.

    Order follows the transitions tuple, never dict or set iteration, so
    the same machine always yields byte-identical output.
    """
    if transitions is None:
        transitions, targets = _load_machine()
    targets = targets or {}

    states = []
    for start, _event, end in transitions:
        for name in (start, end):
            if name not in states:
                states.append(name)
    # States known to the machine but unreachable still belong in the
    # picture: an orphan is exactly what a reader should notice.
    for name in targets:
        if name not in states:
            states.append(name)

    ids = {}
    for name in states:
        ident = _state_id(name)
        clash = [other for other, i in ids.items() if i == ident]
        if clash:
            raise ValueError('states %r and %r map to the same Mermaid id %r'
                             % (clash[0], name, ident))
        ids[name] = ident

    # Several events between the same pair of states become one labelled
    # edge; parallel arrows make Mermaid's layout unreadable.
    edges = {}
    for start, event, end in transitions:
        events = edges.setdefault((start, end), [])
        if event not in events:
            events.append(event)

    lines = ['stateDiagram-v2']
    for name in states:
        if ids[name] != name:
            lines.append('    state "%s" as %s' % (name, ids[name]))
    if states:
        lines.append('    [*] --> %s' % ids[states[0]])
    for (start, end), events in edges.items():
        lines.append('    %s --> %s : %s'
                     % (ids[start], ids[end], ', '.join(events)))

    stable = [ids[n] for n in states if n in targets and targets[n] is None]
    lines.append('    classDef stable %s' % STABLE_STYLE)
    if stable:
        lines.append('    class %s stable' % ', '.join(stable))
    return '\n'.join(lines) + '\n'


def _block(diagram):
    return '\n```mermaid\n%s```\n' % diagram


def _split(text):
    begin = text.find(BEGIN_MARKER)
    end = text.find(END_MARKER)
    if begin < 0 or end < 0 or end < begin or \
            text.count(BEGIN_MARKER) != 1 or text.count(END_MARKER) != 1:
        raise MarkersNotFound('expected exactly one %s followed by one %s'
                              % (BEGIN_MARKER, END_MARKER))
    head = text[:begin + len(BEGIN_MARKER)]
    return head, text[len(head):end], text[end:]


def updated(text, diagram=None):
    """Return ``text`` with the marked block replaced by the diagram."""
    head, _old, tail = _split(text)
    return head + _block(diagram if diagram is not None else render()) + tail


def is_current(path, diagram=None):
    """True when the marked block of ``path`` matches the state machine.

    :raises MarkersNotFound: when ``path`` has no marker pair.
    """
    with open(path, encoding='utf-8', newline='') as f:
        text = f.read()
    return updated(text, diagram) == text


def update(path, diagram=None):
    """Rewrite the marked block of ``path``; return True if it changed."""
    with open(path, encoding='utf-8', newline='') as f:
        text = f.read()
    new = updated(text, diagram)
    if new == text:
        return False
    with open(path, 'w', encoding='utf-8', newline='') as f:
        f.write(new)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--update', metavar='FILE',
                      help='rewrite the diagram between the markers')
    mode.add_argument('--check', metavar='FILE',
                      help='exit 1 if the diagram between the markers is '
                           'stale')
    args = parser.parse_args(argv)

    path = args.update or args.check
    if path is None:
        sys.stdout.write(render())
        return 0
    try:
        if args.update:
            changed = update(path)
            print('%s: %s' % (path, 'updated' if changed else 'up to date'))
            return 0
        if is_current(path):
            print('%s: state diagram is current' % path)
            return 0
    except MarkersNotFound as exc:
        print('%s: %s' % (path, exc), file=sys.stderr)
        return 2 if args.update else 1
    print('%s: state diagram is stale; run "tox -e genstates" (or %s '
          '--update %s)' % (path, sys.argv[0], path), file=sys.stderr)
    return 1


if __name__ == '__main__':
    sys.exit(main())
