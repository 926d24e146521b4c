"""BootOS configuration templates: what an operator declares for a class of
machines (BIOS settings, RAID volumes, BMC access, disk layout) and the
rules that pick a template for a machine from its inventory.

The server loads templates from files (``load_dir``), matches them against
an inspected machine's inventory and sends one section at a time to the
agent, which re-validates the section (``validate_section``) before acting
on it, so a malformed document never reaches a disk.

This module is the entry point other code imports: it holds matching and
file loading, while what makes a document valid (the schema, the semantic
checks, size parsing and ``TemplateError``) lives in ``template_schema``
and is re-exported from here, so callers need not know about the split.

Matching (``match``) in short, see ``Template.mismatches`` for the details:
every rule of ``match:`` must hold; a rule maps a dotted inventory path to

- a string: an fnmatch pattern, case-insensitive ("Dell*"), or a
  comparison when it starts with an operator (">= 16384", "< 4", "== 2",
  "> 100GiB" - sizes are turned into bytes);
- a number or a boolean: equality.

In paths, ``name[3]`` picks one element of a list, ``name[*]`` means "any
element" (``disks[*].rotational: false`` holds when some disk is an SSD),
and ``.count`` after a list is its length (``disks.count: ">= 2"``). A rule
whose path ends on a list tests each element (``cpu.flags: vmx``). A path
missing from the inventory never matches. Among the matching templates the
highest ``priority`` wins, ties go to the alphabetically first name.
"""

import fnmatch
import json
import operator
import os
import re

import yaml

from bootflow.bootos.template_schema import COMPARISON_RE
from bootflow.bootos.template_schema import comparison_operand
from bootflow.bootos.template_schema import SECTIONS
from bootflow.bootos.template_schema import show_value
from bootflow.bootos.template_schema import TemplateError
from bootflow.bootos.template_schema import validate
# Re-exported: the public API stays importable from this module.
from bootflow.bootos.template_schema import FILESYSTEMS_FOR  # noqa: F401
from bootflow.bootos.template_schema import format_path  # noqa: F401
from bootflow.bootos.template_schema import LABEL_MAX  # noqa: F401
from bootflow.bootos.template_schema import MATCH_PATH_RE  # noqa: F401
from bootflow.bootos.template_schema import MSDOS_MAX_PARTITIONS  # noqa: F401
from bootflow.bootos.template_schema import parse_size  # noqa: F401
from bootflow.bootos.template_schema import PARTITION_TYPES  # noqa: F401
from bootflow.bootos.template_schema import RAID_MIN_DISKS  # noqa: F401
from bootflow.bootos.template_schema import SCHEMA  # noqa: F401
from bootflow.bootos.template_schema import Size  # noqa: F401
from bootflow.bootos.template_schema import validate_section  # noqa: F401

FILE_SUFFIXES = ('.yaml', '.yml', '.json')


# --- sizes (parsed by template_schema.parse_size) --------------------------

def format_bytes(count):
    """Bytes as the largest binary unit that keeps one decimal."""
    for unit, power in (('TiB', 4), ('GiB', 3), ('MiB', 2), ('KiB', 1)):
        if count >= 1024 ** power:
            text = '%.1f' % (count / 1024 ** power)
            return '%s %s' % (text[:-2] if text.endswith('.0') else text,
                              unit)
    return '%d B' % count


# --- matching --------------------------------------------------------------

_OPS = {'>=': operator.ge, '<=': operator.le, '==': operator.eq,
        '!=': operator.ne, '>': operator.gt, '<': operator.lt}


def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def _tokens(path):
    out = []
    for segment in path.split('.'):
        name, rest = re.match(r'([^\[]+)(.*)', segment).groups()
        out.append(name)
        out.extend('*' if i == '*' else int(i)
                   for i in re.findall(r'\[(\d+|\*)\]', rest))
    return out


def _walk(value, tokens):
    """Every value a path reaches ([*] fans out, .count sizes a list)."""
    if not tokens:
        yield value
        return
    token, rest = tokens[0], tokens[1:]
    if token == '*' and isinstance(value, list):
        for item in value:
            yield from _walk(item, rest)
    elif isinstance(token, int):
        if isinstance(value, list) and token < len(value):
            yield from _walk(value[token], rest)
    elif isinstance(value, dict):
        if token in value:
            yield from _walk(value[token], rest)
    elif isinstance(value, list) and token == 'count':
        yield from _walk(len(value), rest)


def lookup(inventory, path):
    """The values a match path reaches in an inventory (maybe none)."""
    return list(_walk(inventory, _tokens(path)))


def rule_holds(rule, value):
    """Whether one reached inventory value satisfies one rule."""
    if isinstance(value, list):
        return any(rule_holds(rule, item) for item in value)
    if value is None:
        return False
    if isinstance(rule, bool):
        return value is rule
    if isinstance(rule, (int, float)):
        return _number(value) == rule
    found = COMPARISON_RE.fullmatch(rule)
    if found:
        op, right = found.groups()
        number = comparison_operand(right)
        if number is None:
            return _OPS[op](_text(value).casefold(), right.casefold())
        left = _number(value)
        return left is not None and _OPS[op](left, number)
    return fnmatch.fnmatchcase(_text(value).casefold(), rule.casefold())


class Template:
    """A validated template; ``doc`` is the checked document itself."""

    def __init__(self, doc, source=None):
        try:
            self.doc = validate(doc)
        except TemplateError as exc:
            raise TemplateError(exc.errors, source=source) from None
        self.source = source

    @property
    def name(self):
        return self.doc['name']

    @property
    def priority(self):
        return self.doc.get('priority', 0)

    def sections(self):
        """[(section, spec)] in the order the agent applies them."""
        return [(s, self.doc[s]) for s in SECTIONS if s in self.doc]

    def mismatches(self, inventory):
        """Why the template does not fit a machine: one line per rule."""
        out = []
        for path, rule in self.doc.get('match', {}).items():
            values = lookup(inventory, path)
            if not values:
                out.append('%s: not in the inventory' % path)
            elif not any(rule_holds(rule, v) for v in values):
                shown = values[0] if len(values) == 1 else values
                out.append('%s: %s does not satisfy %r'
                           % (path, show_value(shown), rule))
        return out

    def matches(self, inventory):
        return not self.mismatches(inventory)

    def __repr__(self):
        return '<Template %s priority=%s>' % (self.name, self.priority)


def match(templates, inventory):
    """The best template for a machine, or None when none fits."""
    if isinstance(templates, dict):
        templates = templates.values()
    fitting = [t for t in templates if t.matches(inventory)]
    fitting.sort(key=lambda t: (-t.priority, t.name))
    return fitting[0] if fitting else None


# --- files -----------------------------------------------------------------

class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: PyYAML
    would silently keep the last one, hiding a typo'd override."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, 'duplicate key %r' % (key,),
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse(text, path):
    if path.endswith('.json'):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise TemplateError('line %d, column %d: %s'
                                % (exc.lineno, exc.colno, exc.msg),
                                source=path) from None
    try:
        doc = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = ('line %d, column %d: ' % (mark.line + 1, mark.column + 1)
                 if mark else '')
        raise TemplateError('%s%s' % (where, getattr(exc, 'problem', exc)),
                            source=path) from None
    if doc is None:
        raise TemplateError('the file is empty', source=path)
    return doc


def load_file(path):
    """One template from a YAML or JSON file (chosen by the suffix)."""
    try:
        with open(path, encoding='utf-8') as stream:
            text = stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise TemplateError('cannot read: %s' % reason,
                            source=path) from None
    return Template(_parse(text, path), source=path)


def load_dir(path):
    """{name: Template} from the *.yaml/*.yml/*.json files of a directory.

    Every file is checked before failing, so one reload reports all the
    broken files; two files declaring the same name are an error naming
    both, since silently preferring one would depend on file order.
    """
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise TemplateError('cannot read directory: %s' % exc.strerror,
                            source=path) from None
    found, origin, errors = {}, {}, []
    for name in names:
        full = os.path.join(path, name)
        if (name.startswith('.') or not name.endswith(FILE_SUFFIXES)
                or not os.path.isfile(full)):
            continue
        try:
            template = load_file(full)
        except TemplateError as exc:
            errors.extend(exc.errors)
            continue
        if template.name in found:
            errors.append('duplicate template name %r in %s and %s'
                          % (template.name, origin[template.name], full))
            continue
        found[template.name] = template
        origin[template.name] = full
    if errors:
        raise TemplateError(errors)
    return found
