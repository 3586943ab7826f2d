"""Why the weekly ranking stops short of the ceiling: precision of the top 2% of one big pool, per scoring rule.

For each listener of the quality benchmark (and 3 seeds), one pool of 2,400 random unknown catalog tracks is scored
by the stage-1 models as the product fits them (`_quality_sim.prepare`, `loop.fit_affinity`), and by variants. The
figure per rule is the mean like probability of its top 48 tracks (2%): what the exploit slice would be liked.

Rules: the prior composite (the product's ranking before labels); affinity alone; affinity variants (a content-only
model of unfamiliar-artist tracks without `artist_plays`, added to the prior at weights 0.25/0.5/1; positives weighted
by engagement or down-weighted per artist; no release-exposure weights; tracks only ever skipped left out of the
positives; more regularised LightGBM settings); the "observable" taste (the hidden taste minus per-track noise and the
feeling for unplayed artists), with each of its parts dropped in turn; and the ceiling (the hidden taste itself).

    python benchmarks/ranking_diagnostics.py [--seeds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality_sim as qs  # noqa: E402

from spotify_modeling.core.selection import decisions as loop  # noqa: E402
from spotify_modeling.pipeline.ingest import import_export  # noqa: E402
from spotify_modeling.core.models import AffinityModel  # noqa: E402
from spotify_modeling.core.selection.composite import CompositeScorer, transform_outputs  # noqa: E402
from spotify_modeling.db.history import plays_per_track  # noqa: E402
from spotify_modeling.db.store import Store  # noqa: E402
from spotify_modeling.pipeline.train import training_data  # noqa: E402

POOL = 2400
TOP = 48   # 2% of the pool
PARTS = ("family", "genre", "audio", "artist", "popularity", "newness")


def _likeability(world, X_played: pd.DataFrame) -> np.ndarray:
    """Each played track's likeability outcome, as `train.training_data` computes it."""
    with tempfile.TemporaryDirectory(prefix="diag-") as tmp:
        store = Store(Path(tmp) / "s.sqlite")
        try:
            import_export(store, world.write_export(Path(tmp) / "e.zip", as_zip=True))
            ids = list(plays_per_track(store))
            qs.fill_store_from_catalog(store, world.catalog, ids)
            _, y = training_data(store)
        finally:
            store.close()
    return y.set_index("track_id")["likeability"].reindex(X_played["track_id"]).to_numpy(float)


def run(task: tuple[str, int]) -> dict:
    listener, seed = task
    settings = qs.SimSettings()
    world = qs.make_world(listener, seed, settings)
    prep = qs.prepare(world, settings, seed)
    cat, taste = world.catalog, world.listener
    p_like = taste.like_probability(cat.tracks[["track_id"]])
    pool = qs.add_artist_plays(qs.catalog_table(cat, prep.candidates[:POOL], set(prep.history_artists)),
                               prep.artist_plays)
    p_pool = p_like[cat.positions(pool["track_id"].tolist())]

    def top(score) -> float:
        return float(p_pool[np.argsort(-np.asarray(score, dtype=float), kind="stable")[:TOP]].mean())

    X = prep.X_played
    both = pd.concat([X, pool[X.columns]], ignore_index=True)
    y = np.r_[np.ones(len(X), int), np.zeros(len(pool), int)]
    negatives = np.ones(len(pool))
    affinity = loop.fit_affinity(X, pool, prep.window)     # as the product fits it (release-exposure weights)
    scored = loop.score_pool(pool, {**prep.models, "affinity": affinity})
    prior = CompositeScorer().fit().decision_function(scored)
    out = {"listener": listener, "seed": seed, "random": float(p_pool.mean()), "prior": top(prior),
           "affinity": top(scored["p_affinity"]),
           "pool share by artists you played": float((pool["artist_plays"].fillna(0) > 0).mean())}

    # content-only affinity: unfamiliar-artist tracks you played (<= 3 plays of the artist) vs unknown-artist ones
    pos = X[X["artist_plays"].fillna(0) <= np.log1p(3)]
    neg = pool[pool["artist_plays"].fillna(0) == 0]
    content = AffinityModel().fit(pd.concat([pos, neg[X.columns]], ignore_index=True).drop(columns=["artist_plays"]),
                                  np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)])
    z_content = transform_outputs(pd.DataFrame(
        {"p_affinity": content.predict_proba(pool.drop(columns=["artist_plays"]))[:, 1]}))["z_affinity"].to_numpy()
    out["content affinity alone"] = top(z_content)
    for w in (0.25, 0.5, 1.0):
        out[f"prior + {w} x content affinity"] = top(prior + w * z_content)

    # affinity positives weighted by engagement, or down-weighted for artists with many played tracks
    lk = np.nan_to_num(_likeability(world, X))
    first = X["artist_ids"].map(lambda ids: ids[0] if len(ids) else None)
    per_artist = first.map(first.value_counts()).to_numpy(float)
    for name, w in (("engagement (0.25 + likeability)", 0.25 + lk), ("1/sqrt(tracks of the artist)", per_artist ** -0.5),
                    ("1/(tracks of the artist)", 1 / per_artist)):
        model = AffinityModel().fit(both, y, sample_weight=np.r_[w * len(w) / w.sum(), negatives])
        out[f"prior, affinity weighted by {name}"] = top(CompositeScorer().fit().decision_function(
            loop.score_pool(pool, {**prep.models, "affinity": model})))

    # other affinity fits, each scored inside the prior composite
    def prior_with(model) -> float:
        return top(CompositeScorer().fit().decision_function(loop.score_pool(pool, {**prep.models, "affinity": model})))

    out["prior, affinity without release exposure"] = prior_with(AffinityModel().fit(both, y))
    listened = world.history.assign(ok=world.history["ms_played"] >= 30_000).groupby("track_id")["ok"].any()
    heard = X["track_id"].map(listened).fillna(True).to_numpy(bool)   # False: every play skipped within 30 s
    out["share of played tracks only ever skipped"] = float(1 - heard.mean())
    kept = pd.concat([X[heard], pool[X.columns]], ignore_index=True)
    out["prior, affinity without only-skipped positives"] = prior_with(AffinityModel().fit(
        kept, np.r_[np.ones(heard.sum(), int), np.zeros(len(pool), int)]))
    for name, params in (("7 leaves, 400 trees at 0.03", dict(num_leaves=7, n_estimators=400, learning_rate=0.03)),
                         ("reg_lambda 10", dict(reg_lambda=10.0)), ("min_child_samples 50", dict(min_child_samples=50))):
        out[f"prior, affinity with {name}"] = prior_with(AffinityModel(**params).fit(both, y))

    # the observable taste and its parts
    parts = dict(taste.components_)
    parts["idiosyncratic"] = np.zeros_like(parts["idiosyncratic"])
    known = cat.truth["artist_id"].isin(prep.history_artists).to_numpy()
    parts["artist"] = np.where(known, np.nan_to_num(parts["artist"]), 0.0)
    positions = cat.positions(pool["track_id"].tolist())

    def observable(without: str | None = None) -> np.ndarray:
        p = dict(parts)
        if without:
            p[without] = np.zeros_like(p[without])
        return taste.appeal_from_components(p)[positions]   # appeal: the same order as the score

    out["observable"] = top(observable())
    for part in PARTS:
        out[f"observable without {part}"] = top(observable(part))
    out["ceiling"] = top(taste.appeal_[positions])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--listeners", nargs="*")
    args = ap.parse_args(argv)
    listeners = tuple(args.listeners) if args.listeners else \
        qs.SYNTHETIC_LISTENERS + ((qs.REAL_LISTENER,) if qs.shared_data_dir() is not None else ())
    listeners = tuple(name for name in listeners if name != "classical_purist")   # as quality.py's full run
    tasks = [(name, seed) for name in listeners for seed in range(args.seeds)]
    with ProcessPoolExecutor(max_workers=args.workers) as ex:
        rows = list(ex.map(run, tasks))
    table = pd.DataFrame(rows).drop(columns="seed").groupby("listener").mean().T
    table["mean"] = table.mean(axis=1)
    pd.set_option("display.width", 200)
    print(f"Like probability of the top {TOP} of a {POOL}-track pool (mean over {args.seeds} seeds):")
    print(table.round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
