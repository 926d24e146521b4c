"""The dnsmasq DHCP provider against a real dnsmasq and a real DHCP client.

Each test builds two private network namespaces joined by a veth pair
(10.213.77.0/24 exists only inside them), runs dnsmasq in one with
etc/bootflow/dnsmasq.conf.sample (its interface, range and directories
replaced), publishes with DnsmasqDHCP and asks for a lease with busybox
udhcpc from the other. Needs root, ``ip netns`` and dnsmasq; skipped,
saying which is missing, otherwise.

No sleeps: after each change the test waits for dnsmasq's log to say it
read the changed files, so a DHCP request never races the inotify event.
"""

import os
import re
import shutil
import subprocess
import tempfile
import types
import uuid
from pathlib import Path

import pytest

from bootflow.conf import CONF
from bootflow.conf import dhcp as dhcp_conf
from bootflow.dhcp import dnsmasq
from tests.functional.conftest import random_mac
from tests.functional.conftest import wait_for

SAMPLE = Path(__file__).resolve().parents[2] / 'etc' / 'bootflow' / \
    'dnsmasq.conf.sample'
NET = '10.213.77.'
SERVER_IP = NET + '1'
CLIENT_SCRIPT = """#!/bin/sh
# udhcpc runs this at each event; busybox exports the lease as variables.
case "$1" in
    bound|renew) ip addr replace "$ip/$mask" dev "$interface" ;;
    deconfig) ip addr flush dev "$interface" ;;
esac
env > "$BF_DHCP_OUT.$1"
"""
REQUIRED = [('dnsmasq', 'dnsmasq-base'), ('busybox', 'busybox-static'),
            ('ip', 'iproute2')]
# Option 175 as iPXE sends it (an encapsulated feature list).
IPXE_OPTION = '0xaf:130101'


def _run(*cmd, check=True, timeout=30, **kwargs):
    return subprocess.run(cmd, capture_output=True, text=True, check=check,
                          timeout=timeout, **kwargs)


def skip(reason):
    pytest.skip('REAL DNSMASQ DHCP TEST NOT RUN: %s' % reason)


def _missing():
    """Why this machine cannot run the test, or None."""
    if os.geteuid() != 0:
        return 'must run as root (network namespaces, DHCP on port 67)'
    for exe, package in REQUIRED:
        if not shutil.which(exe):
            return '%s is not installed (Debian package %s)' % (exe, package)
    if 'udhcpc' not in _run('busybox', '--list').stdout.split():
        return 'this busybox has no udhcpc applet'
    return None


def sample_config(overrides, extra):
    """The sample, with ``overrides`` replacing the values of its own
    settings (each must be there once) and ``extra`` lines appended."""
    lines, seen = [], set()
    for line in SAMPLE.read_text().splitlines():
        key = line.split('=', 1)[0]
        if not line.startswith('#') and key in overrides:
            assert key not in seen, 'sample sets %s twice' % key
            seen.add(key)
            line = '%s=%s' % (key, overrides[key])
        lines.append(line)
    assert seen == set(overrides), 'sample lacks %s' % (
        set(overrides) - seen)
    return '\n'.join(lines + list(extra)) + '\n'


class Lab:
    """Two namespaces, a veth pair, dnsmasq on one end, udhcpc on the
    other, and the provider writing into dnsmasq's directories."""

    def __init__(self):
        suffix = uuid.uuid4().hex[:8]
        self.server_ns, self.client_ns = ('bfdhcp-%s-%s' % (suffix, side)
                                          for side in 'sc')
        self.server_if, self.client_if = 'bfs' + suffix, 'bfc' + suffix
        self.namespaces = []
        self.proc = None
        # Not pytest's tmp_path: dnsmasq drops root and must reach it.
        self.dir = Path(tempfile.mkdtemp(prefix='bfdhcp-'))
        self.dir.chmod(0o755)
        self.hosts, self.opts, self.tftp = (self.dir / name for name in
                                            ('hostsdir', 'optsdir', 'tftp'))
        for path in (self.hosts, self.opts, self.tftp):
            path.mkdir()
            path.chmod(0o755)
        self.log = self.dir / 'dnsmasq.log'
        self.provider = dnsmasq.DnsmasqDHCP()

    # -- setting up and tearing down -----------------------------------

    def create_network(self):
        for ns in (self.server_ns, self.client_ns):
            result = _run('ip', 'netns', 'add', ns, check=False)
            if result.returncode:
                skip('cannot create network namespaces (ip netns add %s: '
                     '%s)' % (ns, result.stderr.strip()))
            self.namespaces.append(ns)
        result = _run('ip', 'link', 'add', self.server_if, 'netns',
                      self.server_ns, 'type', 'veth', 'peer', 'name',
                      self.client_if, 'netns', self.client_ns, check=False)
        if result.returncode:
            skip('cannot create a veth pair: %s' % result.stderr.strip())
        self.ns_ip(self.server_ns, 'addr', 'add', SERVER_IP + '/24', 'dev',
                   self.server_if)
        for ns, iface in ((self.server_ns, self.server_if),
                          (self.client_ns, self.client_if)):
            self.ns_ip(ns, 'link', 'set', iface, 'up')

    def start_dnsmasq(self):
        conf = self.dir / 'dnsmasq.conf'
        conf.write_text(sample_config(
            {'interface': self.server_if,
             'dhcp-range': NET + '10,' + NET + '99,255.255.255.0,10m',
             'dhcp-hostsdir': self.hosts, 'dhcp-optsdir': self.opts,
             'tftp-root': self.tftp},
            ['dhcp-leasefile=%s' % (self.dir / 'leases'),
             'pid-file=%s' % (self.dir / 'dnsmasq.pid'),
             'log-facility=%s' % self.log,
             # Nobody else is on this wire: the ping before offering a
             # new address would only add 3 s per lease.
             'no-ping']))
        with open(self.dir / 'dnsmasq.out', 'ab') as out:
            self.proc = subprocess.Popen(
                ['ip', 'netns', 'exec', self.server_ns, 'dnsmasq',
                 '--keep-in-foreground', '--conf-file=%s' % conf],
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)
        if wait_for(self._listening_or_gone, timeout=15, interval=0.05,
                    message='dnsmasq to listen on port 67') == 'gone':
            raise AssertionError('dnsmasq exited with %s: %s' % (
                self.proc.returncode,
                (self.dir / 'dnsmasq.out').read_text()))

    def stop_dnsmasq(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def _listening_or_gone(self):
        if self.proc.poll() is not None:
            return 'gone'
        udp = _run('ip', 'netns', 'exec', self.server_ns, 'cat',
                   '/proc/net/udp').stdout
        return re.search(r'^\s*\d+: [0-9A-F]{8}:0043 ', udp, re.M)

    def close(self):
        self.stop_dnsmasq()
        for ns in self.namespaces:
            _run('ip', 'netns', 'del', ns, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers for the tests -----------------------------------------

    def ns_ip(self, ns, *args):
        return _run('ip', '-n', ns, *args)

    def set_client_mac(self, mac):
        self.ns_ip(self.client_ns, 'link', 'set', self.client_if,
                   'address', mac)

    def log_text(self):
        return self.log.read_text() if self.log.exists() else ''

    def read_count(self, path):
        return len(re.findall(r': read %s$' % re.escape(str(path)),
                              self.log_text(), re.M))

    def _state(self):
        return {p: (p.stat().st_ino, p.read_text())
                for d in (self.hosts, self.opts) for p in d.iterdir()
                if not p.name.startswith('.')}

    def _wait_read(self, paths, counts):
        for path in paths:
            wait_for(lambda: self.read_count(path) > counts.get(path, 0),
                     timeout=10, interval=0.05,
                     message='dnsmasq to read %s' % path)

    def apply(self, method, *args):
        """Call a provider method; return once dnsmasq read its files."""
        before = self._state()
        counts = {p: self.read_count(p) for p in before}
        getattr(self.provider, method)(*args)
        after = self._state()
        changed = [p for p in after if after[p] != before.get(p)]
        self._wait_read(changed, counts)
        return changed

    def restart(self):
        """A new dnsmasq: it knows only the files, read in no set order.

        (Not SIGHUP, which has the same effect in theory: dnsmasq 2.90
        crashes on SIGHUP once a host with a set: tag has a lease.)
        """
        present = list(self._state())
        counts = {p: self.read_count(p) for p in present}
        self.stop_dnsmasq()
        self.start_dnsmasq()
        self._wait_read(present, counts)

    def dhcp(self, ipxe=False, request=True, vendor=None, tries=3):
        """One udhcpc run: the bound lease's variables, None if none."""
        out = self.dir / ('lease-%s' % uuid.uuid4().hex)
        script = self.dir / 'udhcpc.script'
        if not script.exists():
            script.write_text(CLIENT_SCRIPT)
            script.chmod(0o755)
        cmd = ['ip', 'netns', 'exec', self.client_ns, 'busybox', 'udhcpc',
               '-i', self.client_if, '-f', '-q', '-n', '-B', '-t',
               str(tries), '-T', '1', '-s', str(script)]
        if request:
            cmd += ['-O', 'bootfile', '-O', 'tftp']
        if ipxe:
            cmd += ['-x', IPXE_OPTION]
        if vendor:
            cmd += ['-V', vendor]
        result = _run(*cmd, check=False, timeout=tries + 20,
                      env={'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
                           'BF_DHCP_OUT': str(out)})
        bound = Path('%s.bound' % out)
        if result.returncode or not bound.exists():
            return None
        return dict(line.split('=', 1)
                    for line in bound.read_text().splitlines()
                    if '=' in line)

    def lease(self, **kwargs):
        lease = self.dhcp(**kwargs)
        assert lease is not None, 'no lease; dnsmasq log ends:\n' + \
            self.log_text()[-3000:]
        return lease

    def no_lease(self, mac):
        """udhcpc gets nothing, and not by accident: dnsmasq says it
        ignored ``mac``."""
        start = len(self.log_text())
        assert self.dhcp(tries=2) is None
        new = self.log_text()[start:]
        assert re.search(r'DHCPDISCOVER\(%s\) %s ignored' % (
            self.server_if, mac), new), new[-3000:]


@pytest.fixture
def lab():
    reason = _missing()
    if reason:
        skip(reason)
    dhcp_conf.register_opts(CONF)
    lab = Lab()
    try:
        CONF.set_override('dhcp_hostsdir', str(lab.hosts), 'dnsmasq')
        CONF.set_override('dhcp_optsdir', str(lab.opts), 'dnsmasq')
        lab.create_network()
        lab.start_dnsmasq()
        yield lab
    finally:
        lab.close()
        CONF.clear_override('dhcp_hostsdir', 'dnsmasq')
        CONF.clear_override('dhcp_optsdir', 'dnsmasq')


def make_task(*macs, node_uuid=None, pxe_enabled=True):
    node = types.SimpleNamespace(uuid=node_uuid or str(uuid.uuid4()), id=1)
    ports = [{'uuid': str(uuid.uuid4()), 'address': mac,
              'pxe_enabled': pxe_enabled} for mac in macs]
    return types.SimpleNamespace(node=node, ports=ports)


def pxe_options(bootfile, server=SERVER_IP, tftp=SERVER_IP):
    return [{'opt_name': 'bootfile-name', 'opt_value': bootfile},
            {'opt_name': 'tftp-server', 'opt_value': tftp},
            {'opt_name': 'server-ip-address', 'opt_value': server}]


IPXE_URL = 'http://%s:8088/boot.ipxe' % SERVER_IP
# tftp-server and next-server differ from dnsmasq's own address, so what
# the client sees can only come from the published options.
IPXE_OPTIONS = [
    {'opt_name': 'tag:!ipxe,bootfile-name', 'opt_value': 'undionly.kpxe'},
    {'opt_name': 'tag:ipxe,bootfile-name', 'opt_value': IPXE_URL},
    {'opt_name': 'tftp-server', 'opt_value': NET + '3'},
    {'opt_name': 'server-ip-address', 'opt_value': NET + '2'},
]


def test_registered_mac_gets_its_boot_options(lab):
    mac = random_mac()
    lab.set_client_mac(mac)
    lab.apply('update_dhcp_opts', make_task(mac), IPXE_OPTIONS)

    # A PXE ROM asking for options 66 and 67.
    lease = lab.lease()
    assert lease['ip'].startswith(NET)
    assert (lease['bootfile'], lease['tftp'], lease['siaddr']) == (
        'undionly.kpxe', NET + '3', NET + '2')
    # One that asks for nothing reads the BOOTP file and sname fields.
    lease = lab.lease(request=False)
    assert (lease['boot_file'], lease['sname'], lease['siaddr']) == (
        'undionly.kpxe', NET + '3', NET + '2')
    # iPXE (option 175) gets the script's URL instead.
    assert lab.lease(ipxe=True)['bootfile'] == IPXE_URL

    # Another MAC on the same wire: no answer at all.
    stranger = random_mac()
    lab.set_client_mac(stranger)
    lab.no_lease(stranger)


def test_generic_option_does_not_shadow_ipxe_one(lab):
    mac = random_mac()
    lab.set_client_mac(mac)
    options = [{'opt_name': 'tag:ipxe,bootfile-name', 'opt_value': IPXE_URL},
               {'opt_name': 'bootfile-name', 'opt_value': 'snponly.efi'}]
    lab.apply('update_dhcp_opts', make_task(mac), options)
    assert lab.lease()['bootfile'] == 'snponly.efi'
    assert lab.lease(ipxe=True)['bootfile'] == IPXE_URL


def test_uefi_http_client_gets_url_and_vendor_class(lab):
    mac = random_mac()
    lab.set_client_mac(mac)
    url = 'http://%s:8088/grubx64.efi' % SERVER_IP
    lab.apply('update_dhcp_opts', make_task(mac), pxe_options(url))
    lease = lab.lease(vendor='HTTPClient:Arch:00016:UNDI:003001')
    assert lease['bootfile'] == url
    assert lease['vendor'] == 'HTTPClient'  # option 60 in the reply
    # Not for PXE clients.
    assert 'vendor' not in lab.lease(vendor='PXEClient:Arch:00007')


def test_update_seen_without_restart(lab):
    mac = random_mac()
    lab.set_client_mac(mac)
    task = make_task(mac)
    dnsmasq_pid = lab.proc.pid
    lab.apply('update_dhcp_opts', task, pxe_options('first.kpxe'))
    lease = lab.lease()
    assert (lease['bootfile'], lease['tftp']) == ('first.kpxe', SERVER_IP)

    # New bootfile, and no tftp-server any more: dnsmasq still holds the
    # old lines, yet neither old value reaches the client.
    lab.apply('update_dhcp_opts', task,
              [{'opt_name': 'bootfile-name', 'opt_value': 'second.kpxe'}])
    lease = lab.lease()
    assert lease['bootfile'] == 'second.kpxe'
    assert 'tftp' not in lease
    assert lab.proc.pid == dnsmasq_pid and lab.proc.poll() is None


def test_clean_withdraws_until_published_again(lab):
    mac = random_mac()
    lab.set_client_mac(mac)
    task = make_task(mac)
    lab.apply('update_dhcp_opts', task, pxe_options('pxelinux.0'))
    assert lab.lease()['bootfile'] == 'pxelinux.0'

    # Found by the node's UUID: the task's ports do not matter.
    lab.apply('clean_dhcp_opts', make_task(node_uuid=task.node.uuid))
    lab.no_lease(mac)

    lab.apply('update_dhcp_opts', task, pxe_options('again.kpxe'))
    assert lab.lease()['bootfile'] == 'again.kpxe'


def test_port_no_longer_pxe_enabled_stops_booting(lab):
    mac1, mac2 = random_mac(), random_mac()
    task = make_task(mac1, mac2)
    lab.apply('update_dhcp_opts', task, pxe_options('pxelinux.0'))
    for mac in (mac1, mac2):
        lab.set_client_mac(mac)
        assert lab.lease()['bootfile'] == 'pxelinux.0'

    task.ports[1]['pxe_enabled'] = False
    lab.apply('update_dhcp_opts', task, pxe_options('pxelinux.0'))
    lab.no_lease(mac2)
    lab.set_client_mac(mac1)
    assert lab.lease()['bootfile'] == 'pxelinux.0'


def test_mac_moving_between_nodes_survives_restart(lab):
    mac = random_mac()
    lab.set_client_mac(mac)
    node_a, node_b = make_task(mac), make_task(mac)
    lab.apply('update_dhcp_opts', node_a, pxe_options('a.kpxe'))
    assert lab.lease()['bootfile'] == 'a.kpxe'
    lab.apply('update_dhcp_opts', node_b, pxe_options('b.kpxe'))
    assert lab.lease()['bootfile'] == 'b.kpxe'
    # Withdrawing the former owner leaves the new one alone.
    lab.apply('clean_dhcp_opts', node_a)
    assert lab.lease()['bootfile'] == 'b.kpxe'
    lab.restart()
    assert lab.lease()['bootfile'] == 'b.kpxe'

    lab.apply('clean_dhcp_opts', node_b)
    lab.no_lease(mac)
    lab.restart()
    lab.no_lease(mac)


def test_dotfiles_are_never_read(lab):
    # The provider's temporary files start with a dot; were dnsmasq to
    # read one (a crash leaves it behind), its MAC would be answered.
    mac = random_mac()
    lab.set_client_mac(mac)
    (lab.hosts / '.bootflow-left.tmp').write_text('%s,set:left\n' % mac)
    (lab.opts / '.bootflow-left.tmp').write_text(
        'tag:left,option:bootfile-name,left.kpxe\n')
    # Files dnsmasq does read, written after: once it has read them it
    # has seen the dotfiles' events too.
    lab.apply('update_dhcp_opts', make_task(random_mac()),
              pxe_options('other.kpxe'))
    lab.no_lease(mac)
    lab.restart()
    lab.no_lease(mac)
    assert '.bootflow-left' not in lab.log_text()


def test_tftp_serves_the_bootfile(lab):
    mac = random_mac()
    lab.set_client_mac(mac)
    program = os.urandom(70000)
    (lab.tftp / 'undionly.kpxe').write_bytes(program)
    (lab.tftp / 'undionly.kpxe').chmod(0o644)
    lab.apply('update_dhcp_opts', make_task(mac),
              pxe_options('undionly.kpxe'))
    lease = lab.lease()  # the client script configures the address
    got = lab.dir / 'fetched'
    _run('ip', 'netns', 'exec', lab.client_ns, 'busybox', 'tftp', '-g',
         '-r', lease['bootfile'], '-l', str(got), lease['siaddr'])
    assert got.read_bytes() == program


def test_sample_config_syntax():
    if not shutil.which('dnsmasq'):
        pytest.skip('dnsmasq is not installed (Debian package '
                    'dnsmasq-base)')
    result = _run('dnsmasq', '--test', '--conf-file=%s' % SAMPLE,
                  check=False)
    assert result.returncode == 0, result.stderr
