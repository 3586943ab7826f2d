"""The weekly loop's records: `candidates` (the pool), `pushes`, `labels` and `runs`. The only writer of them.

A track is pushed at most once, ever (`pushes.track_id` is the key); a label is the track's latest place in
data_1 / data_0; a push is `pending` until labelled, `expired` after weeks unlabelled, `removed` when it left
data_candidates by hand.
"""

from __future__ import annotations

import json
from typing import Iterable

import pandas as pd

from spotify_modeling.db.store import Store, utc_now


# ------------------------------------------------------------------------------------------------ runs
#: a run that counts as a weekly run: it finished (any way but killed), or it was killed after its batch landed
COUNTED_RUN = ("(r.status NOT IN ('running', 'interrupted') "
               "OR EXISTS (SELECT 1 FROM pushes p WHERE p.run_id = r.run_id))")


def start_run(store: Store, command: str) -> int:
    """Record a new run; a run still `running` from before was killed (SIGKILL, power loss) and is marked so.

    Called under the home's lock (`Home.lock`), so no other process can be running one: whatever is still
    `running` then is a leftover whose process died without finishing it.
    """
    with store.transaction() as conn:
        conn.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
        return conn.execute("INSERT INTO runs(command, started_at, status) VALUES (?, ?, 'running')",
                            (command, utc_now())).lastrowid


def finish_run(store: Store, run_id: int, status: str, summary_json: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE run_id = ?",
                     (utc_now(), status, summary_json, run_id))


def run_summaries(store: Store, command: str) -> list[dict]:
    """The JSON summary of every finished run of `command`, oldest first."""
    return [json.loads(s) for (s,) in store.conn.execute(
        "SELECT summary FROM runs WHERE command = ? ORDER BY run_id", (command,)) if s]


def weekly_run_number(store: Store, run_id: int, command: str = "candidates") -> int:
    """The number of `command` runs up to this one that count (`COUNTED_RUN`): "Weekly run N" after N-1 runs."""
    return store.scalar(f"SELECT count(*) FROM runs r WHERE r.command = ? AND r.run_id <= ? AND "
                        f"({COUNTED_RUN} OR r.run_id = ?)", (command, run_id, run_id)) or 0


# ------------------------------------------------------------------------------------------------ the pool
def add_candidates(conn, rows: Iterable[tuple]) -> None:
    """Pool tracks: (track_id, name_key, source, query[, reason]); a track already in the pool stays as it was.

    `source` is where it came from (search | genre | artist | liked_genre | reccobeats), `reason` why, in words
    ("because you liked Artist - Title", "one of your genres: indie rock").
    """
    now = utc_now()
    conn.executemany("INSERT OR IGNORE INTO candidates(track_id, name_key, source, query, reason, added_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     [(*r[:4], r[4] if len(r) > 4 else None, now) for r in rows])


def set_candidate_status(conn, track_ids: Iterable[str], status: str) -> None:
    conn.executemany("UPDATE candidates SET status = ? WHERE track_id = ?", [(status, t) for t in track_ids])


def pool_rows(store: Store) -> list[tuple[str, str]]:
    """(track id, name key) of the pool tracks not pushed."""
    return [tuple(r) for r in store.conn.execute("SELECT track_id, name_key FROM candidates WHERE status = 'pool'")]


def random_sample_ids(store: Store) -> list[str]:
    """Pool tracks from random searches (not genre searches, not recommendations), in the order they came."""
    return [r[0] for r in store.conn.execute("SELECT track_id FROM candidates WHERE source = 'search' ORDER BY rowid")]


def candidate_ids_and_keys(store: Store) -> tuple[set[str], set[str]]:
    ids, keys = set(), set()
    for tid, key in store.conn.execute("SELECT track_id, name_key FROM candidates"):
        ids.add(tid)
        keys.add(key)
    return ids, keys


def known_name_keys(store: Store) -> set[str]:
    """Songs the user already knows or was already offered, by normalised artist + title."""
    return {r[0] for r in store.conn.execute(
        "SELECT name_key FROM plays UNION SELECT name_key FROM saved_tracks UNION SELECT name_key FROM api_tracks "
        "UNION SELECT name_key FROM playlist_items WHERE name_key IS NOT NULL "
        "UNION SELECT c.name_key FROM candidates c JOIN pushes p USING (track_id)")}


def excluded_track_ids(store: Store) -> set[str]:
    """Tracks never to offer: in the history, saved, in any playlist, labelled, or pushed before."""
    return {r[0] for r in store.conn.execute(
        "SELECT track_id FROM plays WHERE track_id IS NOT NULL "
        "UNION SELECT track_id FROM saved_tracks WHERE track_id IS NOT NULL "
        "UNION SELECT track_id FROM api_tracks "
        "UNION SELECT track_id FROM playlist_items WHERE track_id IS NOT NULL "
        "UNION SELECT track_id FROM labels UNION SELECT track_id FROM pushes")}


# ------------------------------------------------------------------------------------------------ pushes
def record_pushes(conn, rows: Iterable[tuple]) -> None:
    """(track_id, run_id, batch, slice, rank, score, choice_prob, scores JSON, reason) per pushed track."""
    now = utc_now()
    conn.executemany(
        "INSERT INTO pushes(track_id, run_id, batch, slice, rank, score, choice_prob, scores, reason, pushed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [(*r, now) for r in rows])


def forget_pushes(conn, track_ids: Iterable[str], run_id: int) -> None:
    """Records of a run's pushes that never reached data_candidates."""
    conn.executemany("DELETE FROM pushes WHERE track_id = ? AND run_id = ?", [(t, run_id) for t in track_ids])


def push_ids_of_run(store: Store, run_id: int) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT track_id FROM pushes WHERE run_id = ?", (run_id,))]


def last_batch(store: Store) -> int:
    return store.scalar("SELECT max(batch) FROM pushes") or 0


def pending_count(store: Store) -> int:
    return store.scalar("SELECT count(*) FROM pushes WHERE status = 'pending'")


def pending_ids(store: Store, pushed_before: str | None = None) -> set[str]:
    """Pending pushes (only those pushed before an ISO time, when given)."""
    if pushed_before is None:
        return {r[0] for r in store.conn.execute("SELECT track_id FROM pushes WHERE status = 'pending'")}
    return {r[0] for r in store.conn.execute(
        "SELECT track_id FROM pushes WHERE status = 'pending' AND pushed_at < ?", (pushed_before,))}


def set_push_status(store: Store, track_ids: Iterable[str], status: str) -> None:
    """expired | removed, with the time it was decided."""
    with store.transaction() as conn:
        conn.executemany("UPDATE pushes SET status = ?, resolved_at = ? WHERE track_id = ?",
                         [(status, utc_now(), t) for t in track_ids])


def labelled_pushes(store: Store) -> pd.DataFrame:
    """One row per pushed track: batch, slice, label (NaN while pending/expired), its kind (`label_source`) and
    weight, the pool source the track came from (`source`), stored z-features."""
    return pd.read_sql_query(
        "SELECT p.track_id, p.batch, p.slice, p.scores, p.status, p.reason, l.label, l.source AS label_source, "
        "l.weight, coalesce(c.source, 'search') AS source FROM pushes p "
        "LEFT JOIN labels l ON l.track_id = p.track_id LEFT JOIN candidates c ON c.track_id = p.track_id "
        "ORDER BY p.batch, p.rank", store.conn)


# ------------------------------------------------------------------------------------------------ labels
def label_ids(store: Store, label: int | None = None) -> list[str]:
    """Labelled tracks (every label, or only likes / dislikes), conflicts included when no label is given."""
    if label is None:
        return [r[0] for r in store.conn.execute("SELECT track_id FROM labels")]
    return [r[0] for r in store.conn.execute("SELECT track_id FROM labels WHERE label = ?", (label,))]


#: where a label came from: the two playlists (and a track in both), or the one-tap ways (see `sync_labels`)
PLAYLIST_SOURCES = ("data_1", "data_0", "conflict")
LABEL_SOURCES = ("data_1", "data_0", "heart", "removed")


def labels_now(conn) -> dict[str, tuple[int | None, str]]:
    """{track id: (label, source)}."""
    return {r[0]: (r[1], r[2]) for r in conn.execute("SELECT track_id, label, source FROM labels")}


def apply_labels(conn, new: dict[str, tuple], changed: dict[str, tuple], gone: Iterable[str]) -> None:
    """New, changed and removed labels, each (label, source, weight): label 1 like, 0 dislike, None conflict;
    source as in `LABEL_SOURCES` (or "conflict"); pushes follow (labelled / pending)."""
    now = utc_now()
    conn.executemany("INSERT INTO labels(track_id, label, source, weight, first_seen, updated_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     [(t, lab, src, w, now, now) for t, (lab, src, w) in sorted(new.items())])
    conn.executemany("UPDATE labels SET label = ?, source = ?, weight = ?, updated_at = ? WHERE track_id = ?",
                     [(lab, src, w, now, t) for t, (lab, src, w) in changed.items()])
    conn.executemany("DELETE FROM labels WHERE track_id = ?", [(t,) for t in gone])
    conn.execute("UPDATE pushes SET status = 'labelled', resolved_at = coalesce(resolved_at, ?) "
                 "WHERE track_id IN (SELECT track_id FROM labels WHERE label IS NOT NULL)", (now,))
    conn.execute("UPDATE pushes SET status = 'pending', resolved_at = NULL WHERE status = 'labelled' "
                 "AND track_id NOT IN (SELECT track_id FROM labels WHERE label IS NOT NULL)")


def label_kind_counts(store: Store) -> dict[str, int]:
    """How many labels came each way: {"data_1", "data_0", "heart", "removed"} (a conflict is none of them)."""
    counts = dict(store.conn.execute("SELECT source, count(*) FROM labels WHERE label IS NOT NULL GROUP BY source"))
    return {k: int(counts.get(k, 0)) for k in LABEL_SOURCES}


def label_totals(store: Store) -> tuple[int, int]:
    """(likes, dislikes)."""
    return (store.scalar("SELECT count(*) FROM labels WHERE label = 1"),
            store.scalar("SELECT count(*) FROM labels WHERE label = 0"))


def labelled_tracks(store: Store) -> pd.DataFrame:
    """Every like and dislike: track_id, label, its source and weight, first_seen and the batch it was pushed in
    (NaN: not pushed)."""
    return pd.read_sql_query(
        "SELECT l.track_id, l.label, l.source, l.weight, l.first_seen, p.batch FROM labels l "
        "LEFT JOIN pushes p USING (track_id) "
        "WHERE l.label IS NOT NULL ORDER BY coalesce(p.batch, 0), p.rank, l.track_id", store.conn)


def latest_likes(store: Store, n: int) -> list[str]:
    return [r[0] for r in store.conn.execute(
        "SELECT track_id FROM labels WHERE label = 1 ORDER BY updated_at DESC, track_id LIMIT ?", (n,))]


def labelled_artists(store: Store) -> list[tuple[str, int, float, int | None]]:
    """(track id, label, weight, batch pushed in or None) of every like and dislike, newest label first: what the
    like-seeded sources and the dislike pruning read (joined with `tracks` by the caller's track table)."""
    return [tuple(r) for r in store.conn.execute(
        "SELECT l.track_id, l.label, l.weight, p.batch FROM labels l LEFT JOIN pushes p USING (track_id) "
        "WHERE l.label IS NOT NULL ORDER BY l.updated_at DESC, l.track_id")]


def candidate_sources(store: Store, track_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    """{track id: (source, reason)} of pool tracks."""
    ids = list(dict.fromkeys(track_ids))
    out: dict[str, tuple[str, str | None]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        out.update({r[0]: (r[1], r[2]) for r in store.conn.execute(
            f"SELECT track_id, source, reason FROM candidates WHERE track_id IN ({','.join('?' * len(chunk))})",
            chunk)})
    return out


__all__ = ["COUNTED_RUN", "start_run", "finish_run", "run_summaries", "weekly_run_number", "add_candidates", "set_candidate_status", "pool_rows", "random_sample_ids",
           "candidate_ids_and_keys", "known_name_keys", "excluded_track_ids", "record_pushes", "forget_pushes",
           "push_ids_of_run", "last_batch", "pending_count", "pending_ids", "set_push_status", "labelled_pushes",
           "label_ids", "labels_now", "apply_labels", "label_totals", "labelled_tracks", "latest_likes",
           "label_kind_counts", "labelled_artists", "candidate_sources", "PLAYLIST_SOURCES", "LABEL_SOURCES"]
