"""``bootflow lab``: QEMU machines behind a Redfish BMC, for trying the
service out and for its end-to-end tests, on this host only.

See :class:`bootflow.lab.lab.Lab` for the Python API.
"""

from bootflow.lab.lab import Lab, LabError, MachineInfo  # noqa: F401
