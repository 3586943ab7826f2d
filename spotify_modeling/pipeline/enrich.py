"""Fill the store from the web services, most-played first, resumably, within Spotify's scarce daily quotas.

Why this shape: Spotify allows a few hundred calls per endpoint group per day and one item per call, so every answer
is written to the store as soon as it arrives (misses included) and nothing is ever asked twice. A quota wall, the
run's own call budget, an outage or an expired login stop the current step cleanly; steps that need another quota
group or no Spotify at all still run. The caller gets a report saying how far each step got.

Steps, in order: track ids (search) -> track metadata (ReccoBeats, `trackdone` plays, then Spotify) ->
audio features -> artist genres -> optionally release dates (Spotify `/tracks/{id}`).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from spotify_modeling.atomic import atomic_path
from spotify_modeling.errors import BadInput, CallBudgetSpent, NeedsLogin, QuotaExhausted, ServiceUnavailable
from spotify_modeling.core.normalize import norm_artist, norm_title
from spotify_modeling.sources.errors import ApiError, Forbidden
from spotify_modeling.db.store import Store, utc_now

FEATURE_COLUMNS = ("danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
                   "instrumentalness", "liveness", "valence", "tempo", "time_signature")
TRACK_COLUMNS = ("track_id", "track_name", "artist_names", "artist_ids", "duration_ms", "release_date", "explicit",
                 *FEATURE_COLUMNS, "genres")
GENRES_SOURCES = ("spotify", "musicbrainz", "none")
FEATURES_SOURCES = ("reccobeats", "spotify", "csv")
RECCOBEATS_BATCH = 40
TOP_TERMS = ("long_term", "medium_term", "short_term")
TOP_ARTISTS_MAX_AGE = timedelta(days=30)
KV_FEATURES_SOURCE = "enrich.features_source"
KV_GENRES_SOURCE = "enrich.genres_source"
KV_FEATURES_CSV = "enrich.features_csv"  # absolute path of the CSV when the features source is a local table

Progress = Callable[[str, int, int], Any]  # (step label, done, total)


def _no_progress(step: str, done: int, total: int) -> None:
    return None


# ------------------------------------------------------------------------------------------------ reports
@dataclass
class StepReport:
    """How far one step got: `done` of `todo` items, and why it stopped early (if it did)."""

    name: str
    todo: int = 0
    done: int = 0
    found: int = 0
    stopped: str | None = None      # quota | budget | unavailable | auth | skipped
    message: str | None = None

    @property
    def complete(self) -> bool:
        return self.stopped is None


@dataclass
class EnrichReport:
    steps: list[StepReport] = field(default_factory=list)
    stopped: str | None = None      # the most serious stop: auth > unavailable > quota > budget
    message: str | None = None
    retry_after: float | None = None
    quota_group: str | None = None
    exhausted_groups: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    calls_this_run: dict[str, int] = field(default_factory=dict)
    calls_today: dict[str, int] = field(default_factory=dict)
    coverage: dict[str, Any] = field(default_factory=dict)
    csv_path: str | None = None

    def step(self, name: str) -> StepReport:
        s = StepReport(name)
        self.steps.append(s)
        return s

    @property
    def retry_at(self) -> datetime | None:
        if self.retry_after is None:
            return None
        return datetime.now(timezone.utc) + timedelta(seconds=self.retry_after)

    @property
    def exit_code(self) -> int:
        return {"auth": 77, "unavailable": 69, "quota": 75, "budget": 75}.get(self.stopped or "", 0)


_SEVERITY = {"budget": 1, "quota": 2, "unavailable": 3, "auth": 4}


def _classify(err: Exception) -> str:
    if isinstance(err, CallBudgetSpent):
        return "budget"
    if isinstance(err, QuotaExhausted):
        return "quota"
    if isinstance(err, ServiceUnavailable):
        return "unavailable"
    return "auth"


class _Run:
    """Bookkeeping shared by the steps of one run: which stops happened, which quota groups are spent."""

    def __init__(self, store: Store, report: EnrichReport, progress: Progress | None):
        self.store = store
        self.report = report
        self.progress = progress or _no_progress

    def blocked(self, groups: Iterable[str] = (), spotify: bool = True) -> str | None:
        """Why a step may not start: the whole run is over, or (for Spotify steps) budget/quota is gone."""
        stop = self.report.stopped
        if stop in ("auth", "unavailable"):
            return stop
        if spotify and stop == "budget":
            return "budget"
        if spotify and any(g in self.report.exhausted_groups for g in groups):
            return "quota"
        return None

    def stopped(self, step: StepReport, err: Exception) -> None:
        reason = _classify(err)
        step.stopped = reason
        step.message = str(err)
        r = self.report
        if reason == "quota":
            r.exhausted_groups.add(getattr(err, "group", None) or "?")
        if r.stopped is None or _SEVERITY[reason] > _SEVERITY[r.stopped]:
            r.stopped, r.message = reason, str(err)
        if isinstance(err, QuotaExhausted) and err.retry_after is not None:
            if r.retry_after is None or err.retry_after > r.retry_after:
                r.retry_after, r.quota_group = err.retry_after, err.group


def _guard(run: _Run, step: StepReport, body: Callable[[], Any]) -> None:
    """Run one step; a quota wall, budget, outage or login problem ends it, keeping what was written.

    An unplanned refusal (e.g. a service changed its API) ends only this step, with a warning in the report.
    """
    try:
        body()
    except (QuotaExhausted, ServiceUnavailable, NeedsLogin) as err:
        run.stopped(step, err)
    except ApiError as err:
        step.stopped, step.message = "error", str(err)
        run.report.warnings.append(f"{step.name}: {err}")


# ------------------------------------------------------------------------------------------------ store helpers
def _json_list(value: str | None) -> list | None:
    if value is None:
        return None
    try:
        out = json.loads(value)
    except (TypeError, ValueError):
        return None
    return out if isinstance(out, list) else None


def _misses(store: Store, what: str) -> set[str]:
    return {r[0] for r in store.conn.execute("SELECT item_id FROM enrich_misses WHERE what = ?", (what,))}


def _record_misses(store: Store, ids: Iterable[str], what: str) -> None:
    now = utc_now()
    store.conn.executemany("INSERT OR IGNORE INTO enrich_misses(item_id, what, asked_at) VALUES (?, ?, ?)",
                           [(i, what, now) for i in ids])


def _upsert_artists(conn, artists: Iterable[tuple[str, str | None]]) -> None:
    conn.executemany("INSERT INTO artists(artist_id, name) VALUES (?, ?) ON CONFLICT(artist_id) DO UPDATE SET "
                     "name = coalesce(artists.name, excluded.name)",
                     [(a, n) for a, n in artists if a])


def store_spotify_track(conn, obj: dict, meta_source: str) -> None:
    """Write a full Spotify track object (search result or `/tracks/{id}`) into `tracks` and its artists."""
    artists = [a for a in obj.get("artists") or [] if a]
    album = obj.get("album") or {}
    ids = [a.get("id") for a in artists]
    conn.execute(
        "INSERT INTO tracks(track_id, name, artist_names, artist_ids, album_name, duration_ms, release_date, explicit, "
        "isrc, is_playable, meta_source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(track_id) DO UPDATE SET name = coalesce(excluded.name, tracks.name), "
        "artist_names = coalesce(excluded.artist_names, tracks.artist_names), "
        "artist_ids = coalesce(excluded.artist_ids, tracks.artist_ids), "
        "album_name = coalesce(excluded.album_name, tracks.album_name), "
        "duration_ms = coalesce(excluded.duration_ms, tracks.duration_ms), "
        "release_date = coalesce(excluded.release_date, tracks.release_date), "
        "explicit = coalesce(excluded.explicit, tracks.explicit), isrc = coalesce(excluded.isrc, tracks.isrc), "
        "is_playable = coalesce(excluded.is_playable, tracks.is_playable), meta_source = excluded.meta_source, "
        "updated_at = excluded.updated_at",
        (obj["id"], obj.get("name"), json.dumps([a.get("name") for a in artists]) if artists else None,
         json.dumps(ids) if artists and all(ids) else None, album.get("name"), obj.get("duration_ms"),
         album.get("release_date"), None if obj.get("explicit") is None else int(bool(obj["explicit"])),
         (obj.get("external_ids") or {}).get("isrc"),
         None if obj.get("is_playable") is None else int(bool(obj["is_playable"])), meta_source, utc_now()))
    _upsert_artists(conn, [(a.get("id"), a.get("name")) for a in artists])


def _history_tracks(store: Store) -> list[tuple[str, int]]:
    """Every track id of the user's own history (plays, playlists, saved, labels) with its play count, most first."""
    return [(r[0], r[1]) for r in store.conn.execute(
        "SELECT track_id, sum(n) AS n FROM ("
        "  SELECT track_id, count(*) AS n FROM effective_plays WHERE track_id IS NOT NULL GROUP BY track_id"
        "  UNION ALL SELECT track_id, 0 FROM playlist_items WHERE track_id IS NOT NULL"
        "  UNION ALL SELECT track_id, 0 FROM saved_tracks WHERE track_id IS NOT NULL"
        "  UNION ALL SELECT track_id, 0 FROM labels"
        ") GROUP BY track_id ORDER BY n DESC, track_id")]


def _with_temp_ids(store: Store, ids: Sequence[str]) -> str:
    """Load ids into a temp table (keeps order) and return its name, for joins on large id lists."""
    store.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _enrich_ids (pos INTEGER PRIMARY KEY, track_id TEXT)")
    store.conn.execute("DELETE FROM temp._enrich_ids")
    store.conn.executemany("INSERT INTO temp._enrich_ids(pos, track_id) VALUES (?, ?)", list(enumerate(ids)))
    return "temp._enrich_ids"


# ------------------------------------------------------------------------------------------------ 1. track ids
def search_query(title: str, artist: str) -> str:
    """`track:"<title>" artist:"<artist>"` with featuring/edition tails cut (wider recall; matching is strict)."""
    base = title
    for sep in (" - ", "(", "["):
        head = base.split(sep, 1)[0].strip()
        if head:
            base = head
    markers = [m for m in ("live", "remix") if norm_title(title).endswith(m) and m not in base.lower()]
    t = " ".join([base.replace('"', " ").strip(), *markers])
    a = artist.replace('"', " ").strip()
    return f'track:"{t}" artist:"{a}"' if a else f'track:"{t}"'


def best_match(items: Sequence[dict], title: str, artist: str) -> dict | None:
    """The result that is this song: same normalised title (live/remix markers must agree) and artist.

    Not simply the first hit: search returns decoys (live takes, covers, other artists' songs of the same name).
    """
    want_t, want_a = norm_title(title), norm_artist(artist)
    best, best_score = None, 0.0
    for item in items:
        if not item or not item.get("id"):
            continue
        got_t = norm_title(item.get("name"))
        ts = 1.0 if got_t == want_t else SequenceMatcher(None, got_t, want_t).ratio()
        names = [norm_artist(a.get("name")) for a in item.get("artists") or [] if a]
        if not want_a:
            as_ = 0.9
        elif want_a in names:
            as_ = 1.0
        else:
            as_ = max((SequenceMatcher(None, n, want_a).ratio() for n in names), default=0.0)
        if ts < 0.9 or as_ < 0.85:
            continue
        score = ts + as_ + (0.01 if (item.get("name") or "").casefold() == title.casefold() else 0.0)
        if score > best_score:
            best, best_score = item, score
    return best


def _apply_lookups(store: Store) -> None:
    """Plays/playlist rows without an id take the one a previous look-up found for the same name (no calls)."""
    with store.transaction() as conn:
        for table in ("plays", "playlist_items", "saved_tracks"):
            conn.execute(
                f"UPDATE {table} SET track_id = (SELECT l.track_id FROM track_lookup l "
                f"WHERE l.name_key = {table}.name_key) WHERE track_id IS NULL AND name_key IN "
                "(SELECT name_key FROM track_lookup WHERE track_id IS NOT NULL)")


def _unresolved_names(store: Store) -> list[tuple[str, int, str, str]]:
    return [tuple(r) for r in store.conn.execute(
        "SELECT name_key, sum(n) AS n, max(title), max(artist) FROM ("
        "  SELECT name_key, count(*) AS n, track_name AS title, artist_name AS artist FROM effective_plays "
        "  WHERE track_id IS NULL AND track_name IS NOT NULL GROUP BY name_key"
        "  UNION ALL SELECT name_key, 0, track_name, artist_name FROM playlist_items "
        "  WHERE item_type = 'track' AND track_id IS NULL AND name_key IS NOT NULL AND track_name IS NOT NULL"
        "  UNION ALL SELECT name_key, 0, track_name, artist_name FROM saved_tracks "
        "  WHERE track_id IS NULL AND track_name IS NOT NULL"
        ") WHERE name_key NOT IN (SELECT name_key FROM track_lookup) AND name_key != '\t' "
        "GROUP BY name_key ORDER BY n DESC, name_key")]


def resolve_track_ids(store: Store, spotify, progress: Progress | None = None,
                      step: StepReport | None = None) -> StepReport:
    """Search Spotify once per unresolved song name (most-played first); hits and misses are both remembered."""
    step = step or StepReport("track ids")
    progress = progress or _no_progress
    _apply_lookups(store)
    todo = _unresolved_names(store)
    step.todo = len(todo)
    progress(step.name, 0, step.todo)
    for key, _, title, artist in todo:
        try:
            items, _total = spotify.search_tracks(search_query(title, artist or ""), limit=10)
        except Forbidden:
            raise
        except ApiError:
            items = []  # a query Spotify refuses (400) cannot succeed later either: a miss
        match = best_match(items, title, artist or "")
        with store.transaction() as conn:
            if match is not None:
                store_spotify_track(conn, match, "search")
            conn.execute("INSERT OR REPLACE INTO track_lookup(name_key, track_id, how, looked_up_at) "
                         "VALUES (?, ?, ?, ?)", (key, match["id"] if match else None,
                                                 "search" if match else "miss", utc_now()))
            if match is not None:
                for table in ("plays", "playlist_items", "saved_tracks"):
                    conn.execute(f"UPDATE {table} SET track_id = ? WHERE name_key = ? AND track_id IS NULL",
                                 (match["id"], key))
        step.done += 1
        step.found += match is not None
        progress(step.name, step.done, step.todo)
    return step


# ------------------------------------------------------------------------------------------------ 2. metadata
def _tracks_needing(store: Store, ids: Sequence[str], condition: str) -> list[str]:
    table = _with_temp_ids(store, ids)
    return [r[0] for r in store.conn.execute(
        f"SELECT w.track_id FROM {table} w JOIN tracks t ON t.track_id = w.track_id WHERE {condition} "
        "ORDER BY w.pos")]


def fill_metadata_reccobeats(store: Store, ids: Sequence[str], reccobeats, progress: Progress | None = None,
                             step: StepReport | None = None) -> StepReport:
    """Duration, artist ids and ISRC from ReccoBeats `/track`, 40 tracks per call, no Spotify quota."""
    step = step or StepReport("metadata (ReccoBeats)")
    progress = progress or _no_progress
    missed = _misses(store, "reccobeats_track")
    todo = [t for t in _tracks_needing(store, ids, "(t.duration_ms IS NULL OR t.artist_ids IS NULL)")
            if t not in missed]
    step.todo = len(todo)
    progress(step.name, 0, step.todo)
    for i in range(0, len(todo), RECCOBEATS_BATCH):
        batch = todo[i:i + RECCOBEATS_BATCH]
        got = reccobeats.tracks(batch)
        now = utc_now()
        with store.transaction() as conn:
            for tid, row in got.items():
                artists = row.get("artists") or []
                a_ids = [a.get("id") for a in artists]
                conn.execute(
                    "UPDATE tracks SET duration_ms = coalesce(duration_ms, ?), isrc = coalesce(isrc, ?), "
                    "artist_ids = coalesce(artist_ids, ?), artist_names = coalesce(?, artist_names), "
                    "name = coalesce(name, ?), meta_source = CASE WHEN meta_source = 'export' "
                    "THEN 'reccobeats' ELSE meta_source END, updated_at = ? WHERE track_id = ?",
                    (row.get("duration_ms"), row.get("isrc"),
                     json.dumps(a_ids) if artists and all(a_ids) else None,
                     json.dumps([a.get("name") for a in artists]) if artists and all(a_ids) else None,
                     row.get("name"), now, tid))
                _upsert_artists(conn, [(a.get("id"), a.get("name")) for a in artists])
            _record_misses(store, [t for t in batch if t not in got], "reccobeats_track")
        step.done += len(batch)
        step.found += len(got)
        progress(step.name, step.done, step.todo)
    return step


def fill_durations_from_plays(store: Store) -> int:
    """A play that ended `trackdone` lasted the whole track: its ms_played is the duration (no call at all)."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE tracks SET duration_ms = (SELECT max(ms_played) FROM plays p WHERE p.track_id = tracks.track_id "
            "AND p.reason_end = 'trackdone' AND p.ms_played > 0) WHERE duration_ms IS NULL AND EXISTS "
            "(SELECT 1 FROM plays p WHERE p.track_id = tracks.track_id AND p.reason_end = 'trackdone' "
            "AND p.ms_played > 0)")
        return cur.rowcount


def fill_tracks_spotify(store: Store, ids: Sequence[str], spotify, condition: str, name: str,
                        progress: Progress | None = None, step: StepReport | None = None,
                        limit: int | None = None) -> StepReport:
    """`GET /tracks/{id}` (one per call) for the tracks matching `condition`, in the order given (most-played
    first), at most `limit` of them; 404s remembered."""
    step = step or StepReport(name)
    progress = progress or _no_progress
    missed = _misses(store, "spotify_track")
    todo = [t for t in _tracks_needing(store, ids, condition) if t not in missed]
    step.todo = len(todo)
    if limit is not None and len(todo) > limit:
        step.message = f"{len(todo) - limit:,} left for later runs (at most {limit} a run)"
        todo = todo[:limit]
    progress(step.name, 0, len(todo))
    for tid in todo:
        try:
            obj = spotify.track(tid)
        except Forbidden:
            raise
        except ApiError:
            obj = None
        with store.transaction() as conn:
            if obj and obj.get("id"):
                store_spotify_track(conn, {**obj, "id": tid}, "spotify")
                step.found += 1
            else:
                _record_misses(store, [tid], "spotify_track")
        step.done += 1
        progress(step.name, step.done, len(todo))
    return step


META_CONDITION = "t.artist_ids IS NULL"
DETAILS_CONDITION = "t.release_date IS NULL AND coalesce(t.meta_source, '') NOT IN ('search', 'spotify')"
#: `GET /tracks/{id}` calls per `features` run for the release date and explicit flag of history tracks that the
#: export identified by URI (search results carry both already). Without them those tracks differ from every pool
#: track by what is missing; the models balance that (`provenance`), and each call turns one track back into a
#: fully described one. `--release-dates` lifts the cap.
DETAILS_CALLS = 100
DETAILS_STEP = "release date + explicit (Spotify)"


# ------------------------------------------------------------------------------------------------ 3. features
def _insert_features(conn, tid: str, source: str, feats: dict | None) -> None:
    values = [None] * len(FEATURE_COLUMNS) if feats is None else [feats.get(c) for c in FEATURE_COLUMNS]
    conn.execute(
        f"INSERT OR REPLACE INTO audio_features(track_id, source, available, {', '.join(FEATURE_COLUMNS)}, "
        f"fetched_at) VALUES (?, ?, ?, {', '.join('?' * len(FEATURE_COLUMNS))}, ?)",
        (tid, source, 0 if feats is None else 1, *values, utc_now()))


def _features_todo(store: Store, ids: Sequence[str], source: str) -> list[str]:
    table = _with_temp_ids(store, ids)
    return [r[0] for r in store.conn.execute(
        f"SELECT w.track_id FROM {table} w WHERE NOT EXISTS (SELECT 1 FROM audio_features f "
        "WHERE f.track_id = w.track_id AND f.source = ?) ORDER BY w.pos", (source,))]


def fetch_features_reccobeats(store: Store, ids: Sequence[str], reccobeats, progress: Progress | None = None,
                              step: StepReport | None = None) -> StepReport:
    """Audio features from ReccoBeats, 40 ids per call; ids it does not know are stored `available=0`."""
    step = step or StepReport("audio features (ReccoBeats)")
    progress = progress or _no_progress
    todo = _features_todo(store, ids, "reccobeats")
    step.todo = len(todo)
    progress(step.name, 0, step.todo)
    for i in range(0, len(todo), RECCOBEATS_BATCH):
        batch = todo[i:i + RECCOBEATS_BATCH]
        got = reccobeats.audio_features(batch)
        with store.transaction() as conn:
            for tid in batch:
                _insert_features(conn, tid, "reccobeats", got.get(tid))
                isrc = (got.get(tid) or {}).get("isrc")
                if isrc:
                    conn.execute("UPDATE tracks SET isrc = coalesce(isrc, ?) WHERE track_id = ?", (isrc, tid))
        step.done += len(batch)
        step.found += len(got)
        progress(step.name, step.done, step.todo)
    return step


def fetch_features_spotify(store: Store, ids: Sequence[str], spotify, progress: Progress | None = None,
                           step: StepReport | None = None) -> StepReport:
    """Spotify's own audio features, one call per track; the first 403 ends the step (closed since 2024)."""
    step = step or StepReport("audio features (Spotify)")
    progress = progress or _no_progress
    todo = _features_todo(store, ids, "spotify")
    step.todo = len(todo)
    progress(step.name, 0, step.todo)
    for tid in todo:
        try:
            feats = spotify.audio_features(tid)
        except Forbidden:
            step.stopped = "skipped"
            step.message = ("Spotify refuses audio features to this app (closed to new apps since November 2024); "
                            "not asking again this run. Use --features-source reccobeats.")
            return step
        except ApiError:
            feats = None
        with store.transaction() as conn:
            _insert_features(conn, tid, "spotify", feats if feats else None)
        step.done += 1
        step.found += bool(feats)
        progress(step.name, step.done, step.todo)
    return step


def csv_source_name(path: str | Path) -> str:
    return f"csv:{Path(path).name}"


def read_features_csv(path: str | Path, nrows: int | None = None) -> tuple[pd.DataFrame, str]:
    """A features table and its id column (`track_id` or `id`), or BadInput saying what is wrong with the file.

    `nrows=0` reads the header only: enough to check a file before any work starts.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"track_id": str, "id": str}, nrows=nrows)
    except FileNotFoundError:
        raise BadInput(f"Features file {path} not found.", "Check the --features-csv path.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        raise BadInput(f"Features file {path} is not a readable CSV ({type(err).__name__}).",
                       "Pass a CSV with a `track_id` or `id` column and audio feature columns.") from None
    key = "track_id" if "track_id" in table.columns else "id" if "id" in table.columns else None
    if key is None:
        raise BadInput(f"Features file {path} has no `track_id` or `id` column.",
                       "Key the table by Spotify track id.")
    if not any(c in table.columns for c in FEATURE_COLUMNS):
        raise BadInput(f"Features file {path} has none of the audio feature columns ({', '.join(FEATURE_COLUMNS)}).",
                       "Add at least one of them.")
    return table, key


def load_features_csv(store: Store, path: str | Path, ids: Sequence[str] | None = None,
                      step: StepReport | None = None) -> StepReport:
    """Features from a local table keyed by Spotify track id (`track_id` or `id` column); source `csv:<file>`."""
    path = Path(path)
    step = step or StepReport(f"audio features ({path.name})")
    table, key = read_features_csv(path)
    table = table.drop_duplicates(key).set_index(key)
    source = csv_source_name(path)
    wanted = [t for t in (ids if ids is not None else table.index) if t in table.index]
    step.todo = len(ids) if ids is not None else len(table)
    cols = [c for c in FEATURE_COLUMNS if c in table.columns]
    with store.transaction() as conn:
        for tid in wanted:
            row = table.loc[tid, cols]
            feats = {c: (None if pd.isna(row[c]) else float(row[c])) for c in cols}
            for c in ("key", "mode", "time_signature"):
                if feats.get(c) is not None:
                    feats[c] = int(feats[c])
            if feats.get("key") is not None and feats["key"] < 0:
                feats["key"] = None
            _insert_features(conn, tid, source, feats)
    step.done = step.todo
    step.found = len(wanted)
    return step


# ------------------------------------------------------------------------------------------------ 4. genres
def artists_needing(store: Store, artist_ids: Sequence[str], source: str) -> list[str]:
    """The given artists (order kept) whose genres are not cached yet from `source`."""
    if not artist_ids:
        return []
    store.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _enrich_artists (pos INTEGER PRIMARY KEY, artist_id TEXT)")
    store.conn.execute("DELETE FROM temp._enrich_artists")
    store.conn.executemany("INSERT INTO temp._enrich_artists(pos, artist_id) VALUES (?, ?)",
                           list(enumerate(artist_ids)))
    return [r[0] for r in store.conn.execute(
        "SELECT w.artist_id FROM temp._enrich_artists w LEFT JOIN artists a ON a.artist_id = w.artist_id "
        "WHERE a.genres IS NULL OR coalesce(a.genres_source, '') != ? ORDER BY w.pos", (source,))]


_artists_needing = artists_needing  # the weekly loop's name for it


def artists_by_plays(store: Store, track_ids: Sequence[str] | None = None) -> list[str]:
    """Artist ids of the given tracks (default: the history), ordered by the plays of their tracks."""
    if track_ids is None:
        weights = _history_tracks(store)
    else:
        weights = [(t, 0) for t in track_ids]
    table = _with_temp_ids(store, [t for t, _ in weights])
    n = dict(weights)
    score: Counter[str] = Counter()
    first: dict[str, int] = {}
    for pos, tid, ids in store.conn.execute(
            f"SELECT w.pos, w.track_id, t.artist_ids FROM {table} w JOIN tracks t ON t.track_id = w.track_id "
            "WHERE t.artist_ids IS NOT NULL ORDER BY w.pos"):
        for a in _json_list(ids) or []:
            if a:
                score[a] += n.get(tid, 0)
                first.setdefault(a, pos)
    return sorted(score, key=lambda a: (-score[a], first[a]))


def _store_genres(conn, artist_id: str, name: str | None, genres: list[str] | None, source: str) -> None:
    conn.execute(
        "INSERT INTO artists(artist_id, name, genres, genres_source, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(artist_id) DO UPDATE SET name = coalesce(excluded.name, artists.name), "
        "genres = excluded.genres, genres_source = excluded.genres_source, updated_at = excluded.updated_at",
        (artist_id, name, json.dumps(list(genres or [])), source, utc_now()))


def fetch_top_artists(store: Store, spotify, step: StepReport | None = None,
                      max_age: timedelta = TOP_ARTISTS_MAX_AGE) -> StepReport:
    """`GET /me/top/artists` (50 full artist objects per call) for each time range, at most once a month."""
    step = step or StepReport("genres (your top artists)")
    fetched = store.get_kv("enrich.top_artists_fetched", {}) or {}
    now = datetime.now(timezone.utc)
    todo = [t for t in TOP_TERMS
            if not fetched.get(t) or now - datetime.fromisoformat(fetched[t]) > max_age]
    step.todo = len(todo)
    for term in todo:
        artists = spotify.top_artists(term)
        with store.transaction() as conn:
            for a in artists:
                if a and a.get("id") and isinstance(a.get("genres"), list):
                    _store_genres(conn, a["id"], a.get("name"), a["genres"], "spotify")
                    step.found += 1
            fetched[term] = now.isoformat()
            store.set_kv("enrich.top_artists_fetched", fetched)
        step.done += 1
    return step


def fetch_genres(store: Store, artist_ids: Sequence[str], spotify=None, musicbrainz=None, source: str = "spotify",
                 progress: Progress | None = None, step: StepReport | None = None) -> StepReport:
    """Genres of the given artists (in the order given) that are not cached yet for `source`; "[]" = none known."""
    if source not in GENRES_SOURCES:
        raise BadInput(f"Unknown genres source {source!r}.", f"Use one of {', '.join(GENRES_SOURCES)}.")
    step = step or StepReport(f"genres ({source})")
    progress = progress or _no_progress
    if source == "none":
        step.stopped, step.message = "skipped", "genres not fetched (--genres-source none)"
        return step
    if source == "spotify" and spotify is None:
        step.stopped, step.message = "skipped", "genres from Spotify need `spotify-model login`"
        return step
    if source == "musicbrainz" and musicbrainz is None:
        from spotify_modeling.sources import MusicBrainzClient

        musicbrainz = MusicBrainzClient()
    todo = artists_needing(store, list(dict.fromkeys(artist_ids)), source)
    step.todo = len(todo)
    progress(step.name, 0, step.todo)
    mb_cache: dict[str, list[dict]] = {}
    for aid in todo:
        if source == "spotify":
            try:
                obj = spotify.artist(aid)
            except Forbidden:
                raise
            except ApiError:
                obj = None
            genres = (obj or {}).get("genres")
            name = (obj or {}).get("name")
            genres = genres if isinstance(genres, list) else []
        else:
            name, genres = _musicbrainz_genres(store, aid, musicbrainz, mb_cache)
        with store.transaction() as conn:
            _store_genres(conn, aid, name, genres, source)
        step.done += 1
        step.found += bool(genres)
        progress(step.name, step.done, step.todo)
    return step


def _musicbrainz_genres(store: Store, artist_id: str, mb, cache: dict[str, list[dict]],
                        tries: int = 2) -> tuple[str | None, list[str]]:
    """ISRC of the artist's most-played tracks -> MusicBrainz artist of the same name -> its genres."""
    name = store.scalar("SELECT name FROM artists WHERE artist_id = ?", (artist_id,))
    want = norm_artist(name)
    rows = store.conn.execute(
        "SELECT t.isrc, t.artist_ids FROM tracks t JOIN json_each(t.artist_ids) j ON j.value = ? "
        "LEFT JOIN (SELECT track_id, count(*) AS n FROM plays GROUP BY track_id) p ON p.track_id = t.track_id "
        "WHERE t.isrc IS NOT NULL ORDER BY coalesce(p.n, 0) DESC, t.track_id LIMIT ?", (artist_id, tries)).fetchall()
    for isrc, ids in rows:
        if isrc not in cache:
            cache[isrc] = mb.artists_for_isrc(isrc)
        credits = cache[isrc]
        match = next((c for c in credits if want and norm_artist(c.get("name")) == want), None)
        if match is None and len(credits) == 1 and len(_json_list(ids) or []) == 1:
            match = credits[0]  # one artist on both sides: the same person under another spelling
        if match is not None:
            return name, mb.artist_genres(match["mbid"])
    return name, []


# ------------------------------------------------------------------------------------------------ orchestration
def _snapshot_usage(store: Store) -> dict[str, int]:
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return {g: n for g, n in store.conn.execute(
        "SELECT endpoint_group, sum(calls) FROM api_usage WHERE day = ? GROUP BY endpoint_group", (day,))}


def _finish(store: Store, report: EnrichReport, before: dict[str, int], features_source: str | None,
            genres_source: str | None, track_ids: Sequence[str] | None = None) -> EnrichReport:
    after = _snapshot_usage(store)
    report.calls_today = after
    report.calls_this_run = {g: n - before.get(g, 0) for g, n in after.items() if n - before.get(g, 0)}
    report.coverage = coverage(store, features_source=features_source, genres_source=genres_source,
                               track_ids=track_ids)
    for s in report.steps:
        if s.stopped == "skipped" and s.message and s.message not in report.warnings:
            report.warnings.append(s.message)
    return report


def _features_step(run: _Run, ids: Sequence[str], features_source: str, spotify, reccobeats,
                   features_csv: str | Path | None) -> None:
    report, store = run.report, run.store
    if features_source == "csv":
        if features_csv is None:
            raise BadInput("--features-source csv needs --features-csv PATH.")
        report.steps.append(load_features_csv(store, features_csv, ids))
        return
    if features_source == "reccobeats":
        step = report.step("audio features (ReccoBeats)")
        if (why := run.blocked(spotify=False)) is not None:
            step.stopped = why
            return
        _guard(run, step, lambda: fetch_features_reccobeats(store, ids, reccobeats, run.progress, step))
        return
    step = report.step("audio features (Spotify)")
    if spotify is None:
        step.stopped, step.message = "skipped", "audio features from Spotify need `spotify-model login`"
    elif (why := run.blocked(["audio_features"])) is not None:
        step.stopped = why
    else:
        _guard(run, step, lambda: fetch_features_spotify(store, ids, spotify, run.progress, step))


def _genres_step(run: _Run, track_ids: Sequence[str] | None, genres_source: str, spotify, musicbrainz,
                 top_artists: bool) -> None:
    report, store = run.report, run.store
    if genres_source == "none":
        return
    if genres_source == "spotify":
        if spotify is None:
            s = report.step("genres (spotify)")
            s.stopped, s.message = "skipped", "genres from Spotify need `spotify-model login`"
            return
        if top_artists:
            top = report.step("genres (your top artists)")
            if (why := run.blocked(["me"])) is not None:
                top.stopped = why
            else:
                _guard(run, top, lambda: fetch_top_artists(store, spotify, top))
        step = report.step("genres (Spotify artists)")
        if (why := run.blocked(["artists"])) is not None:
            step.stopped = why
            return
        artists = artists_by_plays(store, track_ids)
        _guard(run, step, lambda: fetch_genres(store, artists, spotify=spotify, source="spotify",
                                               progress=run.progress, step=step))
        return
    step = report.step("genres (MusicBrainz)")
    if musicbrainz is None:
        step.stopped, step.message = "skipped", "no MusicBrainz client"
        return
    if (why := run.blocked(spotify=False)) is not None:
        step.stopped = why
        return
    artists = artists_by_plays(store, track_ids)
    _guard(run, step, lambda: fetch_genres(store, artists, musicbrainz=musicbrainz, source="musicbrainz",
                                           progress=run.progress, step=step))


def _metadata_steps(run: _Run, ids: Sequence[str], spotify, reccobeats) -> None:
    store, report = run.store, run.report
    step = report.step("metadata (ReccoBeats)")
    if (why := run.blocked(spotify=False)) is not None:
        step.stopped = why
    else:
        _guard(run, step, lambda: fill_metadata_reccobeats(store, ids, reccobeats, run.progress, step))
    fill_durations_from_plays(store)
    step = report.step("metadata (Spotify)")
    if spotify is None:
        step.stopped, step.message = "skipped", "track metadata from Spotify needs `spotify-model login`"
    elif (why := run.blocked(["tracks"])) is not None:
        step.stopped = why
    else:
        _guard(run, step, lambda: fill_tracks_spotify(store, ids, spotify, META_CONDITION, step.name,
                                                      run.progress, step))


def _check_sources(genres_source: str, features_source: str) -> None:
    if genres_source not in GENRES_SOURCES:
        raise BadInput(f"Unknown genres source {genres_source!r}.", f"Use one of {', '.join(GENRES_SOURCES)}.")
    if features_source not in FEATURES_SOURCES:
        raise BadInput(f"Unknown features source {features_source!r}.", f"Use one of {', '.join(FEATURES_SOURCES)}.")


def stored_features_source(features_source: str, features_csv: str | Path | None) -> str:
    """The `audio_features.source` value a features option stands for."""
    if features_source == "csv":
        if features_csv is None:
            raise BadInput("--features-source csv needs --features-csv PATH.")
        return csv_source_name(features_csv)
    return features_source


def enrich_history(store: Store, spotify=None, reccobeats=None, *, genres_source: str = "spotify",
                   features_source: str = "reccobeats", features_csv: str | Path | None = None,
                   musicbrainz=None, release_dates: bool = False, details_calls: int = DETAILS_CALLS,
                   progress: Progress | None = None) -> EnrichReport:
    """Everything the user's own history needs, most-played first; resumable; never raises on quota/outage/login.

    `spotify=None` skips every Spotify step (e.g. not logged in, with genres from MusicBrainz).
    """
    if features_csv is not None and features_source == "reccobeats":
        features_source = "csv"
    _check_sources(genres_source, features_source)
    stored_source = stored_features_source(features_source, features_csv)
    report = EnrichReport()
    run = _Run(store, report, progress)
    before = _snapshot_usage(store)
    store.set_kv(KV_FEATURES_SOURCE, stored_source)
    store.set_kv(KV_GENRES_SOURCE, genres_source)
    store.set_kv(KV_FEATURES_CSV, str(Path(features_csv).resolve()) if features_source == "csv" else None)

    step = report.step("track ids")
    if spotify is None:
        _apply_lookups(store)
        step.stopped, step.message = "skipped", "finding ids for plays without one needs `spotify-model login`"
    else:
        _guard(run, step, lambda: resolve_track_ids(store, spotify, run.progress, step))
    ids = [t for t, _ in _history_tracks(store)]
    _metadata_steps(run, ids, spotify, reccobeats)
    _features_step(run, ids, features_source, spotify, reccobeats, features_csv)
    _genres_step(run, None, genres_source, spotify, musicbrainz, top_artists=True)
    limit = None if release_dates else details_calls
    if limit != 0 and spotify is not None:
        step = report.step(DETAILS_STEP)
        if (why := run.blocked(["tracks"])) is not None:
            step.stopped = why
        else:
            _guard(run, step, lambda: fill_tracks_spotify(store, ids, spotify, DETAILS_CONDITION, step.name,
                                                          run.progress, step, limit=limit))
    return _finish(store, report, before, stored_source, genres_source)


def history_sources(store: Store) -> tuple[str, str, str | None]:
    """(genres_source, features_source, features_csv) the last `features` run used, so a pool is described alike."""
    stored = store.get_kv(KV_FEATURES_SOURCE) or "reccobeats"
    features_source = "csv" if stored.startswith("csv:") else stored
    return store.get_kv(KV_GENRES_SOURCE) or "spotify", features_source, store.get_kv(KV_FEATURES_CSV)


def enrich_tracks(store: Store, track_ids: Sequence[str], spotify=None, reccobeats=None,
                  genres_source: str | None = None, features_source: str | None = None, *,
                  features_csv: str | Path | None = None, musicbrainz=None,
                  progress: Progress | None = None) -> EnrichReport:
    """Metadata, features and genres for a pool of tracks already in `tracks` (e.g. candidates), in the order given.

    Sources default to the ones the history was enriched with, so candidates and history are described alike.
    """
    h_genres, h_features, h_csv = history_sources(store)
    genres_source = genres_source or h_genres
    features_source = features_source or h_features
    if features_source == "csv" and features_csv is None:
        features_csv = h_csv
    _check_sources(genres_source, features_source)
    stored_source = stored_features_source(features_source, features_csv)
    ids = list(dict.fromkeys(track_ids))
    report = EnrichReport()
    run = _Run(store, report, progress)
    before = _snapshot_usage(store)
    _metadata_steps(run, ids, spotify, reccobeats)
    _features_step(run, ids, features_source, spotify, reccobeats, features_csv)
    _genres_step(run, ids, genres_source, spotify, musicbrainz, top_artists=False)
    return _finish(store, report, before, stored_source, genres_source, track_ids=ids)


# ------------------------------------------------------------------------------------------------ reading back
def _preferred_source(store: Store, features_source: str | None) -> str:
    return features_source or store.get_kv(KV_FEATURES_SOURCE) or "reccobeats"


def track_table(store: Store, track_ids: Sequence[str] | None = None, *, features_source: str | None = None,
                genres_source: str | None = None) -> pd.DataFrame:
    """One row per track in the canonical columns every model reads (lists as Python lists, missing as NaN/None).

    Features come from one source (default: the one the last `features` run used) so history and candidates are
    described alike; `genres` is None when no artist of the track has a non-empty genre list (from `genres_source`
    only, when given: a user keeping Spotify content out of their models asks for "musicbrainz").
    """
    source = _preferred_source(store, features_source)
    if track_ids is None:
        ids = [t for t, _ in _history_tracks(store)]
    else:
        ids = list(dict.fromkeys(track_ids))
    table = _with_temp_ids(store, ids)
    feat_cols = ", ".join(f"f.{c}" for c in FEATURE_COLUMNS)
    df = pd.read_sql_query(
        f"SELECT w.track_id, t.name AS track_name, t.artist_names, t.artist_ids, t.duration_ms, t.release_date, "
        f"t.explicit, {feat_cols}, CASE WHEN f.track_id IS NULL THEN NULL ELSE f.source END AS source "
        f"FROM {table} w LEFT JOIN tracks t ON t.track_id = w.track_id "
        f"LEFT JOIN audio_features f ON f.track_id = w.track_id AND f.source = ? AND f.available = 1 "
        f"ORDER BY w.pos", store.conn, params=(source,))
    df["artist_names"] = [(_json_list(v) or []) for v in df["artist_names"]]
    df["artist_ids"] = [(_json_list(v) or []) for v in df["artist_ids"]]
    where, params = ("", ()) if genres_source is None else (" AND genres_source = ?", (genres_source,))
    genres_of = {a: _json_list(g) or [] for a, g in store.conn.execute(
        f"SELECT artist_id, genres FROM artists WHERE genres IS NOT NULL{where}", params)}
    genres_col = []
    for artists in df["artist_ids"]:
        merged = list(dict.fromkeys(g for a in artists for g in genres_of.get(a, ())))
        genres_col.append(merged or None)
    df["genres"] = genres_col
    for c in ("duration_ms", *FEATURE_COLUMNS):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df["explicit"] = pd.to_numeric(df["explicit"], errors="coerce").astype(float)
    return df[[*TRACK_COLUMNS, "source"]]


def coverage(store: Store, *, features_source: str | None = None, genres_source: str | None = None,
             track_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """How much of the listening is described: tracks, and share of effective plays, with id/duration/features/genres."""
    plays = store.scalar("SELECT count(*) FROM effective_plays") or 0
    counts = dict(store.conn.execute(
        "SELECT track_id, count(*) FROM effective_plays WHERE track_id IS NOT NULL GROUP BY track_id").fetchall())
    table = track_table(store, track_ids, features_source=features_source, genres_source=genres_source)
    n = table["track_id"].map(lambda t: counts.get(t, 0))

    def part(mask) -> dict[str, Any]:
        p = int(n[mask].sum())
        return {"tracks": int(mask.sum()), "plays": p, "share_of_plays": (p / plays) if plays else None}

    plays_with_id = sum(counts.values())
    out = {
        "plays": plays,
        "tracks": int(len(table)),
        "with_id": {"tracks": int(len(table)), "plays": plays_with_id,
                    "share_of_plays": (plays_with_id / plays) if plays else None},
        "with_duration": part(table["duration_ms"].notna()),
        "with_features": part(table["source"].notna()),
        "with_genres": part(table["genres"].notna()),
        "names_unresolved": store.scalar(
            "SELECT count(DISTINCT name_key) FROM effective_plays WHERE track_id IS NULL AND name_key NOT IN "
            "(SELECT name_key FROM track_lookup)") or 0,
        "names_missed": store.scalar("SELECT count(*) FROM track_lookup WHERE how = 'miss'") or 0,
        "features_source": _preferred_source(store, features_source),
        "genres_source": genres_source,
    }
    return out


def write_track_features_csv(store: Store, path: str | Path, *, features_source: str | None = None,
                             genres_source: str | None = None) -> int:
    """`data/processed/track_features.csv`: one row per history track, lists joined by `|`, written atomically."""
    table = track_table(store, features_source=features_source, genres_source=genres_source)
    counts = dict(store.conn.execute(
        "SELECT track_id, count(*) FROM effective_plays WHERE track_id IS NOT NULL GROUP BY track_id").fetchall())
    out = table.copy()
    for c in ("artist_names", "artist_ids"):
        out[c] = ["|".join(str(x) for x in v) for v in out[c]]
    out["genres"] = ["|".join(v) if v else "" for v in out["genres"]]
    out["plays"] = out["track_id"].map(lambda t: counts.get(t, 0))
    for c in ("duration_ms", "key", "mode", "time_signature", "explicit"):
        out[c] = out[c].astype("Int64")
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL)
    return len(out)
