"""Configuration templates: schema and semantic errors (exact wording, the
operator reads them), sizes, matching rules, loading files and folders."""

import json
import pathlib

import pytest

from bootflow.bootos import templates

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = ROOT / 'tests' / 'fixtures' / 'templates'
EXAMPLE = ROOT / 'etc' / 'bootflow' / 'bootos' / 'templates' / 'example.yaml'


def disk(*partitions, table=None, device='/dev/sda'):
    entry = {'device': device, 'partitions': list(partitions)}
    if table:
        entry['table'] = table
    return entry


def errors(doc):
    with pytest.raises(templates.TemplateError) as info:
        templates.validate(doc)
    return info.value.errors


def error(doc):
    found = errors(doc)
    assert len(found) == 1, found
    return found[0]


# --- sizes -----------------------------------------------------------------

@pytest.mark.parametrize('text,expected', [
    ('512MiB', 512 * 2 ** 20), ('1G', 2 ** 30), ('1GiB', 2 ** 30),
    ('1GB', 10 ** 9), ('20g', 20 * 2 ** 30), ('1.5G', 3 * 2 ** 29),
    ('4 KiB', 4096), ('1kB', 1000), ('100MB', 10 ** 8), ('2T', 2 * 2 ** 40),
    ('4096', 4096), ('4096B', 4096), (4096, 4096),
])
def test_parse_size_bytes(text, expected):
    assert templates.parse_size(text) == templates.Size(bytes=expected)


@pytest.mark.parametrize('text,percent', [('100%', 100), ('rest', 100),
                                          ('REST', 100), ('25%', 25),
                                          ('12.5 %', 12.5)])
def test_parse_size_percent(text, percent):
    size = templates.parse_size(text)
    assert size.percent == percent and size.bytes is None
    assert size.rest == (percent == 100)


@pytest.mark.parametrize('bad', ['12XB', '', 'G', '1iB', '0', 0, -5, '0%',
                                 '101%', '1.5.2G', True, 1.5, None, '-1G'])
def test_parse_size_refuses(bad):
    with pytest.raises(ValueError):
        templates.parse_size(bad)


def test_format_bytes():
    assert templates.format_bytes(512 * 2 ** 20) == '512 MiB'
    assert templates.format_bytes(3 * 2 ** 29) == '1.5 GiB'
    assert templates.format_bytes(100) == '100 B'


# --- schema errors ---------------------------------------------------------

def test_valid_template_is_returned_as_a_copy():
    doc = {'name': 'a', 'disks': [disk({'size': '1G'})]}
    checked = templates.validate(doc)
    assert checked == doc and checked is not doc


def test_bad_size_message():
    doc = {'name': 'a', 'disks': [disk({'size': '1G'}, {'size': '12XB'})]}
    assert error(doc) == ("disks[0].partitions[1].size: '12XB' is not a "
                          "size (use e.g. 512MiB, 20G, 100%)")


def test_missing_name():
    assert error({}) == "template: required key 'name' is missing"


def test_unknown_keys_are_refused_with_the_allowed_ones():
    doc = {'name': 'a', 'disk': [],
           'disks': [dict(disk({'size': '1G', 'fs': 'ext4'}))]}
    assert errors(doc) == [
        'disk: unknown key (expected one of: bios, bmc, description, '
        'disks, match, name, priority, raid)',
        'disks[0].partitions[0].fs: unknown key (expected one of: '
        'filesystem, name, size, type)']


def test_type_and_enum_messages():
    doc = {'name': 'a', 'priority': 'high',
           'disks': [disk({'size': '1G', 'type': 'efi'}, table='mbr')]}
    assert errors(doc) == [
        "disks[0].partitions[0].type: 'efi' is not one of: esp, linux, "
        "swap, raid, lvm, bios_grub",
        "disks[0].table: 'mbr' is not one of: gpt, msdos",
        "priority: expected a whole number, got 'high'"]


def test_device_must_be_a_path_or_a_hint():
    assert error({'name': 'a', 'disks': [disk({'size': '1G'},
                                              device='sda')]}) == (
        "disks[0].device: 'sda' is not a device path (use e.g. /dev/sda)")
    assert error({'name': 'a', 'disks': [disk(
        {'size': '1G'}, device={'hint': {'size': 10}})]}) == (
        'disks[0].device.hint.size: unknown key (expected one of: by_path, '
        'model, name, rotational, serial, size_gb_max, size_gb_min, '
        'vendor, wwn)')


def test_bios_boolean_values_need_quotes():
    doc = {'name': 'a', 'bios': {'settings': {'HyperThreading': True}}}
    assert error(doc) == (
        'bios.settings.HyperThreading: expected a string or a number, got '
        'True (quote values: YAML reads unquoted yes/no/on/off as '
        'true/false)')


def test_password_is_never_echoed():
    doc = {'name': 'a', 'bmc': {'user': {'name': 'admin',
                                         'password': 'x' * 21}}}
    message = error(doc)
    assert message == ('bmc.user.password: must be a string of 1 to 20 '
                       'characters (the IPMI limit)')


def test_match_key_and_value_errors():
    doc = {'name': 'a', 'match': {'disks[x]': 1, 'cpu.count': None}}
    assert errors(doc) == [
        "match: 'disks[x]' is not an inventory path (use e.g. "
        "memory.physical_mb, disks[*].rotational, disks.count)",
        "match['cpu.count']: expected a pattern, a comparison, a number or "
        "true/false, got None"]


def test_several_files_problems_are_all_reported():
    doc = {'name': 'bad name', 'raid': {'volumes': [{'level': 6}]}}
    assert errors(doc) == [
        "name: 'bad name' is not a template name (letters, digits, '.', "
        "'_', '-'; up to 63 characters)",
        'raid.volumes[0].level: 6 is not a supported RAID level (use 0, 1, '
        '5 or 10)']


# --- semantic errors -------------------------------------------------------

def test_only_the_last_partition_may_take_the_rest():
    doc = {'name': 'a', 'disks': [disk({'size': '100%'}, {'size': '1G'})]}
    assert error(doc) == (
        'disks[0].partitions[0].size: only the last partition of a disk may '
        'use 100%/rest (this is partition 1 of 2)')


def test_percentages_cannot_exceed_the_disk():
    doc = {'name': 'a', 'disks': [disk({'size': '60%'}, {'size': '50%'})]}
    assert error(doc) == ('disks[0].partitions: percentages add up to 110%, '
                          'more than the disk')
    doc = {'name': 'a', 'disks': [disk({'size': '60%'}, {'size': '40%'},
                                       {'size': 'rest'})]}
    assert error(doc) == ('disks[0].partitions: percentages add up to 100%, '
                          'more than the disk')


@pytest.mark.parametrize('kind,fs,message', [
    ('swap', 'ext4', 'disks[0].partitions[0].filesystem.type: ext4 does not '
                     'fit a swap partition (use swap)'),
    ('linux', 'swap', 'disks[0].partitions[0].filesystem.type: swap does '
                      'not fit a linux partition (use ext4 or xfs or vfat)'),
    ('esp', 'ext4', 'disks[0].partitions[0].filesystem.type: ext4 does not '
                    'fit a esp partition (use vfat)'),
    ('raid', 'xfs', 'disks[0].partitions[0].filesystem: a raid partition '
                    'holds no filesystem'),
])
def test_filesystem_must_fit_the_partition_type(kind, fs, message):
    doc = {'name': 'a', 'disks': [disk({'size': '1G', 'type': kind,
                                        'filesystem': {'type': fs}})]}
    assert error(doc) == message


def test_label_length_depends_on_the_filesystem():
    doc = {'name': 'a', 'disks': [disk({
        'size': '1G', 'type': 'esp',
        'filesystem': {'type': 'vfat', 'label': 'EFI-SYSTEM-1'}})]}
    assert error(doc) == ("disks[0].partitions[0].filesystem.label: "
                          "'EFI-SYSTEM-1' is too long for vfat (at most 11 "
                          "characters)")


def test_msdos_limits():
    doc = {'name': 'a', 'disks': [disk(
        {'size': '1G', 'name': 'boot'}, {'size': '1G', 'type': 'bios_grub'},
        {'size': '1G'}, {'size': '1G'}, {'size': '1G'}, table='msdos')]}
    assert errors(doc) == [
        'disks[0].partitions: an msdos table holds at most 4 partitions, '
        'got 5',
        'disks[0].partitions[0].name: msdos tables have no partition names',
        'disks[0].partitions[1].type: bios_grub partitions exist on gpt '
        'tables only']


def test_a_disk_is_laid_out_once():
    doc = {'name': 'a', 'disks': [disk({'size': '1G'}),
                                  disk({'size': '2G'})]}
    assert error(doc) == 'disks[1].device: /dev/sda is already laid out by ' \
                         'disks[0]'


@pytest.mark.parametrize('level,count', [('0', 1), ('1', 1), (5, 2),
                                         ('10', 3)])
def test_raid_minimum_disk_counts(level, count):
    members = ['/dev/sd%s' % c for c in 'abcd'[:count]]
    doc = {'name': 'a', 'raid': {'volumes': [{'level': level,
                                              'disks': members}]}}
    minimum = {'0': 2, '1': 2, '5': 3, '10': 4}[str(level)]
    assert error(doc) == ('raid.volumes[0].disks: RAID %s needs at least %d '
                          'disks, got %d' % (level, minimum, count))


def test_raid_selector_counts_too():
    doc = {'name': 'a', 'raid': {'volumes': [{'level': '5', 'disks': {
        'count': 2, 'min_size_gb': 100}}]}}
    assert error(doc) == ('raid.volumes[0].disks: RAID 5 needs at least 3 '
                          'disks, got 2')


def test_software_raid_needs_members():
    doc = {'name': 'a', 'raid': {'volumes': [{'level': 1}]}}
    assert error(doc) == (
        'raid.volumes[0].disks: software RAID (mdadm) needs member disks or '
        'partitions (a list of devices or {count: N})')
    # a hardware controller may choose the disks itself
    templates.validate({'name': 'a', 'raid': {
        'software': False, 'volumes': [{'level': 1}]}})


def test_raid_names_and_members_are_unique():
    doc = {'name': 'a', 'raid': {'volumes': [
        {'name': 'r', 'level': 1, 'disks': ['/dev/sda', '/dev/sdb']},
        {'name': 'r', 'level': 0, 'disks': ['/dev/sdb', '/dev/sdc']}]}}
    assert errors(doc) == [
        "raid.volumes[1].name: 'r' is already used by raid.volumes[0]",
        'raid.volumes[1].disks: /dev/sdb is already a member of '
        'raid.volumes[0]']


def test_raid_selector_and_size_messages():
    doc = {'name': 'a', 'raid': {'volumes': [
        {'level': 1, 'disks': '/dev/sda', 'size_gb': 'max'}]}}
    assert errors(doc) == [
        "raid.volumes[0].disks: expected a list of devices or a selector "
        "like {count: 2, min_size_gb: 100}, got '/dev/sda'",
        "raid.volumes[0].size_gb: 'max' is not a size in GiB (use MAX or a "
        "whole number)"]


def test_bmc_static_needs_address_and_netmask():
    doc = {'name': 'a', 'bmc': {'network': {'mode': 'static',
                                            'gateway': '10.0.0.1'}}}
    assert errors(doc) == ['bmc.network: mode static needs address',
                           'bmc.network: mode static needs netmask']


def test_bmc_addresses():
    doc = {'name': 'a', 'bmc': {'network': {
        'mode': 'static', 'address': '10.0.0.300', 'netmask': '255.0.0.0'}}}
    assert error(doc) == ("bmc.network.address: '10.0.0.300' is not an IPv4 "
                          "address")
    doc['bmc']['network'].update(address='10.0.0.3', netmask='255.0.255.0')
    assert error(doc) == ("bmc.network.netmask: '255.0.255.0' is not a "
                          "netmask (use e.g. 255.255.255.0)")
    doc['bmc']['network'] = {'mode': 'dhcp', 'address': '10.0.0.3'}
    assert error(doc) == 'bmc.network.address: only used with mode static'


def test_bmc_needs_something():
    assert error({'name': 'a', 'bmc': {}}) == (
        'bmc: expected a mapping with user and/or network, got {}')


def test_match_comparison_operand():
    doc = {'name': 'a', 'match': {'memory.physical_mb': '>= lots'}}
    assert error(doc) == ("match['memory.physical_mb']: '>= lots' is not a "
                          "comparison (use e.g. \">= 16384\", \"< 4\", "
                          "\"> 100GiB\")")
    # equality may compare text
    templates.validate({'name': 'a', 'match': {'boot.current_boot_mode':
                                               '== uefi'}})


def test_validate_section():
    spec = [disk({'size': '12XB'})]
    with pytest.raises(templates.TemplateError) as info:
        templates.validate_section('disks', spec)
    assert str(info.value) == ("disks[0].partitions[0].size: '12XB' is not "
                               "a size (use e.g. 512MiB, 20G, 100%)")
    assert templates.validate_section('bmc', {'network': {
        'mode': 'dhcp'}}) == {'network': {'mode': 'dhcp'}}
    with pytest.raises(templates.TemplateError, match="unknown section "
                       "'partitions' \\(expected one of: bios, raid, bmc, "
                       "disks\\)"):
        templates.validate_section('partitions', [])


# --- matching --------------------------------------------------------------

INVENTORY = {
    'cpu': {'count': 16, 'architecture': 'x86_64',
            'flags': ['fpu', 'vmx', 'sse4_2']},
    'memory': {'physical_mb': 32768, 'total': 33554432000},
    'disks': [{'name': '/dev/sda', 'size': 480 * 10 ** 9,
               'rotational': False, 'model': 'SSD 860'},
              {'name': '/dev/sdb', 'size': 4 * 10 ** 12,
               'rotational': True, 'model': 'HGST HUS'}],
    'interfaces': [{'name': 'eno1', 'mac_address': 'aa:bb:cc:dd:ee:01',
                    'has_carrier': True}],
    'system_vendor': {'manufacturer': 'Dell Inc.',
                      'product_name': 'PowerEdge R640'},
    'boot': {'current_boot_mode': 'uefi'},
}


def make(name, priority=0, **rules):
    return templates.Template({'name': name, 'priority': priority,
                               'match': rules})


@pytest.mark.parametrize('path,rule,expected', [
    ('system_vendor.manufacturer', 'Dell*', True),
    ('system_vendor.manufacturer', 'dell inc.', True),
    ('system_vendor.manufacturer', 'HP*', False),
    ('memory.physical_mb', '>= 16384', True),
    ('memory.physical_mb', '< 16384', False),
    ('memory.physical_mb', 32768, True),
    ('memory.total', '> 30GiB', True),
    ('cpu.count', '== 16', True),
    ('cpu.count', '!= 16', False),
    ('disks.count', '>= 2', True),
    ('disks.count', '> 2', False),
    ('interfaces.count', 1, True),
    ('disks[*].rotational', False, True),
    ('disks[0].rotational', True, False),
    ('disks[1].rotational', True, True),
    ('disks[5].rotational', True, False),
    ('disks[*].size', '> 1TB', True),
    ('disks[*].model', 'HGST*', True),
    ('interfaces[*].mac_address', 'AA:BB:*', True),
    ('interfaces[*].has_carrier', True, True),
    ('interfaces[*].has_carrier', 'true', True),
    ('cpu.flags', 'vmx', True),
    ('cpu.flags', 'svm', False),
    ('cpu.flags.count', 3, True),
    ('boot.current_boot_mode', '== UEFI', True),
    ('bmc_address', '*', False),            # missing never matches
    ('memory.physical_mb', True, False),    # booleans match booleans only
])
def test_rules(path, rule, expected):
    assert make('t', **{path: rule}).matches(INVENTORY) is expected


def test_mismatches_explain():
    template = make('t', **{'memory.physical_mb': '>= 65536',
                            'system_vendor.manufacturer': 'Dell*',
                            'bmc_address': '10.*'})
    assert template.mismatches(INVENTORY) == [
        "memory.physical_mb: 32768 does not satisfy '>= 65536'",
        'bmc_address: not in the inventory']


def test_match_picks_highest_priority_then_name():
    low = make('low', 1, **{'cpu.count': '>= 1'})
    b = make('b', 5, **{'cpu.count': '>= 1'})
    a = make('a', 5, **{'memory.physical_mb': '>= 1'})
    other = make('other', 99, **{'system_vendor.manufacturer': 'HP*'})
    found = templates.match({t.name: t for t in (low, b, a, other)},
                            INVENTORY)
    assert found is a
    assert templates.match([low, other], INVENTORY) is low
    assert templates.match([other], INVENTORY) is None
    assert templates.match([], INVENTORY) is None


def test_no_rules_match_everything():
    assert templates.Template({'name': 'any'}).matches({})


def test_template_object():
    template = templates.Template({'name': 't', 'disks': [disk(
        {'size': '1G'})], 'bios': {'settings': {'A': 'B'}},
        'bmc': {'network': {'mode': 'dhcp'}}})
    assert template.name == 't' and template.priority == 0
    assert [s for s, _spec in template.sections()] == ['bios', 'bmc',
                                                       'disks']
    assert template.sections()[0] == ('bios', {'settings': {'A': 'B'}})
    assert template.doc['disks'][0]['device'] == '/dev/sda'


# --- files -----------------------------------------------------------------

def test_fixtures_and_example_load():
    found = templates.load_dir(FIXTURES)
    assert sorted(found) == ['default', 'ssd-node', 'web-node']
    web = found['web-node']
    assert web.priority == 10 and web.source.endswith('web-node.yaml')
    assert [s for s, _spec in web.sections()] == list(templates.SECTIONS)
    assert templates.match(found, INVENTORY) is web
    ssd_only = dict(INVENTORY, system_vendor={'manufacturer': 'HPE'})
    assert templates.match(found, ssd_only).name == 'ssd-node'
    assert templates.match(found, {}).name == 'default'
    example = templates.load_file(str(EXAMPLE))
    assert example.name == 'example'
    assert example.matches(INVENTORY)


def test_load_file_errors_name_the_file(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('name: x\ndisks:\n  - device: /dev/sda\n'
                   '    partitions: [{size: 12XB}]\n')
    with pytest.raises(templates.TemplateError) as info:
        templates.load_file(str(bad))
    assert str(info.value) == (
        "%s: disks[0].partitions[0].size: '12XB' is not a size (use e.g. "
        "512MiB, 20G, 100%%)" % bad)


def test_yaml_and_json_syntax_errors(tmp_path):
    broken = tmp_path / 'broken.yaml'
    broken.write_text('name: x\n  priority: 1\n')
    with pytest.raises(templates.TemplateError) as info:
        templates.load_file(str(broken))
    assert str(info.value) == ('%s: line 2, column 11: mapping values are '
                               'not allowed here' % broken)
    broken = tmp_path / 'broken.json'
    broken.write_text('{"name": "x",}')
    with pytest.raises(templates.TemplateError) as info:
        templates.load_file(str(broken))
    assert str(info.value) == ('%s: line 1, column 14: Expecting property '
                               'name enclosed in double quotes' % broken)


def test_duplicate_yaml_keys_are_refused(tmp_path):
    path = tmp_path / 'twice.yaml'
    path.write_text('name: x\npriority: 1\npriority: 2\n')
    with pytest.raises(templates.TemplateError) as info:
        templates.load_file(str(path))
    assert str(info.value) == "%s: line 3, column 1: duplicate key " \
                              "'priority'" % path


def test_empty_and_unreadable_files(tmp_path):
    empty = tmp_path / 'empty.yaml'
    empty.write_text('# nothing\n')
    with pytest.raises(templates.TemplateError,
                       match='empty.yaml: the file is empty'):
        templates.load_file(str(empty))
    with pytest.raises(templates.TemplateError,
                       match='missing.yaml: cannot read: No such file'):
        templates.load_file(str(tmp_path / 'missing.yaml'))


def test_load_dir_reports_duplicates_and_all_broken_files(tmp_path):
    (tmp_path / 'a.yaml').write_text('name: web\n')
    (tmp_path / 'b.json').write_text(json.dumps({'name': 'web'}))
    (tmp_path / 'c.yml').write_text('name: c\npriority: x\n')
    (tmp_path / 'notes.txt').write_text('not a template')
    (tmp_path / '.hidden.yaml').write_text('broken: [')
    with pytest.raises(templates.TemplateError) as info:
        templates.load_dir(str(tmp_path))
    assert info.value.errors == [
        "duplicate template name 'web' in %s and %s"
        % (tmp_path / 'a.yaml', tmp_path / 'b.json'),
        "%s: priority: expected a whole number, got 'x'"
        % (tmp_path / 'c.yml')]


def test_load_dir_missing(tmp_path):
    with pytest.raises(templates.TemplateError, match='cannot read '
                       'directory: No such file or directory'):
        templates.load_dir(str(tmp_path / 'nope'))
    assert templates.load_dir(str(tmp_path)) == {}
