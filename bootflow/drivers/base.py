"""What every driver interface shares: validation, properties, and steps.

Steps are declared with :func:`deploy_step` / :func:`clean_step` on
interface methods; :class:`BaseInterface` collects them per instance, so the
conductor asks an interface for its steps instead of knowing its methods.
"""

import abc
import contextvars
import inspect


def _step_decorator(kind):
    def decorator(priority, argsinfo=None, abortable=False,
                  requires_ramdisk=True):
        def wrap(func):
            setattr(func, '_is_%s_step' % kind, True)
            setattr(func, '_%s_step_priority' % kind, priority)
            setattr(func, '_%s_step_argsinfo' % kind, argsinfo)
            setattr(func, '_%s_step_abortable' % kind, abortable)
            setattr(func, '_%s_step_requires_ramdisk' % kind,
                    requires_ramdisk)
            return func
        return wrap
    return decorator


# Set by the periodic power sync around each read: a BMC driver then makes
# one attempt, bounded by this many seconds, instead of its own retries and
# timeouts, so a dead BMC costs a sync one short wait. None: no budget.
read_budget = contextvars.ContextVar('bmc_read_budget', default=None)

deploy_step = _step_decorator('deploy')
clean_step = _step_decorator('clean')
STEP_KINDS = ('deploy', 'clean')


class BaseInterface(abc.ABC):
    """Base of every interface kind (power, boot, deploy, ...)."""

    interface_type = 'base'
    # False for null interfaces (no-bios, no-console, ...), which validate
    # as unsupported instead of failing.
    supported = True

    def __new__(cls, *args, **kwargs):
        instance = super().__new__(cls)
        steps = {kind: [] for kind in STEP_KINDS}
        for name, method in inspect.getmembers(cls, inspect.isfunction):
            for kind in STEP_KINDS:
                if getattr(method, '_is_%s_step' % kind, False):
                    steps[kind].append({
                        'step': name,
                        'priority': getattr(method,
                                            '_%s_step_priority' % kind),
                        'argsinfo': getattr(method,
                                            '_%s_step_argsinfo' % kind),
                        'abortable': getattr(method,
                                             '_%s_step_abortable' % kind),
                        'requires_ramdisk': getattr(
                            method, '_%s_step_requires_ramdisk' % kind),
                        'interface': cls.interface_type,
                    })
        instance._steps = steps
        return instance

    @abc.abstractmethod
    def get_properties(self):
        """Return ``{driver_info key: description}`` this interface reads."""

    @abc.abstractmethod
    def validate(self, task):
        """Raise InvalidParameterValue/MissingParameterValue if the node's
        configuration cannot work with this interface."""

    def get_steps(self, kind, task=None):
        return [dict(s) for s in self._steps[kind]]

    def execute_step(self, kind, task, step):
        """Run one declared step; returns None or a ``*WAIT`` state."""
        method = getattr(self, step['step'])
        return method(task, **(step.get('args') or {}))
