"""The track table every model reads: one row per track, in canonical columns, from the store's track facts.

`describe_tracks` joins a track's facts, one source's audio features and its artists' genres; `track_table` adds what
the user's own listening says about it. `artist_plays` is log1p of how often the user played the track's primary
artist, not counting this track's own plays (leave-one-out), so history tracks and candidates are described alike:
a candidate by an artist you play a lot is a different proposition from one by a stranger, and the models may learn
how much that matters to you.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from spotify_modeling.db import history
from spotify_modeling.db.store import Store
from spotify_modeling.db.tracks import FEATURE_COLUMNS, json_list, with_temp_ids

TRACK_COLUMNS = ("track_id", "track_name", "artist_names", "artist_ids", "duration_ms", "release_date", "explicit",
                 *FEATURE_COLUMNS, "genres")
#: kv keys: the sources the last `features` run used, so candidates are described like the history
KV_FEATURES_SOURCE = "enrich.features_source"
KV_GENRES_SOURCE = "enrich.genres_source"
KV_FEATURES_CSV = "enrich.features_csv"  # absolute path of the CSV when the features source is a local table

__all__ = ["TRACK_COLUMNS", "KV_FEATURES_SOURCE", "KV_GENRES_SOURCE", "KV_FEATURES_CSV", "describe_tracks",
           "track_table", "coverage", "has_features", "artist_play_counts"]


def _preferred_source(store: Store, features_source: str | None) -> str:
    return features_source or store.get_kv(KV_FEATURES_SOURCE) or "reccobeats"


def describe_tracks(store: Store, track_ids: Sequence[str] | None = None, *, features_source: str | None = None,
                    genres_source: str | None = None) -> pd.DataFrame:
    """One row per track in the canonical columns every model reads (lists as Python lists, missing as NaN/None).

    Features come from one source (default: the one the last `features` run used) so history and candidates are
    described alike; `genres` is None when no artist of the track has a non-empty genre list (from `genres_source`
    only, when given: a user keeping Spotify content out of their models asks for "musicbrainz").
    """
    source = _preferred_source(store, features_source)
    if track_ids is None:
        ids = [t for t, _ in history.history_tracks(store)]
    else:
        ids = list(dict.fromkeys(track_ids))
    table = with_temp_ids(store, ids)
    feat_cols = ", ".join(f"f.{c}" for c in FEATURE_COLUMNS)
    df = pd.read_sql_query(
        f"SELECT w.track_id, t.name AS track_name, t.artist_names, t.artist_ids, t.duration_ms, t.release_date, "
        f"t.explicit, {feat_cols}, CASE WHEN f.track_id IS NULL THEN NULL ELSE f.source END AS source "
        f"FROM {table} w LEFT JOIN tracks t ON t.track_id = w.track_id "
        f"LEFT JOIN audio_features f ON f.track_id = w.track_id AND f.source = ? AND f.available = 1 "
        f"ORDER BY w.pos", store.conn, params=(source,))
    df["artist_names"] = [(json_list(v) or []) for v in df["artist_names"]]
    df["artist_ids"] = [(json_list(v) or []) for v in df["artist_ids"]]
    where, params = ("", ()) if genres_source is None else (" AND genres_source = ?", (genres_source,))
    genres_of = {a: json_list(g) or [] for a, g in store.conn.execute(
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
    plays = history.effective_play_count(store)
    counts = history.plays_per_track(store)
    table = describe_tracks(store, track_ids, features_source=features_source, genres_source=genres_source)
    n = table["track_id"].map(lambda t: counts.get(t, 0))

    def part(mask) -> dict[str, Any]:
        p = int(n[mask].sum())
        return {"tracks": int(mask.sum()), "plays": p, "share_of_plays": (p / plays) if plays else None}

    plays_with_id = sum(counts.values())
    unresolved, missed = history.name_counts(store)
    out = {
        "plays": plays,
        "tracks": int(len(table)),
        "with_id": {"tracks": int(len(table)), "plays": plays_with_id,
                    "share_of_plays": (plays_with_id / plays) if plays else None},
        "with_duration": part(table["duration_ms"].notna()),
        "with_features": part(table["source"].notna()),
        "with_genres": part(table["genres"].notna()),
        "names_unresolved": unresolved,
        "names_missed": missed,
        "features_source": _preferred_source(store, features_source),
        "genres_source": genres_source,
    }
    return out


def artist_play_counts(store: Store) -> tuple[dict[str, int], dict[str, int]]:
    """(plays per primary artist id, plays per track id) over the effective plays."""
    per_artist: dict[str, int] = {}
    per_track: dict[str, int] = {}
    for tid, n, ids in history.plays_and_artists_per_track(store):
        per_track[tid] = n
        first = (json_list(ids) or [None])[0] if ids else None
        if first:
            per_artist[first] = per_artist.get(first, 0) + n
    return per_artist, per_track


def track_table(store: Store, track_ids=None, **kwargs) -> pd.DataFrame:
    """`describe_tracks` plus `artist_plays` (see the module docstring)."""
    df = describe_tracks(store, track_ids, **kwargs)
    per_artist, per_track = artist_play_counts(store)
    primary = [ids[0] if isinstance(ids, list) and ids else None for ids in df["artist_ids"]]
    own = df["track_id"].map(per_track).fillna(0).to_numpy(dtype=float)
    total = np.array([per_artist.get(a, 0) if a else np.nan for a in primary], dtype=float)
    df["artist_plays"] = np.log1p(np.clip(total - own, 0, None))
    return df


def has_features(df: pd.DataFrame) -> pd.Series:
    return df["danceability"].notna()
