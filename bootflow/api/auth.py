"""``auth_strategy = http_basic``: users from an Apache htpasswd file.

bcrypt is slow on purpose (tens of ms per check), so a verified
user/password pair is remembered for a minute, keyed by a hash of both;
the file is re-read when it changes.
"""

import base64
import hashlib
import os
import threading
import time

import bcrypt

from bootflow.common import exception

_CACHE_TTL = 60.0


# What a ramdisk calls; it has no credentials, only its agent token.
RAMDISK_PATHS = ('/v1/heartbeat/', '/v1/lookup', '/v1/continue_inspection',
                 '/v1/bootos/')


class HtpasswdAuth:
    def __init__(self, path):
        self.path = path
        self._users = {}
        self._mtime = None
        self._verified = {}
        self._lock = threading.Lock()

    def _load(self):
        try:
            mtime = os.stat(self.path).st_mtime
        except OSError as e:
            raise exception.BootflowException(
                'Cannot read the htpasswd file %s: %s' % (self.path, e))
        if mtime == self._mtime:
            return
        users = {}
        with open(self.path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith('#') and ':' in line:
                    user, hashed = line.split(':', 1)
                    users[user] = hashed.encode()
        self._users, self._mtime = users, mtime
        self._verified.clear()

    def check(self, user, password):
        key = hashlib.sha256(('%s\0%s' % (user, password)).encode()).digest()
        now = time.monotonic()
        with self._lock:
            self._load()
            if self._verified.get(key, 0) > now:
                return True
            hashed = self._users.get(user)
        if hashed is None or not hashed.startswith((b'$2y$', b'$2b$',
                                                    b'$2a$')):
            return False
        if not bcrypt.checkpw(password.encode(), hashed):
            return False
        with self._lock:
            self._verified[key] = now + _CACHE_TTL
        return True

    def __call__(self, req):
        if req.path_info.rstrip('/') in ('', '/v1', '/openapi.json'):
            return      # version discovery stays open, as in Ironic
        if req.path_info.startswith(RAMDISK_PATHS):
            return      # so does the ramdisk's API (the agent token guards it)
        header = req.headers.get('Authorization', '')
        if not header.startswith('Basic '):
            raise exception.NotAuthenticated()
        try:
            user, password = base64.b64decode(header[6:]).decode().split(
                ':', 1)
        except Exception:
            raise exception.NotAuthenticated(
                'Invalid HTTP basic authorization header')
        if not self.check(user, password):
            raise exception.NotAuthenticated('Incorrect username or password')
        req.context.user_id = user
