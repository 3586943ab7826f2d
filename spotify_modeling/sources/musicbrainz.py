"""MusicBrainz: artist genres that are not Spotify content (CC0), found through a track's ISRC.

MusicBrainz allows one request per second per IP and wants a meaningful User-Agent; this client enforces both.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable
from urllib.parse import quote

import requests

from spotify_modeling import __version__
from spotify_modeling.core.records import CreditedArtist
from spotify_modeling.sources._http import get_json
from spotify_modeling.sources.errors import NotFound

DEFAULT_URL = "https://musicbrainz.org/ws/2"
DEFAULT_USER_AGENT = f"spotify-model/{__version__} ( https://github.com/ )"


class MusicBrainzClient:
    """Rate-limited (≤1 request/second) reads of recordings-by-ISRC and artist genres."""

    def __init__(self, base_url: str | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], Any] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 user_agent: str = DEFAULT_USER_AGENT, *, min_interval: float = 1.0, max_retries: int = 3,
                 timeout: float = 20.0, backoff: float = 2.0):
        self.base_url = (base_url or os.environ.get("SPOTIFY_MODEL_MUSICBRAINZ_URL", "").strip()
                         or DEFAULT_URL).rstrip("/")
        self.session = session if session is not None else requests.Session()
        self.sleep = sleep
        self.clock = clock
        self.user_agent = user_agent
        self.min_interval = min_interval
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.calls_made = 0
        self._last_sent: float | None = None

    def _count(self, status: int) -> None:
        self.calls_made += 1

    def _wait_for_slot(self) -> None:
        """Every attempt, retries included, leaves at least `min_interval` after the previous one."""
        if self._last_sent is not None:
            wait = self._last_sent + self.min_interval - self.clock()
            if wait > 0:
                self.sleep(wait)
        self._last_sent = self.clock()

    def _get(self, path: str, query: str) -> Any:
        try:
            return get_json(self.session, f"{self.base_url}/{path}", params=query, service="MusicBrainz",
                            group="musicbrainz", timeout=self.timeout, sleep=self.sleep,
                            max_retries=self.max_retries, backoff=self.backoff, max_wait=60.0,
                            min_backoff=self.min_interval,
                            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
                            on_status=self._count, before_send=self._wait_for_slot)
        except NotFound:
            return None

    def artists_for_isrc(self, isrc: str) -> list[dict]:
        """Artists credited on the recordings carrying this ISRC, as [{"mbid", "name"}]; [] when unknown."""
        return [{"mbid": a.mbid, "name": a.name} for a in self.artist_records_for_isrc(isrc)]

    def artist_records_for_isrc(self, isrc: str) -> list[CreditedArtist]:
        """The same request as `artists_for_isrc`, each artist (once, first credit first) a `CreditedArtist`."""
        data = self._get(f"isrc/{quote(isrc.strip().upper())}", "inc=artists&fmt=json") or {}
        seen: dict[str, CreditedArtist] = {}
        for rec in data.get("recordings") or []:
            for credit in rec.get("artist-credit") or []:
                artist = CreditedArtist.from_api(credit)
                if artist is not None and artist.mbid not in seen:
                    seen[artist.mbid] = artist
        return list(seen.values())

    def artist_genres(self, mbid: str, min_tag_count: int = 3) -> list[str]:
        """Curated genres plus free-form tags voted at least `min_tag_count` times, lower-cased, most-voted first."""
        data = self._get(f"artist/{quote(mbid)}", "inc=genres+tags&fmt=json") or {}
        out: dict[str, None] = {}
        genres = sorted(data.get("genres") or [], key=lambda g: -(g.get("count") or 0))
        tags = sorted((t for t in data.get("tags") or [] if (t.get("count") or 0) >= min_tag_count),
                      key=lambda t: -(t.get("count") or 0))
        for entry in [*genres, *tags]:
            name = (entry.get("name") or "").strip().lower()
            if name:
                out.setdefault(name, None)
        return list(out)
