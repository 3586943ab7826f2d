"""Composite scoring, batch selection, baselines and hit rates (spotify_modeling.core.selection)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from spotify_modeling.errors import BadInput
from spotify_modeling.core.selection import (
    CompositeScorer,
    batch_sizes,
    explore_uncertainty,
    hit_rates,
    inclusion_probabilities,
    select_batch,
    select_original,
    select_random,
    split_sizes,
    systematic_pps,
    transform_outputs,
)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_pool(n: int, seed: int = 0, n_artists: int = 200, with_label: bool = True) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    taste = r.normal(size=n)
    fams = ["rock", "pop", "jazz", "hip hop", "electronic"]
    df = pd.DataFrame({
        "track_id": [f"t{i}" for i in range(n)],
        "track_name": [f"song {i}" for i in range(n)],
        "artist_ids": [[f"a{r.integers(n_artists)}"] for _ in range(n)],
        "artist_names": [["x"] for _ in range(n)],
        "families": [[fams[r.integers(len(fams))]] for _ in range(n)],
        "p_affinity": sigmoid(taste + r.normal(size=n)),
        "p_playlist": r.uniform(size=n),
        "likeability": r.uniform(size=n),
    })
    if with_label:
        df["p_label"] = sigmoid(2 * taste + r.normal(size=n))
    return df


def labelled_world(n: int, seed: int, informative: str, strength: float = 3.0):
    """Stored push-time features of n labelled tracks where one model carries the signal."""
    r = np.random.default_rng(seed)
    taste = r.normal(size=n)
    outs = {c: r.uniform(size=n) for c in ["p_affinity", "p_playlist", "likeability", "p_label"]}
    outs[informative] = sigmoid(taste + 0.3 * r.normal(size=n))
    y = (r.uniform(size=n) < sigmoid(strength * taste - 0.5)).astype(int)
    return transform_outputs(pd.DataFrame(outs)), y


# -- composite -------------------------------------------------------------------------------

def test_transform_outputs_ranks_within_pool_then_logit():
    pool = pd.DataFrame({"p_playlist": [0.1, 0.9, 0.5, np.nan], "likeability": [3.0, 1.0, 2.0, 5.0]})
    Z = transform_outputs(pool)
    assert list(Z.columns) == ["z_playlist", "z_likeability"]
    np.testing.assert_allclose(Z["z_playlist"].iloc[:3], [-math.log(5), math.log(5), 0.0])
    assert np.isnan(Z["z_playlist"].iloc[3])
    # likeability on another scale: only its order matters (u = 2.5/4, .5/4, 1.5/4, 3.5/4)
    np.testing.assert_allclose(Z["z_likeability"], np.log(np.array([2.5, .5, 1.5, 3.5]) / np.array([1.5, 3.5, 2.5, .5])))
    same = transform_outputs(pool.assign(likeability=np.exp(pool["likeability"])))
    np.testing.assert_allclose(same["z_likeability"], Z["z_likeability"])


def test_no_labels_uses_prior_and_drops_absent_outputs():
    scorer = CompositeScorer().fit(None, None)
    assert scorer.learned_ is False
    assert scorer.weights_ == {"affinity": 0.5, "playlist": 0.25, "likeability": 0.25, "label": 0.0}
    pool = pd.DataFrame({"p_playlist": [0.2, 0.8, 0.5], "likeability": [0.1, 0.3, 0.9]})
    assert scorer.effective_weights(pool) == {"playlist": 0.5, "likeability": 0.5}
    Z = transform_outputs(pool)
    np.testing.assert_allclose(scorer.decision_function(pool), 0.5 * Z["z_playlist"] + 0.5 * Z["z_likeability"])
    # an unfitted scorer scores with the prior too
    np.testing.assert_allclose(CompositeScorer().fit().decision_function(pool), scorer.decision_function(pool))


def test_custom_prior_and_clone():
    scorer = CompositeScorer(prior_weights={"playlist": 3.0, "likeability": 1.0}, n0=10)
    assert clone(scorer).get_params()["prior_weights"] == {"playlist": 3.0, "likeability": 1.0}
    scorer.fit(None, None)
    assert scorer.weights_ == {"playlist": 0.75, "likeability": 0.25}
    with pytest.raises(ValueError):
        CompositeScorer(prior_weights={"popularity": 1.0}).fit(None, None)


def test_too_few_labels_or_one_class_keeps_prior():
    Z, y = labelled_world(8, 0, "p_playlist")
    assert CompositeScorer(min_labels=10).fit(Z, y).learned_ is False
    Z, y = labelled_world(50, 0, "p_playlist")
    s = CompositeScorer().fit(Z, np.ones(50))
    assert s.learned_ is False and s.weights_["affinity"] == 0.5


def test_learned_weights_follow_informative_model_with_many_labels_stay_near_prior_with_few():
    prior = CompositeScorer().fit(None, None).weights_
    many = CompositeScorer().fit(*labelled_world(3000, 1, "p_playlist"))
    assert many.learned_
    assert max(many.weights_, key=lambda k: abs(many.weights_[k])) == "playlist"
    assert many.weights_["playlist"] > 0.7
    # few, weakly informative labels: the prior still dominates
    few_dist = []
    for seed in range(5):
        few = CompositeScorer().fit(*labelled_world(12, seed, "p_playlist", strength=1.0))
        assert few.learned_ and few.data_share_ == pytest.approx(12 / 42)
        few_dist.append(sum(abs(few.weights_[k] - prior[k]) for k in prior))
    many_dist = sum(abs(many.weights_[k] - prior[k]) for k in prior)
    assert np.mean(few_dist) < 0.5 * many_dist
    # the pseudo-count is what holds the prior: a huge n0 keeps it even with many labels
    stubborn = CompositeScorer(n0=1e7).fit(*labelled_world(3000, 1, "p_playlist"))
    assert all(stubborn.weights_[k] == pytest.approx(prior[k], abs=0.01) for k in prior)


def test_stage2_weight_grows_with_labels():
    label_w = []
    for n in (30, 300, 3000):
        s = CompositeScorer().fit(*labelled_world(n, 7, "p_label"))
        label_w.append(s.weights_["label"])
    assert label_w[0] < label_w[1] < label_w[2]
    assert label_w[2] > 0.8


def test_stage2_weight_not_learned_from_rows_without_p_label():
    Z, y = labelled_world(500, 3, "p_playlist")
    Z["z_label"] = np.nan  # pushed before stage 2 existed
    s = CompositeScorer().fit(Z, y)
    assert s.weights_["label"] == 0.0
    assert s.weights_["playlist"] > 0.5


def test_learned_weights_improve_ranking_on_fresh_pool():
    scorer = CompositeScorer().fit(*labelled_world(2000, 11, "p_label"))
    r = np.random.default_rng(12)
    taste = r.normal(size=1000)
    pool = pd.DataFrame({"p_affinity": r.uniform(size=1000), "p_playlist": r.uniform(size=1000),
                         "likeability": r.uniform(size=1000), "p_label": sigmoid(taste)})
    top = np.argsort(-scorer.decision_function(pool))[:50]
    prior_top = np.argsort(-CompositeScorer().fit().decision_function(pool))[:50]
    assert taste[top].mean() > 1.0 > taste[prior_top].mean()


# -- batch sizes -------------------------------------------------------------------------------

def test_split_and_batch_sizes():
    assert split_sizes(20) == {"exploit": 14, "explore": 4, "control": 2}
    assert split_sizes(30) == {"exploit": 21, "explore": 6, "control": 3}
    assert split_sizes(5)["control"] == 1
    assert split_sizes(4, control_share=0.1)["control"] == 0
    # top 1% of 2000 = 20 exploit -> 20 / 0.7 = 28.6 -> 29 total
    assert batch_sizes(2000, 0.01) == split_sizes(29)
    assert sum(batch_sizes(300, 0.01).values()) == 10  # clamped up to min_total
    assert sum(batch_sizes(10000, 0.05).values()) == 30  # clamped down to max_total
    assert sum(batch_sizes(6, 0.5).values()) == 6  # never more than the pool
    with pytest.raises(BadInput):
        batch_sizes(1000, 5)


# -- select_batch -------------------------------------------------------------------------------

def test_slices_match_configured_shares_and_columns():
    pool = make_pool(600)
    s = CompositeScorer().fit().decision_function(pool)
    b = select_batch(pool, s, n_total=20, rng=0)
    assert list(b.columns[:6]) == ["track_id", "slice", "rank", "score", "choice_prob", "reason"]
    assert Counter(b["slice"]) == {"exploit": 14, "explore": 4, "control": 2}
    assert list(b["rank"]) == list(range(1, 21))
    assert b["track_id"].is_unique
    assert b.attrs["shortfall"] == 0
    b30 = select_batch(pool, s, n_total=30, explore_share=0.3, control_share=0.2, rng=0)
    assert Counter(b30["slice"]) == {"exploit": 15, "explore": 9, "control": 6}


def test_exploit_is_top_by_score_when_caps_do_not_bind():
    pool = make_pool(300, n_artists=10_000)
    pool["families"] = [[] for _ in range(300)]
    s = CompositeScorer().fit().decision_function(pool)
    b = select_batch(pool, s, n_total=10, rng=1)
    exploit = b[b["slice"] == "exploit"]
    top = set(pool["track_id"].to_numpy()[np.argsort(-s)[:len(exploit)]])
    assert set(exploit["track_id"]) == top
    assert (exploit["choice_prob"] == 1.0).all()
    assert exploit["reason"].str.match(r"top \d+% composite \(-?\d+\.\d\d\)").all()


def test_caps_hold_on_adversarial_pool():
    n = 400
    pool = make_pool(n, seed=3)
    s = np.linspace(10, 0, n)  # row order = score order
    pool["artist_ids"] = [["A"] if i < 30 else a for i, a in enumerate(pool["artist_ids"])]  # top 30
    pool["families"] = [["hip hop"] if i < 320 else ["jazz"] for i in range(n)]  # one family 80%
    pool["families"] = [[] if 100 <= i < 110 else f for i, f in enumerate(pool["families"])]
    for seed in range(20):
        b = select_batch(pool, s, n_total=20, rng=seed)
        assert len(b) == 20
        chosen = pool.set_index("track_id").loc[b["track_id"]]
        artists = Counter(a for ids in chosen["artist_ids"] for a in ids)
        families = Counter(f for fs in chosen["families"] for f in fs)
        assert max(artists.values()) <= 2
        assert families["hip hop"] <= 8  # 0.4 * 20
    exploit = b[b["slice"] == "exploit"]
    assert exploit["track_id"].iloc[np.argsort(exploit["score"].to_numpy())[::-1][:2]].tolist() == ["t0", "t1"]


def test_all_artist_ids_count_toward_the_cap():
    pool = pd.DataFrame({"track_id": ["t0", "t1", "t2", "t3"],
                         "artist_ids": [["A"], ["B", "A"], ["A"], ["C"]],
                         "p_playlist": [0.9, 0.8, 0.7, 0.1]})
    b = select_batch(pool, pool["p_playlist"].to_numpy(), n_total=3, explore_share=0,
                     control_share=0, max_per_artist=2, rng=0)
    assert set(b["track_id"]) == {"t0", "t1", "t3"}
    # artist_id (single column) is used when artist_ids is absent
    pool2 = pool.drop(columns="artist_ids").assign(artist_id=["A", "A", "A", "C"])
    b2 = select_batch(pool2, pool["p_playlist"].to_numpy(), n_total=3, explore_share=0,
                      control_share=0, rng=0)
    assert set(b2["track_id"]) == {"t0", "t1", "t3"}


def test_short_batch_is_reported():
    pool = pd.DataFrame({"track_id": [f"t{i}" for i in range(30)],
                         "artist_ids": [[f"a{i % 3}"] for i in range(30)],
                         "p_playlist": np.linspace(1, 0, 30)})
    b = select_batch(pool, pool["p_playlist"].to_numpy(), n_total=20, rng=0)
    assert len(b) == 6  # 3 artists x 2
    assert b.attrs["requested"] == 20 and b.attrs["shortfall"] == 14
    assert "only 6 of 20" in b.attrs["note"]


def test_control_choice_prob_is_k_over_remaining_and_control_is_uniform():
    n = 40
    pool = make_pool(n, seed=5, n_artists=10_000)
    pool["families"] = [[] for _ in range(n)]
    s = CompositeScorer().fit().decision_function(pool)
    counts = Counter()
    runs = 1000
    for seed in range(runs):
        b = select_batch(pool, s, n_total=10, explore_share=0.0, control_share=0.2, rng=seed)
        control = b[b["slice"] == "control"]
        assert len(control) == 2
        assert (control["choice_prob"] == 2 / 32).all()  # 40 - 8 exploit picks remain
        assert control["reason"].iloc[0] == "control: uniform random (2 of 32)"
        counts.update(control["track_id"])
    assert len(counts) == 32
    expected = runs * 2 / 32  # 62.5 per track
    freq = np.array(list(counts.values()))
    assert freq.min() > 0.5 * expected and freq.max() < 1.5 * expected
    chi2 = ((freq - expected) ** 2 / expected).sum()
    assert chi2 < 70  # 31 degrees of freedom: p < 1e-4 above ~70


def test_explore_picks_are_plausible_uncertain_and_choice_prob_is_the_inclusion_probability():
    pool = make_pool(200, seed=9, n_artists=10_000)
    pool["families"] = [[] for _ in range(200)]
    s = CompositeScorer().fit().decision_function(pool)
    u, _ = explore_uncertainty(pool, s)
    median = np.quantile(s, 0.5)
    picked_u = []
    for seed in range(200):
        b = select_batch(pool, s, n_total=20, rng=seed)
        ex = b[b["slice"] == "explore"]
        assert len(ex) == 4
        assert (ex["score"] >= median).all()
        assert b["choice_prob"].between(0, 1, inclusive="right").all()
        assert ex["reason"].str.startswith("exploration: most uncertain stage-2 (p=").all()
        picked_u.extend(u[pool["track_id"].isin(ex["track_id"]).to_numpy()])
    # the exploit slice is deterministic here, so the eligible set is the same every run
    exploit_ids = set(b.loc[b["slice"] == "exploit", "track_id"])
    eligible = (s >= median) & ~pool["track_id"].isin(exploit_ids).to_numpy()
    assert np.mean(picked_u) > u[eligible].mean() + 0.15
    pi = inclusion_probabilities(u[eligible] ** 2 + 1e-6, 4)
    pi_of = dict(zip(pool["track_id"][eligible], pi))
    for tid, p in zip(ex["track_id"], ex["choice_prob"]):
        assert p == pytest.approx(pi_of[tid])


def test_systematic_pps_realises_the_inclusion_probabilities():
    w = np.array([5.0, 3, 1, 1, 0.5, 0.5, 0.01, 4])
    pi = inclusion_probabilities(w, 3)
    assert pi.sum() == pytest.approx(3) and pi.max() <= 1
    rng = np.random.default_rng(0)
    counts = np.zeros(len(w))
    runs = 20_000
    for _ in range(runs):
        drawn = systematic_pps(pi, rng)
        assert len(drawn) == 3 and len(set(drawn)) == 3
        counts[drawn] += 1
    np.testing.assert_allclose(counts / runs, pi, atol=0.015)


def test_explore_without_stage2_uses_stage1_disagreement():
    pool = make_pool(300, seed=2, with_label=False)
    s = CompositeScorer().fit().decision_function(pool)
    b = select_batch(pool, s, n_total=20, rng=4)
    assert b.loc[b["slice"] == "explore", "reason"].str.contains("stage-1 models disagree").all()
    u, why = explore_uncertainty(pool.drop(columns=["p_playlist", "likeability"]), s)
    assert why[0] == "nearest the decision boundary"
    assert ((u >= 0) & (u <= 1)).all()


def test_given_uncertainty_overrides_builtin():
    pool = make_pool(100, seed=1, n_artists=10_000)
    pool["families"] = [[] for _ in range(100)]
    s = np.linspace(1, 0, 100)
    unc = np.zeros(100)
    unc[[30, 31, 32, 33]] = 1.0  # plausible (above the median), not in the top 14
    b = select_batch(pool, s, n_total=20, uncertainty=unc, rng=0)
    assert set(b.loc[b["slice"] == "explore", "track_id"]) == {"t30", "t31", "t32", "t33"}


def test_inclusion_probabilities_cap_at_one_and_sum_to_k():
    pi = inclusion_probabilities(np.array([100.0, 1, 1, 1, 1]), 2)
    assert pi[0] == 1.0 and pi[1:] == pytest.approx([0.25] * 4)


def test_deterministic_by_seed():
    pool = make_pool(500, seed=4)
    s = CompositeScorer().fit().decision_function(pool)
    a = select_batch(pool, s, rng=np.random.default_rng(42))
    b = select_batch(pool, s, rng=np.random.default_rng(42))
    c = select_batch(pool, s, rng=np.random.default_rng(43))
    pd.testing.assert_frame_equal(a, b)
    assert list(a["track_id"]) != list(c["track_id"])


def test_nan_scores_are_never_exploited():
    pool = make_pool(50, seed=6, n_artists=10_000)
    s = CompositeScorer().fit().decision_function(pool)
    s[:10] = np.nan
    b = select_batch(pool, s, n_total=10, rng=0)
    non_control = b[b["slice"] != "control"]
    assert not non_control["track_id"].isin([f"t{i}" for i in range(10)]).any()


# -- baselines -------------------------------------------------------------------------------

def test_select_original_is_playlist_times_label_top_k_and_ignores_caps():
    pool = pd.DataFrame({"track_id": [f"t{i}" for i in range(6)],
                         "artist_ids": [["A"]] * 6, "families": [["rap"]] * 6,
                         "p_playlist": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
                         "p_label": [0.1, 0.9, 0.9, 0.9, 0.9, np.nan]})
    b = select_original(pool, n_total=4)
    # products 0.09, 0.72, 0.63, 0.54, 0.45, (no stage 2 -> 0.4)
    assert list(b["track_id"]) == ["t1", "t2", "t3", "t4"]
    assert (b["slice"] == "exploit").all() and (b["choice_prob"] == 1.0).all()
    b1 = select_original(pool.drop(columns="p_label"), n_total=3)
    assert list(b1["track_id"]) == ["t0", "t1", "t2"]


def test_select_random_uniform_and_seeded():
    pool = make_pool(50)
    a = select_random(pool, 5, rng=1)
    assert len(a) == 5 and a["track_id"].is_unique and (a["choice_prob"] == 0.1).all()
    pd.testing.assert_frame_equal(a, select_random(pool, 5, rng=1))


# -- hit rates -------------------------------------------------------------------------------

def test_hit_rates_per_batch_and_slice():
    df = pd.DataFrame({
        "batch": ["w1"] * 6 + ["w2"] * 3,
        "slice": ["exploit"] * 4 + ["control"] * 2 + ["exploit", "explore", "control"],
        "label": [1, 1, 0, None, 1, 0, 1, 0, None],
    })
    out = hit_rates(df).set_index(["batch", "slice"])
    e1 = out.loc[("w1", "exploit")]
    assert (e1["pushed"], e1["labelled"], e1["liked"]) == (4, 3, 2)
    assert e1["hit_rate"] == pytest.approx(2 / 3)
    assert e1["ci_low"] == pytest.approx(0.2077, abs=1e-4)  # Wilson 95% for 2 of 3, by hand
    assert e1["ci_high"] == pytest.approx(0.9385, abs=1e-4)
    assert e1["lift"] == pytest.approx((2 / 3) / (1 / 2))
    assert np.isnan(out.loc[("w1", "control"), "lift"])
    assert np.isnan(out.loc[("w2", "exploit"), "lift"])  # control not labelled yet
    assert e1["lift_points"] == pytest.approx(2 / 3 - 1 / 2)
    assert np.isnan(out.loc[("w2", "exploit"), "lift_points"])
    w2c = out.loc[("w2", "control")]
    assert np.isnan(w2c["hit_rate"]) and (w2c["ci_low"], w2c["ci_high"]) == (0.0, 1.0)
    a1 = out.loc[("w1", "all")]
    assert (a1["pushed"], a1["labelled"], a1["liked"]) == (6, 5, 3)
    total = out.loc[("all", "all")]
    assert (total["pushed"], total["labelled"], total["liked"]) == (9, 7, 4)
    ex_all = out.loc[("all", "exploit")]
    assert (ex_all["labelled"], ex_all["liked"]) == (4, 3)
    assert ex_all["lift"] == pytest.approx((3 / 4) / (1 / 2))


def test_lift_in_points_speaks_while_the_control_has_no_like_yet():
    df = pd.DataFrame({"batch": [1] * 5, "slice": ["exploit"] * 3 + ["control"] * 2, "label": [1, 1, 0, 0, 0]})
    row = hit_rates(df).set_index(["batch", "slice"]).loc[(1, "exploit")]
    assert np.isnan(row["lift"])                       # a ratio over a control liked 0 times is undefined
    assert row["lift_points"] == pytest.approx(2 / 3)  # the difference is not


def test_control_draws_only_from_the_random_sample_when_given():
    pool = make_pool(400, seed=5)
    random_part = np.arange(400) % 2 == 0
    for seed in range(5):
        out = select_batch(pool, pool["p_affinity"], n_total=20, explore_share=0.2, control_share=0.25,
                           rng=seed, control_from=random_part)
        control = out[out["slice"] == "control"]
        assert len(control) == 5
        idx = pool.reset_index().set_index("track_id").loc[control["track_id"], "index"].to_numpy()
        assert random_part[idx].all()
        # k of the remaining random-sample tracks, not of the whole pool
        assert control["choice_prob"].iloc[0] == pytest.approx(5 / (random_part.sum() - (random_part[
            pool.reset_index().set_index("track_id").loc[out.loc[out["slice"] != "control", "track_id"],
                                                         "index"].to_numpy()]).sum()), rel=0.1)
    # nothing of the random sample left: the control falls back to the whole pool rather than shrinking
    out = select_batch(pool, pool["p_affinity"], n_total=20, control_share=0.25, rng=0,
                       control_from=np.zeros(400, dtype=bool))
    assert (out["slice"] == "control").sum() == 5


def test_explore_widens_plausible_when_the_caps_block_the_top_of_the_pool():
    n = 200
    pool = make_pool(n, seed=9, n_artists=150)
    scores = np.linspace(1, 0, n)                       # row order = score order
    pool["families"] = [["hip hop"] if i < 40 else ["rock" if i % 2 else "pop"] for i in range(n)]
    out = select_batch(pool, scores, n_total=10, explore_share=0.3, control_share=0.0, max_family_share=0.4,
                       plausible_quantile=0.9, rng=0)
    assert len(out) == 10 and out.attrs["shortfall"] == 0
    explore = out[out["slice"] == "explore"]
    assert len(explore) == 3
    idx = pool.reset_index().set_index("track_id").loc[explore["track_id"], "index"].to_numpy()
    assert (idx >= 40).all() and (idx < n // 2).all()   # below the blocked top 20%, never below the median
    assert all("top" in r for r in explore["reason"])


def test_control_tops_up_outside_a_random_sample_that_ran_out():
    pool = make_pool(400, seed=6)
    mask = np.zeros(400, dtype=bool)
    mask[[3, 7]] = True                                   # only two random-sample tracks left
    out = select_batch(pool, np.linspace(0, 1, 400), n_total=20, control_share=0.25, rng=1, control_from=mask)
    control = out[out["slice"] == "control"]
    assert len(control) == 5 and out.attrs["shortfall"] == 0
    assert set(pool["track_id"].iloc[[3, 7]]) <= set(control["track_id"])
    assert sum("ran out" in r for r in control["reason"]) == 3


def test_family_cap_follows_your_own_listening_share():
    n = 300
    pool = make_pool(n, seed=11, n_artists=280)
    is_hiphop = np.arange(n) % 3 > 0                                           # 2/3 of the pool is hip hop
    pool["families"] = [["hip hop"] if h else ["rock"] for h in is_hiphop]
    scores = np.linspace(1, 0, n) + is_hiphop                                  # and every hip hop track ranks first
    flat = select_batch(pool, scores, n_total=20, explore_share=0.0, control_share=0.0, max_family_share=0.4, rng=0)
    mine = select_batch(pool, scores, n_total=20, explore_share=0.0, control_share=0.0, max_family_share=0.4, rng=0,
                        family_shares={"hip hop": 0.7, "rock": 0.1})
    fams = dict(zip(pool["track_id"], pool["families"]))

    def hiphop(batch):
        return sum(fams[t] == ["hip hop"] for t in batch["track_id"])

    assert hiphop(flat) == 8                   # floor(0.4 x 20)
    assert hiphop(mine) == 17                  # floor(min(1, 1.25 x 0.7) x 20): you listen to it that much
    # a family you barely play keeps the flat cap
    few = select_batch(pool, 2 - scores, n_total=20, explore_share=0.0, control_share=0.0, max_family_share=0.4, rng=0,
                       family_shares={"hip hop": 0.7, "rock": 0.1})
    assert sum(fams[t] == ["rock"] for t in few["track_id"]) == 8


def test_hit_rate_trend_compares_the_earlier_and_later_halves_of_labelled_batches():
    from spotify_modeling.cli.candidates import _trend_line
    from spotify_modeling.core.selection import hit_rate_trend

    def batch(b, liked, disliked, unlabelled=0):
        return [(b, "exploit", 1)] * liked + [(b, "exploit", 0)] * disliked + [(b, "explore", None)] * unlabelled

    rows = batch(10, 1, 9) + batch(2, 2, 8) + batch(11, 9, 1) + batch(12, 3, 1, unlabelled=2) + batch(13, 0, 0, 4)
    rates = hit_rates(pd.DataFrame(rows, columns=["batch", "slice", "label"]))
    trend = hit_rate_trend(rates.to_dict("records"))
    # batches in run order 2, 10 | 11, 12; batch 13 has no label yet and counts for neither half
    assert trend["earlier"]["batches"] == (2, 10) and trend["later"]["batches"] == (11, 12)
    assert (trend["earlier"]["liked"], trend["earlier"]["labelled"]) == (3, 20)
    assert (trend["later"]["liked"], trend["later"]["labelled"]) == (12, 14)
    assert trend["change_points"] == pytest.approx(12 / 14 - 3 / 20)
    assert not trend["overlap"]
    line = _trend_line(rates.to_dict("records"))
    assert line.startswith("trend: batches 2-10 15% liked (3 of 20;") and "+71 points (a clear rise)" in line
    # a small, noisy difference is called what it is; one labelled batch gives no trend
    close = hit_rates(pd.DataFrame(batch(1, 3, 5) + batch(2, 4, 4) + batch(3, 4, 5), columns=["batch", "slice", "label"]))
    assert hit_rate_trend(close)["overlap"] and "not yet a clear change" in _trend_line(close)
    assert hit_rate_trend(hit_rates(pd.DataFrame(batch(1, 2, 2), columns=["batch", "slice", "label"]))) is None
    assert hit_rate_trend([]) is None


# ------------------------------------------------------------------------------------------ labels correct stage 1
def _drifted(n: int, seed: int):
    """Labelled tracks whose stage-1 score says rock and folk are equally good, while the listener now dislikes folk."""
    rng = np.random.default_rng(seed)
    fam = rng.choice(["rock", "folk & country"], size=n)
    families = [["rock"] if f == "rock" else ["folk_country"] for f in fam]
    z = rng.normal(0, 1.8, n)
    logit = -1.0 + 0.8 * z + np.where(fam == "rock", 0.5, -2.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    Z = pd.DataFrame({"z_affinity": z})
    tracks = pd.DataFrame({"families": families, "release_date": ["2015"] * n})
    return Z, y, tracks


def test_corrections_learn_what_stage_1_gets_wrong_and_leave_the_rest_at_zero():
    Z, y, tracks = _drifted(300, 1)
    scorer = CompositeScorer(prior_weights={"affinity": 1.0}).fit(Z, y, tracks)
    c = scorer.corrections_learned_
    assert c["fam_folk_country"] < -1.0 < 0.2 < c["fam_rock"] + 1.0   # folk sinks, rock is not pushed down
    assert "fam_jazz_blues" not in c                                  # no evidence: no correction at all
    pool = pd.DataFrame({"p_affinity": [0.9, 0.9, 0.1], "families": [["folk_country"], ["rock"], ["rock"]],
                         "release_date": ["2015"] * 3})
    s = scorer.decision_function(pool)
    assert s[1] > s[0]                                                 # the same stage-1 score: rock now first
    off = CompositeScorer(prior_weights={"affinity": 1.0}, corrections=False).fit(Z, y, tracks)
    assert off.decision_function(pool)[0] == pytest.approx(off.decision_function(pool)[1])


def test_few_labels_move_a_family_little_many_labels_move_it_far():
    few = CompositeScorer(prior_weights={"affinity": 1.0}).fit(*_drifted(30, 2))
    many = CompositeScorer(prior_weights={"affinity": 1.0}).fit(*_drifted(600, 2))
    assert abs(few.corrections_learned_["fam_folk_country"]) < abs(many.corrections_learned_["fam_folk_country"])


def test_thompson_draws_are_wider_where_the_labels_say_nothing():
    scorer = CompositeScorer(prior_weights={"affinity": 1.0}).fit(*_drifted(300, 3))
    pool = pd.DataFrame({"p_affinity": [0.5, 0.5, 0.5], "families": [["rock"], ["jazz_blues"], ["folk_country"]],
                         "release_date": ["2015"] * 3})
    draws = scorer.sample_decision_function(pool, np.random.default_rng(0), n_draws=400)
    spread = draws.std(axis=0)
    assert spread[1] > 1.5 * spread[0] and spread[1] > 1.5 * spread[2]   # jazz: never labelled
    assert abs(draws.mean(axis=0)[0] - scorer.decision_function(pool)[0]) < 0.1


def test_thompson_exploration_picks_from_a_draw_and_reports_its_probability():
    pool = make_pool(200, seed=5, n_artists=10_000)
    s = CompositeScorer().fit().decision_function(pool)
    draws = np.vstack([s + np.random.default_rng(i).normal(0, 1.0, len(s)) for i in range(20)])
    out = select_batch(pool, s, n_total=20, explore_share=0.2, control_share=0.1, rng=0, explore_scores=draws)
    explore = out[out["slice"] == "explore"]
    assert len(explore) == 4 and explore["reason"].str.startswith("exploration: Thompson draw").all()
    assert ((explore["choice_prob"] > 0) & (explore["choice_prob"] <= 1)).all()
    exploit = set(out.loc[out["slice"] == "exploit", "track_id"])
    assert not exploit & set(explore["track_id"])


def test_the_weekly_summary_says_what_the_labels_changed():
    from spotify_modeling.cli.candidates import corrections_line

    line = corrections_line({"fam_folk_country": -0.39, "fam_jazz_blues": 0.66, "newness": 0.3, "fam_pop": 0.01})
    assert line == ("what your labels changed in the ranking (log-odds): more jazz & blues (+0.66), "
                    "less folk & country (-0.39), newer releases (+0.30)")
    assert corrections_line({}) is None


def test_fine_genre_corrections_need_enough_labelled_tracks_and_learn_within_a_family():
    from spotify_modeling.core.selection.composite import frequent_genres

    rng = np.random.default_rng(4)
    n = 400
    genre = rng.choice(["indie rock", "classic rock", "punk"], size=n)
    z = rng.normal(0, 1.8, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1 + 0.8 * z + np.where(genre == "classic rock", -2.0, 0.5))))).astype(int)
    tracks = pd.DataFrame({"genres": [[g] for g in genre]})
    tracks.loc[:2, "genres"] = pd.Series([["vaporwave"]] * 3)               # 3 labelled tracks: too few for a term
    assert sorted(frequent_genres(tracks, 5)) == ["classic rock", "indie rock", "punk"]
    scorer = CompositeScorer(prior_weights={"affinity": 1.0}).fit(pd.DataFrame({"z_affinity": z}), y, tracks)
    assert "genre:vaporwave" not in scorer.corrections_
    c = scorer.corrections_learned_
    assert c["genre:classic rock"] < c["genre:indie rock"] - 1.0              # one rock genre sinks, not all rock


def test_settings_refuse_an_unknown_explore_mode(tmp_path):
    from spotify_modeling.home import Home
    from spotify_modeling.pipeline.settings import WeeklyConfig

    (tmp_path / "spotify-model.toml").write_text('[candidates]\nexplore_mode = "greedy"\n')
    with pytest.raises(BadInput, match="explore_mode"):
        WeeklyConfig.from_home(Home(tmp_path))
    assert WeeklyConfig().explore_mode == "thompson"
