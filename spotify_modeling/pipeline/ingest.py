"""Import a parsed export into the store, idempotently, in one transaction.

Files already imported (same sha256) are skipped. Plays of a new file that overlap plays already stored (a newer
export repeats the last year of account data) are matched as a multiset on (time, song, ms played), so real repeats
that share a timestamp are kept while the overlap is not counted twice.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from spotify_modeling.atomic import atomic_path
from spotify_modeling.errors import BadInput
from spotify_modeling.core.export import HISTORY_KINDS, ParsedExport, read_export
from spotify_modeling.core.normalize import name_key
from spotify_modeling.db.store import Store, utc_now

# a first import at least this large (and larger than the table) drops the plays indexes and builds them once at the end
REBUILD_MIN_ROWS = 20_000
PLAY_COLUMNS = ("source", "ts", "ms_played", "track_name", "artist_name", "album_name", "track_id", "name_key",
                "reason_start", "reason_end", "skipped", "shuffle")


@dataclass
class ImportResult:
    export: str
    files_by_kind: dict[str, int]
    new_files: int
    already_imported: bool
    plays_added: int = 0
    plays_already_known: int = 0
    dropped_non_music: int = 0
    ignored_files: list[str] = field(default_factory=list)


def find_newest_export(raw_dir: Path) -> Path:
    """The newest zip or folder in `data/raw/` (by modification time)."""
    if raw_dir.is_dir():
        candidates = [p for p in raw_dir.iterdir()
                      if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() == ".zip")]
        if candidates:
            return max(candidates, key=lambda p: p.stat().st_mtime)
    raise BadInput(f"No export given and none found in {raw_dir}.",
                   "Pass the path of your Spotify export (zip or folder), or put the zip in data/raw/.")


def require_history(parsed: ParsedExport) -> ParsedExport:
    """Refuse an export without streaming history (before anything is written)."""
    if not parsed.has_history:
        raise BadInput(f"{parsed.source} holds no streaming history (no StreamingHistory*.json, "
                       "Streaming_History_Audio_*.json or endsong_*.json).",
                       "Check that you passed the Spotify data export itself.")
    return parsed


def import_export(store: Store, export: "str | Path | ParsedExport") -> ImportResult:
    """Import an export (a path, or one already parsed by `read_export`)."""
    parsed = require_history(export if isinstance(export, ParsedExport) else read_export(export))
    known = {r[0] for r in store.conn.execute("SELECT sha256 FROM imported_files")}
    new_files = [f for f in parsed.files if f.sha256 not in known]
    result = ImportResult(parsed.source, parsed.files_by_kind(), len(new_files), not new_files,
                          dropped_non_music=parsed.dropped_non_music, ignored_files=parsed.ignored)
    if not new_files:
        return result
    now = utc_now()
    history = [f for f in new_files if f.kind in HISTORY_KINDS]
    new_rows = sum(len(parsed.plays.get(f.sha256, ())) for f in history)
    with store.transaction() as conn:
        # sources with plays from an earlier import: only their new files need the stored plays for overlap matching
        stored_sources = {source for source in {p[0] for f in history for p in parsed.plays[f.sha256][:1]}
                          if conn.execute("SELECT 1 FROM plays WHERE source = ? LIMIT 1", (source,)).fetchone()}
        # A big import into a small table is faster with the indexes built once at the end (same transaction).
        rebuild = new_rows > REBUILD_MIN_ROWS and new_rows > store.scalar("SELECT count(*) FROM plays")
        if rebuild:  # the indexes are rebuilt from their own definitions, so store.py's schema stays the one truth
            indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'plays' "
                                   "AND sql IS NOT NULL").fetchall()
            conn.execute("PRAGMA cache_size = -200000")
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
        conn.executemany(
            "INSERT INTO imported_files(sha256, path, size, kind, rows, imported_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(f.sha256, f.path, f.size, f.kind, f.rows, now) for f in new_files])
        file_ids = dict(conn.execute("SELECT sha256, file_id FROM imported_files"))   # a row per file: small
        earlier: list[_Inserted] = []
        for f in history:
            inserted = _insert_plays(conn, parsed.plays[f.sha256], file_ids[f.sha256], stored_sources, earlier)
            if inserted is not None:
                earlier.append(inserted)
                result.plays_added += len(inserted.rows)
                result.plays_already_known += inserted.skipped
        if rebuild:
            for _, sql in indexes:
                conn.execute(sql)
        if any(f.kind == "playlists" for f in new_files):
            _replace_export_playlists(conn, parsed, now)
        if any(f.kind == "library" for f in new_files):
            _replace_export_saved(conn, parsed)
        _record_known_ids(conn, now, earlier)
    return result


@dataclass
class _Inserted:
    """The plays one file added (its overlap with earlier files of the same import is matched in memory)."""
    source: str
    lo: str
    hi: str
    rows: list[tuple]
    skipped: int


def _insert_plays(conn, plays: list[tuple], file_id: int, stored_sources: set[str],
                  earlier: list[_Inserted]) -> _Inserted | None:
    """Insert one file's plays, leaving out those already stored (matched as a multiset on time, song, ms played)."""
    if not plays:
        return None
    source = plays[0][0]
    times = [p[1] for p in plays]
    lo, hi = min(times), max(times)
    del times
    existing: Counter = Counter()
    if source in stored_sources:  # the table holds this import's earlier files as well
        existing.update(tuple(r) for r in conn.execute(
            "SELECT ts, name_key, ms_played FROM plays WHERE source = ? AND ts BETWEEN ? AND ?", (source, lo, hi)))
    else:
        for e in earlier:
            if e.source == source and e.lo <= hi and lo <= e.hi:
                existing.update((p[1], p[7], p[2]) for p in e.rows if lo <= p[1] <= hi)
    rows = plays
    skipped = 0
    if existing:
        rows = []
        for p in plays:
            key = (p[1], p[7], p[2])
            if existing.get(key):
                existing[key] -= 1
                skipped += 1
            else:
                rows.append(p)
    # the file id is an int, safe as a literal; it saves a copy of every row tuple
    conn.executemany(
        f"INSERT INTO plays({', '.join(PLAY_COLUMNS)}, file_id) VALUES ({', '.join('?' * len(PLAY_COLUMNS))}, "
        f"{int(file_id)})", rows)
    return _Inserted(source, lo, hi, rows, skipped)


def _replace_export_playlists(conn, parsed: ParsedExport, now: str) -> None:
    """The newest export's playlists replace the previous export's (Spotify playlists are kept)."""
    conn.execute("DELETE FROM playlists WHERE origin = 'export'")
    for n, pl in enumerate(parsed.playlists):
        key = f"export:{n}:{pl.name}"
        conn.execute("INSERT INTO playlists(playlist_key, name, origin, role, updated_at) VALUES (?, ?, 'export', ?, ?)",
                     (key, pl.name, _tool_role(pl.name), now))
        conn.executemany(
            "INSERT INTO playlist_items(playlist_key, position, item_type, track_id, track_name, artist_name, "
            "album_name, name_key, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(key, i, it.item_type, it.track_id, it.track_name, it.artist_name, it.album_name,
              name_key(it.artist_name, it.track_name) if it.track_name else None, it.added_at)
             for i, it in enumerate(pl.items)])


TOOL_PLAYLISTS = {"data_candidates": "candidates", "data_1": "like", "data_0": "dislike"}


def _tool_role(name: str) -> str | None:
    return TOOL_PLAYLISTS.get(name)


def _replace_export_saved(conn, parsed: ParsedExport) -> None:
    conn.execute("DELETE FROM saved_tracks WHERE origin = 'export'")
    start = conn.execute("SELECT coalesce(max(position), -1) + 1 FROM saved_tracks").fetchone()[0]
    conn.executemany(
        "INSERT INTO saved_tracks(position, track_id, track_name, artist_name, album_name, name_key, origin) "
        "VALUES (?, ?, ?, ?, ?, ?, 'export')",
        [(start + i, s.track_id, s.track_name, s.artist_name, s.album_name, name_key(s.artist_name, s.track_name))
         for i, s in enumerate(parsed.saved_tracks)])


def _record_known_ids(conn, now: str, inserted: list[_Inserted]) -> None:
    """Ids the export itself carries: track stubs, and name -> id look-ups that cost no Spotify call.

    The plays just inserted are read in memory (first play of an id or a name wins), so the cost follows the new
    rows and no pass over the stored history is needed.
    """
    with_id = [p for block in inserted for p in block.rows if p[6] is not None]
    with_id.reverse()  # so that in the dicts below the first play of an id or a name is the one left
    first_play = {p[6]: p for p in with_id}
    by_name = {p[7]: p[6] for p in with_id}
    del with_id
    stubs = [(track_id, p[3], p[4], p[5], now) for track_id, p in first_play.items()]
    conn.executemany(
        "INSERT OR IGNORE INTO tracks(track_id, name, artist_names, album_name, meta_source, updated_at) "
        "VALUES (?, ?, json_array(?), ?, 'export', ?)", stubs)
    conn.execute(
        "INSERT OR IGNORE INTO tracks(track_id, name, artist_names, album_name, meta_source, updated_at) "
        "SELECT track_id, track_name, json_array(artist_name), album_name, 'export', ? FROM ("
        "  SELECT track_id, track_name, artist_name, album_name FROM playlist_items WHERE track_id IS NOT NULL "
        "  UNION ALL SELECT track_id, track_name, artist_name, album_name FROM saved_tracks WHERE track_id IS NOT NULL"
        ") GROUP BY track_id", (now,))
    conn.executemany(
        "INSERT OR IGNORE INTO track_lookup(name_key, track_id, how, looked_up_at) VALUES (?, ?, 'uri', ?)",
        [(key, track_id, now) for key, track_id in by_name.items()])
    conn.execute(
        "INSERT OR IGNORE INTO track_lookup(name_key, track_id, how, looked_up_at) "
        "SELECT name_key, track_id, 'export', ? FROM ("
        "  SELECT name_key, track_id FROM playlist_items WHERE track_id IS NOT NULL AND name_key IS NOT NULL "
        "  UNION ALL SELECT name_key, track_id FROM saved_tracks WHERE track_id IS NOT NULL"
        ") GROUP BY name_key", (now,))
    # plays without a URI take the id the export itself gives the same song elsewhere
    conn.execute(
        "UPDATE plays SET track_id = (SELECT l.track_id FROM track_lookup l WHERE l.name_key = plays.name_key) "
        "WHERE track_id IS NULL AND name_key IN (SELECT name_key FROM track_lookup WHERE track_id IS NOT NULL)")


def history_summary(store: Store) -> dict:
    """The numbers the `features` summary shows, from the effective plays (extended wins its period)."""
    q = store.conn.execute(
        "SELECT count(*), min(ts), max(ts), sum(track_id IS NOT NULL), "
        "count(DISTINCT coalesce(track_id, name_key)), count(DISTINCT lower(artist_name)), "
        "sum(coalesce(ms_played, 0) < 30000) FROM effective_plays").fetchone()
    plays, first, last, with_id, tracks, artists, skips = q
    comp = store.conn.execute(
        "SELECT count(*), sum(p.ms_played >= 0.8 * t.duration_ms) FROM effective_plays p "
        "JOIN tracks t ON t.track_id = p.track_id WHERE t.duration_ms > 0").fetchone()
    return {
        "plays": plays or 0,
        "first": first,
        "last": last,
        "plays_with_id": with_id or 0,
        "unique_tracks": tracks or 0,
        "unique_artists": artists or 0,
        "skip_rate": (skips / plays) if plays else None,
        "completion_rate": (comp[1] / comp[0]) if comp[0] else None,
        "completion_known": comp[0] or 0,
        "playlists": store.scalar("SELECT count(*) FROM playlists WHERE origin = 'export'"),
        "playlist_items": store.scalar(
            "SELECT count(*) FROM playlist_items i JOIN playlists p USING (playlist_key) WHERE p.origin = 'export'"),
        "playlist_tracks": store.scalar(
            "SELECT count(*) FROM playlist_items i JOIN playlists p USING (playlist_key) "
            "WHERE p.origin = 'export' AND i.item_type = 'track'"),
        "saved_tracks": store.scalar("SELECT count(*) FROM saved_tracks"),
    }


def write_history_csv(store: Store, path: Path) -> int:
    """`data/processed/streaming_history.csv`: one row per effective play, written atomically."""
    cols = ("ts", "ms_played", "track_name", "artist_name", "album_name", "track_id", "reason_start", "reason_end",
            "skipped", "shuffle", "source")
    cur = store.conn.execute(f"SELECT {', '.join(cols)} FROM effective_plays ORDER BY ts, play_id")
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        while True:
            chunk = cur.fetchmany(20000)
            if not chunk:
                break
            w.writerows(chunk)
            n += len(chunk)
    return n
