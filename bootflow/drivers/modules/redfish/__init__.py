"""Redfish drivers: power, management, virtual media boot, BIOS, firmware,
RAID and out-of-band inspection of BMCs that speak Redfish, through the
``sushy`` library.

Every module reaches the BMC through :mod:`.utils`, which owns the parts
that keep a slow or dead BMC from holding a worker (connect and read
timeouts, counted retries, bounded waits) and the one cache of
authenticated connections, so many nodes behind one BMC share a session.
"""
