"""What every executor shares: the error type, the tool runner and the
per-call context.

Executors never call ``subprocess`` themselves: they go through ``Tools``
so that tests can point the very same code path at fake tools (a directory
of scripts put first on the search path) where no real hardware exists,
and so that secrets (BMC passwords) are masked in every message and log.
"""

import dataclasses
import logging
import os
import shutil
import subprocess
import time
import typing

LOG = logging.getLogger(__name__)

# Ramdisks often start the agent with a minimal PATH; the tools we need
# live in the sbin directories.
SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
MASK = '******'


class ConfigError(Exception):
    """Applying (or planning) a section failed; the message says what and,
    for a tool, how it exited and what it printed on stderr."""

    def __init__(self, message, stderr=None):
        super().__init__(message)
        self.stderr = stderr


class Tools:
    """Runs the machine's command-line tools.

    ``path`` is the search path for tools (default: $PATH plus the sbin
    directories). ``run`` raises ConfigError when a tool is missing or
    fails; ``call`` returns (rc, stdout, stderr) for probes where failing
    is an answer ("no partition table yet").
    """

    def __init__(self, path=None, timeout=600):
        if path is None:
            path = ':'.join(p for p in (os.environ.get('PATH'), SYSTEM_PATH)
                            if p)
        self.path = path
        self.timeout = timeout

    def which(self, tool):
        return shutil.which(tool, path=self.path)

    def _env(self):
        env = dict(os.environ, PATH=self.path, LC_ALL='C', LANG='C')
        env.pop('LANGUAGE', None)
        return env

    def call(self, argv, input=None, secrets=(), timeout=None):
        exe = self.which(argv[0])
        shown = _mask(' '.join(argv), secrets)
        if exe is None:
            raise ConfigError('%s: tool not found (searched %s)'
                              % (argv[0], self.path))
        LOG.debug('running %s', shown)
        try:
            proc = subprocess.run(
                [exe] + list(argv[1:]), input=input, capture_output=True,
                text=True, env=self._env(), timeout=timeout or self.timeout,
                stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ConfigError('%s: timed out after %ss'
                              % (shown, timeout or self.timeout)) from None
        except OSError as exc:
            raise ConfigError('%s: cannot run: %s'
                              % (shown, exc.strerror)) from None
        return (proc.returncode, proc.stdout,
                _mask(proc.stderr, secrets))

    def run(self, argv, input=None, secrets=(), timeout=None):
        """stdout of a tool that must succeed."""
        rc, out, err = self.call(argv, input=input, secrets=secrets,
                                 timeout=timeout)
        if rc != 0:
            detail = (err.strip() or _mask(out, secrets).strip()
                      or 'no output')
            raise ConfigError('%s failed (exit %d): %s'
                              % (_mask(' '.join(argv), secrets), rc,
                                 detail), stderr=err)
        return out


def _mask(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


@dataclasses.dataclass
class Context:
    """One apply() call: where the executor is and what it may do."""
    inventory: typing.Optional[dict]
    dry_run: bool
    developer: bool
    tools: Tools

    def result(self, section, changes, skipped=None):
        """The shape every executor returns (see config.apply)."""
        return {'section': section,
                'changes': [] if skipped else list(changes),
                'applied': not self.dry_run and not skipped,
                'skipped': skipped}

    def unsupported(self, section, reason):
        """User mode leaves hardware we cannot drive alone (skipped);
        developer mode was asked to try anyway, and cannot, so fails."""
        if self.developer:
            raise ConfigError(reason)
        LOG.info('%s: skipped: %s', section, reason)
        return self.result(section, [], skipped=reason)


def wait_for(predicate, timeout, interval=0.05):
    """Poll until predicate() is true; the result of the last poll."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def inventory_disks(inventory):
    """Inventory disks with their names as /dev paths (Ironic gives
    "/dev/sda"; a bare "sda" from another collector is accepted too)."""
    disks = []
    for disk in (inventory or {}).get('disks') or []:
        disk = dict(disk)
        name = disk.get('name') or ''
        if name and not name.startswith('/'):
            disk['name'] = '/dev/' + name
        disks.append(disk)
    return disks


def plugins(group):
    """Instances of the classes a vendor package declares under an entry
    point group; one that fails to load is logged and ignored, since a
    broken plugin must not stop the generic executors."""
    from importlib import metadata
    found = []
    for entry in metadata.entry_points(group=group):
        try:
            found.append(entry.load()())
        except Exception:   # noqa: BLE001 - any plugin failure
            LOG.exception('cannot load %s plugin %s', group, entry.name)
    return found
