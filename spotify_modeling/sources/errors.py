"""Refusals from a web service that are not about login, quota or availability (those live in `spotify_modeling.errors`).

They subclass `UserError` so an unexpected refusal still reaches the user as one line, never a traceback.
"""

from __future__ import annotations

from spotify_modeling.errors import QuotaExhausted, UserError


class ApiError(UserError):
    """A service refused a request in a way the caller did not plan for (exit 1: likely a bug or a changed API)."""

    def __init__(self, message: str, hint: str | None = None, *, status: int | None = None,
                 group: str | None = None, reason: str | None = None):
        super().__init__(message, hint)
        self.status = status
        self.group = group
        self.reason = reason


class Forbidden(ApiError):
    """HTTP 403 not caused by login/Premium/allow-list: e.g. audio features, or a playlist the user does not own."""


class NotFound(ApiError):
    """HTTP 404: the item does not exist (any more) or the endpoint was removed."""


class RateLimited(QuotaExhausted):
    """A 429 whose `Retry-After` is longer than the client waits (or short ones that kept coming): the short-term
    rate limit, not the daily quota. Same exit code (75), a different line: it says which it was and when to retry."""
