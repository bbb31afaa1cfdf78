"""The one error type the SquashFS reader raises for malformed or unsupported images."""


class SquashFSError(Exception):
    """The image is malformed, truncated, loops, or uses something this reader does not know."""
