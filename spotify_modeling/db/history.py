"""Your listening history: `imported_files` and `plays` (and the `effective_plays` view). The only writer of them.

`effective_plays` is what every model and count reads: where the extended history covers a period, the account
history's plays of that period are not counted again.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import pandas as pd

from spotify_modeling.db.store import Store

PLAY_COLUMNS = ("source", "ts", "ms_played", "track_name", "artist_name", "album_name", "track_id", "name_key",
                "reason_start", "reason_end", "skipped", "shuffle")
HISTORY_CSV_COLUMNS = ("ts", "ms_played", "track_name", "artist_name", "album_name", "track_id", "reason_start",
                       "reason_end", "skipped", "shuffle", "source")


# ------------------------------------------------------------------------------------------------ import
def imported_shas(store: Store) -> set[str]:
    return {r[0] for r in store.conn.execute("SELECT sha256 FROM imported_files")}


def last_import_time(store: Store) -> str | None:
    return store.scalar("SELECT max(imported_at) FROM imported_files")


def has_plays_from(conn, source: str) -> bool:
    return conn.execute("SELECT 1 FROM plays WHERE source = ? LIMIT 1", (source,)).fetchone() is not None


def play_count(store: Store) -> int:
    return store.scalar("SELECT count(*) FROM plays")


def drop_play_indexes(conn) -> list[str]:
    """Drop the plays indexes for a big first import; returns their definitions for `rebuild_play_indexes`."""
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'plays' "
                           "AND sql IS NOT NULL").fetchall()
    conn.execute("PRAGMA cache_size = -200000")
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in indexes]


def rebuild_play_indexes(conn, definitions: list[str]) -> None:
    """The indexes again, from their own definitions (so the schema in store.py stays the one truth)."""
    for sql in definitions:
        conn.execute(sql)


def record_files(conn, files: Iterable, now: str) -> dict[str, int]:
    """Record imported files (by hash, never a copy); returns every file's integer id by sha256."""
    conn.executemany(
        "INSERT INTO imported_files(sha256, path, size, kind, rows, imported_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(f.sha256, f.path, f.size, f.kind, f.rows, now) for f in files])
    return dict(conn.execute("SELECT sha256, file_id FROM imported_files"))   # a row per file: small


def stored_play_keys(conn, source: str, lo: str, hi: str) -> Iterator[tuple]:
    """(ts, name_key, ms_played) of the stored plays of `source` between two times: what a new file may repeat."""
    return (tuple(r) for r in conn.execute(
        "SELECT ts, name_key, ms_played FROM plays WHERE source = ? AND ts BETWEEN ? AND ?", (source, lo, hi)))


def insert_plays(conn, rows: list[tuple], file_id: int) -> None:
    """Rows in PLAY_COLUMNS order, all from one file."""
    # the file id is an int, safe as a literal; it saves a copy of every row tuple
    conn.executemany(
        f"INSERT INTO plays({', '.join(PLAY_COLUMNS)}, file_id) VALUES ({', '.join('?' * len(PLAY_COLUMNS))}, "
        f"{int(file_id)})", rows)


def fill_ids_from_lookups(conn) -> None:
    """Plays without an id take the one a look-up (the export's own, or a search) found for the same song."""
    conn.execute(
        "UPDATE plays SET track_id = (SELECT l.track_id FROM track_lookup l WHERE l.name_key = plays.name_key) "
        "WHERE track_id IS NULL AND name_key IN (SELECT name_key FROM track_lookup WHERE track_id IS NOT NULL)")


def set_id_for_name(conn, name_key: str, track_id: str) -> None:
    conn.execute("UPDATE plays SET track_id = ? WHERE name_key = ? AND track_id IS NULL", (track_id, name_key))


# ------------------------------------------------------------------------------------------------ reading
def summary_counts(store: Store) -> dict:
    """Plays, date range, ids, distinct tracks and artists, skips, completion of the effective plays."""
    q = store.conn.execute(
        "SELECT count(*), min(ts), max(ts), sum(track_id IS NOT NULL), "
        "count(DISTINCT coalesce(track_id, name_key)), count(DISTINCT lower(artist_name)), "
        "sum(coalesce(ms_played, 0) < 30000) FROM effective_plays").fetchone()
    comp = store.conn.execute(
        "SELECT count(*), sum(p.ms_played >= 0.8 * t.duration_ms) FROM effective_plays p "
        "JOIN tracks t ON t.track_id = p.track_id WHERE t.duration_ms > 0").fetchone()
    plays, first, last, with_id, tracks, artists, skips = q
    return {"plays": plays or 0, "first": first, "last": last, "plays_with_id": with_id or 0,
            "unique_tracks": tracks or 0, "unique_artists": artists or 0, "skips": skips or 0,
            "completion_known": comp[0] or 0, "completed": comp[1] or 0}


def history_rows(store: Store, chunk: int = 20000) -> Iterator[list[tuple]]:
    """The effective plays in HISTORY_CSV_COLUMNS order, oldest first, in chunks (the history CSV)."""
    cur = store.conn.execute(f"SELECT {', '.join(HISTORY_CSV_COLUMNS)} FROM effective_plays ORDER BY ts, play_id")
    while True:
        rows = cur.fetchmany(chunk)
        if not rows:
            return
        yield rows


def effective_play_count(store: Store) -> int:
    return store.scalar("SELECT count(*) FROM effective_plays") or 0


def plays_per_track(store: Store) -> dict[str, int]:
    """Effective plays per track id."""
    return dict(store.conn.execute(
        "SELECT track_id, count(*) FROM effective_plays WHERE track_id IS NOT NULL GROUP BY track_id").fetchall())


def plays_and_artists_per_track(store: Store) -> list[tuple[str, int, str | None]]:
    """(track id, effective plays, artist ids JSON) of every played track the store describes."""
    return [tuple(r) for r in store.conn.execute(
        "SELECT p.track_id, count(*), t.artist_ids FROM effective_plays p JOIN tracks t USING (track_id) "
        "GROUP BY p.track_id")]


def stored_span(store: Store) -> tuple[str | None, str | None]:
    """First and last stored play of any source (ISO UTC)."""
    first, last = store.conn.execute("SELECT min(ts), max(ts) FROM plays").fetchone()
    return first, last


def songs_between(store: Store, lo: str, hi: str) -> set[str]:
    """Name keys of the songs played between two times (any source)."""
    return {r[0] for r in store.conn.execute(
        "SELECT DISTINCT name_key FROM plays WHERE ts BETWEEN ? AND ?", (lo, hi))}


def play_span(store: Store) -> tuple[str | None, str | None]:
    """First and last effective play (ISO UTC)."""
    first, last = store.conn.execute("SELECT min(ts), max(ts) FROM effective_plays").fetchone()
    return first, last


def plays_with_pushes(store: Store) -> pd.DataFrame:
    """Effective plays with an id, their track's duration and when the tool pushed that track (NaN: never)."""
    return pd.read_sql_query(
        "SELECT p.track_id, p.name_key, p.ms_played, p.reason_end, p.ts, t.duration_ms, pu.pushed_at "
        "FROM effective_plays p LEFT JOIN tracks t ON t.track_id = p.track_id "
        "LEFT JOIN pushes pu ON pu.track_id = p.track_id WHERE p.track_id IS NOT NULL", store.conn)


def history_tracks(store: Store) -> list[tuple[str, int]]:
    """Every track id of the user's own history (plays, playlists, saved, the Web API's tracks, labels) with its play
    count, most first."""
    return [(r[0], r[1]) for r in store.conn.execute(
        "SELECT track_id, sum(n) AS n FROM ("
        "  SELECT track_id, count(*) AS n FROM effective_plays WHERE track_id IS NOT NULL GROUP BY track_id"
        "  UNION ALL SELECT track_id, 0 FROM playlist_items WHERE track_id IS NOT NULL"
        "  UNION ALL SELECT track_id, 0 FROM saved_tracks WHERE track_id IS NOT NULL"
        "  UNION ALL SELECT track_id, 0 FROM api_tracks"
        "  UNION ALL SELECT track_id, 0 FROM labels"
        ") GROUP BY track_id ORDER BY n DESC, track_id")]


def unresolved_names(store: Store) -> list[tuple[str, int, str, str]]:
    """(name key, plays, title, artist) of songs without an id that no look-up answered yet, most-played first."""
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


def name_counts(store: Store) -> tuple[int, int]:
    """(songs without an id not looked up yet, songs searched and not found)."""
    unresolved = store.scalar(
        "SELECT count(DISTINCT name_key) FROM effective_plays WHERE track_id IS NULL AND name_key NOT IN "
        "(SELECT name_key FROM track_lookup)") or 0
    missed = store.scalar("SELECT count(*) FROM track_lookup WHERE how = 'miss'") or 0
    return unresolved, missed


__all__ = ["PLAY_COLUMNS", "HISTORY_CSV_COLUMNS", "imported_shas", "last_import_time", "has_plays_from",
           "play_count", "drop_play_indexes", "rebuild_play_indexes", "record_files", "stored_play_keys",
           "insert_plays", "fill_ids_from_lookups", "set_id_for_name", "summary_counts", "history_rows",
           "effective_play_count", "plays_per_track", "plays_and_artists_per_track", "play_span",
           "plays_with_pushes", "history_tracks", "unresolved_names", "name_counts"]
