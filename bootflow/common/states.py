"""Provision and power states, spelled exactly as Ironic's API shows them.

Only names and sets live here; the transitions between them are in
:mod:`bootflow.common.state_machine`.
"""

NOSTATE = None

ENROLL = 'enroll'
VERIFYING = 'verifying'
MANAGEABLE = 'manageable'
AVAILABLE = 'available'
ACTIVE = 'active'
ERROR = 'error'

DEPLOYING = 'deploying'
DEPLOYWAIT = 'wait call-back'
DEPLOYFAIL = 'deploy failed'
DEPLOYHOLD = 'deploy hold'

DELETING = 'deleting'
DELETED = 'deleted'

CLEANING = 'cleaning'
CLEANWAIT = 'clean wait'
CLEANFAIL = 'clean failed'
CLEANHOLD = 'clean hold'

INSPECTING = 'inspecting'
INSPECTWAIT = 'inspect wait'
INSPECTFAIL = 'inspect failed'

ADOPTING = 'adopting'
ADOPTFAIL = 'adopt failed'

RESCUING = 'rescuing'
RESCUEWAIT = 'rescue wait'
RESCUEFAIL = 'rescue failed'
RESCUE = 'rescue'
UNRESCUING = 'unrescuing'
UNRESCUEFAIL = 'unrescue failed'

SERVICING = 'servicing'
SERVICEWAIT = 'service wait'
SERVICEFAIL = 'service failed'
SERVICEHOLD = 'service hold'

# States a node rests in; everything else is on its way somewhere.
STABLE_STATES = (ENROLL, MANAGEABLE, AVAILABLE, ACTIVE, ERROR, RESCUE)

# States in which a conductor is (or should be) working on the node; a node
# found in one of these without a live conductor was interrupted.
TRANSITIONAL_STATES = (VERIFYING, DEPLOYING, CLEANING, DELETING, INSPECTING,
                       ADOPTING, RESCUING, UNRESCUING, SERVICING)

# States waiting for the ramdisk to call back.
WAIT_STATES = (DEPLOYWAIT, CLEANWAIT, INSPECTWAIT, RESCUEWAIT, SERVICEWAIT)

FAILURE_STATES = (DEPLOYFAIL, CLEANFAIL, INSPECTFAIL, ADOPTFAIL, RESCUEFAIL,
                  UNRESCUEFAIL, SERVICEFAIL, ERROR)

# Nodes in these states may be deleted.
DELETE_ALLOWED_STATES = (MANAGEABLE, ENROLL, ADOPTFAIL)

# Nodes in these states may change driver or interfaces.
UPDATE_ALLOWED_STATES = (DEPLOYFAIL, INSPECTING, INSPECTFAIL, INSPECTWAIT,
                         CLEANFAIL, ERROR, VERIFYING, ADOPTFAIL, RESCUEFAIL,
                         UNRESCUEFAIL, SERVICEFAIL)

ALL_STATES = (ENROLL, VERIFYING, MANAGEABLE, AVAILABLE, ACTIVE, ERROR,
              DEPLOYING, DEPLOYWAIT, DEPLOYFAIL, DEPLOYHOLD, DELETING,
              CLEANING, CLEANWAIT, CLEANFAIL, CLEANHOLD, INSPECTING,
              INSPECTWAIT, INSPECTFAIL, ADOPTING, ADOPTFAIL, RESCUING,
              RESCUEWAIT, RESCUEFAIL, RESCUE, UNRESCUING, UNRESCUEFAIL,
              SERVICING, SERVICEWAIT, SERVICEFAIL, SERVICEHOLD)

# Why a node was put in maintenance by bootflow itself (node.fault).
POWER_FAILURE = 'power failure'
CLEAN_FAILURE = 'clean failure'
RESCUE_ABORT_FAILURE = 'rescue abort failure'
SERVICE_FAILURE = 'service failure'
FAULTS = (POWER_FAILURE, CLEAN_FAILURE, RESCUE_ABORT_FAILURE,
          SERVICE_FAILURE)

# Power states
POWER_ON = 'power on'
POWER_OFF = 'power off'
REBOOT = 'rebooting'
SOFT_POWER_OFF = 'soft power off'
SOFT_REBOOT = 'soft rebooting'

POWER_TARGETS = (POWER_ON, POWER_OFF, REBOOT, SOFT_POWER_OFF, SOFT_REBOOT)

# API provision verbs -> state machine events, with the API version that
# introduced each verb.
VERBS = {
    'active': 'deploy',
    'deploy': 'deploy',
    'rebuild': 'rebuild',
    'deleted': 'delete',
    'undeploy': 'delete',
    'manage': 'manage',
    'provide': 'provide',
    'inspect': 'inspect',
    'abort': 'abort',
    'clean': 'clean',
    'adopt': 'adopt',
    'rescue': 'rescue',
    'unrescue': 'unrescue',
    'unhold': 'unhold',
    'service': 'service',
}

VERB_MIN_VERSION = {
    'active': (1, 1), 'rebuild': (1, 1), 'deleted': (1, 1),
    'manage': (1, 4), 'provide': (1, 4), 'inspect': (1, 6),
    'abort': (1, 13), 'clean': (1, 15), 'adopt': (1, 17),
    'rescue': (1, 38), 'unrescue': (1, 38), 'deploy': (1, 73),
    'undeploy': (1, 73), 'unhold': (1, 85), 'service': (1, 87),
}
