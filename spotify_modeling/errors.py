"""Errors a user can act on, each tied to the exit code every command uses.

The CLI turns these into one line plus a non-zero exit code; anything else is a bug (exit 1).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69
EXIT_QUOTA = 75
EXIT_AUTH = 77


class UserError(Exception):
    """Base for failures the user can fix; `str(err)` is the one line they see."""

    exit_code = EXIT_BUG

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # one line: cause, then what to do
        text = f"{self.message} {self.hint}".strip() if self.hint else self.message
        return text if text.isprintable() else _escaped(text)


def _escaped(text: str) -> str:
    """Control characters, line breaks and lone surrogates (from a file name or a value the user gave) spelled as
    escapes, so the message stays one printable line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class BadInput(UserError):
    """A path, file or option is wrong; nothing was changed (exit 2)."""

    exit_code = EXIT_USAGE


class QuotaExhausted(UserError):
    """Spotify's daily quota or a long rate limit stopped the step; progress kept (exit 75)."""

    exit_code = EXIT_QUOTA

    def __init__(self, message: str, hint: str | None = None, retry_after: float | None = None,
                 group: str | None = None):
        super().__init__(message, hint)
        self.retry_after = retry_after
        self.group = group


class CallBudgetSpent(QuotaExhausted):
    """The run's own `--max-calls` budget is spent (treated like a quota wall: exit 75)."""


class NeedsLogin(UserError):
    """No usable token, expired refresh token, Premium missing or user not allow-listed (exit 77)."""

    exit_code = EXIT_AUTH


class ServiceUnavailable(UserError):
    """A service stayed unavailable after retries; progress kept (exit 69)."""

    exit_code = EXIT_UNAVAILABLE
