"""Stage 1: outcomes from the user's own history, and fitting the playlist, likeability and affinity models.

- `playlist`: the track is in one of the user's own playlists or saved tracks (by id, else by normalised artist + title).
  The tool's own `data_candidates`/`data_1`/`data_0` never count: their contents are stage-2 labels.
- `likeability`: sum over plays of min(ms_played / duration_ms, 1), log1p, scaled to [0, 1] over the user's tracks.
  It is computed from plays only, never from playlist membership (the project that inspired ours mixed them up).
- Plays of tracks the tool pushed, made after the push, are left out: the user heard them because we suggested them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from spotify_modeling.core.models import AffinityModel, LikeabilityModel, PlaylistModel
from spotify_modeling.core.metrics import artist_groups, cross_validate_model
from spotify_modeling.pipeline.persist import save_model
from spotify_modeling.pipeline.pool import random_sample_ids
from spotify_modeling.core.provenance import provenance_guard
from spotify_modeling.db.store import Store
from spotify_modeling.db.tracktable import has_features, track_table

#: Fewer tracks with audio features than this and stage 1 is not fitted (too little to learn a taste from).
MIN_TRACKS_WITH_FEATURES = 50
#: Each playlist class needs at least this many tracks.
MIN_PER_CLASS = 10
#: The affinity model needs this many random pool tracks with features as its negatives.
MIN_POOL_FOR_AFFINITY = 50


def outcomes(store: Store, playlists: list[str] | None = None) -> pd.DataFrame:
    """One row per played track: `track_id, plays, playlist, likeability` (likeability NaN if no duration known)."""
    plays = pd.read_sql_query(
        "SELECT p.track_id, p.name_key, p.ms_played, p.reason_end, p.ts, t.duration_ms, pu.pushed_at "
        "FROM effective_plays p LEFT JOIN tracks t ON t.track_id = p.track_id "
        "LEFT JOIN pushes pu ON pu.track_id = p.track_id WHERE p.track_id IS NOT NULL", store.conn)
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

    own = "p.origin = 'export' AND p.role IS NULL" if playlists is None else \
        "p.role IS NULL AND p.name IN (" + ",".join("?" * len(playlists)) + ")"
    params = () if playlists is None else tuple(playlists)
    ids, keys = set(), set()
    for tid, key in store.conn.execute(
            f"SELECT i.track_id, i.name_key FROM playlist_items i JOIN playlists p USING (playlist_key) "
            f"WHERE {own} AND i.item_type = 'track'", params):
        ids.add(tid)
        keys.add(key)
    for tid, key in store.conn.execute("SELECT track_id, name_key FROM saved_tracks"):
        ids.add(tid)
        keys.add(key)
    ids.discard(None)
    keys.discard(None)
    out["playlist"] = [int(t in ids or k in keys) for t, k in zip(out.index, out["name_key"])]
    return out.reset_index()[["track_id", "plays", "playlist", "likeability"]]


@dataclass
class TrainReport:
    trained: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict] = field(default_factory=dict)
    guards: dict[str, dict] = field(default_factory=dict)   # provenance_guard per trained model
    tracks_played: int = 0
    tracks_with_features: int = 0
    plays_covered: float = 0.0
    seconds: float = 0.0


def training_data(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(track table of played tracks with features, their outcomes), most-played first."""
    y = outcomes(store)
    X = track_table(store, list(y["track_id"]))
    X = X[has_features(X)]
    y = y.set_index("track_id").loc[X["track_id"]].reset_index()
    order = np.argsort(-y["plays"].to_numpy(), kind="stable")
    return X.iloc[order].reset_index(drop=True), y.iloc[order].reset_index(drop=True)


def history_window(store: Store) -> tuple[float, float] | None:
    """First and last play of the history as fractional years (None without plays)."""
    first, last = store.conn.execute("SELECT min(ts), max(ts) FROM effective_plays").fetchone()
    if not first:
        return None
    return _fractional_year(first), _fractional_year(last)


def _fractional_year(date: object) -> float:
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
    released = np.array([_fractional_year(d) for d in release_dates], dtype=float)
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


def affinity_data(store: Store, X_played: pd.DataFrame) -> pd.DataFrame | None:
    """`affinity_table` of the store's played tracks and random pool sample; None while the pool is too small."""
    pool_ids = random_sample_ids(store)
    if not pool_ids:
        return None
    neg = track_table(store, pool_ids)
    return affinity_table(X_played, neg[has_features(neg)], history_window(store))


def train_stage1(store: Store, home, cv: bool = True, n_jobs: int | None = None) -> TrainReport:
    """Fit and persist the stage-1 models on what the store holds; report honest grouped-CV metrics."""
    start = time.perf_counter()
    report = TrainReport()
    y_all = outcomes(store)
    report.tracks_played = len(y_all)
    X, y = training_data(store)
    report.tracks_with_features = len(X)
    total_plays = y_all["plays"].sum()
    report.plays_covered = float(y["plays"].sum() / total_plays) if total_plays else 0.0
    if len(X) < MIN_TRACKS_WITH_FEATURES:
        reason = (f"only {len(X)} played tracks have audio features (need {MIN_TRACKS_WITH_FEATURES}); "
                  "run `spotify-model features` again to fetch more")
        report.skipped.update(playlist=reason, likeability=reason, affinity=reason)
        return report
    groups = artist_groups(X)
    home.processed.mkdir(parents=True, exist_ok=True)
    X.assign(artist_names=X["artist_names"].map(lambda v: "|".join(v or [])),
             artist_ids=X["artist_ids"].map(lambda v: "|".join(v or [])),
             genres=X["genres"].map(lambda v: None if v is None else "|".join(v))
             ).to_csv(home.processed / "X.csv", index=False)
    y[["track_id", "playlist"]].to_csv(home.processed / "y_playlist.csv", index=False)
    y[["track_id", "likeability"]].rename(columns={"likeability": "score"}).to_csv(
        home.processed / "y_score.csv", index=False)
    coverage = {"tracks_with_features": len(X), "tracks_played": report.tracks_played,
                "plays_covered": round(report.plays_covered, 4)}

    counts = np.bincount(y["playlist"].to_numpy(), minlength=2)
    if counts.min() < MIN_PER_CLASS:
        report.skipped["playlist"] = (f"playlist classes too small ({counts[1]} in playlists, {counts[0]} not; "
                                      f"need {MIN_PER_CLASS} each)")
    else:
        _fit_and_save("playlist", PlaylistModel(n_jobs=n_jobs), X, y["playlist"].to_numpy(), groups, home,
                      report, cv, coverage)
    lk = y["likeability"].notna().to_numpy()
    _fit_and_save("likeability", LikeabilityModel(n_jobs=n_jobs), X[lk].reset_index(drop=True),
                  y.loc[lk, "likeability"].to_numpy(), groups[lk], home, report, cv, coverage)
    aff = affinity_data(store, X)
    if aff is None:
        report.skipped["affinity"] = (f"needs {MIN_POOL_FOR_AFFINITY} random catalog tracks with features, "
                                      "released before your history ends; `spotify-model candidates` collects "
                                      "them (with an old export, a newer one helps)")
    else:
        target, weight = aff.pop("_y").to_numpy(), aff.pop("_w").to_numpy()
        _fit_and_save("affinity", AffinityModel(n_jobs=n_jobs), aff, target, artist_groups(aff), home, report, cv,
                      coverage, sample_weight=weight)
    report.seconds = time.perf_counter() - start
    return report


def _fit_and_save(name, model, X, y, groups, home, report: TrainReport, cv: bool, coverage: dict,
                  sample_weight=None) -> None:
    metrics = cross_validate_model(model, X, y, groups, n_boot=300) if cv else {}   # unweighted: a plain AUC
    guard = provenance_guard(model, X, y, groups)
    model.fit(X, y, sample_weight=sample_weight)
    save_model(model, name, home.models, home.training_features, metrics,
               extra={**coverage, "provenance_guard": guard})
    report.trained.append(name)
    report.metrics[name] = metrics
    report.guards[name] = guard


@dataclass
class Retrain:
    """What `train_after_features` did: trained (`report`), or why not: still too little (`waiting`) or nothing new."""

    report: TrainReport | None = None
    waiting: str | None = None
    up_to_date: str | None = None


def train_after_features(store: Store, home) -> Retrain:
    """At the end of `features`: (re)train stage 1 when coverage reached the minimum and grew since last time."""
    n = store.scalar(
        "SELECT count(DISTINCT p.track_id) FROM effective_plays p JOIN audio_features f ON f.track_id = p.track_id "
        "AND f.available = 1")
    last = store.get_kv("stage1_trained_on_tracks", 0)
    if n < MIN_TRACKS_WITH_FEATURES:
        return Retrain(waiting=f"stage 1 not trained yet: {n} played tracks have audio features, "
                               f"it needs {MIN_TRACKS_WITH_FEATURES}.")
    if n <= last and (home.models / "likeability.joblib").exists():
        return Retrain(up_to_date=f"Stage-1 models are up to date (trained on {last:,} tracks with features).")
    report = train_stage1(store, home)
    with store.transaction():
        store.set_kv("stage1_trained_on_tracks", n)
    return Retrain(report=report)
