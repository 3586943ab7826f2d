"""One settings object (issue 24, point 3): the batch's defaults in one place, each range beside its field, the
batch split once, and the backlog's Spotify budget scoped to its block."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from spotify_modeling.core.selection import CompositeScorer, batch_sizes, split_sizes
from spotify_modeling.core.selection.settings import BatchSettings, ranges
from spotify_modeling.core.selection.decisions import choose_batch, score_pool
from spotify_modeling.errors import CallBudgetSpent
from spotify_modeling.pipeline.settings import RANGES, WeeklyConfig
from spotify_modeling.pipeline.weekly_run import calls_at_most


def test_the_weekly_settings_are_the_batch_settings_with_the_run_added():
    cfg = WeeklyConfig()
    assert isinstance(cfg, BatchSettings)
    batch = BatchSettings()
    assert {f.name: getattr(cfg, f.name) for f in fields(BatchSettings)} == \
        {f.name: getattr(batch, f.name) for f in fields(BatchSettings)}
    assert (cfg.explore_share, cfg.control_share) == (0.1, 0.05)
    # the batch's settings come first, in the order the settings file's documentation lists them
    assert list(WeeklyConfig.__dataclass_fields__)[:len(fields(BatchSettings))] == [f.name for f in fields(BatchSettings)]


def test_each_range_stands_beside_its_field():
    assert RANGES == ranges(WeeklyConfig)
    assert RANGES["explore_share"] == (0, 1, True) and RANGES["top_fraction"] == (0, 1, False)
    assert RANGES["seed"] == (0, 2**63 - 1, True)
    for f in fields(WeeklyConfig):
        assert (f.name in RANGES) == ("range" in f.metadata)
    assert not {"explore_mode", "like_sources", "sources"} & set(RANGES)


@pytest.mark.parametrize("pool_size,room", [(2000, None), (2000, 12), (300, 5), (6, None), (50_000, 60)])
def test_slice_sizes_are_the_batch_sizes_of_the_settings(pool_size, room):
    cfg = WeeklyConfig()
    low, high = (cfg.min_batch, cfg.max_batch) if room is None else (min(cfg.min_batch, room), min(cfg.max_batch, room))
    assert cfg.slice_sizes(pool_size, room) == batch_sizes(pool_size, cfg.top_fraction, cfg.explore_share,
                                                           cfg.control_share, min_total=low, max_total=high)


def _pool(n=400, seed=0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    pool = pd.DataFrame({
        "track_id": [f"t{i:04d}" for i in range(n)], "track_name": [f"song {i}" for i in range(n)],
        "artist_names": [[f"a{i % 120}"] for i in range(n)], "artist_ids": [[f"a{i % 120}"] for i in range(n)],
        "genres": [["indie rock"] if i % 3 else ["hip hop"] for i in range(n)]})
    pool["p_playlist"] = rng.uniform(size=n)
    pool["likeability"] = rng.uniform(size=n)
    pool["p_affinity"] = rng.uniform(size=n)
    return pool


@pytest.mark.parametrize("mode", ["thompson", "uncertainty"])
def test_the_batch_is_the_same_from_its_slices_or_from_its_total(mode):
    from dataclasses import replace

    import pandas as pd

    scored = score_pool(_pool(), {})   # the pool's own model outputs, and its families
    cfg = replace(WeeklyConfig(), explore_mode=mode, explore_share=0.2, control_share=0.1)
    sizes = cfg.slice_sizes(len(scored))
    composite = CompositeScorer().fit()
    by_slices = choose_batch(scored, composite, cfg, sizes, np.random.default_rng(3))
    by_total = choose_batch(scored, composite, cfg, sum(sizes.values()), np.random.default_rng(3))
    pd.testing.assert_frame_equal(by_slices, by_total)
    assert by_slices.attrs["slice_sizes"] == sizes == split_sizes(sum(sizes.values()), 0.2, 0.1)


class _Client:
    def __init__(self, max_calls=None, calls_made=0):
        self.max_calls, self.calls_made = max_calls, calls_made

    def call(self):
        if self.max_calls is not None and self.calls_made >= self.max_calls:
            raise CallBudgetSpent("spent", "")
        self.calls_made += 1


@pytest.mark.parametrize("cap,made,budget,allowed", [(None, 3, 5, 5), (20, 3, 5, 5), (10, 8, 5, 2), (10, 12, 5, 0)])
def test_a_scoped_budget_limits_the_block_and_gives_the_cap_back(cap, made, budget, allowed):
    client = _Client(cap, made)
    done = 0
    with calls_at_most(client, budget):
        with pytest.raises(CallBudgetSpent):
            while True:
                client.call()
                done += 1
    assert done == allowed
    assert client.max_calls == cap


def test_a_scoped_budget_gives_the_cap_back_when_the_block_fails():
    client = _Client(30, 2)
    with pytest.raises(RuntimeError), calls_at_most(client, 4):
        raise RuntimeError("boom")
    assert client.max_calls == 30
