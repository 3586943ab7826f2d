"""The batch's settings and its size: how big a week's batch is, how it splits, and how it is chosen.

`BatchSettings` is the one place the product's defaults live; the weekly run's settings
(`pipeline.settings.WeeklyConfig`) are a `BatchSettings` with the run's other settings added, read from the settings
file and the flags, and that one object is what the selection is handed: `BatchSettings.slice_sizes` splits the batch
(once), then `decisions.choose_batch` fills the slices (`batch.select_batch`).

Each number carries its range beside it (`setting(default, lowest, highest)`): the settings file is checked against
it before anything runs (`ranges`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from spotify_modeling.errors import BadInput

#: the shares a bare call of `split_sizes`, `batch_sizes` or `batch.select_batch` splits a batch by (their worked
#: examples); the weekly run always hands them its settings' shares (`BatchSettings`, where the product's defaults live)
BARE_EXPLORE_SHARE, BARE_CONTROL_SHARE = 0.2, 0.1


def split_sizes(n_total: int, explore_share: float = BARE_EXPLORE_SHARE,
                control_share: float = BARE_CONTROL_SHARE) -> dict[str, int]:
    """Slice sizes for a batch of ``n_total``: control at least 1 once ``n_total >= 5``."""
    if n_total < 0 or not (0 <= explore_share <= 1 and 0 <= control_share <= 1
                           and explore_share + control_share <= 1):
        raise ValueError("need n_total >= 0, shares in [0, 1] summing to at most 1")
    control = round(n_total * control_share)
    if control_share > 0 and n_total >= 5:
        control = max(1, control)
    explore = min(round(n_total * explore_share), n_total - control)
    return {"exploit": n_total - explore - control, "explore": explore, "control": control}


def batch_sizes(pool_size: int, top_fraction: float, explore_share: float = BARE_EXPLORE_SHARE,
                control_share: float = BARE_CONTROL_SHARE, min_total: int = 10, max_total: int = 30) -> dict[str, int]:
    """Slice sizes for "push the top ``top_fraction`` of the pool" (0.01 = 1%).

    ``exploit = max(1, round(top_fraction * pool_size))``, total = exploit / (1 - explore - control),
    clamped to ``[min_total, max_total]`` and to the pool size, then split by :func:`split_sizes`.
    """
    if not 0 < top_fraction <= 1:
        raise BadInput(f"The top fraction must be in (0, 1], got {top_fraction}.",
                       "Write 0.02 for the top 2%.")
    rest = 1.0 - explore_share - control_share
    if rest <= 0:
        raise ValueError("explore_share + control_share must be below 1")
    n_exploit = max(1, round(top_fraction * pool_size))
    total = math.ceil(n_exploit / rest - 1e-9)
    total = min(max(total, min_total), max_total, pool_size)
    return split_sizes(total, explore_share, control_share)


def setting(default, lo: float | None = None, hi: float | None = None, lo_ok: bool = True):
    """A settings field with its range, when it has one: from `lo` (itself allowed only if `lo_ok`) to `hi`."""
    return field(default=default, metadata={} if lo is None else {"range": (lo, hi, lo_ok)})


def ranges(settings_class) -> dict[str, tuple[float, float, bool]]:
    """{name: (lowest, highest, the lowest itself allowed)} of each field of `settings_class` that has a range."""
    return {f.name: f.metadata["range"] for f in fields(settings_class) if "range" in f.metadata}


@dataclass
class BatchSettings:
    """How a week's batch is sized and chosen (the settings file's [candidates] table and the flags override it)."""

    top_fraction: float = setting(0.02, 0, 1, lo_ok=False)   # exploit slice = top 2% of the pool scored this run ...
    min_batch: int = setting(10, 1, 500)                     # ... bounded so a week brings 10-30 tracks
    max_batch: int = setting(30, 1, 500)
    explore_share: float = setting(0.1, 0, 1)                # chosen by benchmarks/quality.py (see docs/quality.md)
    control_share: float = setting(0.05, 0, 1)
    explore_floor: float = setting(0.9, 0, 1)   # explore only among tracks above this quantile of the pool's composite
    explore_mode: str = "thompson"  # explore picks from rankings drawn from the composite's posterior ("uncertainty":
    #                                 the stage-2 / model-disagreement draw among the plausible top)
    max_per_artist: int = setting(2, 1, 10_000)
    max_family_share: float = setting(1.0, 0, 1, lo_ok=False)   # 1.0 = no family cap (quality benchmark: a cap costs
    #                                                             hit rate; opt in for variety)

    def split(self, n_total: int) -> dict[str, int]:
        """The slices of a batch of `n_total` tracks by these shares (`split_sizes`)."""
        return split_sizes(n_total, self.explore_share, self.control_share)

    def slice_sizes(self, pool_size: int, room: int | None = None) -> dict[str, int]:
        """The slices of this week's batch from a pool of `pool_size` (`batch_sizes`), the batch never above `room`
        (the free places left in data_candidates) when given: the one place the shares split a batch."""
        low, high = (self.min_batch, self.max_batch) if room is None else \
            (min(self.min_batch, room), min(self.max_batch, room))
        return batch_sizes(pool_size, self.top_fraction, self.explore_share, self.control_share,
                           min_total=low, max_total=high)


__all__ = ["BatchSettings", "setting", "ranges", "split_sizes", "batch_sizes", "BARE_EXPLORE_SHARE",
           "BARE_CONTROL_SHARE"]
