"""Pure core: export parsing, normalisation and matching, the featurizer, the estimators, metrics,
provenance and `selection/` (the weekly decisions). No I/O beyond reading an export; imports nothing above it."""
