"""A local stand-in for the Spotify Web API, Spotify's accounts service and ReccoBeats.

Why: nobody can reach the real services from tests, the offline demo or benchmarks, so the project's real client code
(spotipy + requests) runs against this loopback server instead. It follows `docs/external-apis.md` (the 2026 reality):
one-item reads, batch reads and audio features refused, search limit <= 10 and offset <= 1000, `/items` instead of
`/tracks` on playlists, daily quotas per endpoint group, short bursts of 429, 503s, Premium / allow-list refusals.

Counting rule (documented decision): every call that carries a valid access token counts toward its group's daily quota,
whatever the answer (200, 4xx, a burst 429, a 503, a Premium 403 and the QUOTA_EXCEEDED 429 itself), because Spotify
counts per developer app and every answered call was made by the app. Calls refused with 401 (no, unknown or expired
token) are not counted: they cannot be attributed to an app. ReccoBeats and the token endpoint need no bearer token and
every call to them counts toward "reccobeats" / "token" (unlimited unless `quotas` names them).

Order of checks on a Web API call: 401 -> count -> injected `Fault` -> quota 429 -> burst 429 -> 503 -> Premium 403 ->
allow-list 403 -> the endpoint itself (scopes 403, 400, 404, ...). ReccoBeats and the token endpoint: count -> `Fault`
-> quota -> burst -> 503 -> the endpoint. `StandInState.faults` arms faults at chosen calls (see `Fault`): error
answers in the documented shapes, a read timeout, a connection reset (before or after the request is applied),
ReccoBeats leaving ids out. Every request is logged in `StandInServer.calls` (status 0: no answer reached the
client), with the fault that met it and, for a playlist read, the playlist's snapshot_id at that moment.

Search matching (a fake, not Spotify's ranking): a query word matches a field when a word of that field starts with it
(case- and accent-insensitive); a word with `%` or `*` matches as a substring instead. Field filters `track:`,
`artist:`, `album:`, `genre:` (any genre of any artist of the track), `year:` (album release year, `1990` or
`1990-1999`) and `isrc:` are supported; `tag:` filters are ignored; `NOT`/`OR` operators are not supported (treated as
words). Results are ordered by the hidden `popularity` weight, descending, ties by track id.

Library (Liked Songs): `GET /me/library/contains?uris=` (scope user-library-read) answers a JSON list of booleans in
request order; `PUT` / `DELETE /me/library?uris=` (scope user-library-modify) save / unsave and answer 200 with an empty
body. All three take 1-40 comma-separated URIs in the `uris` query parameter, else 400 (missing or empty `uris`, more
than 40). Only `spotify:track:<22 base62 chars>` URIs are accepted: the stand-in keeps saved tracks only, so an album,
episode, artist, playlist or any malformed URI is refused with 400 "Unsupported or invalid URI" (documented choice:
stricter than Spotify, which since Feb 2026 takes URIs of every kind; the product only ever asks about tracks). A
well-formed track URI not in the catalogue answers false on contains and 400 "Payload contains a non-existing ID" on
PUT; DELETE of a track that is not saved is a no-op. A URI repeated in one contains call is answered at each position.

ReccoBeats error bodies are unverified; the stand-in uses the Spotify error shape for them too.

Deezer (under /deezer/, `StandInServer.deezer_url`; opt-in: served only when the state holds Deezer tracks or
`serve_deezer` is set, else `env()` says SPOTIFY_MODEL_DEEZER_URL=off): `GET /search?q=&limit=&index=`,
`GET /track/{id}`, `GET /track/isrc:{ISRC}` in the documented shapes (search rows carry no ISRC, date or
contributors). Errors come as HTTP 200 with an error body: code 800 "no data" (unknown id or ISRC), 501 a missing
`q` or a bad `limit`/`index`, and code 4 "Quota limit exceeded" when more than `deezer_rate[0]` requests arrived in
the last `deezer_rate[1]` seconds (every request counts, the refused ones too). Search matching imitates Deezer's
fuzzy search: text is case-, accent- and punctuation-folded (an apostrophe joins: "Dream's" is "dreams"); every
query word of a field (`artist:`, `track:`, `album:`, or free text over all three) must match a word of it as a
prefix or, for words of four letters or more, within one edit; the artist field holds the main artist and every
contributor. Results matching more query words exactly come first (Deezer orders by relevance), then by `rank`,
descending, ties by Deezer id. Counting, faults, `quotas`,
`burst_429` and `fail_5xx` (answered with HTTP 503, as a proxy in front of Deezer would) apply to group "deezer";
a `Fault(kind="deezer_error", code=N)` answers one Deezer error body.
"""

from __future__ import annotations

import base64
import bisect
import copy
import hashlib
import json
import re
import secrets
import socket
import threading
import time
import unicodedata
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np

from spotify_modeling.core.featurize import AUDIO_FEATURES
from spotify_modeling.sources.endpoints import endpoint_group

__all__ = ["StandInState", "StandInServer", "CallRecord", "Fault", "endpoint_group", "FEATURE_KEYS", "ALL_SCOPES",
           "STANDIN_CODE", "PREMIUM_MESSAGE", "NOT_REGISTERED_MESSAGE", "deezer_title", "deezer_track_from_spotify"]

FEATURE_KEYS = tuple(sorted(AUDIO_FEATURES))   # as ReccoBeats returns them
_SIMILARITY_KEYS = ("acousticness", "danceability", "energy", "instrumentalness", "liveness", "loudness", "mode",
                    "speechiness", "tempo", "valence")
ALL_SCOPES = ("playlist-read-private playlist-read-collaborative playlist-modify-private playlist-modify-public "
              "user-library-read user-library-modify user-top-read")
STANDIN_CODE = "standin-code"  # an authorization code the token endpoint always accepts (grants ALL_SCOPES)
PREMIUM_MESSAGE = "Active premium subscription required for the owner of the app."
NOT_REGISTERED_MESSAGE = "User not registered in the Developer Dashboard"
_BASE62 = re.compile(r"^[0-9A-Za-z]+$")
_RECCO_NAMESPACE = uuid.UUID("6f1c2a52-3c1e-4b7e-9a0e-5e2d1f0c7a11")
_MODIFY_SCOPES = ("playlist-modify-private", "playlist-modify-public")
_TRACK_URI = re.compile(r"spotify:track:([0-9A-Za-z]{22})")  # used with fullmatch
LIBRARY_MAX_URIS = 40   # GET/PUT/DELETE /me/library: at most 40 URIs a call (the cap on PUT/DELETE is a choice)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _norm(text: str | None) -> str:
    """Case- and accent-folded text with punctuation turned into spaces."""
    if not text:
        return ""
    text = str(text)
    if text.isascii():
        stripped = text.casefold()
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", stripped).split())


def _base62_id(seed: str) -> str:
    """A stable 22-character base62 id (the shape of Spotify ids) derived from `seed`."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:17], "big")
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    chars = []
    for _ in range(22):
        number, rem = divmod(number, 62)
        chars.append(alphabet[rem])
    return "".join(chars)


def recco_id(spotify_id: str, kind: str = "track") -> str:
    """The stable uuid-like id ReccoBeats would give a Spotify track or artist."""
    return str(uuid.uuid5(_RECCO_NAMESPACE, f"{kind}:{spotify_id}"))


@dataclass
class CallRecord:
    """One request the server received (secrets are never recorded: token-endpoint bodies keep only grant_type)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    group: str
    status: int    # 0: no answer reached the client (an injected timeout or connection reset)
    ts: float
    fault: str | None = None   # the kind of the injected fault that met this request, if any
    snapshot: str | None = None  # a playlist read: the playlist's snapshot_id when it was read
    deezer_error: int | None = None  # a Deezer answer: the code of the error body it carried (HTTP status is 200)


@dataclass
class Fault:
    """A fault injected on chosen requests: those matching `group` / `method` / `path` (a regex searched in the path,
    e.g. r"/items$"); the first `at` matching requests pass, the next `times` ones (None: all) meet the fault.

    kinds:
    - "status": answer `status` with the documented error body (`message`, `reason`) and `Retry-After` if given
      (e.g. 429 + reason QUOTA_EXCEEDED, 500/502/503, 401, 403 premium, 403 on a playlist the user does not own);
    - "timeout": answer only after `delay` seconds (past the client's read timeout);
    - "reset": close the connection without answering;
    - "drop_ids" (ReccoBeats): leave out every `drop_every`-th id of the request, like unknown ids;
    - "deezer_error" (Deezer): answer HTTP 200 with Deezer's error body of code `code` (4, 700, 800, 501, ...).
    With `apply=True` a "timeout" or "reset" happens after the server applied the request (the nasty case for a
    playlist add: the tracks are in, the client never heard so). Calls met by a fault still count toward quotas.
    """

    kind: str = "status"
    group: str | None = None
    method: str | None = None
    path: str | None = None
    at: int = 0
    times: int | None = 1
    status: int = 503
    message: str | None = None
    reason: str | None = None
    retry_after: float | None = None
    delay: float = 1.0
    apply: bool = False
    drop_every: int = 2
    code: int = 4           # "deezer_error": the Deezer error code
    seen: int = 0       # matching requests so far
    fired: int = 0      # requests that met the fault

    def matches(self, method: str, path: str, group: str) -> bool:
        return ((self.group is None or self.group == group) and (self.method is None or self.method == method)
                and (self.path is None or re.search(self.path, path) is not None))

    def take(self, method: str, path: str, group: str) -> bool:
        """Whether this request meets the fault (counts it either way)."""
        if not self.matches(method, path, group):
            return False
        self.seen += 1
        if self.seen <= self.at or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


_DEFAULT_FAULT_MESSAGES = {400: "Bad request", 401: "The access token expired", 403: "Forbidden",
                           404: "Resource not found", 429: "API rate limit exceeded",
                           500: "Server error", 502: "Bad gateway", 503: "Service unavailable"}


@dataclass
class StandInState:
    """Everything the stand-in serves; mutable from Python (simulated listener) while the server runs."""

    tracks: dict[str, dict] = field(default_factory=dict)
    artists: dict[str, dict] = field(default_factory=dict)
    audio_features: dict[str, dict] = field(default_factory=dict)
    popularity: dict[str, float] = field(default_factory=dict)
    user: dict = field(default_factory=lambda: {"id": "standin-user", "display_name": "Stand-in Listener"})
    playlists: dict[str, dict] = field(default_factory=dict)
    saved_tracks: list[str] = field(default_factory=list)
    top_artists: list[str] = field(default_factory=list)
    quotas: dict[str, int] = field(default_factory=dict)
    quota_retry_after: int = 61389
    burst_429: dict[str, int] = field(default_factory=dict)
    burst_retry_after: int = 1
    fail_5xx: dict[str, int] = field(default_factory=dict)
    premium_required: bool = False
    user_not_registered: bool = False
    # extras beyond the agreed interface
    top_tracks: list[str] = field(default_factory=list)
    top_tracks_by_range: dict = field(default_factory=dict)   # time_range -> track ids (else `top_tracks`)
    episodes: dict[str, dict] = field(default_factory=dict)      # episode objects by id (addable to playlists)
    legacy_track_key: bool = False          # playlist rows carry the item under "track" (pre-2026 responses)
    enforce_scopes: bool = True             # 403 "Insufficient client scope" like Spotify
    fail_5xx_retry_after: int | None = None  # if set, 503 answers carry this Retry-After
    faults: list[Fault] = field(default_factory=list)           # injected at chosen calls (see `Fault`)
    revoked_refresh_tokens: set[str] = field(default_factory=set)
    refresh_tokens_revoked: bool = False    # every refresh token is refused (6-month expiry reached)
    usage: dict[str, int] = field(default_factory=dict)          # calls counted today per group
    access_tokens: dict[str, dict] = field(default_factory=dict)  # token -> {"expires_at", "scope"}
    refresh_tokens: dict[str, dict] = field(default_factory=dict)  # token -> {"scope"}
    auth_codes: dict[str, dict] = field(default_factory=dict)     # code -> {"scope", "redirect_uri", "code_challenge"}
    clock: Callable[[], float] = field(default=time.time, repr=False)
    # Deezer (opt-in, see the module docstring): tracks by Deezer id in Deezer's `track/{id}` shape
    deezer_tracks: dict[int, dict] = field(default_factory=dict)
    deezer_rate: tuple[int, float] | None = (50, 5.0)   # more requests than this in the window: code 4
    serve_deezer: bool | None = None        # None: served when `deezer_tracks` is not empty
    _deezer_sent: Any = field(default_factory=deque, init=False, repr=False, compare=False)
    _lock: Any = field(default_factory=threading.RLock, init=False, repr=False, compare=False)
    _serial: int = field(default=0, init=False, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state["_cache"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # ---- catalogue -------------------------------------------------------------------------------------------
    def add_track(self, track: dict, artists: list[dict], features: dict | None = None,
                  popularity: float = 1.0) -> None:
        """Add a catalogue track with its artists (full objects), optional ReccoBeats features and hidden weight."""
        with self._lock:
            stored_artists = []
            for artist in artists:
                full = copy.deepcopy(artist)
                for gone in ("popularity", "followers"):
                    full.pop(gone, None)
                full.setdefault("type", "artist")
                full.setdefault("uri", f"spotify:artist:{full['id']}")
                full.setdefault("genres", [])
                self.artists[full["id"]] = full
                stored_artists.append({k: full[k] for k in ("id", "name", "uri", "type")})
            t = copy.deepcopy(track)
            tid = t["id"]
            for gone in ("popularity", "available_markets", "linked_from"):
                t.pop(gone, None)
            t.setdefault("type", "track")
            t.setdefault("uri", f"spotify:track:{tid}")
            t.setdefault("is_local", False)
            t.setdefault("explicit", False)
            t.setdefault("artists", stored_artists)
            album = t.setdefault("album", {})
            album.pop("popularity", None)
            album.setdefault("type", "album")
            if album.get("id"):
                album.setdefault("uri", f"spotify:album:{album['id']}")
            album.setdefault("artists", copy.deepcopy(t["artists"]))
            self.tracks[tid] = t
            if features is not None:
                self.audio_features[tid] = dict(features)
            self.popularity[tid] = float(popularity)
            self.invalidate()

    def invalidate(self) -> None:
        """Drop search/similarity caches; call after editing `tracks`/`artists`/`audio_features`/`popularity` directly."""
        with self._lock:
            self._cache = {}

    # ---- playlists -------------------------------------------------------------------------------------------
    def _next_snapshot(self, playlist_id: str) -> str:
        self._serial += 1
        digest = hashlib.sha1(f"{playlist_id}:{self._serial}".encode()).digest()
        return base64.b64encode(digest).decode().rstrip("=")

    def create_playlist(self, name: str, owner_id: str | None = None, public: bool = False, description: str = "",
                        items: list[str] | None = None, collaborative: bool = False) -> str:
        """Create a playlist (owned by the user unless `owner_id` says otherwise, i.e. a followed one); return its id."""
        with self._lock:
            self._serial += 1
            pid = _base62_id(f"playlist:{name}:{self._serial}")
            owner_id = owner_id or self.user["id"]
            display = self.user.get("display_name") if owner_id == self.user["id"] else owner_id
            self.playlists[pid] = {"id": pid, "name": name, "description": description, "public": public,
                                   "collaborative": collaborative, "owner": {"id": owner_id, "display_name": display},
                                   "snapshot_id": self._next_snapshot(pid), "items": []}
            if items:
                self.add_items(pid, items)
            return pid

    def find_playlists(self, name: str, owner_id: str | None = None) -> list[dict]:
        """Stored playlists with exactly this name (optionally of this owner)."""
        with self._lock:
            return [p for p in self.playlists.values()
                    if p["name"] == name and (owner_id is None or p["owner"]["id"] == owner_id)]

    def playlist_uris(self, playlist_id: str) -> list[str]:
        """URIs of the playlist's rows in order (rows whose item is null are skipped)."""
        with self._lock:
            return [row["item"]["uri"] for row in self.playlists[playlist_id]["items"] if row.get("item")]

    def resolve_uri(self, uri: str) -> dict:
        """The row for a URI: a known track or episode, or a local file (`spotify:local:artist:album:title:secs`)."""
        with self._lock:
            if not uri.startswith("spotify:") and _BASE62.match(uri):
                uri = f"spotify:track:{uri}"
            parts = uri.split(":")
            if len(parts) >= 2 and parts[1] == "local":
                fields = [p.replace("+", " ") for p in parts[2:]] + ["", "", "", "0"]
                artist, album, title, secs = fields[:4]
                item = {"id": None, "uri": uri, "name": title, "type": "track", "is_local": True,
                        "duration_ms": int(secs or 0) * 1000 if str(secs).isdigit() else 0, "explicit": False,
                        "artists": [{"id": None, "name": artist, "uri": None, "type": "artist"}],
                        "album": {"id": None, "name": album, "type": "album", "artists": []},
                        "external_ids": {}}
                return {"is_local": True, "item": item}
            if len(parts) != 3 or parts[1] not in ("track", "episode") or not _BASE62.match(parts[2]):
                raise ValueError(f"Invalid URI: {uri}")
            store = self.tracks if parts[1] == "track" else self.episodes
            if parts[2] not in store:
                raise KeyError(uri)
            item = copy.deepcopy(store[parts[2]])
            item.setdefault("type", parts[1])
            item.setdefault("uri", uri)
            return {"is_local": False, "item": item}

    def add_items(self, playlist_id: str, uris: list[str], position: int | None = None,
                  added_by: str | None = None) -> str:
        """Append (or insert at `position`) items, duplicates allowed like Spotify; return the new snapshot_id."""
        with self._lock:
            pl = self.playlists[playlist_id]
            now = _iso(self.clock())
            rows = []
            for uri in uris:
                row = self.resolve_uri(uri)
                rows.append({"added_at": now, "added_by": added_by or self.user["id"], **row})
            if position is None:
                pl["items"].extend(rows)
            else:
                pl["items"][position:position] = rows
            pl["snapshot_id"] = self._next_snapshot(playlist_id)
            return pl["snapshot_id"]

    def remove_items(self, playlist_id: str, uris: list[str]) -> str:
        """Remove every occurrence of these URIs; return the new snapshot_id."""
        with self._lock:
            pl = self.playlists[playlist_id]
            gone = set(uris)
            pl["items"] = [row for row in pl["items"] if not (row.get("item") and row["item"].get("uri") in gone)]
            pl["snapshot_id"] = self._next_snapshot(playlist_id)
            return pl["snapshot_id"]

    def move_items(self, src_id: str, dst_id: str, uris: list[str]) -> None:
        """What the listener does by dragging: remove from one playlist, append to another."""
        with self._lock:
            present = set(self.playlist_uris(src_id))
            moving = [u for u in uris if u in present]
            self.remove_items(src_id, moving)
            if moving:
                self.add_items(dst_id, moving)

    # ---- library (Liked Songs) -------------------------------------------------------------------------------
    def save_tracks(self, track_ids: list[str]) -> list[str]:
        """Heart tracks: those not yet saved go to the front of `saved_tracks` (Liked Songs shows newest first), in
        the given order; already saved ones stay where they are. Returns the ids newly saved."""
        with self._lock:
            present = set(self.saved_tracks)
            new = [t for t in dict.fromkeys(track_ids) if t not in present]
            self.saved_tracks[:0] = new   # in place: whoever holds the list sees the change
            return new

    def unsave_tracks(self, track_ids: list[str]) -> list[str]:
        """Un-heart tracks (ids that are not saved are ignored); returns the ids actually removed."""
        with self._lock:
            gone = set(track_ids)
            removed = [t for t in self.saved_tracks if t in gone]
            self.saved_tracks[:] = [t for t in self.saved_tracks if t not in gone]
            return removed

    def reset_day(self) -> None:
        """A new day: every group's quota counter back to zero."""
        with self._lock:
            self.usage.clear()

    # ---- Deezer ----------------------------------------------------------------------------------------------
    @property
    def deezer_served(self) -> bool:
        return bool(self.deezer_tracks) if self.serve_deezer is None else bool(self.serve_deezer)

    def add_deezer_track(self, track: dict) -> int:
        """Add a track to the Deezer catalogue, in Deezer's `track/{id}` shape (see `deezer_track_from_spotify`)."""
        with self._lock:
            did = int(track["id"])
            self.deezer_tracks[did] = copy.deepcopy(track)
            self._cache.pop("deezer", None)
            return did

    def add_deezer_copies(self, spotify_ids: list[str] | None = None, first_id: int = 100_000) -> dict[str, int]:
        """Deezer copies of catalogue tracks (all by default): {Spotify id: Deezer id}. Same ISRC as the Spotify
        track (so ISRC -> ReccoBeats -> Spotify id works), Deezer's spelling of the title (see
        `deezer_track_from_spotify`), rank from the hidden popularity."""
        with self._lock:
            ids = list(self.tracks) if spotify_ids is None else list(spotify_ids)
            out = {}
            for n, tid in enumerate(ids):
                did = first_id + n
                self.deezer_tracks[did] = deezer_track_from_spotify(self.tracks[tid], did,
                                                                    self.popularity.get(tid, 1.0))
                out[tid] = did
            self._cache.pop("deezer", None)
            return out

    def _deezer_index(self) -> "_DeezerIndex":
        with self._lock:
            index = self._cache.get("deezer")
            if index is None or index.size != len(self.deezer_tracks):
                index = self._cache["deezer"] = _DeezerIndex(self.deezer_tracks)
            return index

    # ---- derived indexes (cached) ----------------------------------------------------------------------------
    def _cached(self, name: str, build: Callable[[], Any]) -> Any:
        signature = (len(self.tracks), len(self.artists), len(self.audio_features), len(self.popularity))
        if self._cache.get("_signature") != signature:
            self._cache = {"_signature": signature}
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]

    def _search_rows(self) -> list[dict]:
        def build() -> list[dict]:
            order = sorted(self.tracks, key=lambda t: (-self.popularity.get(t, 0.0), t))
            rows = []
            for tid in order:
                t = self.tracks[tid]
                artist_names = [_norm(a.get("name")) for a in t.get("artists", [])]
                genres = [_norm(g) for a in t.get("artists", [])
                          for g in self.artists.get(a.get("id") or "", {}).get("genres", [])]
                album = t.get("album", {})
                year = str(album.get("release_date") or "")[:4]
                fields = {"track": _norm(t.get("name")), "artist": " ".join(artist_names),
                          "album": _norm(album.get("name"))}
                fields["all"] = "\n".join((fields["track"], fields["artist"], fields["album"]))
                rows.append({"id": tid, "fields": fields,
                             "genres": genres, "year": int(year) if year.isdigit() else None,
                             "isrc": str((t.get("external_ids") or {}).get("isrc") or "").upper()})
            return rows
        return self._cached("search", build)

    def _albums(self) -> dict[str, dict]:
        def build() -> dict[str, dict]:
            albums: dict[str, dict] = {}
            for tid, t in self.tracks.items():
                album = t.get("album") or {}
                if album.get("id"):
                    entry = albums.setdefault(album["id"], {"album": album, "track_ids": []})
                    entry["track_ids"].append(tid)
            for entry in albums.values():
                entry["track_ids"].sort(key=lambda i: (self.tracks[i].get("disc_number") or 1,
                                                       self.tracks[i].get("track_number") or 0, i))
            return albums
        return self._cached("albums", build)

    def _recco_lookup(self) -> dict[str, str]:
        """ReccoBeats accepts Spotify ids, ISRCs and its own ids: map each to the Spotify id it covers."""
        def build() -> dict[str, str]:
            lookup: dict[str, str] = {}
            for tid in self.audio_features:
                if tid not in self.tracks:
                    continue
                lookup[tid] = tid
                lookup[recco_id(tid)] = tid
                isrc = (self.tracks[tid].get("external_ids") or {}).get("isrc") or self.audio_features[tid].get("isrc")
                if isrc:
                    lookup.setdefault(str(isrc).upper(), tid)
            return lookup
        return self._cached("recco_lookup", build)

    def _popularity_percentiles(self) -> dict[str, int]:
        def build() -> dict[str, int]:
            order = sorted(self.tracks, key=lambda t: (self.popularity.get(t, 0.0), t))
            n = max(len(order) - 1, 1)
            return {tid: int(round(100 * rank / n)) for rank, tid in enumerate(order)}
        return self._cached("percentiles", build)

    def _similarity(self) -> tuple[list[str], np.ndarray]:
        def build() -> tuple[list[str], np.ndarray]:
            ids = sorted(t for t in self.audio_features if t in self.tracks)
            matrix = np.array([[_as_float(self.audio_features[t].get(k)) for k in _SIMILARITY_KEYS] for t in ids],
                              dtype=float).reshape(len(ids), len(_SIMILARITY_KEYS))
            if len(ids):
                known = ~np.isnan(matrix)
                counts = known.sum(axis=0)
                mean = np.where(known, matrix, 0.0).sum(axis=0) / np.maximum(counts, 1)
                matrix = np.where(np.isnan(matrix), mean, matrix)
                std = matrix.std(axis=0)
                matrix = (matrix - mean) / np.where(std > 0, std, 1.0)
            return ids, matrix
        return self._cached("similarity", build)


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


class _ApiError(Exception):
    """An error answer in Spotify's shape."""

    def __init__(self, status: int, message: str, reason: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.reason, self.headers = status, message, reason, headers or {}

    def body(self) -> dict:
        error: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.reason:
            error["reason"] = self.reason
        return {"error": error}


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict = field(default_factory=dict)
    delay: float = 0.0       # seconds to wait before answering (an injected timeout)
    reset: bool = False      # close the connection without answering (an injected reset)
    fault: str | None = None


class _NoAnswer(Exception):
    """An injected timeout or reset before the request is applied."""

    def __init__(self, fault: Fault):
        super().__init__(fault.kind)
        self.fault = fault


def _int_param(query: dict, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _ApiError(400, f"Invalid {name}") from None
    if not low <= value <= high:
        raise _ApiError(400, f"Invalid {name}")
    return value


_QUERY_TOKEN = re.compile(r'(\w+):"([^"]*)"|(\w+):(\S+)|"([^"]*)"|(\S+)')
_FILTERS = ("track", "artist", "album", "genre", "year", "isrc", "tag")


def _parse_query(q: str) -> list[tuple[str, str]]:
    """Split a search query into (field, value) terms; field "" is free text."""
    terms: list[tuple[str, str]] = []
    for m in _QUERY_TOKEN.finditer(q):
        fname, fval = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        if fname and fname.lower() in _FILTERS:
            terms.append((fname.lower(), fval))
        elif fname:
            terms.append(("", f"{fname}:{fval}"))
        else:
            terms.append(("", m.group(5) if m.group(5) is not None else m.group(6)))
    return terms


def _word_patterns(value: str) -> list[re.Pattern]:
    """One regex per query word: a word-prefix match, or a substring match when the value has `%`/`*`."""
    wildcard = "%" in value or "*" in value
    words = _norm(value.replace("%", " ").replace("*", " ")).split()
    return [re.compile(re.escape(w) if wildcard else r"(?:^|\s)" + re.escape(w)) for w in words]


def _compile_query(terms: list[tuple[str, str]]) -> Callable[[dict], bool]:
    """Turn parsed terms into one predicate over a search row (all terms must hold)."""
    checks: list[Callable[[dict], bool]] = []
    for fname, value in terms:
        if fname in ("track", "artist", "album", ""):
            key = fname or "all"  # free text: any of track name, artist names, album name
            for pattern in _word_patterns(value):
                checks.append(lambda row, p=pattern, k=key: p.search(row["fields"][k]) is not None)
        elif fname == "genre":
            patterns = _word_patterns(value)
            checks.append(lambda row, ps=patterns: any(all(p.search(g) for p in ps) for g in row["genres"]))
        elif fname == "year":
            m = re.fullmatch(r"(\d{4})(?:-(\d{4}))?", value.strip())
            if not m:
                return lambda row: False
            low, high = int(m.group(1)), int(m.group(2) or m.group(1))
            checks.insert(0, lambda row, lo=low, hi=high: row["year"] is not None and lo <= row["year"] <= hi)
        elif fname == "isrc":
            checks.insert(0, lambda row, v=value.strip().upper(): row["isrc"] == v)
        # "tag:" filters are ignored
    return lambda row: all(check(row) for check in checks)



# ---- Deezer ------------------------------------------------------------------------------------------------------
_DEEZER_ERRORS = {4: ("Exception", "Quota limit exceeded"), 700: ("Exception", "Service busy"),
                  800: ("DataException", "no data"), 501: ("ParameterException", "Missing or wrong parameter")}
_DASH_SUFFIX = re.compile(r"^(?P<head>.+?) - (?P<tail>.+)$")


class _DeezerError(Exception):
    """An error answer in Deezer's shape: HTTP 200 with `{"error": {"type", "message", "code"}}`."""

    def __init__(self, code: int, message: str | None = None):
        kind, default = _DEEZER_ERRORS.get(code, ("Exception", "An error occurred"))
        super().__init__(message or default)
        self.code, self.kind, self.message = code, kind, message or default

    def body(self) -> dict:
        return {"error": {"type": self.kind, "message": self.message, "code": self.code}}


def _deezer_fold(text: str | None) -> list[str]:
    """Deezer-ish search folding: case and accents off, an apostrophe joins, other punctuation splits."""
    if not text:
        return []
    decomposed = unicodedata.normalize("NFKD", str(text))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    plain = re.sub(r"['\u2019`]", "", plain)
    return re.sub(r"[^\w]+", " ", plain).split()


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def deezer_title(spotify_title: str, guests: list[str]) -> str:
    """How Deezer spells a Spotify title: a " - Remastered 2011" / " - Live" tail in brackets, guests credited in
    the title ("Song (feat. Guest)") where Spotify lists them as artists only."""
    title = spotify_title
    m = _DASH_SUFFIX.match(title)
    if m:
        title = f"{m.group('head')} ({m.group('tail')})"
    if guests and "feat." not in title.lower():
        title = f"{title} (feat. {' & '.join(guests)})"
    return title


def deezer_track_from_spotify(t: dict, deezer_id: int, popularity: float = 1.0) -> dict:
    """A Deezer `track/{id}` object for a Spotify track object: its ISRC, Deezer's spelling of the title, whole
    seconds, the main artist with every artist as a contributor, "0000-00-00" for a year-only release date."""
    artists = [a.get("name") for a in t.get("artists") or [] if a.get("name")]
    main = artists[0] if artists else ""
    album = t.get("album") or {}
    date = str(album.get("release_date") or "")
    release = date if len(date) == 10 else "0000-00-00"
    artist_id = int(hashlib.sha1(f"deezer-artist:{main}".encode()).hexdigest()[:8], 16)
    album_id = int(hashlib.sha1(f"deezer-album:{album.get('id') or album.get('name')}".encode()).hexdigest()[:8], 16)
    title = deezer_title(str(t.get("name") or ""), artists[1:])
    return {
        "id": int(deezer_id), "readable": True, "title": title, "title_short": re.split(r" [\(\[]", title)[0],
        "title_version": "", "isrc": (t.get("external_ids") or {}).get("isrc") or "",
        "link": f"https://www.deezer.com/track/{deezer_id}", "duration": int(round((t.get("duration_ms") or 0) / 1000)),
        "track_position": int(t.get("track_number") or 1), "disk_number": int(t.get("disc_number") or 1),
        "rank": int(100_000 + 9_000 * float(popularity)), "release_date": release,
        "explicit_lyrics": bool(t.get("explicit")), "explicit_content_lyrics": int(bool(t.get("explicit"))),
        "preview": f"https://cdnt-preview.dzcdn.net/api/1/1/0/0/0/{deezer_id}.mp3",
        "bpm": 0, "gain": -8.5,
        "contributors": [{"id": int(hashlib.sha1(f"deezer-artist:{n}".encode()).hexdigest()[:8], 16), "name": n,
                          "type": "artist", "role": "Main" if i == 0 else "Featured"} for i, n in enumerate(artists)],
        "artist": {"id": artist_id, "name": main, "link": f"https://www.deezer.com/artist/{artist_id}",
                   "type": "artist"},
        "album": {"id": album_id, "title": album.get("name") or "", "release_date": release, "type": "album"},
        "type": "track",
    }


_DEEZER_SEARCH_FIELDS = ("id", "readable", "title", "title_short", "title_version", "link", "duration", "rank",
                         "explicit_lyrics", "explicit_content_lyrics", "preview", "artist", "album", "type")


def _deezer_search_row(track: dict) -> dict:
    """A search result row: the track without what search leaves out (ISRC, release date, bpm, gain, ...)."""
    row = {k: copy.deepcopy(track[k]) for k in _DEEZER_SEARCH_FIELDS if k in track}
    row.get("album", {}).pop("release_date", None)
    return row


class _DeezerIndex:
    """Word postings of the Deezer catalogue (title, artist, album), with one-edit neighbours, for fuzzy search."""

    def __init__(self, deezer_tracks: dict[int, dict]):
        self.size = len(deezer_tracks)
        self.order = sorted(deezer_tracks, key=lambda d: (-int(deezer_tracks[d].get("rank") or 0), d))
        self.position = {d: i for i, d in enumerate(self.order)}
        self.postings: dict[str, dict[str, set[int]]] = {"track": {}, "artist": {}, "album": {}}
        for did, t in deezer_tracks.items():
            names = [(t.get("artist") or {}).get("name")] + [c.get("name") for c in t.get("contributors") or []]
            fields = {"track": _deezer_fold(t.get("title")), "artist": [w for n in names for w in _deezer_fold(n)],
                      "album": _deezer_fold((t.get("album") or {}).get("title"))}
            for fname, words in fields.items():
                for w in words:
                    self.postings[fname].setdefault(w, set()).add(did)
        self.words = {f: sorted(p) for f, p in self.postings.items()}
        self.by_isrc: dict[str, int] = {}
        for did in sorted(deezer_tracks):
            isrc = str(deezer_tracks[did].get("isrc") or "").upper()
            if isrc:
                self.by_isrc.setdefault(isrc, did)
        self.neighbours: dict[str, dict[str, set[str]]] = {}
        for fname, post in self.postings.items():
            near: dict[str, set[str]] = {}
            for w in post:
                if len(w) >= 4:
                    for d in _deletions(w) | {w}:
                        near.setdefault(d, set()).add(w)
            self.neighbours[fname] = near

    def _matching_words(self, fname: str, qword: str) -> set[str]:
        words = self.words[fname]
        out = set()
        i = bisect.bisect_left(words, qword)
        while i < len(words) and words[i].startswith(qword):
            out.add(words[i])
            i += 1
        if len(qword) >= 4:
            near = self.neighbours[fname]
            for d in _deletions(qword) | {qword}:
                out |= near.get(d, set())
        return out

    def _ids(self, fname: str, qword: str) -> tuple[set[int], set[int]]:
        """(ids with a word that matches `qword` loosely, ids with the very word) in the field(s)."""
        fields = ("track", "artist", "album") if fname == "" else (fname,)
        loose: set[int] = set()
        exact: set[int] = set()
        for f in fields:
            for w in self._matching_words(f, qword):
                loose |= self.postings[f][w]
            exact |= self.postings[f].get(qword, set())
        return loose, exact

    def search(self, q: str) -> list[int]:
        """Ids matching every query word, those matching more words exactly first, then by rank (Deezer orders
        by relevance; exact words are the stand-in's measure of it)."""
        found: set[int] | None = None
        exact_hits: dict[int, int] = {}
        for fname, value in _parse_query(q):
            if fname not in ("track", "artist", "album", ""):
                continue   # Deezer's other filters (label:, dur_min:, ...) are not imitated
            for qword in _deezer_fold(value):
                loose, exact = self._ids(fname, qword)
                found = loose if found is None else found & loose
                if not found:
                    return []
                for did in exact:
                    exact_hits[did] = exact_hits.get(did, 0) + 1
        return sorted(found or (), key=lambda d: (-exact_hits.get(d, 0), self.position[d]))


class _Service:
    """Request handling, independent of the HTTP plumbing: (method, path, query, body, headers) -> reply."""

    def __init__(self, server: "StandInServer"):
        self.server = server
        self.state = server.state

    # ---- plumbing --------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], raw: bytes, headers: Any) -> _Reply:
        st = self.state
        with st._lock:
            logged_body: Any = None
            group = "other"
            self._request = (method, path)
            self._after: Fault | None = None     # a timeout/reset to apply once the request was served
            self._drop: Fault | None = None
            snapshot = None
            m = re.fullmatch(r"/v1/playlists/([^/]+)(?:/items)?/?", path) if method == "GET" else None
            if m and m.group(1) in st.playlists:
                snapshot = st.playlists[m.group(1)].get("snapshot_id")
            try:
                if path.startswith("/deezer/"):
                    group = "deezer"
                    reply = self._deezer(method, path[len("/deezer/"):], query)
                elif path.startswith("/reccobeats/"):
                    group = "reccobeats"
                    reply = self._reccobeats(method, path[len("/reccobeats/v1/"):] if path.startswith(
                        "/reccobeats/v1/") else "", query)
                elif path.startswith("/accounts/"):
                    group = "token"
                    form = {k: v[-1] for k, v in
                            parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
                    if method == "POST":
                        logged_body = {"grant_type": form.get("grant_type")}  # never codes, tokens or secrets
                    reply = self._accounts(method, path[len("/accounts/"):], query, form, headers)
                elif path.startswith("/v1/"):
                    group = endpoint_group(method, path)
                    body = self._json_body(raw)
                    logged_body = body
                    reply = self._web(method, path[len("/v1/"):], query, body, headers, group)
                else:
                    raise _ApiError(404, "Service not found")
            except _ApiError as err:
                reply = _Reply(err.status, err.body(), err.headers)
            except _OAuthError as err:
                reply = _Reply(err.status, {"error": err.error, "error_description": err.description})
            except _DeezerError as err:
                reply = _Reply(200, err.body())
            except _NoAnswer as err:
                reply = _Reply(0, None, reset=err.fault.kind == "reset",
                               delay=err.fault.delay if err.fault.kind == "timeout" else 0.0, fault=err.fault.kind)
            if self._after is not None:
                reply.fault = self._after.kind
                reply.reset = self._after.kind == "reset"
                reply.delay = self._after.delay if self._after.kind == "timeout" else 0.0
            elif self._drop is not None:
                reply.fault = "drop_ids"
            status = 0 if reply.reset or reply.delay else reply.status
            deezer_error = None
            if group == "deezer" and isinstance(reply.body, dict) and isinstance(reply.body.get("error"), dict):
                deezer_error = reply.body["error"].get("code")
            self.server.calls.append(CallRecord(method, path, dict(query), logged_body, group, status,
                                                st.clock(), reply.fault, snapshot, deezer_error))
            return reply

    def _inject(self, group: str) -> None:
        """Apply the first armed fault that this request meets."""
        method, path = self._request
        for fault in self.state.faults:
            if not fault.take(method, path, group):
                continue
            if fault.kind == "status":
                message = fault.message or _DEFAULT_FAULT_MESSAGES.get(fault.status, "Error")
                extra = {"Retry-After": str(int(fault.retry_after) if float(fault.retry_after).is_integer()
                                            else fault.retry_after)} if fault.retry_after is not None else {}
                raise _ApiError(fault.status, message, reason=fault.reason, headers=extra)
            if fault.kind in ("timeout", "reset"):
                if not fault.apply:
                    raise _NoAnswer(fault)
                self._after = fault
            elif fault.kind == "drop_ids":
                self._drop = fault
            elif fault.kind == "deezer_error":
                raise _DeezerError(fault.code, fault.message)
            else:
                raise ValueError(f"unknown fault kind {fault.kind!r}")
            return

    @staticmethod
    def _json_body(raw: bytes) -> Any:
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise _ApiError(400, "Error parsing JSON.") from None

    def _gate(self, group: str, web: bool) -> None:
        st = self.state
        st.usage[group] = st.usage.get(group, 0) + 1
        self._inject(group)
        limit = st.quotas.get(group)
        if limit is not None and st.usage[group] > limit:
            raise _ApiError(429, "API rate limit exceeded", reason="QUOTA_EXCEEDED",
                            headers={"Retry-After": str(st.quota_retry_after)})
        if st.burst_429.get(group, 0) > 0:
            st.burst_429[group] -= 1
            raise _ApiError(429, "API rate limit exceeded", headers={"Retry-After": str(st.burst_retry_after)})
        if st.fail_5xx.get(group, 0) > 0:
            st.fail_5xx[group] -= 1
            extra = {"Retry-After": str(st.fail_5xx_retry_after)} if st.fail_5xx_retry_after is not None else {}
            raise _ApiError(503, "Service unavailable", headers=extra)
        if web and st.premium_required:
            raise _ApiError(403, PREMIUM_MESSAGE)
        if web and st.user_not_registered:
            raise _ApiError(403, NOT_REGISTERED_MESSAGE)

    def _bearer(self, headers: Any) -> dict:
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise _ApiError(401, "No token provided")
        record = self.state.access_tokens.get(auth[7:].strip())
        if record is None:
            raise _ApiError(401, "Invalid access token")
        if record["expires_at"] <= self.state.clock():
            raise _ApiError(401, "The access token expired")
        return record

    def _need_scope(self, token: dict, *any_of: str) -> None:
        if self.state.enforce_scopes and not set(any_of) & set((token.get("scope") or "").split()):
            raise _ApiError(403, "Insufficient client scope")

    def _url(self, path: str, params: dict | None = None) -> str:
        url = self.server.api_url + path
        return f"{url}?{urlencode(params)}" if params else url

    def _paging(self, path: str, items: list, total: int, limit: int, offset: int, query: dict,
                max_offset: int | None = None) -> dict:
        def page_url(off: int) -> str:
            return self._url(path, {**query, "offset": off, "limit": limit})
        has_next = offset + limit < total and (max_offset is None or offset + limit <= max_offset)
        return {"href": page_url(offset), "items": items, "limit": limit, "offset": offset, "total": total,
                "next": page_url(offset + limit) if has_next else None,
                "previous": page_url(max(offset - limit, 0)) if offset > 0 else None}

    # ---- payload builders ------------------------------------------------------------------------------------
    def _track_payload(self, t: dict) -> dict:
        out = copy.deepcopy(t)
        if out.get("id"):
            out["href"] = self._url(f"tracks/{out['id']}")
            out["external_urls"] = {"spotify": f"https://open.spotify.com/track/{out['id']}"}
            out["preview_url"] = None
        return out

    def _item_payload(self, item: dict | None) -> dict | None:
        if item is None:
            return None
        if item.get("type") == "track" and item.get("id"):
            return self._track_payload(item)
        return copy.deepcopy(item)

    def _user_ref(self, user_id: str, display_name: str | None = None) -> dict:
        ref = {"id": user_id, "type": "user", "uri": f"spotify:user:{user_id}",
               "href": self._url(f"users/{user_id}"),
               "external_urls": {"spotify": f"https://open.spotify.com/user/{user_id}"}}
        if display_name is not None:
            ref["display_name"] = display_name
        return ref

    def _playlist_payload(self, pl: dict, full: bool) -> dict:
        out = {k: pl.get(k) for k in ("id", "name", "description", "public", "collaborative", "snapshot_id")}
        out.update(type="playlist", uri=f"spotify:playlist:{pl['id']}", href=self._url(f"playlists/{pl['id']}"),
                   external_urls={"spotify": f"https://open.spotify.com/playlist/{pl['id']}"}, images=[],
                   owner=self._user_ref(pl["owner"]["id"], pl["owner"].get("display_name")))
        if full:
            out["items"] = self._rows_page(pl, 100, 0, {})
        else:
            out["items"] = {"href": self._url(f"playlists/{pl['id']}/items"), "total": len(pl["items"])}
        return out

    def _rows_page(self, pl: dict, limit: int, offset: int, query: dict) -> dict:
        key = "track" if self.state.legacy_track_key else "item"
        rows = []
        for row in pl["items"][offset:offset + limit]:
            rows.append({"added_at": row.get("added_at"),
                         "added_by": self._user_ref(row.get("added_by") or pl["owner"]["id"]),
                         "is_local": bool(row.get("is_local")), "primary_color": None,
                         key: self._item_payload(row.get("item"))})
        return self._paging(f"playlists/{pl['id']}/items", rows, len(pl["items"]), limit, offset, query)

    # ---- Spotify Web API -------------------------------------------------------------------------------------
    def _web(self, method: str, path: str, query: dict, body: Any, headers: Any, group: str) -> _Reply:
        token = self._bearer(headers)
        self._gate(group, web=True)
        segs = [s for s in path.strip("/").split("/") if s]
        head = segs[0] if segs else ""
        st = self.state
        if head in ("audio-features", "audio-analysis"):
            raise _ApiError(403, "Forbidden")
        if head in ("recommendations", "browse", "markets", "users") or not segs:
            raise _ApiError(404, "Service not found")
        if method == "GET":
            if segs == ["me"]:
                user = st.user
                return _Reply(200, {**self._user_ref(user["id"], user.get("display_name"))})
            if segs == ["search"]:
                return _Reply(200, self._search(query))
            if head in ("tracks", "artists", "albums") and len(segs) == 1:
                raise _ApiError(403, "Forbidden")  # batch reads: one item per call since Feb 2026
            if head == "tracks" and len(segs) == 2:
                return _Reply(200, self._track_payload(self._lookup(st.tracks, segs[1])))
            if head == "artists" and len(segs) == 2:
                return _Reply(200, self._artist_payload(self._lookup(st.artists, segs[1])))
            if head == "artists" and len(segs) == 3 and segs[2] == "related-artists":
                raise _ApiError(403, "Forbidden")
            if head == "albums" and len(segs) == 2:
                return _Reply(200, self._album_payload(segs[1]))
            if segs == ["me", "playlists"]:
                self._need_scope(token, "playlist-read-private")
                limit = _int_param(query, "limit", 20, 1, 50)
                offset = _int_param(query, "offset", 0, 0, 100_000)
                pls = list(st.playlists.values())
                items = [self._playlist_payload(p, full=False) for p in pls[offset:offset + limit]]
                return _Reply(200, self._paging("me/playlists", items, len(pls), limit, offset, {}))
            if segs == ["me", "tracks"]:
                self._need_scope(token, "user-library-read")
                limit = _int_param(query, "limit", 20, 1, 50)
                offset = _int_param(query, "offset", 0, 0, 100_000)
                known = [t for t in st.saved_tracks if t in st.tracks]
                now = st.clock()
                items = [{"added_at": _iso(now - (offset + i) * 86400), "track": self._track_payload(st.tracks[t])}
                         for i, t in enumerate(known[offset:offset + limit])]
                return _Reply(200, self._paging("me/tracks", items, len(known), limit, offset,
                                                _keep(query, "market")))
            if segs == ["me", "library", "contains"]:
                self._need_scope(token, "user-library-read")
                saved = set(st.saved_tracks)
                return _Reply(200, [tid in saved for tid in self._library_ids(query)])
            if len(segs) == 3 and segs[:2] == ["me", "top"] and segs[2] in ("artists", "tracks"):
                self._need_scope(token, "user-top-read")
                limit = _int_param(query, "limit", 20, 1, 50)
                offset = _int_param(query, "offset", 0, 0, 100_000)
                if query.get("time_range", "medium_term") not in ("short_term", "medium_term", "long_term"):
                    raise _ApiError(400, "Invalid time range")
                if segs[2] == "artists":
                    ids = [a for a in st.top_artists if a in st.artists]
                    items = [self._artist_payload(st.artists[a]) for a in ids[offset:offset + limit]]
                else:
                    ranked = st.top_tracks_by_range.get(query.get("time_range", "medium_term")) or st.top_tracks
                    ids = [t for t in ranked if t in st.tracks]
                    items = [self._track_payload(st.tracks[t]) for t in ids[offset:offset + limit]]
                return _Reply(200, self._paging(path.strip("/"), items, len(ids), limit, offset,
                                                _keep(query, "time_range")))
        if segs == ["me", "playlists"] and method == "POST":
            self._need_scope(token, *_MODIFY_SCOPES)
            if not isinstance(body, dict) or not body.get("name"):
                raise _ApiError(400, "Missing required field: name")
            pid = st.create_playlist(str(body["name"]), public=bool(body.get("public", True)),
                                     description=str(body.get("description") or ""),
                                     collaborative=bool(body.get("collaborative", False)))
            return _Reply(201, self._playlist_payload(st.playlists[pid], full=True))
        if segs == ["me", "library"]:
            if method not in ("PUT", "DELETE"):
                raise _ApiError(405, "Method not allowed")
            self._need_scope(token, "user-library-modify")
            ids = self._library_ids(query)
            if method == "PUT":
                unknown = [t for t in ids if t not in st.tracks]
                if unknown:
                    raise _ApiError(400, "Payload contains a non-existing ID")
                st.save_tracks(ids)
            else:
                st.unsave_tracks(ids)
            return _Reply(200, None)
        if head == "playlists" and len(segs) >= 2:
            return self._playlist_route(method, segs, query, body, token)
        raise _ApiError(404, "Service not found")

    @staticmethod
    def _library_ids(query: dict) -> list[str]:
        """The track ids of a /me/library call's `uris` (1-40 `spotify:track:` URIs, in order, repeats kept)."""
        raw = query.get("uris")
        if not raw:
            raise _ApiError(400, "Missing required parameter: uris")
        uris = raw.split(",")
        if len(uris) > LIBRARY_MAX_URIS:
            raise _ApiError(400, f"Too many ids requested: at most {LIBRARY_MAX_URIS} URIs")
        ids = []
        for uri in uris:
            m = _TRACK_URI.fullmatch(uri)
            if m is None:
                raise _ApiError(400, f"Unsupported or invalid URI: {uri}")
            ids.append(m.group(1))
        return ids

    def _lookup(self, store: dict, item_id: str) -> dict:
        if not _BASE62.match(item_id):
            raise _ApiError(400, "Invalid base62 id")
        if item_id not in store:
            raise _ApiError(404, "Resource not found")
        return store[item_id]

    def _artist_payload(self, artist: dict) -> dict:
        out = copy.deepcopy(artist)
        out["href"] = self._url(f"artists/{artist['id']}")
        out["external_urls"] = {"spotify": f"https://open.spotify.com/artist/{artist['id']}"}
        out.setdefault("genres", [])
        return out

    def _album_payload(self, album_id: str) -> dict:
        albums = self.state._albums()
        entry = self._lookup(albums, album_id)
        album = copy.deepcopy(entry["album"])
        tracks = []
        for tid in entry["track_ids"]:
            t = self._track_payload(self.state.tracks[tid])
            t.pop("album", None)
            tracks.append(t)
        album.update(type="album", uri=f"spotify:album:{album_id}", href=self._url(f"albums/{album_id}"),
                     total_tracks=len(tracks),
                     tracks=self._paging(f"albums/{album_id}/tracks", tracks[:50], len(tracks), 50, 0, {}))
        return album

    def _search(self, query: dict) -> dict:
        q = (query.get("q") or "").strip()
        if not q:
            raise _ApiError(400, "No search query")
        types = [t.strip() for t in (query.get("type") or "").split(",") if t.strip()]
        if not types:
            raise _ApiError(400, "Missing parameter type")
        if "track" not in types:
            raise _ApiError(400, "Bad search type field")
        limit = _int_param(query, "limit", 5, 1, 10)
        offset = _int_param(query, "offset", 0, 0, 1000)
        rows = self.state._search_rows()
        results = self.state._cached("search_results", dict)  # paging through one query scans the catalogue once
        matches = results.get(q)
        if matches is None:
            matches_query = _compile_query(_parse_query(q))
            matches = [row["id"] for row in rows if matches_query(row)]
            if len(results) >= 512:
                results.pop(next(iter(results)))
            results[q] = matches
        items = [self._track_payload(self.state.tracks[t]) for t in matches[offset:offset + limit]]
        page_query = _keep(query, "q", "type", "market")
        out = {"tracks": self._paging("search", items, len(matches), limit, offset, page_query, max_offset=1000)}
        for other in types:
            if other != "track":
                out[other + "s"] = self._paging("search", [], 0, limit, offset, page_query)
        return out

    def _playlist_route(self, method: str, segs: list[str], query: dict, body: Any, token: dict) -> _Reply:
        st = self.state
        pl = self._lookup(st.playlists, segs[1])
        rest = segs[2:]
        if rest and rest != ["items"]:
            raise _ApiError(404, "Service not found")  # /tracks is gone (renamed /items)
        owner_ok = pl["owner"]["id"] == st.user["id"] or pl.get("collaborative")
        if not owner_ok:
            raise _ApiError(403, "Forbidden")
        if not rest:
            if method == "GET":
                return _Reply(200, self._playlist_payload(pl, full=True))
            if method == "PUT":
                self._need_scope(token, *_MODIFY_SCOPES)
                for key in ("name", "description", "public", "collaborative"):
                    if isinstance(body, dict) and key in body:
                        pl[key] = body[key]
                return _Reply(200, None)
            raise _ApiError(405, "Method not allowed")
        if method == "GET":
            limit = _int_param(query, "limit", 20, 1, 50)
            offset = _int_param(query, "offset", 0, 0, 100_000)
            return _Reply(200, self._rows_page(pl, limit, offset, _keep(query, "market", "additional_types")))
        self._need_scope(token, *_MODIFY_SCOPES)
        if method in ("POST", "PUT"):
            uris = body.get("uris") if isinstance(body, dict) else body
            if uris is None and query.get("uris"):
                uris = query["uris"].split(",")
            if uris is None and method == "PUT" and isinstance(body, dict) and "range_start" in body:
                raise _ApiError(400, "Reordering is not supported by the stand-in")
            if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
                raise _ApiError(400, "Invalid request: uris missing")
            if len(uris) > 100:
                raise _ApiError(400, "Too many ids requested")
            if method == "POST" and not uris:
                raise _ApiError(400, "Invalid request: uris missing")
            for uri in uris:
                self._check_addable(uri)
            position = body.get("position") if isinstance(body, dict) else None
            if position is None and query.get("position") not in (None, ""):
                position = _int_param(query, "position", 0, 0, len(pl["items"]))
            if method == "PUT":
                pl["items"] = []
                position = None
            snapshot = st.add_items(pl["id"], uris, position=position) if uris else st._next_snapshot(pl["id"])
            pl["snapshot_id"] = snapshot
            return _Reply(201 if method == "POST" else 200, {"snapshot_id": snapshot})
        if method == "DELETE":
            entries = None
            if isinstance(body, dict):
                entries = body.get("items", body.get("tracks"))
            if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("uri") for e in entries):
                raise _ApiError(400, "Invalid request: items missing")
            if len(entries) > 100:
                raise _ApiError(400, "Too many ids requested")
            return _Reply(200, {"snapshot_id": st.remove_items(pl["id"], [e["uri"] for e in entries])})
        raise _ApiError(405, "Method not allowed")

    def _check_addable(self, uri: str) -> None:
        parts = uri.split(":")
        if len(parts) != 3 or parts[0] != "spotify" or parts[1] not in ("track", "episode") \
                or not _BASE62.match(parts[2]):
            raise _ApiError(400, f"Invalid base62 id or unsupported URI: {uri}")
        store = self.state.tracks if parts[1] == "track" else self.state.episodes
        if parts[2] not in store:
            raise _ApiError(400, "Payload contains a non-existing ID")

    # ---- accounts service ------------------------------------------------------------------------------------
    def _accounts(self, method: str, path: str, query: dict, form: dict, headers: Any) -> _Reply:
        path = path.strip("/")
        if path == "authorize" and method == "GET":
            return self._authorize(query)
        if path == "api/token" and method == "POST":
            self._gate("token", web=False)
            return self._token(form, headers)
        raise _ApiError(404, "Service not found")

    def _authorize(self, query: dict) -> _Reply:
        redirect_uri = query.get("redirect_uri")
        if not query.get("client_id") or not redirect_uri:
            raise _OAuthError("invalid_request", "client_id and redirect_uri are required")
        if query.get("response_type") != "code":
            raise _OAuthError("unsupported_response_type", "response_type must be code")
        code = self.server.issue_auth_code(scope=query.get("scope") or "", redirect_uri=redirect_uri,
                                           code_challenge=query.get("code_challenge"))
        params = {"code": code}
        if query.get("state") is not None:
            params["state"] = query["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return _Reply(302, None, {"Location": f"{redirect_uri}{sep}{urlencode(params)}"})

    def _token(self, form: dict, headers: Any) -> _Reply:
        client_id = form.get("client_id")
        basic = headers.get("Authorization") or ""
        if basic.startswith("Basic "):
            try:
                client_id = base64.b64decode(basic[6:]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                raise _OAuthError("invalid_client", "Invalid client") from None
        if not client_id:
            raise _OAuthError("invalid_client", "Invalid client")
        grant = form.get("grant_type")
        st = self.state
        if grant == "authorization_code":
            code = form.get("code") or ""
            if code == STANDIN_CODE:
                record = {"scope": ALL_SCOPES, "redirect_uri": None, "code_challenge": None}
            elif code in st.auth_codes:
                record = st.auth_codes.pop(code)
            else:
                raise _OAuthError("invalid_grant", "Invalid authorization code")
            if record.get("redirect_uri") and form.get("redirect_uri") != record["redirect_uri"]:
                raise _OAuthError("invalid_grant", "Invalid redirect URI")
            if record.get("code_challenge"):
                verifier = form.get("code_verifier") or ""
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if digest != record["code_challenge"]:
                    raise _OAuthError("invalid_grant", "code_verifier was incorrect")
            token = self.server.issue_token(record["scope"])
        elif grant == "refresh_token":
            refresh = form.get("refresh_token") or ""
            if refresh not in st.refresh_tokens:
                raise _OAuthError("invalid_grant", "Invalid refresh token")
            if st.refresh_tokens_revoked or refresh in st.revoked_refresh_tokens:
                raise _OAuthError("invalid_grant", "Refresh token revoked")
            token = self.server._new_access_token(st.refresh_tokens[refresh]["scope"], refresh)
        else:
            raise _OAuthError("unsupported_grant_type", f"grant_type {grant!r} is not supported")
        token.pop("expires_at", None)
        return _Reply(200, token)

    # ---- ReccoBeats ------------------------------------------------------------------------------------------
    def _reccobeats(self, method: str, path: str, query: dict) -> _Reply:
        self._gate("reccobeats", web=False)
        path = path.strip("/")
        if method != "GET" or path not in ("audio-features", "track", "track/recommendation"):
            raise _ApiError(404, "Not found")
        st = self.state
        lookup = st._recco_lookup()
        if path == "track/recommendation":
            seeds = [s.strip() for s in (query.get("seeds") or "").split(",") if s.strip()]
            if not seeds:
                raise _ApiError(400, "seeds is required")
            if len(seeds) > 5:
                raise _ApiError(400, "At most 5 seeds are allowed")
            size = _int_param(query, "size", 10, 1, 100)
            seed_ids = []
            for seed in seeds:
                tid = lookup.get(seed) or lookup.get(seed.upper())
                if tid and tid not in seed_ids:
                    seed_ids.append(tid)
            return _Reply(200, {"content": [self._recco_track(t) for t in self._similar(seed_ids, size)]})
        ids = [i.strip() for i in (query.get("ids") or "").split(",") if i.strip()]
        if not ids:
            raise _ApiError(400, "ids is required")
        if self._drop is not None:
            ids = [i for n, i in enumerate(ids[:40], 1) if n % max(1, self._drop.drop_every)]
        found: list[str] = []
        for given in ids[:40]:
            tid = lookup.get(given) or lookup.get(given.upper())
            if tid and tid not in found:
                found.append(tid)
        if path == "track":
            return _Reply(200, {"content": [self._recco_track(t) for t in found]})
        return _Reply(200, {"content": [self._recco_features(t) for t in found]})

    def _recco_features(self, tid: str) -> dict:
        feats = self.state.audio_features[tid]
        isrc = (self.state.tracks[tid].get("external_ids") or {}).get("isrc") or feats.get("isrc")
        row: dict[str, Any] = {"id": recco_id(tid), "href": f"https://open.spotify.com/track/{tid}", "isrc": isrc}
        for key in FEATURE_KEYS:
            if key in feats:
                row[key] = feats[key]
        return row

    def _recco_track(self, tid: str) -> dict:
        t = self.state.tracks[tid]
        return {"id": recco_id(tid), "trackTitle": t.get("name"),
                "artists": [{"id": recco_id(a.get("id") or a.get("name", ""), "artist"), "name": a.get("name"),
                             "href": f"https://open.spotify.com/artist/{a.get('id')}"} for a in t.get("artists", [])],
                "durationMs": t.get("duration_ms"), "isrc": (t.get("external_ids") or {}).get("isrc"),
                "href": f"https://open.spotify.com/track/{tid}",
                "popularity": self.state._popularity_percentiles().get(tid, 0)}

    def _similar(self, seed_ids: list[str], size: int) -> list[str]:
        ids, matrix = self.state._similarity()
        if not seed_ids or not ids:
            return []
        index = {t: i for i, t in enumerate(ids)}
        centre = matrix[[index[s] for s in seed_ids]].mean(axis=0)
        dist = ((matrix - centre) ** 2).sum(axis=1)
        order = np.lexsort((np.arange(len(ids)), np.round(dist, 12)))  # ids are sorted: index breaks ties by id
        seeds = set(seed_ids)
        return [ids[i] for i in order if ids[i] not in seeds][:size]

    # ---- Deezer ----------------------------------------------------------------------------------------------
    def _deezer(self, method: str, path: str, query: dict) -> _Reply:
        st = self.state
        if not st.deezer_served:
            raise _ApiError(404, "Service not found")
        self._gate("deezer", web=False)
        now = st.clock()
        if st.deezer_rate is not None:
            limit, window = st.deezer_rate
            sent = st._deezer_sent
            while sent and now - sent[0] >= window:
                sent.popleft()
            sent.append(now)
            if len(sent) > limit:
                raise _DeezerError(4)
        path = path.strip("/")
        if method != "GET":
            raise _DeezerError(501, "Only GET is served")
        if path == "search":
            return _Reply(200, self._deezer_search(query))
        m = re.fullmatch(r"track/(?:isrc:(?P<isrc>[^/]+)|(?P<id>[^/]+))", path)
        if m is None:
            raise _DeezerError(800)
        if m.group("isrc") is not None:
            did = st._deezer_index().by_isrc.get(m.group("isrc").strip().upper())
            track = st.deezer_tracks.get(did) if did is not None else None
        else:
            track = st.deezer_tracks.get(int(m.group("id"))) if m.group("id").isdigit() else None
        if track is None:
            raise _DeezerError(800)
        return _Reply(200, copy.deepcopy(track))

    def _deezer_search(self, query: dict) -> dict:
        q = (query.get("q") or "").strip()
        if not q:
            raise _DeezerError(501, "Missing parameter q")
        try:
            limit = int(query.get("limit") or 25)
            index = int(query.get("index") or 0)
        except ValueError:
            raise _DeezerError(501, "Wrong parameter") from None
        if limit < 1 or index < 0:
            raise _DeezerError(501, "Wrong parameter")
        limit = min(limit, 100)
        ids = self.state._deezer_index().search(q)
        rows = [_deezer_search_row(self.state.deezer_tracks[d]) for d in ids[index:index + limit]]
        out: dict[str, Any] = {"data": rows, "total": len(ids)}
        if index + limit < len(ids):
            more = urlencode({"q": q, "limit": limit, "index": index + limit})
            out["next"] = f"{self.server.deezer_url}/search?{more}"
        return out


def _keep(query: dict, *names: str) -> dict:
    return {k: query[k] for k in names if query.get(k) not in (None, "")}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the 40 ms delayed-ACK stall
    server: "_HTTPServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default stderr log
        return

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        reply = self.server.service.handle(method, split.path, query, raw, self.headers)
        if reply.delay:
            time.sleep(reply.delay)   # outside the state lock: other requests go on
        if reply.reset or reply.status == 0:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        payload = b"" if reply.body is None else json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        self.send_response(reply.status)
        if payload:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        try:
            self.end_headers()
            self.wfile.write(payload)
        except OSError:   # the client gave up waiting (an injected timeout)
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    service: _Service


class StandInServer:
    """The loopback server: Spotify Web API under /v1/, accounts under /accounts/, ReccoBeats under /reccobeats/v1/."""

    def __init__(self, state: StandInState, host: str = "127.0.0.1", port: int = 0, access_token_ttl: int = 3600):
        self.state = state
        self.host = host
        self.port = port
        self.access_token_ttl = access_token_ttl
        self.calls: list[CallRecord] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "StandInServer":
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.service = _Service(self)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"standin-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join()
            self._httpd = self._thread = None

    def __enter__(self) -> "StandInServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("StandInServer is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1/"

    @property
    def accounts_url(self) -> str:
        return f"{self.base_url}/accounts"

    @property
    def reccobeats_url(self) -> str:
        return f"{self.base_url}/reccobeats/v1"

    @property
    def deezer_url(self) -> str:
        return f"{self.base_url}/deezer"

    def env(self) -> dict[str, str]:
        """The environment that points the tool at this server. Deezer is `off` unless the state serves it, so a
        catalogue made without Deezer data meets no Deezer calls (and never the real api.deezer.com)."""
        return {"SPOTIFY_MODEL_API_URL": self.api_url, "SPOTIFY_MODEL_ACCOUNTS_URL": self.accounts_url,
                "SPOTIFY_MODEL_RECCOBEATS_URL": self.reccobeats_url,
                "SPOTIFY_MODEL_DEEZER_URL": self.deezer_url if self.state.deezer_served else "off"}

    def calls_in(self, group: str) -> list[CallRecord]:
        """The logged calls of one endpoint group."""
        with self.state._lock:
            return [c for c in self.calls if c.group == group]

    # ---- tokens ----------------------------------------------------------------------------------------------
    def _new_access_token(self, scope: str, refresh_token: str, expires_in: int | None = None) -> dict:
        ttl = self.access_token_ttl if expires_in is None else expires_in
        access = secrets.token_urlsafe(24)
        now = self.state.clock()
        with self.state._lock:
            self.state.access_tokens[access] = {"expires_at": now + ttl, "scope": scope}
        return {"access_token": access, "token_type": "Bearer", "expires_in": ttl, "scope": scope,
                "expires_at": int(now + ttl), "refresh_token": refresh_token}

    def issue_token(self, scope: str = ALL_SCOPES, expires_in: int | None = None) -> dict:
        """A spotipy-cache-shaped token valid on this server (expires_in <= 0 gives an already expired one)."""
        refresh = secrets.token_urlsafe(24)
        with self.state._lock:
            self.state.refresh_tokens[refresh] = {"scope": scope}
        return self._new_access_token(scope, refresh, expires_in)

    def issue_auth_code(self, scope: str = ALL_SCOPES, redirect_uri: str | None = None,
                        code_challenge: str | None = None) -> str:
        """An authorization code the token endpoint will exchange once (what /authorize hands the redirect URI)."""
        code = secrets.token_urlsafe(16)
        with self.state._lock:
            self.state.auth_codes[code] = {"scope": scope, "redirect_uri": redirect_uri,
                                           "code_challenge": code_challenge}
        return code

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired (no waiting in tests)."""
        with self.state._lock:
            past = self.state.clock() - 1
            for record in self.state.access_tokens.values():
                record["expires_at"] = past

    def revoke_refresh_token(self, refresh_token: str) -> None:
        with self.state._lock:
            self.state.revoked_refresh_tokens.add(refresh_token)
