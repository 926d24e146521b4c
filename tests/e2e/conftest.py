"""Fixtures for the real network-boot tests: a QEMU VM plays the node.

The VM runs under TCG with QEMU's user network in ``restrict=on`` mode,
so it reaches nothing but this host's 127.0.0.1 servers (see qemu.py).
Each test boots for real: iPXE from QEMU's ROM (and, for the ``pxe``
boot interface, Debian's lpxelinux over TFTP; for ``http`` and
``grub-iso``, GRUB i386-pc over TFTP), a Debian kernel, an
initrd built here, a disk whose boot sector prints a marker.

Environment variables (``BOOTFLOW_TEST_*`` passes through tox):

``BOOTFLOW_TEST_E2E_REQUIRED``
    ``1``: a missing prerequisite (QEMU, iPXE ROMs, busybox, apt for the
    kernel, lpxelinux and ldlinux.c32, grub-mkimage and GRUB's i386-pc
    modules, xorriso) fails the tests instead of skipping them.  CI sets
    it, so the real boot test cannot quietly stop running.
``BOOTFLOW_TEST_E2E_TIMEOUT``
    Seconds each boot may take (default 300: TCG on a busy runner).
``BOOTFLOW_TEST_E2E_CACHE``
    Where the downloaded kernel is kept (default
    ``$XDG_CACHE_HOME/bootflow-e2e``, else ``~/.cache/bootflow-e2e``).
``BOOTFLOW_TEST_E2E_QEMU``
    The qemu-system-x86_64 to run (default: the one on PATH).
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import assets
from tests.e2e import qemu

REQUIRED_ENV = 'BOOTFLOW_TEST_E2E_REQUIRED'
NOT_RUN = 'REAL BOOT TEST DID NOT RUN: '
HERE = Path(__file__).resolve().parent

# Collected in the process that prints the summary (xdist's controller
# too: reports carry their user_properties and skip reasons across).
_TIMINGS = []
_NOT_RUN = []


def pytest_configure(config):
    config.addinivalue_line(
        'markers',
        'e2e: boots a QEMU VM (TCG) over the network for real; needs '
        'qemu-system-x86, ipxe-qemu, busybox-static and apt (for the '
        'kernel), the pxelinux tests also pxelinux and syslinux-common, '
        'the GRUB tests grub-pc-bin, grub-common and xorriso; skips '
        'loudly without them')


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


def pytest_runtest_logreport(report):
    """Remember boot timings and why a real boot test did not run."""
    if 'e2e' not in report.keywords:
        return
    if report.when == 'teardown':
        _TIMINGS.extend('%s: %s' % (report.nodeid, value)
                        for name, value in report.user_properties
                        if name.startswith('e2e_'))
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2]
        if NOT_RUN in reason:
            _NOT_RUN.append('%s: %s' % (report.nodeid, reason))


def pytest_terminal_summary(terminalreporter):
    """Print boot timings, and a banner when the real boot was skipped."""
    if _TIMINGS:
        terminalreporter.section('e2e boot timings (s from QEMU start)')
        for line in _TIMINGS:
            terminalreporter.line(line)
    if _NOT_RUN:
        terminalreporter.section('REAL BOOT TEST DID NOT RUN', sep='!',
                                 red=True, bold=True)
        for line in _NOT_RUN:
            terminalreporter.line(line, red=True)
        terminalreporter.line('Set %s=1 to make this a failure.'
                              % REQUIRED_ENV)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the service log and every VM's serial log."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for value in getattr(item, 'funcargs', {}).values():
        service = getattr(value, 'service', None)
        if service is not None and hasattr(service, 'log_tail'):
            rep.sections.append(('service log tail', service.log_tail(80)))
        for machine in getattr(value, 'machines', ()):
            rep.sections.append(('VM %s' % machine.name,
                                 machine.describe(60)))


def require(function, *args):
    """Call function; skip loudly (or fail, if required) if unavailable."""
    try:
        return function(*args)
    except assets.Unavailable as exc:
        message = NOT_RUN + str(exc)
        if os.environ.get(REQUIRED_ENV) == '1':
            pytest.fail('%s (and %s=1)' % (message, REQUIRED_ENV),
                        pytrace=False)
        pytest.skip(message)


def vm_mac():
    """A random MAC in QEMU's 52:54:00 range, for one test VM's NIC."""
    return '52:54:00:%02x:%02x:%02x' % tuple(os.urandom(3))


@dataclass
class BootFiles:
    """The ramdisk pair the VM boots; directory holds only these two."""

    directory: Path
    kernel: Path
    initrd: Path


@pytest.fixture(scope='session')
def qemu_binary():
    return require(qemu.find_qemu)


@pytest.fixture(scope='session')
def boot_files(qemu_binary, tmp_path_factory):
    """A Debian kernel (cached download) and the marker initrd."""
    directory = tmp_path_factory.mktemp('e2e-boot-files')
    kernel = directory / 'vmlinuz'
    shutil.copyfile(require(assets.debian_kernel), kernel)
    initrd = require(assets.build_initrd, directory / 'initrd.gz')
    return BootFiles(directory, kernel, initrd)


@pytest.fixture
def disk_image(tmp_path):
    """A fresh raw disk whose boot sector prints DISK_MARKER."""
    return assets.build_disk(tmp_path / 'disk.img')


class Machines:
    """Starts VMs for one test; kills them all and records timings."""

    def __init__(self, qemu_binary, workdir):
        self.qemu_binary = qemu_binary
        self.workdir = workdir
        self.machines = []

    def start(self, name, mac, http_port, **kwargs):
        machine = qemu.Machine(self.workdir / name, mac, http_port,
                               name=name, qemu=self.qemu_binary, **kwargs)
        self.machines.append(machine)
        return machine.start()

    def kill_all(self):
        for machine in self.machines:
            machine.kill()


@pytest.fixture
def machines(qemu_binary, tmp_path, record_property):
    vms = Machines(qemu_binary, tmp_path / 'vms')
    try:
        yield vms
    finally:
        vms.kill_all()
        for machine in vms.machines:
            record_property('e2e_boot', machine.summary())
