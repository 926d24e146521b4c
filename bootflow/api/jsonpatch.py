"""RFC 6902 JSON patch, with the extra rules Ironic's PATCH endpoints apply.

Ironic clients (``baremetal node set``, nova's ironic driver, metal3) send
plain RFC 6902 documents, but Ironic layers resource rules on top: the root
of a resource is a fixed schema, so paths may only name existing fields,
some fields belong to the service, and removing a root field resets it
instead of deleting the key. Doing that here, on a plain dict, keeps those
rules in one place for every resource controller.

Two error classes, both 400: ``InvalidParameterValue`` when the request is
not a well-formed patch or touches a field it may not touch (nothing to
"apply" yet), ``PatchError`` when a well-formed operation can't be applied
to this document (missing path, bad index, failed test).
"""

import copy
import json
import re

from bootflow.common import exception

# Members each op needs besides ``op`` and ``path`` (RFC 6902 section 4).
_REQUIRED = {
    'add': ('value',),
    'remove': (),
    'replace': ('value',),
    'move': ('from',),
    'copy': ('from',),
    'test': ('value',),
}
# ``test`` reads only; ``copy`` reads its source. Neither changes those fields.
_WRITES_FROM = frozenset({'move'})
_WRITES_PATH = frozenset({'add', 'remove', 'replace', 'move', 'copy'})
_INDEX_RE = re.compile(r'^(0|[1-9][0-9]*)$')
_BAD_ESCAPE_RE = re.compile(r'~(?![01])')


def _invalid(msg):
    return exception.InvalidParameterValue(err=msg)


def _split(pointer):
    """Pointer -> unescaped tokens.

    The whole-document pointer ('') is refused: a resource is patched field
    by field, never replaced wholesale.
    """
    if not isinstance(pointer, str) or not pointer.startswith('/'):
        raise _invalid("Invalid JSON pointer %r: it must be a string "
                       "starting with '/'." % (pointer,))
    tokens = pointer.split('/')[1:]
    for tok in tokens:
        if _BAD_ESCAPE_RE.search(tok):
            raise _invalid("Invalid JSON pointer %r: '~' must be followed "
                           "by '0' or '1'." % pointer)
    # ~1 first, so an escaped '~01' decodes to '~1' rather than '/'.
    return [t.replace('~1', '/').replace('~0', '~') for t in tokens]


def _validate_op(op):
    if not isinstance(op, dict):
        raise _invalid('Invalid patch operation %r: each operation must be '
                       'a JSON object.' % (op,))
    name = op.get('op')
    if not isinstance(name, str) or name not in _REQUIRED:
        raise _invalid("Invalid patch operation %r: 'op' must be one of "
                       "%s." % (op, ', '.join(sorted(_REQUIRED))))
    for member in ('path',) + _REQUIRED[name]:
        if member not in op:
            raise _invalid("Invalid patch operation %r: '%s' is required "
                           "for '%s'." % (op, member, name))
    _split(op['path'])
    if 'from' in _REQUIRED[name]:
        _split(op['from'])


def _validate(patch):
    if not isinstance(patch, list):
        raise _invalid('Invalid patch: it must be a JSON list of operations, '
                       'not %s.' % type(patch).__name__)
    for op in patch:
        _validate_op(op)


def patch_paths(patch):
    """Root fields a patch would change, so callers validate only those.

    ``test`` and the source of ``copy`` are left out: they read, and a field
    that is only read needs no re-validation.
    """
    _validate(patch)
    fields = set()
    for op in patch:
        if op['op'] in _WRITES_PATH:
            fields.add(_split(op['path'])[0])
        if op['op'] in _WRITES_FROM:
            fields.add(_split(op['from'])[0])
    return fields


class _Rules:
    """Per-call field rules, kept together so helpers take one argument."""

    def __init__(self, internal, readonly, mandatory):
        # Accept '/uuid' as well as 'uuid': both spellings appear in callers.
        self.internal = frozenset(f.lstrip('/') for f in internal)
        self.readonly = frozenset(f.lstrip('/') for f in readonly)
        self.mandatory = frozenset(f.lstrip('/') for f in mandatory)

    def check_write(self, doc, tokens, removing):
        root = tokens[0]
        where = '/' + root
        if root in self.internal:
            raise _invalid("'%s' is an internal attribute and can not be "
                           "updated" % where)
        if root in self.readonly:
            raise _invalid("'%s' is a read-only attribute and can not be "
                           "updated" % where)
        if removing and len(tokens) == 1 and root in self.mandatory:
            raise _invalid("'%s' is a mandatory attribute and can not be "
                           "removed" % where)
        _check_known(doc, tokens)


def _check_known(doc, tokens):
    # The root is a fixed schema: RFC "add" of a new member is refused here.
    if tokens[0] not in doc:
        raise _PatchFailure('Cannot patch /%s: it is not an attribute of '
                            'this resource' % _escape(tokens[0]))


class _PatchFailure(Exception):
    """Carries a reason until the failing operation is known."""


def _escape(token):
    return token.replace('~', '~0').replace('/', '~1')


def _pointer(tokens):
    return ''.join('/' + _escape(t) for t in tokens)


def _index(container, token, tokens, allow_end):
    """List index for ``token``; ``allow_end`` admits len() and '-' (add)."""
    size = len(container)
    if token == '-' and allow_end:
        return size
    if not _INDEX_RE.match(token):
        raise _PatchFailure('%s: %r is not a valid list index'
                            % (_pointer(tokens), token))
    idx = int(token)
    if idx > size or (idx == size and not allow_end):
        raise _PatchFailure('%s: list index %d is out of range'
                            % (_pointer(tokens), idx))
    return idx


def _parent(doc, tokens):
    """Walk to the container holding the last token."""
    node = doc
    for depth, tok in enumerate(tokens[:-1]):
        if isinstance(node, dict) and tok in node:
            node = node[tok]
        elif isinstance(node, list):
            node = node[_index(node, tok, tokens[:depth + 1], False)]
        else:
            raise _PatchFailure('%s does not exist'
                                % _pointer(tokens[:depth + 1]))
    if not isinstance(node, (dict, list)):
        raise _PatchFailure('%s does not exist: %s is not an object or a '
                            'list' % (_pointer(tokens),
                                      _pointer(tokens[:-1]) or 'the root'))
    return node


def _get(doc, tokens):
    node = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(node, list):
        return node[_index(node, last, tokens, False)]
    if last not in node:
        raise _PatchFailure('%s does not exist' % _pointer(tokens))
    return node[last]


def _add(doc, tokens, value):
    node = _parent(doc, tokens)
    if isinstance(node, list):
        node.insert(_index(node, tokens[-1], tokens, True), value)
    else:
        # At the root this replaces: Ironic treats add of a field as replace.
        node[tokens[-1]] = value


def _remove(doc, tokens):
    if len(tokens) == 1:
        # Root fields are schema columns; "removing" resets them.
        doc[tokens[0]] = {} if isinstance(doc[tokens[0]], dict) else None
        return
    node = _parent(doc, tokens)
    if isinstance(node, list):
        del node[_index(node, tokens[-1], tokens, False)]
    elif tokens[-1] in node:
        del node[tokens[-1]]
    else:
        raise _PatchFailure('%s does not exist' % _pointer(tokens))


def _json_equal(a, b):
    """JSON equality: unlike Python's, true is not 1 and 1 is not '1'."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(
            _json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    return type(a) is type(b) and a == b


def _apply_one(doc, op, rules):
    name = op['op']
    path = _split(op['path'])
    if name == 'test':
        _check_known(doc, path)
        if not _json_equal(_get(doc, path), op['value']):
            raise _PatchFailure('test failed: %s is not equal to %r'
                                % (op['path'], op['value']))
        return
    if name in ('move', 'copy'):
        _move_or_copy(doc, op, path, rules)
        return
    rules.check_write(doc, path, removing=(name == 'remove'))
    if name == 'remove':
        _remove(doc, path)
    elif name == 'replace':
        _get(doc, path)  # RFC: the target must already exist.
        _set(doc, path, copy.deepcopy(op['value']))
    else:
        _add(doc, path, copy.deepcopy(op['value']))


def _set(doc, tokens, value):
    node = _parent(doc, tokens)
    if isinstance(node, list):
        node[_index(node, tokens[-1], tokens, False)] = value
    else:
        node[tokens[-1]] = value


def _move_or_copy(doc, op, path, rules):
    source = _split(op['from'])
    moving = op['op'] == 'move'
    if moving:
        if source == path:
            rules.check_write(doc, source, removing=False)
            _get(doc, source)  # RFC: a no-op, but the source must exist.
            return
        if path[:len(source)] == source:
            raise _PatchFailure('cannot move %s into its own child %s'
                                % (op['from'], op['path']))
        rules.check_write(doc, source, removing=True)
    else:
        _check_known(doc, source)
    rules.check_write(doc, path, removing=False)
    value = copy.deepcopy(_get(doc, source))
    if moving:
        _remove(doc, source)
    _add(doc, path, value)


def apply_patch(doc, patch, internal=frozenset(), readonly=frozenset(),
                mandatory=frozenset()):
    """Apply ``patch`` to a copy of ``doc``; all-or-nothing on error.

    Field names in ``internal``/``readonly``/``mandatory`` may be written
    bare (``'uuid'``) or as paths (``'/uuid'``).
    """
    _validate(patch)
    rules = _Rules(internal, readonly, mandatory)
    result = copy.deepcopy(doc)
    for op in patch:
        try:
            _apply_one(result, op, rules)
        except _PatchFailure as e:
            raise exception.PatchError(patch=json.dumps(op, default=str),
                                       reason=str(e))
    return result
