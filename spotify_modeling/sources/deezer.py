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
from dataclasses import asdict, dataclass
from typing import Any, Callable

import requests

from spotify_modeling.core.matching import MatchCandidate, deezer_query
from spotify_modeling.sources._http import BodyError, get_json
from spotify_modeling.sources.errors import NotFound
from spotify_modeling.sources.records import ArtistRef, TrackRecord

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


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> str | None:
    """"YYYY-MM-DD", or None for Deezer's "0000-00-00" (unknown) and anything else it should not be."""
    text = str(value or "")
    if len(text) < 4 or not text[:4].isdigit() or text.startswith("0000"):
        return None
    return text[:10]


@dataclass(frozen=True)
class DeezerTrack:
    """A Deezer track as search (no ISRC, no date) or `track/{id}` (everything) describes it; None: not said."""

    id: int
    title: str | None = None
    title_short: str | None = None
    artist: str | None = None             # the main artist's name
    artist_id: int | None = None
    album: str | None = None
    duration_ms: int | None = None        # Deezer says whole seconds
    rank: int | None = None
    explicit: bool | None = None
    isrc: str | None = None               # track/{id} only
    release_date: str | None = None       # track/{id} only; "0000-00-00" is None
    contributors: tuple[str, ...] = ()    # track/{id} only: every credited artist's name
    bpm: float | None = None              # 0 (unknown) is None
    gain: float | None = None

    @classmethod
    def from_payload(cls, obj: dict) -> "DeezerTrack | None":
        if not isinstance(obj, dict) or _int(obj.get("id")) is None:
            return None
        artist = obj.get("artist") if isinstance(obj.get("artist"), dict) else {}
        album = obj.get("album") if isinstance(obj.get("album"), dict) else {}
        seconds = _int(obj.get("duration"))
        explicit = obj.get("explicit_lyrics")
        isrc = str(obj.get("isrc") or "").strip().upper() or None
        contributors = tuple(str(c.get("name")) for c in obj.get("contributors") or []
                             if isinstance(c, dict) and c.get("name"))
        bpm = _float(obj.get("bpm"))
        return cls(id=int(obj["id"]), title=obj.get("title"), title_short=obj.get("title_short"),
                   artist=artist.get("name"), artist_id=_int(artist.get("id")), album=album.get("title"),
                   duration_ms=seconds * 1000 if seconds else None, rank=_int(obj.get("rank")),
                   explicit=None if explicit is None else bool(explicit), isrc=isrc,
                   release_date=_date(obj.get("release_date") or album.get("release_date")),
                   contributors=contributors, bpm=bpm if bpm else None, gain=_float(obj.get("gain")))

    # the store keeps answers as JSON (db.tracks); these two are the only translation
    def to_stored(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if v not in (None, ())}

    @classmethod
    def from_stored(cls, row: dict) -> "DeezerTrack":
        known = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        known["contributors"] = tuple(known.get("contributors") or ())
        return cls(**known)

    def candidate(self) -> MatchCandidate:
        """As matching sees it: the title, the main artist and every contributor, the duration."""
        names = tuple(dict.fromkeys(n for n in (self.artist, *self.contributors) if n))
        return MatchCandidate(self.id, self.title, names, self.duration_ms)

    def track_record(self, spotify_id: str, name: str | None = None, artist: str | None = None) -> TrackRecord:
        """What Deezer tells about the Spotify track `spotify_id` (a partial source: the store only fills what is
        unknown). `name`/`artist`: how Spotify names it (the export), preferred to Deezer's spelling. No artist
        ids (Deezer's are not Spotify's) and no duration (Deezer's is rounded to the second; ReccoBeats has it
        to the millisecond)."""
        artists = (ArtistRef(None, artist or self.artist),) if (artist or self.artist) else ()
        return TrackRecord(id=spotify_id, name=name or self.title, artists=artists, album_name=self.album,
                           release_date=self.release_date, explicit=self.explicit, isrc=self.isrc)


#: what a 2xx answer whose body is not JSON parses as (`_read_not_json`); compared by identity: no body Deezer sends
_NOT_JSON: dict = {}


def _read_not_json(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Response hook of the client's session: a 2xx answer whose body does not parse as JSON parses as `_NOT_JSON`,
    which `_body_error` says stands for a 502 (the shared policy parses a 2xx body as JSON without asking, so such
    a body would escape it as `requests.JSONDecodeError`, a crash). Sends nothing, retries nothing."""
    if resp.status_code >= 400:
        return
    try:
        data = resp.json()
    except ValueError:
        data = _NOT_JSON
    resp.json = lambda **_: data


def _body_error(data: Any) -> BodyError | None:
    """Deezer's 200-with-an-error-body answers, as the status each stands for."""
    if data is _NOT_JSON:
        return BodyError(502, "HTTP 200 with a body that is not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
        return None
    err = data["error"]
    code = _int(err.get("code"))
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
        if _read_not_json not in self.session.hooks.setdefault("response", []):
            self.session.hooks["response"].append(_read_not_json)
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
        out = [DeezerTrack.from_payload(r) for r in rows or []
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
            return DeezerTrack.from_payload(self._get(path) or {})
        except NotFound:
            return None


__all__ = ["DEFAULT_URL", "RATE", "DeezerClient", "DeezerTrack", "deezer_url_from_env"]
