"""Does stage 1 learn taste or where a track's metadata came from? (prints figures; not a test)

For each simulated listener, the export is written as a *names-only account export with URI playlists* and as an
*extended history* (URIs everywhere), run through the real `spotify-model features` (and, for the affinity model,
one `spotify-model candidates` run to sample a pool) against the local stand-in server, exactly as a user would.
Then, on the very tracks stage 1 trains on, with the same artist-grouped folds:

- playlist model (account export): ours, ours fit without the missingness balance (`missing_policy="as_is"`, what
  the tool did before), ours without the `artist_plays` column, and a default LightGBM on the 11 audio columns
  (the baseline the issue names) and on audio + `artist_plays`;
- affinity model (played vs random pool tracks, both exports): ours and ours unbalanced;
- the provenance guard of each fit: the CV AUC of a model of the missingness pattern alone (leak: above 0.55).

Run: `python benchmarks/provenance.py` (~2 min; `--quick` one listener).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import contextmanager, redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator, ClassifierMixin

from spotify_modeling.sandbox import simulate
from spotify_modeling.sources.auth import SCOPES, PrivateCacheFileHandler
from spotify_modeling.cli import main as cli
from spotify_modeling.core.featurize import AUDIO_FEATURES, missingness
from spotify_modeling.core.selection.decisions import affinity_fit_data
from spotify_modeling.core.metrics import artist_groups, cross_validate_model
from spotify_modeling.core.models import AffinityModel, PlaylistModel
from spotify_modeling.pipeline.pool import random_sample_ids
from spotify_modeling.core.provenance import provenance_guard
from spotify_modeling.sandbox.standin import StandInServer, StandInState
from spotify_modeling.db.store import Store
from spotify_modeling.db.model_table import has_features, track_table
from spotify_modeling.pipeline.train import history_window, training_data

PERSONAS = ("indie_explorer", "hiphop_loyalist", "pop_mainstream")


class PlainLGBM(ClassifierMixin, BaseEstimator):
    """A default LGBMClassifier on the given raw columns: no featurizer, no genres, no balance."""

    def __init__(self, columns: tuple[str, ...] = tuple(AUDIO_FEATURES)):
        self.columns = columns

    def _raw(self, X: pd.DataFrame) -> pd.DataFrame:
        return X[list(self.columns)].apply(pd.to_numeric, errors="coerce").astype(float)

    def fit(self, X, y):
        self.model_ = LGBMClassifier(verbose=-1, random_state=0, n_jobs=1).fit(self._raw(X), y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(self._raw(X))


@contextmanager
def _environment(values: dict[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def run_user(root: Path, persona: str, kind: str, seed: int) -> Path:
    """`features` (and one `candidates`, for a pool) on a simulated export of `kind`; returns the home."""
    world = simulate.build_world(seed=seed, persona=persona, n_tracks=8000, n_plays=6000)
    state = StandInState()
    world.populate(state)
    export = world.write_export(root / f"{kind}.zip", kind=kind, as_zip=True)
    home = root / f"home-{kind}"
    (home / "data").mkdir(parents=True)
    with StandInServer(state) as server, _environment({**server.env(), "SPOTIFY_MODEL_HOME": str(home),
                                                       "SPOTIPY_CLIENT_ID": "benchmark",
                                                       "SPOTIFY_MODEL_TOKEN_CACHE": str(home / "data" / ".tc")}):
        PrivateCacheFileHandler(cache_path=str(home / "data" / ".tc")).save_token_to_cache(server.issue_token(SCOPES))
        with redirect_stdout(StringIO()):
            codes = [cli(["features", str(export)]), cli(["candidates", "--seed", str(seed)])]
    if codes != [0, 0]:
        raise SystemExit(f"{persona}/{kind}: the CLI exited {codes}")
    return home


def _auc(model, X, y, groups) -> float:
    return cross_validate_model(model, X, y, groups, n_boot=0)["value"]


def measure(home: Path, kind: str) -> dict[str, float]:
    with Store(home / "data" / "spotify_model.db") as store:
        X, y = training_data(store)
        pool = track_table(store, random_sample_ids(store))
        data = affinity_fit_data(X, pool[has_features(pool)], history_window(store))
    out: dict[str, float] = {}
    groups = artist_groups(X)
    target = y["playlist"].to_numpy()
    if kind == "account" and min(np.bincount(target, minlength=2)) >= 10:
        stub = missingness(X)["explicit"].to_numpy()
        out["playlist stubs (pl / other)"] = f"{stub[target == 1].mean():.2f} / {stub[target == 0].mean():.2f}"
        out["playlist ours"] = _auc(PlaylistModel(), X, target, groups)
        out["playlist ours unbalanced"] = _auc(PlaylistModel(missing_policy="as_is"), X, target, groups)
        out["playlist ours w/o artist_plays"] = _auc(PlaylistModel(), X.drop(columns=["artist_plays"]), target,
                                                      groups)
        out["playlist plain LGBM audio"] = _auc(PlainLGBM(), X, target, groups)
        out["playlist plain LGBM audio+artist_plays"] = _auc(
            PlainLGBM(tuple(AUDIO_FEATURES) + ("artist_plays",)), X, target, groups)
        out["playlist guard ours"] = provenance_guard(PlaylistModel(), X, target, groups)["auc"]
        out["playlist guard unbalanced"] = provenance_guard(PlaylistModel(missing_policy="as_is"), X, target,
                                                            groups)["auc"]
    if data is not None:
        table, ya, _ = data
        ga = artist_groups(table)
        out["affinity ours"] = _auc(AffinityModel(), table, ya, ga)
        out["affinity ours unbalanced"] = _auc(AffinityModel(missing_policy="as_is"), table, ya, ga)
        out["affinity guard ours"] = provenance_guard(AffinityModel(), table, ya, ga)["auc"]
        out["affinity guard unbalanced"] = provenance_guard(AffinityModel(missing_policy="as_is"), table, ya,
                                                            ga)["auc"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one listener")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows: dict[tuple[str, str], dict] = {}
    for persona in PERSONAS[:1] if args.quick else PERSONAS:
        for kind in ("account", "extended"):
            with tempfile.TemporaryDirectory(prefix="provenance-") as tmp:
                rows[(persona, kind)] = measure(run_user(Path(tmp), persona, kind, args.seed), kind)
    for kind in ("account", "extended"):
        print(f"\n== {kind} export: artist-grouped 5-fold CV ROC AUC on stage 1's own training rows"
              + (" (names-only history, URI playlists)" if kind == "account" else " (URIs everywhere)"))
        keys = list(dict.fromkeys(k for (p, kd), r in rows.items() if kd == kind for k in r))
        personas = [p for (p, kd) in rows if kd == kind]
        print(f"  {'':<42}" + "".join(f"{p:>17}" for p in personas))
        for key in keys:
            cells = [rows[(p, kind)].get(key) for p in personas]
            print(f"  {key:<42}" + "".join(f"{c:>17}" if isinstance(c, str) else
                                           f"{c:>17.3f}" if c is not None else f"{'':>17}" for c in cells))
    print("\nguard: CV AUC of a model of the unknown-facts pattern alone; above 0.55 the fit learns provenance."
          f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
