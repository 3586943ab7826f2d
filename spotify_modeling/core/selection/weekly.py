"""The weekly run's decisions, pure so that the quality benchmark runs exactly the product's choices in-process.

Score the pool with every model (`score_pool`), learn the composite's weights from labels (`composite_from_labels`),
choose the batch with its slices and caps (`choose_batch`), and the affinity contrast refitted each week
(`fit_affinity`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from spotify_modeling.core.featurize import genre_family
from spotify_modeling.core.models import AffinityModel
from spotify_modeling.core.selection.batch import select_batch
from spotify_modeling.core.selection.composite import CompositeScorer, transform_outputs
from spotify_modeling.core.targets import affinity_table

#: plausible rankings drawn for a Thompson exploration slice (its choice probabilities are shares of these)
THOMPSON_DRAWS = 50


def affinity_fit_data(X_played: pd.DataFrame, pool: pd.DataFrame, window: tuple[float, float] | None = None
                      ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray] | None:
    """(rows, target, weights) of the affinity fit (`train.affinity_table`), None while there is too little."""
    if len(X_played) < 20:
        return None
    table = affinity_table(X_played, pool, window)
    if table is None:
        return None
    return table, table.pop("_y").to_numpy(), table.pop("_w").to_numpy()


def fit_affinity(X_played: pd.DataFrame, pool: pd.DataFrame,
                 window: tuple[float, float] | None = None) -> AffinityModel | None:
    """Stage 1, positive-unlabelled: the user's played tracks (1) against random pool tracks (0), each random
    track weighted by the share of the history's `window` it was out for (`train.affinity_table`)."""
    data = affinity_fit_data(X_played, pool, window)
    if data is None:
        return None
    table, y, weight = data
    return AffinityModel().fit(table, y, sample_weight=weight)


def score_pool(pool: pd.DataFrame, models: dict, label_model=None) -> pd.DataFrame:
    """The pool with every available model output: p_playlist, likeability, p_affinity, p_label, and families."""
    out = pool.copy()
    if "playlist" in models:
        out["p_playlist"] = models["playlist"].predict_proba(pool)[:, 1]
    if "likeability" in models:
        out["likeability"] = models["likeability"].predict(pool)
    if "affinity" in models:
        out["p_affinity"] = models["affinity"].predict_proba(pool)[:, 1]
    if label_model is not None:
        out["p_label"] = label_model.predict_proba(pool)[:, 1]
    out["families"] = families(out)
    return out


def history_family_shares(played: pd.DataFrame) -> dict[str, float]:
    """Share of your played tracks (with known genres) in each broad genre family; a two-family track counts half."""
    counts: dict[str, float] = {}
    n = 0
    for fams in families(played) if "genres" in played else []:
        if fams:
            n += 1
            for f in fams:
                counts[f] = counts.get(f, 0.0) + 1.0 / len(fams)
    return {f: c / n for f, c in counts.items()} if n else {}


def choose_batch(scored: pd.DataFrame, composite: CompositeScorer, cfg: Any, n_total: int,
                 rng: np.random.Generator, family_shares: dict[str, float] | None = None) -> pd.DataFrame:
    """Composite score, then the exploit/explore/control slices under the caps; each pick carries its scores.

    `cfg` is the weekly settings (`pipeline.settings.WeeklyConfig`): explore/control shares, explore floor, caps.
    """
    scores = composite.decision_function(scored)
    # a small pool still leaves the exploration slice at least ~3 batches' worth of plausible tracks to draw from
    floor = max(0.0, min(cfg.explore_floor, 1 - 3 * n_total / max(len(scored), 1)))
    draws = (composite.sample_decision_function(scored, rng, n_draws=THOMPSON_DRAWS)
             if getattr(cfg, "explore_mode", "uncertainty") == "thompson" else None)
    chosen = select_batch(scored, scores, n_total=n_total, explore_share=cfg.explore_share,
                          control_share=cfg.control_share, max_per_artist=cfg.max_per_artist,
                          max_family_share=cfg.max_family_share, plausible_quantile=floor, rng=rng,
                          control_from=scored["random_sample"].to_numpy() if "random_sample" in scored else None,
                          family_shares=family_shares, explore_scores=draws)
    chosen.attrs["weights"] = {k: round(v, 3) for k, v in composite.effective_weights(scored).items()}
    chosen.attrs["corrections"] = dict(getattr(composite, "corrections_learned_", {}))
    z = transform_outputs(scored).set_index(scored["track_id"])
    raw = scored.set_index("track_id")[[c for c in ("p_playlist", "likeability", "p_affinity", "p_label")
                                        if c in scored.columns]]
    chosen["scores"] = [json.dumps({**{k: rounded(v) for k, v in z.loc[t].items()},
                                    **{k: rounded(v) for k, v in raw.loc[t].items()}}) for t in chosen["track_id"]]
    chosen["families"] = chosen["track_id"].map(dict(zip(scored["track_id"], scored["families"])))
    return chosen


def composite_from_labels(Z: pd.DataFrame | None, y, tracks: pd.DataFrame | None = None,
                          **params) -> CompositeScorer:
    """The composite learned from labelled tracks: weights from their stored z-features, corrections from `tracks`
    (their rows: genres or families, release date), the prior while labels are few. `params`: CompositeScorer's."""
    scorer = CompositeScorer(**params)
    if Z is None or not len(Z):
        return scorer.fit(None, None)
    return scorer.fit(Z[[c for c in Z.columns if c.startswith("z_")]], np.asarray(y, dtype=int), tracks)


def families(df: pd.DataFrame) -> list[list[str]]:
    out = []
    for genres in df["genres"]:
        fams: list[str] = []
        for g in genres or []:
            for f in genre_family(g):
                if f not in fams:
                    fams.append(f)
        out.append(fams)
    return out


def rounded(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(v) else round(v, 6)


__all__ = ["affinity_fit_data", "fit_affinity", "score_pool", "history_family_shares", "choose_batch",
           "composite_from_labels", "families", "rounded"]
