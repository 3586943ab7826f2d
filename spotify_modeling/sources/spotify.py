"""The Spotify Web API client: this project's own retry, quota and budget policy in `_call`, over spotipy's login.

Development Mode in 2026 allows one item per read and a few hundred calls per endpoint group per day, so every
call is counted (`calls_made`, the injected recorder), a short 429 is waited out, and a quota wall stops the job at once.

spotipy is used only through its public API: its auth manager gives the access token (`get_access_token`, which
refreshes a token expiring within 60 s) and `SpotifyException` carries an HTTP error. The request itself is sent by
`_send` on this client's `requests` session, not by spotipy: its `_get`/`_post`/... are private, and its public
helpers send other requests than these (a bare list to `playlists/{id}/items`, `collaborative` on a new playlist,
extra query parameters). `_send` sends exactly what spotipy's `_internal_call` sent and reads errors the same way.
"""

from __future__ import annotations

import json
import itertools
import os
import time
from typing import Any, Callable, Iterator, Protocol

import requests
import spotipy
from spotipy.exceptions import SpotifyException, SpotifyOauthError

from spotify_modeling.sources.auth import (LOGIN_HINT, AuthManager, cached_token_or_raise, login_expired,
                                   make_auth_manager, silence_spotipy_logging)
from spotify_modeling.core.records import (ArtistRecord, AudioFeatures, PlaylistItem, PlaylistRecord, TrackRecord,
                                           item_kind)
from spotify_modeling.errors import CallBudgetSpent, NeedsLogin, QuotaExhausted, ServiceUnavailable
from spotify_modeling.home import Home
from spotify_modeling.sources.endpoints import endpoint_group
from spotify_modeling.sources.errors import ApiError, Forbidden, NotFound, RateLimited

DEFAULT_API_URL = "https://api.spotify.com/v1/"
SEARCH_LIMIT_MAX = 10
SEARCH_OFFSET_MAX = 1000
PAGE = 50
WRITE_CHUNK = 100
LIBRARY_CONTAINS_MAX = 40  # GET me/library/contains refuses more than 40 URIs with 400
NO_RESPONSE = 0  # status recorded for a timeout or a connection error
DEFAULT_RATE_WAIT = 1.0  # a 429 without Retry-After (Spotify always sends one; be defensive)


class CallRecorder(Protocol):
    def record_call(self, group: str, status: int) -> None: ...


def _retry_after(headers: Any) -> float | None:
    try:
        value = (headers or {}).get("Retry-After")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "later"
    if seconds < 90 * 60:
        return f"in about {max(1, round(seconds / 60))} minutes"
    return f"in about {round(seconds / 3600, 1):g} hours"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:g} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600, 1):g} h"


_item_kind = item_kind   # what a playlist row holds (core.records)


class SpotifyClient:
    """One-item-per-call Spotify client with a call budget, bounded retries and user-actionable errors."""

    def __init__(self, auth_manager: AuthManager | Any, *, api_url: str | None = None,
                 recorder: CallRecorder | None = None, max_calls: int | None = None, max_wait: float = 60.0,
                 sleep: Callable[[float], Any] = time.sleep, max_retries: int = 3, max_rate_waits: int = 8,
                 backoff: float = 1.0, requests_timeout: float = 15.0,
                 session: requests.Session | None = None, max_total_wait: float = 120.0):
        silence_spotipy_logging()
        self.auth_manager = auth_manager
        self.api_url = (api_url or os.environ.get("SPOTIFY_MODEL_API_URL", "").strip() or DEFAULT_API_URL)
        if not self.api_url.endswith("/"):
            self.api_url += "/"
        self.recorder = recorder
        self.max_calls = max_calls
        self.max_wait = max_wait
        self.sleep = sleep
        self.max_retries = max_retries
        self.max_rate_waits = max_rate_waits   # short 429 waits per call ...
        self.max_total_wait = max_total_wait   # ... and seconds of them in one burst (until a call succeeds)
        self._waited = 0.0
        self.backoff = backoff
        self.calls_made = 0
        self._current_method: str | None = None
        self._session = session if session is not None else requests.Session()
        self._last_status: int | None = None
        self._session.hooks["response"].append(self._remember_status)
        self.requests_timeout = requests_timeout
        # Requests go out through `_send`, not spotipy. `sp` is a spotipy client on the same session and address for
        # callers who want one of its public helpers; passing our own Session makes spotipy mount no urllib3 Retry
        # adapter, so this class owns all retrying either way.
        self.sp = spotipy.Spotify(auth_manager=auth_manager, requests_session=self._session, retries=0,
                                  status_retries=0, requests_timeout=requests_timeout)
        self.sp.prefix = self.api_url

    @classmethod
    def from_env(cls, home: Home | None = None, **kwargs: Any) -> "SpotifyClient":
        """A client for non-interactive commands: fails with `NeedsLogin` up front when there is no usable login."""
        auth = make_auth_manager(home, open_browser=False, interactive=False)
        cached_token_or_raise(auth)
        return cls(auth, **kwargs)

    def _remember_status(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self._last_status = response.status_code
        return response

    # ---------------------------------------------------------------- one request, as spotipy would send it
    def _access_token(self) -> str:
        """The auth manager's access token; spotipy's managers refresh one that expires within 60 s first."""
        try:
            return self.auth_manager.get_access_token(as_dict=False)
        except TypeError:   # a manager without `as_dict` (spotipy's client falls back the same way)
            return self.auth_manager.get_access_token()

    def _send(self, method: str, path: str, params: dict | None = None, payload: Any = None) -> Any:
        """Send one request; the decoded JSON answer (None for an empty or non-JSON one), or `SpotifyException`.

        Byte for byte what spotipy 2.26's `Spotify._internal_call` sends (the address under `api_url`, the bearer
        token, `Content-Type: application/json`, the payload as `json.dumps`, the timeout), and an HTTP error is
        raised the way it raises it: status, Spotify's `error.message` (else the body's text) after the URL and a
        newline, `error.reason`, and the response headers (`Retry-After`). Timeouts and connection errors propagate.
        """
        url = path if path.startswith("http") else self.api_url + path
        headers = {"Authorization": f"Bearer {self._access_token()}"} if self.auth_manager else {}
        headers["Content-Type"] = "application/json"
        data = json.dumps(payload) if payload else None
        try:
            response = self._session.request(method, url, headers=headers, proxies=None,
                                             timeout=self.requests_timeout, params=dict(params or {}), data=data)
        except requests.exceptions.RetryError as err:   # only with a caller's session that retries on its own
            reason = getattr(err.args[0], "reason", None) if err.args else None
            raise SpotifyException(429, -1, f"{err.request.path_url}:\n Max Retries", reason=reason) from None
        if 400 <= response.status_code < 600:
            try:
                error = response.json().get("error", {})
                msg, reason = error.get("message"), error.get("reason")
            except ValueError:   # not JSON: the text, or None for an empty body
                msg, reason = response.text or None, None
            raise SpotifyException(response.status_code, -1, f"{response.url}:\n {msg}", reason=reason,
                                   headers=response.headers)
        try:
            return response.json()
        except ValueError:
            return None

    # ---------------------------------------------------------------- the one place with a retry policy
    def _record(self, group: str, status: int) -> None:
        if self.recorder is not None:
            self.recorder.record_call(group, status)

    def _call(self, method: str, path: str, params: dict | None = None, payload: Any = None) -> Any:
        group = endpoint_group(method, path)
        self._current_method = method
        failures = rate_waits = 0
        refreshed = False
        while True:
            if self.max_calls is not None and self.calls_made >= self.max_calls:
                raise CallBudgetSpent(f"This run's budget of {self.max_calls} Spotify calls is spent.",
                                      "Everything fetched so far is kept; run again to continue.", group=group)
            self._last_status = None
            try:
                result = self._send(method, path, params, payload)
            except SpotifyException as err:
                self.calls_made += 1
                self._record(group, err.http_status)
                action = self._on_http_error(err, group, failures, rate_waits, refreshed)
                if action == "refreshed":
                    refreshed = True
                elif action == "waited":
                    rate_waits += 1
                else:
                    failures += 1
                continue
            except SpotifyOauthError as err:  # the token refresh before sending failed: no API call went out
                raise login_expired(err) from None
            except (requests.Timeout, requests.ConnectionError) as err:
                self.calls_made += 1
                self._record(group, NO_RESPONSE)
                self._backoff_or_raise(group, failures, f"Spotify did not answer ({type(err).__name__}).")
                failures += 1
                continue
            self.calls_made += 1
            self._record(group, self._last_status or 200)
            self._waited = 0.0   # the burst is over: the bound is on one burst's waits, not on a whole run's
            return result

    def _backoff_or_raise(self, group: str, failures: int, message: str) -> None:
        if self._current_method == "POST":
            # A POST that timed out or met a 5xx may have been applied: retrying could add a track twice or create a
            # second playlist. The caller re-reads and adds only what is missing.
            raise ServiceUnavailable(f"{message} The change may or may not have been applied ({group}).",
                                     "Everything fetched so far is kept; run again later.")
        if failures >= self.max_retries:
            raise ServiceUnavailable(f"{message} Gave up after {failures + 1} tries ({group} calls).",
                                     "Everything fetched so far is kept; try again later.")
        self.sleep(self.backoff * 2 ** failures)

    def _on_http_error(self, err: SpotifyException, group: str, failures: int, rate_waits: int,
                       refreshed: bool) -> str:
        """Sleep or refresh and say how to retry, or raise the error the user should see."""
        status = err.http_status
        message = str(err.msg or "").split("\n", 1)[-1].strip()
        lowered = message.lower()
        if status == 429:
            wait = _retry_after(err.headers)
            if err.reason == "QUOTA_EXCEEDED":
                raise QuotaExhausted(f"Spotify's daily limit for {group} calls is reached.",
                                     f"Everything fetched so far is kept; run again {_hours(wait)}.",
                                     retry_after=wait, group=group)
            wait = DEFAULT_RATE_WAIT if wait is None else max(0.0, wait)
            if wait > self.max_wait:
                raise RateLimited(f"Spotify's rate limit asks to wait {_duration(wait)} before more {group} calls "
                                  f"(a short-term limit, not the daily quota; this run waits at most "
                                  f"{_duration(self.max_wait)}).",
                                  f"Everything fetched so far is kept; run again {_hours(wait)}.",
                                  retry_after=wait, group=group)
            if rate_waits >= self.max_rate_waits or self._waited + wait > self.max_total_wait:
                raise RateLimited(f"Spotify kept rate-limiting {group} calls: {_duration(self._waited)} of short "
                                  f"waits in this burst, {rate_waits} on this call (a short-term limit, not the "
                                  "daily quota).",
                                  "Everything fetched so far is kept; run again in a few minutes.",
                                  retry_after=wait, group=group)
            self._waited += wait
            self.sleep(wait)
            return "waited"
        if status >= 500:
            self._backoff_or_raise(group, failures, f"Spotify answered {status}.")
            return "failed"
        if status == 401:
            if refreshed:
                raise NeedsLogin("Spotify keeps rejecting the saved login.", LOGIN_HINT)
            self._force_refresh()
            return "refreshed"
        if status == 403:
            if "premium" in lowered:
                raise NeedsLogin("Spotify requires the app's owner to have Spotify Premium.",
                                 "Use an app created by a Premium account (developer.spotify.com/dashboard).")
            if "not registered" in lowered or "allow" in lowered:
                raise NeedsLogin("This Spotify account is not on the app's allow-list.",
                                 "Add yourself under User Management in your app's Developer Dashboard.")
            raise Forbidden(f"Spotify refused {group} access: {message or 'forbidden'}", status=403, group=group,
                            reason=err.reason)
        if status == 404:
            raise NotFound(f"Spotify has no such item ({group}).", status=404, group=group, reason=err.reason)
        raise ApiError(f"Spotify answered {status} to a {group} call: {message}", status=status, group=group,
                       reason=err.reason)

    def _force_refresh(self) -> None:
        token = self.auth_manager.cache_handler.get_cached_token() if self.auth_manager else None
        if not token or not token.get("refresh_token"):
            raise NeedsLogin("Spotify rejected the saved login.", LOGIN_HINT)
        try:
            self.auth_manager.refresh_access_token(token["refresh_token"])
        except SpotifyOauthError as err:
            raise login_expired(err) from None
        except requests.RequestException:
            raise ServiceUnavailable("Could not reach Spotify's login service.", "Try again later.") from None

    def _pages(self, path: str, params: dict | None = None, page: int = PAGE) -> Iterator[dict]:
        offset = 0
        while True:
            data = self._call("GET", path, {**(params or {}), "limit": page, "offset": offset}) or {}
            items = data.get("items") or []
            yield from items
            offset += len(items)
            total = data.get("total")
            if (not items or (total is not None and offset >= total)
                    or ("next" in data and not data["next"]) or (total is None and len(items) < page)):
                return

    # ---------------------------------------------------------------- endpoints (one item per call)
    def me(self) -> dict:
        return self._call("GET", "me")

    def search_tracks(self, query: str, limit: int = 10, offset: int = 0) -> tuple[list[dict], int]:
        """One search page; Spotify refuses limit > 10 and offset > 1000, so limit is clamped and offset checked."""
        limit = max(1, min(SEARCH_LIMIT_MAX, int(limit)))
        if not 0 <= offset <= SEARCH_OFFSET_MAX:
            raise ValueError(f"search offset must be within 0..{SEARCH_OFFSET_MAX}, got {offset}")
        data = self._call("GET", "search", {"q": query, "type": "track", "limit": limit, "offset": offset,
                                            "market": "from_token"}) or {}
        tracks = data.get("tracks") or {}
        return list(tracks.get("items") or []), int(tracks.get("total") or 0)

    def _one(self, kind: str, item_id: str) -> dict | None:
        try:
            return self._call("GET", f"{kind}/{item_id}")
        except NotFound:
            return None

    def track(self, track_id: str) -> dict | None:
        """Full track object, or None when Spotify no longer has it."""
        return self._one("tracks", track_id)

    def artist(self, artist_id: str) -> dict | None:
        """Full artist object (with its possibly empty `genres`), or None when unknown."""
        return self._one("artists", artist_id)

    def album(self, album_id: str) -> dict | None:
        return self._one("albums", album_id)

    def top_artists(self, time_range: str = "long_term") -> list[dict]:
        return list(self._pages("me/top/artists", {"time_range": time_range}))

    def top_tracks(self, time_range: str = "long_term") -> list[dict]:
        return list(self._pages("me/top/tracks", {"time_range": time_range}))

    def saved_tracks(self, limit: int | None = None) -> list[dict]:
        """Rows {"added_at", "track"} of the user's saved tracks, newest first (the first `limit` only: pages stop
        being asked once they are reached)."""
        return list(itertools.islice(self._pages("me/tracks"), limit))

    def recently_played(self) -> list[dict]:
        """Rows {"played_at", "track"} of the last 50 plays of 30 s or more (one call; unverified in 2026
        Development Mode, so callers degrade when it is refused)."""
        data = self._call("GET", "me/player/recently-played", {"limit": PAGE}) or {}
        return [row for row in data.get("items") or [] if isinstance(row, dict)]

    def saved_track_ids(self) -> list[str]:
        return [row["track"]["id"] for row in self.saved_tracks() if (row.get("track") or {}).get("id")]

    def library_contains(self, uris: list[str]) -> dict[str, bool]:
        """{uri: whether it is in the user's library ("Liked Songs" for a track)}, asked 40 URIs per call.

        Uses `GET me/library/contains?uris=a,b,...` (since Feb 2026; not the deprecated `me/tracks/contains`). Each
        URI is asked once; no call for an empty list. The answer is a list of booleans in request order: anything else
        (not a list, wrong length, a non-boolean) is an `ApiError`.
        """
        unique = list(dict.fromkeys(uris))
        found: dict[str, bool] = {}
        for i in range(0, len(unique), LIBRARY_CONTAINS_MAX):
            chunk = unique[i:i + LIBRARY_CONTAINS_MAX]
            data = self._call("GET", "me/library/contains", {"uris": ",".join(chunk)})
            if not isinstance(data, list) or len(data) != len(chunk) or not all(isinstance(v, bool) for v in data):
                if not isinstance(data, list):
                    got = "no JSON list" if data is None else f"a JSON {type(data).__name__}"
                elif len(data) != len(chunk):
                    got = f"{len(data)} values"
                else:
                    got = "values that are not all true/false"
                raise ApiError(f"Spotify answered a library check of {len(chunk)} URIs with {got}, "
                               f"not a list of {len(chunk)} booleans.", status=self._last_status, group="me")
            found.update(zip(chunk, data))
        return found

    def my_playlists(self) -> list[dict]:
        """Simplified playlists the user owns or follows; compare `owner.id` with `me()["id"]`."""
        return list(self._pages("me/playlists"))

    def playlist(self, playlist_id: str, fields: str | None = None) -> dict:
        return self._call("GET", f"playlists/{playlist_id}", {"fields": fields} if fields else None)

    def playlist_items(self, playlist_id: str, limit: int | None = None) -> list[dict]:
        """Rows {"id", "uri", "added_at", "kind", "track"}; kind is "track", or "missing"/"local"/"episode" to skip
        (the first `limit` rows only, when given)."""
        rows = []
        for row in itertools.islice(self._pages(f"playlists/{playlist_id}/items"), limit):
            row = row or {}
            obj = row.get("item") if row.get("item") is not None else row.get("track")
            kind = _item_kind(obj, bool(row.get("is_local")))
            rows.append({"id": obj.get("id") if kind == "track" else None,
                         "uri": (obj or {}).get("uri"), "added_at": row.get("added_at"), "kind": kind,
                         "track": obj})
        return rows

    def create_playlist(self, name: str, description: str = "") -> dict:
        """A new private playlist owned by the user (spotipy's helper would make it public)."""
        return self._call("POST", "me/playlists", payload={"name": name, "public": False, "description": description})

    def add_items(self, playlist_id: str, uris: list[str]) -> str | None:
        """Append URIs in chunks of 100; returns the last snapshot_id. A retried POST may duplicate: read first."""
        snapshot = None
        for i in range(0, len(uris), WRITE_CHUNK):
            data = self._call("POST", f"playlists/{playlist_id}/items", payload={"uris": list(uris[i:i + WRITE_CHUNK])})
            snapshot = (data or {}).get("snapshot_id", snapshot)
        return snapshot

    def remove_items(self, playlist_id: str, uris: list[str]) -> str | None:
        """Remove every occurrence of the URIs, 100 per call; returns the last snapshot_id."""
        snapshot = None
        for i in range(0, len(uris), WRITE_CHUNK):
            items = [{"uri": u} for u in uris[i:i + WRITE_CHUNK]]
            data = self._call("DELETE", f"playlists/{playlist_id}/items", payload={"items": items})
            snapshot = (data or {}).get("snapshot_id", snapshot)
        return snapshot

    def audio_features(self, track_id: str) -> dict | None:
        """Spotify's own audio features; closed to new apps, so expect `Forbidden` and stop asking."""
        return self._call("GET", f"audio-features/{track_id}")

    # ---------------------------------------------------------------- the same reads, parsed into typed records
    # The methods above return Spotify's JSON as it came (their callers and tests read it so); the pipeline reads
    # these, which send exactly the same requests and parse each answer once (`core.records`).
    def user_id(self) -> str:
        """The logged-in user's Spotify id (`GET me`)."""
        return self.me()["id"]

    def search_track_records(self, query: str, limit: int = 10, offset: int = 0) -> tuple[list[TrackRecord], int]:
        """`search_tracks`, each result a `TrackRecord` (results without an id left out), and the total."""
        items, total = self.search_tracks(query, limit=limit, offset=offset)
        return [r for r in (TrackRecord.from_api(i) for i in items if i) if r is not None], total

    def track_record(self, track_id: str) -> TrackRecord | None:
        """`GET /tracks/{id}` as a record under the id asked (Spotify may answer a relinked track under another);
        None when Spotify no longer has it or answered an object without an id."""
        obj = self.track(track_id)
        return TrackRecord.from_api(obj, track_id) if obj and obj.get("id") else None

    def artist_record(self, artist_id: str) -> ArtistRecord | None:
        """`GET /artists/{id}` as a record (genres None when it gave no list), or None when unknown."""
        return ArtistRecord.from_api(self.artist(artist_id))

    def top_artist_records(self, time_range: str = "long_term") -> list[ArtistRecord]:
        return [r for r in (ArtistRecord.from_api(a) for a in self.top_artists(time_range)) if r is not None]

    def top_track_records(self, time_range: str = "long_term") -> list[TrackRecord]:
        """Top tracks with an id (local files and episodes included: `TrackRecord.is_track` tells)."""
        return [r for r in (TrackRecord.from_api(t) for t in self.top_tracks(time_range)) if r is not None]

    def saved_track_records(self, limit: int | None = None) -> list[TrackRecord]:
        """The tracks of `saved_tracks(limit)` rows that have an id, newest first."""
        return [r for r in (TrackRecord.from_api(row.get("track")) for row in self.saved_tracks(limit=limit))
                if r is not None]

    def recently_played_records(self) -> list[TrackRecord]:
        """The tracks of `recently_played()` rows that have an id."""
        return [r for r in (TrackRecord.from_api(row.get("track")) for row in self.recently_played())
                if r is not None]

    def my_playlist_records(self) -> list[PlaylistRecord]:
        """`my_playlists()` as records; compare `owner_id` with `user_id()`."""
        return [r for r in (PlaylistRecord.from_api(p) for p in self.my_playlists()) if r is not None]

    def playlist_item_records(self, playlist_id: str, limit: int | None = None) -> list[PlaylistItem]:
        """The rows of `playlist_items` (the same request), each parsed once: kind, id, names, track record."""
        return [PlaylistItem.from_api(row) for row in
                itertools.islice(self._pages(f"playlists/{playlist_id}/items"), limit)]

    def playlist_snapshot_id(self, playlist_id: str) -> str | None:
        """The playlist's current snapshot id (`GET playlists/{id}?fields=snapshot_id`), None when not said."""
        return (self.playlist(playlist_id, fields="snapshot_id") or {}).get("snapshot_id")

    def create_playlist_record(self, name: str, description: str = "") -> PlaylistRecord:
        """`create_playlist`, as a record."""
        record = PlaylistRecord.from_api(self.create_playlist(name, description))
        if record is None or not record.id:
            raise ApiError(f"Spotify answered the new playlist {name} without its id.", status=self._last_status,
                           group="playlists")
        return record

    def audio_feature_record(self, track_id: str) -> AudioFeatures | None:
        """`audio_features(track_id)` as a record (None for an empty answer); expect `Forbidden` as there."""
        return AudioFeatures.from_api(self.audio_features(track_id))
