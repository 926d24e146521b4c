"""IPMI hardware interfaces, driving the BMC through the ipmitool binary.

Why ipmitool rather than a Python IPMI library such as pyghmi:

- Cipher suites. ipmitool's ``-C`` picks the IPMI 2.0 cipher suite,
  including 17 (RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128), which
  recent BMCs require once the SHA1 suites are switched off; pyghmi
  negotiates the suites it knows and cannot be told which to use.
- Compatibility with Ironic. Ironic's ipmitool interfaces run the same
  commands with the same driver_info keys (ipmi_address, ipmi_port,
  ipmi_priv_level, ipmi_protocol_version, ipmi_cipher_suite,
  ipmi_force_boot_device ...), so nodes enrolled for Ironic behave the
  same here, BMC quirks and workarounds included.
- Vendor coverage. ipmitool has been run against nearly every BMC made
  for two decades; its quirks are known and documented, and operators
  already use it by hand to check what a driver does.

The cost is one process and one RMCP+ session (four extra round trips)
per command, so commands to one BMC are paced (``[ipmi]
min_command_interval``) and each is bounded (``command_timeout``,
``command_retry_timeout``). The password goes to ipmitool in a private
temporary file (``-f``), never on its command line.
"""
