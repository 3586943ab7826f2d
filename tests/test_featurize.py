import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from spotify_modeling.core.featurize import FAMILIES, NUMERIC_FEATURES, TrackFeaturizer, genre_family


def _tracks() -> pd.DataFrame:
    return pd.DataFrame({
        "track_id": ["t1", "t2", "t3", "t4", "t5", "t6"],
        "danceability": [0.5, 0.7, np.nan, 0.1, 0.9, 0.3],
        "energy": [0.4, 0.8, 0.2, 0.9, 0.6, 0.5],
        "key": [5, -1, 0, 11, np.nan, 2],
        "tempo": [120.0, 98.5, 140.0, 80.0, 128.0, 110.0],
        "duration_ms": [180000, 240000, None, 120000, 300000, 0],
        "release_date": ["2020-05-01", "1999", "2015-07", None, "0000", "1985-01-01"],
        "explicit": [True, False, 1, 0, None, "true"],
        "genres": [["dance pop", "pop"], ["conscious hip hop"], [], None, ["pop", "k-pop"], ["pop"]],
    })


def _col(f: TrackFeaturizer, M: np.ndarray, name: str) -> np.ndarray:
    return M[:, list(f.get_feature_names_out()).index(name)]


def test_genre_family_rules():
    assert set(genre_family("dance pop")) == {"pop", "electronic_dance"}
    assert genre_family("conscious hip hop") == ["hip_hop"]
    assert set(genre_family("k-pop")) == {"pop", "world"}
    assert genre_family("rocksteady") == ["reggae"]
    assert genre_family("dubstep") == ["electronic_dance"]
    assert genre_family("some unheard-of thing") == ["other"]
    assert genre_family("  ") == []
    assert FAMILIES[-1] == "other" and len(FAMILIES) == 13


def test_output_shape_dtype_names_and_scalar_columns():
    f = TrackFeaturizer(min_genre_count=1, reference_year=2025).fit(_tracks())
    M = f.transform(_tracks())
    names = list(f.get_feature_names_out())
    assert M.dtype == np.float32 and M.shape == (6, len(names))
    assert names[: len(NUMERIC_FEATURES)] == NUMERIC_FEATURES
    assert f.reference_year_ == 2025
    np.testing.assert_allclose(_col(f, M, "duration_min")[[0, 1, 3]], [3.0, 4.0, 2.0])
    assert np.isnan(_col(f, M, "duration_min")[[2, 5]]).all()  # missing and 0 ms are unknown
    years = _col(f, M, "release_year")
    np.testing.assert_array_equal(years[[0, 1, 2, 5]], [2020, 1999, 2015, 1985])
    assert np.isnan(years[[3, 4]]).all()  # None and Spotify's "0000"
    np.testing.assert_allclose(_col(f, M, "newness")[0], np.exp(-0.5), rtol=1e-6)
    np.testing.assert_array_equal(_col(f, M, "explicit")[[0, 1, 2, 3, 5]], [1, 0, 1, 0, 1])
    assert np.isnan(_col(f, M, "explicit")[4])


def test_key_minus_one_and_missing_values_stay_nan():
    f = TrackFeaturizer().fit(_tracks())
    M = f.transform(_tracks())
    key = _col(f, M, "key")
    assert np.isnan(key[1]) and np.isnan(key[4])
    assert key[2] == 0 and key[3] == 11  # key 0 (C) is a real value
    assert np.isnan(_col(f, M, "danceability")[2])


def test_unknown_genres_are_nan_not_zero():
    f = TrackFeaturizer(min_genre_count=1).fit(_tracks())
    M = f.transform(_tracks())
    names = list(f.get_feature_names_out())
    genre_cols = [i for i, n in enumerate(names) if n.startswith(("family_", "genre:"))]
    np.testing.assert_array_equal(_col(f, M, "genres_unknown"), [0, 0, 1, 1, 0, 0])
    assert np.isnan(M[[2, 3]][:, genre_cols]).all()
    assert not np.isnan(M[[0, 1, 4, 5]][:, genre_cols]).any()
    assert _col(f, M, "family_pop")[0] == 1 and _col(f, M, "family_electronic_dance")[0] == 1
    assert _col(f, M, "family_rock")[0] == 0
    assert _col(f, M, "family_hip_hop")[1] == 1 and _col(f, M, "family_world")[4] == 1


def test_frequent_genres_respect_min_count_and_order():
    f = TrackFeaturizer(min_genre_count=2).fit(_tracks())
    assert f.genres_ == ["pop"]  # 3 rows; every other genre appears once
    f = TrackFeaturizer(min_genre_count=1, max_genres=2).fit(_tracks())
    assert f.genres_ == ["pop", "conscious hip hop"]  # by count, then alphabetically


def test_unseen_genres_still_map_to_families():
    f = TrackFeaturizer(min_genre_count=1).fit(_tracks())
    new = pd.DataFrame({"genres": [["norwegian black metal"], ["reggaeton"], ["pop"]]})
    M = f.transform(new)
    assert _col(f, M, "family_metal_punk")[0] == 1
    assert _col(f, M, "family_latin")[1] == 1
    np.testing.assert_array_equal(_col(f, M, "genre:pop"), [0, 0, 1])
    np.testing.assert_array_equal(_col(f, M, "genres_unknown"), [0, 0, 0])


def test_pipe_joined_and_list_genres_give_identical_output():
    listed = _tracks()
    joined = listed.copy()
    joined["genres"] = ["dance pop|pop", "conscious hip hop", "", np.nan, "pop|k-pop", "pop"]
    literal = listed.copy()
    literal["genres"] = ["['dance pop', 'pop']", "['conscious hip hop']", "[]", None,
                         "['pop', 'k-pop']", "['pop']"]
    f = TrackFeaturizer(min_genre_count=1).fit(listed)
    expected = f.transform(listed)
    np.testing.assert_array_equal(f.transform(joined), expected)
    np.testing.assert_array_equal(f.transform(literal), expected)
    g = TrackFeaturizer(min_genre_count=1).fit(joined)
    assert g.genres_ == f.genres_


def test_absent_columns_become_all_nan_columns():
    f = TrackFeaturizer(min_genre_count=1).fit(_tracks())
    bare = pd.DataFrame({"track_id": ["x", "y"], "energy": [0.1, 0.2]})
    M = f.transform(bare)
    assert M.shape == (2, len(f.get_feature_names_out()))
    np.testing.assert_allclose(_col(f, M, "energy"), [0.1, 0.2], rtol=1e-6)
    others = [i for i, n in enumerate(f.get_feature_names_out()) if n not in ("energy", "genres_unknown")]
    assert np.isnan(M[:, others]).all()
    np.testing.assert_array_equal(_col(f, M, "genres_unknown"), [1, 1])
    # fitting on a table without genres keeps the family columns (all NaN) but no genre indicators
    f2 = TrackFeaturizer().fit(bare)
    assert not any(n.startswith("genre:") for n in f2.get_feature_names_out())
    assert "family_rock" in f2.get_feature_names_out()


def test_use_genres_false_has_no_genre_columns():
    f = TrackFeaturizer(use_genres=False).fit(_tracks())
    names = list(f.get_feature_names_out())
    assert not any(n.startswith(("family_", "genre:", "genres_unknown")) for n in names)
    assert f.transform(_tracks()).shape == (6, len(names))


def test_row_order_and_index_do_not_matter():
    f = TrackFeaturizer(min_genre_count=1).fit(_tracks())
    shuffled = _tracks().iloc[[5, 3, 1, 0, 4, 2]].set_index(pd.Index([10, 3, 7, 7, 1, 0]))
    np.testing.assert_array_equal(f.transform(shuffled), f.transform(_tracks())[[5, 3, 1, 0, 4, 2]])


def test_reference_year_default_is_fit_year_and_params_clone():
    f = TrackFeaturizer(max_genres=3)
    assert clone(f).get_params()["max_genres"] == 3
    f.fit(_tracks())
    assert 2024 <= f.reference_year_ <= 2100
    with pytest.raises(TypeError):
        f.transform(np.zeros((2, 3)))
