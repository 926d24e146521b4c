"""Helpers of the IPMI driver tests: a node stand-in, and a stand-in for
the ipmitool process (subprocess.run is the only thing replaced)."""

import os
import stat
import subprocess
import types

NODE_UUID = '5d1e6a52-2b9c-4f0a-9a55-0e5b7f1f0c11'
PASSWORD = 'Sup3r-Secret!'


class Node(types.SimpleNamespace):
    def save(self):
        self.saves += 1


def make_task(properties=None, boot_mode='uefi', **driver_info):
    info = {'ipmi_address': '192.0.2.10', 'ipmi_username': 'admin',
            'ipmi_password': PASSWORD}
    info.update(driver_info)
    info = {k: v for k, v in info.items() if v is not None}
    node = Node(uuid=NODE_UUID, id=1, saves=0, driver_info=info,
                driver_internal_info={}, properties=properties or {},
                instance_info={}, boot_mode=boot_mode, driver='ipmi')
    return types.SimpleNamespace(node=node, ports=[])


def command(argv):
    """The ipmitool command after the connection options (after -v)."""
    return argv[argv.index('-v') + 1:]


class FakeIpmitool:
    """Answers like ipmitool would. ``answer(cmd)`` returns
    ``(returncode, stdout, stderr)`` or raises; every call is recorded
    with the password file's content and mode as seen during the run."""

    def __init__(self, answer=None):
        self.answer = answer or (lambda cmd: (0, '', ''))
        self.calls = []

    def __call__(self, argv, **kwargs):
        path = argv[argv.index('-f') + 1]
        with open(path) as f:
            secret = f.read()
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.calls.append(types.SimpleNamespace(
            argv=list(argv), cmd=command(argv), password=secret,
            password_file=path, mode=mode, kwargs=kwargs))
        code, out, err = self.answer(command(argv))
        return subprocess.CompletedProcess(argv, code, out, err)

    @property
    def commands(self):
        return [' '.join(c.cmd) for c in self.calls]


class FakeMachine:
    """A BMC as ipmitool shows it: power commands change the state (after
    ``lag`` status reads), boot flags are kept."""

    def __init__(self, power='off', lag=0, ignore_soft=False):
        self.power = power
        self.lag = lag
        self.pending = None
        self.ignore_soft = ignore_soft
        self.bootdev = None

    def _status(self):
        if self.pending is not None:
            target, reads = self.pending
            if reads <= 0:
                self.power, self.pending = target, None
            else:
                self.pending = (target, reads - 1)
        return 0, 'Chassis Power is %s\n' % self.power, ''

    def __call__(self, cmd):
        if cmd == ['power', 'status']:
            return self._status()
        if cmd[0] == 'power':
            action = cmd[1]
            if action == 'diag' or action == 'soft' and self.ignore_soft:
                return 0, 'Chassis Power Control: %s\n' % action, ''
            target = 'on' if action == 'on' else 'off'
            self.pending = (target, self.lag)
            return 0, 'Chassis Power Control: %s\n' % action, ''
        if cmd[:2] == ['chassis', 'bootdev']:
            self.bootdev = cmd[2:]
            return 0, 'Set Boot Device to %s\n' % cmd[2], ''
        if cmd[0] == 'raw':
            return 0, '\n', ''
        return 1, '', 'Invalid command'
