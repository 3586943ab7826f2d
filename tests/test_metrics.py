import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score

from spotify_modeling.core.metrics import (_weighted_auc, artist_groups, cross_validate_model,
                                      grouped_cv_scores, grouped_folds, roc_auc_with_ci,
                                      spearman_with_ci, wilson_interval)
from spotify_modeling.core.models import LikeabilityModel, PlaylistModel


class ArtistMemoriser(ClassifierMixin, BaseEstimator):
    """Predicts the training label share of a track's artist; 0.5 for artists it never saw.

    Under artist-grouped CV it must therefore always answer 0.5.
    """

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        frame = pd.DataFrame({"artist": artist_groups(X), "y": y})
        self.share_ = frame.groupby("artist")["y"].mean().to_dict()
        return self

    def predict_proba(self, X):
        p = np.array([self.share_.get(a, 0.5) for a in artist_groups(X)])
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


def _artist_table(n_artists: int = 30, per_artist: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    artist = np.repeat(np.arange(n_artists), per_artist)
    y = (rng.random(n_artists) < 0.4).astype(int)[artist]  # label is a property of the artist
    X = pd.DataFrame({
        "artist_ids": [[f"id{a}"] for a in artist],
        "artist_names": [[f"Artist {a}"] for a in artist],
        "danceability": rng.random(len(artist)),
    })
    return X, y, artist


def test_artist_groups_prefers_id_then_name_then_row():
    X = pd.DataFrame({
        "artist_ids": [["A1", "A2"], None, [], "B1|B2", None],
        "artist_names": [["Alice", "Bob"], ["alice "], ["Carol"], ["Dan"], None],
    })
    groups = artist_groups(X)
    # row 1 has no id but its name was seen with id A1 elsewhere: same group
    assert list(groups) == ["id:A1", "id:A1", "name:carol", "id:B1", "row:4"]
    only_names = pd.DataFrame({"artist_names": ["X|Y", "x"]})
    assert list(artist_groups(only_names)) == ["name:x", "name:x"]


def test_folds_never_split_an_artist_and_cover_every_row():
    X, y, artist = _artist_table()
    groups = artist_groups(X)
    folds = grouped_folds(y, groups, n_splits=5, random_state=0)
    assert len(folds) == 5
    seen = np.concatenate([test for _, test in folds])
    assert sorted(seen) == list(range(len(y)))
    for train, test in folds:
        assert set(artist[train]).isdisjoint(artist[test])
        assert set(y[test]) == {0, 1}  # stratified: both classes in each fold here
    reg_folds = grouped_folds(y, groups, n_splits=4, stratified=False)
    for train, test in reg_folds:
        assert set(artist[train]).isdisjoint(artist[test])


def test_grouped_cv_gives_no_credit_for_recognising_artists():
    X, y, _ = _artist_table()
    oof = grouped_cv_scores(ArtistMemoriser(), X, y, n_splits=5)
    np.testing.assert_array_equal(oof, 0.5)
    # the same memoriser under ordinary CV would look perfect: the grouping is what matters
    from sklearn.model_selection import KFold, cross_val_predict
    leaky = cross_val_predict(ArtistMemoriser(), X, y, cv=KFold(5, shuffle=True, random_state=0),
                              method="predict_proba")[:, 1]
    assert roc_auc_score(y, leaky) > 0.95


def test_n_splits_shrinks_to_available_groups_and_fails_below_two():
    X, _, artist = _artist_table(n_artists=4, per_artist=5)
    y = np.isin(artist, [1, 2]).astype(int)  # positives live in only two artists
    folds = grouped_folds(y, artist_groups(X), n_splits=5)
    assert len(folds) == 2
    for train, test in folds:
        assert set(artist[train]).isdisjoint(artist[test])
    y_one = (artist == 1).astype(int)  # one artist holds every positive
    with pytest.raises(ValueError, match="at least 2"):
        grouped_folds(y_one, artist_groups(X), n_splits=5)
    assert len(grouped_folds(y_one, artist_groups(X), n_splits=5, stratified=False)) == 4


def test_weighted_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.3
    p = np.round(rng.random(300) + 0.3 * y, 1)  # many ties
    w = rng.integers(0, 3, size=(3, 300)).astype(float)
    got = _weighted_auc(y, p, w)
    want = [roc_auc_score(y, p, sample_weight=row) for row in w]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_roc_auc_with_ci_hand_values_and_interval():
    # 2 positives, 2 negatives; pairs (pos > neg): 0.8>0.1, 0.8>0.4, 0.35>0.1, 0.35<0.4 -> 3/4
    auc, lo, hi = roc_auc_with_ci([1, 1, 0, 0], [0.8, 0.35, 0.1, 0.4], n_boot=200)
    assert auc == 0.75
    assert 0.0 <= lo <= hi <= 1.0
    rng = np.random.default_rng(0)
    y = rng.random(2000) < 0.5
    p = rng.random(2000) + 0.5 * y
    auc, lo, hi = roc_auc_with_ci(y, p, n_boot=300)
    assert lo < auc < hi and hi - lo < 0.06
    assert roc_auc_with_ci(y, p, n_boot=300) == (auc, lo, hi)  # seeded
    assert all(math.isnan(v) for v in roc_auc_with_ci([1, 1, 1], [0.1, 0.2, 0.3]))


def test_spearman_with_ci_hand_values():
    rho, lo, hi = spearman_with_ci([1, 2, 3, 4, 5], [5, 6, 7, 8, 7], n_boot=100)
    # ranks x: 1..5, y: 1, 2, 3.5, 5, 3.5 -> rho = 0.8207826816681233 (Pearson of ranks)
    assert rho == pytest.approx(0.8207826816681233)
    assert lo <= hi
    rng = np.random.default_rng(0)
    x = rng.random(1000)
    rho, lo, hi = spearman_with_ci(x, x + 0.3 * rng.random(1000), n_boot=200)
    assert lo < rho < hi and rho > 0.9


def test_wilson_interval_hand_computed():
    p, lo, hi = wilson_interval(3, 10)
    assert p == 0.3
    assert lo == pytest.approx(0.10779, abs=1e-4) and hi == pytest.approx(0.60323, abs=1e-4)
    p, lo, hi = wilson_interval(0, 10)
    assert (p, lo) == (0.0, 0.0) and hi == pytest.approx(0.27754, abs=1e-4)
    p, lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.72246, abs=1e-4)
    p, lo, hi = wilson_interval(0, 0)
    assert math.isnan(p) and (lo, hi) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def _signal_table(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "artist_ids": [[f"a{i // 4}"] for i in range(n)],
        "danceability": rng.random(n), "energy": rng.random(n),
    })
    y = (X["danceability"] + 0.2 * rng.standard_normal(n) > 0.5).astype(int).to_numpy()
    return X, y


def test_cross_validate_classifier_summary():
    X, y = _signal_table()
    out = cross_validate_model(PlaylistModel(n_estimators=30, n_jobs=1), X, y, n_boot=200)
    assert out["metric"] == "roc_auc" and out["reason"] is None
    assert out["value"] > 0.8 and out["ci_low"] < out["value"] < out["ci_high"]
    assert out["base_rate"] == pytest.approx(y.mean())
    assert (out["n_rows"], out["n_groups"], out["n_splits"]) == (400, 100, 5)


def test_cross_validate_regressor_uses_spearman_and_mean_base_rate():
    X, y = _signal_table()
    target = np.clip(X["danceability"].to_numpy(), 0, 1)
    out = cross_validate_model(LikeabilityModel(n_estimators=30, n_jobs=1), X, target, n_boot=100)
    assert out["metric"] == "spearman" and out["value"] > 0.8
    assert out["base_rate"] == pytest.approx(target.mean())


def test_cross_validate_degenerate_inputs_return_nan_with_reason():
    X, y = _signal_table(40)
    one_class = cross_validate_model(PlaylistModel(), X, np.ones(40, dtype=int))
    assert math.isnan(one_class["value"]) and "one class" in one_class["reason"]
    one_artist = X.assign(artist_ids=[["same"]] * 40)
    out = cross_validate_model(PlaylistModel(), one_artist, y)
    assert math.isnan(out["value"]) and "too few artists" in out["reason"]
    assert out["n_groups"] == 1 and out["n_splits"] == 0
