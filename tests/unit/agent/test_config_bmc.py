"""The bmc executor against a fake ``ipmitool`` first on the search path.

There is no BMC here; the fake records its arguments and answers the
read commands (user list, user test, lan print) from a state file, so the
test exercises our command construction through the real subprocess
path, as the agent would run it.
"""

import json
import sys

import pytest

from bootflow.agent import config
from bootflow.agent.config import base
from bootflow.agent.config import bmc

USERS = '''\
ID  Name\t     Callin  Link Auth\tIPMI Msg   Channel Priv Limit
1                    true    false      false      Unknown (0x00)
2   root             false   true       true       ADMINISTRATOR
3                    true    false      false      NO ACCESS
4                    true    false      false      NO ACCESS
'''
CONFIGURED = USERS.replace(
    '3                    true    false      false      NO ACCESS',
    '3   admin            false   true       true       ADMINISTRATOR')
LAN_DHCP = '''\
Set in Progress         : Set Complete
IP Address Source       : DHCP Address
IP Address              : 192.168.1.77
Subnet Mask             : 255.255.255.0
MAC Address             : 3c:ec:ef:00:11:22
Default Gateway IP      : 192.168.1.1
'''
LAN_STATIC = '''\
IP Address Source       : Static Address
IP Address              : 10.0.0.5
Subnet Mask             : 255.255.255.0
Default Gateway IP      : 10.0.0.1
'''

FAKE = '''#!%s
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
with open(os.path.join(here, 'calls.jsonl'), 'a') as log:
    log.write(json.dumps(args) + '\\n')
state = json.load(open(os.path.join(here, 'state.json')))
for prefix, stderr in state.get('fail', {}).items():
    if ' '.join(args).startswith(prefix):
        sys.stderr.write(stderr.replace('ARGS', ' '.join(args)))
        sys.exit(1)
if args[:2] == ['user', 'list']:
    print(state['users'], end='')
elif args[:2] == ['lan', 'print']:
    print(state['lan'], end='')
elif args[:2] == ['user', 'test']:
    ok = state.get('passwords', {}).get(args[2]) == args[4]
    print('Success' if ok else 'Failure: password incorrect')
    sys.exit(0 if ok else 1)
'''

USER = {'name': 'admin', 'password': 's3cret-pass', 'channel': 1,
        'privilege': 'administrator'}
STATIC = {'mode': 'static', 'address': '10.0.0.5',
          'netmask': '255.255.255.0', 'gateway': '10.0.0.1', 'channel': 1}


class Fake:
    def __init__(self, directory, **state):
        self.dir = directory
        script = directory / 'ipmitool'
        script.write_text(FAKE % sys.executable)
        script.chmod(0o755)
        self.set(**state)
        self.tools = base.Tools(path='%s:%s' % (directory, base.Tools().path))

    def set(self, **state):
        (self.dir / 'state.json').write_text(json.dumps(dict(
            {'users': USERS, 'lan': LAN_DHCP}, **state)))

    def calls(self):
        log = self.dir / 'calls.jsonl'
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    directory = tmp_path / 'bin'
    directory.mkdir()
    device = tmp_path / 'ipmi0'
    device.write_text('')
    monkeypatch.setattr(bmc, 'IPMI_DEVICES', (str(device),))
    return Fake(directory)


READS = [['user', 'list', '1'], ['lan', 'print', '1']]
WRITES = [
    ['user', 'set', 'name', '3', 'admin'],
    ['user', 'set', 'password', '3', 's3cret-pass'],
    ['user', 'priv', '3', '4', '1'],
    ['channel', 'setaccess', '1', '3', 'link=on', 'ipmi=on', 'callin=on',
     'privilege=4'],
    ['user', 'enable', '3'],
    ['lan', 'set', '1', 'ipsrc', 'static'],
    ['lan', 'set', '1', 'ipaddr', '10.0.0.5'],
    ['lan', 'set', '1', 'defgw', 'ipaddr', '10.0.0.1'],
]
CHANGES = [
    "BMC user 3 'admin' on channel 1: create (was: empty slot), set "
    "password, privilege administrator, enabled",
    'BMC channel 1: static 10.0.0.5/255.255.255.0 gateway 10.0.0.1 (was: '
    'dhcp)']


def test_user_and_static_network(fake):
    result = config.apply('bmc', {'user': USER, 'network': STATIC},
                          tools=fake.tools)
    assert result == {'section': 'bmc', 'changes': CHANGES, 'applied': True,
                      'skipped': None}
    # the netmask already is 255.255.255.0: not set again
    assert fake.calls() == READS + WRITES


def test_dry_run_only_reads(fake):
    result = config.apply('bmc', {'user': USER, 'network': STATIC},
                          tools=fake.tools, dry_run=True)
    assert result['changes'] == CHANGES and result['applied'] is False
    assert fake.calls() == READS


def test_already_configured_changes_nothing(fake):
    fake.set(users=CONFIGURED, lan=LAN_STATIC,
             passwords={'3': 's3cret-pass'})
    result = config.apply('bmc', {'user': USER, 'network': STATIC},
                          tools=fake.tools)
    assert result['changes'] == []
    assert fake.calls() == [['user', 'list', '1'],
                            ['user', 'test', '3', '16', 's3cret-pass'],
                            ['lan', 'print', '1']]


def test_existing_user_with_another_password(fake):
    fake.set(users=CONFIGURED, passwords={'3': 'old'})
    long_password = 'p' * 18
    user = dict(USER, password=long_password, privilege='operator',
                channel=2)
    result = config.apply('bmc', {'user': user}, tools=fake.tools)
    assert result['changes'] == ["BMC user 3 'admin' on channel 2: set "
                                 "password, privilege operator, enabled"]
    # the privilege differs: no need to test the password first
    assert fake.calls() == [
        ['user', 'list', '2'],
        ['user', 'set', 'password', '3', long_password, '20'],
        ['user', 'priv', '3', '3', '2'],
        ['channel', 'setaccess', '2', '3', 'link=on', 'ipmi=on',
         'callin=on', 'privilege=3'],
        ['user', 'enable', '3']]


def test_a_wrong_password_is_set_again(fake):
    fake.set(users=CONFIGURED, passwords={'3': 'old'})
    result = config.apply('bmc', {'user': USER}, tools=fake.tools)
    assert result['changes'] == ["BMC user 3 'admin' on channel 1: set "
                                 "password, privilege administrator, "
                                 "enabled"]
    assert fake.calls()[:3] == [
        ['user', 'list', '1'], ['user', 'test', '3', '16', 's3cret-pass'],
        ['user', 'set', 'password', '3', 's3cret-pass']]


def test_explicit_user_id_and_dhcp(fake):
    fake.set(lan=LAN_STATIC)
    result = config.apply('bmc', {'user': dict(USER, id=2),
                                  'network': {'mode': 'dhcp'}},
                          tools=fake.tools)
    assert result['changes'] == [
        "BMC user 2 'admin' on channel 1: create (was: 'root'), set "
        "password, privilege administrator, enabled",
        'BMC channel 1: dhcp (was: static 10.0.0.5/255.255.255.0)']
    assert fake.calls()[-1] == ['lan', 'set', '1', 'ipsrc', 'dhcp']
    fake.set(lan=LAN_DHCP)
    assert config.apply('bmc', {'network': {'mode': 'dhcp'}},
                        tools=fake.tools)['changes'] == []


def test_no_free_slot(fake):
    fake.set(users='\n'.join(USERS.splitlines()[:3]) + '\n')
    with pytest.raises(config.ConfigError) as info:
        config.apply('bmc', {'user': USER}, tools=fake.tools)
    assert str(info.value) == ('bmc.user: no free user slot on channel 1 '
                               '(give bmc.user.id to reuse one)')


def test_failures_never_show_the_password(fake):
    fake.set(fail={'user set password': 'Set User Password command failed '
                                        '(ARGS)\n'})
    with pytest.raises(config.ConfigError) as info:
        config.apply('bmc', {'user': USER}, tools=fake.tools)
    message = str(info.value)
    assert 's3cret-pass' not in message
    assert message == (
        'ipmitool user set password 3 ****** failed (exit 1): Set User '
        'Password command failed (user set password 3 ******)')


def test_user_mode_without_a_bmc_device(fake, monkeypatch):
    monkeypatch.setattr(bmc, 'IPMI_DEVICES', ('/nonexistent/ipmi0',))
    result = config.apply('bmc', {'user': USER}, tools=fake.tools)
    assert result == {'section': 'bmc', 'changes': [], 'applied': False,
                      'skipped': 'no IPMI device (/nonexistent/ipmi0): no '
                                 'BMC, or the ipmi_si/ipmi_devintf kernel '
                                 'modules are not loaded'}
    assert fake.calls() == []
    # developer mode tries anyway (the fake answers)
    assert config.apply('bmc', {'user': USER}, tools=fake.tools,
                        developer=True)['applied']


def test_without_ipmitool(tmp_path):
    tools = base.Tools(path=str(tmp_path))
    result = config.apply('bmc', {'user': USER}, tools=tools)
    assert result['skipped'] == 'ipmitool not found'
    with pytest.raises(config.ConfigError) as info:
        config.apply('bmc', {'user': USER}, tools=tools, developer=True)
    assert str(info.value) == 'ipmitool not found'


def test_parsers():
    users = bmc.parse_user_list(USERS)
    assert users[2] == {'name': 'root', 'ipmi': True,
                        'privilege': 'administrator'}
    assert users[1] == {'name': '', 'ipmi': False, 'privilege': 'unknown'}
    assert users[3]['privilege'] == 'no access'
    assert bmc.parse_lan_print(LAN_DHCP) == {
        'source': 'dhcp', 'address': '192.168.1.77',
        'netmask': '255.255.255.0', 'gateway': '192.168.1.1'}
    assert bmc.parse_lan_print(LAN_STATIC)['source'] == 'static'
