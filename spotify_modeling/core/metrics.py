"""Honest numbers: artist-grouped cross-validation and intervals a person can read.

A model must not be rewarded for recognising an artist it has already seen, so every
fold keeps all of an artist's tracks on one side. Point estimates come with bootstrap
(ROC AUC, Spearman) or Wilson (hit rates) intervals, because a few hundred tracks or a
few dozen labels leave wide uncertainty.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import clone, is_classifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold


def _first(cell: Any) -> str | None:
    """First non-empty string of a list cell, or the first `|`-separated part of a string cell."""
    if cell is None:
        return None
    if isinstance(cell, str):
        text = cell.split("|")[0].strip()
        return text or None
    if isinstance(cell, float) and np.isnan(cell):
        return None
    try:
        for item in cell:
            if isinstance(item, str) and item.strip():
                return item.strip()
    except TypeError:
        return None
    return None


def artist_groups(X: pd.DataFrame) -> np.ndarray:
    """One group label per row: the first artist's id, else the first artist's name, else the row.

    Names seen alongside an id elsewhere in the table are mapped to that id, so an artist
    whose id is missing on some rows still stays in one group.
    """
    n = len(X)
    ids = (X["artist_ids"].map(_first).to_numpy(dtype=object) if "artist_ids" in X.columns
           else np.full(n, None, dtype=object))
    names = (X["artist_names"].map(_first).to_numpy(dtype=object) if "artist_names" in X.columns
             else np.full(n, None, dtype=object))
    names = np.array([nm.casefold() if isinstance(nm, str) else None for nm in names], dtype=object)
    name_to_id: dict[str, str] = {}
    ids = np.array([a if isinstance(a, str) else None for a in ids], dtype=object)
    for artist_id, name in zip(ids, names):
        if artist_id and name and name not in name_to_id:
            name_to_id[name] = artist_id
    groups = np.empty(n, dtype=object)
    for i, (artist_id, name) in enumerate(zip(ids, names)):
        if artist_id:
            groups[i] = f"id:{artist_id}"
        elif name and name in name_to_id:
            groups[i] = f"id:{name_to_id[name]}"
        elif name:
            groups[i] = f"name:{name}"
        else:
            groups[i] = f"row:{i}"
    return groups


def _effective_splits(y: np.ndarray, groups: np.ndarray, n_splits: int, stratified: bool) -> int:
    k = min(n_splits, len(pd.unique(groups)))
    if stratified:
        for cls in np.unique(y):
            k = min(k, len(pd.unique(groups[y == cls])))
    return int(k)


def grouped_folds(y: Any, groups: Any, n_splits: int = 5, random_state: int = 0,
                  stratified: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs in which no group (artist) is on both sides.

    `n_splits` shrinks to what the data allows (number of groups; for classifiers, the number of
    groups holding each class). Raises ValueError when fewer than 2 folds are possible.
    """
    y = np.asarray(y)
    groups = np.asarray(groups, dtype=object)
    k = _effective_splits(y, groups, n_splits, stratified)
    if k < 2:
        what = "artists per class" if stratified else "artists"
        raise ValueError(f"cross-validation needs at least 2 {what}; found {k}")
    if stratified:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=random_state)
    else:
        splitter = GroupKFold(n_splits=k, shuffle=True, random_state=random_state)
    return [(train, test) for train, test in splitter.split(np.zeros(len(y)), y, groups)]


def grouped_cv_scores(model: Any, X: pd.DataFrame, y: Any, groups: Any = None, n_splits: int = 5,
                      random_state: int = 0) -> np.ndarray:
    """Out-of-fold predictions (positive-class probability, or the regressor's value) per row.

    Folds are grouped by artist (`artist_groups(X)` when `groups` is None).
    """
    y = np.asarray(y)
    groups = artist_groups(X) if groups is None else np.asarray(groups, dtype=object)
    classifier = is_classifier(model)
    folds = grouped_folds(y, groups, n_splits=n_splits, random_state=random_state,
                          stratified=classifier)
    oof = np.full(len(y), np.nan, dtype=float)
    for train, test in folds:
        fitted = clone(model).fit(X.iloc[train], y[train])
        if classifier:
            proba = fitted.predict_proba(X.iloc[test])
            oof[test] = proba[:, list(fitted.classes_).index(np.max(y))]
        else:
            oof[test] = fitted.predict(X.iloc[test])
    return oof


def _chunk(n: int) -> int:
    """Bootstrap replicates per batch: about two million cells at a time."""
    return int(max(1, min(200, 2_000_000 // max(n, 1))))


def _bootstrap_counts(n: int, n_boot: int, random_state: int) -> np.ndarray:
    """How often each row is drawn in each of `n_boot` resamples with replacement."""
    rng = np.random.default_rng(random_state)
    draws = rng.integers(0, n, size=(n_boot, n)) + (np.arange(n_boot) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def _weighted_auc(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC for each row of `weights` (bootstrap counts), ties counted half, all at once.

    Sort once by score; per tied-score block, sum positive and negative weight; AUC is
    sum(pos_w * (neg weight strictly below + half the tied neg weight)) / (W_pos * W_neg).
    """
    order = np.argsort(p, kind="mergesort")
    p_sorted, y_sorted = p[order], y[order].astype(bool)
    w = weights[:, order]
    starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
    pos_w = np.add.reduceat(w * y_sorted, starts, axis=1)
    neg_w = np.add.reduceat(w * ~y_sorted, starts, axis=1)
    neg_below = np.cumsum(neg_w, axis=1) - neg_w
    num = (pos_w * (neg_below + 0.5 * neg_w)).sum(axis=1)
    den = pos_w.sum(axis=1) * neg_w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def roc_auc_with_ci(y: Any, p: Any, n_boot: int = 1000, random_state: int = 0,
                    level: float = 0.95) -> tuple[float, float, float]:
    """ROC AUC with a percentile bootstrap interval; NaN when only one class is present."""
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    keep = ~np.isnan(p)
    y, p = y[keep], p[keep]
    if len(np.unique(y)) < 2:
        return (float("nan"),) * 3
    positive = y == np.max(y)
    auc = float(roc_auc_score(positive, p))
    if n_boot <= 0:
        return auc, float("nan"), float("nan")
    boots = []
    step = _chunk(len(y))
    for chunk in range(0, n_boot, step):  # chunks bound memory on large inputs
        counts = _bootstrap_counts(len(y), min(step, n_boot - chunk), random_state + chunk)
        boots.append(_weighted_auc(positive, p, counts))
    lo, hi = _percentiles(np.concatenate(boots), level)
    return auc, lo, hi


def _spearman_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row pair (2-D inputs), average ranks for ties."""
    ry = rankdata(y, axis=1)
    rp = rankdata(p, axis=1)
    ry -= ry.mean(axis=1, keepdims=True)
    rp -= rp.mean(axis=1, keepdims=True)
    den = np.sqrt((ry ** 2).sum(axis=1) * (rp ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ry * rp).sum(axis=1) / den, np.nan)


def spearman_with_ci(y: Any, p: Any, n_boot: int = 1000, random_state: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """Spearman rank correlation with a percentile bootstrap interval (NaN when undefined)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    keep = ~(np.isnan(y) | np.isnan(p))
    y, p = y[keep], p[keep]
    if len(y) < 3:
        return (float("nan"),) * 3
    rho = float(_spearman_rows(y[None, :], p[None, :])[0])
    if n_boot <= 0 or np.isnan(rho):
        return rho, float("nan"), float("nan")
    rng = np.random.default_rng(random_state)
    boots = []
    step = _chunk(len(y))
    for chunk in range(0, n_boot, step):
        idx = rng.integers(0, len(y), size=(min(step, n_boot - chunk), len(y)))
        boots.append(_spearman_rows(y[idx], p[idx]))
    lo, hi = _percentiles(np.concatenate(boots), level)
    return rho, lo, hi


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float, float]:
    """Share k/n with its Wilson score interval; good for small n (e.g. 3 likes out of 10)."""
    if n <= 0:
        return float("nan"), 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(p), float(max(0.0, centre - half)), float(min(1.0, centre + half))


def cross_validate_model(model: Any, X: pd.DataFrame, y: Any, groups: Any = None,
                         n_splits: int = 5, random_state: int = 0,
                         n_boot: int = 1000) -> dict[str, Any]:
    """Artist-grouped CV summary: ROC AUC (classifiers) or Spearman (regressors) with a 95% interval.

    Never raises for data that is merely too small: `value` is NaN and `reason` says why.
    """
    y = np.asarray(y)
    groups = artist_groups(X) if groups is None else np.asarray(groups, dtype=object)
    classifier = is_classifier(model)
    result: dict[str, Any] = {
        "metric": "roc_auc" if classifier else "spearman",
        "value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
        "base_rate": float("nan"), "n_rows": int(len(y)), "n_groups": int(len(pd.unique(groups))),
        "n_splits": 0, "reason": None,
    }
    if len(y):
        result["base_rate"] = float(np.mean(y == np.max(y))) if classifier else float(np.mean(y))
    if classifier and len(np.unique(y)) < 2:
        result["reason"] = "only one class in the labels"
        return result
    k = _effective_splits(y, groups, n_splits, classifier)
    if k < 2:
        result["reason"] = f"too few artists to cross-validate ({result['n_groups']} groups)"
        return result
    result["n_splits"] = k
    try:
        oof = grouped_cv_scores(model, X, y, groups, n_splits=k, random_state=random_state)
    except ValueError as err:  # e.g. a training fold too small or single-class
        result["reason"] = f"a fold could not be fitted: {err}"
        return result
    score = roc_auc_with_ci if classifier else spearman_with_ci
    value, lo, hi = score(y, oof, n_boot=n_boot, random_state=random_state)
    result.update(value=value, ci_low=lo, ci_high=hi)
    if np.isnan(value):
        result["reason"] = "metric undefined on the out-of-fold predictions"
    return result


__all__ = ["artist_groups", "grouped_folds", "grouped_cv_scores", "roc_auc_with_ci",
           "spearman_with_ci", "wilson_interval", "cross_validate_model"]
