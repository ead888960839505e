"""Exceptions raised for user mistakes.

Every exception here carries a one-line message that says what to change. The command
line prints it without a traceback and exits non-zero (see :mod:`labquake.cli`).
Programming errors inside labquake are *not* wrapped: they keep their tracebacks.
"""

from __future__ import annotations


class LabquakeError(Exception):
    """Base class for every error a user can cause and fix."""

    def __init__(self, message: str) -> None:
        # Keep the message on one line, whatever the caller built.
        super().__init__(" ".join(str(message).split()))


class ConfigError(LabquakeError):
    """A configuration file or parameter is invalid (unknown key, bad value, bad range)."""


class ParameterError(ConfigError):
    """A physical parameter is invalid (negative stiffness, dt above critical, NaN, ...)."""


class SchemaError(LabquakeError):
    """A table or file does not have the expected columns, types or values."""


class DataFormatError(LabquakeError):
    """A file could not be parsed; the message names the file and line."""


class InsufficientDataError(LabquakeError):
    """Too few events, runs or samples for the requested statistic."""


class RunStateError(LabquakeError):
    """A run directory is missing, incomplete, failed, or cannot be resumed."""


class OutputError(LabquakeError):
    """An output location cannot be written (permissions, full disk, not a directory)."""


class ConvergenceError(LabquakeError):
    """A numerical solver did not converge (for example the exact EMD solver)."""
