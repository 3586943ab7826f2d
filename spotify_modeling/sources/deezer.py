"""Deezer: song names to ISRCs and track facts without Spotify quota (free, keyless public API).

Deezer answers its errors with HTTP 200 and an `{"error": {...}}` body. `_body_error` says what each stands for, and
the one retry policy of `_http.get_json` does the rest: code 4 ("Quota limit exceeded", the ~50 requests per 5 s
rate limit) is waited out like a 429 (about 5 s, a bounded number of times), code 800 ("no data") is a missing
item, code 700 (busy) is retried like a 503, any other code is a refusal. A 200 whose body is not JSON (the HTML page
of a proxy, CDN or captive portal in front of Deezer, a cut-off answer) is retried like a 502, so if it lasts Deezer
counts as down (one note, the rest to Spotify), never a crash. Calls go out one at a time, paced to at
most `rate[0]` requests in any `rate[1]` seconds (Deezer's limit, padded by `PACE_MARGIN`).

`ReccoBeats by ISRC` (`reccobeats_by_isrc`) is the second half of the route names -> Deezer -> ISRC -> ReccoBeats:
audio features and the Spotify track id (in `href`) for ISRCs, rows mapped back by the ISRC they carry.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any, Callable

import requests

from spotify_modeling.core.matching import deezer_query
from spotify_modeling.core.records import DeezerTrack, as_int
from spotify_modeling.sources._http import BodyError, get_json
from spotify_modeling.sources.errors import NotFound

DEFAULT_URL = "https://api.deezer.com"
OFF = ("off", "none", "0", "false", "no")   # SPOTIFY_MODEL_DEEZER_URL=off: do not use Deezer at all
RATE = (50, 5.0)          # Deezer: about 50 requests per 5 seconds per IP
PACE_MARGIN = 0.05        # the window is kept 5% longer than Deezer's, so clock skew never tips it over
QUOTA_WAIT = 5.0          # code 4: "wait about 5 s and ask again"
SEARCH_LIMIT = 10
RECCOBEATS_MAX_IDS = 40


def deezer_url_from_env() -> str | None:
    """The Deezer base URL (`SPOTIFY_MODEL_DEEZER_URL`, default api.deezer.com), or None when it is set to off."""
    value = os.environ.get("SPOTIFY_MODEL_DEEZER_URL", "").strip()
    if value.lower() in OFF:
        return None
    return (value or DEFAULT_URL).rstrip("/")


def _body_error(data: Any) -> BodyError | None:
    """Deezer's 200-with-an-error-body answers, as the status each stands for."""
    if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
        return None
    err = data["error"]
    code = as_int(err.get("code"))
    message = f"{err.get('message') or err.get('type') or 'error'} (code {code})"
    if code == 4:
        return BodyError(429, message, retry_after=QUOTA_WAIT)
    if code == 800:
        return BodyError(404, message)
    if code == 700:
        return BodyError(503, message)
    return BodyError(400, message)


class DeezerClient:
    """Sequential, paced reads of Deezer's search and tracks; errors in 200 bodies handled by the shared policy."""

    def __init__(self, base_url: str | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], Any] = time.sleep, clock: Callable[[], float] = time.monotonic, *,
                 rate: tuple[int, float] = RATE, max_retries: int = 3, timeout: float = 20.0, backoff: float = 1.0,
                 quota_wait: float = QUOTA_WAIT, recorder: Any = None):
        self.base_url = (base_url or deezer_url_from_env() or DEFAULT_URL).rstrip("/")
        self.session = session if session is not None else requests.Session()
        self.sleep = sleep
        self.clock = clock
        self.rate = (int(rate[0]), float(rate[1]) * (1 + PACE_MARGIN))
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.quota_wait = quota_wait
        self.recorder = recorder
        self.calls_made = 0
        self._sent: deque[float] = deque()

    def _count(self, status: int) -> None:
        self.calls_made += 1
        if self.recorder is not None:
            self.recorder.record_call("deezer", status)

    def _wait_for_slot(self) -> None:
        """Every attempt, retries included, keeps at most `rate[0]` requests in any `rate[1]` seconds."""
        limit, window = self.rate
        now = self.clock()
        while self._sent and now - self._sent[0] >= window:
            self._sent.popleft()
        if len(self._sent) >= limit:
            wait = self._sent[0] + window - now
            if wait > 0:
                self.sleep(wait)
            self._sent.popleft()
        self._sent.append(self.clock())

    def _body_error(self, data: Any) -> BodyError | None:
        err = _body_error(data)
        if err is not None and err.status == 429:
            return BodyError(429, err.message, retry_after=self.quota_wait)
        return err

    def _get(self, path: str, params: dict | None = None) -> Any:
        return get_json(self.session, f"{self.base_url}/{path}", params=params, service="Deezer", group="deezer",
                        timeout=self.timeout, sleep=self.sleep, max_retries=self.max_retries, backoff=self.backoff,
                        max_wait=max(60.0, self.quota_wait), on_status=self._count, before_send=self._wait_for_slot,
                        body_error=self._body_error)

    def search(self, artist: str, track: str, limit: int = SEARCH_LIMIT) -> list[DeezerTrack]:
        """Advanced search `artist:"..." track:"..."` (tails cut as for Spotify); [] when Deezer has nothing."""
        try:
            data = self._get("search", {"q": deezer_query(track, artist), "limit": max(1, int(limit))}) or {}
        except NotFound:
            return []
        rows = data.get("data") if isinstance(data, dict) else None
        out = [DeezerTrack.from_api(r) for r in rows or []
               if isinstance(r, dict) and r.get("type", "track") == "track"]
        return [t for t in out if t is not None]

    def track(self, deezer_id: int | str) -> DeezerTrack | None:
        """`GET /track/{id}`: the search fields plus ISRC, release date, contributors; None for "no data"."""
        return self._one(f"track/{int(deezer_id)}")

    def track_by_isrc(self, isrc: str) -> DeezerTrack | None:
        """`GET /track/isrc:{ISRC}`; None when Deezer does not know the ISRC."""
        return self._one(f"track/isrc:{isrc.strip().upper()}")

    def _one(self, path: str) -> DeezerTrack | None:
        try:
            return DeezerTrack.from_api(self._get(path) or {})
        except NotFound:
            return None


__all__ = ["DEFAULT_URL", "RATE", "DeezerClient", "DeezerTrack", "deezer_url_from_env"]
