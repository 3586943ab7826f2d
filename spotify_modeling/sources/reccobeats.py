"""ReccoBeats: audio features and track facts by Spotify track id (free, keyless), since Spotify closed its own.

Rows come back without the ids we sent and with unknown ids left out, so every row is matched by the Spotify id
inside its `href`, never by position.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable

import requests

from spotify_modeling.core.featurize import AUDIO_FEATURES
from spotify_modeling.core.records import IsrcFeatures  # noqa: F401 (parsed in core; its old address)
from spotify_modeling.core.records import AudioFeatures, TrackRecord
from spotify_modeling.sources._http import get_json, spotify_id_from_href

DEFAULT_URL = "https://api.reccobeats.com/v1"
MAX_IDS = 40
MAX_SEEDS = 5
MAX_SIZE = 100
FEATURES = tuple(sorted(AUDIO_FEATURES))   # ReccoBeats names the 11 audio features as Spotify did


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in ids if i))


def _artists(row: dict) -> list[dict]:
    return [{"id": spotify_id_from_href(a.get("href"), "artist"), "name": a.get("name")}
            for a in row.get("artists") or []]


class ReccoBeatsClient:
    """Batched (≤40 ids) reads of ReccoBeats, with short rate limits waited out and outages retried."""

    def __init__(self, base_url: str | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], Any] = time.sleep, max_retries: int = 3, *, timeout: float = 20.0,
                 backoff: float = 1.0, max_wait: float = 60.0, recorder: Any = None):
        self.base_url = (base_url or os.environ.get("SPOTIFY_MODEL_RECCOBEATS_URL", "").strip()
                         or DEFAULT_URL).rstrip("/")
        self.session = session if session is not None else requests.Session()
        self.sleep = sleep
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.max_wait = max_wait
        self.recorder = recorder
        self.calls_made = 0

    def _get(self, path: str, query: str) -> Any:
        def count(status: int) -> None:
            self.calls_made += 1
            if self.recorder is not None:
                self.recorder.record_call("reccobeats", status)

        # The query is built by hand so the id lists keep literal commas, exactly as ReccoBeats documents them.
        return get_json(self.session, f"{self.base_url}/{path}", params=query, service="ReccoBeats",
                        group="reccobeats", timeout=self.timeout, sleep=self.sleep, max_retries=self.max_retries,
                        backoff=self.backoff, max_wait=self.max_wait, on_status=count)

    def _batches(self, path: str, ids: Iterable[str]) -> Iterable[dict]:
        ids = _unique(ids)
        for i in range(0, len(ids), MAX_IDS):
            data = self._get(path, "ids=" + ",".join(ids[i:i + MAX_IDS])) or {}
            yield from data.get("content") or []

    def audio_features(self, ids: Iterable[str]) -> dict[str, dict]:
        """{spotify_id: {11 features, "isrc", "reccobeats_id"}}; key -1 becomes None; ids not covered are absent."""
        wanted = set(ids := _unique(ids))
        out: dict[str, dict] = {}
        for row in self._batches("audio-features", ids):
            sid = spotify_id_from_href(row.get("href"))
            if sid not in wanted:
                continue
            feats = {name: row.get(name) for name in FEATURES}
            if feats["key"] is not None and feats["key"] < 0:
                feats["key"] = None
            feats["isrc"] = row.get("isrc")
            feats["reccobeats_id"] = row.get("id")
            out[sid] = feats
        return out

    def by_isrc(self, isrcs: Iterable[str]) -> dict[str, IsrcFeatures]:
        """`audio-features?ids=<ISRC>,...` (40 a call): {ISRC: features and Spotify id} for the ISRCs ReccoBeats
        knows. Rows carry their ISRC and the Spotify id in `href`; a row whose ISRC was not asked is ignored."""
        wanted = list(dict.fromkeys(i.strip().upper() for i in isrcs if i and i.strip()))
        asked = set(wanted)
        out: dict[str, IsrcFeatures] = {}
        for row in self._batches("audio-features", wanted):
            isrc = str(row.get("isrc") or "").strip().upper()
            sid = spotify_id_from_href(row.get("href"))
            if isrc not in asked or not sid or isrc in out:
                continue
            feats = {name: row.get(name) for name in FEATURES}
            if feats.get("key") is not None and feats["key"] < 0:
                feats["key"] = None
            out[isrc] = IsrcFeatures(isrc, sid, feats, row.get("id"))
        return out

    def tracks(self, ids: Iterable[str]) -> dict[str, dict]:
        """{spotify_id: {"name", "duration_ms", "artists": [{"id", "name"}], "isrc"}} for the ids ReccoBeats knows."""
        wanted = set(ids := _unique(ids))
        out: dict[str, dict] = {}
        for row in self._batches("track", ids):
            sid = spotify_id_from_href(row.get("href"))
            if sid in wanted:
                out[sid] = {"name": row.get("trackTitle"), "duration_ms": row.get("durationMs"),
                            "artists": _artists(row), "isrc": row.get("isrc")}
        return out

    def recommendations(self, seed_ids: Iterable[str], size: int = 100) -> list[dict]:
        """Tracks ReccoBeats finds similar to up to 5 seeds: a candidate source that spends no Spotify quota."""
        seeds = _unique(seed_ids)[:MAX_SEEDS]
        if not seeds:
            return []
        size = max(1, min(MAX_SIZE, int(size)))
        data = self._get("track/recommendation", f"seeds={','.join(seeds)}&size={size}") or {}
        out = []
        for row in data.get("content") or []:
            sid = spotify_id_from_href(row.get("href"))
            if sid:
                out.append({"track_id": sid, "name": row.get("trackTitle"), "artists": _artists(row),
                            "duration_ms": row.get("durationMs"), "isrc": row.get("isrc")})
        return out

    # ---------------------------------------------------------------- the same reads, parsed into typed records
    # The methods above answer plain mappings (their tests read them so); the pipeline reads these, which send
    # exactly the same requests and parse each row once (`core.records`).
    def audio_feature_records(self, ids: Iterable[str]) -> dict[str, AudioFeatures]:
        """`audio_features(ids)`, each track's answer an `AudioFeatures`."""
        return {sid: AudioFeatures({k: v for k, v in feats.items() if k not in ("isrc", "reccobeats_id")},
                                   feats.get("isrc"), feats.get("reccobeats_id"))
                for sid, feats in self.audio_features(ids).items()}

    def track_records(self, ids: Iterable[str]) -> dict[str, TrackRecord]:
        """`tracks(ids)`, each a `TrackRecord` (name, duration, artists, ISRC)."""
        return {sid: TrackRecord.from_reccobeats(sid, row) for sid, row in self.tracks(ids).items()}

    def recommendation_records(self, seed_ids: Iterable[str], size: int = 100) -> list[TrackRecord]:
        """`recommendations(seed_ids, size)`, each a `TrackRecord` under its Spotify id."""
        return [TrackRecord.from_reccobeats(row["track_id"], row) for row in self.recommendations(seed_ids, size)]
