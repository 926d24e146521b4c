"""Which disk gets the image: Ironic's root device hints.

Hints are a node property operators already write for Ironic, so they
mean here what they mean there: every hint must match; ``size`` is in
GiB (a disk's size rounded down); strings compare case-insensitively.
A hint may carry one of Ironic's operators: for ``size`` ``==`` (the
default), ``!=``, ``>=``, ``<=``, ``>``, ``<``, ``=`` (Ironic's "at
least") and ``<or>``; for strings ``s==`` (the default), ``s!=``,
``<in>`` (a substring) and ``<or>`` (``"<or> a <or> b"``: any of them).

Unlike Ironic, several matching disks do not mean "the first one the
kernel listed": disk order changes between boots, and the image must
land on the same disk every time. The smallest matching disk wins, then
the name; without hints, the smallest disk of at least 4 GiB (Ironic's
rule for the root disk), likewise.
"""

import re

from bootflow.agent.imaging import ImageError

GIB = 1024 ** 3
MIN_SIZE = 4 * GIB

STRING_HINTS = ('model', 'vendor', 'serial', 'wwn', 'wwn_with_extension',
                'wwn_vendor_extension', 'name', 'hctl', 'by_path')
HINTS = STRING_HINTS + ('size', 'rotational')

STRING_OPS = ('s==', 's!=', '<in>', '<or>')
SIZE_OPS = ('==', '!=', '>=', '<=', '>', '<', '=', '<or>')
# Any operator Ironic's grammar knows, so a known but unsupported one is
# reported as such instead of being taken for part of a value.
_OPERATOR = re.compile(r'(<[a-z-]+>|s?(?:==|!=|>=|<=|>|<|=))\s*(.*)',
                       re.DOTALL)
_TRUE = ('1', 't', 'true', 'on', 'y', 'yes')
_FALSE = ('0', 'f', 'false', 'off', 'n', 'no')

_COMPARE = {
    '==': lambda have, want: have == want,
    '=': lambda have, want: have >= want,
    '!=': lambda have, want: have != want,
    '>=': lambda have, want: have >= want,
    '<=': lambda have, want: have <= want,
    '>': lambda have, want: have > want,
    '<': lambda have, want: have < want,
}


def _split(key, expression):
    """(operator or None, values) of a hint expression."""
    text = expression.strip().lower()
    match = _OPERATOR.fullmatch(text)
    if not match:
        return None, [text]
    op, rest = match.groups()
    if op == '<or>':
        values = [v.strip() for v in text.split('<or>')]
        if values[0] or not all(values[1:]):
            raise ValueError('root device hint %s: bad "<or>" expression %r '
                             '(write "<or> a <or> b")' % (key, expression))
        return op, values[1:]
    if not rest.strip():
        raise ValueError('root device hint %s: operator %r without a value'
                         % (key, op))
    return op, [rest.strip()]


def _bool(key, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError('root device hint %s must be a boolean (true or '
                     'false), not %r' % (key, value))


def _size(value):
    """(operator, [GiB, ...]) of a size hint."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError('root device hint size must be an integer number '
                         'of GiB or a string like ">= 100", not %r'
                         % (value,))
    if isinstance(value, int):
        op, values = '==', [str(value)]
    else:
        op, values = _split('size', value)
        op = op or '=='
    if op not in SIZE_OPS:
        raise ValueError('root device hint size: unsupported operator %r '
                         '(supported: %s)' % (op, ' '.join(SIZE_OPS)))
    sizes = []
    for text in values:
        if not re.fullmatch(r'\d+', text) or int(text) <= 0:
            raise ValueError('root device hint size: %r is not a positive '
                             'integer number of GiB' % text)
        sizes.append(int(text))
    return op, sizes


def _string(key, value):
    """(operator, [value, ...]) of a string hint, values folded."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError('root device hint %s must be a non-empty string, '
                         'not %r' % (key, value))
    op, values = _split(key, value)
    if op is None:
        op = 's=='
    elif op not in STRING_OPS:
        raise ValueError('root device hint %s: unsupported operator %r '
                         '(supported for strings: %s)'
                         % (key, op, ' '.join(STRING_OPS)))
    values = [v.casefold() for v in values]
    if key == 'name' and op != '<in>':
        values = [_dev(v) for v in values]
    return op, values


def _dev(name):
    return name if name.startswith('/') else '/dev/' + name


def _format(op, values, default):
    if op == '<or>':
        return ' '.join('<or> %s' % v for v in values)
    text = str(values[0])
    if op == default and _OPERATOR.fullmatch(text) is None:
        return text
    return '%s %s' % (op, text)


def validate_hints(hints):
    """Hints checked and normalized (lower case, ``/dev/`` names,
    explicit operators only where needed); validating the result again
    gives the same dict. ValueError says what is wrong."""
    if not hints:
        return {}
    if not isinstance(hints, dict):
        raise ValueError('root device hints must be an object, not %r'
                         % (hints,))
    unknown = sorted(set(hints) - set(HINTS))
    if unknown:
        raise ValueError('unknown root device hint%s %s (valid: %s)'
                         % ('s' if len(unknown) > 1 else '',
                            ', '.join(unknown), ', '.join(sorted(HINTS))))
    result = {}
    for key, value in hints.items():
        if key == 'rotational':
            result[key] = _bool(key, value)
        elif key == 'size':
            op, sizes = _size(value)
            result[key] = (sizes[0] if op == '==' and not isinstance(
                value, str) else _format(op, sizes, '=='))
        else:
            op, values = _string(key, value)
            result[key] = _format(op, values, 's==')
    return result


def _text_matches(op, wants, have):
    if isinstance(have, (list, tuple)):
        haves = [str(h).casefold() for h in have if h not in (None, '')]
    elif have in (None, ''):
        haves = []
    else:
        haves = [str(have).casefold()]
    if not haves:
        return False
    if op == 's!=':
        return all(h != wants[0] for h in haves)
    if op == '<in>':
        return any(wants[0] in h for h in haves)
    return any(h in wants for h in haves)


def _matches(disk, hints):
    for key, value in hints.items():
        if key == 'rotational':
            have = disk.get('rotational')
            try:
                ok = have is not None and _bool(key, have) is value
            except ValueError:
                ok = False
        elif key == 'size':
            op, wants = _size(value)
            gib = (disk.get('size') or 0) // GIB
            if op == '<or>':
                ok = gib in wants
            else:
                ok = _COMPARE[op](gib, wants[0])
        else:
            op, wants = _string(key, value)
            have = disk.get(key)
            if key == 'name' and isinstance(have, str) and op != '<in>':
                have = _dev(have)
            ok = _text_matches(op, wants, have)
        if not ok:
            return False
    return True


def _order(disk):
    return (disk.get('size') or 0, str(disk.get('name') or ''))


def _describe(disks):
    parts = []
    for disk in sorted(disks, key=lambda d: str(d.get('name') or '')):
        size = disk.get('size') or 0
        text = '%s %.1f GiB' % (disk.get('name') or '?', size / GIB)
        if disk.get('serial'):
            text += ' serial %s' % (disk['serial'],)
        parts.append(text)
    return ', '.join(parts) or 'none'


def choose(disks, hints, min_size=MIN_SIZE):
    """The disk (one of ``disks``, inventory dicts) the image goes to."""
    disks = list(disks or [])
    hints = validate_hints(hints)
    if hints:
        found = [d for d in disks if _matches(d, hints)]
        if found:
            return min(found, key=_order)
        raise ImageError('no disk matches the root device hints %s (disks: '
                         '%s); fix the node\'s root_device property'
                         % (', '.join('%s=%r' % kv
                                      for kv in sorted(hints.items())),
                            _describe(disks)))
    found = [d for d in disks if (d.get('size') or 0) >= min_size]
    if found:
        return min(found, key=_order)
    raise ImageError('no disk of at least %.1f GiB to deploy to (disks: '
                     '%s); add a disk or set root device hints'
                     % (min_size / GIB, _describe(disks)))
