"""Where per-node boot files live, and writing/removing them safely.

Every path is built from fixed names plus validated parts (node UUID,
normalised MAC), then checked to stay under its root, so nothing a user
sets on a node can point a write or a removal elsewhere. Files are
written to a temporary name and renamed, so a booting node (or the HTTP
server) never reads half a config. The paths written for a node are
recorded on it, so clean-up removes exactly those — also after its ports
changed.
"""

import os
import re
import shutil

from bootflow.common import exception
from bootflow.conf import CONF

PART_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]*$')
RECORD_KEY = 'netboot_files'


def safe_join(root, *parts):
    for part in parts:
        if not isinstance(part, str) or not PART_RE.match(part) \
                or '..' in part:
            raise exception.InvalidParameterValue(
                err='Invalid path component for a boot file: %r' % (part,))
    root = os.path.realpath(root)
    path = os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([root, path]) != root or path == root:
        raise exception.InvalidParameterValue(
            err='Boot file path %s escapes %s' % (path, root))
    return path


def http_path(*parts):
    return safe_join(CONF.deploy.http_root, *parts)


def tftp_path(*parts):
    return safe_join(CONF.pxe.tftp_root, *parts)


def node_dir(node):
    return http_path(node.uuid)


def http_url(*parts):
    """URL of ``http_root/<parts>`` as nodes see it."""
    base = CONF.deploy.http_url or 'http://%s:%d' % (
        CONF.my_ip, CONF.deploy.http_server_port)
    return '/'.join([base.rstrip('/')] + list(parts))


def api_url():
    return (CONF.conductor.api_url or
            'http://%s:%d' % (CONF.my_ip, CONF.api.port)).rstrip('/')


def _roots():
    return [os.path.realpath(CONF.deploy.http_root),
            os.path.realpath(CONF.pxe.tftp_root)]


def _inside_roots(path):
    real = os.path.realpath(path)
    return any(os.path.commonpath([root, real]) == root and real != root
               for root in _roots())


def record(node, paths):
    """Remember ``paths`` as written for ``node`` (kept across calls until
    :func:`remove_recorded`)."""
    info = dict(node.driver_internal_info or {})
    known = list(info.get(RECORD_KEY) or [])
    known.extend(p for p in paths if p not in known)
    info[RECORD_KEY] = known
    node.driver_internal_info = info


def remove_recorded(node, keep=()):
    """Remove every recorded file and directory except ``keep``; paths
    outside the roots are never touched, whatever the record says."""
    info = dict(node.driver_internal_info or {})
    kept = []
    for path in info.get(RECORD_KEY) or []:
        if path in keep:
            kept.append(path)
            continue
        if not _inside_roots(path):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    if kept:
        info[RECORD_KEY] = kept
    else:
        info.pop(RECORD_KEY, None)
    node.driver_internal_info = info
