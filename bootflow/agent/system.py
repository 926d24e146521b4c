"""The machine the agent describes: its files and its commands.

Every collector goes through a :class:`System` instead of touching ``/``
directly, so the same code runs on the live ramdisk (``root='/'``) and on a
fixture tree captured from (or written after) a real machine.  That is what
lets the inventory be tested byte for byte without the hardware.

Paths are always given relative to the root (``'sys/block'``, a leading
``/`` is accepted and ignored).  Symlinks are resolved *inside* the root:
an absolute link target is re-anchored at the root and ``..`` never climbs
above it, the way a chroot would see the tree.  sysfs is made of relative
links (``sys/class/net/eth0 -> ../../devices/pci0000:00/.../net/eth0``), so
a fixture tree keeps the real links and they resolve the same way.

Commands
--------
With ``root='/'`` a command really runs (found with :func:`shutil.which`,
``LC_ALL=C``, a timeout).  With any other root the answer comes from files
under ``<root>/commands/``; the file name is the argv, each element escaped
and the elements joined with ``_`` (see :func:`command_filename`)::

    ['ipmitool', 'lan', 'print']   -> commands/ipmitool_lan_print
    ['dmidecode', '-t', 'memory']  -> commands/dmidecode_-t_memory
    ['ip', '-o', 'addr', 'show']   -> commands/ip_-o_addr_show

In an element, ``%``, ``_``, ``/`` and whitespace are percent-encoded
(``%25``, ``%5F``, ``%2F``, ``%20``...), so the mapping is reversible.

* ``commands/<name>``         the command's stdout (exit status 0);
* ``commands/<name>.rc``      optional exit status (e.g. ``1``): the tool is
  there but failed, like ipmitool without a BMC device;
* ``commands/<name>.stderr``  optional stderr, shown in notes.

The tool counts as installed when any file in ``commands/`` starts with
``<tool>_`` or is named ``<tool>``; otherwise it is absent, exactly as
``shutil.which`` returning None on the live system.
"""

import collections
import os
import shutil
import subprocess

COMMANDS_DIR = 'commands'
DEFAULT_TIMEOUT = 30
_MAX_LINKS = 40
_ESCAPED = '%_/ \t\n'

Result = collections.namedtuple('Result', 'found rc stdout stderr')
"""Outcome of a command: ``found`` False means the tool is not installed;
``rc`` None with ``found`` True means it did not finish (timeout, exec
error), the reason being in ``stderr``."""


def command_filename(argv):
    """Map an argv to its answer file name under ``commands/``.

    A flat, readable name keeps fixture trees easy to review and edit by
    hand; escaping keeps it unambiguous.
    """
    words = []
    for word in argv:
        escaped = ''.join('%%%02X' % ord(ch) if ch in _ESCAPED else ch
                          for ch in str(word))
        words.append(escaped)
    return '_'.join(words)


class System(object):
    """Files and commands of one machine, real (``/``) or a fixture tree."""

    def __init__(self, root='/', timeout=DEFAULT_TIMEOUT):
        self.root = os.path.abspath(root)
        self.timeout = timeout

    def __repr__(self):
        return 'System(%r)' % self.root

    @property
    def live(self):
        """True when this is the running machine, not a fixture tree."""
        return self.root == '/'

    # -- paths ---------------------------------------------------------

    def _parts(self, rel):
        return [p for p in str(rel).split('/') if p and p != '.']

    def resolve(self, rel, on_link=None):
        """Return ``rel`` with every symlink resolved, relative to root.

        Done by hand (not :func:`os.path.realpath`) so that links cannot
        escape a fixture tree into the host that runs the tests.
        ``on_link(rel_of_link, target)`` sees each link on the way (the
        capture tool recreates them).
        """
        pending = self._parts(rel)
        done = []
        links = 0
        while pending:
            part = pending.pop(0)
            if part == '..':
                if done:
                    done.pop()
                continue
            here = os.path.join(self.root, *(done + [part]))
            if not os.path.islink(here):
                done.append(part)
                continue
            links += 1
            if links > _MAX_LINKS:
                raise OSError('too many symlinks under %s' % rel)
            target = os.readlink(here)
            if on_link is not None:
                on_link('/'.join(done + [part]), target)
            if target.startswith('/'):
                done = []
            pending = self._parts(target) + pending
        return '/'.join(done)

    def path(self, rel):
        """Host path of ``rel`` inside the root, symlinks resolved."""
        resolved = self.resolve(rel)
        return os.path.join(self.root, resolved) if resolved else self.root

    def exists(self, rel):
        try:
            return os.path.exists(self.path(rel))
        except OSError:
            return False

    def isdir(self, rel):
        try:
            return os.path.isdir(self.path(rel))
        except OSError:
            return False

    def islink(self, rel):
        """Whether the last component of ``rel`` itself is a symlink."""
        parts = self._parts(rel)
        if not parts:
            return False
        try:
            parent = self.path('/'.join(parts[:-1]))
        except OSError:
            return False
        return os.path.islink(os.path.join(parent, parts[-1]))

    def read(self, rel, default=None):
        """Whole text of a file, or ``default`` when it cannot be read.

        sysfs attributes fail to read in normal situations (``carrier`` of
        a down link gives EINVAL), so errors are an answer, not a crash.
        """
        try:
            with open(self.path(rel), 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except (OSError, ValueError):
            return default

    def value(self, rel, default=None):
        """A one-value attribute (sysfs style), stripped; empty = default."""
        text = self.read(rel)
        if text is None:
            return default
        text = text.strip()
        return text if text else default

    def listdir(self, rel):
        """Sorted entries of a directory; [] when it is missing."""
        try:
            return sorted(os.listdir(self.path(rel)))
        except OSError:
            return []

    # -- commands ------------------------------------------------------

    def which(self, tool):
        """Whether ``tool`` is installed on this machine."""
        if self.live:
            return shutil.which(tool) is not None
        prefix = command_filename([tool])
        return any(name == prefix or name.startswith(prefix + '_')
                   for name in self.listdir(COMMANDS_DIR))

    def run_result(self, argv, timeout=None):
        """Run ``argv``; a :data:`Result` saying whether and how it ran."""
        argv = [str(a) for a in argv]
        if not self.which(argv[0]):
            return Result(False, None, None, None)
        if not self.live:
            return self._fixture_result(argv)
        env = dict(os.environ, LC_ALL='C', LANG='C')
        try:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True,
                timeout=timeout or self.timeout, env=env, check=False)
        except subprocess.TimeoutExpired:
            return Result(True, None, None, 'timed out after %ss'
                          % (timeout or self.timeout))
        except OSError as exc:
            return Result(True, None, None, str(exc))
        return Result(True, proc.returncode,
                      proc.stdout.decode('utf-8', 'replace'),
                      proc.stderr.decode('utf-8', 'replace'))

    def _fixture_result(self, argv):
        base = COMMANDS_DIR + '/' + command_filename(argv)
        stdout = self.read(base)
        rc_text = self.value(base + '.rc')
        stderr = self.read(base + '.stderr', '')
        if stdout is None and rc_text is None:
            return Result(True, None, None,
                          'no answer file %s in the fixture tree' % base)
        try:
            rc = int(rc_text) if rc_text is not None else 0
        except ValueError:
            rc = None
        return Result(True, rc, stdout or '', stderr)

    def run(self, argv, timeout=None):
        """stdout of a successful command; None when absent or failing."""
        result = self.run_result(argv, timeout=timeout)
        if result.found and result.rc == 0:
            return result.stdout
        return None


def describe_failure(argv, result):
    """One-line reason a command gave nothing, for inventory notes."""
    name = ' '.join(str(a) for a in argv)
    if not result.found:
        return '%s not found' % argv[0]
    detail = (result.stderr or '').strip().splitlines()
    detail = detail[-1] if detail else ''
    if result.rc is None:
        return '%s did not run (%s)' % (name, detail or 'unknown error')
    if detail:
        return '%s failed (rc %s: %s)' % (name, result.rc, detail)
    return '%s failed (rc %s)' % (name, result.rc)


def memory_summary(proc='/proc'):
    """The agent's RSS and the machine's used memory, in MiB, as one
    line for the console: what a BootOS costs is read off real boots."""
    fields = {}
    for name, keys in (('self/status', ('VmRSS',)),
                       ('meminfo', ('MemTotal', 'MemAvailable'))):
        try:
            with open('%s/%s' % (proc, name)) as f:
                for line in f:
                    key, _, value = line.partition(':')
                    if key in keys:
                        fields[key] = int(value.split()[0]) // 1024
        except (OSError, ValueError, IndexError):
            continue
    if len(fields) < 3:
        return None
    return ('memory: agent RSS %d MiB; machine %d MiB used of %d MiB'
            % (fields['VmRSS'], fields['MemTotal'] - fields['MemAvailable'],
               fields['MemTotal']))
