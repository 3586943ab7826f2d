"""Provenance: where a track's metadata came from must not be what a model learns.

A history track identified by the export's URI is a stub (no explicit flag, no release date), one found by search
carries both, and pool tracks get genres only near the cut. Left alone, "this fact is unknown" predicts "in a
playlist" or "played" almost perfectly, and a model with a proud AUC ranks the pool (fully described) by nothing.
Two defences: every model fit balances the missingness of the provenance columns across its classes
(`balance_missingness`), and `provenance_guard` checks what a fit learns from: the unknowns alone must not predict
the target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, is_classifier
from sklearn.metrics import roc_auc_score

from spotify_modeling.core.featurize import PROVENANCE_COLUMNS, _as_frame, hide_values, missingness
from spotify_modeling.core.metrics import artist_groups, grouped_cv_scores, roc_auc_with_ci

#: A provenance column is balanced when its missing rate differs between the strata by more than this.
BALANCE_TOLERANCE = 0.02


def provenance_strata(y: Any, classifier: bool) -> np.ndarray:
    """The groups whose missingness must match: the two classes, or a regressor's target above vs below its median."""
    y = np.asarray(y)
    if classifier:
        return (y == np.max(y)).astype(int)
    return (y > np.median(y)).astype(int)


def balance_missingness(X: pd.DataFrame, strata: Any, random_state: int | None = 0,
                        tolerance: float = BALANCE_TOLERANCE) -> pd.DataFrame:
    """A copy of X in which no stratum's rows can be told apart by which provenance facts are unknown.

    Each row keeps its own unknowns and also takes on the unknown pattern of one random row of every other stratum
    (for the provenance columns whose missing rate differs between strata). Every stratum then ends with the same
    distribution of missingness patterns, joint patterns included: an OR of one independent draw from each
    stratum's patterns. Values are hidden, never invented, so what a model learns from a fact comes from rows where
    both sides have it. Example: playlist tracks identified by the export's URI lack `explicit` and a release date,
    searched history tracks have both; unbalanced, "explicit unknown" alone predicts "in a playlist" (AUC ~1).
    """
    X = _as_frame(X)
    strata = np.asarray(strata)
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    if len(groups) < 2 or not len(X):
        return X
    M = missingness(X)
    rates = np.array([M.to_numpy()[g].mean(axis=0) for g in groups])
    cols = [c for j, c in enumerate(M.columns) if rates[:, j].max() - rates[:, j].min() > tolerance]
    if not cols:
        return X
    unknown = M[cols].to_numpy()
    hide = np.zeros_like(unknown)
    rng = np.random.default_rng(random_state)
    for i, rows in enumerate(groups):
        for j, donors in enumerate(groups):
            if i != j:
                hide[rows] |= unknown[rng.choice(donors, size=len(rows))]
    hide &= ~unknown
    return hide_values(X, pd.DataFrame(hide, columns=cols, index=X.index))


#: The guard passes while a model of the unknowns alone stays within this of AUC 0.5.
GUARD_TOLERANCE = 0.05


class PatternRate(ClassifierMixin, BaseEstimator):
    """The best any model can do from missingness alone: the positive rate of each pattern of unknowns.

    `prior` pseudo-counts pull a rare pattern's rate toward the overall rate (unseen patterns get it).
    """

    def __init__(self, prior: float = 2.0):
        self.prior = prior

    def fit(self, X: Any, y: Any) -> "PatternRate":
        keys = self._keys(X)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        positive = (y == self.classes_[-1]).astype(float)
        self.base_rate_ = float(positive.mean()) if len(positive) else 0.5
        frame = pd.DataFrame({"k": keys, "y": positive}).groupby("k")["y"].agg(["sum", "count"])
        self.rates_ = ((frame["sum"] + self.prior * self.base_rate_) / (frame["count"] + self.prior)).to_dict()
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Each pattern's rate *relative to the fitted base rate*, mapped to [0, 1] (0.5: no information).

        Centring matters in cross-validation: folds differ in their share of positives, and raw rates would carry
        each training fold's base rate, which runs opposite to its test fold's and drags a null's AUC below 0.5.
        """
        rate = np.array([self.rates_.get(k, self.base_rate_) for k in self._keys(X)], dtype=float)
        p = np.clip(0.5 + (rate - self.base_rate_) / 2, 0.0, 1.0)
        return np.column_stack([1 - p, p])

    @staticmethod
    def _keys(X: Any) -> np.ndarray:
        bits = np.asarray(X, dtype=bool)
        return (bits * (1 << np.arange(bits.shape[1]))).sum(axis=1) if bits.size else np.zeros(len(bits), int)


def provenance_guard(model: Any, X: pd.DataFrame, y: Any, groups: Any = None, n_splits: int = 5,
                     random_state: int = 0, tolerance: float = GUARD_TOLERANCE) -> dict[str, Any]:
    """Could a model learn the target from which facts are unknown? Checked on what `model.fit` learns from.

    Artist-grouped CV AUC of `PatternRate` on the missingness indicators of `model.training_frame(X, y)` (a
    regressor's target split at its median), and each column's unknowns alone, in sample (`leaks`: those whose
    AUC is more than `tolerance` from 0.5 either way, worst first, with their missing rates). `ok` when the CV AUC
    is at most 0.5 + `tolerance` and no column leaks. The CV bound is one-sided on purpose: on data with no
    association at all, a pattern model's out-of-fold AUC lands *below* 0.5 (each training fold's slight tilt is
    the opposite of its test fold's, since the totals are fixed; 0.44-0.48 measured on a balanced history), so
    an AUC under 0.5 is that artefact, never a leak a model could use. The pattern model alone can also miss one
    leaking column among noisy ones, hence the per-column check.
    """
    X = _as_frame(X)
    y = np.asarray(y)
    seen = model.training_frame(X, y)
    target = provenance_strata(y, is_classifier(model))
    unknown = missingness(seen)
    groups = artist_groups(X) if groups is None else np.asarray(groups, dtype=object)
    out: dict[str, Any] = {"auc": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "ok": True,
                           "tolerance": tolerance, "leaks": [], "reason": None}
    if len(np.unique(target)) < 2:
        out["reason"] = "only one class"
        return out
    try:
        oof = grouped_cv_scores(PatternRate(), unknown.astype(float), target, groups, n_splits=n_splits,
                                random_state=random_state)
    except ValueError as err:
        out["reason"] = str(err)
        return out
    out["auc"], out["ci_low"], out["ci_high"] = roc_auc_with_ci(target, oof, n_boot=200, random_state=random_state)
    pos = target == 1
    leaks = []
    for col in PROVENANCE_COLUMNS:
        flag = unknown[col].to_numpy()
        if flag.all() or not flag.any():
            continue
        single = float(roc_auc_score(pos, flag))
        if abs(single - 0.5) > tolerance:
            leaks.append({"feature": col, "auc": single, "missing_positive": float(flag[pos].mean()),
                          "missing_negative": float(flag[~pos].mean())})
    out["leaks"] = sorted(leaks, key=lambda d: -abs(d["auc"] - 0.5))
    out["ok"] = bool(out["auc"] <= 0.5 + tolerance) and not out["leaks"]
    return out


#: What each stage-1 model's two sides are, for the guard's sentence.
SIDES = {"playlist": ("your playlist and saved tracks", "your other played tracks"),
         "likeability": ("your more-played half", "your less-played half"),
         "affinity": ("your played tracks", "random catalog tracks"),
         "label": ("your likes", "your dislikes")}


def guard_sentence(guard: dict, model: str | None = None) -> str:
    """Why a model failed the provenance guard, in words: which fact's absence tells its two sides apart."""
    positive, negative = SIDES.get(model or "", ("one side", "the other"))
    leaks = guard.get("leaks") or []
    if leaks:
        worst = leaks[0]
        what = (f"`{worst['feature']}` is unknown for {worst['missing_positive']:.0%} of {positive} and "
                f"{worst['missing_negative']:.0%} of {negative}")
    else:
        what = f"the pattern of unknown facts alone predicts its target (CV AUC {guard['auc']:.2f})"
    return (f"{what}, so it can learn where the data came from instead of your taste, and its CV metric is not "
            "to be trusted; `spotify-model features` fills more of the missing facts.")


__all__ = ["balance_missingness", "provenance_strata", "provenance_guard", "PatternRate", "guard_sentence",
           "BALANCE_TOLERANCE", "GUARD_TOLERANCE", "PROVENANCE_COLUMNS", "SIDES"]
