"""Node sub-resources: states, provision and power requests, maintenance,
boot device, validation, traits and VIFs."""

from bootflow.api import collection
from bootflow.api import fields as api_fields
from bootflow.api import wsgi
from bootflow.api.controllers import nodes
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
    for field, since in api_fields.NODE_STATES_FIELDS:
        if req.allows(since):
            value = node[field]
            if field == 'provision_updated_at':
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
            raise exception.NotAcceptable(
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
    rpc().do_provisioning_action(
        req.context, node['id'], target, configdrive=configdrive,
        clean_steps=body.get('clean_steps'),
        deploy_steps=body.get('deploy_steps'),
        rescue_password=body.get('rescue_password'),
        disable_ramdisk=body.get('disable_ramdisk'))
    return _accepted(req, node)


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
            or timeout is not None) and not req.allows(27):
        raise exception.NotAcceptable(
            'Soft power actions and timeout require API version 1.27')
    if timeout is not None and (not isinstance(timeout, int)
                                or timeout < 1):
        raise exception.InvalidParameterValue(
            err='timeout must be a positive integer, not %s' % (timeout,))
    rpc().change_node_power_state(req.context, node['id'], target,
                                  timeout=timeout)
    return _accepted(req, node)


def set_maintenance(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    reason = None
    if req.body:
        body = req.json_body_or_error()
        reason = body.get('reason') if isinstance(body, dict) else None
    # Only these columns change, and a conductor's save writes only what it
    # changed, so maintenance can be set even while a worker holds the lock
    # (an operator stopping a stuck node must not get 409).
    db_api.update_node(node['id'], {'maintenance': True,
                                    'maintenance_reason': reason})
    return wsgi.Response(None, 202)


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
    persistent = collection.parse_bool(
        'persistent', req.GET.get('persistent', body.get('persistent',
                                                         False)))
    rpc().set_boot_device(req.context, node['id'], device,
                          persistent=bool(persistent))
    return wsgi.Response(None, 204)


def supported_boot_devices(req, node_ident):
    node = nodes.get_node_or_404(req, node_ident)
    return {'supported_boot_devices': rpc().get_supported_boot_devices(
        req.context, node['id'])}


def inject_nmi(req, node_ident):
    req.require_version(29)
    node = nodes.get_node_or_404(req, node_ident)
    rpc().inject_nmi(req.context, node['id'])
    return wsgi.Response(None, 204)


def _traits_node(req, node_ident):
    req.require_version(37)
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
    for trait in traits:
        nodes.validate_trait(trait)
    db_api.set_traits(node['id'], traits)
    return wsgi.Response(None, 204)


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


def list_vifs(req, node_ident):
    req.require_version(28)
    node = nodes.get_node_or_404(req, node_ident)
    return {'vifs': rpc().vif_list(req.context, node['id'])}


def attach_vif(req, node_ident):
    req.require_version(28)
    node = nodes.get_node_or_404(req, node_ident)
    body = req.json_body_or_error()
    if not isinstance(body, dict) or not body.get('id'):
        raise exception.MissingParameterValue(
            err='Missing mandatory parameter: id')
    rpc().vif_attach(req.context, node['id'], body)
    return wsgi.Response(None, 204)


def detach_vif(req, node_ident, vif_id):
    req.require_version(28)
    node = nodes.get_node_or_404(req, node_ident)
    rpc().vif_detach(req.context, node['id'], vif_id)
    return wsgi.Response(None, 204)


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
    router.add('GET', base + '/vifs', list_vifs)
    router.add('POST', base + '/vifs', attach_vif)
    router.add('DELETE', base + '/vifs/{vif_id}', detach_vif)
