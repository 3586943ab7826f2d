"""Shared bounded-retry GET for the keyless services (ReccoBeats, MusicBrainz); Spotify has its own policy in spotify.py."""

from __future__ import annotations

import re
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


def _retry_after(resp: requests.Response) -> float | None:
    try:
        return float(resp.headers["Retry-After"])
    except (KeyError, TypeError, ValueError):
        return None


def get_json(session: requests.Session, url: str, *, service: str, group: str, params: str | dict | None = None,
             headers: dict | None = None, timeout: float, sleep: Callable[[float], Any], max_retries: int,
             backoff: float, max_wait: float, min_backoff: float = 0.0,
             on_status: Callable[[int], Any] | None = None,
             before_send: Callable[[], Any] | None = None) -> Any:
    """GET with short 429s waited out and 5xx/timeouts retried with exponential backoff; 404 raises `NotFound`."""
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
            if on_status:
                on_status(resp.status_code)
            if resp.status_code < 400:
                return resp.json()
            if resp.status_code == 429:
                wait = _retry_after(resp)
                wait = 1.0 if wait is None else wait
                if wait > max_wait or waits >= max_retries:
                    raise QuotaExhausted(f"{service} is rate-limiting this computer.",
                                         "Everything fetched so far is kept; run again later.",
                                         retry_after=wait, group=group)
                waits += 1
                sleep(wait)
                continue
            if resp.status_code == 404:
                raise NotFound(f"{service} has no such item.", status=404, group=group)
            if resp.status_code < 500:
                raise ApiError(f"{service} answered {resp.status_code}.", status=resp.status_code, group=group)
            problem = f"{service} answered {resp.status_code}."
        if failures >= max_retries:
            raise ServiceUnavailable(f"{problem} Gave up after {failures + 1} tries.",
                                     "Everything fetched so far is kept; try again later.")
        sleep(max(min_backoff, backoff * 2 ** failures))
        failures += 1
