"""Node sub-resources: states (provision, power, boot mode, secure boot,
RAID, console), maintenance, management (boot device, indicators),
validation, traits and VIFs."""

import re

from oslo_utils import uuidutils

from bootflow.api import collection
from bootflow.api import validation
from bootflow.api import versions
from bootflow.api import wsgi
from bootflow.api.controllers import node_view
from bootflow.api.controllers import nodes
from bootflow.api.controllers import runbooks
from bootflow.common import exception
from bootflow.common import state_machine
from bootflow.common import states
from bootflow.conductor import rpcapi
from bootflow.db import api as db_api

_RPC = None


def rpc():
    global _RPC
    if _RPC is None:
        _RPC = rpcapi.ConductorAPI()
    return _RPC


def _accepted(req, node):
    base = collection.base_url(req)
    return wsgi.Response(None, 202, {
        'Location': '%s/v1/nodes/%s/states' % (base, node['uuid'])})


def get_states(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    doc = {}
    for field, since in versions.NODE_STATES_FIELDS:
        if req.allows(since):
            value = node[field]
            if field in ('provision_state', 'target_provision_state'):
                value = node_view.shown_state(value, req.version)
            elif field == 'provision_updated_at':
                value = collection.isotime(value)
            elif field in ('raid_config', 'target_raid_config'):
                value = value or {}
            doc[field] = value
    return doc


def set_provision_state(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    if node['reservation']:
        # as in Ironic, a busy node answers "locked" before anything else
        raise exception.NodeLocked(node=node['uuid'],
                                   host=node['reservation'])
    body = req.json_body_or_error()
    target = body.get('target') if isinstance(body, dict) else None
    event = states.VERBS.get(target)
    since = states.VERB_MIN_VERSION.get(target)
    if event is None or not req.allows(since[1]) or \
            event not in state_machine.allowed_events(
                node['provision_state']):
        if event is not None and not req.allows(since[1]):
            raise exception.FieldNotAcceptable(
                'The "%s" target requires API version 1.%d or later.'
                % (target, since[1]))
        raise exception.InvalidStateRequested(
            action=target, node=node['uuid'],
            state=node['provision_state'])
    configdrive = body.get('configdrive')
    if configdrive is not None and event not in ('deploy', 'rebuild'):
        raise exception.InvalidParameterValue(
            err='Adding a config drive is only supported when setting '
                'provision state to %s' % ', '.join(('active', 'rebuild')))
    for key in ('clean_steps', 'deploy_steps'):
        if body.get(key) is not None and not isinstance(body[key], list):
            raise exception.InvalidParameterValue(
                err='%s must be a list of steps' % key)
    validation.validate(PROVISION_SCHEMA, body)
    nodes.check_not_retired(node, target)
    clean_steps, disable_ramdisk = _runbook_steps(req, node, target, body)
    rpc().do_provisioning_action(
        req.context, node['id'], target, configdrive=configdrive,
        clean_steps=clean_steps,
        deploy_steps=body.get('deploy_steps'),
        rescue_password=body.get('rescue_password'),
        disable_ramdisk=disable_ramdisk)
    return _accepted(req, node)


_STEPS = {'type': ['array', 'null'], 'items': {'type': 'object'}}
PROVISION_SCHEMA = {
    'type': 'object',
    'properties': {
        'target': {'type': 'string'},
        'configdrive': {'type': ['string', 'object', 'null']},
        'clean_steps': _STEPS,
        'deploy_steps': _STEPS,
        'service_steps': _STEPS,
        'rescue_password': {'type': ['string', 'null']},
        'disable_ramdisk': {'type': ['boolean', 'null']},
        'runbook': {'type': ['string', 'null']},
    },
    'required': ['target'],
    'additionalProperties': False,
}
set_provision_state.request_schema = PROVISION_SCHEMA


def _runbook_steps(req, node, target, body):
    """Clean steps and disable_ramdisk, from the body or from the runbook
    it names (a runbook is a stored list of steps, 1.92+)."""
    ident = body.get('runbook')
    if not ident:
        return body.get('clean_steps'), body.get('disable_ramdisk')
    if target not in ('clean', 'service'):
        raise exception.InvalidParameterValue(
            err='"runbooks" is only valid when setting target provision '
                "state to any of ['clean', 'service']")
    if body.get('clean_steps') or body.get('service_steps'):
        raise exception.InvalidParameterValue(
            err='Please provide either "clean_steps" or a runbook, but not '
                'both.')
    return runbooks.resolve_runbook(req, node, ident)


def set_power_state(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    body = req.json_body_or_error()
    target = body.get('target') if isinstance(body, dict) else None
    if target not in states.POWER_TARGETS:
        raise exception.InvalidParameterValue(
            err='Invalid power state target %s; expected one of: %s'
                % (target, ', '.join(states.POWER_TARGETS)))
    timeout = body.get('timeout')
    if (target in (states.SOFT_POWER_OFF, states.SOFT_REBOOT)
            or timeout is not None) and not req.allows(
            versions.NODE_SUBRESOURCES['soft_power']):
        raise exception.FieldNotAcceptable(
            'Soft power actions and timeout require API version 1.27')
    if timeout is not None and (not isinstance(timeout, int)
                                or timeout < 1):
        raise exception.InvalidParameterValue(
            err='timeout must be a positive integer, not %s' % (timeout,))
    validation.validate(POWER_SCHEMA, body)
    rpc().change_node_power_state(req.context, node['id'], target,
                                  timeout=timeout)
    return _accepted(req, node)


POWER_SCHEMA = {'type': 'object',
                'properties': {'target': {'type': 'string'},
                               'timeout': {'type': ['integer', 'null'],
                                           'minimum': 1}},
                'required': ['target']}
set_power_state.request_schema = POWER_SCHEMA

MAINTENANCE_SCHEMA = {'type': 'object',
                      'properties': {'reason': {'type': ['string', 'null']}}}


def set_maintenance(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    reason = None
    if req.body:
        body = req.json_body_or_error()
        validation.validate(MAINTENANCE_SCHEMA, body)
        reason = body.get('reason')
    # Only these columns change, and a conductor's save writes only what it
    # changed, so maintenance can be set even while a worker holds the lock
    # (an operator stopping a stuck node must not get 409).
    db_api.update_node(node['id'], {'maintenance': True,
                                    'maintenance_reason': reason})
    return wsgi.Response(None, 202)


set_maintenance.request_schema = MAINTENANCE_SCHEMA


def unset_maintenance(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    db_api.update_node(node['id'], {'maintenance': False,
                                    'maintenance_reason': None,
                                    'fault': None})
    return wsgi.Response(None, 202)


def validate(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    return rpc().validate_driver_interfaces(req.context, node['id'])


def get_boot_device(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    return rpc().get_boot_device(req.context, node['id'])


def set_boot_device(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    body = req.json_body_or_error()
    device = body.get('boot_device') if isinstance(body, dict) else None
    if not device:
        raise exception.MissingParameterValue(
            err='Missing mandatory parameter: boot_device')
    validation.validate(BOOT_DEVICE_SCHEMA, body)
    persistent = collection.parse_bool(
        'persistent', req.GET.get('persistent', body.get('persistent',
                                                         False)))
    rpc().set_boot_device(req.context, node['id'], device,
                          persistent=bool(persistent))
    return wsgi.Response(None, 204)


BOOT_DEVICE_SCHEMA = {'type': 'object',
                      'properties': {'boot_device': {'type': 'string'},
                                     'persistent': {'type': ['boolean',
                                                             'string']}},
                      'required': ['boot_device']}
set_boot_device.request_schema = BOOT_DEVICE_SCHEMA


def supported_boot_devices(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    return {'supported_boot_devices': rpc().get_supported_boot_devices(
        req.context, node['id'])}


def inject_nmi(req, node_ident):
    req.require_version(versions.NODE_SUBRESOURCES['inject_nmi'])
    node = nodes.get_node_or_404(req, node_ident)
    rpc().inject_nmi(req.context, node['id'])
    return wsgi.Response(None, 204)


def _traits_node(req, node_ident):
    req.require_version(versions.NODE_SUBRESOURCES['traits'])
    return nodes.get_node_or_404(req, node_ident)


def get_traits(req, node_ident):
    node = _traits_node(req, node_ident)
    return {'traits': db_api.get_traits([node['id']])[node['id']]}


def set_traits(req, node_ident):
    node = _traits_node(req, node_ident)
    body = req.json_body_or_error()
    traits = body.get('traits') if isinstance(body, dict) else None
    if not isinstance(traits, list):
        raise exception.InvalidParameterValue(
            err='The body must be {"traits": [...]}')
    validation.validate(TRAITS_SCHEMA, body)
    for trait in traits:
        nodes.validate_trait(trait)
    db_api.set_traits(node['id'], traits)
    return wsgi.Response(None, 204)


TRAITS_SCHEMA = {'type': 'object',
                 'properties': {'traits': {'type': 'array',
                                           'items': {'type': 'string'}}},
                 'required': ['traits']}
set_traits.request_schema = TRAITS_SCHEMA
set_traits.min_version = versions.NODE_SUBRESOURCES['traits']


def add_trait(req, node_ident, trait):
    node = _traits_node(req, node_ident)
    nodes.validate_trait(trait)
    db_api.add_trait(node['id'], trait)
    return wsgi.Response(None, 204, {
        'Location': '%s/v1/nodes/%s/traits' % (collection.base_url(req),
                                               node['uuid'])})


def delete_trait(req, node_ident, trait):
    node = _traits_node(req, node_ident)
    if not db_api.delete_trait(node['id'], trait):
        raise exception.TraitNotFound(node_id=node['uuid'], trait=trait)
    return wsgi.Response(None, 204)


def delete_all_traits(req, node_ident):
    node = _traits_node(req, node_ident)
    db_api.set_traits(node['id'], [])
    return wsgi.Response(None, 204)


SUBRESOURCES = versions.NODE_SUBRESOURCES
_LOGICAL_NAME_RE = re.compile(r'^[A-Za-z0-9\-._~]{1,255}$')


def check_uuid_or_name(name, value):
    if not isinstance(value, str) or not (
            uuidutils.is_uuid_like(value) or _LOGICAL_NAME_RE.match(value)):
        raise exception.InvalidParameterValue(
            err='Expected UUID or name for %s: %s' % (name, value))
    return value


def validate_named(schema, document, name):
    """Validate as Ironic does a named argument: errors say "Schema error
    for <name>: ...", wherever in the document they are."""
    try:
        validation.validate(schema, document)
    except exception.InvalidParameterValue as e:
        text = str(e)
        reason = text.split(': ', 1)[1] if ': ' in text else text
        raise exception.InvalidParameterValue(
            err='Schema error for %s: %s' % (name, reason))


def routed_node(req, node_ident):
    """The node, after checking a conductor can take it: calls the API
    cannot route are the request's fault (400), as in Ironic."""
    node = nodes.get_node_or_404(req, node_ident)
    try:
        rpcapi.ConductorAPI.host_for(node['id'])
    except exception.NoValidHost as e:
        raise exception.InvalidParameterValue(err=str(e))
    return node


VIF_SCHEMA = {
    'type': 'object',
    'properties': {'id': {'type': 'string'},
                   'port_uuid': validation.UUID,
                   'portgroup_uuid': validation.UUID},
    'required': ['id'],
    'additionalProperties': True,
}


def list_vifs(req, node_ident):
    req.require_version(SUBRESOURCES['vifs'])
    node = routed_node(req, node_ident)
    return {'vifs': rpc().vif_list(req.context, node['id'])}


def attach_vif(req, node_ident):
    req.require_version(SUBRESOURCES['vifs'])
    body = req.json_body_or_error()
    validate_named(VIF_SCHEMA, body, 'vif')
    check_uuid_or_name('id', body['id'])
    node = routed_node(req, node_ident)
    if req.allows(SUBRESOURCES['vif_port_uuid']) and \
            'port_uuid' in body and 'portgroup_uuid' in body:
        raise exception.Invalid(
            'Cannot specify both port_uuid and portgroup_uuid')
    rpc().vif_attach(req.context, node['id'], body)
    return wsgi.Response(None, 204)


attach_vif.request_schema = VIF_SCHEMA
attach_vif.min_version = SUBRESOURCES['vifs']


def detach_vif(req, node_ident, vif_id):
    req.require_version(SUBRESOURCES['vifs'])
    check_uuid_or_name('vif_id', vif_id)
    node = routed_node(req, node_ident)
    rpc().vif_detach(req.context, node['id'], vif_id)
    return wsgi.Response(None, 204)


# -- boot mode, secure boot, RAID, console ---------------------------------

def _states_location(req, node_ident, suffix=''):
    return {'Location': '%s/v1/nodes/%s/states%s' % (
        collection.base_url(req), node_ident, suffix)}


def _not_transitioning(node):
    state = node['provision_state']
    if state in states.TRANSITIONAL_STATES or state in states.WAIT_STATES:
        raise exception.Conflict(
            'Node is in %s state. Since node is transitioning, the boot '
            'mode will not be set as this may interfere with ongoing '
            'changes and result in erroneous modification. Try again '
            'later.' % state)


def _require_boot_mode_api(req):
    minor = SUBRESOURCES['boot_mode']
    if not req.allows(minor):
        raise exception.NotFound(
            'This endpoint is supported starting with the API version '
            '1.%d' % minor)


BOOT_MODES = ('bios', 'uefi')
TARGET_SCHEMA = {'type': 'object', 'properties': {'target': {}},
                 'additionalProperties': False}


def set_boot_mode(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    _require_boot_mode_api(req)
    body = req.json_body_or_error()
    validate_named(TARGET_SCHEMA, body, 'body')
    target = body.get('target')
    if target not in BOOT_MODES:
        raise exception.InvalidParameterValue(
            err='Invalid boot mode %s requested for node. Allowed boot '
                'modes are: %s' % (target, ', '.join(BOOT_MODES)))
    _not_transitioning(node)
    rpc().change_node_boot_mode(req.context, node['id'], target)
    return wsgi.Response(None, 202, _states_location(req, node_ident))


set_boot_mode.request_schema = TARGET_SCHEMA
set_boot_mode.min_version = SUBRESOURCES['boot_mode']


def set_secure_boot(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    _require_boot_mode_api(req)
    body = req.json_body_or_error()
    validate_named(TARGET_SCHEMA, body, 'body')
    target = collection.parse_strict_bool('target', body.get('target'))
    if target not in (True, False):
        raise exception.InvalidParameterValue(
            err='Invalid secure_boot %s requested for node. Allowed '
                'secure_boot states are: True, False) ' % (target,))
    _not_transitioning(node)
    rpc().change_node_secure_boot(req.context, node['id'], target)
    return wsgi.Response(None, 202, _states_location(req, node_ident))


set_secure_boot.request_schema = TARGET_SCHEMA
set_secure_boot.min_version = SUBRESOURCES['boot_mode']


RAID_SCHEMA = {'type': 'object'}


def set_raid(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    if not req.allows(SUBRESOURCES['raid']):
        raise exception.FieldNotAcceptable('Request not acceptable.')
    body = req.json_body_or_error()
    validate_named(RAID_SCHEMA, body, 'target_raid_config')
    try:
        rpc().set_target_raid_config(req.context, node['id'], body)
    except exception.UnsupportedDriverExtension as e:
        # RAID is optional hardware: "not there" rather than "bad request"
        raise exception.NotFound(str(e))
    return wsgi.Response(None, 204)


set_raid.request_schema = RAID_SCHEMA
set_raid.min_version = SUBRESOURCES['raid']


def get_console(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    try:
        info = rpc().get_console_information(req.context, node['id'])
    except exception.NodeConsoleNotEnabled:
        return {'console_enabled': False, 'console_info': None}
    return {'console_enabled': True, 'console_info': info}


CONSOLE_SCHEMA = {'type': 'object', 'properties': {'enabled': {}},
                  'required': ['enabled'], 'additionalProperties': False}


def set_console(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    body = req.json_body_or_error()
    if isinstance(body, dict) and body.get('enabled') is None:
        raise exception.MissingParameterValue(
            err='Missing mandatory parameter: enabled')
    validate_named(CONSOLE_SCHEMA, body, 'body')
    enabled = collection.parse_strict_bool('enabled', body['enabled'])
    rpc().set_console_mode(req.context, node['id'], enabled)
    return wsgi.Response(None, 202,
                         _states_location(req, node_ident, '/console'))


set_console.request_schema = CONSOLE_SCHEMA


# -- indicators ------------------------------------------------------------

def _split_indicator(unique_name):
    name, sep, component = unique_name.rpartition('@')
    if not sep:
        raise exception.InvalidParameterValue(
            err='Malformed indicator name "%s"' % unique_name)
    return component, name


def list_indicators(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    found = rpc().get_supported_indicators(req.context, node['id'])
    base = collection.base_url(req)
    result = []
    for component, names in found.items():
        for name, spec in names.items():
            unique = '%s@%s' % (name, component)
            result.append({
                'name': unique, 'component': component,
                'readonly': spec.get('readonly', True),
                'states': spec.get('states', []),
                'links': collection.links(
                    base, 'nodes', node_ident,
                    '/management/indicators/%s' % unique)})
    return {'indicators': result}


def get_indicator(req, node_ident, indicator):
    node = nodes.get_node_or_404(req, node_ident)
    component, name = _split_indicator(indicator)
    return {'state': rpc().get_indicator_state(req.context, node['id'],
                                               component, name)}


INDICATOR_SCHEMA = {'type': 'object',
                    'properties': {'state': {'type': 'string'}},
                    'additionalProperties': False}


def set_indicator(req, node_ident, indicator):
    node = nodes.get_node_or_404(req, node_ident)
    state = req.GET.get('state')
    if req.body:
        body = req.json_body_or_error()
        validate_named(INDICATOR_SCHEMA, body, 'body')
        state = body.get('state', state)
    if not state:
        raise exception.MissingParameterValue(
            err='Missing mandatory parameter: state')
    component, name = _split_indicator(indicator)
    rpc().set_indicator_state(req.context, node['id'], component, name,
                              state)
    return wsgi.Response(None, 204)


set_indicator.request_schema = INDICATOR_SCHEMA


def register(router):
    base = '/v1/nodes/{node_ident}'
    router.add('GET', base + '/states', get_states)
    router.add('PUT', base + '/states/provision', set_provision_state)
    router.add('PUT', base + '/states/power', set_power_state)
    router.add('PUT', base + '/maintenance', set_maintenance)
    router.add('DELETE', base + '/maintenance', unset_maintenance)
    router.add('GET', base + '/validate', validate)
    router.add('GET', base + '/management/boot_device', get_boot_device)
    router.add('PUT', base + '/management/boot_device', set_boot_device)
    router.add('GET', base + '/management/boot_device/supported',
               supported_boot_devices)
    router.add('PUT', base + '/management/inject_nmi', inject_nmi)
    router.add('GET', base + '/traits', get_traits)
    router.add('PUT', base + '/traits', set_traits)
    router.add('DELETE', base + '/traits', delete_all_traits)
    router.add('PUT', base + '/traits/{trait}', add_trait)
    router.add('DELETE', base + '/traits/{trait}', delete_trait)
    router.add('PUT', base + '/states/boot_mode', set_boot_mode)
    router.add('PUT', base + '/states/secure_boot', set_secure_boot)
    router.add('PUT', base + '/states/raid', set_raid)
    router.add('GET', base + '/states/console', get_console)
    router.add('PUT', base + '/states/console', set_console)
    router.add('GET', base + '/management/indicators', list_indicators)
    router.add('GET', base + '/management/indicators/{indicator}',
               get_indicator)
    router.add('PUT', base + '/management/indicators/{indicator}',
               set_indicator)
    router.add('GET', base + '/vifs', list_vifs)
    router.add('POST', base + '/vifs', attach_vif)
    router.add('DELETE', base + '/vifs/{vif_id}', detach_vif)
