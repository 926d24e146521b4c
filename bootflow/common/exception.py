"""Exceptions that carry their own HTTP status.

Each class names its message once (``_msg_fmt``) and its status once
(``code``); the API turns any of them into Ironic's error body, and
oslo.messaging carries them from conductor to API by class name (this module
is in ``allowed_remote_exmods``).
"""

import http.client as http


class BootflowException(Exception):
    _msg_fmt = 'An unknown exception occurred.'
    code = http.INTERNAL_SERVER_ERROR
    safe = False

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        if 'code' in kwargs:
            self.code = kwargs['code']
        if not message:
            try:
                message = self._msg_fmt % kwargs
            except (KeyError, TypeError):
                message = self._msg_fmt
        super().__init__(message)

    def __str__(self):
        return self.args[0] if self.args else self._msg_fmt


class NotAuthenticated(BootflowException):
    _msg_fmt = 'Authentication required.'
    code = http.UNAUTHORIZED


class Invalid(BootflowException):
    _msg_fmt = 'Unacceptable parameters.'
    code = http.BAD_REQUEST


class InvalidParameterValue(Invalid):
    _msg_fmt = '%(err)s'


class MissingParameterValue(InvalidParameterValue):
    _msg_fmt = '%(err)s'


class PatchError(Invalid):
    _msg_fmt = "Couldn't apply patch '%(patch)s'. Reason: %(reason)s"


class InvalidUUID(Invalid):
    _msg_fmt = 'Expected a UUID but received %(uuid)s.'


class InvalidStateRequested(Invalid):
    _msg_fmt = ('The requested action "%(action)s" can not be performed on '
                'node "%(node)s" while it is in state "%(state)s".')


class DriverNotFound(BootflowException):
    _msg_fmt = ('Could not find the following driver(s) or hardware '
                'type(s): %(driver_name)s.')
    code = http.NOT_FOUND


class InterfaceNotFoundInEntrypoint(Invalid):
    _msg_fmt = ('Could not find the following interface in the '
                "'%(entrypoint)s' entrypoint: %(iface)s. Valid interfaces "
                'are %(valid)s.')


class UnsupportedDriverExtension(Invalid):
    _msg_fmt = '%(extension)s is not supported for driver %(driver)s.'


class NodeInMaintenance(Invalid):
    _msg_fmt = ('The %(op)s operation can\'t be performed on node '
                '%(node)s because it\'s in maintenance mode.')


class NodeProtected(BootflowException):
    _msg_fmt = ('Node %(node)s is protected and cannot be undeployed, '
                'rebuilt or deleted.')
    code = http.FORBIDDEN


class NodeAssociated(BootflowException):
    _msg_fmt = 'Node %(node)s is associated with instance %(instance)s.'
    code = http.CONFLICT


class InvalidStateForOperation(Invalid):
    _msg_fmt = '%(err)s'
    code = http.CONFLICT


class NotFound(BootflowException):
    _msg_fmt = 'Resource could not be found.'
    code = http.NOT_FOUND


class NodeNotFound(NotFound):
    _msg_fmt = 'Node %(node)s could not be found.'


class PortNotFound(NotFound):
    _msg_fmt = 'Port %(port)s could not be found.'


class ConductorNotFound(NotFound):
    _msg_fmt = 'Conductor %(conductor)s could not be found.'


class TraitNotFound(NotFound):
    _msg_fmt = 'Node %(node_id)s doesn\'t have a trait \'%(trait)s\''


class VifNotAttached(NotFound):
    _msg_fmt = ('Unable to detach VIF %(vif)s from node %(node)s because '
                'it is not attached to it.')


class Conflict(BootflowException):
    _msg_fmt = 'Conflict.'
    code = http.CONFLICT


class NodeLocked(Conflict):
    _msg_fmt = ('Node %(node)s is locked by host %(host)s, please retry '
                'after the current operation is completed.')


class DuplicateName(Conflict):
    _msg_fmt = 'A node with name %(name)s already exists.'


class NodeAlreadyExists(Conflict):
    _msg_fmt = 'A node with UUID %(uuid)s already exists.'


class MACAlreadyExists(Conflict):
    _msg_fmt = 'A port with MAC address %(mac)s already exists.'


class PortAlreadyExists(Conflict):
    _msg_fmt = 'A port with UUID %(uuid)s already exists.'


class VifAlreadyAttached(Conflict):
    _msg_fmt = ('Unable to attach VIF %(vif)s, it is already attached to '
                'node %(node)s.')


class NoFreePhysicalPorts(Invalid):
    _msg_fmt = ('Unable to attach VIF %(vif)s, not enough free physical '
                'ports.')


class NodeNotLocked(BootflowException):
    _msg_fmt = 'Node %(node)s found not to be locked on release.'


class NoFreeConductorWorker(BootflowException):
    _msg_fmt = ('Requested action cannot be performed due to lack of free '
                'conductor workers.')
    code = http.SERVICE_UNAVAILABLE


class TemporaryFailure(BootflowException):
    _msg_fmt = 'Resource temporarily unavailable, please retry.'
    code = http.SERVICE_UNAVAILABLE


class NotAcceptable(BootflowException):
    _msg_fmt = 'Request not acceptable.'
    code = http.NOT_ACCEPTABLE


class DriverOperationError(BootflowException):
    _msg_fmt = '%(err)s'


class DBRetryExhausted(TemporaryFailure):
    _msg_fmt = 'The database stayed busy; please retry.'


class InstanceAssociated(Conflict):
    _msg_fmt = ('Instance %(instance_uuid)s is already associated with a '
                'node, it cannot be associated with this other node '
                '%(node)s')


class NoValidHost(NotFound):
    _msg_fmt = 'No valid host was found. Reason: %(reason)s'


class InstanceNotFound(NotFound):
    _msg_fmt = 'Instance %(instance)s could not be found.'


class InstanceNameExists(Conflict):
    _msg_fmt = 'An instance with name %(name)s already exists.'
