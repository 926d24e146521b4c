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


class HTTPForbidden(BootflowException):
    _msg_fmt = 'Access was denied to the following resource: %(resource)s'
    code = http.FORBIDDEN


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


class VifNotAttached(Invalid):
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
    _msg_fmt = ('Unable to attach VIF because VIF %(vif)s is already '
                'attached to Ironic %(object_type)s %(object_uuid)s')


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


class ChassisNotFound(NotFound):
    _msg_fmt = 'Chassis %(chassis)s could not be found.'


class ChassisAlreadyExists(Conflict):
    _msg_fmt = 'A chassis with UUID %(uuid)s already exists.'


class ChassisNotEmpty(Invalid):
    _msg_fmt = ('Cannot complete the requested action because chassis '
                '%(chassis)s contains nodes.')


class BIOSSettingNotFound(NotFound):
    _msg_fmt = 'Node %(node)s doesn\'t have a BIOS setting \'%(name)s\''


class NodeHistoryNotFound(NotFound):
    _msg_fmt = 'Node history record %(history)s could not be found.'


class NodeInventoryNotFound(NotFound):
    _msg_fmt = ('Node inventory record for node %(node)s could not be '
                'found.')


class NodeConsoleNotEnabled(Invalid):
    _msg_fmt = 'Console access is not enabled on node %(node)s'


class FieldNotAcceptable(BootflowException):
    """406 for a field, filter or parameter younger than the request's
    API version. Unlike :class:`NotAcceptable` (version negotiation), it is
    reported as an ordinary fault, as Ironic's controllers report it."""
    _msg_fmt = 'Request not acceptable.'
    code = http.NOT_ACCEPTABLE


class InvalidUuidOrName(Invalid):
    _msg_fmt = 'Expected a logical name or UUID but received %(name)s.'


class NodeIsRetired(Invalid):
    _msg_fmt = ("The %(op)s operation can't be performed on node "
                "%(node)s because it is retired.")


class DeployTemplateNotFound(NotFound):
    _msg_fmt = 'Deploy template %(template)s could not be found.'


class DeployTemplateDuplicateName(Conflict):
    _msg_fmt = 'A deploy template with name %(name)s already exists.'


class DeployTemplateAlreadyExists(Conflict):
    _msg_fmt = 'A deploy template with UUID %(uuid)s already exists.'


class InvalidDeployTemplate(Invalid):
    _msg_fmt = 'Deploy template invalid: %(err)s.'


class RunbookNotFound(NotFound):
    _msg_fmt = 'Runbook %(runbook)s could not be found.'


class RunbookDuplicateName(Conflict):
    _msg_fmt = 'A runbook with name %(name)s already exists.'


class RunbookAlreadyExists(Conflict):
    _msg_fmt = 'A runbook with UUID %(uuid)s already exists.'


class InvalidRunbook(Invalid):
    _msg_fmt = 'Runbook invalid: %(err)s.'


class InspectionRuleNotFound(NotFound):
    _msg_fmt = 'Rule %(rule)s could not be found.'


class InspectionRuleAlreadyExists(Conflict):
    _msg_fmt = 'A rule with UUID %(uuid)s already exists.'


class PortgroupNotFound(NotFound):
    _msg_fmt = 'Portgroup %(portgroup)s could not be found.'


class PortgroupAlreadyExists(Conflict):
    _msg_fmt = 'A portgroup with UUID %(uuid)s already exists.'


class PortgroupDuplicateName(Conflict):
    _msg_fmt = 'A portgroup with name %(name)s already exists.'


class PortgroupMACAlreadyExists(Conflict):
    _msg_fmt = 'A portgroup with MAC address %(mac)s already exists.'


class PortgroupNotEmpty(Invalid):
    _msg_fmt = ('Cannot complete the requested action because portgroup '
                '%(portgroup)s contains ports.')


class InvalidState(Conflict):
    _msg_fmt = 'Invalid resource state.'


class OperationNotPermitted(BootflowException):
    _msg_fmt = 'Operation not permitted.'
    code = http.FORBIDDEN


class VolumeConnectorNotFound(NotFound):
    _msg_fmt = 'Volume connector %(connector)s could not be found.'


class VolumeConnectorAlreadyExists(Conflict):
    _msg_fmt = 'A volume connector with UUID %(uuid)s already exists.'


class VolumeConnectorTypeAndIdAlreadyExists(Conflict):
    _msg_fmt = ('A volume connector with type %(type)s and connector ID '
                '%(connector_id)s already exists.')


class VolumeTargetNotFound(NotFound):
    _msg_fmt = 'Volume target %(target)s could not be found.'


class VolumeTargetAlreadyExists(Conflict):
    _msg_fmt = 'A volume target with UUID %(uuid)s already exists.'


class VolumeTargetBootIndexAlreadyExists(Conflict):
    _msg_fmt = ("A volume target with boot index '%(boot_index)s' for the "
                "same node already exists.")


class InvalidInput(Invalid):
    _msg_fmt = ("Invalid input for field/attribute %(fieldname)s. Value: "
                "'%(value)s'. %(msg)s")


class ImageDownloadFailed(BootflowException):
    _msg_fmt = 'Failed to download image %(image_href)s, reason: %(reason)s'


class ImageChecksumError(BootflowException):
    _msg_fmt = ('Checksum mismatch for image %(image_href)s: expected '
                '%(expected)s, got %(actual)s.')


class ImageRefValidationFailed(Invalid):
    _msg_fmt = ('Validation of image href %(image_href)s failed, reason: '
                '%(reason)s')


class ImageUnacceptable(Invalid):
    """The image's bytes are not something we may deploy (wrong format,
    a qcow2 reading other files, an unsupported checksum...): the fix is
    a different image or a different declaration, never a retry."""
    _msg_fmt = 'Image %(image)s refused: %(reason)s'


class ImageConvertFailed(BootflowException):
    _msg_fmt = 'Converting image %(image)s to raw failed: %(reason)s'


class AgentTokenRequired(NotAuthenticated):
    """A ramdisk call without the agent token the node was issued."""
    _msg_fmt = 'Agent token is required for this call.'


class AgentTokenInvalid(BootflowException):
    _msg_fmt = 'Invalid agent token.'
    code = http.FORBIDDEN


class IncompleteLookup(Invalid):
    _msg_fmt = ('At least one of "addresses" and "node_uuid" parameters '
                'is required')
