"""Where candidates come from (issue 21): the sources' evidence, the Thompson share of the searches, the seeds your
likes give, the dislike pruning, and stage 2's forward-chained weight. Pure functions, checked on hand-made labels."""

import numpy as np
import pandas as pd
import pytest

from spotify_modeling.core.selection import sources as src
from spotify_modeling.core.selection.composite import CompositeScorer, correction_features
from spotify_modeling.core.selection.decisions import forward_chained, prior_scores, stage2_prior_weight


def labelled(rows):
    """rows: (source, label, weight, artist, title, genres)."""
    return pd.DataFrame([{"source": s, "label": y, "weight": w, "artist_ids": [a], "artist_names": [a.upper()],
                          "track_name": t, "genres": g} for s, y, w, a, t, g in rows])


def test_source_posteriors_count_weighted_likes_on_a_prior_at_your_rate():
    ev = labelled([("artist", 1, 1.0, "a", "x", None)] * 6 + [("artist", 0, 1.0, "a", "y", None)] * 2
                  + [("search", 0, 0.5, "b", "z", None)] * 4)
    post = src.source_posteriors(ev)
    m = 6 / (6 + 2 + 2)        # your rate of likes, weighted: 6 likes of 10 weighted labels
    assert post["artist"] == pytest.approx((2 * m + 6, 2 * (1 - m) + 2))
    assert post["search"] == pytest.approx((2 * m, 2 * (1 - m) + 2.0))   # four removals of weight 0.5
    assert post["reccobeats"] == pytest.approx((2 * m, 2 * (1 - m)))      # no label yet: the prior alone
    assert src.source_posteriors(None)["genre"] == pytest.approx((0.6, 1.4))


def test_thompson_allocation_gives_a_source_that_brings_likes_more_searches():
    post = {"genre": (3.0, 12.0), "artist": (12.0, 3.0), "liked_genre": (1.0, 1.0)}
    plan = src.allocate_searches(400, ["genre", "artist", "liked_genre"], post, np.random.default_rng(0))
    assert sum(plan.values()) == 400
    assert plan["artist"] > plan["liked_genre"] > plan["genre"]   # the uncertain one still gets its chance
    assert plan["genre"] > 0 or plan["liked_genre"] > 20
    assert src.allocate_searches(10, [], post, np.random.default_rng(0)) == {}
    assert src.allocate_searches(0, ["genre"], post, np.random.default_rng(0)) == {"genre": 0}


def test_liked_artists_newest_first_and_dislikes_prune():
    ev = labelled([("artist", 1, 1.0, "new", "Song N", None), ("search", 1, 1.0, "old", "Song O", None),
                   ("search", 0, 1.0, "hated", "H1", None), ("search", 0, 0.5, "hated", "H2", None),
                   ("search", 0, 1.0, "hated", "H3", None), ("search", 0, 1.0, "mixed", "M1", None),
                   ("search", 1, 1.0, "mixed", "M2", None), ("search", 0, 1.0, "once", "O1", None)])
    y, w = ev["label"].to_numpy(float), ev["weight"].to_numpy(float)
    liked = src.liked_artists(ev, y, w)
    assert [a["artist_id"] for a in liked] == ["new", "old", "mixed"]
    assert liked[0]["seed"] == "NEW - Song N"
    evidence = src.artist_evidence(ev, y, w)
    assert evidence["hated"] == (0.0, 2.5) and evidence["mixed"] == (1.0, 1.0)
    # disliked twice (weighted) and never liked: pruned; once, or once liked: not
    assert src.pruned_artists(evidence, 2.0) == {"hated"}
    assert src.pruned_artists(evidence, 0) == set()


def test_genre_menus_from_labels():
    ev = labelled([("x", 1, 1.0, "a", "t", ["indie rock", "shoegaze"]), ("x", 1, 1.0, "b", "t", ["indie rock"]),
                   ("x", 0, 1.0, "c", "t", ["trap"]), ("x", 0, 1.0, "d", "t", ["trap"]),
                   ("x", 0, 1.0, "e", "t", ["trap", "indie rock"]), ("x", 0, 1.0, "f", "t", None)])
    y, w = ev["label"].to_numpy(float), ev["weight"].to_numpy(float)
    menu = src.liked_genre_menu(ev["genres"], y, w)
    assert list(menu) == ["indie rock", "shoegaze"] and "trap" not in menu   # only genres your likes carry
    factors = src.genre_dislike_factors(ev["genres"], y, w)
    assert factors["trap"] < 0.7 and factors["indie rock"] == 1.0   # fewer searches for a genre you keep disliking


def test_artist_evidence_counts_only_labels_given_before_the_track_was_offered():
    # three labelled pushes of artist a in batches 1, 2, 3 (like, dislike, like) and one of b in batch 2
    lab_artists = [["a"], ["a"], ["a"], ["b"]]
    y, batches = [1, 0, 1, 1], [1, 2, 3, 2]
    rows = src.artist_evidence_column(lab_artists, batches, lab_artists, y, None, batches)
    assert rows.tolist() == [0.0, 1.0, 0.0, 0.0]   # never its own label, nor one of the same week
    now = src.artist_evidence_column([["a"], ["b"], ["c"], []], None, lab_artists, y, [1, 0.5, 1, 1], batches)
    assert now.tolist() == [1.5, 1.0, 0.0, 0.0]    # the pool as scored now: every label (a removal weighs 0.5)


def test_pool_reasons_say_why_in_words():
    assert src.pool_reason("artist", "Band - Song") == "because you liked Band - Song"
    assert src.pool_reason("genre", "indie rock") == "one of your genres: indie rock"
    assert src.pool_reason("reccobeats", "Band - Song") == "sounds like Band - Song, which you liked"
    assert src.pool_reason("search", None) == "a random catalog track"


def test_hit_rate_by_source_with_wilson_intervals():
    ev = labelled([("artist", 1, 1.0, "a", "t", None)] * 3 + [("artist", 0, 1.0, "a", "t", None)]
                  + [("search", 0, 1.0, "b", "t", None)] * 4)
    out = {x["source"]: x for x in src.hit_rate_by_source(ev)}
    assert set(out) == {"artist", "search"}
    assert (out["artist"]["labelled"], out["artist"]["liked"], out["artist"]["hit_rate"]) == (4, 3, 0.75)
    assert 0.2 < out["artist"]["low"] < 0.75 < out["artist"]["high"] <= 1.0
    assert out["search"]["hit_rate"] == 0.0 and out["search"]["low"] == 0.0


def _labelled_batches(rng, n_batches=5, per=24, informative=True):
    """Tracks whose liking follows danceability (learnable by stage 2) while the stored prior scores are noise."""
    rows = []
    for b in range(1, n_batches + 1):
        for _ in range(per):
            d = rng.uniform(0, 1)
            y = int(rng.random() < (0.85 if d > 0.5 else 0.15)) if informative else int(rng.random() < 0.4)
            rows.append({"batch": b, "y": y, "danceability": d, "energy": rng.uniform(0, 1),
                         "z_affinity": rng.normal(), "z_playlist": rng.normal(), "z_likeability": rng.normal()})
    df = pd.DataFrame(rows)
    X = df[["danceability", "energy"]].assign(track_id=[f"t{i}" for i in range(len(df))],
                                              artist_ids=[[f"a{i}"] for i in range(len(df))], genres=None)
    return X, df["y"].to_numpy(), df["batch"].to_numpy(), df[["z_affinity", "z_playlist", "z_likeability"]]


def test_stage2_that_beats_the_prior_on_the_same_labels_earns_weight():
    X, y, b, Z = _labelled_batches(np.random.default_rng(0))
    ev = forward_chained(X, y, b, Z, n_boot=50)
    assert ev["batches"] == [2, 3, 4, 5] and ev["n"] == 4 * 24
    assert ev["label_auc"] > 0.75 and abs(ev["prior_auc"] - 0.5) < 0.15   # stage 2 learns, the prior is noise
    w = stage2_prior_weight(ev)
    assert w > 1.0     # stage 2 starts from a real share of the composite (the stage-1 weights sum to 2)
    # ... and it is what the composite then leans on
    comp = CompositeScorer(prior_weights={"affinity": 1.0, "playlist": 0.5, "likeability": 0.5, "label": w}).fit()
    assert comp.weights_["label"] > 0.4


def test_stage2_no_better_than_the_prior_gets_no_prior_weight():
    X, y, b, Z = _labelled_batches(np.random.default_rng(1), informative=False)
    Z = Z.assign(z_affinity=np.where(y == 1, 1.0, -1.0) + np.random.default_rng(2).normal(0, 0.5, len(y)))
    ev = forward_chained(X, y, b, Z, n_boot=0)
    assert ev["prior_auc"] > ev["label_auc"]
    assert stage2_prior_weight(ev) == 0.0
    assert stage2_prior_weight({}) == 0.0
    assert forward_chained(X.iloc[:20], y[:20], np.ones(20), Z.iloc[:20]) == {}   # one batch: nothing to score


def test_prior_scores_are_the_stage1_composite_of_stored_z():
    Z = pd.DataFrame({"z_affinity": [1.0, -1.0], "z_playlist": [0.0, 2.0], "z_label": [5.0, 5.0]})
    assert prior_scores(Z).tolist() == [1.0, 0.0]   # 1 * aff + 0.5 * playlist; stage 2 and missing ones left out


def test_composite_learns_a_source_offset_and_weighs_removals_less():
    rng = np.random.default_rng(3)
    n = 300
    source = rng.choice(["search", "artist"], n)
    Z = pd.DataFrame({"z_affinity": rng.normal(size=n)})
    y = (rng.random(n) < np.where(source == "artist", 0.6, 0.2)).astype(int)
    tracks = pd.DataFrame({"source": source, "genres": [None] * n})
    comp = CompositeScorer(extra_corrections=("source",)).fit(Z, y, tracks)
    assert comp.corrections_learned_["source:artist"] > 0.5
    feats = correction_features(tracks.iloc[:2], ("source",))
    assert list(feats.filter(like="source:").columns) == ["source:genre", "source:artist", "source:liked_genre",
                                                           "source:reccobeats"]
    # weight 0 on the dislikes of artist tracks: as if they were not there, so the offset grows
    w = np.where((source == "artist") & (y == 0), 0.0, 1.0)
    heavier = CompositeScorer(extra_corrections=("source",)).fit(Z, y, tracks, sample_weight=w)
    assert heavier.corrections_learned_["source:artist"] > comp.corrections_learned_["source:artist"] + 0.5
