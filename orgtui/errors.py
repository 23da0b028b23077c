"""The one exception family the CLI turns into a message and exit code 2.

Every module boundary raises its own subclass (``ConfigError``, ``BoardError`` ...) whose
message already says what went wrong and how to fix it, so the CLI never prints a traceback
for bad input.
"""

from __future__ import annotations


class OrgtuiError(Exception):
    """A problem the user can act on; ``str(error)`` is the whole message."""

    exit_code: int = 2


class NameError_(OrgtuiError):
    """A name that cannot be used as an agent, variant or file name."""
