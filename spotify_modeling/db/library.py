"""Your library: `playlists`, `playlist_items` and `saved_tracks`, from the export and from Spotify. The only writer.

Export rows are replaced by the newest export's; the tool's own three playlists are snapshots read from Spotify.
"""

from __future__ import annotations

from typing import Iterable

from spotify_modeling.db.store import Store, utc_now


# ------------------------------------------------------------------------------------------------ from the export
def replace_export_playlists(conn, playlists: Iterable[tuple[str, str | None, list[tuple]]], now: str) -> None:
    """The newest export's playlists replace the previous export's (Spotify playlists are kept).

    Each playlist: (key, name, role) and its items (item_type, track_id, track_name, artist_name, album_name,
    name_key, added_at) in order.
    """
    conn.execute("DELETE FROM playlists WHERE origin = 'export'")
    for (key, name, role), items in playlists:
        conn.execute("INSERT INTO playlists(playlist_key, name, origin, role, updated_at) VALUES (?, ?, 'export', ?, ?)",
                     (key, name, role, now))
        conn.executemany(
            "INSERT INTO playlist_items(playlist_key, position, item_type, track_id, track_name, artist_name, "
            "album_name, name_key, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(key, i, *item) for i, item in enumerate(items)])


def replace_api_part(conn, signal: str, rows: list[tuple[str, str]], now: str, saved: list[tuple] | None = None,
                     playlists: list[tuple[tuple[str, str, str | None], list[tuple]]] | None = None) -> None:
    """One part of what the Web API says about you, replacing what it said last time (the export's rows are kept).

    `rows`: [(track id, name key), ...] of `signal` (saved, top_short, top_medium, top_long, recent, playlist) in
    the list's order; with `saved`, Liked Songs as saved-track rows (track_id, track_name, artist_name, album_name,
    name_key); with `playlists`, your own playlists, ((key, name, owner id), items) as in `replace_export_playlists`.
    """
    conn.execute("DELETE FROM api_tracks WHERE signal = ?", (signal,))
    conn.executemany("INSERT OR IGNORE INTO api_tracks(track_id, signal, rank, name_key, fetched_at) "
                     "VALUES (?, ?, ?, ?, ?)", [(t, signal, i, key, now) for i, (t, key) in enumerate(rows)])
    if saved is not None:
        conn.execute("DELETE FROM saved_tracks WHERE origin = 'spotify'")
        start = conn.execute("SELECT coalesce(max(position), -1) + 1 FROM saved_tracks").fetchone()[0]
        conn.executemany(
            "INSERT INTO saved_tracks(position, track_id, track_name, artist_name, album_name, name_key, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, 'spotify')", [(start + i, *s) for i, s in enumerate(saved)])
    if playlists is not None:
        conn.execute("DELETE FROM playlists WHERE origin = 'api'")
        for (key, name, owner), items in playlists:
            conn.execute("INSERT INTO playlists(playlist_key, name, origin, owner_id, updated_at) "
                         "VALUES (?, ?, 'api', ?, ?)", (key, name, owner, now))
            conn.executemany(
                "INSERT INTO playlist_items(playlist_key, position, item_type, track_id, track_name, artist_name, "
                "album_name, name_key, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(key, i, *item) for i, item in enumerate(items)])


def api_track_counts(store: Store) -> dict[str, int]:
    """Tracks the Web API gave, by signal (empty before any Web API import)."""
    return dict(store.conn.execute("SELECT signal, count(*) FROM api_tracks GROUP BY signal"))


def api_playlist_count(store: Store) -> int:
    return store.scalar("SELECT count(*) FROM playlists WHERE origin = 'api'") or 0


def api_tracks(store: Store) -> list[tuple[str, str, int]]:
    """(track id, signal, rank) of every track the Web API gave."""
    return [tuple(r) for r in store.conn.execute("SELECT track_id, signal, rank FROM api_tracks ORDER BY signal, rank")]


def replace_export_saved(conn, saved: list[tuple]) -> None:
    """The newest export's saved tracks: (track_id, track_name, artist_name, album_name, name_key) each."""
    conn.execute("DELETE FROM saved_tracks WHERE origin = 'export'")
    start = conn.execute("SELECT coalesce(max(position), -1) + 1 FROM saved_tracks").fetchone()[0]
    conn.executemany(
        "INSERT INTO saved_tracks(position, track_id, track_name, artist_name, album_name, name_key, origin) "
        "VALUES (?, ?, ?, ?, ?, ?, 'export')", [(start + i, *s) for i, s in enumerate(saved)])


def fill_ids_from_lookups(conn) -> None:
    """Playlist rows and saved tracks without an id take the one a look-up found for the same song."""
    for table in ("playlist_items", "saved_tracks"):
        conn.execute(
            f"UPDATE {table} SET track_id = (SELECT l.track_id FROM track_lookup l "
            f"WHERE l.name_key = {table}.name_key) WHERE track_id IS NULL AND name_key IN "
            "(SELECT name_key FROM track_lookup WHERE track_id IS NOT NULL)")


def set_id_for_name(conn, name_key: str, track_id: str) -> None:
    for table in ("playlist_items", "saved_tracks"):
        conn.execute(f"UPDATE {table} SET track_id = ? WHERE name_key = ? AND track_id IS NULL", (track_id, name_key))


def own_items(store: Store, playlists: list[str] | None = None) -> list[tuple[str | None, str | None]]:
    """(track id, name key) of the tracks in your own playlists (the export's and the Web API's, or those named) and
    saved tracks.

    The tool's own data_candidates / data_1 / data_0 never count: their contents are labels.
    """
    own = "p.origin IN ('export', 'api') AND p.role IS NULL" if playlists is None else \
        "p.role IS NULL AND p.name IN (" + ",".join("?" * len(playlists)) + ")"
    params = () if playlists is None else tuple(playlists)
    rows = [tuple(r) for r in store.conn.execute(
        f"SELECT i.track_id, i.name_key FROM playlist_items i JOIN playlists p USING (playlist_key) "
        f"WHERE {own} AND i.item_type = 'track'", params)]
    rows += [tuple(r) for r in store.conn.execute("SELECT track_id, name_key FROM saved_tracks")]
    return rows


def export_counts(store: Store) -> dict[str, int]:
    return {
        "playlists": store.scalar("SELECT count(*) FROM playlists WHERE origin = 'export'"),
        "playlist_items": store.scalar(
            "SELECT count(*) FROM playlist_items i JOIN playlists p USING (playlist_key) WHERE p.origin = 'export'"),
        "playlist_tracks": store.scalar(
            "SELECT count(*) FROM playlist_items i JOIN playlists p USING (playlist_key) "
            "WHERE p.origin = 'export' AND i.item_type = 'track'"),
        "saved_tracks": store.scalar("SELECT count(*) FROM saved_tracks"),
    }


# ------------------------------------------------------------------------------------------------ the tool's playlists
def tool_playlists_used(store: Store) -> dict[tuple[str, str], int]:
    """{(role, Spotify id): rank} of the tool playlists used before, the most recently used ranking highest."""
    return {(role, sid): rank for rank, (role, sid) in enumerate(store.conn.execute(
        "SELECT role, spotify_id FROM playlists WHERE origin = 'spotify' AND role IS NOT NULL ORDER BY updated_at"), 1)}


def snapshot_of(store: Store, spotify_id: str) -> tuple[str | None, list[str]] | None:
    """(snapshot id, track ids in order) of a Spotify playlist as last read; None if never read."""
    key = f"spotify:{spotify_id}"
    row = store.conn.execute("SELECT snapshot_id FROM playlists WHERE playlist_key = ?", (key,)).fetchone()
    if row is None:
        return None
    ids = [r[0] for r in store.conn.execute(
        "SELECT track_id FROM playlist_items WHERE playlist_key = ? AND item_type = 'track' ORDER BY position", (key,))]
    return row[0], ids


def save_snapshot(store: Store, spotify_id: str, name: str, snapshot_id: str | None, role: str | None,
                  rows: list[tuple]) -> None:
    """A Spotify playlist as just read: rows of (item_type, track_id, track_name, artist_name, album_name, added_at)."""
    key = f"spotify:{spotify_id}"
    with store.transaction() as conn:
        conn.execute("DELETE FROM playlist_items WHERE playlist_key = ?", (key,))
        conn.execute(
            "INSERT INTO playlists(playlist_key, spotify_id, name, origin, snapshot_id, role, updated_at) "
            "VALUES (?, ?, ?, 'spotify', ?, ?, ?) ON CONFLICT(playlist_key) DO UPDATE SET "
            "snapshot_id = excluded.snapshot_id, name = excluded.name, role = excluded.role, "
            "updated_at = excluded.updated_at",
            (key, spotify_id, name, snapshot_id, role, utc_now()))
        conn.executemany(
            "INSERT INTO playlist_items(playlist_key, position, item_type, track_id, track_name, artist_name, "
            "album_name, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(key, pos, *r) for pos, r in enumerate(rows)])


def forget_snapshot(store: Store, spotify_id: str) -> None:
    """Our copy of a playlist is stale (we just changed it): the next read asks Spotify again."""
    with store.transaction() as conn:
        conn.execute("UPDATE playlists SET snapshot_id = NULL WHERE spotify_id = ?", (spotify_id,))


__all__ = ["replace_export_playlists", "replace_export_saved", "fill_ids_from_lookups", "set_id_for_name",
           "own_items", "export_counts", "tool_playlists_used", "snapshot_of", "save_snapshot", "forget_snapshot"]
