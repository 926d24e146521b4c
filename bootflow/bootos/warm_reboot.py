"""Warm reboot into a deployed instance (kexec), decided per node.

Enabled with ``driver_info/bootos_kexec``. The conductor asks for it in
the ``system.finish`` command of a deploy that wrote an image; the agent
answers whether it loaded the image's kernel. Only a loaded kernel spares
the power cycle: anything else (no kernel in the image, kexec missing or
refusing it) takes the normal path, so enabling it never makes a deploy
fail.
"""

from oslo_utils import strutils

from bootflow.common import exception
from bootflow.common import states

DRIVER_INFO_KEY = 'bootos_kexec'
RESULT_KEY = 'bootos_kexec'
PROPERTIES = {
    DRIVER_INFO_KEY: 'After a deploy, start the image\'s kernel with kexec '
                     'from BootOS instead of power cycling the node '
                     '(skips firmware POST); falls back to a power cycle '
                     'when the image has no kernel to load. Default '
                     'false. Optional.',
}
_DEPLOY_STATES = (states.DEPLOYING, states.DEPLOYWAIT)


def enabled(node):
    value = (node.driver_info or {}).get(DRIVER_INFO_KEY, False)
    try:
        return strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise exception.InvalidParameterValue(
            err='driver_info/%s must be a boolean, not %r'
            % (DRIVER_INFO_KEY, value))


def finish_params(node):
    """Parameters of the node's ``system.finish``: kexec only at the end
    of a deploy that wrote an image on this boot."""
    info = node.driver_internal_info or {}
    if node.provision_state in _DEPLOY_STATES and enabled(node) and \
            info.get('root_device_used'):
        return {'kexec': True}
    return {}


def record(info, result):
    """Keep the agent's answer for :func:`take`; a history line for it."""
    answer = (result or {}).get('kexec')
    if not isinstance(answer, dict):
        return None
    info[RESULT_KEY] = {'loaded': bool(answer.get('loaded')),
                        'kernel': answer.get('kernel'),
                        'cmdline': answer.get('cmdline'),
                        'reason': answer.get('reason')}
    if answer.get('loaded'):
        return 'Warm reboot: BootOS loaded %s (%s) with kexec' % (
            answer.get('kernel'), answer.get('cmdline'))
    return 'Warm reboot not possible, power cycling instead: %s' % (
        answer.get('reason') or 'no reason given')


def take(info):
    """Whether the agent is about to jump into the instance's kernel;
    forgets the answer (it is only good for this boot)."""
    answer = info.pop(RESULT_KEY, None) or {}
    return bool(answer.get('loaded'))
