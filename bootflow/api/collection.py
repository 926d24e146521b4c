"""Links, pagination and value formatting shared by the controllers."""

import datetime
import re
import urllib.parse

from oslo_utils import strutils

from bootflow.api import versions
from bootflow.common import exception
from bootflow.conf import CONF


def base_url(req):
    return (CONF.api.public_endpoint or req.host_url).rstrip('/')


def links(base, resource, ident, suffix=''):
    path = f'{resource}/{ident}{suffix}'
    return [{'href': f'{base}/v1/{path}', 'rel': 'self'},
            {'href': f'{base}/{path}', 'rel': 'bookmark'}]


def isotime(value):
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.isoformat()


def parse_bool(name, value):
    if value is None:
        return None
    lowered = str(value).strip().lower()
    if lowered in ('true', '1', 'yes', 'y', 'on', 't'):
        return True
    if lowered in ('false', '0', 'no', 'n', 'off', 'f'):
        return False
    raise exception.InvalidParameterValue(
        err='Invalid value for %s: %s. Expected a boolean.' % (name, value))


def parse_limit(req):
    value = req.GET.get('limit')
    max_limit = CONF.api.max_limit
    if value is None or value == '':
        return max_limit
    try:
        limit = int(value)
    except ValueError:
        raise exception.InvalidParameterValue(
            err='Invalid value for limit: %s' % value)
    if limit < 0:
        raise exception.InvalidParameterValue(
            err='Limit must be positive')
    return min(limit, max_limit) if limit else max_limit


def parse_sort(req, allowed):
    sort_key = req.GET.get('sort_key', 'id')
    sort_dir = req.GET.get('sort_dir', 'asc')
    if sort_dir not in ('asc', 'desc'):
        raise exception.InvalidParameterValue(
            err="Invalid sort direction: %s. Acceptable values are 'asc' or "
                "'desc'" % sort_dir)
    if sort_key != 'id' and sort_key not in allowed:
        raise exception.InvalidParameterValue(
            err='The sort_key value "%s" is an invalid field for sorting'
                % sort_key)
    return sort_key, sort_dir


def parse_fields(req, allowed):
    """``?fields=a,b`` as a list, checked against what the version shows."""
    value = req.GET.get('fields')
    if value is None:
        return None
    if not req.allows(8):
        raise exception.FieldNotAcceptable('fields requires API version 1.8')
    fields = [f.strip() for f in value.split(',') if f.strip()]
    for field in fields:
        if field not in allowed:
            raise exception.InvalidParameterValue(
                err='Field %s is not a valid field.' % field)
    return fields


def next_link(req, resource, items, limit, marker_key='uuid', extra=None):
    """The ``next`` URL when the page is full, keeping the request's own
    query (filters, sort, fields) and moving the marker."""
    if not items or len(items) < limit:
        return None
    query = [(k, v) for k, v in req.GET.items()
             if k not in ('marker', 'limit')]
    query.extend((extra or {}).items())
    query.append(('limit', str(limit)))
    query.append(('marker', items[-1][marker_key]))
    return '%s/v1/%s?%s' % (base_url(req), resource,
                            urllib.parse.urlencode(query, safe=','))


def select_fields(req, table, unselectable=(),
                  invalid='Field %s is not a valid field.'):
    """``?fields=a,b`` checked against a ``(name, minor)`` version table.

    A field younger than the request's version is refused with 406, as
    Ironic refuses it, before unknown names are refused with 400 (the
    message names them through ``invalid``). None when not asked.
    """
    value = req.GET.get('fields')
    if value is None:
        return None
    if not req.allows(versions.SWITCHES['FIELDS_SELECTOR']):
        raise exception.FieldNotAcceptable()
    fields = [f.strip() for f in value.split(',') if f.strip()]
    since = dict(table)
    if any(f in since and not req.allows(since[f]) for f in fields):
        raise exception.FieldNotAcceptable()
    bad = [f for f in fields if f not in since or f in unselectable]
    if bad:
        raise exception.InvalidParameterValue(err=invalid % ', '.join(bad))
    return fields


MAC_RE = re.compile(r'^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$')


def normalize_mac(address, field='address'):
    """MACs are stored lower-case with colons, whatever the client sent,
    so uniqueness and look-ups do not depend on spelling."""
    if not isinstance(address, str) or not MAC_RE.match(address):
        raise exception.InvalidParameterValue(
            err='Expected valid MAC address for %s: %s' % (field, address))
    return address.lower().replace('-', ':')


def versioned_sort(req, field_version, unsortable, sortable):
    """``sort_key``/``sort_dir`` for a resource whose fields have versions:
    a key newer than the request is 406, a key that is not a column 400."""
    key = req.GET.get('sort_key', 'id')
    since = field_version.get(key)
    if since is not None and not req.allows(since):
        raise exception.FieldNotAcceptable()
    if key in unsortable:
        raise exception.InvalidParameterValue(
            err='The sort_key value %s is an invalid field for sorting'
                % key)
    return parse_sort(req, sortable)


def parse_strict_bool(name, value):
    """A query flag the way Ironic reads one: anything but the usual
    spellings of true and false is a 400 naming the parameter.
    Booleans already decoded from a JSON body pass through."""
    if value is None or isinstance(value, bool):
        return value

    """A query flag the way Ironic reads one: anything but the usual
    spellings of true and false is a 400 naming the parameter."""
    if value is None:
        return None
    try:
        return strutils.bool_from_string(value, strict=True)
    except ValueError as e:
        raise exception.InvalidParameterValue(
            err='Invalid %s: %s' % (name, e))
