"""BootOS image builder: ``bootflow-build-bootos`` and its Python API.

``build(**options)`` makes (or reuses from the cache) the kernel,
initramfs, ISO and manifest the ramdisk boots from; see builder.py.
"""

from bootflow.bootos.build.builder import build  # noqa: F401
from bootflow.bootos.build.common import BuildError  # noqa: F401
