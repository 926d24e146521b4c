"""What a valid BootOS configuration template is, and the checks that say so.

A template is checked in two passes: the JSON schema (``SCHEMA``) for the
document's shape, then the semantic checks for what a schema cannot say
(partition layout against the table type, RAID member counts, a static BMC
network's addresses, comparisons in ``match:`` rules). ``validate`` runs
both on a whole template, ``validate_section`` on the one section the agent
receives, and both report every problem found, not just the first. Errors
name the offending field by its path in the document
("disks[0].partitions[1].size: ...") because the operator has a YAML file
to fix, not a Python object.

This module also holds the vocabulary the schema is built from (sections,
partition types, filesystems, sizes, ``TemplateError``), so it depends on
nothing else in bootflow; ``templates`` (matching, loading files) builds on
it and re-exports its public names, never the other way round.
"""

import copy
import decimal
import ipaddress
import re
import typing

import jsonschema

SECTIONS = ('bios', 'raid', 'bmc', 'disks')

# partition type -> (GPT type GUID, MBR type id); bios_grub exists on GPT only
PARTITION_TYPES = {
    'esp': ('C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'ef'),
    'linux': ('0FC63DAF-8483-4772-8E79-3D69D8477DE4', '83'),
    'swap': ('0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', '82'),
    'raid': ('A19D880F-05FC-4D3B-A006-743F0F84911E', 'fd'),
    'lvm': ('E6D6D379-F507-44C2-A23C-238F2A3DF928', '8e'),
    'bios_grub': ('21686148-6449-6E6F-744E-656564454649', None),
}
# which filesystems make sense on which partition type (empty: none at all)
FILESYSTEMS_FOR = {'esp': ('vfat',), 'linux': ('ext4', 'xfs', 'vfat'),
                   'swap': ('swap',), 'raid': (), 'lvm': (), 'bios_grub': ()}
LABEL_MAX = {'vfat': 11, 'xfs': 12, 'ext4': 16, 'swap': 15}
RAID_MIN_DISKS = {'0': 2, '1': 2, '5': 3, '10': 4}
MSDOS_MAX_PARTITIONS = 4    # primary partitions; extended ones not offered


class TemplateError(ValueError):
    """A template (or one of its sections) is unusable.

    ``errors`` lists every problem found, each prefixed with the file when
    known, so an operator fixes a file in one go instead of one error per
    reload; ``str()`` joins them with "; ".
    """

    def __init__(self, errors, source=None):
        if isinstance(errors, str):
            errors = [errors]
        self.source = source
        self.errors = ['%s: %s' % (source, e) if source else e
                       for e in errors]
        super().__init__('; '.join(self.errors))


# --- sizes -----------------------------------------------------------------

class Size(typing.NamedTuple):
    """A partition size: an absolute byte count or a share of the disk.

    ``percent == 100`` ("100%" or "rest") means "whatever is left", which
    only the last partition of a disk may ask for.
    """
    bytes: typing.Optional[int] = None
    percent: typing.Optional[float] = None

    @property
    def rest(self):
        return self.percent == 100


_SIZE_RE = re.compile(r'(\d+(?:\.\d+)?)\s*(?:([KMGTPE])(i)?)?(B)?', re.I)
_PERCENT_RE = re.compile(r'(\d+(?:\.\d+)?)\s*%')
_EXPONENT = {'K': 1, 'M': 2, 'G': 3, 'T': 4, 'P': 5, 'E': 6}


def parse_size(value):
    """Turn "512MiB", "20G", "1GB", 4096, "100%" or "rest" into a Size.

    Bare unit letters and the IEC "iB" forms are binary (1G = 1GiB =
    1024**3) because that is what disk tools mean by them; only the SI
    "KB/MB/GB/TB" spellings are decimal. Raises ValueError.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError('not a size: %r' % (value,))
    if isinstance(value, int):
        if value <= 0:
            raise ValueError('size must be positive')
        return Size(bytes=value)
    text = value.strip()
    if text.lower() == 'rest':
        return Size(percent=100)
    match = _PERCENT_RE.fullmatch(text)
    if match:
        percent = float(match.group(1))
        if not 0 < percent <= 100:
            raise ValueError('a percentage must be within 0-100')
        return Size(percent=percent)
    match = _SIZE_RE.fullmatch(text)
    if not match:
        raise ValueError('not a size: %r' % (value,))
    number, prefix, iec, unit_b = match.groups()
    if prefix is None:
        if iec:
            raise ValueError('not a size: %r' % (value,))
        factor = 1
    else:
        base = 1000 if unit_b and not iec else 1024
        factor = base ** _EXPONENT[prefix.upper()]
    result = int(decimal.Decimal(number) * factor)
    if result <= 0:
        raise ValueError('size must be positive')
    return Size(bytes=result)


# --- schema ----------------------------------------------------------------

_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks('size')
def _is_size(value):
    try:
        parse_size(value)
    except ValueError:
        return False
    return True


@_FORMATS.checks('ipv4')
def _is_ipv4(value):
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def _obj(properties, required=(), **extra):
    return dict(type='object', additionalProperties=False,
                properties=properties, required=list(required), **extra)


# "x-error" replaces jsonschema's wording for failures at that node (except
# missing/unknown keys); "{value}" is the offending value's repr.
_SIZE = {'type': ['string', 'integer'], 'format': 'size',
         'x-error': '{value} is not a size (use e.g. 512MiB, 20G, 100%)'}
_DEV_PATH = {'type': 'string', 'pattern': r'^/dev/\S+$',
             'x-error': '{value} is not a device path (use e.g. /dev/sda)'}
_IPV4 = {'type': 'string', 'format': 'ipv4',
         'x-error': '{value} is not an IPv4 address'}
_CHANNEL = {'type': 'integer', 'minimum': 0, 'maximum': 15,
            'x-error': '{value} is not an IPMI channel (0-15)'}
_TOKEN = r'[A-Za-z0-9_-]+(\[(\d+|\*)\])*'
MATCH_PATH_RE = re.compile(r'%s(\.%s)*' % (_TOKEN, _TOKEN))

_MATCH = {
    'type': 'object',
    'propertyNames': {
        'pattern': '^%s$' % MATCH_PATH_RE.pattern,
        'x-error': '{value} is not an inventory path (use e.g. '
                   'memory.physical_mb, disks[*].rotational, disks.count)'},
    'additionalProperties': {
        'type': ['string', 'number', 'boolean'],
        'x-error': 'expected a pattern, a comparison, a number or '
                   'true/false, got {value}'},
}
_BIOS = _obj({'settings': {
    'type': 'object', 'minProperties': 1,
    'additionalProperties': {
        'type': ['string', 'integer'],
        'x-error': 'expected a string or a number, got {value} (quote '
                   'values: YAML reads unquoted yes/no/on/off as '
                   'true/false)'}}}, ['settings'])
_SELECTOR = _obj({'count': {'type': 'integer', 'minimum': 1},
                  'min_size_gb': {'type': 'number', 'minimum': 0},
                  'rotational': {'type': 'boolean'}}, ['count'],
                 **{'x-error': 'expected a list of devices or a selector '
                               'like {{count: 2, min_size_gb: 100}}, '
                               'got {value}'})
_VOLUME = _obj({
    'name': {'type': 'string', 'pattern': r'^[A-Za-z0-9_.-]{1,32}$',
             'x-error': '{value} is not an array name (letters, digits, '
                        "'.', '_', '-'; up to 32 characters)"},
    'level': {'enum': ['0', '1', '5', '10', 0, 1, 5, 10],
              'x-error': '{value} is not a supported RAID level '
                         '(use 0, 1, 5 or 10)'},
    'disks': {'if': {'type': 'array'},
              'then': {'minItems': 1, 'items': _DEV_PATH},
              'else': _SELECTOR},
    'size_gb': {'anyOf': [{'const': 'MAX'},
                          {'type': 'integer', 'minimum': 1}],
                'x-error': '{value} is not a size in GiB '
                           '(use MAX or a whole number)'},
}, ['level'])
_RAID = _obj({'software': {'enum': [True, False, 'auto']},
              'volumes': {'type': 'array', 'items': _VOLUME}}, ['volumes'])
_BMC = _obj({
    'user': _obj({
        'name': {'type': 'string', 'pattern': r'^[A-Za-z0-9_.-]{1,16}$',
                 'x-error': '{value} is not a BMC user name (letters, '
                            "digits, '.', '_', '-'; up to 16 characters)"},
        'password': {'type': 'string', 'minLength': 1, 'maxLength': 20,
                     'x-error': 'must be a string of 1 to 20 characters '
                                '(the IPMI limit)'},
        'channel': _CHANNEL,
        'privilege': {'enum': ['callback', 'user', 'operator',
                               'administrator']},
        'id': {'type': 'integer', 'minimum': 2, 'maximum': 63,
               'x-error': '{value} is not a BMC user id (2-63; 1 is the '
                          'anonymous user)'},
    }, ['name', 'password']),
    'network': _obj({'mode': {'enum': ['static', 'dhcp']},
                     'address': _IPV4, 'netmask': _IPV4, 'gateway': _IPV4,
                     'channel': _CHANNEL}, ['mode']),
}, minProperties=1, **{'x-error': 'expected a mapping with user and/or '
                                  'network, got {value}'})
_HINT = _obj({
    'name': {'type': 'string'}, 'model': {'type': 'string'},
    'vendor': {'type': 'string'}, 'serial': {'type': 'string'},
    'wwn': {'type': 'string'}, 'by_path': {'type': 'string'},
    'size_gb_min': {'type': 'number', 'minimum': 0},
    'size_gb_max': {'type': 'number', 'minimum': 0},
    'rotational': {'type': 'boolean'},
}, minProperties=1)
_PARTITION = _obj({
    'name': {'type': 'string', 'pattern': r'^[A-Za-z0-9_.+-]{1,36}$',
             'x-error': '{value} is not a partition name (letters, digits, '
                        "'.', '_', '+', '-'; up to 36 characters)"},
    'size': _SIZE,
    'type': {'enum': list(PARTITION_TYPES)},
    'filesystem': _obj({
        'type': {'enum': sorted(LABEL_MAX)},
        'label': {'type': 'string', 'pattern': r'^[A-Za-z0-9_.-]+$',
                  'x-error': "{value} is not a label (letters, digits, '.',"
                             " '_', '-')"}}, ['type']),
}, ['size'])
_DISK = _obj({
    'device': {'if': {'type': 'object'},
               'then': _obj({'hint': _HINT}, ['hint']),
               'else': _DEV_PATH},
    'table': {'enum': ['gpt', 'msdos']},
    'partitions': {'type': 'array', 'minItems': 1, 'items': _PARTITION},
}, ['device', 'partitions'])
_SECTION_SCHEMAS = {'bios': _BIOS, 'raid': _RAID, 'bmc': _BMC,
                    'disks': {'type': 'array', 'minItems': 1,
                              'items': _DISK}}

SCHEMA = dict(_obj(dict({
    'name': {'type': 'string',
             'pattern': r'^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$',
             'x-error': '{value} is not a template name (letters, digits, '
                        "'.', '_', '-'; up to 63 characters)"},
    'description': {'type': 'string'},
    'priority': {'type': 'integer'},
    'match': _MATCH,
}, **_SECTION_SCHEMAS), ['name']), **{
    '$schema': 'https://json-schema.org/draft/2020-12/schema',
    'title': 'bootflow BootOS configuration template'})
_SECTION_DOC = dict(SCHEMA, required=[])
_VALIDATORS = {}

_TYPE_NAMES = {'string': 'a string', 'integer': 'a whole number',
               'number': 'a number', 'boolean': 'true or false',
               'object': 'a mapping', 'array': 'a list', 'null': 'null'}


def format_path(parts):
    """["disks", 0, "size"] -> "disks[0].size"; odd keys get quoted."""
    out = ''
    for part in parts:
        if isinstance(part, int):
            out += '[%d]' % part
        elif re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', part):
            out += ('.' if out else '') + part
        else:
            out += '[%r]' % (part,)
    return out or 'template'


def show_value(value):
    """A value for an error message: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def _describe(error):
    """jsonschema's error -> our messages (several for unknown keys)."""
    path = list(error.absolute_path)
    where = format_path(path)
    kind = error.validator
    if kind == 'required':
        return ["%s: required key '%s' is missing" % (where, key)
                for key in error.validator_value
                if key not in error.instance]
    if kind == 'additionalProperties':
        known = sorted(error.schema.get('properties', {}))
        return ['%s: unknown key (expected one of: %s)'
                % (format_path(path + [key]), ', '.join(known))
                for key in error.instance if key not in known]
    custom = error.schema.get('x-error')
    if custom:
        return ['%s: %s' % (
            where, custom.format(value=show_value(error.instance)))]
    if kind == 'type':
        kinds = error.validator_value
        kinds = [kinds] if isinstance(kinds, str) else kinds
        return ['%s: expected %s, got %s' % (
            where, ' or '.join(_TYPE_NAMES[k] for k in kinds),
            show_value(error.instance))]
    if kind == 'enum':
        return ['%s: %s is not one of: %s' % (
            where, show_value(error.instance),
            ', '.join(str(v) for v in error.validator_value))]
    if kind in ('minItems', 'minProperties'):
        return ['%s: must not be empty' % where]
    return ['%s: %s' % (where, error.message)]


def _schema_problems(doc, schema):
    key = id(schema)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = jsonschema.Draft202012Validator(
            schema, format_checker=_FORMATS)
    found = []
    errors = sorted(_VALIDATORS[key].iter_errors(doc), key=lambda e: [
        (isinstance(p, int), p) for p in e.absolute_path])
    for error in errors:
        for text in _describe(error):
            if text not in found:
                found.append(text)
    return found


# --- comparisons in match rules (checked here, evaluated by templates) -----

COMPARISON_RE = re.compile(r'\s*(>=|<=|==|!=|>|<)\s*(.*?)\s*')


def comparison_operand(text):
    """A comparison's right side as a number; sizes become bytes."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    try:
        size = parse_size(text)
    except ValueError:
        return None
    return size.bytes


# --- semantic checks (what a schema cannot say) ----------------------------

def _check_partitions(disk, where):
    problems = []
    parts = disk['partitions']
    table = disk.get('table', 'gpt')
    if table == 'msdos' and len(parts) > MSDOS_MAX_PARTITIONS:
        problems.append('%s.partitions: an msdos table holds at most %d '
                        'partitions, got %d'
                        % (where, MSDOS_MAX_PARTITIONS, len(parts)))
    percent = 0
    for index, part in enumerate(parts):
        at = '%s.partitions[%d]' % (where, index)
        size = parse_size(part['size'])
        if size.rest and index != len(parts) - 1:
            problems.append('%s.size: only the last partition of a disk may '
                            'use 100%%/rest (this is partition %d of %d)'
                            % (at, index + 1, len(parts)))
        elif size.percent is not None and not size.rest:
            percent += size.percent
        kind = part.get('type', 'linux')
        if table == 'msdos' and kind == 'bios_grub':
            problems.append('%s.type: bios_grub partitions exist on gpt '
                            'tables only' % at)
        if table == 'msdos' and 'name' in part:
            problems.append('%s.name: msdos tables have no partition names'
                            % at)
        problems.extend(_check_filesystem(part, kind, at))
    if percent > 100 or (percent == 100 and parse_size(
            parts[-1]['size']).rest):
        problems.append('%s.partitions: percentages add up to %g%%, more '
                        'than the disk' % (where, percent))
    return problems


def _check_filesystem(part, kind, at):
    fs = part.get('filesystem')
    if not fs:
        return []
    allowed = FILESYSTEMS_FOR[kind]
    if fs['type'] not in allowed:
        if not allowed:
            return ['%s.filesystem: a %s partition holds no filesystem'
                    % (at, kind)]
        return ['%s.filesystem.type: %s does not fit a %s partition '
                '(use %s)' % (at, fs['type'], kind, ' or '.join(allowed))]
    label = fs.get('label')
    if label and len(label) > LABEL_MAX[fs['type']]:
        return ['%s.filesystem.label: %r is too long for %s (at most %d '
                'characters)' % (at, label, fs['type'],
                                 LABEL_MAX[fs['type']])]
    return []


def _check_disks(disks):
    problems, seen = [], {}
    for index, disk in enumerate(disks):
        where = 'disks[%d]' % index
        device = disk['device']
        if isinstance(device, str):
            if device in seen:
                problems.append('%s.device: %s is already laid out by %s'
                                % (where, device, seen[device]))
            seen.setdefault(device, where)
        problems.extend(_check_partitions(disk, where))
    return problems


def _check_raid(raid):
    problems, names, members = [], {}, {}
    software = raid.get('software', 'auto')
    for index, volume in enumerate(raid['volumes']):
        where = 'raid.volumes[%d]' % index
        level = str(volume['level'])
        name = volume.get('name', str(index))
        if name in names:
            problems.append('%s.name: %r is already used by %s'
                            % (where, name, names[name]))
        names.setdefault(name, where)
        disks = volume.get('disks')
        if disks is None:
            if software is not False:
                problems.append(
                    '%s.disks: software RAID (mdadm) needs member disks or '
                    'partitions (a list of devices or {count: N})' % where)
            continue
        count = len(disks) if isinstance(disks, list) else disks['count']
        if count < RAID_MIN_DISKS[level]:
            problems.append('%s.disks: RAID %s needs at least %d disks, got '
                            '%d' % (where, level, RAID_MIN_DISKS[level],
                                    count))
        for device in disks if isinstance(disks, list) else ():
            if device in members:
                problems.append('%s.disks: %s is already a member of %s'
                                % (where, device, members[device]))
            members.setdefault(device, where)
    return problems


def _check_bmc(bmc):
    net = bmc.get('network')
    if not net:
        return []
    if net['mode'] == 'dhcp':
        return ['bmc.network.%s: only used with mode static' % key
                for key in ('address', 'netmask', 'gateway') if key in net]
    problems = ['bmc.network: mode static needs %s' % key
                for key in ('address', 'netmask') if key not in net]
    if 'netmask' in net:
        try:
            ipaddress.IPv4Network('0.0.0.0/%s' % net['netmask'])
        except ValueError:
            problems.append('bmc.network.netmask: %r is not a netmask (use '
                            'e.g. 255.255.255.0)' % net['netmask'])
    return problems


def _check_match(rules):
    problems = []
    for path, rule in rules.items():
        if not isinstance(rule, str):
            continue
        found = COMPARISON_RE.fullmatch(rule)
        if found and found.group(1) not in ('==', '!=') and (
                comparison_operand(found.group(2)) is None):
            problems.append(
                '%s: %r is not a comparison (use e.g. ">= 16384", "< 4", '
                '"> 100GiB")' % (format_path(['match', path]), rule))
    return problems


def _semantic_problems(doc):
    problems = _check_match(doc.get('match', {}))
    if 'disks' in doc:
        problems += _check_disks(doc['disks'])
    if 'raid' in doc:
        problems += _check_raid(doc['raid'])
    if 'bmc' in doc:
        problems += _check_bmc(doc['bmc'])
    return problems


def validate(doc):
    """Check a whole template; returns a deep copy, raises TemplateError."""
    problems = _schema_problems(doc, SCHEMA)
    if not problems:
        problems = _semantic_problems(doc)
    if problems:
        raise TemplateError(problems)
    return copy.deepcopy(doc)


def validate_section(section, spec):
    """Check one section alone, as the agent receives it from the server.

    Messages keep the section's name as their first path element, so they
    read the same as when the whole template was checked.
    """
    if section not in SECTIONS:
        raise TemplateError('unknown section %r (expected one of: %s)'
                            % (section, ', '.join(SECTIONS)))
    doc = {section: spec}
    problems = _schema_problems(doc, _SECTION_DOC) or _semantic_problems(doc)
    if problems:
        raise TemplateError(problems)
    return copy.deepcopy(spec)
