"""The one SQLite database under `data/`: its schema, migrations, transactions, the kv table and API usage.

The other modules of `db/` each own a group of tables; nothing outside `db/` holds SQL.

Every multi-row write goes through `Store.transaction()`, so a crash or Ctrl-C leaves the database as it was
before the step. The schema is versioned with `PRAGMA user_version` and upgraded by the `MIGRATIONS` list.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

# Each entry upgrades the schema by one version; never edit a released entry, append a new one.
MIGRATIONS: list[str] = [
    # 1: foundation + room for enrichment, labels, runs, candidates and API usage
    """
    CREATE TABLE imported_files (
        sha256 TEXT PRIMARY KEY,
        path TEXT NOT NULL,          -- path inside the export (never a copy of the file)
        size INTEGER NOT NULL,
        kind TEXT NOT NULL,          -- account_music | account_mixed | extended | playlists | library
        rows INTEGER NOT NULL,
        imported_at TEXT NOT NULL
    );
    CREATE TABLE plays (
        play_id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,        -- 'account' | 'extended'
        ts TEXT NOT NULL,            -- ISO UTC 'YYYY-MM-DDTHH:MM:SSZ', when the stream ended
        ms_played INTEGER,
        track_name TEXT,
        artist_name TEXT,
        album_name TEXT,
        track_id TEXT,               -- from the export's URI or found later by enrichment
        name_key TEXT NOT NULL,      -- normalised artist + title
        reason_start TEXT,
        reason_end TEXT,
        skipped INTEGER,
        shuffle INTEGER,
        file_sha TEXT NOT NULL REFERENCES imported_files(sha256)
    );
    CREATE INDEX plays_ts ON plays(source, ts);
    CREATE INDEX plays_track ON plays(track_id);
    CREATE INDEX plays_key ON plays(name_key);
    -- The extended history wins for the period it covers: account plays inside its range are not counted again.
    CREATE VIEW effective_plays AS
        SELECT * FROM plays
        WHERE source = 'extended'
           OR NOT EXISTS (SELECT 1 FROM plays e WHERE e.source = 'extended')
           OR ts < (SELECT min(ts) FROM plays WHERE source = 'extended')
           OR ts > (SELECT max(ts) FROM plays WHERE source = 'extended');

    CREATE TABLE tracks (
        track_id TEXT PRIMARY KEY,
        name TEXT,
        artist_names TEXT,           -- JSON list
        artist_ids TEXT,             -- JSON list
        album_name TEXT,
        duration_ms INTEGER,
        release_date TEXT,
        explicit INTEGER,
        isrc TEXT,
        is_playable INTEGER,
        meta_source TEXT,            -- export | search | spotify | reccobeats | catalog
        updated_at TEXT
    );
    -- name -> id look-ups, misses included, so a miss is never searched twice
    CREATE TABLE track_lookup (
        name_key TEXT PRIMARY KEY,
        track_id TEXT,
        how TEXT NOT NULL,           -- uri | export | search | miss
        looked_up_at TEXT NOT NULL
    );
    CREATE TABLE artists (
        artist_id TEXT PRIMARY KEY,
        name TEXT,
        genres TEXT,                 -- JSON list; NULL = not fetched yet; [] = no genres known
        genres_source TEXT,
        updated_at TEXT
    );
    CREATE TABLE audio_features (
        track_id TEXT NOT NULL,
        source TEXT NOT NULL,        -- reccobeats | spotify | csv:<name> | standin
        available INTEGER NOT NULL,  -- 0 = asked, not available from this source
        danceability REAL, energy REAL, key INTEGER, loudness REAL, mode INTEGER, speechiness REAL,
        acousticness REAL, instrumentalness REAL, liveness REAL, valence REAL, tempo REAL, time_signature INTEGER,
        fetched_at TEXT NOT NULL,
        PRIMARY KEY (track_id, source)
    );
    CREATE TABLE playlists (
        playlist_key TEXT PRIMARY KEY,   -- 'export:<n>:<name>' or 'spotify:<id>'
        spotify_id TEXT,
        name TEXT NOT NULL,
        origin TEXT NOT NULL,            -- export | spotify
        owner_id TEXT,
        snapshot_id TEXT,
        role TEXT,                       -- NULL for the user's own; candidates | like | dislike for the tool's
        updated_at TEXT
    );
    CREATE TABLE playlist_items (
        playlist_key TEXT NOT NULL REFERENCES playlists(playlist_key) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        item_type TEXT NOT NULL,         -- track | episode | audiobook | local | missing
        track_id TEXT,
        track_name TEXT,
        artist_name TEXT,
        album_name TEXT,
        name_key TEXT,
        added_at TEXT,
        PRIMARY KEY (playlist_key, position)
    );
    CREATE INDEX playlist_items_track ON playlist_items(track_id);
    CREATE TABLE saved_tracks (
        position INTEGER PRIMARY KEY,
        track_id TEXT,
        track_name TEXT,
        artist_name TEXT,
        album_name TEXT,
        name_key TEXT NOT NULL,
        origin TEXT NOT NULL             -- export | spotify
    );
    CREATE TABLE labels (
        track_id TEXT PRIMARY KEY,
        label INTEGER,                   -- 1 like, 0 dislike, NULL = conflict (in both playlists)
                                         -- (migration 5 adds source: data_1 | data_0 | heart | removed | conflict,
                                         -- and weight: 1, or less for a removal)
        first_seen TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT,                     -- ok | quota | unavailable | auth | error | dry-run
        summary TEXT                     -- JSON
    );
    CREATE TABLE candidates (
        track_id TEXT PRIMARY KEY,       -- the candidate pool, accumulated across runs
        name_key TEXT NOT NULL,
        source TEXT NOT NULL,            -- search | genre | artist | liked_genre | reccobeats (+ reason, migration 5)
        query TEXT,
        added_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pool'  -- pool | pushed | excluded
    );
    CREATE TABLE pushes (
        track_id TEXT PRIMARY KEY,       -- a track is pushed at most once, ever
        run_id INTEGER NOT NULL REFERENCES runs(run_id),
        batch INTEGER NOT NULL,
        slice TEXT NOT NULL,             -- exploit | explore | control
        rank INTEGER NOT NULL,
        score REAL,
        choice_prob REAL,
        scores TEXT,                     -- JSON: every model output and transformed feature at push time
        reason TEXT,
        pushed_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',  -- pending | labelled | expired | removed
        resolved_at TEXT
    );
    CREATE TABLE api_usage (
        day TEXT NOT NULL,               -- UTC date
        endpoint_group TEXT NOT NULL,
        status INTEGER NOT NULL,
        calls INTEGER NOT NULL,
        PRIMARY KEY (day, endpoint_group, status)
    );
    CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT
    );
    """,
    # 2: enrichment's "asked, not available" record for look-ups whose answer has no other home
    # (a ReccoBeats /track miss, a Spotify /tracks/{id} 404), so a resumed run never asks twice
    """
    CREATE TABLE enrich_misses (
        item_id TEXT NOT NULL,
        what TEXT NOT NULL,              -- reccobeats_track | spotify_track | musicbrainz_artist
        asked_at TEXT NOT NULL,
        PRIMARY KEY (item_id, what)
    );
    """,
    # 3: plays are looked up by name only while they have no id (every such query says `track_id IS NULL`), so the
    # name index keeps just those rows: an extended history, where every play has a URI, no longer pays for it
    """
    DROP INDEX IF EXISTS plays_key;
    CREATE INDEX plays_key ON plays(name_key) WHERE track_id IS NULL;
    """,
    # 4: a play names the file it came from by the file's integer id, not its 64-character sha256 under a foreign
    # key: the same provenance, a fifth less to write, and no key check per row (together a third of a 500k-play
    # import's database time). Nothing is lost: plays whose file is unknown keep file_id 0.
    """
    CREATE TABLE imported_files_v4 (
        file_id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,          -- path inside the export (never a copy of the file)
        size INTEGER NOT NULL,
        kind TEXT NOT NULL,          -- account_music | account_mixed | extended | playlists | library
        rows INTEGER NOT NULL,
        imported_at TEXT NOT NULL
    );
    INSERT INTO imported_files_v4(sha256, path, size, kind, rows, imported_at)
        SELECT sha256, path, size, kind, rows, imported_at FROM imported_files ORDER BY rowid;
    CREATE TABLE plays_v4 (
        play_id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,        -- 'account' | 'extended'
        ts TEXT NOT NULL,            -- ISO UTC 'YYYY-MM-DDTHH:MM:SSZ', when the stream ended
        ms_played INTEGER,
        track_name TEXT,
        artist_name TEXT,
        album_name TEXT,
        track_id TEXT,               -- from the export's URI or found later by enrichment
        name_key TEXT NOT NULL,      -- normalised artist + title
        reason_start TEXT,
        reason_end TEXT,
        skipped INTEGER,
        shuffle INTEGER,
        file_id INTEGER NOT NULL     -- imported_files.file_id (kept by the importer, not by a per-row foreign key)
    );
    INSERT INTO plays_v4(play_id, source, ts, ms_played, track_name, artist_name, album_name, track_id, name_key,
                         reason_start, reason_end, skipped, shuffle, file_id)
        SELECT p.play_id, p.source, p.ts, p.ms_played, p.track_name, p.artist_name, p.album_name, p.track_id,
               p.name_key, p.reason_start, p.reason_end, p.skipped, p.shuffle, coalesce(f.file_id, 0)
        FROM plays p LEFT JOIN imported_files_v4 f ON f.sha256 = p.file_sha;
    DROP VIEW effective_plays;
    DROP TABLE plays;
    DROP TABLE imported_files;
    ALTER TABLE imported_files_v4 RENAME TO imported_files;
    ALTER TABLE plays_v4 RENAME TO plays;
    CREATE INDEX plays_ts ON plays(source, ts);
    CREATE INDEX plays_track ON plays(track_id);
    CREATE INDEX plays_key ON plays(name_key) WHERE track_id IS NULL;
    CREATE VIEW effective_plays AS
        SELECT * FROM plays
        WHERE source = 'extended'
           OR NOT EXISTS (SELECT 1 FROM plays e WHERE e.source = 'extended')
           OR ts < (SELECT min(ts) FROM plays WHERE source = 'extended')
           OR ts > (SELECT max(ts) FROM plays WHERE source = 'extended');
    """,
    # 5: every label keeps where it came from (a drag into data_1 / data_0, a heart, a removal from
    # data_candidates) and how much it weighs (a removal is a weaker dislike); every pool track why it came
    """
    ALTER TABLE labels ADD COLUMN source TEXT NOT NULL DEFAULT 'data_1';
    UPDATE labels SET source = CASE label WHEN 1 THEN 'data_1' WHEN 0 THEN 'data_0' ELSE 'conflict' END;
    ALTER TABLE labels ADD COLUMN weight REAL NOT NULL DEFAULT 1.0;
    ALTER TABLE candidates ADD COLUMN reason TEXT;
    """,
    # 6: what a search or a keyless service answered, by what was asked, so a resumed run (or the next export)
    # never asks it again: a search's results, shared by every name that maps to its query (names that differ only
    # in case, punctuation or a version suffix: core.matching.query_key), and a Deezer track's facts by its id
    """
    CREATE TABLE api_answers (
        service TEXT NOT NULL,           -- deezer_search | deezer_track | spotify_search
        item TEXT NOT NULL,              -- what was asked: a query key, a Deezer track id
        answer TEXT,                     -- JSON of the parsed answer ([] a search that found nothing);
                                         -- NULL: the service has no such item (Deezer "no data")
        asked_at TEXT NOT NULL,
        PRIMARY KEY (service, item)
    );
    """,
    # 7: what the Web API says about you before any export arrives: the tracks of your Liked Songs, your top tracks
    # of each time range, your recently played and your own playlists' items, one row per (track, signal); these
    # are the first positives of the playlist and affinity models, never plays (the export's plays count alone)
    """
    CREATE TABLE api_tracks (
        track_id TEXT NOT NULL,
        signal TEXT NOT NULL,            -- saved | top_short | top_medium | top_long | recent | playlist
        rank INTEGER NOT NULL,           -- its place in that list (0 first)
        name_key TEXT NOT NULL,
        fetched_at TEXT NOT NULL,
        PRIMARY KEY (track_id, signal)
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """A connection to the user's database with transactions, migrations and small typed helpers."""

    #: seconds to wait for another spotify-model run's write to finish before giving up (exit 69)
    busy_timeout: float = 30.0

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _private(self.path)
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        self.conn.row_factory = sqlite3.Row
        self._depth = 0
        try:
            self.conn.execute("PRAGMA page_size = 8192")   # takes effect only when the file is created
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.migrate()
        except sqlite3.DatabaseError as err:
            self.conn.close()
            if _is_busy(err):
                raise self._busy() from None
            from spotify_modeling.errors import BadInput

            raise BadInput(f"{self.path} is not a readable spotify-model database ({err}).",
                           "Restore it from a backup, or move it away and run `spotify-model features` again.") from None

    @classmethod
    def open(cls, home) -> "Store":
        return cls(home.db_path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        current = self.version
        if current > SCHEMA_VERSION:
            from spotify_modeling.errors import BadInput

            raise BadInput(
                f"The database {self.path} was written by a newer spotify-model (schema {current}).",
                "Upgrade spotify-model.",
            )
        for version in range(current, SCHEMA_VERSION):
            with self.transaction():
                if self.version > version:   # another run upgraded the store while this one waited for the lock
                    continue
                for statement in _split_sql(MIGRATIONS[version]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {version + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic step; nested uses join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            if _is_busy(err):
                raise self._busy() from None
            raise
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    def _busy(self):
        from spotify_modeling.errors import ServiceUnavailable

        return ServiceUnavailable(f"The store {self.path} is in use by another spotify-model run (still locked after "
                                  f"{self.busy_timeout:g} s).", "Let that run finish, then run this one again.")

    # -- small helpers shared by several layers -------------------------------------------------

    def scalar(self, sql: str, params: tuple = ()):
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def table_counts(self) -> dict[str, int]:
        names = [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: self.scalar(f"SELECT count(*) FROM {n}") for n in names}

    def get_kv(self, key: str, default=None):
        value = self.scalar("SELECT value FROM kv WHERE key = ?", (key,))
        return default if value is None else json.loads(value)

    def set_kv(self, key: str, value) -> None:
        self.conn.execute(
            "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def record_call(self, group: str, status: int, day: str | None = None) -> None:
        """Count one Spotify call per endpoint group, day and status (the client calls this for every request)."""
        day = day or datetime.now(timezone.utc).strftime("%Y-%m-%d")
        self.conn.execute(
            "INSERT INTO api_usage(day, endpoint_group, status, calls) VALUES (?, ?, ?, 1) "
            "ON CONFLICT(day, endpoint_group, status) DO UPDATE SET calls = calls + 1",
            (day, group, int(status)),
        )

    def usage_today(self, day: str | None = None) -> dict[str, int]:
        """Calls per endpoint group on a UTC day (default today): the one reader of `api_usage`."""
        day = day or datetime.now(timezone.utc).strftime("%Y-%m-%d")
        return {g: n for g, n in self.conn.execute(
            "SELECT endpoint_group, sum(calls) FROM api_usage WHERE day = ? GROUP BY endpoint_group", (day,))}

    def usage_all_days(self) -> dict[str, int]:
        """Calls per endpoint group over every day recorded."""
        return {g: n for g, n in self.conn.execute(
            "SELECT endpoint_group, sum(calls) FROM api_usage GROUP BY endpoint_group")}

    def calls_today(self, group: str | None = None, day: str | None = None) -> int:
        usage = self.usage_today(day)
        return sum(usage.values()) if group is None else usage.get(group, 0)


def _private(path: Path) -> None:
    """The store holds your listening history: readable by you alone (0600), and so are its -wal and -shm.

    A new store file is created 0600 before SQLite opens it (SQLite gives the -wal and -shm files the mode of the
    database file); a store made by an older version with the default 0644 is tightened on open.
    """
    import os

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return   # not writable or not a file: sqlite3 says what is wrong (a read-only home is refused before)
    os.close(fd)
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except OSError:   # absent (no -wal yet), or not ours to change
            continue


def _is_busy(err: sqlite3.DatabaseError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the write lock (not a damaged file)."""
    return "locked" in str(err) or "busy" in str(err)


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (sqlite3's executescript would commit our transaction)."""
    statements, buf = [], []
    for line in script.splitlines():
        code = line.split("--", 1)[0]
        buf.append(code)
        if code.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip()
            if stmt.strip(";").strip():
                statements.append(stmt)
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        statements.append(rest)
    return statements
