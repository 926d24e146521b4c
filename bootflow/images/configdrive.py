"""Config drives: what cloud-init (or Glean) reads on the deployed node.

Ironic takes a node's config drive in three forms, and so do we: a dict
(meta_data, user_data, network_data, vendor_data) that the conductor
builds into an ISO 9660 volume labelled ``config-2``; a URL the agent
downloads; or a ready image as base64 of its gzip. The agent always gets
``{'data': <base64 of gzip of an ISO>}`` or ``{'url': ...}``, so it never
builds anything, and every malformed value is refused here, before the
node is touched.
"""

import base64
import binascii
import gzip
import io
import json
import zlib

import pycdlib

from bootflow.common import exception
from bootflow.images import download
from bootflow.images import source

LABEL = 'config-2'
MAX_BYTES = 64 * 1024 * 1024
# Where the ISO 9660 primary volume descriptor says "CD001".
ISO_MAGIC_OFFSET = 0x8001
ISO_MAGIC = b'CD001'
KEYS = ('meta_data', 'user_data', 'network_data', 'vendor_data')
# cloud-init reads openstack/latest first; the oldest dated version is
# what older readers (and Glean) fall back to.
VERSIONS = ('latest', '2012-08-10')
_FILES = (('meta_data', 'meta_data.json'), ('user_data', 'user_data'),
          ('network_data', 'network_data.json'),
          ('vendor_data', 'vendor_data.json'))


def _invalid(why):
    return exception.InvalidParameterValue(err='Invalid config drive: %s'
                                           % why)


def _documents(contents):
    """``{file name: bytes}`` of a dict-form config drive, checked."""
    unknown = sorted(set(contents) - set(KEYS))
    if unknown:
        raise _invalid('unknown keys %s (expected some of %s)'
                       % (', '.join(map(str, unknown)), ', '.join(KEYS)))
    docs = {}
    for key, name in _FILES:
        value = contents.get(key)
        if value is None:
            if key == 'meta_data':
                value = {}
            else:
                continue
        if key == 'user_data' and isinstance(value, (str, bytes)):
            data = value.encode('utf-8') if isinstance(value, str) \
                else value
        elif key == 'user_data' and isinstance(value, (dict, list)):
            data = json.dumps(value).encode('utf-8')
        elif isinstance(value, dict):
            data = json.dumps(value, sort_keys=True).encode('utf-8')
        else:
            raise _invalid('%s must be a %s, not %s' % (
                key, 'string, object or list' if key == 'user_data'
                else 'JSON object', type(value).__name__))
        docs[name] = data
    if sum(len(d) for d in docs.values()) * len(VERSIONS) > MAX_BYTES:
        raise _invalid('its contents exceed %s'
                       % download.human_size(MAX_BYTES))
    return docs


def _iso_name(name):
    """An ISO 9660 level-3 identifier for ``name``: upper case, d-chars,
    with the ';1' version for files. Rock Ridge and Joliet carry the real
    name; this one is only for readers that know neither."""
    base, dot, ext = name.partition('.')
    clean = ''.join(c if c.isalnum() else '_' for c in base.upper())
    return clean + '.' + ext.upper() + ';1'


def _dir_name(name):
    return ''.join(c if c.isalnum() else '_' for c in name.upper())


def build_iso(contents):
    """The config drive ``contents`` (Ironic's dict form) as ISO bytes:
    volume label config-2, Joliet and Rock Ridge, files under
    openstack/latest and openstack/2012-08-10."""
    if not isinstance(contents, dict):
        raise _invalid('expected an object, got %s' % type(contents).__name__)
    docs = _documents(contents)
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge='1.09',
            vol_ident=LABEL)
    try:
        iso.add_directory('/OPENSTACK', rr_name='openstack',
                          joliet_path='/openstack')
        for version in VERSIONS:
            iso_dir = '/OPENSTACK/' + _dir_name(version)
            iso.add_directory(iso_dir, rr_name=version,
                              joliet_path='/openstack/' + version)
            for name, data in sorted(docs.items()):
                iso.add_fp(io.BytesIO(data), len(data),
                           iso_dir + '/' + _iso_name(name), rr_name=name,
                           joliet_path='/openstack/%s/%s' % (version, name))
        out = io.BytesIO()
        iso.write_fp(out)
    finally:
        iso.close()
    return out.getvalue()


def _decode(value):
    """``(gzipped, ISO bytes)`` of a base64 config drive, checked."""
    if len(value) > MAX_BYTES * 4 // 3 + 4:
        raise _invalid('larger than %s' % download.human_size(MAX_BYTES))
    try:
        raw = base64.b64decode(value.strip(), validate=False)
    except (binascii.Error, ValueError):
        raise _invalid('not a URL and not base64 (expected the base64 of '
                       'a gzipped ISO 9660 image)')
    gzipped = raw[:2] == b'\x1f\x8b'
    if gzipped:
        dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            image = dec.decompress(raw, MAX_BYTES + 1)
        except zlib.error as exc:
            raise _invalid('corrupt gzip data (%s)' % exc)
        if len(image) > MAX_BYTES or dec.unconsumed_tail:
            raise _invalid('larger than %s once decompressed'
                           % download.human_size(MAX_BYTES))
    else:
        image = raw
    if image[ISO_MAGIC_OFFSET:ISO_MAGIC_OFFSET + 5] != ISO_MAGIC:
        raise _invalid('the decoded data is not an ISO 9660 image (no '
                       'CD001 signature at offset 0x8001); give a dict, a '
                       'URL or the base64 of a gzipped ISO 9660 image')
    return gzipped, image


def check(value):
    """Refuse a malformed config drive (InvalidParameterValue), without
    building it."""
    if value is None or value == '':
        return
    if isinstance(value, dict):
        _documents(value)
    elif isinstance(value, str):
        if not source.is_http_url(value):
            _decode(value)
    else:
        raise _invalid('expected an object, a URL or a base64 string, '
                       'not %s' % type(value).__name__)


def _gzip_b64(image):
    return base64.b64encode(gzip.compress(image, mtime=0)).decode('ascii')


def to_agent(value):
    """The ``configdrive`` parameter of the agent's ``image.write``, or
    None for no config drive."""
    if value is None or value == '':
        return None
    if isinstance(value, dict):
        return {'data': _gzip_b64(build_iso(value))}
    if isinstance(value, str):
        if source.is_http_url(value):
            return {'url': value.strip()}
        gzipped, image = _decode(value)
        if not gzipped:         # a plain ISO: the agent wants it gzipped
            return {'data': _gzip_b64(image)}
        return {'data': value.strip()}
    raise _invalid('expected an object, a URL or a base64 string, not %s'
                   % type(value).__name__)
