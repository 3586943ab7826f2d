"""Track facts: `tracks`, `track_lookup`, `artists`, `audio_features`, `enrich_misses` and `api_answers`. The only
writer of them.

One upsert for a track's facts (`upsert_tracks`), with one rule per kind of source: a full Spotify object (search,
`GET /tracks/{id}`) is the best description there is, so its non-empty facts replace stored ones; a partial source
(ReccoBeats, the pool's search pages) only fills what is still unknown. Nothing ever replaces a known fact with a
missing one. `insert_stubs` adds tracks the export names, without touching a track already described.

`api_answers` keeps what a search (Deezer's or Spotify's) or Deezer's `track/{id}` answered, parsed into the
sources' typed records and stored as JSON, so a resumed run or the next export never asks the same thing twice.
"""

from __future__ import annotations

import json
from typing import Iterable, Sequence

from spotify_modeling.core.featurize import AUDIO_FEATURES
from spotify_modeling.db.store import Store, utc_now
from spotify_modeling.core.records import ArtistRef, DeezerTrack, TrackRecord

FEATURE_COLUMNS = (*AUDIO_FEATURES, "time_signature")   # stored per source; ReccoBeats has no time_signature

#: Which tracks a step still has to describe (see `tracks_needing`).
NEEDS = {
    "reccobeats": "(t.duration_ms IS NULL OR t.artist_ids IS NULL)",
    "metadata": "t.artist_ids IS NULL",
    # release date + explicit: only tracks no full Spotify object described yet
    "details": "t.release_date IS NULL AND coalesce(t.meta_source, '') NOT IN ('search', 'spotify')",
}


def json_list(value: str | None) -> list | None:
    """A stored JSON list (artist ids, genres), None when absent or not a list."""
    if value is None:
        return None
    try:
        out = json.loads(value)
    except (TypeError, ValueError):
        return None
    return out if isinstance(out, list) else None


def with_temp_ids(store: Store, ids: Sequence[str]) -> str:
    """Load ids into a temp table (keeps order) and return its name, for joins on large id lists."""
    store.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _enrich_ids (pos INTEGER PRIMARY KEY, track_id TEXT)")
    store.conn.execute("DELETE FROM temp._enrich_ids")
    store.conn.executemany("INSERT INTO temp._enrich_ids(pos, track_id) VALUES (?, ?)", list(enumerate(ids)))
    return "temp._enrich_ids"


# ------------------------------------------------------------------------------------------------ tracks
_OVERWRITE = (
    "name = coalesce(excluded.name, tracks.name), "
    "artist_names = coalesce(excluded.artist_names, tracks.artist_names), "
    "artist_ids = coalesce(excluded.artist_ids, tracks.artist_ids), "
    "album_name = coalesce(excluded.album_name, tracks.album_name), "
    "duration_ms = coalesce(excluded.duration_ms, tracks.duration_ms), "
    "release_date = coalesce(excluded.release_date, tracks.release_date), "
    "explicit = coalesce(excluded.explicit, tracks.explicit), isrc = coalesce(excluded.isrc, tracks.isrc), "
    "is_playable = coalesce(excluded.is_playable, tracks.is_playable), meta_source = excluded.meta_source, "
    "updated_at = excluded.updated_at")
_FILL = (
    "name = coalesce(tracks.name, excluded.name), "
    # names follow the ids they belong to
    "artist_names = CASE WHEN tracks.artist_ids IS NULL AND excluded.artist_ids IS NOT NULL "
    "THEN excluded.artist_names ELSE coalesce(tracks.artist_names, excluded.artist_names) END, "
    "artist_ids = coalesce(tracks.artist_ids, excluded.artist_ids), "
    "album_name = coalesce(tracks.album_name, excluded.album_name), "
    "duration_ms = coalesce(tracks.duration_ms, excluded.duration_ms), "
    "release_date = coalesce(tracks.release_date, excluded.release_date), "
    "explicit = coalesce(tracks.explicit, excluded.explicit), isrc = coalesce(tracks.isrc, excluded.isrc), "
    "is_playable = coalesce(tracks.is_playable, excluded.is_playable), "
    "meta_source = CASE WHEN tracks.meta_source = 'export' THEN excluded.meta_source ELSE tracks.meta_source END, "
    "updated_at = excluded.updated_at")


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


def upsert_tracks(conn, records: Iterable[TrackRecord], meta_source: str, fill_only: bool = False) -> int:
    """Write tracks and their artists' names. `fill_only`: a partial source, which only fills unknown facts."""
    now = utc_now()
    rows, artists = [], []
    for r in records:
        if r is None or r.is_local:
            continue
        ids = r.artist_ids
        rows.append((r.id, r.name, json.dumps(r.artist_names) if r.artists else None,
                     json.dumps(ids) if ids else None, r.album_name, r.duration_ms, r.release_date,
                     _flag(r.explicit), r.isrc, _flag(r.is_playable), meta_source, now))
        artists.extend((a.id, a.name) for a in r.artists if a.id)
    conn.executemany(
        "INSERT INTO tracks(track_id, name, artist_names, artist_ids, album_name, duration_ms, release_date, explicit, "
        "isrc, is_playable, meta_source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        f"ON CONFLICT(track_id) DO UPDATE SET {_FILL if fill_only else _OVERWRITE}", rows)
    upsert_artist_names(conn, artists)
    return len(rows)


def insert_stubs(conn, stubs: Iterable[tuple], now: str) -> None:
    """Tracks the export names by id: (track_id, name, artist name, album name); an existing row is left alone."""
    conn.executemany(
        "INSERT OR IGNORE INTO tracks(track_id, name, artist_names, album_name, meta_source, updated_at) "
        "VALUES (?, ?, json_array(?), ?, 'export', ?)", [(*s, now) for s in stubs])


def insert_library_stubs(conn, now: str) -> None:
    """Stubs for the ids the export's playlists and saved tracks carry."""
    conn.execute(
        "INSERT OR IGNORE INTO tracks(track_id, name, artist_names, album_name, meta_source, updated_at) "
        "SELECT track_id, track_name, json_array(artist_name), album_name, 'export', ? FROM ("
        "  SELECT track_id, track_name, artist_name, album_name FROM playlist_items WHERE track_id IS NOT NULL "
        "  UNION ALL SELECT track_id, track_name, artist_name, album_name FROM saved_tracks WHERE track_id IS NOT NULL"
        ") GROUP BY track_id", (now,))


def set_isrc_if_missing(conn, track_id: str, isrc: str) -> None:
    conn.execute("UPDATE tracks SET isrc = coalesce(isrc, ?) WHERE track_id = ?", (isrc, track_id))


def fill_durations_from_plays(store: Store) -> int:
    """A play that ended `trackdone` lasted the whole track: its ms_played is the duration (no call at all)."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE tracks SET duration_ms = (SELECT max(ms_played) FROM plays p WHERE p.track_id = tracks.track_id "
            "AND p.reason_end = 'trackdone' AND p.ms_played > 0) WHERE duration_ms IS NULL AND EXISTS "
            "(SELECT 1 FROM plays p WHERE p.track_id = tracks.track_id AND p.reason_end = 'trackdone' "
            "AND p.ms_played > 0)")
        return cur.rowcount


def tracks_needing(store: Store, ids: Sequence[str], need: str) -> list[str]:
    """The given tracks (order kept) that lack what `need` (a NEEDS key) describes."""
    table = with_temp_ids(store, ids)
    return [r[0] for r in store.conn.execute(
        f"SELECT w.track_id FROM {table} w JOIN tracks t ON t.track_id = w.track_id WHERE {NEEDS[need]} "
        "ORDER BY w.pos")]


def artist_ids_of(store: Store, track_ids: Sequence[str]) -> list[tuple[int, str, list]]:
    """(position, track id, artist ids) of the given tracks that have artist ids, in the order given."""
    table = with_temp_ids(store, track_ids)
    return [(pos, tid, json_list(ids) or []) for pos, tid, ids in store.conn.execute(
        f"SELECT w.pos, w.track_id, t.artist_ids FROM {table} w JOIN tracks t ON t.track_id = w.track_id "
        "WHERE t.artist_ids IS NOT NULL ORDER BY w.pos")]


# ------------------------------------------------------------------------------------------------ look-ups
def record_lookup(conn, name_key: str, track_id: str | None, how: str) -> None:
    """Name -> id, or a miss (`track_id` None): a song is searched at most once."""
    conn.execute("INSERT OR REPLACE INTO track_lookup(name_key, track_id, how, looked_up_at) VALUES (?, ?, ?, ?)",
                 (name_key, track_id, how, utc_now()))


def lookups_by_how(store: Store) -> dict[str, int]:
    """How many names each kind of look-up answered (uri | export | deezer | search | miss)."""
    return dict(store.conn.execute("SELECT how, count(*) FROM track_lookup GROUP BY how").fetchall())


def lookup_hows(store: Store) -> dict[str, str]:
    """{name key: how its look-up was answered} (uri | export | deezer | search | miss)."""
    return dict(store.conn.execute("SELECT name_key, how FROM track_lookup").fetchall())


def record_export_lookups(conn, by_name: dict[str, str], now: str) -> None:
    """Look-ups the export itself answers: plays with a URI, then its playlists' and saved tracks' ids."""
    conn.executemany(
        "INSERT OR IGNORE INTO track_lookup(name_key, track_id, how, looked_up_at) VALUES (?, ?, 'uri', ?)",
        [(key, track_id, now) for key, track_id in by_name.items()])
    conn.execute(
        "INSERT OR IGNORE INTO track_lookup(name_key, track_id, how, looked_up_at) "
        "SELECT name_key, track_id, 'export', ? FROM ("
        "  SELECT name_key, track_id FROM playlist_items WHERE track_id IS NOT NULL AND name_key IS NOT NULL "
        "  UNION ALL SELECT name_key, track_id FROM saved_tracks WHERE track_id IS NOT NULL"
        ") GROUP BY name_key", (now,))


def misses(store: Store, what: str) -> set[str]:
    """Items a source was asked for and did not have (`what`: reccobeats_track | spotify_track | ...)."""
    return {r[0] for r in store.conn.execute("SELECT item_id FROM enrich_misses WHERE what = ?", (what,))}


def record_misses(conn, ids: Iterable[str], what: str) -> None:
    now = utc_now()
    conn.executemany("INSERT OR IGNORE INTO enrich_misses(item_id, what, asked_at) VALUES (?, ?, ?)",
                     [(i, what, now) for i in ids])


def ids_for_isrcs(store: Store, isrcs: Iterable[str]) -> dict[str, str]:
    """{ISRC: track id} of the tracks the store already describes with one of these ISRCs (upper case)."""
    wanted = {i.strip().upper() for i in isrcs if i}
    if not wanted:
        return {}
    out: dict[str, str] = {}
    for isrc, tid in store.conn.execute("SELECT upper(isrc), track_id FROM tracks WHERE isrc IS NOT NULL "
                                        "ORDER BY track_id"):
        if isrc in wanted:
            out.setdefault(isrc, tid)
    return out


def name_play_lengths(store: Store) -> dict[str, tuple[int | None, int | None]]:
    """{name key: (longest, done)} of the plays without an id: `longest` is the second-longest play (the longest
    when there is one play: a single play stretched by seeking back must not decide), `done` the longest play that
    ended `trackdone` (it lasted the whole track), None where the plays do not tell."""
    plays: dict[str, list[int]] = {}
    done: dict[str, int] = {}
    for key, ms, reason in store.conn.execute(
            "SELECT name_key, ms_played, reason_end FROM effective_plays WHERE track_id IS NULL "
            "AND ms_played > 0"):
        plays.setdefault(key, []).append(int(ms))
        if reason == "trackdone":
            done[key] = max(done.get(key, 0), int(ms))
    out = {}
    for key, lengths in plays.items():
        lengths.sort(reverse=True)
        out[key] = (lengths[1] if len(lengths) > 1 else lengths[0], done.get(key))
    return out


# ------------------------------------------------------------------------------------------------ answers
def _record_to_json(r: TrackRecord) -> dict:
    out = {k: getattr(r, k) for k in ("id", "name", "album_name", "duration_ms", "release_date", "explicit", "isrc",
                                       "is_playable") if getattr(r, k) is not None}
    out["artists"] = [[a.id, a.name] for a in r.artists]
    return out


def _record_from_json(row: dict) -> TrackRecord:
    artists = tuple(ArtistRef(a[0], a[1]) for a in row.get("artists") or [])
    return TrackRecord(id=row["id"], name=row.get("name"), artists=artists, album_name=row.get("album_name"),
                       duration_ms=row.get("duration_ms"), release_date=row.get("release_date"),
                       explicit=row.get("explicit"), isrc=row.get("isrc"), is_playable=row.get("is_playable"))


def _save_answer(conn, service: str, item: str, answer) -> None:
    conn.execute("INSERT OR REPLACE INTO api_answers(service, item, answer, asked_at) VALUES (?, ?, ?, ?)",
                 (service, item, None if answer is None else json.dumps(answer, ensure_ascii=False), utc_now()))


def _answers(store: Store, service: str) -> dict[str, object]:
    return {item: (None if answer is None else json.loads(answer)) for item, answer in store.conn.execute(
        "SELECT item, answer FROM api_answers WHERE service = ?", (service,))}


def save_deezer_search(conn, query_key: str, results: Sequence[DeezerTrack]) -> None:
    """A Deezer search's results (in Deezer's order; [] found nothing), shared by every name with this query key."""
    _save_answer(conn, "deezer_search", query_key, [t.to_stored() for t in results])


def deezer_searches(store: Store) -> dict[str, list[DeezerTrack]]:
    """Every Deezer search answered so far, by query key."""
    return {k: [DeezerTrack.from_stored(r) for r in v or []] for k, v in _answers(store, "deezer_search").items()}


def save_deezer_track(conn, deezer_id: int, track: DeezerTrack | None) -> None:
    """What `track/{id}` answered; None: Deezer has no such track ("no data")."""
    _save_answer(conn, "deezer_track", str(int(deezer_id)), None if track is None else track.to_stored())


def deezer_tracks(store: Store) -> dict[int, DeezerTrack | None]:
    """Every Deezer track asked for so far, by Deezer id (None: Deezer had no data)."""
    return {int(k): (None if v is None else DeezerTrack.from_stored(v))
            for k, v in _answers(store, "deezer_track").items()}


def save_deezer_isrc(conn, isrc: str, track: DeezerTrack | None) -> None:
    """What `track/isrc:{ISRC}` answered; None: Deezer does not know the ISRC."""
    _save_answer(conn, "deezer_isrc", isrc.strip().upper(), None if track is None else track.to_stored())


def deezer_isrcs_asked(store: Store) -> set[str]:
    """The ISRCs Deezer was asked about (found or not)."""
    return {r[0] for r in store.conn.execute("SELECT item FROM api_answers WHERE service = 'deezer_isrc'")}


def isrcs_of(store: Store, track_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(track id, ISRC) of the given tracks whose ISRC is known, in the order given."""
    table = with_temp_ids(store, track_ids)
    return [(r[0], r[1]) for r in store.conn.execute(
        f"SELECT w.track_id, t.isrc FROM {table} w JOIN tracks t ON t.track_id = w.track_id "
        "WHERE t.isrc IS NOT NULL AND t.isrc != '' ORDER BY w.pos")]


def save_spotify_search(conn, query_key: str, results: Sequence[TrackRecord]) -> None:
    """A Spotify track search's results (in Spotify's order; [] found nothing or refused), by query key."""
    _save_answer(conn, "spotify_search", query_key, [_record_to_json(r) for r in results if r is not None])


def spotify_searches(store: Store) -> dict[str, list[TrackRecord]]:
    """Every Spotify name search answered so far, by query key."""
    return {k: [_record_from_json(r) for r in v or []] for k, v in _answers(store, "spotify_search").items()}


# ------------------------------------------------------------------------------------------------ audio features
def insert_features(conn, track_id: str, source: str, feats: dict | None) -> None:
    """One source's audio features of a track; None records "asked, not available" (`available = 0`)."""
    values = [None] * len(FEATURE_COLUMNS) if feats is None else [feats.get(c) for c in FEATURE_COLUMNS]
    conn.execute(
        f"INSERT OR REPLACE INTO audio_features(track_id, source, available, {', '.join(FEATURE_COLUMNS)}, "
        f"fetched_at) VALUES (?, ?, ?, {', '.join('?' * len(FEATURE_COLUMNS))}, ?)",
        (track_id, source, 0 if feats is None else 1, *values, utc_now()))


def features_todo(store: Store, ids: Sequence[str], source: str) -> list[str]:
    """The given tracks (order kept) not asked of `source` yet."""
    table = with_temp_ids(store, ids)
    return [r[0] for r in store.conn.execute(
        f"SELECT w.track_id FROM {table} w WHERE NOT EXISTS (SELECT 1 FROM audio_features f "
        "WHERE f.track_id = w.track_id AND f.source = ?) ORDER BY w.pos", (source,))]


def played_tracks_with_features(store: Store) -> int:
    """Tracks of your history with audio features: played ones, and (before the export) those the Web API gave."""
    return store.scalar(
        "SELECT count(DISTINCT k.track_id) FROM (SELECT track_id FROM effective_plays UNION "
        "SELECT track_id FROM api_tracks) k JOIN audio_features f ON f.track_id = k.track_id AND f.available = 1")


# ------------------------------------------------------------------------------------------------ artists
def upsert_artist_names(conn, artists: Iterable[tuple[str, str | None]]) -> None:
    conn.executemany("INSERT INTO artists(artist_id, name) VALUES (?, ?) ON CONFLICT(artist_id) DO UPDATE SET "
                     "name = coalesce(artists.name, excluded.name)",
                     [(a, n) for a, n in artists if a])


def store_genres(conn, artist_id: str, name: str | None, genres: list[str] | None, source: str) -> None:
    """An artist's genres from `source`; [] = asked, none known."""
    conn.execute(
        "INSERT INTO artists(artist_id, name, genres, genres_source, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(artist_id) DO UPDATE SET name = coalesce(excluded.name, artists.name), "
        "genres = excluded.genres, genres_source = excluded.genres_source, updated_at = excluded.updated_at",
        (artist_id, name, json.dumps(list(genres or [])), source, utc_now()))


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


def artist_name(store: Store, artist_id: str) -> str | None:
    return store.scalar("SELECT name FROM artists WHERE artist_id = ?", (artist_id,))


def isrcs_of_artist(store: Store, artist_id: str, limit: int) -> list[tuple[str, list]]:
    """(ISRC, artist ids) of the artist's tracks with an ISRC, most-played first."""
    return [(isrc, json_list(ids) or []) for isrc, ids in store.conn.execute(
        "SELECT t.isrc, t.artist_ids FROM tracks t JOIN json_each(t.artist_ids) j ON j.value = ? "
        "LEFT JOIN (SELECT track_id, count(*) AS n FROM plays GROUP BY track_id) p ON p.track_id = t.track_id "
        "WHERE t.isrc IS NOT NULL ORDER BY coalesce(p.n, 0) DESC, t.track_id LIMIT ?", (artist_id, limit))]


__all__ = ["FEATURE_COLUMNS", "NEEDS", "json_list", "with_temp_ids", "upsert_tracks", "insert_stubs",
           "insert_library_stubs", "set_isrc_if_missing", "fill_durations_from_plays", "tracks_needing",
           "artist_ids_of", "record_lookup", "lookups_by_how", "lookup_hows", "record_export_lookups", "misses", "record_misses",
           "insert_features", "features_todo", "played_tracks_with_features", "upsert_artist_names", "store_genres", "artists_needing",
           "artist_name", "isrcs_of_artist", "ids_for_isrcs", "name_play_lengths", "save_deezer_search",
           "deezer_searches", "save_deezer_track", "deezer_tracks", "save_spotify_search", "spotify_searches"]
