"""Block manifests: an image as fixed-size content-addressed blocks.

As in InetBoot's HTTP-FUSE CLOOP, a raw image is cut into blocks of
``block_size`` bytes, each stored as a static file named by its sha256
(``<h[0:2]>/<h>``), and described by a small JSON manifest. Any plain web
server can then be a mirror (blocks never change under their name, so
they cache and fail over trivially), and an agent fetches only the
blocks its disk does not already hold.

The manifest is serialized canonically (sorted keys, no spaces) so that
its sha256, which the conductor hands the agent, is the same whoever
writes it. All-zero blocks are ``null``: they are never stored nor
fetched, only written (or found already zero). ``loads`` is strict
because the manifest decides what lands on a disk and which URLs an
agent asks for; a hash that is not 64 lower-case hex digits would also
be a path outside the block directory.

Standard library only: the BootOS agent imports this module.
"""

import hashlib
import json
import re
import urllib.parse

FORMAT = 'bootflow-blocks/1'
MIN_BLOCK_SIZE = 65536
# Blocks are held in memory whole, by agents with a RAM root file system.
MAX_BLOCK_SIZE = 1 << 30
DEFAULT_BLOCKS_URL = 'blocks'

_REQUIRED = {'format': str, 'block_size': int, 'size': int,
             'blocks': list, 'image_sha256': str}
_OPTIONAL = {'blocks_url': str}
_HASH = re.compile(r'[0-9a-f]{64}')
# What the canonical serialization starts with (sorted keys put
# "block_size" and the long "blocks" list before "format").
_CANONICAL_HEAD = re.compile(
    rb'\{\s*"block_size"\s*:\s*\d+\s*,\s*"blocks"\s*:\s*'
    rb'\[\s*(?:null|"[0-9a-f]{1,64}|\]|$)')
_FORMAT_KEY = re.compile(rb'"format"\s*:\s*"bootflow-blocks/')


class ManifestError(ValueError):
    """A manifest is malformed; the message says which part."""


def _no_duplicates(pairs):
    # Two "blocks" keys would let two readers see two different images.
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ManifestError('duplicate key %r' % key)
        seen[key] = value
    return seen


def _no_constant(name):
    raise ManifestError('%s is not valid in a manifest' % name)


def loads(data):
    """The manifest in ``data`` (bytes), validated; ManifestError if not
    a valid manifest of this format."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode('utf-8')
        except UnicodeDecodeError as exc:
            raise ManifestError('a manifest is UTF-8 JSON: %s' % exc) \
                from None
    elif not isinstance(data, str):
        raise ManifestError('a manifest is bytes, not %s'
                            % type(data).__name__)
    try:
        manifest = json.loads(data, object_pairs_hook=_no_duplicates,
                              parse_constant=_no_constant)
    except ManifestError:
        raise
    except ValueError as exc:
        raise ManifestError('not valid JSON: %s' % exc) from None
    validate(manifest)
    return manifest


def validate(manifest):
    """Raise ManifestError unless ``manifest`` (a dict) is valid."""
    if not isinstance(manifest, dict):
        raise ManifestError('a manifest is a JSON object, not %s'
                            % type(manifest).__name__)
    _check_keys(manifest)
    if manifest['format'] != FORMAT:
        raise ManifestError('unsupported manifest format %r (this agent '
                            'reads %r)' % (manifest['format'], FORMAT))
    block_size, size = manifest['block_size'], manifest['size']
    check_block_size(block_size)
    if size < 0:
        raise ManifestError('size %d is negative' % size)
    blocks = manifest['blocks']
    expected = block_count(size, block_size)
    if len(blocks) != expected:
        raise ManifestError('%d blocks listed, but an image of %d bytes in '
                            'blocks of %d has %d' % (len(blocks), size,
                                                     block_size, expected))
    for index, digest in enumerate(blocks):
        if digest is not None and not _is_hash(digest):
            raise ManifestError('block %d: %r is neither null nor a sha256 '
                                'in lower-case hex' % (index, digest))
    if not _is_hash(manifest['image_sha256']):
        raise ManifestError('image_sha256 %r is not a sha256 in lower-case '
                            'hex' % (manifest['image_sha256'],))
    if 'blocks_url' in manifest and not manifest['blocks_url'].strip():
        raise ManifestError('blocks_url is empty')


def _check_keys(manifest):
    unknown = set(manifest) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise ManifestError('unknown keys: %s' % ', '.join(sorted(unknown)))
    for key, kind in list(_REQUIRED.items()) + list(_OPTIONAL.items()):
        if key not in manifest:
            if key in _REQUIRED:
                raise ManifestError('"%s" is missing' % key)
            continue
        value = manifest[key]
        # bool is an int to Python, not to a manifest.
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ManifestError('"%s" must be %s, not %r' % (
                key, {int: 'an integer', str: 'a string',
                      list: 'a list'}[kind], value))


def check_block_size(block_size):
    if (isinstance(block_size, bool) or not isinstance(block_size, int)
            or block_size < MIN_BLOCK_SIZE or block_size > MAX_BLOCK_SIZE
            or block_size & (block_size - 1)):
        raise ManifestError('block_size %r is not a power of two between '
                            '%d and %d' % (block_size, MIN_BLOCK_SIZE,
                                           MAX_BLOCK_SIZE))


def _is_hash(value):
    return isinstance(value, str) and _HASH.fullmatch(value) is not None


def block_count(size, block_size):
    return -(-size // block_size)


def block_length(manifest, index):
    """Bytes of block ``index``: block_size, but the last may be short."""
    block_size = manifest['block_size']
    return min(block_size, manifest['size'] - index * block_size)


def dumps(manifest):
    """Canonical bytes of ``manifest``: equal manifests, equal bytes."""
    return json.dumps(manifest, sort_keys=True,
                      separators=(',', ':')).encode('utf-8')


def digest(data):
    """sha256 hex of serialized manifest bytes (what agents are given)."""
    return hashlib.sha256(data).hexdigest()


def _read_full(fileobj, size):
    """Up to ``size`` bytes; fewer only at the end (pipes and sockets
    return short reads)."""
    data = fileobj.read(size)
    if not data or len(data) == size:
        return data or b''
    parts = [data]
    got = len(data)
    while got < size:
        more = fileobj.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b''.join(parts)


def iter_blocks(fileobj, block_size):
    """``(index, sha256 hex or None for all zeros, data)`` for each block
    of ``fileobj`` read from its current position to its end."""
    # Comparing with a ready zero buffer is a memcmp: far cheaper than
    # hashing, and most of a fresh image is zeros.
    zero = bytes(block_size)
    index = 0
    while True:
        data = _read_full(fileobj, block_size)
        if not data:
            return
        if len(data) == block_size:
            is_zero = data == zero
        else:
            is_zero = data == zero[:len(data)]
        yield (index, None if is_zero else hashlib.sha256(data).hexdigest(),
               data)
        index += 1
        if len(data) < block_size:
            return


def build(fileobj, block_size, store=None):
    """The manifest of the raw image in ``fileobj`` (read once, from its
    current position); ``store(hash, data)`` is called for each non-zero
    block, in order (repeated blocks once per occurrence)."""
    check_block_size(block_size)
    image = hashlib.sha256()
    blocks = []
    size = 0
    for _index, digest_, data in iter_blocks(fileobj, block_size):
        image.update(data)
        size += len(data)
        blocks.append(digest_)
        if digest_ is not None and store is not None:
            store(digest_, data)
    return {'format': FORMAT, 'block_size': block_size, 'size': size,
            'blocks': blocks, 'image_sha256': image.hexdigest()}


def block_relpath(h):
    """Where block ``h`` lives under a block directory or base URL."""
    if not _is_hash(h):
        raise ManifestError('%r is not a sha256 in lower-case hex' % (h,))
    return '%s/%s' % (h[:2], h)


def block_url(base, h):
    return '%s/%s' % (base.rstrip('/'), block_relpath(h))


def blocks_base(manifest, manifest_url):
    """The base URL of the blocks of a manifest fetched from
    ``manifest_url``: its ``blocks_url``, absolute or relative to the
    manifest's own URL (default: ``blocks`` next to it, the layout of
    ``bootflow-image manifest``)."""
    relative = manifest.get('blocks_url') or DEFAULT_BLOCKS_URL
    return urllib.parse.urljoin(manifest_url, relative).rstrip('/')


def is_manifest(head):
    """Whether ``head``, the first bytes of a file (perhaps cut short),
    looks like a block manifest (of any version: loads then says
    whether it is one this code reads)."""
    head = bytes(head).lstrip()
    if head[:1] != b'{':
        return False
    try:
        whole = json.loads(head.decode('utf-8'))
    except ValueError:
        pass    # cut short, most likely
    else:
        return (isinstance(whole, dict)
                and isinstance(whole.get('format'), str)
                and whole['format'].startswith('bootflow-blocks/'))
    return bool(_CANONICAL_HEAD.match(head) or _FORMAT_KEY.search(head))
