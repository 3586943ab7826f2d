"""One composite score from several model outputs of different scales.

Scale: every model output is rank-transformed within the pool it was scored in, to
``u = (rank - 0.5) / m`` in (0, 1) (``m`` = tracks with a value), then mapped to
``z = logit(u)``. Ranks rather than log-odds because the outputs are not comparable
probabilities: the likeability regressor is not a probability at all, and the
stage-1 classifiers are fit on tracks the user chose to play, so their absolute
probabilities on random catalog tracks are badly calibrated while their ordering
is what carries information. The logit spreads the tails, so a track at the top
of one model is not flattened to "1.0". A missing output is neutral (z = 0, the
pool median), so absent models drop out of the sum.

Weights: with no (or too few) labels the fixed ``prior_weights`` are used,
renormalised over the outputs present. With labels, a logistic regression
``P(like) = sigmoid(b + z . w)`` is fit on the labelled tracks' features *as stored
at push time* (ranks relative to the pool they were scored in, and ``p_label``
from the stage-2 model of that week, so it is out-of-sample for the label), with an
L2 penalty pulling ``w`` toward the prior. The penalty on each weight is
``n0 * ybar * (1 - ybar) * mean(z_j^2)``: about the Fisher information of ``n0``
labelled tracks, so the data gets a share of roughly ``n / (n + n0)`` and the prior
the rest. Stage 2 (``label``) has prior weight 0: it earns weight only from labelled
tracks that carried a ``p_label`` when pushed, so it weighs more as labels accumulate.

Corrections (``corrections=True``): the same regression also learns where your labels disagree with stage 1, as
offsets on the logit: one per broad genre family (a track's share of each family) and one slope on newness. Each
starts at 0 and is pulled back to 0 with the weight of ``family_pseudo_count`` (``newness_pseudo_count``) labelled
tracks, so a family your likes and dislikes say nothing about keeps stage 1's ranking, and one you keep disliking
(a genre you played a lot but have moved on from) sinks once it has the evidence. Stage 1 is learnt from a history
that may be years old and noisy (a partner's plays, sleep playlists); the labels are what you want now.

Uncertainty: ``cov_`` is the Laplace approximation of the weights' posterior (the inverse penalised Hessian), so
``sample_decision_function`` draws plausible rankings (Thompson sampling) for the exploration slice: tracks of
families the labels have not settled get their chance in proportion to how uncertain their correction still is.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from spotify_modeling.core.featurize import FAMILIES, _map_distinct, _year_of, genre_family

#: short model name -> column of the pool frame holding its output
OUTPUT_COLUMNS: dict[str, str] = {
    "affinity": "p_affinity",
    "playlist": "p_playlist",
    "likeability": "likeability",
    "label": "p_label",
}
STAGE1_MODELS = ("affinity", "playlist", "likeability")
FEATURE_PREFIX = "z_"
DEFAULT_PRIOR_WEIGHTS: dict[str, float] = {
    "affinity": 1.0,
    "playlist": 0.5,
    "likeability": 0.5,
    "label": 0.0,
}


def pool_ranks(values: pd.Series | np.ndarray) -> np.ndarray:
    """Mid-ranks scaled to (0, 1) among non-missing values; NaN stays NaN."""
    s = pd.Series(np.asarray(values, dtype=float))
    m = int(s.notna().sum())
    if m == 0:
        return np.full(len(s), np.nan)
    return ((s.rank(method="average") - 0.5) / m).to_numpy()


def _logit(u: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(u / (1.0 - u))


def present_outputs(pool_df: pd.DataFrame) -> list[str]:
    """Model names whose output column exists in the pool with at least one value."""
    return [name for name, col in OUTPUT_COLUMNS.items()
            if col in pool_df.columns and pd.to_numeric(pool_df[col], errors="coerce").notna().any()]


def transform_outputs(pool_df: pd.DataFrame) -> pd.DataFrame:
    """Per-model ``z_<name>`` columns (rank within this pool -> logit), index of ``pool_df``.

    Store these per pushed track: they are what :meth:`CompositeScorer.fit` learns from.
    """
    out = {}
    for name in present_outputs(pool_df):
        vals = pd.to_numeric(pool_df[OUTPUT_COLUMNS[name]], errors="coerce").to_numpy(dtype=float)
        out[FEATURE_PREFIX + name] = _logit(pool_ranks(vals))
    return pd.DataFrame(out, index=pool_df.index)


#: correction features: a track's share of each broad genre family, and its newness (centred)
CORRECTION_FEATURES = [f"fam_{f}" for f in FAMILIES] + ["newness"]
#: variance of logit(U) for U uniform: the z features' mean square before any label
_Z_MEAN_SQUARE = np.pi ** 2 / 3
#: the like rate assumed for the prior's uncertainty before any label
_PRIOR_RATE = 0.3


def correction_features(df: pd.DataFrame, reference_year: int | None = None) -> pd.DataFrame:
    """Per row: the share of each broad genre family (a two-family track counts half; unknown genres: all 0) and
    newness ``exp(-age / 10) - 0.5`` (0 when the release year is unknown), as the corrections read them."""
    n = len(df)
    out = np.zeros((n, len(CORRECTION_FEATURES)))
    col = {f: j for j, f in enumerate(FAMILIES)}
    fams = df["families"] if "families" in df.columns else (
        [list(dict.fromkeys(f for g in (gs or []) for f in genre_family(g))) for gs in df["genres"]]
        if "genres" in df.columns else [[] for _ in range(n)])
    for i, fs in enumerate(fams):
        fs = [f for f in (fs if isinstance(fs, (list, tuple, np.ndarray)) else []) if f in col]
        for f in fs:
            out[i, col[f]] += 1.0 / len(fs)
    if "release_date" in df.columns and n:
        year = _map_distinct(df["release_date"], _year_of)
        ref = reference_year or pd.Timestamp.now(tz="UTC").year
        newness = np.exp(-np.clip(ref - year, 0.0, None) / 10.0) - 0.5
        out[:, -1] = np.nan_to_num(newness, nan=0.0)
    return pd.DataFrame(out, columns=CORRECTION_FEATURES, index=df.index)


def _normalised(weights: Mapping[str, float], names: list[str]) -> dict[str, float]:
    """Weights restricted to ``names`` and scaled so their absolute values sum to 1."""
    w = {n: float(weights.get(n, 0.0)) for n in names}
    total = sum(abs(v) for v in w.values())
    return {n: (v / total if total > 0 else 0.0) for n, v in w.items()}


class CompositeScorer(BaseEstimator):
    """Combine stage-1/stage-2 outputs into one ranking score (see module docstring).

    Parameters
    ----------
    prior_weights : dict or None
        Weight per model name (``affinity``, ``playlist``, ``likeability``, ``label``) used
        with no labels and as the target the learned weights shrink toward. ``None`` means
        :data:`DEFAULT_PRIOR_WEIGHTS`. Only relative sizes matter.
    n0 : float
        Pseudo-count of the prior: with ``n`` labels the data gets about ``n / (n + n0)``.
    min_labels : int
        Below this many labels (or with a single class) ``fit`` keeps the prior.
    max_iter : int
        Newton iterations for the penalised logistic regression.

    Fitted attributes: ``weights_`` (dict, abs-sum 1, for the run summary), ``coef_``,
    ``intercept_``, ``features_``, ``n_labels_``, ``learned_`` (False = prior kept),
    ``data_share_`` (``n / (n + n0)``, 0 when the prior is kept).
    """

    def __init__(self, prior_weights: Mapping[str, float] | None = None, n0: float = 30.0,
                 min_labels: int = 10, max_iter: int = 50, corrections: bool = True,
                 family_pseudo_count: float = 10.0, newness_pseudo_count: float = 30.0):
        self.prior_weights = prior_weights
        self.n0 = n0
        self.min_labels = min_labels
        self.max_iter = max_iter
        self.corrections = corrections
        self.family_pseudo_count = family_pseudo_count
        self.newness_pseudo_count = newness_pseudo_count

    # -- helpers -----------------------------------------------------------------------
    def _prior(self) -> dict[str, float]:
        prior = DEFAULT_PRIOR_WEIGHTS if self.prior_weights is None else self.prior_weights
        unknown = set(prior) - set(OUTPUT_COLUMNS)
        if unknown:
            raise ValueError(f"unknown model names in prior_weights: {sorted(unknown)}")
        return dict(prior)

    @staticmethod
    def transform_outputs(pool_df: pd.DataFrame) -> pd.DataFrame:
        """See :func:`transform_outputs`."""
        return transform_outputs(pool_df)

    # -- estimator API -------------------------------------------------------------------
    def fit(self, Z: pd.DataFrame | None = None, y=None, tracks: pd.DataFrame | None = None) -> "CompositeScorer":
        """Learn weights (and corrections) from labelled tracks; keep the prior if too few.

        ``Z``: the labelled tracks' stored ``z_*`` features; ``y``: their labels; ``tracks``: their rows (genres or
        families, release date), aligned with ``Z``, for the corrections.
        """
        prior = self._prior()
        names = [n for n in OUTPUT_COLUMNS
                 if n in prior or (Z is not None and FEATURE_PREFIX + n in Z.columns)]
        target = _normalised(prior, names)
        w0 = np.array([target[n] for n in names])
        self.features_ = names
        self.corrections_ = list(CORRECTION_FEATURES) if self.corrections else []
        c0 = np.zeros(len(self.corrections_))
        self.n_labels_ = 0 if y is None else int(len(y))
        yv = None if y is None else np.asarray(y, dtype=float)
        if (Z is None or yv is None or len(yv) < self.min_labels or len(np.unique(yv)) < 2):
            rate = _PRIOR_RATE * (1 - _PRIOR_RATE)
            lam = np.concatenate([self.n0 * rate * _Z_MEAN_SQUARE * np.ones(len(w0)), self._correction_penalty(rate)])
            self._set(np.concatenate([w0, c0]), 0.0, learned=False, cov=np.diag(1.0 / lam))
            return self
        if len(Z) != len(yv):
            raise ValueError(f"Z has {len(Z)} rows but y has {len(yv)}")
        X = np.column_stack([
            pd.to_numeric(Z[FEATURE_PREFIX + n], errors="coerce").to_numpy(dtype=float)
            if FEATURE_PREFIX + n in Z.columns else np.zeros(len(Z))
            for n in names])
        X = np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0)
        ybar = yv.mean()
        lam = self.n0 * ybar * (1 - ybar) * (X ** 2).mean(axis=0) + 1e-9
        if self.corrections_:
            C = (correction_features(tracks).to_numpy() if tracks is not None
                 else np.zeros((len(yv), len(self.corrections_))))
            if len(C) != len(yv):
                raise ValueError(f"tracks has {len(C)} rows but y has {len(yv)}")
            X = np.column_stack([X, C])
            lam = np.concatenate([lam, self._correction_penalty(ybar * (1 - ybar), C)])
        b, w, cov = self._newton(X, yv, np.concatenate([w0, c0]), lam, b0=np.log(ybar / (1 - ybar)))
        self._set(w, b, learned=True, cov=cov)
        return self

    def _correction_penalty(self, rate: float, C: np.ndarray | None = None) -> np.ndarray:
        """The pull back to 0 of each correction: the weight of its pseudo-count of labelled tracks."""
        if not self.corrections_:
            return np.zeros(0)
        fam = np.full(len(FAMILIES), self.family_pseudo_count * rate)
        spread = 0.25 ** 2 if C is None or not len(C) else max(float((C[:, -1] ** 2).mean()), 1e-3)
        return np.concatenate([fam, [self.newness_pseudo_count * rate * spread]]) + 1e-9

    def _newton(self, X, y, w0, lam, b0):
        """Minimise logloss(b + Xw) + 0.5 * sum(lam * (w - w0)^2) by damped Newton."""
        A = np.column_stack([np.ones(len(X)), X])
        theta = np.concatenate([[b0], w0])
        pen = np.concatenate([[1e-9], lam])
        target = np.concatenate([[0.0], w0])

        def loss(t):
            eta = A @ t
            return np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 * np.sum(pen * (t - target) ** 2)

        cur = loss(theta)
        for _ in range(self.max_iter):
            p = 1.0 / (1.0 + np.exp(-(A @ theta)))
            grad = A.T @ (p - y) + pen * (theta - target)
            H = (A * (p * (1 - p))[:, None]).T @ A + np.diag(pen + 1e-9)
            step = np.linalg.solve(H, grad)
            t = 1.0
            while t > 1e-6:
                cand = theta - t * step
                new = loss(cand)
                if new <= cur:
                    break
                t /= 2
            else:
                break
            theta, done = cand, cur - new < 1e-10
            cur = new
            if done:
                break
        p = 1.0 / (1.0 + np.exp(-(A @ theta)))
        H = (A * (p * (1 - p))[:, None]).T @ A + np.diag(pen + 1e-9)
        cov = np.linalg.inv(H)[1:, 1:]   # Laplace: the weights' posterior covariance (intercept left out)
        return float(theta[0]), theta[1:], cov

    def _set(self, w: np.ndarray, b: float, learned: bool, cov: np.ndarray) -> None:
        k = len(self.features_)
        self.coef_ = np.asarray(w[:k], dtype=float)
        self.correction_coef_ = np.asarray(w[k:], dtype=float)
        self.cov_ = np.asarray(cov, dtype=float)
        self.intercept_ = float(b)
        self.learned_ = learned
        self.data_share_ = self.n_labels_ / (self.n_labels_ + self.n0) if learned else 0.0
        self.weights_ = _normalised(dict(zip(self.features_, self.coef_)), self.features_)
        self.corrections_learned_ = {name: round(float(c), 4) for name, c in zip(self.corrections_,
                                                                                 self.correction_coef_) if c}

    def effective_weights(self, pool_df: pd.DataFrame) -> dict[str, float]:
        """Weights actually applied to this pool: outputs it lacks are dropped, the rest renormalised."""
        check_is_fitted(self, "coef_")
        return _normalised(dict(zip(self.features_, self.coef_)), present_outputs(pool_df))

    def _design(self, pool_df: pd.DataFrame) -> np.ndarray:
        """The pool's z features (missing: 0, the pool median) and correction features, in `coef_` order."""
        Z = transform_outputs(pool_df)
        if Z.shape[1] == 0:
            raise ValueError("the pool has none of the model outputs "
                             f"{sorted(OUTPUT_COLUMNS.values())}")
        cols = [np.nan_to_num(Z[FEATURE_PREFIX + n].to_numpy(dtype=float), nan=0.0) if FEATURE_PREFIX + n in Z
                else np.zeros(len(pool_df)) for n in self.features_]
        X = np.column_stack(cols) if cols else np.zeros((len(pool_df), 0))
        if self.corrections_:
            X = np.column_stack([X, correction_features(pool_df).to_numpy()])
        return X

    def sample_decision_function(self, pool_df: pd.DataFrame, rng: np.random.Generator,
                                 n_draws: int = 1) -> np.ndarray:
        """`n_draws` x pool scores, each under weights drawn from their posterior (Thompson sampling)."""
        check_is_fitted(self, "coef_")
        X = self._design(pool_df)
        mean = np.concatenate([self.coef_, self.correction_coef_])
        draws = rng.multivariate_normal(mean, self.cov_, size=n_draws, method="cholesky")
        return (draws @ X.T) / self._scale(pool_df)

    def _scale(self, pool_df: pd.DataFrame) -> float:
        """Abs-sum of the weights of the outputs this pool has: scores are on the scale of `effective_weights`
        (a positive factor, so the ranking is the same as the raw logit's)."""
        present = set(present_outputs(pool_df))
        total = sum(abs(c) for n, c in zip(self.features_, self.coef_) if n in present)
        return total if total > 0 else 1.0

    def decision_function(self, pool_df: pd.DataFrame) -> np.ndarray:
        """Composite score per pool row (higher = better); only the ordering is meaningful.

        Fit first: `fit()` with no labels keeps the prior weights (and no correction).
        """
        check_is_fitted(self, "coef_")
        return (self._design(pool_df) @ np.concatenate([self.coef_, self.correction_coef_])) / self._scale(pool_df)
