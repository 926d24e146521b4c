"""HTTP client from the BootOS agent to the bootflow API.

A ramdisk talks to the API over networks that come up late, through
conductors that restart and nodes the conductor holds locked, so every
call retries transient failures with capped exponential backoff and
jitter (many machines booted at once must not retry in lock-step).
Failures that retrying cannot fix -- bad requests, a refused token --
surface at once as typed errors so the agent can decide what to do.
"""

import json
import logging
import random
import threading
import time
import urllib.parse

import requests

LOG = logging.getLogger(__name__)

API_VERSION = '1.84'
VERSION_HEADER = 'X-OpenStack-Ironic-API-Version'

DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 30.0
DEFAULT_RETRY_TIMEOUT = 300.0
DEFAULT_REQUEST_TIMEOUT = (10.0, 60.0)

_RETRY_STATUSES = frozenset([409]) | frozenset(range(500, 600))


class ClientError(Exception):
    """A call failed; ``status_code`` is None when no response came."""

    def __init__(self, message, status_code=None, faultstring=None):
        super().__init__(message)
        self.status_code = status_code
        self.faultstring = faultstring


class BadRequest(ClientError):
    """400: the server will refuse the same request every time."""


class AuthError(ClientError):
    """401/403: the agent token is missing or wrong; retrying cannot
    fix it and nothing was recorded server-side."""


class NotFound(ClientError):
    """404: no node matches (yet) -- lookup retries it for a while."""


class TransientError(ClientError):
    """Connection errors, timeouts, 409 or 5xx that outlasted retrying;
    the caller may try again later with the same data."""


def faultstring(response):
    """The human-readable reason in an error response.

    Ironic encodes errors twice: ``{"error_message": "<json string>"}``
    whose inner document has ``faultstring``.  Fall back to whatever text
    came so an unexpected proxy page still tells the operator something.
    """
    try:
        body = response.json()
    except ValueError:
        return (response.text or '').strip()[:500] or response.reason
    message = body.get('error_message') if isinstance(body, dict) else None
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError:
            return message
    if isinstance(message, dict) and message.get('faultstring'):
        return str(message['faultstring'])
    return json.dumps(body)[:500]


class Backoff:
    """Delays for successive retries: ``base * 2**n`` capped, with
    "equal jitter" (half fixed, half random) so retries spread out but
    never collapse to zero."""

    def __init__(self, base=DEFAULT_BACKOFF_BASE, cap=DEFAULT_BACKOFF_CAP,
                 rand=random.random):
        self.base = base
        self.cap = cap
        self.rand = rand

    def delay(self, attempt):
        ceiling = min(self.cap, self.base * (2 ** min(attempt, 32)))
        return ceiling / 2 + self.rand() * ceiling / 2


class Client:
    """Calls to the API as the agent makes them.

    ``node_uuid`` and ``token`` are set once the node is identified; the
    token lives only in this object (never on disk, never in a log).
    Requests are serialised with a lock because a command's worker thread
    may ship logs while the main thread polls on the same session.
    """

    def __init__(self, api_url, agent_version='unknown', insecure=False,
                 backoff=None, retry_timeout=DEFAULT_RETRY_TIMEOUT,
                 request_timeout=DEFAULT_REQUEST_TIMEOUT, sleep=time.sleep,
                 clock=time.monotonic, session=None):
        self.api_url = api_url.rstrip('/')
        self.agent_version = agent_version
        self.backoff = backoff or Backoff()
        self.retry_timeout = retry_timeout
        self.request_timeout = request_timeout
        self.node_uuid = None
        self.token = None
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self.session = session or requests.Session()
        self.session.headers[VERSION_HEADER] = API_VERSION
        self.session.headers['Accept'] = 'application/json'
        self.session.headers['User-Agent'] = 'bootos-agent/%s' % agent_version
        if insecure:
            self.session.verify = False

    # -- transport ---------------------------------------------------

    def _url(self, path):
        if '://' in path:
            return path
        return self.api_url + path

    def _send(self, method, url, body, params):
        """One attempt.  Returns the response, or the exception that
        makes the attempt count as transient."""
        try:
            with self._lock:
                return self.session.request(
                    method, url, json=body, params=params,
                    timeout=self.request_timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            return exc

    def request(self, method, path, body=None, params=None,
                retry_not_found_for=0.0):
        """A call with retries; returns the decoded JSON body (or None).

        ``retry_not_found_for`` also retries 404 for that many seconds --
        lookup needs it, as the node may not be in a wait state yet.
        """
        url = self._url(path)
        start = self._clock()
        attempt = 0
        while True:
            result = self._send(method, url, body, params)
            error = self._classify(method, url, result)
            if error is None:
                return _decode(result)
            if isinstance(error, NotFound):
                limit = retry_not_found_for
            elif isinstance(error, TransientError):
                limit = self.retry_timeout
            else:
                raise error
            elapsed = self._clock() - start
            if elapsed >= limit:
                raise error
            delay = min(self.backoff.delay(attempt), max(limit - elapsed, 0))
            LOG.info('%s; retrying in %.1fs', error, delay)
            self._sleep(delay)
            attempt += 1

    @staticmethod
    def _classify(method, url, result):
        """None for success, else the typed error the result means."""
        where = '%s %s' % (method, urllib.parse.urlsplit(url).path)
        if isinstance(result, Exception):
            return TransientError('%s failed: %s: %s'
                                  % (where, type(result).__name__, result))
        status = result.status_code
        if status < 400:
            return None
        reason = faultstring(result)
        message = '%s returned %d: %s' % (where, status, reason)
        if status in _RETRY_STATUSES:
            cls = TransientError
        elif status in (401, 403):
            cls = AuthError
        elif status == 404:
            cls = NotFound
        elif status == 400:
            cls = BadRequest
        else:
            cls = ClientError
        return cls(message, status_code=status, faultstring=reason)

    # -- API calls ---------------------------------------------------

    def lookup(self, addresses, node_uuid=None, timeout=0.0):
        """The node (and agent config) this machine is.

        :param addresses: MACs of the machine's interfaces.
        :param timeout: how long to keep retrying 404.
        :raises NotFound: still no node after ``timeout``.
        """
        params = {}
        if addresses:
            params['addresses'] = ','.join(addresses)
        if node_uuid:
            params['node_uuid'] = node_uuid
        return self.request('GET', '/v1/lookup', params=params,
                            retry_not_found_for=timeout)

    def continue_inspection(self, inventory, notes, node_uuid=None,
                            url=None, developer=False):
        """Hand the inventory over; the answer has the lookup's shape.
        ``developer`` tells the server this BootOS runs in developer mode
        (DEVELOPER=1), so it configures unsupported hardware too."""
        body = {'inventory': inventory,
                'bootos': {'notes': list(notes),
                           'agent_version': self.agent_version,
                           'developer': bool(developer)}}
        params = {'node_uuid': node_uuid} if node_uuid else None
        return self.request('POST', url or '/v1/continue_inspection',
                            body=body, params=params)

    def identify(self, response):
        """Remember who we are from a lookup/continue_inspection answer.

        ``"******"`` means a token was issued before (an earlier run of
        the agent on this boot); the server will not hand it out again.
        """
        node = (response or {}).get('node') or {}
        config = (response or {}).get('config') or {}
        token = config.get('agent_token')
        if not node.get('uuid'):
            raise ClientError('The server identified no node: %r'
                              % sorted(response or {}))
        self.node_uuid = node['uuid']
        if token and token != '******':
            self.token = token
        return node, config

    def poll(self, results=(), events=()):
        """Heartbeat: report results/events, get the next commands."""
        body = {'agent_token': self.token,
                'agent_version': self.agent_version,
                'results': list(results), 'events': list(events)}
        return self.request('POST', '/v1/bootos/%s/poll' % self.node_uuid,
                            body=body) or {}

    def upload_log(self, reason, text):
        """Ship the agent's log so operators can read it after the
        ramdisk (and its memory) is gone."""
        body = {'agent_token': self.token, 'reason': reason, 'log': text}
        self.request('POST', '/v1/bootos/%s/logs' % self.node_uuid,
                     body=body)


def _decode(response):
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ClientError('%s %s returned a body that is not JSON'
                          % (response.request.method, response.url),
                          status_code=response.status_code)
