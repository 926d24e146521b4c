"""Which configuration a node gets, and why: template selection, the
support list and user versus developer mode, decided on the server.

A node names its template in ``driver_info/bootos_template``; otherwise
the matching template of highest priority applies. In user mode a
machine that is not on the support list gets nothing, and the reason is
kept on the node (``driver_internal_info/bootos_support`` and a history
event) where operators look first. In developer mode (the node's
``driver_info/bootos_developer_mode``, or ``DEVELOPER=1`` reported by
the agent) the template is always applied.
"""

import os

from oslo_utils import strutils

from bootflow.bootos import commands
from bootflow.bootos import support
from bootflow.bootos import templates
from bootflow.common import exception
from bootflow.conf import CONF
from bootflow.db import node_data

SUPPORT_KEY = 'bootos_support'
RESULTS_KEY = 'bootos_config'


def developer_mode(node, agent_reported=False):
    flag = (node.driver_info or {}).get('bootos_developer_mode')
    return bool(agent_reported) or strutils.bool_from_string(flag)


def _load():
    """The templates; a missing directory means none (the default path
    need not exist where no one uses templates)."""
    if not os.path.isdir(CONF.bootos.templates_path):
        return {}
    try:
        return templates.load_dir(CONF.bootos.templates_path)
    except templates.TemplateError as e:
        raise exception.InvalidParameterValue(
            err='Configuration templates in %s: %s'
                % (CONF.bootos.templates_path, e))


def select(node, inventory, name=None):
    """The node's template (or None). A template named on the node or in
    a step's arguments must exist: a typo is an error, not a silent
    skip."""
    name = name or (node.driver_info or {}).get('bootos_template')
    available = _load()
    if name:
        if name not in available:
            raise exception.InvalidParameterValue(
                err='Configuration template "%s" not found in %s '
                    '(known: %s)' % (name, CONF.bootos.templates_path,
                                     ', '.join(sorted(available)) or
                                     'none'))
        return available[name]
    if not inventory:
        return None
    return templates.match(available, inventory)


def decide(node, inventory, template_name=None, agent_developer=False):
    """``(template, developer, reason)``: template is None when nothing
    is to be applied, and reason says why."""
    template = select(node, inventory, template_name)
    if template is None:
        return None, False, 'no configuration template applies'
    developer = developer_mode(node, agent_developer)
    supported, why = support.check(inventory)
    if developer:
        return template, True, 'developer mode: template %s applied (%s)' % (
            template.name, why)
    if not supported:
        return None, False, ('user mode: %s; template %s not applied'
                             % (why, template.name))
    return template, False, 'template %s applied (%s)' % (
        template.name, why)


def queue(task, inventory=None, sections=None, dry_run=False,
          template_name=None, agent_developer=False):
    """Queue one ``template.apply`` command per section, in apply order.
    Returns the number queued; the decision is recorded on the node."""
    node = task.node
    if inventory is None:
        found = node_data.get_inventory(node.id)
        inventory = (found or {}).get('inventory') or {}
    template, developer, reason = decide(node, inventory, template_name,
                                         agent_developer)
    info = dict(node.driver_internal_info or {})
    info[SUPPORT_KEY] = {'template': template.name if template else None,
                         'developer': developer, 'reason': reason}
    count = 0
    if template is not None:
        for section, spec in template.sections():
            if sections is not None and section not in sections:
                continue
            commands.enqueue(info, 'template.apply', {
                'section': section, 'spec': spec, 'dry_run': bool(dry_run),
                'developer': developer, 'template': template.name})
            count += 1
    node.driver_internal_info = info
    node_data.record_event(node, 'BootOS configuration: %s' % reason,
                           'configuration', error=False,
                           conductor=task.service.host,
                           context=task.context)
    return count


def record_result(info, done):
    """Keep a ``template.apply`` result under its section, so the last
    run (or dry run) of each section can be read on the node."""
    params = done['params']
    results = dict(info.get(RESULTS_KEY) or {})
    result = done['result'] or {}
    results[params.get('section')] = {
        'status': done['status'], 'dry_run': params.get('dry_run'),
        'template': params.get('template'),
        'changes': result.get('changes'), 'skipped': result.get('skipped'),
        'error': done['error'], 'finished_at': done['finished_at']}
    info[RESULTS_KEY] = results


def describe(done):
    """One history line for a finished ``template.apply``."""
    params = done['params']
    what = 'BootOS %s%s' % (params.get('section'),
                            ' (dry run)' if params.get('dry_run') else '')
    if done['status'] != commands.SUCCEEDED:
        return '%s failed: %s' % (what, done['error'])
    result = done['result'] or {}
    if result.get('skipped'):
        return '%s skipped: %s' % (what, result['skipped'])
    changes = result.get('changes') or []
    return '%s: %s' % (what, '; '.join(changes) if changes
                       else 'nothing to change')
