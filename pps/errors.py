"""The errors pps raises on purpose.

Each entry point turns them into its own exit convention in one place: the CLI into click
exceptions (a :class:`BadInput` is a usage error, exit 2; any other :class:`PPSError` exit 1),
the probes into Nagios states. Messages are one line and name the bad value.
"""

from __future__ import annotations


class PPSError(Exception):
    """Base of every error pps raises on purpose; ``str()`` is a one-line message."""


class BadInput(PPSError, ValueError):
    """A value given by a person or a file does not follow the grammar or the format."""


class ConfigError(BadInput):
    """The site inventory / ``pps.toml`` is wrong (unknown key, missing field, bad value)."""


class NotFound(PPSError, LookupError):
    """A release, site or file that was asked for does not exist."""


class AlreadyExists(PPSError):
    """Something that is never overwritten (a release, an install) is already there."""


class IntegrityError(PPSError):
    """Content does not match what the repository says (checksum, size, manifest)."""
