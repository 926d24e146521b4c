"""Images kept by the image service (Glance): an image_source that is an
image UUID, or ``glance://UUID``.

The conductor reads what Glance says of the image (GET
/v2/images/{id}) instead of instance_info: the hash Glance computed at
upload is what the bytes must match (``os_hash_algo``/``os_hash_value``,
or the md5 ``checksum`` only where md5 is allowed), its disk_format is
the declared format, and it must be ``active``. The bytes are then
fetched through the same ``[glance]`` keystoneauth1 adapter
(GET /v2/images/{id}/file, streamed) into the deploy image cache, which
checks the hash, so agents get a Glance image exactly as an http one.

Access: the conductor calls Glance with its own credentials, which may
see more images than the node's users. So, as Ironic does for requests
without a user token, an image that is neither public nor community must
belong to the node's owner or lessee project (or, when shared, have one
of them as an accepted member). A node with neither owner nor lessee is
an operator's node: whatever the service credentials see is allowed.
"""

from oslo_log import log
from oslo_utils import uuidutils

from bootflow.common import exception
from bootflow.common import keystone
from bootflow.images import cache
from bootflow.images import download
from bootflow.images import source as image_source

LOG = log.getLogger(__name__)

GROUP = 'glance'
PREFIX = 'glance://'
DISK_FORMATS = ('raw', 'qcow2')
OPEN_VISIBILITY = ('public', 'community')
MIB = 1024 * 1024


def is_glance_ref(value):
    """Whether ``value`` names a Glance image rather than a URL."""
    if not isinstance(value, str):
        return False
    value = value.strip()
    return value.startswith(PREFIX) or uuidutils.is_uuid_like(value)


def image_id(ref):
    """The image UUID of ``ref`` (a UUID or ``glance://UUID``)."""
    value = ref.strip()
    if value.startswith(PREFIX):
        value = value[len(PREFIX):].strip('/')
    if not uuidutils.is_uuid_like(value):
        raise exception.ImageRefValidationFailed(
            image_href=ref, reason='glance:// must be followed by an '
            'image UUID')
    return value.lower()


def canonical(ref):
    """The one spelling of ``ref`` the caches key on."""
    return PREFIX + image_id(ref)


def check_configured(ref):
    """Validation: a Glance image_source is usable only with ``[glance]``
    set up; refused (400) otherwise, without calling anything."""
    image_id(ref)
    if not keystone.is_configured(GROUP):
        raise keystone.not_configured(
            GROUP, 'image_source %s (an image service UUID)' % ref)


def resolve(ref, node, allow_md5, max_bytes):
    """``{'source', 'checksum', 'disk_format', 'size'}`` of the Glance
    image ``ref`` that ``node`` may deploy, from Glance's metadata."""
    check_configured(ref)
    ident = image_id(ref)
    meta = _get_json('/v2/images/%s' % ident, ref)
    if meta.get('status') != 'active':
        raise exception.ImageUnacceptable(
            image=ref, reason='its status in the image service is %r, '
            'not active' % meta.get('status'))
    _check_access(ref, ident, meta, node)
    fmt = meta.get('disk_format')
    if fmt not in DISK_FORMATS:
        raise exception.ImageUnacceptable(
            image=ref, reason='its disk_format is %r; only %s images can '
            'be deployed' % (fmt, ' and '.join(DISK_FORMATS)))
    size = meta.get('size')
    if isinstance(size, int) and max_bytes and size > max_bytes:
        raise exception.ImageUnacceptable(
            image=ref, reason='it is %s, more than [deploy]'
            'max_image_size_mb (%s)' % (download.human_size(size),
                                        download.human_size(max_bytes)))
    return {'source': PREFIX + ident,
            'checksum': _checksum(ref, meta, allow_md5),
            'disk_format': fmt,
            'size': size if isinstance(size, int) else None}


def _checksum(ref, meta, allow_md5):
    """Glance's multihash if it is one we accept, else its md5 where md5
    is allowed; never a weaker hash than the policy's."""
    algo = (meta.get('os_hash_algo') or '').lower()
    value = meta.get('os_hash_value')
    if algo in image_source.ACCEPTED and value:
        return _parsed(ref, '%s:%s' % (algo, value))
    md5 = meta.get('checksum')
    if md5 and allow_md5:
        return _parsed(ref, 'md5:%s' % md5)
    raise exception.ImageUnacceptable(
        image=ref, reason='the image service gives no sha256 or sha512 '
        'hash of it (os_hash_algo %r)%s' % (
            algo or None, ', and md5 is refused ([agent]'
            'allow_md5_checksum is off)' if md5 else ''))


def _parsed(ref, text):
    try:
        return '%s:%s' % cache.parse_checksum(text)
    except exception.InvalidParameterValue as exc:
        raise exception.ImageUnacceptable(
            image=ref, reason='the image service gives an invalid hash: '
            '%s' % exc) from exc


def _check_access(ref, ident, meta, node):
    projects = [p for p in (node.owner, node.lessee) if p]
    if meta.get('visibility') in OPEN_VISIBILITY or not projects:
        return
    if meta.get('owner') in projects:
        return
    if meta.get('visibility') == 'shared' and any(
            _accepted_member(ident, p) for p in projects):
        return
    LOG.info('Node %s (owner %s, lessee %s) may not deploy image %s '
             '(%s, owner %s)', node.uuid, node.owner, node.lessee, ident,
             meta.get('visibility'), meta.get('owner'))
    raise exception.ImageRefValidationFailed(
        image_href=ref, reason='the image is %s and belongs neither to the '
        "node's owner nor to its lessee" % (meta.get('visibility')
                                            or 'private'))


def _accepted_member(ident, project):
    resp = keystone.request(GROUP, 'GET', '/v2/images/%s/members/%s'
                            % (ident, project))
    if resp.status_code != 200:
        return False
    try:
        return resp.json().get('status') == 'accepted'
    except ValueError:
        return False


def _get_json(path, ref):
    resp = keystone.request(GROUP, 'GET', path)
    if resp.status_code == 404:
        raise exception.ImageRefValidationFailed(
            image_href=ref, reason='no such image in the image service')
    if resp.status_code in (401, 403):
        raise exception.ImageRefValidationFailed(
            image_href=ref, reason='the image service refuses access to '
            'it (HTTP %d)' % resp.status_code)
    if resp.status_code != 200:
        raise exception.ImageDownloadFailed(
            image_href=ref, reason='the image service answered HTTP %d to '
            'GET %s' % (resp.status_code, path))
    try:
        body = resp.json()
    except ValueError as exc:
        raise exception.ImageDownloadFailed(
            image_href=ref, reason='the image service sent no JSON for '
            'GET %s' % path) from exc
    if not isinstance(body, dict):
        raise exception.ImageDownloadFailed(
            image_href=ref, reason='unexpected answer to GET %s' % path)
    return body


def fetch(ref, dest, read_timeout, max_bytes, deadline):
    """Stream the image's bytes to ``dest`` through the adapter (the
    cache verifies them afterwards)."""
    ident = image_id(ref)
    resp = keystone.request(GROUP, 'GET', '/v2/images/%s/file' % ident,
                            stream=True, timeout=read_timeout)
    with resp:
        if resp.status_code == 204:
            raise exception.ImageDownloadFailed(
                image_href=ref, reason='the image service has no data for '
                'it (HTTP 204)')
        download.save_response(ref, resp, dest, max_bytes=max_bytes,
                               deadline=deadline)
