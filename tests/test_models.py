import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.metrics import roc_auc_score

from spotify_modeling.core.models import (AffinityModel, LabelModel, LikeabilityModel, PlaylistModel,
                                     genre_unknown_rates, label_capacity, mask_genres_to_match)

FAST = dict(n_estimators=40, n_jobs=1)  # fast and steady on a busy machine; defaults: test_defaults


def synthetic(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Tracks whose label depends on danceability, energy and a rock genre; artists of 5 tracks."""
    rng = np.random.default_rng(seed)
    dance, energy = rng.random(n), rng.random(n)
    rock = rng.random(n) < 0.4
    genres = [["album rock", "classic rock"] if r else ["dance pop"] for r in rock]
    for i in rng.choice(n, n // 10, replace=False):
        genres[i] = []
    score = 2.5 * dance + 1.5 * energy + 1.0 * rock + 0.5 * rng.standard_normal(n)
    X = pd.DataFrame({
        "track_id": [f"t{i}" for i in range(n)],
        "artist_ids": [[f"a{i // 5}"] for i in range(n)],
        "danceability": dance, "energy": energy, "tempo": 90 + 60 * rng.random(n),
        "duration_ms": rng.integers(120_000, 360_000, n),
        "release_date": rng.choice(["1990", "2005-03", "2019-11-02"], n),
        "genres": genres,
    })
    return X, (score > np.median(score)).astype(int)


CLASSIFIERS = [PlaylistModel, AffinityModel, LabelModel]


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_classifier_learns_held_out_signal_and_is_sklearn_shaped(cls):
    X, y = synthetic(800)
    model = cls(**FAST)
    assert model.fit(X[:500], y[:500]) is model
    assert is_classifier(model)
    proba = model.predict_proba(X[500:])
    assert proba.shape == (300, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y[500:], proba[:, 1]) > 0.8
    assert set(model.predict(X[500:])) <= {0, 1}
    np.testing.assert_array_equal(model.classes_, [0, 1])
    assert model.feature_names_ == list(model.featurizer_.get_feature_names_out())
    assert model.booster_.num_feature() == len(model.feature_names_)
    assert model.n_train_rows_ == 500


@pytest.mark.parametrize("cls", CLASSIFIERS + [LikeabilityModel])
def test_clone_and_pickle_round_trip_give_identical_predictions(cls):
    X, y = synthetic(300)
    target = X["danceability"].to_numpy() if cls is LikeabilityModel else y
    model = cls(**FAST, random_state=3).fit(X, target)
    predict = (lambda m, d: m.predict(d)) if cls is LikeabilityModel else (lambda m, d: m.predict_proba(d))
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(predict(restored, X), predict(model, X))
    refit = clone(model).fit(X, target)
    np.testing.assert_array_equal(predict(refit, X), predict(model, X))
    assert not hasattr(clone(model), "model_")


def test_get_set_params_reach_lightgbm():
    model = PlaylistModel(**FAST)
    assert model.get_params()["n_estimators"] == 40
    assert model.set_params(num_leaves=4, learning_rate=0.2) is model
    X, y = synthetic(200)
    model.fit(X, y)
    assert model.model_.get_params()["num_leaves"] == 4
    assert model.model_.get_params()["learning_rate"] == 0.2
    assert model.model_.get_params()["class_weight"] == "balanced"
    assert model.model_.get_params()["verbose"] == -1


def test_defaults_are_regularised_and_quiet(capfd):
    X, y = synthetic(300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = PlaylistModel().fit(X, y)
        model.predict_proba(X)
    params = model.model_.get_params()
    assert params["num_leaves"] == 15 and params["subsample_freq"] == 1
    assert params["min_child_samples"] == 20 and params["reg_lambda"] == 1.0
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_likeability_regressor_predictions_clipped_to_unit_interval():
    X, _ = synthetic(300)
    target = np.clip(X["danceability"].to_numpy() * 1.2 - 0.1, 0, 1)  # many exact 0s and 1s
    model = LikeabilityModel(**FAST).fit(X, target)
    assert is_regressor(model)
    pred = model.predict(X)
    assert pred.min() >= 0.0 and pred.max() <= 1.0
    assert np.corrcoef(pred, target)[0, 1] > 0.9
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        LikeabilityModel(**FAST).fit(X, target * 5)
    with pytest.raises(ValueError, match="same for every track"):
        LikeabilityModel(**FAST).fit(X, np.full(len(X), 0.5))


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_tiny_or_one_class_inputs_raise_clear_errors(cls):
    X, y = synthetic(40)
    with pytest.raises(ValueError, match="at least 10 tracks"):
        cls().fit(X[:5], y[:5])
    with pytest.raises(ValueError, match="both classes"):
        cls().fit(X, np.ones(len(X), dtype=int))
    with pytest.raises(ValueError, match="one value per track"):
        cls().fit(X, y[:-1])


def test_label_model_scales_leaf_size_with_few_labels():
    X, y = synthetic(40)
    model = LabelModel().fit(X, y)
    assert model.model_.get_params()["min_child_samples"] == 4
    big = LabelModel(**FAST).fit(*synthetic(400))
    assert big.model_.get_params()["min_child_samples"] == 20
    assert LabelModel(min_child_samples=7, **FAST).fit(X, y).model_.get_params()["min_child_samples"] == 7


def test_label_capacity_schedule_grows_with_the_labels():
    sizes = [10, 40, 160, 400, 1000, 1600, 2000, 4000, 8000, 9000, 16000, 50000]
    caps = [label_capacity(n) for n in sizes]
    trees = [c["n_estimators"] for c in caps]
    leaves = [c["num_leaves"] for c in caps]
    assert trees == sorted(trees) and leaves == sorted(leaves)          # never less capacity with more labels
    assert all(c == {"n_estimators": 120, "num_leaves": 7} for c in caps[:7])   # up to 2,000: as tuned for 20-200
    assert label_capacity(4000) == {"n_estimators": 120, "num_leaves": 14}
    assert label_capacity(8000) == {"n_estimators": 120, "num_leaves": 28}
    assert label_capacity(9000) == {"n_estimators": 135, "num_leaves": 31}     # LightGBM's default leaves
    assert label_capacity(16000) == {"n_estimators": 240, "num_leaves": 31}
    assert label_capacity(50000) == {"n_estimators": 360, "num_leaves": 31}    # capped


def test_label_model_auto_capacity_follows_the_rows_it_fits():
    small = LabelModel().fit(*synthetic(40))
    big = LabelModel().fit(*synthetic(4000))
    for model, n in ((small, 40), (big, 4000)):
        params = model.model_.get_params()
        assert (model.n_estimators_, model.num_leaves_) == (params["n_estimators"], params["num_leaves"])
        assert model.min_child_samples_ == params["min_child_samples"]
        assert {k: model.lgbm_params_[k] for k in ("n_estimators", "num_leaves")} == label_capacity(n)
        assert model.booster_.num_trees() == model.n_estimators_
    assert (small.n_estimators_, small.num_leaves_, small.min_child_samples_) == (120, 7, 4)
    assert (big.n_estimators_, big.num_leaves_, big.min_child_samples_) == (120, 14, 20)
    assert big.num_leaves_ > small.num_leaves_ and big.min_child_samples_ > small.min_child_samples_
    assert max(t["num_leaves"] for t in big.booster_.dump_model()["tree_info"]) > 7   # the extra leaves are used
    assert small.learning_rate == big.learning_rate == 0.05 and small.reg_lambda == 5.0


def test_label_model_explicit_capacity_overrides_the_schedule():
    X, y = synthetic(4000)
    model = LabelModel(n_estimators=30, num_leaves=5, min_child_samples=9, learning_rate=0.2).fit(X, y)
    params = model.model_.get_params()
    assert (params["n_estimators"], params["num_leaves"], params["min_child_samples"]) == (30, 5, 9)
    assert params["learning_rate"] == 0.2
    assert (model.n_estimators_, model.num_leaves_, model.min_child_samples_) == (30, 5, 9)
    only_trees = LabelModel(n_estimators=30).fit(X, y)          # the others stay on the schedule
    assert (only_trees.n_estimators_, only_trees.num_leaves_) == (30, label_capacity(4000)["num_leaves"])


def test_label_model_auto_parameters_survive_get_params_and_clone():
    model = LabelModel()
    params = model.get_params()
    assert params["n_estimators"] is None and params["num_leaves"] is None and params["min_child_samples"] is None
    X, y = synthetic(300)
    model.fit(X, y)
    assert model.get_params() == params                   # fit chose values without changing the parameters
    twin = clone(model)
    assert twin.get_params() == params and not hasattr(twin, "n_estimators_")
    np.testing.assert_array_equal(twin.fit(X, y).predict_proba(X), model.predict_proba(X))
    fixed = clone(LabelModel(n_estimators=50, num_leaves=3))
    assert fixed.get_params()["n_estimators"] == 50 and fixed.get_params()["num_leaves"] == 3
    assert LabelModel().set_params(num_leaves=9).fit(X, y).num_leaves_ == 9


def test_label_model_zero_weight_equals_dropping_the_rows():
    X, y = synthetic(300)
    w = np.ones(len(y))
    w[::3] = 0.0
    keep = w > 0
    weighted = LabelModel(random_state=5).fit(X, y, sample_weight=w)
    dropped = LabelModel(random_state=5).fit(X[keep].reset_index(drop=True), y[keep])
    np.testing.assert_array_equal(weighted.predict_proba(X), dropped.predict_proba(X))
    assert weighted.n_train_rows_ == dropped.n_train_rows_ == int(keep.sum())
    assert weighted.lgbm_params_ == dropped.lgbm_params_   # the capacity follows the rows that count
    # weights that are not 0 change the fit too (a removal is a dislike of weight 0.5), and weights of 1 are none
    half = np.where(np.arange(len(y)) % 2 == 0, 1.0, 0.5)
    plain = LabelModel(random_state=5).fit(X, y).predict_proba(X)
    assert not np.allclose(LabelModel(random_state=5).fit(X, y, sample_weight=half).predict_proba(X), plain)
    np.testing.assert_array_equal(LabelModel(random_state=5).fit(X, y, sample_weight=np.ones(len(y)))
                                  .predict_proba(X), plain)


def test_label_model_rejects_bad_weights():
    X, y = synthetic(60)
    with pytest.raises(ValueError, match="one weight per track"):
        LabelModel(**FAST).fit(X, y, sample_weight=np.ones(len(y) - 1))
    with pytest.raises(ValueError, match="non-negative"):
        LabelModel(**FAST).fit(X, y, sample_weight=np.r_[-1.0, np.ones(len(y) - 1)])
    with pytest.raises(ValueError, match="both classes"):            # every dislike weighs 0: nothing to contrast
        LabelModel(**FAST).fit(X, y, sample_weight=(y == 1).astype(float))


def test_use_genres_false_drops_genre_columns():
    X, y = synthetic(200)
    model = PlaylistModel(use_genres=False, **FAST).fit(X, y)
    assert not any(f.startswith(("family_", "genre:")) for f in model.feature_names_)


def _pu_data(unknown_pos: float, unknown_neg: float, seed: int = 0):
    X, y = synthetic(600, seed)
    rng = np.random.default_rng(seed + 1000)  # independent of the draws that made y
    genres = [["dance pop"] if rng.random() < 0.5 else ["rock"] for _ in range(len(X))]
    for i in range(len(X)):
        if rng.random() < (unknown_pos if y[i] == 1 else unknown_neg):
            genres[i] = None
    X["genres"] = genres
    return X, y


def test_affinity_auto_drops_genres_when_one_class_lacks_them():
    X, y = _pu_data(unknown_pos=0.05, unknown_neg=0.7)
    pos_rate, neg_rate = genre_unknown_rates(X, y)
    assert pos_rate < 0.15 and neg_rate > 0.6
    model = AffinityModel(**FAST).fit(X, y)
    assert model.genres_used_ is False
    assert not any(f.startswith(("family_", "genre:", "genres_unknown")) for f in model.feature_names_)
    assert AffinityModel(genre_policy="as_is", **FAST).fit(X, y).genres_used_ is True


def test_affinity_keeps_genres_when_both_classes_alike_and_drop_policy():
    X, y = _pu_data(unknown_pos=0.3, unknown_neg=0.35)
    assert AffinityModel(**FAST).fit(X, y).genres_used_ is True
    assert AffinityModel(genre_policy="drop", **FAST).fit(X, y).genres_used_ is False
    with pytest.raises(ValueError, match="genre_policy"):
        AffinityModel(genre_policy="bogus").fit(X, y)


def test_mask_genres_equalises_unknown_rates_without_touching_input():
    X, y = _pu_data(unknown_pos=0.05, unknown_neg=0.6)
    before = X["genres"].copy()
    masked = mask_genres_to_match(X, y, random_state=1)
    pos_rate, neg_rate = genre_unknown_rates(masked, y)
    assert abs(pos_rate - neg_rate) < 0.02
    assert X["genres"].equals(before)
    model = AffinityModel(genre_policy="mask", **FAST).fit(X, y)
    assert model.genres_used_ is True
    assert "genres_unknown" in model.feature_names_


def test_sample_weight_changes_the_fit():
    X, y = synthetic(300)
    w = np.where(np.arange(len(y)) < 150, 1.0, 0.01)
    a = PlaylistModel(**FAST).fit(X, y).predict_proba(X)
    b = PlaylistModel(**FAST).fit(X, y, sample_weight=w).predict_proba(X)
    assert not np.allclose(a, b)


def test_feature_importances_named():
    X, y = synthetic(300)
    imp = PlaylistModel(**FAST).fit(X, y).feature_importances()
    assert imp.index[0] in {"danceability", "energy"}
    assert len(imp) == len(PlaylistModel(**FAST).fit(X, y).feature_names_)


def test_thread_choice():
    X, y = synthetic(100)
    assert PlaylistModel(**{**FAST, "n_jobs": None}).fit(X, y).lgbm_params_["n_jobs"] == 1  # auto, small
    assert PlaylistModel(n_jobs=None)._fit_threads(50_000) is None  # big tables: every core
    assert PlaylistModel(n_jobs=2)._fit_threads(100) == 2  # explicit choice wins
    assert PlaylistModel().get_params()["n_jobs"] == 1


@pytest.mark.parametrize("cls", [PlaylistModel, LikeabilityModel, AffinityModel, LabelModel])
def test_predicting_before_fit_raises_not_fitted(cls):
    from sklearn.exceptions import NotFittedError

    model = cls()
    X = pd.DataFrame({"danceability": [0.5], "energy": [0.5]})
    with pytest.raises(NotFittedError):
        model.predict(X)
    if hasattr(model, "predict_proba"):
        with pytest.raises(NotFittedError):
            model.predict_proba(X)


def test_composite_decision_function_needs_a_fit_and_fit_without_labels_keeps_the_prior():
    from sklearn.exceptions import NotFittedError

    from spotify_modeling.core.selection import CompositeScorer

    pool = pd.DataFrame({"p_playlist": [0.2, 0.9, 0.5], "likeability": [0.1, 0.3, 0.2]})
    with pytest.raises(NotFittedError):
        CompositeScorer().decision_function(pool)
    scores = CompositeScorer().fit().decision_function(pool)
    assert list(np.argsort(-scores)) == [1, 2, 0]
    assert not hasattr(CompositeScorer, "score")   # not scikit-learn's score(X, y): the per-row one is decision_function


# Each class's parameters, in signature order, with today's defaults (pinned before `__init__` was shared).
_COMMON = dict(n_estimators=250, learning_rate=0.05, num_leaves=15, min_child_samples=None, subsample=0.8,
               colsample_bytree=0.8, reg_lambda=1.0, class_weight="balanced", use_genres=True, max_genres=40,
               min_genre_count=5, reference_year=None, missing_policy="balance", random_state=0, n_jobs=1)
PINNED_DEFAULTS = {
    PlaylistModel: _COMMON,
    LikeabilityModel: {k: v for k, v in _COMMON.items() if k != "class_weight"},
    AffinityModel: {**{k: v for k, v in _COMMON.items() if k in list(_COMMON)[:9]},
                    "min_child_samples": 20, "genre_policy": "auto", "genre_imbalance_threshold": 0.2,
                    **{k: v for k, v in _COMMON.items() if k in list(_COMMON)[9:]}},
    LabelModel: {**_COMMON, "n_estimators": None, "num_leaves": None, "colsample_bytree": 0.7, "reg_lambda": 5.0,
                 "max_genres": 15, "min_genre_count": 3},
}


@pytest.mark.parametrize("cls", list(PINNED_DEFAULTS))
def test_parameters_and_defaults_are_pinned(cls):
    import inspect

    pinned = PINNED_DEFAULTS[cls]
    signature = inspect.signature(cls)
    assert list(signature.parameters) == list(pinned)                       # names and order (positional calls)
    assert {n: p.default for n, p in signature.parameters.items()} == pinned
    params = cls().get_params()
    assert params == pinned
    assert all(type(params[k]) is type(v) for k, v in pinned.items())       # 1.0 stays a float, 250 an int
    assert clone(cls()).get_params() == pinned
    custom = {k: ("as_is" if k == "genre_policy" else "as_is" if k == "missing_policy" else v)
              for k, v in pinned.items()}
    custom["random_state"] = 7
    model = cls(**custom)
    assert model.get_params() == custom and vars(model) == custom          # __init__ stores the parameters, no more
    assert cls(*custom.values()).get_params() == custom                    # positional, in signature order
    with pytest.raises(TypeError):
        cls(no_such_parameter=1)


# ------------------------------------------------------------------ the input contract (see tests/test_estimator_checks.py)
@pytest.mark.parametrize("cls", CLASSIFIERS + [LikeabilityModel])
def test_track_table_fit_records_its_columns_and_reads_an_array_of_them(cls):
    X, y = synthetic(300)
    target = X["danceability"].to_numpy() if cls is LikeabilityModel else y
    model = cls(**FAST).fit(X, target)
    assert model.n_features_in_ == X.shape[1]
    assert list(model.feature_names_in_) == list(X.columns)
    predict = model.predict if cls is LikeabilityModel else model.predict_proba
    np.testing.assert_array_equal(predict(X.to_numpy()), predict(X))      # rows of the same columns, by position
    np.testing.assert_array_equal(predict(X[::-1].drop(columns=["track_id"])), predict(X)[::-1])  # by name
    with pytest.raises(ValueError, match="expecting 8 features"):
        predict(X.to_numpy()[:, :3])
    del model.feature_names_in_            # a model saved before this attribute: DataFrames as ever, arrays refused
    np.testing.assert_array_equal(predict(X), predict(X))
    with pytest.raises(TypeError, match="DataFrame of tracks"):
        predict(X.to_numpy())


@pytest.mark.parametrize("cls", CLASSIFIERS + [LikeabilityModel])
def test_numeric_array_is_taken_as_ready_made_features(cls):
    from scipy import sparse

    X, y = synthetic(300)
    values = X[["danceability", "energy", "tempo"]].to_numpy(dtype=float, copy=True)
    values[::9, 1] = np.nan                                        # unknown stays allowed
    target = X["danceability"].to_numpy() if cls is LikeabilityModel else y
    model = cls(**FAST).fit(values, target)
    assert model.n_features_in_ == 3 and not hasattr(model, "feature_names_in_")
    assert model.feature_names_ == ["x0", "x1", "x2"]
    predict = model.predict if cls is LikeabilityModel else model.predict_proba
    np.testing.assert_array_equal(predict(values.tolist()), predict(values))
    if cls is not LikeabilityModel:
        assert roc_auc_score(y, predict(values)[:, 1]) > 0.8
    with pytest.raises(ValueError, match="X has 2 features, but .* is expecting 3"):
        predict(values[:, :2])
    with pytest.raises(TypeError, match="[Ss]parse"):
        cls(**FAST).fit(sparse.csr_matrix(np.nan_to_num(values)), target)
    with pytest.raises(ValueError, match="infinity"):
        cls(**FAST).fit(np.where(np.isnan(values), np.inf, values), target)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_string_labels_fit_exactly_as_their_0_1_codes(cls):
    X, y = synthetic(300)
    named = np.where(y == 1, "liked", "disliked")                  # "liked" sorts last: the positive class
    a = cls(**FAST).fit(X, y)
    b = cls(**FAST).fit(X, named)
    np.testing.assert_array_equal(b.classes_, ["disliked", "liked"])
    np.testing.assert_array_equal(b.predict_proba(X), a.predict_proba(X))
    assert set(b.predict(X)) <= {"disliked", "liked"}


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_classifier_targets_are_checked(cls):
    from sklearn.exceptions import DataConversionWarning

    X, y = synthetic(120)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        column = cls(**FAST).fit(X, y[:, None])
    np.testing.assert_array_equal(column.predict_proba(X), cls(**FAST).fit(X, y).predict_proba(X))
    with pytest.raises(ValueError, match="requires y to be passed"):
        cls(**FAST).fit(X, None)
    with pytest.raises(ValueError, match="infinite"):
        cls(**FAST).fit(X, np.where(y == 1, np.inf, 0.0))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        cls(**FAST).fit(X, X["danceability"].to_numpy())
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        cls(**FAST).fit(X, np.arange(len(y)) % 3)


@pytest.mark.parametrize("cls", CLASSIFIERS + [LikeabilityModel])
def test_sample_weight_is_checked_for_every_model(cls):
    X, y = synthetic(120)
    target = X["danceability"].to_numpy() if cls is LikeabilityModel else y
    fit = lambda w: cls(**FAST).fit(X, target, sample_weight=w)   # noqa: E731
    with pytest.raises(ValueError, match="one weight per track"):
        fit(np.ones(len(y) + 1))
    with pytest.raises(ValueError, match="finite and non-negative"):
        fit(np.r_[np.nan, np.ones(len(y) - 1)])
    with pytest.raises(ValueError, match="zero for every track"):
        fit(np.zeros(len(y)))
    if cls is not LikeabilityModel:
        with pytest.raises(ValueError, match="both classes .* sample_weight 0"):
            fit((y == 1).astype(float))
    w = pd.Series(np.linspace(0.5, 1.5, len(y)))                  # any 1-D array-like
    np.testing.assert_array_equal(fit(w).predict(X), fit(w.to_numpy()).predict(X))


@pytest.mark.parametrize("cls, extra", [(PlaylistModel, {}), (LabelModel, {}), (LikeabilityModel, {}),
                                        (AffinityModel, {"genre_policy": "mask"})])
def test_fit_leaves_the_track_table_and_weights_untouched(cls, extra):
    X, y = _pu_data(unknown_pos=0.05, unknown_neg=0.6)
    X.loc[::4, "release_date"] = None                               # something for the missingness balance to do
    target = X["energy"].to_numpy() if cls is LikeabilityModel else y
    w = np.where(np.arange(len(y)) % 5 == 0, 0.0, 1.0)
    X_before, y_before, w_before = X.copy(deep=True), target.copy(), w.copy()
    cls(**FAST, **extra).fit(X, target, sample_weight=w)
    pd.testing.assert_frame_equal(X, X_before)
    np.testing.assert_array_equal(target, y_before)
    np.testing.assert_array_equal(w, w_before)
