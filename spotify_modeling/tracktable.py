"""The track table every model reads: one row per track in canonical (Spotify) column names, from the store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .store import Store

AUDIO_FEATURES = ["danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
                  "instrumentalness", "liveness", "valence", "tempo"]
COLUMNS = ["track_id", "track_name", "artist_names", "artist_ids", "duration_ms", "release_date", "explicit",
           *AUDIO_FEATURES, "time_signature", "genres", "features_source"]
# Preferred feature source first: history and candidates must be described by the same source.
SOURCE_PREFERENCE = ["reccobeats", "spotify", "standin"]


def _loads(text):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def track_table(store: Store, track_ids: list[str] | None = None, features_source: str | None = None) -> pd.DataFrame:
    """Canonical track rows. `genres` is the union of the artists' genres, None when none were fetched."""
    feature_cols = ", ".join(f"f.{c}" for c in AUDIO_FEATURES)
    order = SOURCE_PREFERENCE if features_source is None else [features_source]
    rank = "CASE f.source " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(order)) + f" ELSE {len(order)} END"
    only = "" if features_source is None else "AND f.source = :src"
    sql = (
        f"SELECT t.track_id, t.name, t.artist_names, t.artist_ids, t.duration_ms, t.release_date, t.explicit, "
        f"{feature_cols}, f.time_signature, f.source FROM tracks t LEFT JOIN ("
        f"  SELECT f.*, row_number() OVER (PARTITION BY f.track_id ORDER BY {rank}) AS rk FROM audio_features f "
        f"  WHERE f.available = 1 {only}) f ON f.track_id = t.track_id AND f.rk = 1")
    params: dict = {"src": features_source} if features_source else {}
    if track_ids is not None:
        store.conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_ids(track_id TEXT PRIMARY KEY)")
        store.conn.execute("DELETE FROM wanted_ids")
        store.conn.executemany("INSERT OR IGNORE INTO wanted_ids VALUES (?)", [(t,) for t in track_ids])
        sql += " WHERE t.track_id IN (SELECT track_id FROM wanted_ids)"
    rows = store.conn.execute(sql, params).fetchall()
    df = pd.DataFrame([tuple(r) for r in rows], columns=[
        "track_id", "track_name", "artist_names", "artist_ids", "duration_ms", "release_date", "explicit",
        *AUDIO_FEATURES, "time_signature", "features_source"])
    genres = {aid: _loads(g) for aid, g in store.conn.execute("SELECT artist_id, genres FROM artists")}
    df["artist_names"] = [(_loads(x) or []) for x in df["artist_names"]]
    df["artist_ids"] = [(_loads(x) or []) for x in df["artist_ids"]]

    def track_genres(ids):
        known = [genres.get(a) for a in ids if genres.get(a) is not None]
        if not known:
            return None
        out: list[str] = []
        for g in known:
            out.extend(x for x in g if x not in out)
        return out  # [] = artists fetched, no genres known (the featurizer treats it as unknown)

    df["genres"] = [track_genres(ids) for ids in df["artist_ids"]]
    for c in ["duration_ms", "explicit", *AUDIO_FEATURES, "time_signature"]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df.loc[df["key"] == -1, "key"] = np.nan
    if track_ids is not None:
        df = df.set_index("track_id").reindex([t for t in dict.fromkeys(track_ids)]).reset_index()
        df = df[df["track_name"].notna() | df["danceability"].notna()].reset_index(drop=True)
    return df[COLUMNS]


def has_features(df: pd.DataFrame) -> pd.Series:
    return df["danceability"].notna()
