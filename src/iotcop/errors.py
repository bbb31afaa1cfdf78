"""Errors that reach the user as one line and a documented exit code."""

EXIT_OK = 0  # no mandatory provision fails
EXIT_FAIL = 1  # at least one mandatory provision fails
EXIT_INPUT = 2  # usage or input error
EXIT_INTERNAL = 3  # a bug in iotcop


class IotcopError(Exception):
    """An error the user can act on; the message is shown as it is."""

    exit_code = EXIT_INPUT


class InputError(IotcopError):
    """The input cannot be used: unreadable, empty, not a firmware image ..."""


class CatalogueError(IotcopError):
    """Standards data or a mapping file is invalid."""

    exit_code = EXIT_INTERNAL
