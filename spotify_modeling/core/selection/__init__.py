"""Selection: composite scoring of a candidate pool and the weekly batch choice.

Pure functions and estimators on DataFrames: no I/O. See each module's docstring for the why.
"""

from spotify_modeling.core.selection.baselines import original_scores, select_original, select_random
from spotify_modeling.core.selection.batch import (
    batch_sizes,
    explore_uncertainty,
    inclusion_probabilities,
    select_batch,
    split_sizes,
    systematic_pps,
)
from spotify_modeling.core.selection.composite import (
    DEFAULT_PRIOR_WEIGHTS,
    OUTPUT_COLUMNS,
    CompositeScorer,
    pool_ranks,
    transform_outputs,
)
from spotify_modeling.core.selection.hitrate import hit_rate_trend, hit_rates

__all__ = [
    "CompositeScorer", "DEFAULT_PRIOR_WEIGHTS", "OUTPUT_COLUMNS", "batch_sizes", "explore_uncertainty",
    "hit_rate_trend", "hit_rates", "inclusion_probabilities", "original_scores", "pool_ranks", "select_batch",
    "select_original", "select_random", "split_sizes", "systematic_pps", "transform_outputs",
]
