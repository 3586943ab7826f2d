"""Stage-1 training targets from your own history, and the rows of the affinity contrast. Pure: frames in, frames out.

- `playlist`: the track is in one of the user's own playlists or saved tracks (by id, else by normalised artist + title).
  The tool's own `data_candidates`/`data_1`/`data_0` never count: their contents are stage-2 labels.
- `likeability`: sum over plays of min(ms_played / duration_ms, 1), log1p, scaled to [0, 1] over the user's tracks.
  It is computed from plays only, never from playlist membership (the project that inspired ours mixed them up).
- Plays of tracks the tool pushed, made after the push, are left out: the user heard them because we suggested them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The affinity model needs this many random pool tracks with features as its negatives.
MIN_POOL_FOR_AFFINITY = 50


def outcomes(plays: pd.DataFrame, own: list[tuple]) -> pd.DataFrame:
    """One row per played track: `track_id, plays, playlist, likeability` (likeability NaN if no duration known).

    `plays`: track_id, name_key, ms_played, reason_end, ts, duration_ms, pushed_at per play; `own`: (track id, name
    key) of the tracks in your own playlists and saved tracks.
    """
    if plays.empty:
        return pd.DataFrame(columns=["track_id", "plays", "playlist", "likeability"])
    plays = plays[plays["pushed_at"].isna() | (plays["ts"] < plays["pushed_at"])]
    # best known duration: the track's own, else the longest play that ended with "trackdone", else the longest play
    done = plays[plays["reason_end"] == "trackdone"].groupby("track_id")["ms_played"].max()
    longest = plays.groupby("track_id")["ms_played"].max()
    best = plays.groupby("track_id")["duration_ms"].max().fillna(done).fillna(longest)
    dur = plays["track_id"].map(best)
    share = (plays["ms_played"].fillna(0) / dur).clip(upper=1.0)
    per_track = pd.DataFrame({"track_id": plays["track_id"], "share": share, "key": plays["name_key"]})
    g = per_track.groupby("track_id")
    out = pd.DataFrame({"plays": g.size(), "listened": g["share"].sum(min_count=1)})
    score = np.log1p(out["listened"])
    out["likeability"] = score / score.max() if score.max() > 0 else score
    out["name_key"] = g["key"].first()
    ids = {t for t, _ in own} - {None}
    keys = {k for _, k in own} - {None}
    out["playlist"] = [int(t in ids or k in keys) for t, k in zip(out.index, out["name_key"])]
    return out.reset_index()[["track_id", "plays", "playlist", "likeability"]]


def with_known_tracks(out: pd.DataFrame, known: list[tuple], own: list[tuple]) -> pd.DataFrame:
    """`outcomes` plus the tracks the Web API says you know (Liked Songs, top tracks, playlists, recently played)
    that no play names: `plays` 0, `playlist` as for any track, `likeability` unknown (it needs plays).

    `known`: (track id, signal, rank) rows; `own`: as in `outcomes`. Before the export these rows are all stage 1
    has; after it they add what the export's period missed, and no track is counted twice.
    """
    have = set(out["track_id"])
    ids = list(dict.fromkeys(t for t, _, _ in known if t not in have))
    if not ids:
        return out
    own_ids = {t for t, _ in own} - {None}
    extra = pd.DataFrame({"track_id": ids, "plays": 0, "playlist": [int(t in own_ids) for t in ids],
                          "likeability": np.nan})
    return pd.concat([out, extra], ignore_index=True) if len(out) else extra


def fractional_year(date: object) -> float:
    """'2024', '2024-07' or '2024-07-15...' as a fractional year (a year or a month alone: its middle); NaN if unknown."""
    text = str(date or "").strip()
    if len(text) < 4 or not text[:4].isdigit() or int(text[:4]) < 1000:
        return np.nan
    year = int(text[:4])
    try:
        if len(text) >= 10:
            return year + (pd.Timestamp(text[:10]).day_of_year - 0.5) / 366
        if len(text) >= 7:
            return year + (int(text[5:7]) - 0.5) / 12
    except ValueError:
        pass
    return year + 0.5


def release_exposure(release_dates, window: tuple[float, float] | None) -> np.ndarray:
    """Share of the history's time span during which each track had been released (1 when unknown).

    A track released near the end of your history had little time to be played, one released after it none at
    all. The affinity model contrasts played tracks with random ones, so without this it would learn "new
    releases are not your taste"; weighting each random track by its exposure compares like with like.
    """
    released = np.array([fractional_year(d) for d in release_dates], dtype=float)
    if window is None or not window[1] > window[0]:
        return np.ones(len(released))
    start, end = window
    share = (end - np.maximum(released, start)) / (end - start)
    return np.where(np.isnan(released), 1.0, np.clip(share, 0.0, 1.0))


def affinity_table(X_played: pd.DataFrame, random_tracks: pd.DataFrame,
                   window: tuple[float, float] | None) -> pd.DataFrame | None:
    """Played tracks (`_y` 1) against random catalog tracks (0), `_w` each row's weight: 1 for a played track, a
    random track's release exposure over the history's `window` (see `release_exposure`; tracks released after it
    are left out). None with fewer than MIN_POOL_FOR_AFFINITY random tracks left."""
    exposure = release_exposure(random_tracks["release_date"], window) if "release_date" in random_tracks \
        else np.ones(len(random_tracks))
    neg = random_tracks[X_played.columns].assign(_y=0, _w=exposure)[exposure > 0]
    if len(neg) < MIN_POOL_FOR_AFFINITY:
        return None
    return pd.concat([X_played.assign(_y=1, _w=1.0), neg], ignore_index=True)


__all__ = ["outcomes", "fractional_year", "release_exposure", "affinity_table", "MIN_POOL_FOR_AFFINITY"]
