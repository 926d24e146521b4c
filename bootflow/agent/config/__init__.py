"""Apply one section of a BootOS configuration template to this machine.

``apply(section, spec)`` is what the agent runs for a ``template.apply``
command; ``plan(doc)`` dry-runs every section of a template in apply order.
Each section's spec is validated again here (``templates.validate_section``)
because it arrives over the wire and a bad one must fail before a tool runs.

Results: ``{"section": str, "changes": [str], "applied": bool,
"skipped": str|None}``. ``changes`` are the human-readable changes made
(in dry-run: that would be made); empty when the machine already is as
requested. ``applied`` is true when the section was enforced (not a
dry-run, not skipped). ``skipped`` gives the reason when user mode left
hardware alone that bootflow cannot drive (no controller tool, no
ipmitool, no BIOS backend); developer mode tries anyway, and raises
ConfigError when there is nothing to try. Failures raise ConfigError
whose message names the field or the tool, its exit status and stderr.
"""

from bootflow.agent.config import base
from bootflow.agent.config import bios
from bootflow.agent.config import bmc
from bootflow.agent.config import disks
from bootflow.agent.config import raid
from bootflow.bootos import templates

ConfigError = base.ConfigError
Tools = base.Tools
SECTIONS = templates.SECTIONS

_EXECUTORS = {'bios': bios.run, 'raid': raid.run, 'bmc': bmc.run,
              'disks': disks.run}


def apply(section, spec, inventory=None, dry_run=False, developer=False,
          tools=None):
    """Apply (dry_run: plan) one section; see the module doc for the
    result. ``tools`` (a Tools) chooses where commands are looked up."""
    try:
        spec = templates.validate_section(section, spec)
    except templates.TemplateError as exc:
        raise ConfigError('invalid %s section: %s' % (section, exc)) from None
    ctx = base.Context(inventory=inventory, dry_run=bool(dry_run),
                       developer=bool(developer), tools=tools or Tools())
    return _EXECUTORS[section](spec, ctx)


def plan(doc, inventory=None, developer=False, tools=None):
    """Dry-run results of every section present in a template document
    (or a Template), in apply order."""
    if isinstance(doc, templates.Template):
        doc = doc.doc
    return [apply(section, doc[section], inventory=inventory, dry_run=True,
                  developer=developer, tools=tools)
            for section in SECTIONS if section in doc]
