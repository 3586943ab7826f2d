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
offsets on the logit: one per broad genre family (a track's share of each family), one per fine genre that at least
``genre_min_count`` labelled tracks carry (``extra_corrections``: "genre"; "audio" and "artist" slopes are opt-in),
and one slope on newness. Each starts at 0 and is pulled back to 0 with the weight of ``family_pseudo_count``
(``genre_pseudo_count``, ``newness_pseudo_count``) labelled tracks, so a family your likes and dislikes say nothing about keeps stage 1's ranking, and one you keep disliking
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


#: correction groups: a track's share of each broad genre family, its newness (centred), and the opt-in ones
CORRECTION_FEATURES = [f"fam_{f}" for f in FAMILIES] + ["newness"]
#: audio features as the corrections read them: (centre, scale), so each is about unit-sized
AUDIO_SCALES = {"danceability": (0.55, 0.2), "energy": (0.6, 0.25), "valence": (0.45, 0.25),
                "acousticness": (0.3, 0.3), "instrumentalness": (0.15, 0.3), "speechiness": (0.1, 0.1),
                "tempo": (120.0, 30.0), "loudness": (-8.0, 4.0)}
EXTRA_GROUPS = ("audio", "artist", "genre", "source", "liked_artist")
#: the pool sources the "source" corrections give an offset each (relative to random search: see `selection.sources`)
SOURCE_OFFSETS = ("genre", "artist", "liked_genre", "reccobeats")
#: variance of logit(U) for U uniform: the z features' mean square before any label
_Z_MEAN_SQUARE = np.pi ** 2 / 3
#: the like rate assumed for the prior's uncertainty before any label
_PRIOR_RATE = 0.3


def _families_of(df: pd.DataFrame) -> list:
    if "families" in df.columns:
        return list(df["families"])
    if "genres" in df.columns:
        return [list(dict.fromkeys(f for g in (gs or []) for f in genre_family(g))) for gs in df["genres"]]
    return [[] for _ in range(len(df))]


def correction_features(df: pd.DataFrame, extra: tuple[str, ...] = (), genres: list[str] | None = None,
                        reference_year: int | None = None) -> pd.DataFrame:
    """Per row: the share of each broad genre family (a two-family track counts half; unknown genres: all 0) and
    newness ``exp(-age / 10) - 0.5`` (0 when the release year is unknown), as the corrections read them; with
    `extra`, the audio features (centred and scaled, 0 when unknown), how much you play the artist
    (`artist_plays`), one indicator per fine genre in `genres`, and one per pool source the track came from
    (`source`: your genres, a liked artist, a liked genre, ReccoBeats; random search is the baseline), and what your
    labels said of the track's artist before it was offered (`artist_evidence`: likes minus dislikes, -3 to 3;
    `liked_artist`)."""
    n = len(df)
    cols = list(CORRECTION_FEATURES)
    out = np.zeros((n, len(cols)))
    col = {f: j for j, f in enumerate(FAMILIES)}
    for i, fs in enumerate(_families_of(df)):
        fs = [f for f in (fs if isinstance(fs, (list, tuple, np.ndarray)) else []) if f in col]
        for f in fs:
            out[i, col[f]] += 1.0 / len(fs)
    if "release_date" in df.columns and n:
        year = _map_distinct(df["release_date"], _year_of)
        ref = reference_year or pd.Timestamp.now(tz="UTC").year
        newness = np.exp(-np.clip(ref - year, 0.0, None) / 10.0) - 0.5
        out[:, len(FAMILIES)] = np.nan_to_num(newness, nan=0.0)
    parts = [out]
    if "audio" in extra:
        cols += [f"audio_{a}" for a in AUDIO_SCALES]
        parts.append(np.column_stack([
            np.nan_to_num((pd.to_numeric(df[a], errors="coerce").to_numpy(float) - c) / sc, nan=0.0)
            if a in df.columns else np.zeros(n) for a, (c, sc) in AUDIO_SCALES.items()]))
    if "artist" in extra:
        cols.append("artist_plays")
        plays = (pd.to_numeric(df["artist_plays"], errors="coerce").to_numpy(float) if "artist_plays" in df.columns
                 else np.zeros(n))
        parts.append(np.nan_to_num(plays / 3.0, nan=0.0)[:, None])
    if "genre" in extra and genres:
        cols += [f"genre:{g}" for g in genres]
        index = {g: j for j, g in enumerate(genres)}
        G = np.zeros((n, len(genres)))
        for i, gs in enumerate(df["genres"] if "genres" in df.columns else [None] * n):
            for g in gs or []:
                if g in index:
                    G[i, index[g]] = 1.0
        parts.append(G)
    if "liked_artist" in extra:
        cols.append("liked_artist")
        ev = (pd.to_numeric(df["artist_evidence"], errors="coerce").to_numpy(float) if "artist_evidence" in df.columns
              else np.zeros(n))
        parts.append(np.clip(np.nan_to_num(ev, nan=0.0), -3.0, 3.0)[:, None])
    if "source" in extra:
        cols += [f"source:{s}" for s in SOURCE_OFFSETS]
        src = df["source"].to_numpy(dtype=object) if "source" in df.columns else np.array([None] * n, dtype=object)
        parts.append(np.column_stack([(src == s).astype(float) for s in SOURCE_OFFSETS]))
    return pd.DataFrame(np.column_stack(parts), columns=cols, index=df.index)


def frequent_genres(df: pd.DataFrame, min_count: int) -> list[str]:
    """Fine genres carried by at least `min_count` rows, most frequent first."""
    counts: dict[str, int] = {}
    for gs in df["genres"] if "genres" in df.columns else []:
        for g in dict.fromkeys(gs or []):
            counts[g] = counts.get(g, 0) + 1
    return [g for g, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]


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
                 family_pseudo_count: float = 10.0, newness_pseudo_count: float = 30.0,
                 extra_corrections: tuple[str, ...] = ("genre",),
                 extra_pseudo_count: float = 30.0,
                 genre_min_count: int = 5, genre_pseudo_count: float = 5.0, source_pseudo_count: float = 10.0):
        self.prior_weights = prior_weights
        self.n0 = n0
        self.min_labels = min_labels
        self.max_iter = max_iter
        self.corrections = corrections
        self.family_pseudo_count = family_pseudo_count
        self.newness_pseudo_count = newness_pseudo_count
        self.extra_corrections = extra_corrections
        self.extra_pseudo_count = extra_pseudo_count
        self.genre_min_count = genre_min_count
        self.genre_pseudo_count = genre_pseudo_count
        self.source_pseudo_count = source_pseudo_count

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
    def fit(self, Z: pd.DataFrame | None = None, y=None, tracks: pd.DataFrame | None = None,
            sample_weight=None) -> "CompositeScorer":
        """Learn weights (and corrections) from labelled tracks; keep the prior if too few.

        ``Z``: the labelled tracks' stored ``z_*`` features; ``y``: their labels; ``tracks``: their rows (genres or
        families, release date, pool source), aligned with ``Z``, for the corrections; ``sample_weight``: how much
        each label counts (a removal from data_candidates is a weaker dislike).
        """
        prior = self._prior()
        names = [n for n in OUTPUT_COLUMNS
                 if n in prior or (Z is not None and FEATURE_PREFIX + n in Z.columns)]
        target = _normalised(prior, names)
        w0 = np.array([target[n] for n in names])
        self.features_ = names
        unknown = set(self.extra_corrections) - set(EXTRA_GROUPS)
        if unknown:
            raise ValueError(f"unknown correction groups {sorted(unknown)}; choose from {EXTRA_GROUPS}")
        self.genres_ = (frequent_genres(tracks, self.genre_min_count)
                        if self.corrections and "genre" in self.extra_corrections and tracks is not None else [])
        self.corrections_ = (list(correction_features(pd.DataFrame({"genres": [None]}), self.extra_corrections,
                                                      self.genres_).columns) if self.corrections else [])
        c0 = np.zeros(len(self.corrections_))
        self.n_labels_ = 0 if y is None else int(len(y))
        yv = None if y is None else np.asarray(y, dtype=float)
        if (Z is None or yv is None or len(yv) < self.min_labels or len(np.unique(yv)) < 2):
            rate = _PRIOR_RATE * (1 - _PRIOR_RATE)
            lam = np.concatenate([self.n0 * rate * _Z_MEAN_SQUARE * np.ones(len(w0)), self._correction_penalty(rate)])
            self._set(np.concatenate([w0, c0]), 0.0, learned=False, cov=np.diag(np.concatenate([[1e-9], 1.0 / lam])))
            return self
        if len(Z) != len(yv):
            raise ValueError(f"Z has {len(Z)} rows but y has {len(yv)}")
        X = np.column_stack([
            pd.to_numeric(Z[FEATURE_PREFIX + n], errors="coerce").to_numpy(dtype=float)
            if FEATURE_PREFIX + n in Z.columns else np.zeros(len(Z))
            for n in names])
        X = np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0)
        sw = np.ones(len(yv)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if len(sw) != len(yv):
            raise ValueError(f"sample_weight has {len(sw)} values but y has {len(yv)}")
        ybar = float(np.clip((sw * yv).sum() / max(sw.sum(), 1e-9), 1e-3, 1 - 1e-3))
        lam = self.n0 * ybar * (1 - ybar) * (X ** 2).mean(axis=0) + 1e-9
        if self.corrections_:
            C = (self._corrections_of(tracks) if tracks is not None
                 else np.zeros((len(yv), len(self.corrections_))))
            if len(C) != len(yv):
                raise ValueError(f"tracks has {len(C)} rows but y has {len(yv)}")
            X = np.column_stack([X, C])
            lam = np.concatenate([lam, self._correction_penalty(ybar * (1 - ybar), C)])
        b, w, cov = self._newton(X, yv, np.concatenate([w0, c0]), lam, b0=np.log(ybar / (1 - ybar)), sw=sw)
        self._set(w, b, learned=True, cov=cov)
        return self

    def _corrections_of(self, df: pd.DataFrame) -> np.ndarray:
        return correction_features(df, self.extra_corrections, self.genres_).to_numpy()

    def _correction_penalty(self, rate: float, C: np.ndarray | None = None) -> np.ndarray:
        """The pull back to 0 of each correction: the weight of its pseudo-count of labelled tracks (times the
        feature's mean square for the continuous ones, so the pseudo-count means the same at any scale)."""
        if not self.corrections_:
            return np.zeros(0)
        pen = []
        for j, name in enumerate(self.corrections_):
            if name.startswith(("fam_", "genre:", "source:")):
                k = (self.family_pseudo_count if name.startswith("fam_") else self.genre_pseudo_count
                     if name.startswith("genre:") else self.source_pseudo_count)
                pen.append(k * rate)
                continue
            k = (self.newness_pseudo_count if name == "newness" else self.source_pseudo_count
                 if name == "liked_artist" else self.extra_pseudo_count)
            default = 0.25 ** 2 if name == "newness" else 1.0
            square = default if C is None or not len(C) else max(float((C[:, j] ** 2).mean()), 1e-3)
            pen.append(k * rate * square)
        return np.asarray(pen) + 1e-9

    def _newton(self, X, y, w0, lam, b0, sw=None):
        """Minimise weighted logloss(b + Xw) + 0.5 * sum(lam * (w - w0)^2) by damped Newton."""
        sw = np.ones(len(X)) if sw is None else sw
        A = np.column_stack([np.ones(len(X)), X])
        theta = np.concatenate([[b0], w0])
        pen = np.concatenate([[1e-9], lam])
        target = np.concatenate([[0.0], w0])

        def loss(t):
            eta = A @ t
            return np.sum(sw * (np.logaddexp(0, eta) - y * eta)) + 0.5 * np.sum(pen * (t - target) ** 2)

        cur = loss(theta)
        for _ in range(self.max_iter):
            p = 1.0 / (1.0 + np.exp(-(A @ theta)))
            grad = A.T @ (sw * (p - y)) + pen * (theta - target)
            H = (A * (sw * p * (1 - p))[:, None]).T @ A + np.diag(pen + 1e-9)
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
        H = (A * (sw * p * (1 - p))[:, None]).T @ A + np.diag(pen + 1e-9)
        cov = np.linalg.inv(H)   # Laplace: the posterior covariance of (intercept, weights)
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
            X = np.column_stack([X, self._corrections_of(pool_df)])
        return X

    def sample_decision_function(self, pool_df: pd.DataFrame, rng: np.random.Generator,
                                 n_draws: int = 1) -> np.ndarray:
        """`n_draws` x pool scores, each under weights drawn from their posterior (Thompson sampling)."""
        check_is_fitted(self, "coef_")
        X = self._design(pool_df)
        # the intercept is drawn too: family offsets of tracks that all carry some family trade off against it, so
        # only intercept + offset is settled by the labels (the intercept itself moves every track alike)
        mean = np.concatenate([[self.intercept_], self.coef_, self.correction_coef_])
        draws = rng.multivariate_normal(mean, self.cov_, size=n_draws, method="cholesky")
        return (draws[:, :1] + draws[:, 1:] @ X.T - self.intercept_) / self._scale(pool_df)

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
