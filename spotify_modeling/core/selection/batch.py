"""Pick the weekly batch: exploit the best, explore what teaches stage 2 most, keep a control.

Three slices share one set of diversity caps:

- **exploit**: the top composite scores, skipping any track that would break a cap.
- **explore**: among *plausible* tracks (composite at or above the pool's
  ``plausible_quantile``), tracks drawn with probability proportional to
  ``uncertainty**2`` (squared to focus on the most uncertain without excluding the rest).
  Uncertainty is ``1 - 2|p_label - 0.5|`` where stage 2 exists, else how much the
  stage-1 models disagree about the track (spread of their pool ranks), else, with one
  stage-1 model, closeness to the pool median (the decision boundary). The draw is a
  randomised systematic PPS sample, whose inclusion probability for each track is
  exactly ``pi_i = min(1, k * w_i / sum(w))`` (capped iteratively); that is the
  ``choice_prob``. If picks of the same draw collide on a cap, the later ones are
  replaced by weighted draws from what is left and ``choice_prob`` is then approximate.
- **control**: uniform random from every remaining track that fits the caps, so
  ``choice_prob = k / N`` (exact unless two control picks collide on a cap, which a
  pool of hundreds makes rare). The control's hit rate is the honest baseline for
  the exploit slice's lift.

Caps: at most ``max_per_artist`` tracks per artist (every id in ``artist_ids``, else
``artist_id``), and no family in more than ``max_family_share`` of the requested batch
(``floor(share * n_total)``, at least 1); tracks with no family count toward none.
When caps or a small pool leave a slice short, the batch is returned short:
``result.attrs["requested"]``, ``["shortfall"]`` and ``["note"]`` say so.

Push order is shuffled across slices (``shuffle=True``) so that a user who labels
only the first half of the playlist labels every slice at the same rate.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from spotify_modeling.core.selection.composite import OUTPUT_COLUMNS, STAGE1_MODELS, pool_ranks
from spotify_modeling.core.selection.settings import (BARE_CONTROL_SHARE, BARE_EXPLORE_SHARE, batch_sizes,  # noqa: F401
                                                      split_sizes)

RESULT_COLUMNS = ["track_id", "slice", "rank", "score", "choice_prob", "reason"]
_PASS_THROUGH = ["track_name", "artist_names", "source", "pool_reason"]


#: a family may take up to this multiple of its share of your listening (when that beats `max_family_share`)
FAMILY_HEADROOM = 1.25


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A numpy Generator from a Generator, a seed, or None (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


# -- caps ---------------------------------------------------------------------------------
def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [v for v in value if v is not None and not (isinstance(v, float) and math.isnan(v))
                and v != ""]
    if isinstance(value, float) and math.isnan(value):
        return []
    return [value] if value != "" else []


def _artist_lists(pool_df: pd.DataFrame) -> list[list]:
    if "artist_ids" in pool_df.columns:
        return [_as_list(v) for v in pool_df["artist_ids"]]
    if "artist_id" in pool_df.columns:
        return [_as_list(v) for v in pool_df["artist_id"]]
    return [[] for _ in range(len(pool_df))]


def _family_lists(pool_df: pd.DataFrame) -> list[list]:
    if "families" not in pool_df.columns:
        return [[] for _ in range(len(pool_df))]
    return [sorted(set(_as_list(v))) for v in pool_df["families"]]


class _Caps:
    """Running artist and family counts for one batch."""

    def __init__(self, artists: list[list], families: list[list], max_per_artist: int | None,
                 family_cap: int | None, family_caps: Mapping[str, int] | None = None):
        self.artists, self.families = artists, families
        self.max_per_artist, self.family_cap = max_per_artist, family_cap
        self.family_caps = dict(family_caps or {})
        self.artist_count: Counter = Counter()
        self.family_count: Counter = Counter()

    def fits(self, i: int) -> bool:
        if self.max_per_artist is not None and any(
                self.artist_count[a] >= self.max_per_artist for a in self.artists[i]):
            return False
        if self.family_cap is not None and any(
                self.family_count[f] >= self.family_caps.get(f, self.family_cap) for f in self.families[i]):
            return False
        return True

    def add(self, i: int) -> None:
        self.artist_count.update(set(self.artists[i]))
        self.family_count.update(self.families[i])


# -- uncertainty ----------------------------------------------------------------------------
def explore_uncertainty(pool_df: pd.DataFrame, scores: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Uncertainty in [0, 1] per pool row and a short description of where it came from."""
    n = len(pool_df)
    u = np.full(n, np.nan)
    why = [""] * n
    label_col = OUTPUT_COLUMNS["label"]
    if label_col in pool_df.columns:
        p = pd.to_numeric(pool_df[label_col], errors="coerce").to_numpy(dtype=float)
        ok = ~np.isnan(p)
        u[ok] = 1.0 - 2.0 * np.abs(np.clip(p[ok], 0, 1) - 0.5)
        for i in np.flatnonzero(ok):
            why[i] = f"most uncertain stage-2 (p={p[i]:.2f})"
    ranks = [pool_ranks(pd.to_numeric(pool_df[OUTPUT_COLUMNS[m]], errors="coerce"))
             for m in STAGE1_MODELS if OUTPUT_COLUMNS[m] in pool_df.columns]
    R = np.column_stack(ranks) if ranks else np.empty((n, 0))
    n_models = (~np.isnan(R)).sum(axis=1) if R.size else np.zeros(n, dtype=int)
    spread = np.full(n, np.nan)
    multi = n_models >= 2
    if multi.any():  # std of pool ranks across models, scaled by its maximum (0.5)
        spread[multi] = np.nanstd(R[multi], axis=1) / 0.5
    composite_rank = pool_ranks(scores)
    boundary = 1.0 - np.abs(2.0 * composite_rank - 1.0)
    for i in np.flatnonzero(np.isnan(u)):
        if n_models[i] >= 2 and not np.isnan(spread[i]):
            u[i], why[i] = min(1.0, spread[i]), "stage-1 models disagree most"
        elif not np.isnan(boundary[i]):
            u[i], why[i] = boundary[i], "nearest the decision boundary"
        else:
            u[i], why[i] = 0.0, "no uncertainty known"
    return u, why


# -- sampling ------------------------------------------------------------------------------
def inclusion_probabilities(weights: np.ndarray, k: int) -> np.ndarray:
    """``pi_i = min(1, k * w_i / sum(w))`` with iterative capping, so ``sum(pi) = k``."""
    w = np.asarray(weights, dtype=float)
    n = len(w)
    k = min(k, n)
    pi = np.zeros(n)
    if k == 0:
        return pi
    if k == n:
        return np.ones(n)
    fixed = np.zeros(n, dtype=bool)
    while True:
        k_left = k - fixed.sum()
        free_w = np.where(fixed, 0.0, w)
        pi = np.where(fixed, 1.0, k_left * free_w / free_w.sum())
        over = (pi >= 1.0) & ~fixed
        if not over.any():
            return pi
        fixed |= over


def systematic_pps(pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices drawn by randomised systematic sampling: unit i is included with probability pi_i."""
    k = int(round(pi.sum()))
    if k == 0:
        return np.array([], dtype=int)
    order = rng.permutation(len(pi))
    cum = np.cumsum(pi[order])
    targets = rng.uniform() + np.arange(k)
    pos = np.minimum(np.searchsorted(cum, targets, side="right"), len(pi) - 1)
    return order[np.unique(pos)]


# -- the batch -------------------------------------------------------------------------------
def select_batch(pool_df: pd.DataFrame, scores: Sequence[float] | np.ndarray, n_total: int = 20,
                 explore_share: float = BARE_EXPLORE_SHARE, control_share: float = BARE_CONTROL_SHARE,
                 **options) -> pd.DataFrame:
    """Choose ``n_total`` pool tracks: split by the shares (`split_sizes`), then the slices filled (`fill_slices`,
    whose ``options`` these are)."""
    return fill_slices(pool_df, scores, split_sizes(n_total, explore_share, control_share), **options)


def fill_slices(pool_df: pd.DataFrame, scores: Sequence[float] | np.ndarray, sizes: Mapping[str, int],
                max_per_artist: int | None = 2, max_family_share: float | None = 0.4,
                plausible_quantile: float = 0.5, uncertainty: Sequence[float] | np.ndarray | None = None,
                rng: np.random.Generator | int | None = None, shuffle: bool = True,
                control_from: Sequence[bool] | np.ndarray | None = None,
                family_shares: Mapping[str, float] | None = None,
                explore_scores: np.ndarray | None = None) -> pd.DataFrame:
    """Fill the slices of a batch, ``sizes`` (exploit, explore, control: decided by `split_sizes` or the settings'
    `slice_sizes`), with pool tracks under shared caps (see module docstring).

    ``scores`` is aligned with ``pool_df`` rows (NaN = never exploited, never plausible).
    ``uncertainty`` (optional, aligned, >= 0) overrides the built-in exploration uncertainty.
    ``control_from`` (optional, aligned booleans) limits the control slice to those rows, e.g. the randomly
    sampled part of a pool that also holds tracks searched in your genres, so the control stays "a random track";
    when too few of them are left (or fit the caps) the rest of the control comes from the other rows, and says so.
    ``family_shares`` (optional, family -> share of your listening) raises a family's cap to
    ``FAMILY_HEADROOM`` x its share when that is above ``max_family_share``: the cap keeps a batch from leaning on
    one family *more than you do*, not from matching your taste.
    ``explore_scores`` (optional, draws x pool rows) switches the explore slice to Thompson sampling: the picks are
    the best tracks left under the first draw of plausible rankings (e.g. ``CompositeScorer.sample_decision_function``),
    and ``choice_prob`` is the share of draws under which a track would have been picked.
    Returns one row per chosen track: ``track_id, slice, rank, score, choice_prob, reason``
    (plus ``track_name``/``artist_names`` when the pool has them), sorted by ``rank``.
    """
    gen = as_rng(rng)
    pool = pool_df.reset_index(drop=True)
    s = np.asarray(scores, dtype=float)
    if len(s) != len(pool):
        raise ValueError(f"scores has {len(s)} values but the pool has {len(pool)} rows")
    n = len(pool)
    sizes = {"exploit": int(sizes["exploit"]), "explore": int(sizes["explore"]), "control": int(sizes["control"])}
    n_total = sum(sizes.values())
    family_cap = (None if max_family_share is None or max_family_share >= 1
                  else max(1, math.floor(max_family_share * n_total + 1e-9)))
    family_caps = {} if family_cap is None else {
        f: max(family_cap, math.floor(min(1.0, FAMILY_HEADROOM * share) * n_total + 1e-9))
        for f, share in (family_shares or {}).items()}
    caps = _Caps(_artist_lists(pool), _family_lists(pool), max_per_artist, family_cap, family_caps)
    taken = np.zeros(n, dtype=bool)
    picks: list[dict] = []

    def take(i: int, slice_: str, prob: float, reason: str) -> None:
        taken[i] = True
        caps.add(i)
        picks.append({"i": i, "slice": slice_, "choice_prob": float(prob), "reason": reason})

    # exploit: best first, skipping cap breakers
    valid = ~np.isnan(s)
    order = np.flatnonzero(valid)[np.argsort(-s[valid], kind="stable")]
    n_valid = len(order)
    for pos, i in enumerate(order):
        if len(picks) >= sizes["exploit"]:
            break
        if caps.fits(i):
            pct = max(1, math.ceil(100 * (pos + 1) / n_valid))
            take(i, "exploit", 1.0, f"top {pct}% composite ({s[i]:.2f})")

    # explore, Thompson: the best of what is left under one plausible ranking drawn from the composite's posterior
    if sizes["explore"] > 0 and n_valid and explore_scores is not None:
        draws = np.atleast_2d(np.asarray(explore_scores, dtype=float))
        if draws.shape[1] != n:
            raise ValueError("explore_scores must have one column per pool row")
        k = sizes["explore"]
        left = valid & ~taken
        ranked = [np.flatnonzero(left)[np.argsort(-d[left], kind="stable")] for d in draws]
        hits = np.zeros(n)
        for r in ranked:   # how often each track is among the k best of what is left: its choice probability
            hits[r[:k]] += 1
        prob = hits / len(draws)
        got = 0
        for i in ranked[0]:
            if got >= k:
                break
            if caps.fits(i):
                pct = max(1, math.ceil(100 * (int(np.flatnonzero(order == i)[0]) + 1) / n_valid))
                take(int(i), "explore", max(prob[i], 1.0 / len(draws)),
                     f"exploration: Thompson draw (top {pct}% composite, picked in {prob[i]:.0%} of draws)")
                got += 1
    # explore: uncertainty-weighted draw among plausible tracks
    elif sizes["explore"] > 0 and n_valid:
        if uncertainty is None:
            u, why = explore_uncertainty(pool, s)
        else:
            u = np.nan_to_num(np.asarray(uncertainty, dtype=float), nan=0.0)
            if len(u) != n or (u < 0).any():
                raise ValueError("uncertainty must be non-negative and aligned with the pool")
            u = u / u.max() if u.max() > 0 else u
            why = ["most uncertain (given)"] * n
        # widen "plausible" step by step (never below the median) while the caps leave too few tracks in it,
        # e.g. when the top of a pool is all one genre family the exploit slice already filled
        quantiles = [plausible_quantile] + [q for q in np.arange(plausible_quantile - 0.1, 0.5 - 1e-9, -0.1)]
        for q_used in quantiles:
            threshold = np.quantile(s[valid], q_used)
            eligible = np.flatnonzero(valid & (s >= threshold) & ~taken)
            eligible = np.array([i for i in eligible if caps.fits(i)], dtype=int)
            if len(eligible) >= sizes["explore"]:
                break
        plausible_quantile = float(q_used)
        k = min(sizes["explore"], len(eligible))
        if k:
            w = u[eligible] ** 2 + 1e-6
            pi = inclusion_probabilities(w, k)
            drawn = eligible[systematic_pps(pi, gen)]
            pi_of = dict(zip(eligible.tolist(), pi.tolist()))
            plaus = f"among plausible (top {math.ceil(100 * (1 - plausible_quantile))}%)"
            got = 0
            for i in drawn:
                if got < k and caps.fits(i):
                    take(i, "explore", pi_of[i], f"exploration: {why[i]} {plaus}")
                    got += 1
            left = np.array([i for i in eligible if not taken[i]], dtype=int)
            while got < k and len(left):  # cap collisions inside the draw: refill by weight
                left = np.array([i for i in left if caps.fits(i)], dtype=int)
                if not len(left):
                    break
                lw = u[left] ** 2 + 1e-6
                i = int(gen.choice(left, p=lw / lw.sum()))
                take(i, "explore", pi_of[i], f"exploration: {why[i]} {plaus} (refill)")
                left = left[left != i]
                got += 1

    # control: uniform over every remaining track that fits the caps (the random sample first, when given)
    if sizes["control"] > 0:
        remaining = np.array([i for i in np.flatnonzero(~taken) if caps.fits(i)], dtype=int)
        groups = [(remaining, "")]
        if control_from is not None:
            mask = np.asarray(control_from, dtype=bool)
            if len(mask) != n:
                raise ValueError("control_from must be aligned with the pool")
            groups = [(remaining[mask[remaining]], ""),
                      (remaining[~mask[remaining]], ", topped up outside the random sample, which ran out")]
        need = sizes["control"]
        for members, note in groups:
            k = min(need, len(members))
            got = 0
            for i in gen.permutation(members):
                if got >= k:
                    break
                if caps.fits(i):
                    take(int(i), "control", k / len(members),
                         f"control: uniform random ({k} of {len(members)}{note})")
                    got += 1
            need -= got
            if need <= 0:
                break

    result = _assemble(pool, s, picks, gen, shuffle)
    result.attrs["requested"] = n_total
    result.attrs["slice_sizes"] = sizes
    result.attrs["shortfall"] = n_total - len(result)
    result.attrs["note"] = ("" if len(result) == n_total else
                            f"only {len(result)} of {n_total} tracks fit the caps and the pool")
    return result


def _assemble(pool: pd.DataFrame, s: np.ndarray, picks: list[dict], gen: np.random.Generator,
              shuffle: bool) -> pd.DataFrame:
    cols = RESULT_COLUMNS + [c for c in _PASS_THROUGH if c in pool.columns]
    if not picks:
        return pd.DataFrame(columns=cols)
    order = gen.permutation(len(picks)) if shuffle else np.arange(len(picks))
    chosen = [picks[j] for j in order]
    idx = np.array([p["i"] for p in chosen], dtype=int)
    data = {
        "track_id": pool["track_id"].to_numpy()[idx],
        "slice": [p["slice"] for p in chosen],
        "rank": np.arange(1, len(idx) + 1),
        "score": s[idx],
        "choice_prob": np.array([p["choice_prob"] for p in chosen], dtype=float),
        "reason": [p["reason"] for p in chosen],
    }
    for c in cols[len(RESULT_COLUMNS):]:
        data[c] = pool[c].to_numpy()[idx]
    return pd.DataFrame(data, columns=cols)
