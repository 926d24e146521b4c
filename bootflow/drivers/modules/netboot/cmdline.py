"""Kernel command lines built from structured parameters.

A command line ends up inside a pxelinux config, an iPXE script or a
grub.cfg, each with its own control characters (iPXE's ``${}``, ``||`` and
``&&``, GRUB's ``;``, ``$`` and quotes, any newline everywhere). Rather than
escape for three languages, only a conservative alphabet is accepted in
each token: what kernel parameters and plain URLs need, nothing a config
language could read as syntax. Anything else is refused with a 400.
"""

import re

from bootflow.common import exception

# Characters a token may hold. No whitespace, quotes, '#', '$', ';', '&',
# '|', '<', '>', '{', '}', '\\', '`' or control characters.
TOKEN_RE = re.compile(r'^[A-Za-z0-9_.:/@%+=,~?!\[\]-]+$')
KEY_RE = re.compile(r'^[A-Za-z0-9_./-]+$')
URL_RE = re.compile(r'^https?://[A-Za-z0-9_.:/@%+=,~?!\[\]-]+$')


def check_token(token, what):
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise exception.InvalidParameterValue(
            err='%s contains characters not allowed on a kernel command '
                'line (allowed: letters, digits and _.:/@%%+=,~?![]-): %r'
                % (what, token))
    return token


def check_url(url, what):
    """An http(s) URL safe to embed in any boot config."""
    if not isinstance(url, str) or not URL_RE.match(url):
        raise exception.InvalidParameterValue(
            err='%s must be an http:// or https:// URL made of letters, '
                'digits and _.:/@%%+=,~?![]- only: %r' % (what, url))
    return url


def split_append(value, what='kernel_append_params'):
    """Operator- or user-supplied extra parameters, token by token."""
    if value is None:
        return []
    if not isinstance(value, str):
        raise exception.InvalidParameterValue(
            err='%s must be a string, not %r' % (what, value))
    if any(c in value for c in '\r\n\t\v\f\0'):
        raise exception.InvalidParameterValue(
            err='%s must be one line of space-separated parameters' % what)
    return [check_token(t, what) for t in value.split(' ') if t]


def mac_hyphens(mac):
    """``52:54:00:aa:bb:cc`` → ``52-54-00-aa-bb-cc``, as pxelinux, iPXE's
    ``${mac:hexhyp}`` and GRUB spell per-MAC file names."""
    return mac.lower().replace(':', '-')


def build(params, append=()):
    """``params``: ordered ``(key, value)`` pairs; a value of None drops
    the pair and True makes a bare flag. ``append`` tokens go last, so
    an operator's extra parameters can override ours (the kernel keeps
    the last of a repeated parameter)."""
    tokens = []
    for key, value in params:
        if value is None or value is False:
            continue
        if not KEY_RE.match(key):
            raise exception.InvalidParameterValue(
                err='Invalid kernel parameter name %r' % key)
        if value is True:
            tokens.append(key)
        else:
            tokens.append(check_token('%s=%s' % (key, value),
                                      'kernel parameter %s' % key))
    tokens.extend(check_token(t, 'kernel parameter') for t in append)
    return ' '.join(tokens)


def ramdisk_params(node_uuid, api_url, mac=None, developer=False,
                   pre_url=None, post_url=None, pre_checksum=None,
                   post_checksum=None, extra=()):
    """What BootOS (and Ironic's agent) read from the command line: who
    to call back, which NIC booted, which node this is, the mode, the
    PRE/POST scripts to run with their checksums, and ``extra`` pairs of
    the operation (the inspection callback URL)."""
    api_url = check_url(api_url, 'The callback URL')
    return [
        ('SERVER_ADDR', api_url),
        ('ipa-api-url', api_url),
        ('BOOTIF', '01-%s' % mac_hyphens(mac) if mac else None),
        ('bootflow_node', node_uuid),
        ('DEVELOPER', '1' if developer else None),
        ('PRE', check_url(pre_url, 'PRE script URL') if pre_url else None),
        ('PRE_CHECKSUM', pre_checksum or None),
        ('POST', check_url(post_url, 'POST script URL')
         if post_url else None),
        ('POST_CHECKSUM', post_checksum or None),
    ] + list(extra)
