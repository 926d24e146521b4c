"""The ``dnsmasq`` DHCP provider: files in the directories dnsmasq watches.

dnsmasq (started with ``--dhcp-hostsdir``, ``--dhcp-optsdir``,
``--dhcp-ignore=tag:!known`` and ``--dhcp-match=set:ipxe,175``, see
etc/bootflow/dnsmasq.conf.sample) reads new and changed files in those
directories through inotify, without a restart. What this module writes
follows from how dnsmasq 2.90 treats them, checked against the real daemon
(tests/functional/test_dhcp_dnsmasq.py):

* dnsmasq never forgets a line it has read until restarted: a changed
  file *adds* its lines, a deleted file removes nothing. Of several host
  records for one MAC, and of several matching lines for one option, the
  one read last wins. (SIGHUP would reread the directories too, but
  dnsmasq 2.90 crashes on it once a host with a ``set:`` tag has a lease.)
* Hence a node's options live under a tag derived from the node *and the
  options* (``bf-<node uuid>-<digest>``): a tag's lines never change, so
  an option dropped from the set cannot linger under the tag in use.
  Generic lines come before ``tag:ipxe``/``tag:!ipxe`` ones, which thus
  win for the clients they match.
* Host file ``<node uuid>-<mac with dashes>`` holds ``<mac>,set:<tag>``
  while the node boots from the network and ``<mac>,ignore`` once
  withdrawn: rewriting is the only way to make a running dnsmasq stop
  answering. There is one file per MAC: claiming a MAC for a node removes
  another node's file for it, so that after a restart (files read in no
  defined order) no two records of a MAC compete.
* Files are replaced atomically from temporary files whose names start
  with a dot, which dnsmasq skips, as it skips dotfile events; files are
  removed by renaming them to such a name first, since dnsmasq 2.90 tries
  to read a file it sees deleted and logs an error.
"""

import hashlib
import os
import re
import uuid

from oslo_log import log

from bootflow.common import atomic_file
from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.dhcp import base

LOG = log.getLogger(__name__)

_MAC_RE = re.compile(r'[0-9a-f]{2}(:[0-9a-f]{2}){5}')
_UUID_LEN = 36
_HOST_NAME_LEN = _UUID_LEN + 1 + 17
_TEMP_PREFIX = atomic_file.TEMP_PREFIX
FILE_MODE = 0o644  # dnsmasq reads them after dropping root


def _node_uuid(task):
    value = str(task.node.uuid)
    try:
        canonical = str(uuid.UUID(value))
    except ValueError:
        canonical = None
    if canonical != value.lower():
        raise exception.InvalidParameterValue(
            err='Node UUID %r cannot name dnsmasq files' % value)
    return canonical


def _mac(port):
    mac = str(port.get('address') or '').lower()
    if not _MAC_RE.fullmatch(mac):
        raise exception.InvalidParameterValue(
            err='Port %s has no valid MAC address: %r'
                % (port.get('uuid'), port.get('address')))
    return mac


def pxe_macs(task):
    """MACs of the node's PXE-enabled ports, in port order, once each."""
    macs = []
    for port in task.ports:
        if port.get('pxe_enabled', True):
            mac = _mac(port)
            if mac not in macs:
                macs.append(mac)
    return macs


def host_file_name(node_uuid, mac):
    return '%s-%s' % (node_uuid, mac.replace(':', '-'))


def _parse_host_file_name(name):
    """``(node uuid, mac)`` of a host file name, None for other files."""
    if len(name) != _HOST_NAME_LEN or name[_UUID_LEN] != '-':
        return None
    mac = name[_UUID_LEN + 1:].replace('-', ':')
    if not _MAC_RE.fullmatch(mac):
        return None
    return name[:_UUID_LEN], mac


def _line_order(option):
    return (option.prefix != '', base.OPTION_NAMES.index(option.name),
            option.prefix)


def render_options(node_uuid, options):
    """``(tag, text of the opts file)`` for validated ``options``."""
    lines = ['%soption:%s,%s' % (o.prefix, o.name, o.value)
             for o in sorted(options, key=_line_order)]
    digest = hashlib.sha256(
        '\n'.join([node_uuid] + lines).encode()).hexdigest()[:12]
    tag = 'bf-%s-%s' % (node_uuid, digest)
    return tag, ''.join('tag:%s,%s\n' % (tag, line) for line in lines)


def host_entry(mac, tag):
    return '%s,set:%s\n' % (mac, tag)


def ignore_entry(mac):
    return '%s,ignore\n' % mac


def _io_error(path, exc):
    return exception.DriverOperationError(
        err='dnsmasq DHCP provider cannot update %s: %s (the [dnsmasq] '
            'directories must exist and be writable)' % (path, exc))


def write_file(path, text):
    """Replace ``path`` with ``text`` atomically; False when it already
    held ``text`` (dnsmasq would add the same lines to its memory)."""
    try:
        return atomic_file.write_if_changed(path, text, FILE_MODE)
    except OSError as exc:
        raise _io_error(path, exc)


def discard_file(path):
    """Remove ``path`` without dnsmasq seeing a deletion under its name."""
    directory, name = os.path.split(path)
    hidden = os.path.join(directory, '%sdiscarded-%s' % (_TEMP_PREFIX,
                                                         name))
    try:
        os.replace(path, hidden)
        os.unlink(hidden)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _io_error(path, exc)


class DnsmasqDHCP(base.BaseDHCP):
    """Publishes options as files of ``[dnsmasq]`` dhcp_hostsdir and
    dhcp_optsdir (see the module docstring for why they look so)."""

    @staticmethod
    def _hostsdir():
        return CONF.dnsmasq.dhcp_hostsdir

    def _opts_path(self, node_uuid):
        return os.path.join(CONF.dnsmasq.dhcp_optsdir, node_uuid)

    def _host_path(self, name):
        return os.path.join(self._hostsdir(), name)

    def _host_files(self):
        """``{name: (node uuid, mac)}`` of the host files present."""
        try:
            names = os.listdir(self._hostsdir())
        except OSError as exc:
            raise _io_error(self._hostsdir(), exc)
        parsed = ((name, _parse_host_file_name(name)) for name in names)
        return {name: owner for name, owner in parsed if owner}

    def _claim(self, files, node_uuid, mac):
        """Drop other nodes' host files for ``mac``: one file per MAC."""
        for name, (owner, other_mac) in files.items():
            if other_mac == mac and owner != node_uuid:
                LOG.info('MAC %s moves from node %s to node %s in the '
                         'dnsmasq hostsdir', mac, owner, node_uuid)
                discard_file(self._host_path(name))

    def _ignore(self, files, node_uuid, keep=()):
        """Turn the node's host files into ignore entries, but ``keep``'s
        MACs'."""
        for name, (owner, mac) in sorted(files.items()):
            if owner == node_uuid and mac not in keep:
                write_file(self._host_path(name), ignore_entry(mac))

    def update_dhcp_opts(self, task, options):
        node_uuid = _node_uuid(task)
        tag, text = render_options(node_uuid,
                                   base.validate_options(options))
        macs = pxe_macs(task)
        # Options first: by the time a host record names the tag, dnsmasq
        # has read the options of the tag.
        write_file(self._opts_path(node_uuid), text)
        files = self._host_files()
        for mac in macs:
            self._claim(files, node_uuid, mac)
            write_file(self._host_path(host_file_name(node_uuid, mac)),
                       host_entry(mac, tag))
        # Ports deleted or no longer PXE-enabled stop booting the node.
        self._ignore(files, node_uuid, keep=macs)
        LOG.debug('Published DHCP options of node %s for %s under tag %s',
                  node_uuid, ', '.join(macs) or 'no port', tag)

    def clean_dhcp_opts(self, task):
        node_uuid = _node_uuid(task)
        # Host records first: the MACs stop being answered at once.
        self._ignore(self._host_files(), node_uuid)
        path = self._opts_path(node_uuid)
        if os.path.exists(path):
            write_file(path, '')
        LOG.debug('Withdrew the DHCP options of node %s', node_uuid)

    def supports_ipxe_tag(self):
        """True: the ``ipxe`` tag is set by the operator's
        ``dhcp-match=set:ipxe,175`` (see the sample configuration)."""
        return True
