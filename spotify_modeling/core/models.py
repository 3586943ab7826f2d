"""The estimators: a TrackFeaturizer followed by LightGBM, one class per question asked.

Every model takes the raw track DataFrame and does its own encoding, so training and
scoring can never disagree about columns. All are scikit-learn estimators (`clone`-able,
picklable, `get_params`/`set_params`, `NotFittedError` before `fit`); fitted attributes end in `_`.

- PlaylistModel (stage 1, classifier): is the track in one of the user's playlists / saved?
- LikeabilityModel (stage 1, regressor): how much of it does the user play (target in [0, 1]).
- AffinityModel (stage 1, positive-unlabelled): played tracks vs random catalog tracks.
- LabelModel (stage 2, classifier): liked (data_1) vs disliked (data_0); small n, so heavier
  regularisation, and a capacity (leaf size, leaves, trees) that follows the number of labels.

Input contract (declared in `__sklearn_tags__`; `tests/test_estimator_checks.py` runs scikit-learn's checks):

- X is a DataFrame of tracks (or a dict of columns, a list of track dicts): one row per track, columns read by
  name (`TrackFeaturizer`), NaN meaning "unknown". Scoring reads columns by name too, so a pool table may have other
  columns than the training table. `n_features_in_` and `feature_names_in_` record the training table's columns; a
  2-D array given to `predict` of such a model is read as rows of those columns, in that order.
- A 2-D numeric array (or a table without column names) is taken as ready-made features: its columns go to
  LightGBM as they are (named x0, x1, ...; NaN allowed, inf and sparse refused); `predict` wants the same width.
- y: one value per track; the classifiers are binary (both classes needed, labels may be strings; the positive
  class is the largest label), LikeabilityModel's target lies in [0, 1]. `sample_weight`: one per track, finite,
  non-negative, not all zero, and some weight in each class. At least MIN_ROWS rows.

Threads: `n_jobs=1` (default) fits and scores on one thread, which is fastest for the table
sizes this tool sees and immune to OpenMP spin-waiting on a busy laptop. `n_jobs=None` means
"auto": one thread to fit below SINGLE_THREAD_FIT_ROWS rows, every core to score.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, LGBMRegressor
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, check_is_fitted

from spotify_modeling.core.featurize import TrackFeaturizer, _as_frame, genres_unknown
from spotify_modeling.core.provenance import balance_missingness, provenance_strata

MIN_ROWS = 10  # below this no model is worth fitting; say so instead of fitting noise
# Below this many rows LightGBM trains fastest on one thread (OpenMP start-up and, on a busy
# laptop, spin-waiting cost far more than they save: measured 0.4 s vs 6-9 s on 5,000 rows).
SINGLE_THREAD_FIT_ROWS = 20_000
GENRE_POLICIES = ("auto", "as_is", "drop", "mask")
MISSING_POLICIES = ("balance", "as_is")

#: The parameters of every track model, in signature order, with PlaylistModel's defaults; each class's `__init__`
#: is made from these by `_track_init`, stating only where its defaults or parameters differ.
TRACK_PARAMETERS: dict[str, Any] = dict(
    n_estimators=250, learning_rate=0.05, num_leaves=15, min_child_samples=None, subsample=0.8,
    colsample_bytree=0.8, reg_lambda=1.0, class_weight="balanced", use_genres=True, max_genres=40,
    min_genre_count=5, reference_year=None, missing_policy="balance", random_state=0, n_jobs=1)
_ANNOTATIONS: dict[str, str] = dict(
    n_estimators="int | None", learning_rate="float", num_leaves="int | None", min_child_samples="int | None",
    subsample="float", colsample_bytree="float", reg_lambda="float", class_weight="str | dict | None",
    use_genres="bool", genre_policy="str", genre_imbalance_threshold="float", max_genres="int",
    min_genre_count="int", reference_year="int | None", missing_policy="str", random_state="int | None",
    n_jobs="int | None")


def _track_init(parameters: dict[str, Any]) -> Callable[..., None]:
    """An `__init__` whose signature is `parameters` (these names, in this order, with these defaults) and which
    stores each argument unchanged under its own name, as scikit-learn requires (no validation, no logic).

    The one definition behind the four models' `__init__`. Its signature is a real one (`__signature__`):
    `inspect.signature`, and so `get_params`, `clone`, `repr` and `help()`, see each class's own parameters and
    defaults, and positional calls bind in signature order; an unknown keyword is a TypeError.
    """
    P = inspect.Parameter
    signature = inspect.Signature(
        [P("self", P.POSITIONAL_OR_KEYWORD)]
        + [P(name, P.POSITIONAL_OR_KEYWORD, default=default, annotation=_ANNOTATIONS[name])
           for name, default in parameters.items()],
        return_annotation="None")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    return __init__


def _insert_after(parameters: dict[str, Any], key: str, **new: Any) -> dict[str, Any]:
    """`parameters` with `new` placed right after `key`, in signature order."""
    items = list(parameters.items())
    at = list(parameters).index(key) + 1
    return dict(items[:at] + list(new.items()) + items[at:])


# scikit-learn 1.6 renamed check_array's `force_all_finite` to `ensure_all_finite` (the old name is gone since 1.8).
_FINITE = "ensure_all_finite" if "ensure_all_finite" in inspect.signature(check_array).parameters \
    else "force_all_finite"


def _track_table(X: Any) -> pd.DataFrame | None:
    """X as a table of tracks (what `featurize._as_frame` reads: a DataFrame, a dict of columns, a list of rows), or
    None when X is a numeric array instead: anything else, a sparse matrix, or a table none of whose columns has a
    name (a string), which no track column could be read from."""
    if sparse.issparse(X) or not isinstance(X, (pd.DataFrame, list, dict)):   # (scipy's dok_matrix is a dict)
        return None
    frame = _as_frame(X)
    if len(frame.columns) and not any(isinstance(c, str) for c in frame.columns):
        return None
    return frame


def _positives(y: np.ndarray) -> np.ndarray:
    """True where y is the positive class: the largest label (sorted as np.unique does, so strings work too)."""
    return y == np.unique(y)[-1]


def _numeric_array(X: Any) -> np.ndarray:
    """X as a 2-D numeric array of ready-made features: NaN allowed (unknown), inf, sparse and 1-D refused."""
    return check_array(X, accept_sparse=False, dtype="numeric", **{_FINITE: "allow-nan"})


class _ArrayColumns(BaseEstimator):
    """The featurizer of a model fitted on a numeric array: its columns as they are, named x0, x1, ..."""

    def fit(self, X: Any, y: Any = None) -> "_ArrayColumns":
        self.feature_names_out_ = np.array([f"x{i}" for i in range(X.shape[1])], dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self.feature_names_out_.copy()


class _TrackModel(BaseEstimator):
    """Shared machinery: featurize, validate, fit LightGBM on the float32 matrix."""

    _is_classifier = True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # No tag says "a DataFrame of tracks with named columns" (the product's input); a 2-D numeric array is
        # accepted too (its columns used as features), so the array checks run. Unknown is NaN; sparse is refused.
        tags.input_tags.two_d_array = True
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = False
        return tags

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

    def _fit_rows(self, X: Any) -> tuple[pd.DataFrame, bool]:
        """The rows to learn from as a DataFrame, and whether they came as a numeric array (then named x0, x1, ...).

        Records `n_features_in_`, and `feature_names_in_` when the columns have names (strings).
        """
        self.__dict__.pop("feature_names_in_", None)
        frame = _track_table(X)
        if frame is not None:
            self.n_features_in_ = frame.shape[1]
            names = list(frame.columns)
            if names and all(isinstance(c, str) for c in names):
                self.feature_names_in_ = np.asarray(names, dtype=object)
            return frame, False
        values = _numeric_array(X)
        self.n_features_in_ = values.shape[1]
        return pd.DataFrame(values, columns=[f"x{i}" for i in range(values.shape[1])]), True

    def _check_target(self, y: Any, n_rows: int) -> np.ndarray:
        name = type(self).__name__
        if y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1 and len(y) == n_rows:
            warnings.warn(f"A column-vector y was passed when a 1d array was expected ({name} reads it as one "
                          "value per track)", DataConversionWarning, stacklevel=3)
            y = y.ravel()
        if y.ndim != 1 or len(y) != n_rows:
            raise ValueError(f"{type(self).__name__}: y must be 1-D with one value per track "
                             f"({n_rows} tracks, y shape {y.shape})")
        if n_rows < MIN_ROWS:
            raise ValueError(f"{type(self).__name__} needs at least {MIN_ROWS} tracks to learn "
                             f"from, got {n_rows}")
        if pd.isna(y).any():
            raise ValueError(f"{type(self).__name__}: y has missing values")
        if y.dtype.kind in "fc" and np.isinf(y).any():
            raise ValueError(f"{name}: y has infinite values")
        if self._is_classifier:
            if type_of_target(y) == "continuous":
                raise ValueError(f"Unknown label type: continuous. {name} is a classifier: y must be class labels "
                                 "(e.g. 1 liked, 0 disliked), not a continuous target")
            classes = np.unique(y)
            if len(classes) != 2:
                binary = "Only binary classification is supported. " if len(classes) > 2 else ""
                raise ValueError(f"{binary}{type(self).__name__} needs both classes in y (e.g. liked and "
                                 f"disliked tracks), got {len(classes)} class(es): {classes.tolist()}")
        return y

    def _check_weights(self, sample_weight: Any, y: np.ndarray) -> np.ndarray | None:
        """sample_weight as floats: one per track, finite, non-negative, not all zero, some weight in each class."""
        if sample_weight is None:
            return None
        name = type(self).__name__
        weights = np.asarray(sample_weight, dtype=float)
        if weights.shape != (len(y),):
            raise ValueError(f"{name}: sample_weight must be 1-D with one weight per track "
                             f"({len(y)} tracks, sample_weight shape {weights.shape})")
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError(f"{name}: sample_weight must be finite and non-negative")
        if not weights.any():
            raise ValueError(f"{name}: sample_weight is zero for every track; nothing to learn from")
        if self._is_classifier:
            for label in np.unique(y):
                if not weights[y == label].any():
                    raise ValueError(f"{name} needs both classes in y with some weight: every track of class "
                                     f"{label!r} has sample_weight 0")
        return weights

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
            strata = provenance_strata(_positives(np.asarray(y)).astype(int) if self._is_classifier else y,
                                       self._is_classifier)   # the classes as 0/1: labels may be strings
            X = balance_missingness(X, strata, self.random_state)
        return X

    def _fit_matrix(self, X: pd.DataFrame, y: np.ndarray, sample_weight: Any,
                    use_genres: bool, from_array: bool = False) -> None:
        self.featurizer_ = (_ArrayColumns() if from_array else self._featurizer(use_genres)).fit(X)
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
        if isinstance(self.featurizer_, _ArrayColumns):   # fitted on a numeric array: the same columns again
            values = _numeric_array(X)
            if values.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {values.shape[1]} features, but {type(self).__name__} is expecting "
                                 f"{self.n_features_in_} features as input")
            return self.featurizer_.transform(values)
        frame = _track_table(X)
        return self.featurizer_.transform(self._named_rows(X) if frame is None else frame)

    def _named_rows(self, X: Any) -> pd.DataFrame:
        """A 2-D array given to a model fitted on a track table: rows of the table's columns (`feature_names_in_`)."""
        names = getattr(self, "feature_names_in_", None)
        if names is None:   # e.g. a model saved before feature_names_in_ was recorded
            raise TypeError(f"expected a pandas DataFrame of tracks, got {type(X).__name__}")
        values = check_array(X, accept_sparse=False, dtype=None, **{_FINITE: False})
        if values.shape[1] != len(names):
            raise ValueError(f"X has {values.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{len(names)} features as input (the columns of the track table it was fitted on)")
        return pd.DataFrame(values, columns=list(names))

    def feature_importances(self) -> pd.Series:
        """Gain importance per feature, largest first (for reports, not for decisions)."""
        check_is_fitted(self, "model_")
        gains = self.booster_.feature_importance(importance_type="gain")
        return pd.Series(gains, index=self.feature_names_).sort_values(ascending=False)


class _TrackClassifier(ClassifierMixin, _TrackModel):
    _is_classifier = True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False   # binary: liked or not, in a playlist or not
        return tags

    def fit(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> "_TrackClassifier":
        X, from_array = self._fit_rows(X)
        y = self._check_target(y, len(X))
        weights = self._check_weights(sample_weight, y)
        self._fit_matrix(self.training_frame(X, y), y, weights, use_genres=self.use_genres, from_array=from_array)
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

    __init__ = _track_init(TRACK_PARAMETERS)


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

    __init__ = _track_init({**TRACK_PARAMETERS, "n_estimators": None, "num_leaves": None, "colsample_bytree": 0.7,
                            "reg_lambda": 5.0, "max_genres": 15, "min_genre_count": 3})

    def _lgbm_params(self, n_rows: int) -> dict[str, Any]:
        params = super()._lgbm_params(n_rows)
        auto = label_capacity(n_rows)
        for name in ("n_estimators", "num_leaves"):
            value = getattr(self, name)
            params[name] = auto[name] if value is None else int(value)
        return params

    def fit(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> "LabelModel":
        X, from_array = self._fit_rows(X)
        y = self._check_target(y, len(X))
        weights = self._check_weights(sample_weight, y)
        if weights is not None:
            keep = weights > 0
            if not keep.all():   # weight 0: as if the track had not been passed at all
                X, y, weights = X.iloc[np.flatnonzero(keep)], y[keep], weights[keep]
                try:
                    y = self._check_target(y, len(X))
                except ValueError as err:
                    raise ValueError(f"{err} (after leaving out the {int((~keep).sum())} tracks of weight 0)") from None
        self._fit_matrix(self.training_frame(X, y), y, weights, use_genres=self.use_genres, from_array=from_array)
        self.n_estimators_ = int(self.lgbm_params_["n_estimators"])
        self.num_leaves_ = int(self.lgbm_params_["num_leaves"])
        self.min_child_samples_ = int(self.lgbm_params_["min_child_samples"])
        return self


def genre_unknown_rates(X: pd.DataFrame, y: Any) -> tuple[float, float]:
    """Share of rows with unknown genres among positives (y == max label) and among negatives."""
    X = _as_frame(X)
    y = np.asarray(y)
    unknown = genres_unknown(X)
    pos = _positives(y)
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
    pos = _positives(y)
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

    __init__ = _track_init(_insert_after({**TRACK_PARAMETERS, "min_child_samples": 20}, "use_genres",
                                         genre_policy="auto", genre_imbalance_threshold=0.2))

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
        X, from_array = self._fit_rows(X)
        y = self._check_target(y, len(X))
        weights = self._check_weights(sample_weight, y)
        self.genres_used_, self.genre_unknown_rates_ = self._uses_genres(X, y)
        self.genres_used_ = self.genres_used_ and not from_array   # a numeric array has no genres
        self._fit_matrix(self.training_frame(X, y), y, weights, use_genres=self.genres_used_, from_array=from_array)
        return self


class LikeabilityModel(RegressorMixin, _TrackModel):
    """Stage 1 regressor: predicted share of full listens (log-scaled play target in [0, 1]).

    Fit on the likeability target only (never the playlist target). Predictions are clipped to [0, 1].
    """

    _is_classifier = False

    __init__ = _track_init({k: v for k, v in TRACK_PARAMETERS.items() if k != "class_weight"})   # a regressor

    def fit(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> "LikeabilityModel":
        X, from_array = self._fit_rows(X)
        y = self._check_target(y, len(X)).astype(float)
        if (y < 0).any() or (y > 1).any():
            raise ValueError("LikeabilityModel expects a target scaled to [0, 1] "
                             f"(got values from {y.min():.3g} to {y.max():.3g})")
        if np.ptp(y) == 0:
            raise ValueError("LikeabilityModel: the target is the same for every track; nothing to learn")
        weights = self._check_weights(sample_weight, y)
        self._fit_matrix(self.training_frame(X, y), y, weights, use_genres=self.use_genres, from_array=from_array)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        matrix = self._matrix(X)   # first: NotFittedError before fit, not an AttributeError
        raw = self.model_.predict(matrix, num_threads=self._predict_threads())
        return np.clip(raw, 0.0, 1.0)


__all__ = ["PlaylistModel", "LikeabilityModel", "AffinityModel", "LabelModel", "label_capacity", "genre_unknown_rates", "mask_genres_to_match", "MIN_ROWS", "GENRE_POLICIES",
           "MISSING_POLICIES", "TRACK_PARAMETERS"]
