"""Reference methods for the quality benchmark, returning the same frame as ``select_batch``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spotify_modeling.core.selection.batch import _PASS_THROUGH, RESULT_COLUMNS, as_rng


def _frame(pool: pd.DataFrame, idx: np.ndarray, score: np.ndarray, slice_: str,
           probs: np.ndarray, reasons: list[str]) -> pd.DataFrame:
    out = pd.DataFrame({
        "track_id": pool["track_id"].to_numpy()[idx],
        "slice": slice_,
        "rank": np.arange(1, len(idx) + 1),
        "score": score[idx].astype(float),
        "choice_prob": probs.astype(float),
        "reason": reasons,
    }, columns=RESULT_COLUMNS)
    for c in _PASS_THROUGH:
        if c in pool.columns:
            out[c] = pool[c].to_numpy()[idx]
    return out


def original_scores(pool_df: pd.DataFrame) -> np.ndarray:
    """The original project's score: p_playlist * p_label, or p_playlist alone with no stage 2.

    Rows without a ``p_label`` (when others have one) use ``p_playlist`` alone, as the original
    would have before stage 2 scored them.
    """
    p1 = pd.to_numeric(pool_df["p_playlist"], errors="coerce").to_numpy(dtype=float)
    if "p_label" not in pool_df.columns:
        return p1
    p2 = pd.to_numeric(pool_df["p_label"], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(p2), p1, p1 * p2)


def select_original(pool_df: pd.DataFrame, n_total: int = 20) -> pd.DataFrame:
    """Top ``n_total`` by :func:`original_scores`: no exploration, no control, no caps."""
    pool = pool_df.reset_index(drop=True)
    s = original_scores(pool)
    key = np.where(np.isnan(s), -np.inf, s)
    idx = np.argsort(-key, kind="stable")[:min(n_total, len(pool))]
    reasons = [f"original method: playlist x stage-2 ({s[i]:.2f})" for i in idx]
    return _frame(pool, idx, s, "exploit", np.ones(len(idx)), reasons)


def select_random(pool_df: pd.DataFrame, n_total: int = 20,
                  rng: np.random.Generator | int | None = None) -> pd.DataFrame:
    """``n_total`` tracks uniformly at random (the chance baseline); choice_prob = k / N."""
    pool = pool_df.reset_index(drop=True)
    k = min(n_total, len(pool))
    idx = as_rng(rng).choice(len(pool), size=k, replace=False)
    probs = np.full(k, k / len(pool)) if len(pool) else np.zeros(0)
    return _frame(pool, idx, np.full(len(pool), np.nan), "control", probs,
                  [f"random method ({k} of {len(pool)})"] * k)
