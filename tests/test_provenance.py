"""Stage 1 must learn taste, not where a track's metadata came from (issue: playlist CV AUC 0.998 on a names-only export).

Unit tests of the balance and the guard, then both export kinds end to end through `features` (and one weekly run for
the affinity model) against the stand-in server: a names-only history with URI playlists, and an extended history.
"""

from __future__ import annotations

import json
import re
import sqlite3

import numpy as np
import pandas as pd
import pytest

from spotify_modeling.sandbox import simulate
from spotify_modeling.cli import main
from spotify_modeling.core.featurize import PROVENANCE_COLUMNS, missingness
from spotify_modeling.core.models import AffinityModel, LikeabilityModel, PlaylistModel
from spotify_modeling.pipeline.persist import load_model
from spotify_modeling.core.provenance import PatternRate, balance_missingness, guard_sentence, provenance_guard
from spotify_modeling.sandbox.standin import StandInServer, StandInState

from test_weekly import _env


def _tracks(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "track_id": [f"t{i}" for i in range(n)], "track_name": [f"song {i}" for i in range(n)],
        "artist_names": [[f"artist {i % 40}"] for i in range(n)], "artist_ids": [[f"a{i % 40}"] for i in range(n)],
        "duration_ms": rng.integers(120_000, 300_000, n).astype(float),
        "release_date": rng.choice(["1990", "2005-03", "2019-11-02"], n).astype(object),
        "explicit": rng.integers(0, 2, n).astype(float),
        **{c: rng.random(n) for c in ("danceability", "energy", "speechiness", "acousticness", "instrumentalness",
                                      "liveness", "valence")},
        "key": rng.integers(0, 12, n).astype(float), "mode": rng.integers(0, 2, n).astype(float),
        "loudness": rng.normal(-8, 3, n), "tempo": rng.normal(120, 20, n), "time_signature": np.nan,
        "genres": [["indie rock"] if i % 3 else ["hip hop"] for i in range(n)],
        "artist_plays": rng.random(n) * 3,
    })


def _stubs(X: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """Rows identified by an export URI: no release date, no explicit flag (what a names-only export's playlists give)."""
    X = X.copy()
    X.loc[rows, "release_date"] = None
    X.loc[rows, "explicit"] = np.nan
    return X


def test_missingness_reads_unknowns_as_the_featurizer_does():
    X = pd.DataFrame({"duration_ms": [200000, 0, None], "release_date": ["2020", "0000", None],
                      "explicit": [1, None, "yes"], "genres": [["pop"], [], None], "artist_plays": [1.0, None, 0.0]})
    m = missingness(X)
    assert list(m.columns) == PROVENANCE_COLUMNS
    assert m.to_numpy().tolist() == [[False, False, False, False, False],
                                     [True, True, True, True, True],
                                     [True, True, False, True, False]]
    assert missingness(X.drop(columns=["explicit"]))["explicit"].all()   # an absent column is unknown everywhere


def test_balance_equalises_joint_missingness_and_never_invents_a_value():
    X = _tracks(2000)
    y = np.r_[np.ones(1000, int), np.zeros(1000, int)]
    rng = np.random.default_rng(1)
    stub = np.flatnonzero((y == 1) & (rng.random(2000) < 0.6))       # 60% of positives are URI stubs
    X = _stubs(X, stub)
    out = balance_missingness(X, y, random_state=0)
    before, after = missingness(X), missingness(out)
    assert before.loc[y == 1, "explicit"].mean() == pytest.approx(0.6, abs=0.04)
    assert before.loc[y == 0, "explicit"].mean() == 0
    for col in ("explicit", "release_date"):
        assert after.loc[y == 1, col].mean() == pytest.approx(after.loc[y == 0, col].mean(), abs=0.05)
    # joint pattern: both facts missing together on both sides, not independently
    both = after["explicit"] & after["release_date"]
    assert both[y == 0].mean() == pytest.approx(both[y == 1].mean(), abs=0.05)
    assert (after["explicit"] == after["release_date"]).all()
    # values are only hidden: every known cell of the output is the input's own value
    known = ~after["explicit"]
    assert (out.loc[known, "explicit"] == X.loc[known, "explicit"]).all()
    assert (out["danceability"] == X["danceability"]).all()
    assert X.loc[y == 0, "explicit"].notna().all()                    # the input is not changed


def test_balance_leaves_columns_alone_whose_missingness_already_matches():
    X = _tracks(400)
    y = np.r_[np.ones(200, int), np.zeros(200, int)]
    X.loc[::5, "genres"] = None                                        # same 20% on both sides
    out = balance_missingness(X, y)
    assert out["genres"].isna().sum() == X["genres"].isna().sum()


def test_pattern_rate_is_the_rate_of_each_pattern():
    M = np.array([[1, 0]] * 4 + [[0, 0]] * 4)
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    p = PatternRate(prior=0).fit(M, y).predict_proba(np.array([[1, 0], [0, 0], [0, 1]]))[:, 1]
    # rates 0.75 and 0.25 around a base rate of 0.5, centred (0.5 = no information; unseen pattern: the base rate)
    assert p.tolist() == [0.625, 0.375, 0.5]


def test_guard_names_the_leak_without_balance_and_passes_with_it():
    X = _tracks(1500, seed=2)
    y = (np.random.default_rng(3).random(1500) < 0.3).astype(int)
    X = _stubs(X, np.flatnonzero(y == 1))                              # every positive is a stub
    leaky = provenance_guard(PlaylistModel(missing_policy="as_is"), X, y)
    assert not leaky["ok"] and leaky["auc"] > 0.95
    assert {d["feature"] for d in leaky["leaks"]} == {"explicit", "release_date"}
    assert leaky["leaks"][0]["missing_positive"] == 1.0 and leaky["leaks"][0]["missing_negative"] == 0.0
    assert guard_sentence(leaky, "playlist").startswith(
        "`release_date` is unknown for 100% of your playlist and saved tracks and 0% of your other played tracks")
    fair = provenance_guard(PlaylistModel(), X, y)
    assert fair["ok"] and abs(fair["auc"] - 0.5) <= 0.05 and fair["leaks"] == []


def test_regressor_guard_splits_its_target_at_the_median():
    X = _tracks(1200, seed=4)
    y = np.random.default_rng(5).random(1200)
    X = _stubs(X, np.flatnonzero(y > 0.7))                            # the most-played tracks are the described ones
    assert not provenance_guard(LikeabilityModel(missing_policy="as_is"), X, y)["ok"]
    assert provenance_guard(LikeabilityModel(), X, y)["ok"]


def test_affinity_guard_drops_unused_genres_before_checking():
    X = _tracks(1200, seed=6)
    y = np.r_[np.ones(400, int), np.zeros(800, int)]
    X.loc[y == 0, "genres"] = None                                     # random pool tracks never got genres
    model = AffinityModel()                                            # auto policy: gap 1.0 -> genre-free
    guard = provenance_guard(model, X, y)
    assert guard["ok"] and "genres" not in model.training_frame(X, y).columns


# ------------------------------------------------------------------------------------------ both export kinds


def _features_home(tmp_path, kind: str, seed: int):
    world = simulate.build_world(seed=seed, persona="indie_explorer", n_tracks=3000, n_plays=2500)
    state = StandInState()
    world.populate(state)
    export = world.write_export(tmp_path / "export", kind=kind, as_zip=True)
    return world, state, export, tmp_path / "home"


def _card(home, name):
    return json.loads((home / "saved_models" / f"{name}.json").read_text())["extra"]


def test_names_only_history_with_uri_playlists_trains_a_playlist_model_on_taste(tmp_path, capsys, monkeypatch):
    world, state, export, home = _features_home(tmp_path, "account", seed=5)
    with StandInServer(state) as server:
        _env(monkeypatch, server, home)
        assert main(["features", str(export)]) == 0
        out = capsys.readouterr().out
        details = [c.path for c in server.calls_in("tracks")]
    # the fixture has the leak: playlist tracks are URI stubs, searched history tracks are fully described
    db = sqlite3.connect(home / "data" / "spotify_model.db")
    from spotify_modeling.db.store import Store
    from spotify_modeling.pipeline.train import training_data

    with Store(home / "data" / "spotify_model.db") as store:
        X, y = training_data(store)
    m = missingness(X)
    playlist = y["playlist"].to_numpy() == 1
    assert m.loc[playlist, "explicit"].mean() - m.loc[~playlist, "explicit"].mean() > 0.1   # after 100 details calls
    # what each details call buys: the release date and explicit flag of one URI track, at most 100 a run
    step = re.search(r"release date \+ explicit\s+([\d,]+)/([\d,]+)", out)
    assert step and int(step.group(1)) == 100 < int(step.group(2).replace(",", ""))
    described = db.execute("SELECT count(*) FROM tracks WHERE meta_source = 'spotify' AND release_date IS NOT NULL "
                           "AND explicit IS NOT NULL").fetchone()[0]
    assert 100 <= described <= len(details) == len(set(details))        # one call per track, never twice
    card = _card(home, "playlist")
    guard = card["provenance_guard"]
    assert guard["ok"] and abs(guard["auc"] - 0.5) <= 0.05
    assert json.loads((home / "saved_models" / "playlist.json").read_text())["metrics"]["value"] < 0.9                              # was 1.0: "metadata missing = in a playlist"
    assert "unreliable" not in out
    # the same fit without the balance is what the guard exists to catch
    assert not provenance_guard(PlaylistModel(missing_policy="as_is"), X, y["playlist"].to_numpy())["ok"]
    assert isinstance(load_model("playlist", home / "saved_models"), PlaylistModel)


def test_extended_history_affinity_does_not_contrast_stubs_with_the_searched_pool(tmp_path, capsys, monkeypatch):
    """Every extended-history track has a URI, so most are stubs; every pool track comes from search, fully described."""
    from spotify_modeling.core.selection.decisions import affinity_fit_data
    from spotify_modeling.pipeline.pool import random_sample_ids
    from spotify_modeling.db.store import Store
    from spotify_modeling.db.model_table import has_features, track_table
    from spotify_modeling.pipeline.train import history_window, training_data

    world, state, export, home = _features_home(tmp_path, "extended", seed=6)
    with StandInServer(state) as server:
        _env(monkeypatch, server, home)
        assert main(["features", str(export)]) == 0
        assert main(["candidates", "--seed", "1"]) == 0                 # the pool: random catalog tracks
        weekly = capsys.readouterr().out
        assert main(["train"]) == 0                                      # stage 1 again, now with affinity
        trained = capsys.readouterr().out
    with Store(home / "data" / "spotify_model.db") as store:
        X, _ = training_data(store)
        pool = track_table(store, random_sample_ids(store))
        table, y, _ = affinity_fit_data(X, pool[has_features(pool)], history_window(store))
    m = missingness(table)
    assert m.loc[y == 1, "explicit"].mean() > 0.5 and m.loc[y == 0, "explicit"].mean() == 0   # the leak is there
    assert not provenance_guard(AffinityModel(missing_policy="as_is"), table, y)["ok"]
    assert _card(home, "affinity")["provenance_guard"]["ok"]
    assert "affinity" in trained and "unreliable" not in trained and "affinity model:" not in weekly
