"""Writing images to a node's disks from inside the BootOS agent."""


class ImageError(Exception):
    """Writing an image failed.

    The message becomes the node's ``last_error`` verbatim, so it says
    what failed, on which device or URL, and what was left on the disk
    (normally: nothing bootable), in words an operator can act on.
    """
