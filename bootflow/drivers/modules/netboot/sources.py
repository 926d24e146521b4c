"""Boot file sources (kernels, ramdisks, ISOs): which are allowed, and
fetching them into a node's HTTP directory through the master cache.

http(s) URLs are fetched by the conductor; ``file://`` only from the
directories in ``[conductor]file_url_allowed_paths``, so whoever may set a
node's driver_info cannot make the conductor publish its own files.
"""

import os
import threading
from urllib import parse

from oslo_log import log

from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.drivers.modules.netboot import files

LOG = log.getLogger(__name__)
_CACHE = None
_CACHE_LOCK = threading.Lock()


def check(source, what):
    if not isinstance(source, str) or not source:
        raise exception.MissingParameterValue(
            err='%s is required for a network boot' % what)
    if any(c in source for c in '\r\n\0 '):
        raise exception.InvalidParameterValue(
            err='%s is not a valid URL: %r' % (what, source))
    url = parse.urlparse(source)
    if url.scheme in ('http', 'https') and url.netloc:
        return source
    if url.scheme == 'file':
        path = os.path.realpath(parse.unquote(url.path))
        for allowed in CONF.conductor.file_url_allowed_paths:
            allowed = os.path.realpath(allowed)
            if os.path.commonpath([allowed, path]) == allowed:
                return source
        raise exception.InvalidParameterValue(
            err='%s %s is not under any of [conductor]'
                'file_url_allowed_paths (%s)'
                % (what, source,
                   ', '.join(CONF.conductor.file_url_allowed_paths)))
    raise exception.InvalidParameterValue(
        err='%s must be an http://, https:// or file:// URL, not %r'
            % (what, source))


def image_cache():
    """The one master cache of this process, sized by ``[pxe]``."""
    global _CACHE
    with _CACHE_LOCK:
        if _CACHE is None:
            from bootflow.images import cache
            _CACHE = cache.ImageCache(
                CONF.pxe.instance_master_path,
                max_size=CONF.pxe.image_cache_size * 1024 * 1024,
                ttl=CONF.pxe.image_cache_ttl * 60)
        return _CACHE


def clean_image_cache():
    """Evict expired and excess masters; a no-op in a process that has
    not booted anything yet."""
    with _CACHE_LOCK:
        cache = _CACHE
    if cache is not None:
        freed = cache.clean_up()
        if freed:
            LOG.info('Image cache: %d bytes of unused images evicted', freed)


def fetch(node, source, name, checksum=None):
    """Hard-link ``source`` as ``http_root/<node>/<name>``; return the
    URL the node fetches it from."""
    dest = files.http_path(node.uuid, name)
    files.record(node, [os.path.dirname(dest)])
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    image_cache().fetch_image(source, dest, checksum=checksum)
    return files.http_url(node.uuid, name)
