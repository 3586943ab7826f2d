"""Smoke test of the quality benchmark's simulation core on a tiny synthetic world."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _quality_sim as q  # noqa: E402

from spotify_modeling.sandbox.simulate import build_world  # noqa: E402
from spotify_modeling.db.store import Store  # noqa: E402
from spotify_modeling.db.model_table import track_table  # noqa: E402


@pytest.fixture(scope="module")
def world():
    return build_world(seed=3, persona="hiphop_loyalist", n_tracks=2500, n_plays=1500)


@pytest.fixture(scope="module")
def result(world):
    settings = q.SimSettings(weeks=2, pool_per_week=300, holdout=150, auc_step=20, auc_random_max=40)
    return q.run_one(world, settings, seed=3)


def test_every_method_pushes_same_size_batches_of_unknown_new_tracks(world, result):
    known = set(world.history["track_id"]) | {t for p in world.playlists for t in p.track_ids} \
        | {t for t, _ in world.saved_tracks}
    sizes = {m: [len(b) for b in batches] for m, batches in result["batches"].items()}
    assert set(sizes) == set(q.METHODS)
    assert len({tuple(s) for s in sizes.values()}) == 1          # same batch size for every method, each week
    assert all(n >= 10 for n in sizes["ours"])                   # WeeklyConfig.min_batch
    for m, batches in result["batches"].items():
        ids = [t for b in batches for t in b]
        assert len(ids) == len(set(ids)), f"{m} pushed a track twice"
        assert not set(ids) & known, f"{m} pushed a track the user knows"


def test_hit_rates_are_counted_from_labels_and_ceiling_beats_random(result):
    w = result["weeks"]
    allrows = w[w["slice"] == "all"]
    assert set(allrows["week"]) == {1, 2}
    assert (allrows["labelled"] == allrows["n"]).all()           # label_rate 1.0: everything labelled
    assert (allrows["liked"] <= allrows["labelled"]).all()
    np.testing.assert_allclose(allrows["hit_rate"], allrows["liked"] / allrows["labelled"])
    exp = allrows.groupby("method")["exp_liked"].sum() / allrows.groupby("method")["labelled"].sum()
    assert exp["ceiling"] > exp["ours"] > exp["random"]
    # the hidden taste's own top-k maximises the expected likes, so no method can beat it, not even the
    # model fit to thousands of hidden-taste scores
    assert exp["ceiling"] >= exp["supervised"] - 1e-9 and exp["supervised"] > exp["random"]   # (equal when both pick the same)
    ours = w[(w["method"] == "ours") & (w["slice"] != "all")]
    assert set(ours["slice"]) == {"exploit", "explore", "control"}
    per_week = ours.groupby("week")["labelled"].sum()
    assert (per_week.to_numpy() == allrows[allrows["method"] == "ours"]["labelled"].to_numpy()).all()


def test_auc_curve_has_both_orders(result):
    auc = result["auc"]
    assert set(auc["order"]) == {"ours", "random", "bayes"}
    assert auc["auc"].between(0, 1).all()
    # the Bayes row scores the held-out labels with the hidden taste itself: one row, and better than chance
    bayes = auc[auc["order"] == "bayes"]
    assert len(bayes) == 1 and bayes["auc"].iloc[0] > 0.55
    assert list(auc.loc[auc["order"] == "random", "n"]) == [20, 40]


def test_catalog_rows_match_what_track_table_reads_from_an_enriched_store(world, tmp_path):
    cat = world.catalog
    ids = list(dict.fromkeys(world.history["track_id"]))[:60]
    store = Store(tmp_path / "s.sqlite")
    try:
        q.fill_store_from_catalog(store, cat, ids)
        from_store = track_table(store, ids)
    finally:
        store.close()
    from_store = from_store[from_store["danceability"].notna()].reset_index(drop=True)
    from spotify_modeling.db.model_table import artist_play_counts
    store = Store(tmp_path / "s.sqlite")
    try:
        per_artist, _ = artist_play_counts(store)   # no plays imported: every artist has 0 plays
    finally:
        store.close()
    mine = q.add_artist_plays(q.catalog_table(cat, cat.positions(ids), genre_artists=None), per_artist)
    assert list(mine["track_id"]) == list(from_store["track_id"])
    pd.testing.assert_frame_equal(mine[list(from_store.columns)], from_store, check_dtype=False)
    covered = cat.truth["reccobeats_covered"].to_numpy()[cat.positions(ids)]
    assert len(mine) == covered.sum()


def test_pool_artist_plays_matches_the_products_definition_and_ablation_drops_it():
    df = pd.DataFrame({"track_id": ["a", "b", "c"], "artist_ids": [["x"], ["y", "x"], []]})
    out = q.add_artist_plays(df, {"x": 5, "y": 9})
    np.testing.assert_allclose(out[q.ARTIST_PLAYS], [np.log1p(5), np.log1p(9), np.nan])  # primary artist only
    assert q.ARTIST_PLAYS not in q.add_artist_plays(out, None).columns


def test_labels_to_reach_reads_each_orders_first_crossing():
    import quality

    curve = pd.DataFrame({"ours": [0.52, 0.58, 0.61, np.nan], "random": [0.55, 0.62, 0.66, 0.71]},
                         index=pd.Index([10, 20, 30, 40], name="n"))
    reach = quality.labels_to_reach(curve, levels=(0.55, 0.6, 0.7, 0.75))
    assert reach.loc[0.55].tolist() == [20.0, 10.0, 2.0]
    assert reach.loc[0.6].tolist() == [30.0, 20.0, 1.5]
    assert np.isnan(reach.loc[0.7, "ours"]) and reach.loc[0.7, "random"] == 40.0
    assert reach.loc[0.75].isna().all()
