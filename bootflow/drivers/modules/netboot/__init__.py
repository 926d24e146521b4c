"""Network boot: PXE (lpxelinux), iPXE, UEFI HTTP (GRUB) and GRUB ISO
boot interfaces, sharing one way to build kernel command lines, fetch
boot files and write per-node configs."""
