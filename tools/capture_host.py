#!/usr/bin/env python3
"""Capture this machine as a fixture tree for the agent's inventory tests.

Runs the real inventory collectors against ``/`` while recording every file
they read, every directory they list, every symlink they follow and every
command they run, then writes exactly that into DEST:

* files with the content the collectors saw (sysfs/procfs values);
* symlinks with their original (relative) targets, so ``sys/class/net/X``
  and ``sys/block/X/device`` resolve inside the tree as on the host;
* directories the collectors listed (their sub-directories and links, not
  the unread plain files);
* ``commands/<name>`` (+ ``.rc``, ``.stderr``) for every command that was
  found, named as documented in :mod:`bootflow.agent.system`; a tool that
  is not installed leaves no file, which is how the tree says "absent".

Collecting ``System(DEST)`` then gives the same inventory as collecting
``System('/')`` did.  The kernel command line is copied as is unless
``--cmdline`` replaces it (it may hold tokens; a VM not PXE-booted has no
BOOTIF).  Run as root: some DMI files (product_serial) are root-only.

    sudo python3 tools/capture_host.py --cmdline 'BOOTIF=01-aa-...' DEST
"""

import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from bootflow.agent import inventory  # noqa: E402
from bootflow.agent.collectors import base  # noqa: E402
from bootflow.agent import system as system_mod  # noqa: E402

KEEP = '.keep'


class RecordingSystem(system_mod.System):
    """A System that remembers what the collectors touched."""

    def __init__(self, root='/'):
        super(RecordingSystem, self).__init__(root)
        self.touched = set()
        self.files = {}
        self.listed = {}
        self.commands = {}
        self.probed = set()

    def exists(self, rel):
        self.probed.add(str(rel).strip('/'))
        return super(RecordingSystem, self).exists(rel)

    def isdir(self, rel):
        self.probed.add(str(rel).strip('/'))
        return super(RecordingSystem, self).isdir(rel)

    def resolve(self, rel):
        self.touched.add(str(rel).strip('/'))
        return super(RecordingSystem, self).resolve(rel)

    def read(self, rel, default=None):
        text = super(RecordingSystem, self).read(rel)
        self.files[str(rel).strip('/')] = text
        return default if text is None else text

    def listdir(self, rel):
        entries = super(RecordingSystem, self).listdir(rel)
        self.listed[str(rel).strip('/')] = entries
        return entries

    def run_result(self, argv, timeout=None):
        result = super(RecordingSystem, self).run_result(argv, timeout)
        self.commands[tuple(str(a) for a in argv)] = result
        return result


class TreeWriter(object):
    """Reproduces paths of ``src`` under ``dest``, links included."""

    def __init__(self, src, dest):
        self.src = src
        self.dest = dest

    def mirror(self, rel):
        """Recreate every symlink on the way to ``rel``; return its
        resolved relative path (System.resolve's own walk)."""
        def recreate(link_rel, target):
            link = os.path.join(self.dest, link_rel)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            if not os.path.lexists(link):
                os.symlink(target, link)
        return system_mod.System(self.src).resolve(rel, on_link=recreate)

    def probe(self, rel):
        """Recreate what an exists/isdir check found; an empty directory
        gets a ``.keep`` file so that git keeps it (sys/firmware/efi)."""
        resolved = self.mirror(rel)
        src = os.path.join(self.src, resolved)
        dst = os.path.join(self.dest, resolved)
        if os.path.isdir(src):
            os.makedirs(dst, exist_ok=True)
            if not os.listdir(dst):
                open(os.path.join(dst, KEEP), 'w').close()
        elif os.path.exists(src) and not os.path.exists(dst):
            self.file(rel, '')

    def file(self, rel, text):
        """Recreate a file the collectors read, with what they read (empty
        when it exists but refused to be read, like a down link's carrier).
        """
        resolved = self.mirror(rel)
        src = os.path.join(self.src, resolved)
        if text is None and not os.path.isfile(src):
            return
        dst = os.path.join(self.dest, resolved)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, 'w') as f:
            f.write(text or '')
        keep = os.path.join(os.path.dirname(dst), KEEP)
        if os.path.exists(keep):
            os.unlink(keep)

    def command(self, argv, result):
        if not result.found:
            return
        base = os.path.join(self.dest, system_mod.COMMANDS_DIR,
                            system_mod.command_filename(argv))
        os.makedirs(os.path.dirname(base), exist_ok=True)
        if result.rc is not None:
            with open(base, 'w') as f:
                f.write(result.stdout or '')
        if result.rc:
            with open(base + '.rc', 'w') as f:
                f.write('%d\n' % result.rc)
        if result.stderr:
            with open(base + '.stderr', 'w') as f:
                f.write(result.stderr)


def write_tree(recorder, dest, cmdline=None):
    """Write what ``recorder`` saw into ``dest``.

    Listed directories only get their symlinks (sys/block/X,
    sys/class/net/X): entries the collectors then read come with their
    files, and the rest carry no information worth keeping.
    """
    writer = TreeWriter(recorder.root, dest)
    for rel in sorted(recorder.touched):
        writer.mirror(rel)
    for rel, entries in sorted(recorder.listed.items()):
        for entry in entries:
            writer.mirror('%s/%s' % (rel, entry))
    if cmdline is not None:
        recorder.files['proc/cmdline'] = cmdline.strip() + '\n'
    for rel, text in sorted(recorder.files.items()):
        writer.file(rel, text)
    for rel in sorted(recorder.probed):
        writer.probe(rel)
    for argv, result in sorted(recorder.commands.items()):
        writer.command(argv, result)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('dest', help='directory to create')
    parser.add_argument('--root', default='/',
                        help='machine root to capture (default /)')
    parser.add_argument('--cmdline', default=None,
                        help='text to store as proc/cmdline instead of the '
                        "machine's (e.g. with a BOOTIF=)")
    parser.add_argument('--force', action='store_true',
                        help='replace DEST if it exists')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    dest = os.path.abspath(args.dest)
    if dest in ('/', os.path.abspath(args.root)):
        sys.exit('refusing to write the capture over %s' % dest)
    if os.path.lexists(dest):
        if not args.force:
            sys.exit('%s exists (use --force to replace it)' % dest)
        shutil.rmtree(dest)
    recorder = RecordingSystem(args.root)
    bootif = None
    if args.cmdline is not None:
        # the tree will answer with this BOOTIF: collect the host with it
        # too, so that both inventories can be compared
        bootif = base.parse_cmdline(args.cmdline).get('BOOTIF')
    found, notes = inventory.collect(recorder, bootif=bootif)
    os.makedirs(dest)
    write_tree(recorder, dest, cmdline=args.cmdline)
    again, again_notes = inventory.collect(system_mod.System(dest))
    print(json.dumps({'inventory': again, 'notes': again_notes}, indent=2))
    if again != found:
        print('warning: the captured tree does not give the inventory the '
              'host gave', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
