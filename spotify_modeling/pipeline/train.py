"""Stage 1: the playlist, likeability and affinity models fitted on what the store holds, with honest metrics.

The targets are computed in `core.targets`; every fit is cross-validated by artist and checked by the provenance
guard (`core.provenance`) before it is saved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from spotify_modeling.core import targets
from spotify_modeling.core.metrics import artist_groups, cross_validate_model
from spotify_modeling.core.models import MIN_ROWS, AffinityModel, LikeabilityModel, PlaylistModel
from spotify_modeling.core.provenance import provenance_guard
from spotify_modeling.core.targets import MIN_POOL_FOR_AFFINITY, affinity_table
from spotify_modeling.db import history, library, tracks
from spotify_modeling.db.pushes_and_labels import random_sample_ids
from spotify_modeling.db.store import Store
from spotify_modeling.db.model_table import has_features, track_table
from spotify_modeling.pipeline.persist import save_model
from spotify_modeling.atomic import write_csv

#: Fewer tracks with audio features than this and stage 1 is not fitted (too little to learn a taste from).
MIN_TRACKS_WITH_FEATURES = 50
#: Each playlist class needs at least this many tracks.
MIN_PER_CLASS = 10


def outcomes(store: Store, playlists: list[str] | None = None) -> pd.DataFrame:
    """One row per track of your history: `track_id, plays, playlist, likeability` (likeability NaN if no duration
    is known, or for a track only the Web API names: it needs plays)."""
    own = library.own_items(store, playlists)
    return targets.with_known_tracks(targets.outcomes(history.plays_with_pushes(store), own),
                                     library.api_tracks(store), own)


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
    first, last = history.play_span(store)
    if not first:
        return None
    return targets.fractional_year(first), targets.fractional_year(last)


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
    # whole or not at all, and readable by you alone
    write_csv(X.assign(artist_names=X["artist_names"].map(lambda v: "|".join(v or [])),
                        artist_ids=X["artist_ids"].map(lambda v: "|".join(v or [])),
                        genres=X["genres"].map(lambda v: None if v is None else "|".join(v))),
               home.processed / "X.csv")
    write_csv(y[["track_id", "playlist"]], home.processed / "y_playlist.csv")
    write_csv(y[["track_id", "likeability"]].rename(columns={"likeability": "score"}),
               home.processed / "y_score.csv")
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
    if lk.sum() < MIN_ROWS:
        report.skipped["likeability"] = (
            "waits for your data export: it learns how much of each track you listen to, which only the export's "
            f"plays tell ({int(lk.sum())} of your tracks with features have plays)")
    else:
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
    n = tracks.played_tracks_with_features(store)
    last = store.get_kv("stage1_trained_on_tracks", 0)
    if n < MIN_TRACKS_WITH_FEATURES:
        return Retrain(waiting=f"stage 1 not trained yet: {n} played tracks have audio features, "
                               f"it needs {MIN_TRACKS_WITH_FEATURES}.")
    if n <= last and any((home.models / f"{m}.joblib").exists() for m in ("likeability", "playlist")):
        return Retrain(up_to_date=f"Stage-1 models are up to date (trained on {last:,} tracks with features).")
    report = train_stage1(store, home)
    with store.transaction():
        store.set_kv("stage1_trained_on_tracks", n)
    return Retrain(report=report)
