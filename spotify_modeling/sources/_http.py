"""Shared bounded-retry GET for the keyless services (ReccoBeats, MusicBrainz, Deezer); Spotify has its own policy
in spotify.py.

One policy for all of them: a short rate limit is waited out (bounded), 5xx and timeouts are retried with exponential
backoff (bounded), 404 is `NotFound`, any other refusal an `ApiError`. A service that answers its errors inside a
200 body (Deezer: `{"error": {"code": 4, ...}}`) passes `body_error`, which says which HTTP status the body stands
for; from there the same policy applies, so there is no second copy of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import requests

from spotify_modeling.errors import QuotaExhausted, ServiceUnavailable
from spotify_modeling.sources.errors import ApiError, NotFound

_SPOTIFY_URL = re.compile(r"open\.spotify\.com/(?:intl-[\w-]+/)?(?P<kind>track|artist|album)/(?P<id>[0-9A-Za-z]+)")


def spotify_id_from_href(href: str | None, kind: str = "track") -> str | None:
    """The Spotify id inside an open.spotify.com link (how ReccoBeats names tracks and artists), else None."""
    if not href:
        return None
    m = _SPOTIFY_URL.search(href)
    return m.group("id") if m and m.group("kind") == kind else None


@dataclass(frozen=True)
class BodyError:
    """An error a service sent inside a successful (2xx) answer, as the HTTP status it stands for.

    `status` 429: a rate limit, waited out for `retry_after` seconds like a 429 with that `Retry-After`;
    404: no such item; 5xx: a busy or failing service (retried with backoff); any other: a refusal.
    """

    status: int
    message: str
    retry_after: float | None = None


def _retry_after(resp: requests.Response) -> float | None:
    try:
        return float(resp.headers["Retry-After"])
    except (KeyError, TypeError, ValueError):
        return None


def get_json(session: requests.Session, url: str, *, service: str, group: str, params: str | dict | None = None,
             headers: dict | None = None, timeout: float, sleep: Callable[[float], Any], max_retries: int,
             backoff: float, max_wait: float, min_backoff: float = 0.0,
             on_status: Callable[[int], Any] | None = None,
             before_send: Callable[[], Any] | None = None,
             body_error: Callable[[Any], BodyError | None] | None = None) -> Any:
    """GET with short 429s waited out and 5xx/timeouts retried with exponential backoff; 404 raises `NotFound`.

    `body_error(data)` reads an error out of a 2xx answer's JSON (None: the answer is data); `on_status` hears the
    status each attempt stands for (an error body's, not the 200 it came with; 0: no answer).
    """
    failures = waits = 0
    while True:
        if before_send:
            before_send()
        try:
            resp = session.get(url, params=params, headers=headers, timeout=timeout)
        except (requests.Timeout, requests.ConnectionError) as err:
            if on_status:
                on_status(0)
            problem = f"{service} did not answer ({type(err).__name__})."
        else:
            status, wait, detail = resp.status_code, _retry_after(resp), None
            if status < 400:
                try:
                    data = resp.json()
                except ValueError:   # a proxy's HTML page, a cut-off answer: retried as a 502 would be
                    data, err = None, BodyError(502, f"HTTP {status} with a body that is not JSON")
                else:
                    err = body_error(data) if body_error is not None else None
                if err is None:
                    if on_status:
                        on_status(status)
                    return data
                status, wait, detail = err.status, err.retry_after, err.message
            if on_status:
                on_status(status)
            said = f" ({detail})" if detail else ""
            if status == 429:
                wait = 1.0 if wait is None else wait
                if wait > max_wait or waits >= max_retries:
                    raise QuotaExhausted(f"{service} is rate-limiting this computer{said}.",
                                         "Everything fetched so far is kept; run again later.",
                                         retry_after=wait, group=group)
                waits += 1
                sleep(wait)
                continue
            if status == 404:
                raise NotFound(f"{service} has no such item{said}.", status=404, group=group)
            if status < 500:
                raise ApiError(f"{service} answered {status}{said}.", status=status, group=group)
            problem = f"{service} answered {status}{said}."
        if failures >= max_retries:
            raise ServiceUnavailable(f"{problem} Gave up after {failures + 1} tries.",
                                     "Everything fetched so far is kept; try again later.")
        sleep(max(min_backoff, backoff * 2 ** failures))
        failures += 1
