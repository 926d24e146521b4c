"""The ``bmc`` section: a BMC user and the BMC's LAN settings, through
ipmitool talking to the local BMC (the in-band /dev/ipmi0 interface).

The current state is read first (``user list``, ``user test``,
``lan print``) so that only what differs is changed and a dry-run can say
what would change. Passwords never appear in changes, logs or errors: the
tool runner masks them.
"""

import os
import re

from bootflow.agent.config import base

ConfigError = base.ConfigError

IPMI_DEVICES = ('/dev/ipmi0', '/dev/ipmi/0', '/dev/ipmidev/0')
PRIVILEGES = {'callback': 1, 'user': 2, 'operator': 3, 'administrator': 4}
# "ID  Name  Callin  Link Auth  IPMI Msg  Channel Priv Limit"
_USER_LINE = re.compile(r'^(\d+)\s+(.*?)\s*\b(true|false)\s+(true|false)'
                        r'\s+(true|false)\s+(.*?)\s*$')
_LAN_KEYS = {'IP Address Source': 'source', 'IP Address': 'address',
             'Subnet Mask': 'netmask', 'Default Gateway IP': 'gateway'}


def parse_user_list(text):
    """{id: {name, ipmi, privilege}} from ``ipmitool user list``."""
    users = {}
    for line in text.splitlines():
        found = _USER_LINE.match(line.strip())
        if found:
            uid, name, _callin, _link, ipmi, priv = found.groups()
            users[int(uid)] = {'name': name, 'ipmi': ipmi == 'true',
                               'privilege': priv.split(' (')[0].lower()}
    return users


def parse_lan_print(text):
    """{source: static|dhcp|..., address, netmask, gateway}."""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition(':')
        name = _LAN_KEYS.get(key.strip())
        if sep and name:
            found[name] = value.strip()
    source = found.get('source', '').lower()
    found['source'] = ('static' if 'static' in source
                       else 'dhcp' if 'dhcp' in source else source)
    return found


def _user_id(user, users, channel):
    if 'id' in user:
        return user['id']
    for uid, entry in sorted(users.items()):
        if entry['name'] == user['name']:
            return uid
    for uid, entry in sorted(users.items()):
        if uid >= 2 and not entry['name']:
            return uid
    raise ConfigError('bmc.user: no free user slot on channel %d (give '
                      'bmc.user.id to reuse one)' % channel)


def _password_ok(uid, password, tools):
    width = '20' if len(password) > 16 else '16'
    rc, _out, _err = tools.call(['ipmitool', 'user', 'test', str(uid),
                                 width, password], secrets=[password])
    return rc == 0


def _plan_user(user, tools):
    channel = user.get('channel', 1)
    privilege = user.get('privilege', 'administrator')
    level = str(PRIVILEGES[privilege])
    users = parse_user_list(tools.run(['ipmitool', 'user', 'list',
                                       str(channel)]))
    uid = _user_id(user, users, channel)
    entry = users.get(uid, {'name': '', 'ipmi': False, 'privilege': ''})
    password = user['password']
    if (entry['name'] == user['name'] and entry['ipmi']
            and entry['privilege'] == privilege
            and _password_ok(uid, password, tools)):
        return [], []
    sid, sch = str(uid), str(channel)
    steps = []
    if entry['name'] != user['name']:
        steps.append(['ipmitool', 'user', 'set', 'name', sid, user['name']])
    steps += [
        ['ipmitool', 'user', 'set', 'password', sid, password]
        + (['20'] if len(password) > 16 else []),
        ['ipmitool', 'user', 'priv', sid, level, sch],
        ['ipmitool', 'channel', 'setaccess', sch, sid, 'link=on',
         'ipmi=on', 'callin=on', 'privilege=%s' % level],
        ['ipmitool', 'user', 'enable', sid],
    ]
    action = ('set password' if entry['name'] == user['name']
              else 'create (was: %s), set password'
              % (repr(entry['name']) if entry['name'] else 'empty slot'))
    change = ('BMC user %d %r on channel %d: %s, privilege %s, enabled'
              % (uid, user['name'], channel, action, privilege))
    return steps, [change]


def _plan_network(net, tools):
    channel = net.get('channel', 1)
    sch = str(channel)
    now = parse_lan_print(tools.run(['ipmitool', 'lan', 'print', sch]))
    was = now.get('source') or 'unknown'
    if now.get('source') == 'static':
        was += ' %s/%s' % (now.get('address'), now.get('netmask'))
    if net['mode'] == 'dhcp':
        if now.get('source') == 'dhcp':
            return [], []
        return ([['ipmitool', 'lan', 'set', sch, 'ipsrc', 'dhcp']],
                ['BMC channel %d: dhcp (was: %s)' % (channel, was)])
    steps = []
    if now.get('source') != 'static':
        steps.append(['ipmitool', 'lan', 'set', sch, 'ipsrc', 'static'])
    for key, args in (('address', ['ipaddr']), ('netmask', ['netmask']),
                      ('gateway', ['defgw', 'ipaddr'])):
        if key in net and now.get(key) != net[key]:
            steps.append(['ipmitool', 'lan', 'set', sch] + args + [net[key]])
    if not steps:
        return [], []
    text = 'BMC channel %d: static %s/%s' % (channel, net['address'],
                                             net['netmask'])
    if 'gateway' in net:
        text += ' gateway %s' % net['gateway']
    return steps, ['%s (was: %s)' % (text, was)]


def run(spec, ctx):
    """Apply (or plan) the ``bmc`` section."""
    if ctx.tools.which('ipmitool') is None:
        return ctx.unsupported('bmc', 'ipmitool not found')
    if not ctx.developer and not any(os.path.exists(d)
                                     for d in IPMI_DEVICES):
        return ctx.result('bmc', [], skipped=(
            'no IPMI device (%s): no BMC, or the ipmi_si/ipmi_devintf '
            'kernel modules are not loaded' % IPMI_DEVICES[0]))
    steps, changes = [], []
    for key, planner in (('user', _plan_user), ('network', _plan_network)):
        if key in spec:
            more_steps, more_changes = planner(spec[key], ctx.tools)
            steps += more_steps
            changes += more_changes
    if not ctx.dry_run:
        secret = [spec.get('user', {}).get('password')]
        for argv in steps:
            ctx.tools.run(argv, secrets=secret)
    return ctx.result('bmc', changes)
