"""The weekly run's decisions, pure so that the quality benchmark runs exactly the product's choices in-process.

Score the pool with every model (`score_pool`), learn the composite's weights from labels (`composite_from_labels`),
choose the batch with its slices and caps (`choose_batch`), and the affinity contrast refitted each week
(`fit_affinity`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from spotify_modeling.core.featurize import genre_family
from spotify_modeling.core.models import AffinityModel
from spotify_modeling.core.selection.batch import fill_slices
from spotify_modeling.core.selection.composite import DEFAULT_PRIOR_WEIGHTS, CompositeScorer, transform_outputs
from spotify_modeling.core.selection.settings import BatchSettings
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


def choose_batch(scored: pd.DataFrame, composite: CompositeScorer, cfg: BatchSettings,
                 sizes: Mapping[str, int] | int, rng: np.random.Generator,
                 family_shares: dict[str, float] | None = None) -> pd.DataFrame:
    """Composite score, then the exploit/explore/control slices under the caps; each pick carries its scores.

    `cfg`: the batch's settings (explore floor and mode, caps; the weekly run hands its `WeeklyConfig`). `sizes`: the
    slices decided for this week (`cfg.slice_sizes`), or a batch size that `cfg`'s shares split.
    """
    if not isinstance(sizes, Mapping):   # a total: cfg's shares split it
        sizes = cfg.split(sizes)
    n_total = sum(sizes.values())
    scores = composite.decision_function(scored)
    # a small pool still leaves the exploration slice at least ~3 batches' worth of plausible tracks to draw from
    floor = max(0.0, min(cfg.explore_floor, 1 - 3 * n_total / max(len(scored), 1)))
    draws = (composite.sample_decision_function(scored, rng, n_draws=THOMPSON_DRAWS)
             if cfg.explore_mode == "thompson" else None)
    chosen = fill_slices(scored, scores, sizes, max_per_artist=cfg.max_per_artist,
                         max_family_share=cfg.max_family_share, plausible_quantile=floor, rng=rng,
                         control_from=scored["random_sample"].to_numpy() if "random_sample" in scored else None,
                         family_shares=family_shares, explore_scores=draws)
    chosen["reason"] = [pick_reason(sl, pick, pr) for sl, pick, pr in zip(
        chosen["slice"], chosen["reason"], chosen["pool_reason"] if "pool_reason" in chosen else [None] * len(chosen))]
    chosen.attrs["weights"] = {k: round(v, 3) for k, v in composite.effective_weights(scored).items()}
    chosen.attrs["corrections"] = dict(getattr(composite, "corrections_learned_", {}))
    z = transform_outputs(scored).set_index(scored["track_id"])
    raw = scored.set_index("track_id")[[c for c in ("p_playlist", "likeability", "p_affinity", "p_label")
                                        if c in scored.columns]]
    chosen["scores"] = [json.dumps({**{k: rounded(v) for k, v in z.loc[t].items()},
                                    **{k: rounded(v) for k, v in raw.loc[t].items()}}) for t in chosen["track_id"]]
    chosen["families"] = chosen["track_id"].map(dict(zip(scored["track_id"], scored["families"])))
    return chosen


def prior_scores(Z: pd.DataFrame, prior_weights: dict | None = None) -> np.ndarray:
    """The prior composite's score of labelled tracks from their stored z-features (stage 1 only, no correction):
    what the ranking would have said of them with no label."""
    weights = {k: v for k, v in (prior_weights or DEFAULT_PRIOR_WEIGHTS).items() if k != "label"}
    total = np.zeros(len(Z))
    for name, w in weights.items():
        col = f"z_{name}"
        if col in Z.columns:
            total += w * np.nan_to_num(pd.to_numeric(Z[col], errors="coerce").to_numpy(float), nan=0.0,
                                       posinf=0.0, neginf=0.0)
    return total


def forward_chained(X: pd.DataFrame, y, batches, Z: pd.DataFrame, sample_weight=None,
                    min_per_class: int = 3, n_boot: int = 200) -> dict:
    """Stage 2 against the prior composite on the same labels, forward-chained: every labelled batch after the
    first is scored by a label model fit on the batches before it (as it would have been that week), and by the
    prior composite's stored score. Returns both AUCs with 95% intervals over the pooled rows ({} while no batch
    can be scored yet): the evidence that decides how much weight stage 2 starts from (`stage2_prior_weight`)."""
    from spotify_modeling.core.metrics import roc_auc_with_ci
    from spotify_modeling.core.models import MIN_ROWS, LabelModel

    y = np.asarray(y, dtype=int)
    b = pd.to_numeric(pd.Series(batches), errors="coerce").to_numpy(float)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    p = np.full(len(y), np.nan)
    scored = []
    for batch in sorted(set(b[~np.isnan(b)]))[1:]:
        train, test = b < batch, b == batch
        if (train.sum() < MIN_ROWS or min((y[train] == 1).sum(), (y[train] == 0).sum()) < min_per_class
                or not test.any()):
            continue
        model = LabelModel().fit(X[train].reset_index(drop=True), y[train], sample_weight=w[train])
        p[test] = model.predict_proba(X[test].reset_index(drop=True))[:, 1]
        scored.append(int(batch))
    rows = ~np.isnan(p)
    if rows.sum() < 10 or len(np.unique(y[rows])) < 2:
        return {}
    prior = prior_scores(Z.reset_index(drop=True))[rows]
    la, ll, lh = roc_auc_with_ci(y[rows], p[rows], n_boot=n_boot)
    pa, pl, ph = roc_auc_with_ci(y[rows], prior, n_boot=n_boot)
    return {"label_auc": la, "label_low": ll, "label_high": lh, "prior_auc": pa, "prior_low": pl,
            "prior_high": ph, "n": int(rows.sum()), "batches": scored}


def stage2_prior_weight(evidence: dict, n0: float = 30.0, prior_weights: dict | None = None) -> float:
    """Stage 2's weight in the composite's prior, from the forward-chained evidence: 0 while stage 2 ranks the
    labelled tracks no better than the prior composite; else its share of the prior's total weight is how much
    more of the ranking it carries than the prior on the same labels ((AUC_2 - AUC_prior) / (AUC_2 - 0.5)),
    shrunk by the labels scored (n / (n + n0)). The composite's regression starts from it and the labels move it
    on from there; it is no longer pinned to 0 until stage 2 has months of stored scores."""
    if not evidence:
        return 0.0
    a2, ap = evidence["label_auc"] - 0.5, max(evidence["prior_auc"] - 0.5, 0.0)
    if a2 <= ap or a2 <= 0:
        return 0.0
    share = (a2 - ap) / a2 * evidence["n"] / (evidence["n"] + n0)
    share = min(share, 0.9)
    stage1 = sum(abs(v) for k, v in (prior_weights or DEFAULT_PRIOR_WEIGHTS).items() if k != "label")
    return float(stage1 * share / (1.0 - share))


def pick_reason(slice_: str, pick: str, pool_reason: str | None) -> str:
    """Why a track is in this week's batch, in words: where it came from, then how it was picked."""
    if slice_ == "control":
        return f"random control ({pick.removeprefix('control: ')}): the baseline the other picks are measured against"
    return f"{pool_reason}; {pick}" if pool_reason else pick


def composite_from_labels(Z: pd.DataFrame | None, y, tracks: pd.DataFrame | None = None, sample_weight=None,
                          **params) -> CompositeScorer:
    """The composite learned from labelled tracks: weights from their stored z-features, corrections from `tracks`
    (their rows: genres or families, release date, pool source), the prior while labels are few; `sample_weight`:
    how much each label counts. `params`: CompositeScorer's."""
    scorer = CompositeScorer(**params)
    if Z is None or not len(Z):
        return scorer.fit(None, None)
    return scorer.fit(Z[[c for c in Z.columns if c.startswith("z_")]], np.asarray(y, dtype=int), tracks,
                      sample_weight=sample_weight)


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
           "composite_from_labels", "families", "rounded", "pick_reason", "prior_scores", "forward_chained",
           "stage2_prior_weight"]
