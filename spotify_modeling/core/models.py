"""The estimators: a TrackFeaturizer followed by LightGBM, one class per question asked.

Every model takes the raw track DataFrame and does its own encoding, so training and
scoring can never disagree about columns. All are scikit-learn estimators (`clone`-able,
picklable, `get_params`/`set_params`); fitted attributes end in `_`.

- PlaylistModel (stage 1, classifier): is the track in one of the user's playlists / saved?
- LikeabilityModel (stage 1, regressor): how much of it does the user play (target in [0, 1]).
- AffinityModel (stage 1, positive-unlabelled): played tracks vs random catalog tracks.
- LabelModel (stage 2, classifier): liked (data_1) vs disliked (data_0); small n, so heavier
  regularisation, and a capacity (leaf size, leaves, trees) that follows the number of labels.

Threads: `n_jobs=1` (default) fits and scores on one thread, which is fastest for the table
sizes this tool sees and immune to OpenMP spin-waiting on a busy laptop. `n_jobs=None` means
"auto": one thread to fit below SINGLE_THREAD_FIT_ROWS rows, every core to score.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from spotify_modeling.core.featurize import TrackFeaturizer, _as_frame, genres_unknown
from spotify_modeling.core.provenance import balance_missingness, provenance_strata

MIN_ROWS = 10  # below this no model is worth fitting; say so instead of fitting noise
# Below this many rows LightGBM trains fastest on one thread (OpenMP start-up and, on a busy
# laptop, spin-waiting cost far more than they save: measured 0.4 s vs 6-9 s on 5,000 rows).
SINGLE_THREAD_FIT_ROWS = 20_000
GENRE_POLICIES = ("auto", "as_is", "drop", "mask")
MISSING_POLICIES = ("balance", "as_is")


class _TrackModel(BaseEstimator):
    """Shared machinery: featurize, validate, fit LightGBM on the float32 matrix."""

    _is_classifier = True

    def _featurizer(self, use_genres: bool) -> TrackFeaturizer:
        return TrackFeaturizer(max_genres=self.max_genres, min_genre_count=self.min_genre_count,
                               reference_year=self.reference_year, use_genres=use_genres)

    def _min_child_samples(self, n_rows: int) -> int:
        if self.min_child_samples is not None:
            return int(self.min_child_samples)
        # Auto: about a tenth of the rows, between 3 and 20, so small data still splits.
        return int(np.clip(n_rows // 10, 3, 20))

    def _fit_threads(self, n_rows: int) -> int | None:
        if self.n_jobs is not None:
            return self.n_jobs
        return 1 if n_rows < SINGLE_THREAD_FIT_ROWS else None

    def _predict_threads(self) -> int:
        # n_jobs=None: score with every core (a pool of 100k rows is worth parallelising).
        return -1 if self.n_jobs is None else self.n_jobs

    def _lgbm_params(self, n_rows: int) -> dict[str, Any]:
        params: dict[str, Any] = dict(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self._min_child_samples(n_rows),
            subsample=self.subsample, subsample_freq=1 if self.subsample < 1.0 else 0,
            colsample_bytree=self.colsample_bytree, reg_lambda=self.reg_lambda,
            random_state=self.random_state, n_jobs=self._fit_threads(n_rows), verbose=-1,
        )
        if self._is_classifier:
            params["class_weight"] = self.class_weight
        return params

    def _check_target(self, y: Any, n_rows: int) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n_rows:
            raise ValueError(f"{type(self).__name__}: y must be 1-D with one value per track "
                             f"({n_rows} tracks, y shape {y.shape})")
        if n_rows < MIN_ROWS:
            raise ValueError(f"{type(self).__name__} needs at least {MIN_ROWS} tracks to learn "
                             f"from, got {n_rows}")
        if pd.isna(y).any():
            raise ValueError(f"{type(self).__name__}: y has missing values")
        if self._is_classifier:
            classes = np.unique(y)
            if len(classes) != 2:
                raise ValueError(f"{type(self).__name__} needs both classes in y (e.g. liked and "
                                 f"disliked tracks), got {len(classes)} class(es): {classes.tolist()}")
        return y

    def training_frame(self, X: pd.DataFrame, y: Any) -> pd.DataFrame:
        """The rows exactly as `fit` learns from them: provenance missingness balanced (`missing_policy`).

        `metrics.provenance_guard` checks this frame: its unknowns alone must not predict y.
        """
        if self.missing_policy not in MISSING_POLICIES:
            raise ValueError(f"missing_policy must be one of {MISSING_POLICIES}, got {self.missing_policy!r}")
        X = _as_frame(X)
        if not self.use_genres:
            X = X.drop(columns=["genres"], errors="ignore")   # unused: its gaps cannot leak
        if self.missing_policy == "balance":
            X = balance_missingness(X, provenance_strata(y, self._is_classifier), self.random_state)
        return X

    def _fit_matrix(self, X: pd.DataFrame, y: np.ndarray, sample_weight: Any,
                    use_genres: bool) -> None:
        self.featurizer_ = self._featurizer(use_genres).fit(X)
        matrix = self.featurizer_.transform(X)
        self.feature_names_ = [str(f) for f in self.featurizer_.get_feature_names_out()]
        self.n_train_rows_ = len(X)
        self.lgbm_params_ = self._lgbm_params(len(X))
        estimator = LGBMClassifier if self._is_classifier else LGBMRegressor
        self.model_ = estimator(**self.lgbm_params_)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.model_.fit(matrix, y, sample_weight=weights)
        self.booster_ = self.model_.booster_
        if self._is_classifier:
            self.classes_ = self.model_.classes_

    def _matrix(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.featurizer_.transform(_as_frame(X))

    def feature_importances(self) -> pd.Series:
        """Gain importance per feature, largest first (for reports, not for decisions)."""
        check_is_fitted(self, "model_")
        gains = self.booster_.feature_importance(importance_type="gain")
        return pd.Series(gains, index=self.feature_names_).sort_values(ascending=False)


class _TrackClassifier(ClassifierMixin, _TrackModel):
    _is_classifier = True

    def fit(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> "_TrackClassifier":
        X = _as_frame(X)
        y = self._check_target(y, len(X))
        self._fit_matrix(self.training_frame(X, y), y, sample_weight, use_genres=self.use_genres)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        matrix = self._matrix(X)   # first: NotFittedError before fit, not an AttributeError
        return self.model_.predict_proba(matrix, num_threads=self._predict_threads())

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class PlaylistModel(_TrackClassifier):
    """Stage 1: probability that a track belongs in the user's own playlists or saved tracks.

    `min_child_samples=None` scales the leaf size with the rows (a tenth, 3 to 20): 20 on a history of thousands of
    tracks, as before; a small history (or a few labels) still gets splits instead of a constant.
    """

    def __init__(self, n_estimators: int = 250, learning_rate: float = 0.05, num_leaves: int = 15,
                 min_child_samples: int | None = None, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0,
                 class_weight: str | dict | None = "balanced", use_genres: bool = True,
                 max_genres: int = 40, min_genre_count: int = 5, reference_year: int | None = None,
                 missing_policy: str = "balance", random_state: int | None = 0, n_jobs: int | None = 1):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.class_weight = class_weight
        self.use_genres = use_genres
        self.max_genres = max_genres
        self.min_genre_count = min_genre_count
        self.reference_year = reference_year
        self.missing_policy = missing_policy
        self.random_state = random_state
        self.n_jobs = n_jobs


def label_capacity(n_rows: int) -> dict[str, int]:
    """LabelModel's auto capacity for `n_rows` training labels: {"n_estimators", "num_leaves"}.

    Up to 2,000 labels it keeps the small-data setting (120 trees of 7 leaves; with the leaf size, a tenth of the
    rows up to 20, and the strong L2). Past that the leaves grow with the labels (7 per 2,000: 14 at 4,000, LightGBM's
    default 31 from about 8,700), and past 8,000 the trees too (120 per 8,000, at most 360). Measured in
    docs/quality.md ("Real data"; `benchmarks/models.py --tasks large`): below 2,000 labels more capacity cost about
    as much ROC AUC on some tasks as it gained on others; at 8,000-16,000 labels it gained 0.005-0.015, and without
    it a default LightGBM on the same features overtook the fixed 120 x 7 setting by 20,000.
    """
    n = max(int(n_rows), 0)
    return {"n_estimators": int(np.clip(round(120 * n / 8000), 120, 360)),
            "num_leaves": int(np.clip(round(7 * n / 2000), 7, 31))}


class LabelModel(_TrackClassifier):
    """Stage 2: probability the user will drag a track into data_1 (like) rather than data_0.

    Labels are often few (20-200) but can reach thousands, so the capacity follows the number of labels: with
    `n_estimators`, `num_leaves` and `min_child_samples` left at None, `fit` picks them from the rows it learns
    from (`label_capacity`; leaf size a tenth of the rows, 3 to 20), with a low learning rate and strong L2 at
    every size. Explicit values override the schedule. The values used are in `n_estimators_`, `num_leaves_`,
    `min_child_samples_` (and with everything else in `lgbm_params_`).

    `sample_weight` (non-negative, one per track) weighs labels; a track of weight 0 is left out altogether (as
    if it had not been passed: it takes no part in the featurizer, the missingness balance, the binning or the
    row count the capacity follows).
    """

    def __init__(self, n_estimators: int | None = None, learning_rate: float = 0.05, num_leaves: int | None = None,
                 min_child_samples: int | None = None, subsample: float = 0.8,
                 colsample_bytree: float = 0.7, reg_lambda: float = 5.0,
                 class_weight: str | dict | None = "balanced", use_genres: bool = True,
                 max_genres: int = 15, min_genre_count: int = 3, reference_year: int | None = None,
                 missing_policy: str = "balance", random_state: int | None = 0, n_jobs: int | None = 1):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.class_weight = class_weight
        self.use_genres = use_genres
        self.max_genres = max_genres
        self.min_genre_count = min_genre_count
        self.reference_year = reference_year
        self.missing_policy = missing_policy
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _lgbm_params(self, n_rows: int) -> dict[str, Any]:
        params = super()._lgbm_params(n_rows)
        auto = label_capacity(n_rows)
        for name in ("n_estimators", "num_leaves"):
            value = getattr(self, name)
            params[name] = auto[name] if value is None else int(value)
        return params

    def fit(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> "LabelModel":
        X = _as_frame(X)
        y = self._check_target(y, len(X))
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=float)
            if weights.shape != (len(X),):
                raise ValueError(f"LabelModel: sample_weight must be 1-D with one weight per track "
                                 f"({len(X)} tracks, sample_weight shape {weights.shape})")
            if not np.isfinite(weights).all() or (weights < 0).any():
                raise ValueError("LabelModel: sample_weight must be finite and non-negative")
            keep = weights > 0
            if not keep.all():   # weight 0: as if the track had not been passed at all
                X, y, weights = X.iloc[np.flatnonzero(keep)], y[keep], weights[keep]
                try:
                    y = self._check_target(y, len(X))
                except ValueError as err:
                    raise ValueError(f"{err} (after leaving out the {int((~keep).sum())} tracks of weight 0)") from None
            sample_weight = weights
        super().fit(X, y, sample_weight=sample_weight)
        self.n_estimators_ = int(self.lgbm_params_["n_estimators"])
        self.num_leaves_ = int(self.lgbm_params_["num_leaves"])
        self.min_child_samples_ = int(self.lgbm_params_["min_child_samples"])
        return self


def genre_unknown_rates(X: pd.DataFrame, y: Any) -> tuple[float, float]:
    """Share of rows with unknown genres among positives (y == max label) and among negatives."""
    X = _as_frame(X)
    y = np.asarray(y)
    unknown = genres_unknown(X)
    pos = y == np.max(y)
    rate = lambda mask: float(unknown[mask].mean()) if mask.any() else float("nan")  # noqa: E731
    return rate(pos), rate(~pos)


def mask_genres_to_match(X: pd.DataFrame, y: Any, random_state: int | None = 0) -> pd.DataFrame:
    """Hide genres on a random share of the better-described class so both classes lack genres equally.

    Without this, "genres unknown" alone can tell played tracks (looked up long ago) from random
    catalog tracks (often not looked up yet): the model would learn the bookkeeping, not the taste.
    Returns a copy; the input is not changed.
    """
    X = _as_frame(X).copy()
    y = np.asarray(y)
    if "genres" not in X.columns:
        return X
    unknown = genres_unknown(X)
    pos = y == np.max(y)
    groups = [pos, ~pos]
    rates = [unknown[g].mean() if g.any() else 0.0 for g in groups]
    better = 0 if rates[0] < rates[1] else 1
    target = max(rates)
    members = np.flatnonzero(groups[better] & ~unknown)
    n_total = int(groups[better].sum())
    n_hide = int(round(target * n_total)) - int(unknown[groups[better]].sum())
    if n_hide <= 0 or not len(members):
        return X
    rng = np.random.default_rng(random_state)
    hide = rng.choice(members, size=min(n_hide, len(members)), replace=False)
    col = X["genres"].to_numpy(dtype=object, na_value=None).copy()
    col[hide] = None
    X["genres"] = col
    return X


class AffinityModel(_TrackClassifier):
    """Stage 1, positive-unlabelled: does a track resemble what the user plays at all?

    Fit on played tracks (y=1) against random catalog tracks (y=0). Both sides must be described
    the same way, or the model learns where the data came from instead of taste. `genre_policy`:

    - "auto" (default): if the genres-unknown rate differs between the classes by more than
      `genre_imbalance_threshold`, train genre-free; otherwise use genres as they are.
    - "as_is": use genres as given.  - "drop": never use genres.
    - "mask": hide genres on random rows of the better-described class until both classes
      lack genres equally often (see `mask_genres_to_match`).

    `genres_used_` records whether the fitted model looks at genres; `genre_unknown_rates_`
    holds (positives, negatives) rates seen at fit.
    """

    def __init__(self, n_estimators: int = 250, learning_rate: float = 0.05, num_leaves: int = 15,
                 min_child_samples: int | None = 20, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0,
                 class_weight: str | dict | None = "balanced", use_genres: bool = True,
                 genre_policy: str = "auto", genre_imbalance_threshold: float = 0.2,
                 max_genres: int = 40, min_genre_count: int = 5, reference_year: int | None = None,
                 missing_policy: str = "balance", random_state: int | None = 0, n_jobs: int | None = 1):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.class_weight = class_weight
        self.use_genres = use_genres
        self.genre_policy = genre_policy
        self.genre_imbalance_threshold = genre_imbalance_threshold
        self.max_genres = max_genres
        self.min_genre_count = min_genre_count
        self.reference_year = reference_year
        self.missing_policy = missing_policy
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _uses_genres(self, X: pd.DataFrame, y: np.ndarray) -> tuple[bool, tuple[float, float]]:
        if self.genre_policy not in GENRE_POLICIES:
            raise ValueError(f"genre_policy must be one of {GENRE_POLICIES}, got {self.genre_policy!r}")
        rates = genre_unknown_rates(X, y)
        use = bool(self.use_genres) and self.genre_policy != "drop"
        if use and self.genre_policy == "auto" and abs(rates[0] - rates[1]) > self.genre_imbalance_threshold:
            use = False
        return use, rates

    def training_frame(self, X: pd.DataFrame, y: Any) -> pd.DataFrame:
        """The genre policy first (genres dropped or masked), then the provenance balance of every model."""
        X = _as_frame(X)
        y = np.asarray(y)
        use, _ = self._uses_genres(X, y)
        if not use:
            X = X.drop(columns=["genres"], errors="ignore")
        elif self.genre_policy == "mask":
            X = mask_genres_to_match(X, y, random_state=self.random_state)
        return super().training_frame(X, y)

    def fit(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> "AffinityModel":
        X = _as_frame(X)
        y = self._check_target(y, len(X))
        self.genres_used_, self.genre_unknown_rates_ = self._uses_genres(X, y)
        self._fit_matrix(self.training_frame(X, y), y, sample_weight, use_genres=self.genres_used_)
        return self


class LikeabilityModel(RegressorMixin, _TrackModel):
    """Stage 1 regressor: predicted share of full listens (log-scaled play target in [0, 1]).

    Fit on the likeability target only (never the playlist target). Predictions are clipped to [0, 1].
    """

    _is_classifier = False

    def __init__(self, n_estimators: int = 250, learning_rate: float = 0.05, num_leaves: int = 15,
                 min_child_samples: int | None = None, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0, use_genres: bool = True,
                 max_genres: int = 40, min_genre_count: int = 5, reference_year: int | None = None,
                 missing_policy: str = "balance", random_state: int | None = 0, n_jobs: int | None = 1):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.use_genres = use_genres
        self.max_genres = max_genres
        self.min_genre_count = min_genre_count
        self.reference_year = reference_year
        self.missing_policy = missing_policy
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> "LikeabilityModel":
        X = _as_frame(X)
        y = self._check_target(y, len(X)).astype(float)
        if (y < 0).any() or (y > 1).any():
            raise ValueError("LikeabilityModel expects a target scaled to [0, 1] "
                             f"(got values from {y.min():.3g} to {y.max():.3g})")
        if np.ptp(y) == 0:
            raise ValueError("LikeabilityModel: the target is the same for every track; nothing to learn")
        self._fit_matrix(self.training_frame(X, y), y, sample_weight, use_genres=self.use_genres)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        matrix = self._matrix(X)   # first: NotFittedError before fit, not an AttributeError
        raw = self.model_.predict(matrix, num_threads=self._predict_threads())
        return np.clip(raw, 0.0, 1.0)


__all__ = ["PlaylistModel", "LikeabilityModel", "AffinityModel", "LabelModel", "label_capacity", "genre_unknown_rates", "mask_genres_to_match", "MIN_ROWS", "GENRE_POLICIES",
           "MISSING_POLICIES"]
