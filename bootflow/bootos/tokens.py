"""Agent tokens: the proof that a ramdisk call comes from the agent the
conductor booted, not from anything else on the provisioning network.

The token is handed out once, to the first lookup (or inspection upload)
after the node booted its ramdisk; later lookups get ``******``, so a
second machine claiming the node's MACs learns nothing. Only a SHA-256
digest is stored: the database and the API never hold the token itself.
It is wiped whenever the node is powered off or rebooted, since the agent
that held it is gone.
"""

import hashlib
import hmac
import secrets

from bootflow.common import exception

KEY = 'agent_secret_token'
MASK = '******'


def _digest(token):
    return 'sha256:' + hashlib.sha256(token.encode()).hexdigest()


def issue(info):
    """A new token for ``info`` (a node's driver_internal_info, updated in
    place), or ``MASK`` when one was already issued."""
    if info.get(KEY):
        return MASK
    token = secrets.token_urlsafe(32)
    info[KEY] = _digest(token)
    return token


def has_token(info):
    return bool((info or {}).get(KEY))


def check(info, presented):
    """401 without a token, 403 with the wrong one (or when the node was
    never issued one: nothing may speak for it)."""
    if not presented:
        raise exception.AgentTokenRequired()
    stored = (info or {}).get(KEY)
    if not isinstance(presented, str) or not stored or not hmac.compare_digest(
            stored, _digest(presented)):
        raise exception.AgentTokenInvalid()


def wipe(info):
    """Forget the token and the agent's address (``info`` in place)."""
    for key in (KEY, 'agent_url'):
        info.pop(key, None)


def masked(info):
    """``info`` as the API shows it."""
    if not info or KEY not in info:
        return info
    return dict(info, **{KEY: MASK})
