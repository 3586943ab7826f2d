"""Read-only queries behind `spotify-model status` and `spotify-model report`.

Every function here only reads: it never writes, never loads a model and never touches the network, so `status` is
safe to run while a weekly run is under way (the store is in WAL mode: readers do not wait for a writer). Values come
back as plain Python (dicts, lists, numbers, ISO strings); interpreting them (hit rates, trends, genre families) is
the caller's job.
"""

from __future__ import annotations

import json
from typing import Any

from spotify_modeling.db.store import Store

# the tracks of your own history, as `enrich._history_tracks` defines them: played, playlisted, saved or labelled,
# each with its number of (effective) plays
_HISTORY = (
    "SELECT track_id, sum(n) AS n FROM ("
    "  SELECT track_id, count(*) AS n FROM effective_plays WHERE track_id IS NOT NULL GROUP BY track_id"
    "  UNION ALL SELECT track_id, 0 FROM playlist_items WHERE track_id IS NOT NULL"
    "  UNION ALL SELECT track_id, 0 FROM saved_tracks WHERE track_id IS NOT NULL"
    "  UNION ALL SELECT track_id, 0 FROM labels"
    ") GROUP BY track_id")

# track ids whose artists (any of them) have a non-empty genre list; malformed JSON counts as unknown
_WITH_GENRES = (
    "SELECT DISTINCT t.track_id FROM tracks t, "
    "  json_each(CASE WHEN json_valid(t.artist_ids) THEN t.artist_ids ELSE '[]' END) j "
    "  JOIN artists a ON a.artist_id = j.value "
    "WHERE a.genres IS NOT NULL AND json_valid(a.genres) AND json_type(a.genres) = 'array' "
    "  AND json_array_length(a.genres) > 0")


def _json(value: str | None, default: Any = None) -> Any:
    if value is None:
        return default
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return default


def features_source(store: Store) -> str:
    """The audio-features source the last `features` run used (history and pool are described by it)."""
    return store.get_kv("enrich.features_source") or "reccobeats"


def export_summary(store: Store) -> dict:
    """What was imported: files per kind, plays (raw and counted), the date range of the counted plays."""
    kinds = {}
    last = None
    for kind, files, rows, imported in store.conn.execute(
            "SELECT kind, count(*), coalesce(sum(rows), 0), max(imported_at) FROM imported_files GROUP BY kind "
            "ORDER BY kind"):
        kinds[kind] = {"files": files, "rows": rows}
        last = max(last or imported, imported)
    by_source = dict(store.conn.execute("SELECT source, count(*) FROM plays GROUP BY source ORDER BY source"))
    counted, first, latest = store.conn.execute(
        "SELECT count(*), min(ts), max(ts) FROM effective_plays").fetchone()
    web_api = store.scalar("SELECT count(DISTINCT track_id) FROM api_tracks") or 0
    return {"files": sum(k["files"] for k in kinds.values()), "files_by_kind": kinds,
            "plays": counted, "plays_stored": sum(by_source.values()), "plays_by_source": by_source,
            "first_play": first, "last_play": latest, "last_imported_at": last, "web_api_tracks": web_api}


def coverage(store: Store) -> dict:
    """How much of your history is described, as `features` prints it: tracks, and their share of your plays.

    The history is read once (its GROUP BY over every play is the one costly query: ~0.8 s for 500k plays) and
    everything else is counted from it in Python.
    """
    source = features_source(store)
    plays = store.scalar("SELECT count(*) FROM effective_plays") or 0
    plays_with_id = store.scalar("SELECT count(*) FROM effective_plays WHERE track_id IS NOT NULL") or 0
    history = dict(store.conn.execute(_HISTORY).fetchall())
    facts = {tid: (known, meta) for tid, known, meta in store.conn.execute(
        "SELECT track_id, duration_ms IS NOT NULL, meta_source FROM tracks")}
    features: dict[str, set[str]] = {}
    for tid, src in store.conn.execute("SELECT track_id, source FROM audio_features WHERE available = 1"):
        if tid in history:
            features.setdefault(tid, set()).add(src)
    with_genres = {tid for (tid,) in store.conn.execute(_WITH_GENRES) if tid in history}

    def part(ids) -> dict:
        n_plays = sum(history[t] for t in ids)
        return {"tracks": len(ids), "plays": n_plays, "share_of_plays": (n_plays / plays) if plays else None}

    features_by_source: dict[str, int] = {}
    for srcs in features.values():
        for src in srcs:
            features_by_source[src] = features_by_source.get(src, 0) + 1
    meta_by_source: dict[str, int] = {}
    for tid in history:
        if tid in facts:
            key = facts[tid][1] or "unknown"
            meta_by_source[key] = meta_by_source.get(key, 0) + 1
    genres_by_source = {src or "unknown": {"artists": n, "with_genres": k} for src, n, k in store.conn.execute(
        "SELECT genres_source, count(*), sum(json_valid(genres) AND json_type(genres) = 'array' "
        "  AND json_array_length(genres) > 0) "
        "FROM artists WHERE genres IS NOT NULL GROUP BY genres_source ORDER BY genres_source")}
    return {
        "plays": plays,
        "tracks": len(history),
        "with_id": {"tracks": len(history), "plays": plays_with_id,
                    "share_of_plays": (plays_with_id / plays) if plays else None},
        "with_duration": part([t for t in history if facts.get(t, (0,))[0]]),
        "with_features": part([t for t, srcs in features.items() if source in srcs]),
        "with_genres": part(with_genres),
        "names_unresolved": store.scalar(
            "SELECT count(DISTINCT name_key) FROM effective_plays WHERE track_id IS NULL AND name_key NOT IN "
            "(SELECT name_key FROM track_lookup)") or 0,
        "names_missed": store.scalar("SELECT count(*) FROM track_lookup WHERE how = 'miss'") or 0,
        "features_source": source,
        "genres_source": store.get_kv("enrich.genres_source"),
        "features_by_source": dict(sorted(features_by_source.items())),
        "genres_by_source": genres_by_source,
        "metadata_by_source": dict(sorted(meta_by_source.items())),
    }


def label_counts(store: Store) -> dict:
    """Labels as last read (likes, dislikes, tracks in both) and pushed candidates by status."""
    likes, dislikes, conflicts = store.conn.execute(
        "SELECT coalesce(sum(label = 1), 0), coalesce(sum(label = 0), 0), coalesce(sum(label IS NULL), 0) "
        "FROM labels").fetchone()
    by_status = dict(store.conn.execute("SELECT status, count(*) FROM pushes GROUP BY status"))
    from spotify_modeling.db.pushes_and_labels import label_kind_counts

    return {"likes": likes, "dislikes": dislikes, "conflicts": conflicts,
            "pushed": sum(by_status.values()), "pending": by_status.get("pending", 0),
            "labelled": by_status.get("labelled", 0), "expired": by_status.get("expired", 0),
            "removed": by_status.get("removed", 0), "by_kind": label_kind_counts(store)}


def pushes(store: Store) -> list[dict]:
    """Every pushed candidate with its batch, slice, score, status and current label (None while unlabelled)."""
    rows = store.conn.execute(
        "SELECT p.track_id, p.run_id, p.batch, p.slice, p.rank, p.score, p.status, p.pushed_at, p.resolved_at, "
        "  p.reason, l.label, l.source AS label_source, l.weight, l.first_seen AS labelled_at, t.name, "
        "  t.artist_names, coalesce(c.source, 'search') AS source "
        "FROM pushes p LEFT JOIN labels l ON l.track_id = p.track_id LEFT JOIN tracks t ON t.track_id = p.track_id "
        "LEFT JOIN candidates c ON c.track_id = p.track_id "
        "ORDER BY p.batch, p.rank").fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["artist_names"] = _json(d["artist_names"], []) or []
        out.append(d)
    return out


def runs(store: Store, command: str = "candidates", limit: int | None = None) -> list[dict]:
    """Recorded runs of `command`, oldest first (the last `limit` only), each with its summary and pushes landed.

    A run killed before its batch landed (`interrupted`, see `loop.start_run`) is not a weekly run and is left out.
    """
    from spotify_modeling.db.pushes_and_labels import COUNTED_RUN

    rows = store.conn.execute(
        "SELECT r.run_id, r.command, r.started_at, r.finished_at, r.status, r.summary, "
        "  (SELECT count(*) FROM pushes p WHERE p.run_id = r.run_id) AS landed, "
        "  (SELECT min(batch) FROM pushes p WHERE p.run_id = r.run_id) AS batch "
        f"FROM runs r WHERE r.command = ? AND (r.status = 'running' OR {COUNTED_RUN}) ORDER BY r.run_id DESC" + (" LIMIT ?" if limit else ""),
        (command, limit) if limit else (command,)).fetchall()
    out = []
    for r in reversed(rows):
        d = dict(r)
        d["summary"] = _json(d["summary"], {}) or {}
        out.append(d)
    return out


def api_usage(store: Store, day: str | None = None) -> list[dict]:
    """Spotify (and ReccoBeats) calls per day, endpoint group and HTTP status; one day or all of them."""
    sql = "SELECT day, endpoint_group, status, calls FROM api_usage"
    rows = store.conn.execute(sql + (" WHERE day = ?" if day else "") + " ORDER BY day, endpoint_group, status",
                              (day,) if day else ()).fetchall()
    return [dict(r) for r in rows]


def pool_size(store: Store) -> int:
    """Candidate-pool tracks not pushed yet (before the weekly run re-checks exclusions)."""
    return store.scalar("SELECT count(*) FROM candidates WHERE status = 'pool'") or 0


def track_genres(store: Store, which: str) -> list[list[str] | None]:
    """The genres of each track in one group, merged over its artists (None when none of them has any).

    `which`: ``history`` (tracks you played), ``likes``, ``dislikes`` (labels) or ``candidates`` (tracks pushed).
    """
    ids_sql = {
        "history": "SELECT DISTINCT track_id FROM effective_plays WHERE track_id IS NOT NULL",
        "likes": "SELECT track_id FROM labels WHERE label = 1",
        "dislikes": "SELECT track_id FROM labels WHERE label = 0",
        "candidates": "SELECT track_id FROM pushes",
    }[which]
    genres_of = {}
    for artist_id, genres in store.conn.execute(
            "SELECT artist_id, genres FROM artists WHERE genres IS NOT NULL AND genres <> '[]'"):
        value = _json(genres, [])
        if isinstance(value, list) and value:
            genres_of[artist_id] = [str(g) for g in value]
    out: list[list[str] | None] = []
    for (artist_ids,) in store.conn.execute(
            f"SELECT t.artist_ids FROM ({ids_sql}) s LEFT JOIN tracks t ON t.track_id = s.track_id"):
        ids = _json(artist_ids, []) or []
        merged = list(dict.fromkeys(g for a in ids if isinstance(a, str) for g in genres_of.get(a, ())))
        out.append(merged or None)
    return out


__all__ = ["api_usage", "coverage", "export_summary", "features_source", "label_counts",
           "pool_size", "pushes", "runs", "track_genres"]
