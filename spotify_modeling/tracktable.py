"""The track table every model reads (see `enrich.track_table`), and a helper to keep rows with audio features."""

from __future__ import annotations

import pandas as pd

from .enrich import track_table

__all__ = ["track_table", "has_features"]


def has_features(df: pd.DataFrame) -> pd.Series:
    return df["danceability"].notna()
