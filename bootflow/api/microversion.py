"""Ironic-style API microversion negotiation.

Clients pick the response shape per request with a header. Ironic accepts
two spellings: the legacy ``X-OpenStack-Ironic-API-Version: 1.N`` and the
API-WG standard ``OpenStack-API-Version: baremetal 1.N``; when both are
sent, the standard one wins (Ironic's documented order, and what
``microversion_parse`` does). With neither, the request is treated as coming
from a pre-microversion client and gets the minimum, so old clients keep
working when the maximum moves.

Every rejection is 406, not 400, including a version string that is not
``X.Y`` at all: that is what Ironic answers, and clients such as
ironicclient/openstacksdk react to 406 by renegotiating the version.

Versions are plain ``(major, minor)`` tuples so callers compare with ``>=``.
The server's real maximum is passed in; ``MAX_VERSION`` is only a default.
"""

import re

from bootflow.common import exception

LEGACY_HEADER = 'X-OpenStack-Ironic-API-Version'
STANDARD_HEADER = 'OpenStack-API-Version'
MIN_HEADER = 'X-OpenStack-Ironic-API-Minimum-Version'
MAX_HEADER = 'X-OpenStack-Ironic-API-Maximum-Version'
SERVICE_TYPE = 'baremetal'
BASE_MAJOR = 1

MIN_VERSION = (1, 1)
MAX_VERSION = (1, 115)

_VERSION_RE = re.compile(r'^([0-9]+)\.([0-9]+)$')


def fmt(version):
    return '%d.%d' % tuple(version)


def _header_key(name):
    # Folds 'X-Foo-Bar', 'x-foo-bar' and WSGI's 'HTTP_X_FOO_BAR' together.
    key = name.upper().replace('-', '_')
    return key[5:] if key.startswith('HTTP_') else key


def get_header(headers, name):
    """Case-insensitive lookup in a dict, webob headers or a WSGI environ.

    A plain dict is case-sensitive and a WSGI environ renames headers, so an
    exact ``headers.get(name)`` would miss what a client really sent.
    """
    value = headers.get(name)
    if value is not None:
        return value
    wanted = _header_key(name)
    for key, val in headers.items():
        if isinstance(key, str) and _header_key(key) == wanted:
            return val
    return None


def _from_standard(value):
    """The baremetal entry of ``OpenStack-API-Version``, or None.

    The header may list several services (``compute 2.1, baremetal 1.50``);
    entries for other services are not ours to judge.
    """
    for entry in value.split(','):
        parts = entry.split()
        if parts and parts[0].lower() == SERVICE_TYPE:
            if len(parts) != 2:
                raise _malformed(STANDARD_HEADER, entry.strip())
            return parts[1]
    return None


def requested_string(headers):
    """Raw version text the client asked for and the header it came in."""
    standard = get_header(headers, STANDARD_HEADER)
    if standard is not None:
        found = _from_standard(standard)
        if found is not None:
            return found, STANDARD_HEADER
    legacy = get_header(headers, LEGACY_HEADER)
    if legacy is not None:
        return legacy, LEGACY_HEADER
    return None, None


def _malformed(header, value):
    return exception.NotAcceptable(
        'Invalid value for %s header: %r. Expected "<major>.<minor>" or '
        '"latest".' % (header, value))


def check(version, min_v=MIN_VERSION, max_v=MAX_VERSION):
    """Raise NotAcceptable unless ``min_v <= version <= max_v``."""
    bounds = {'ver': fmt(version), 'min': fmt(min_v), 'max': fmt(max_v)}
    if version[0] != BASE_MAJOR:
        raise exception.NotAcceptable(
            'Mutually exclusive versions requested. Version %(ver)s '
            'requested but not supported by this service. The supported '
            'version range is: [%(min)s, %(max)s].' % bounds)
    if not min_v <= tuple(version) <= max_v:
        raise exception.NotAcceptable(
            'Version %(ver)s was requested but the minor version is not '
            'supported by this service. The supported version range is: '
            '[%(min)s, %(max)s].' % bounds)


def parse(headers, min_v=MIN_VERSION, max_v=MAX_VERSION):
    """Negotiated ``(major, minor)`` for a request's headers.

    ``headers`` is any mapping with ``.get`` and ``.items``: a dict, webob
    ``request.headers`` or a WSGI environ (see ``get_header``).
    """
    raw, header = requested_string(headers)
    if raw is None:
        return tuple(min_v)
    text = raw.strip()
    if text.lower() == 'latest':
        return tuple(max_v)
    match = _VERSION_RE.match(text)
    if not match:
        raise _malformed(header, raw)
    version = (int(match.group(1)), int(match.group(2)))
    check(version, min_v, max_v)
    return version


def response_headers(requested=None, min_v=MIN_VERSION, max_v=MAX_VERSION):
    """Headers every v1 response carries; error responses included.

    The range goes out even on 406 so a client can pick a version it can
    use; the chosen version only when one was negotiated.
    """
    headers = {
        MIN_HEADER: fmt(min_v),
        MAX_HEADER: fmt(max_v),
        # Caches must key on the version: one URL, several response shapes.
        'Vary': '%s, %s' % (LEGACY_HEADER, STANDARD_HEADER),
    }
    if requested is not None:
        headers[LEGACY_HEADER] = fmt(requested)
        headers[STANDARD_HEADER] = '%s %s' % (SERVICE_TYPE, fmt(requested))
    return headers


def allows(requested, introduced):
    """Whether a feature added in ``introduced`` is visible to ``requested``.

    Spelled out because call sites read better as ``allows(v, (1, 52))``
    than as a bare tuple comparison.
    """
    return tuple(requested) >= tuple(introduced)
