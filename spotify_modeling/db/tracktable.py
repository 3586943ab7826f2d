"""The track table every model reads: `enrich.track_table` plus what the user's own listening says about a track.

`artist_plays` is log1p of how often the user played the track's primary artist, not counting this track's own
plays (leave-one-out), so history tracks and candidates are described alike: a candidate by an artist you play a lot
is a different proposition from one by a stranger, and the models may learn how much that matters to you.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from spotify_modeling.pipeline import enrich
from spotify_modeling.db.store import Store

__all__ = ["track_table", "has_features", "artist_play_counts"]


def artist_play_counts(store: Store) -> tuple[dict[str, int], dict[str, int]]:
    """(plays per primary artist id, plays per track id) over the effective plays."""
    per_artist: dict[str, int] = {}
    per_track: dict[str, int] = {}
    for tid, n, ids in store.conn.execute(
            "SELECT p.track_id, count(*), t.artist_ids FROM effective_plays p JOIN tracks t USING (track_id) "
            "GROUP BY p.track_id"):
        per_track[tid] = n
        try:
            first = (json.loads(ids) or [None])[0] if ids else None
        except ValueError:
            first = None
        if first:
            per_artist[first] = per_artist.get(first, 0) + n
    return per_artist, per_track


def track_table(store: Store, track_ids=None, **kwargs) -> pd.DataFrame:
    df = enrich.track_table(store, track_ids, **kwargs)
    per_artist, per_track = artist_play_counts(store)
    primary = [ids[0] if isinstance(ids, list) and ids else None for ids in df["artist_ids"]]
    own = df["track_id"].map(per_track).fillna(0).to_numpy(dtype=float)
    total = np.array([per_artist.get(a, 0) if a else np.nan for a in primary], dtype=float)
    df["artist_plays"] = np.log1p(np.clip(total - own, 0, None))
    return df


def has_features(df: pd.DataFrame) -> pd.Series:
    return df["danceability"].notna()
