"""Speed and memory figures, each next to a baseline measured side by side in the same run (prints a table).

1. ingest: `read_export` + `import_export` of a generated extended export (real file shapes, ~15k rows a file)
   vs `json.load` of the same files plus one `executemany` of the same rows into a fresh SQLite table.
   Both run in child processes (fresh interpreter each) so peak RSS (VmHWM) is the ingest's own.
2. scoring: `score_pool` over a pool with the three stage-1 models vs raw LightGBM `Booster.predict` of the same
   boosters on their featurizer output, precomputed (same thread count).
3. stage-1 fit: `train_stage1` (with grouped CV) on a store seeded with ~5,000 played tracks with features, next to
   one bare `LGBMClassifier.fit` on the same matrix as a yardstick.
4. demo: `run_demo` wall time over N weeks.
5. Spotify calls per weekly run in that demo (store api_usage, as each run records it): week 1 cold, later warm.

Run: `python benchmarks/speed.py` (full, a few minutes) or `python benchmarks/speed.py --quick` (< 1 min).
Timings are best of a few interleaved repeats (other processes on the machine add noise). Nothing here reads
the network; everything is synthetic (`spotify_modeling.sandbox.simulate`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# Raw keys the baseline copies from each extended-history row (the same fields the product keeps).
BASELINE_KEYS = ("ts", "ms_played", "master_metadata_track_name", "master_metadata_album_artist_name",
                 "master_metadata_album_album_name", "spotify_track_uri", "reason_start", "reason_end",
                 "skipped", "shuffle")
SEED = 0
CV_FOLDS = 5  # cross_validate_model's default, which train_stage1 uses


@dataclass(frozen=True)
class Sizes:
    """Problem sizes; `QUICK` keeps the whole run under a minute, `FULL` is what the targets refer to."""

    ingest_plays: int = 500_000
    ingest_catalog: int = 20_000
    pool: int = 100_000
    fit_rows: int = 4_000
    train_plays: int = 40_000      # gives ~5,400 distinct played tracks
    train_catalog: int = 20_000
    train_pool: int = 2_000        # random catalog tracks in the candidate pool (affinity negatives)
    demo_weeks: int = 6
    demo_tracks: int = 8_000       # run_demo's own defaults
    demo_plays: int = 6_000
    repeats: int = 3


FULL = Sizes()
QUICK = Sizes(ingest_plays=60_000, ingest_catalog=8_000, pool=10_000, fit_rows=2_000, train_plays=8_000,
              train_catalog=8_000, train_pool=600, demo_weeks=2, repeats=2)
TINY = Sizes(ingest_plays=600, ingest_catalog=600, pool=400, fit_rows=300, train_plays=1_500, train_catalog=800,
             train_pool=120, demo_weeks=1, demo_tracks=1_500, demo_plays=1_500, repeats=1)


def machine_info() -> dict:
    """What the figures were measured on (cores matter: LightGBM and OpenMP threads)."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


def _best(samples: list[float]) -> float:
    return float(min(samples))


# ------------------------------------------------------------------------------------------------ 1. ingest
def make_extended_export(folder: Path, n_plays: int, n_tracks: int, seed: int = SEED) -> dict:
    """Write a synthetic extended streaming history (Streaming_History_Audio_*.json, ~15k rows a file) into `folder`."""
    from spotify_modeling.sandbox import simulate

    catalog = simulate.make_catalog(n_tracks=n_tracks, seed=seed)
    world = simulate.build_world(seed=seed, n_plays=n_plays, catalog=catalog)
    files = simulate.export_files(world, kind="extended")
    for name, data in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    audio = sorted(folder.rglob("Streaming_History_Audio_*.json"))
    return {"files": len(audio), "bytes": sum(p.stat().st_size for p in audio), "plays": len(world.history)}


def _baseline_rows(folder: Path):
    for path in sorted(folder.rglob("Streaming_History_Audio_*.json")):
        with open(path, "rb") as fh:
            rows = json.load(fh)
        for r in rows:
            yield tuple(r.get(k) for k in BASELINE_KEYS)


def baseline_ingest(folder: Path, db_path: Path) -> dict:
    """The least a program can do: load every file and insert its rows with one `executemany` (same pragmas)."""
    start = time.perf_counter()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"CREATE TABLE plays (play_id INTEGER PRIMARY KEY, {', '.join(BASELINE_KEYS)})")
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO plays({', '.join(BASELINE_KEYS)}) VALUES ({', '.join('?' * len(BASELINE_KEYS))})",
                     _baseline_rows(folder))
    conn.execute("COMMIT")
    rows = conn.execute("SELECT count(*) FROM plays").fetchone()[0]
    conn.close()
    return {"seconds": time.perf_counter() - start, "rows": rows}


def product_ingest(folder: Path, db_path: Path) -> dict:
    """What `spotify-model features` does first: parse the export, then import it into a fresh store."""
    from spotify_modeling.core.export import read_export
    from spotify_modeling.pipeline.ingest import import_export
    from spotify_modeling.db.store import Store

    start = time.perf_counter()
    parsed = read_export(folder)
    parsed_at = time.perf_counter()
    store = Store(db_path)
    try:
        result = import_export(store, parsed)
    finally:
        store.close()
    end = time.perf_counter()
    return {"seconds": end - start, "parse_seconds": parsed_at - start, "import_seconds": end - parsed_at,
            "rows": result.plays_added}


def _vm_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _child_main(kind: str, folder: str, db: str) -> None:
    """Entry point of the measuring child: print one JSON line with the result and this process's peak RSS."""
    fn = {"baseline": baseline_ingest, "product": product_ingest}[kind]
    if kind == "product":  # import before measuring the floor, so the floor includes the libraries
        import spotify_modeling.pipeline.ingest  # noqa: F401
    floor = _vm_hwm_mb()
    out = fn(Path(folder), Path(db))
    out["peak_rss_mb"] = _vm_hwm_mb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["rss_before_mb"] = floor
    print(json.dumps(out))


def run_child(kind: str, folder: Path, db_path: Path) -> dict:
    """Run one ingest in a fresh interpreter; the DB file is removed first so each run starts empty."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    if hasattr(os, "sync"):  # start from a clean page cache: no run pays for writing back the export or the last db
        os.sync()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", kind, str(folder), str(db_path)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} ingest child failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_ingest(sizes: Sizes, workdir: Path) -> dict:
    folder = workdir / "export"
    t = time.perf_counter()
    # generated in a child, so this process stays small while it measures (a parent still holding the generator's
    # ~0.5 GB made the measured ingest ~10% slower, the baseline not)
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--make-export", str(folder),
                           str(sizes.ingest_plays), str(sizes.ingest_catalog)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"export generator failed:\n{proc.stderr[-2000:]}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["generate_seconds"] = time.perf_counter() - t
    runs: dict[str, list[dict]] = {"baseline": [], "product": []}
    for _ in range(sizes.repeats):  # interleaved
        for kind in runs:
            runs[kind].append(run_child(kind, folder, workdir / f"{kind}.db"))
    base = min(runs["baseline"], key=lambda r: r["seconds"])
    prod = min(runs["product"], key=lambda r: r["seconds"])
    return {**info, "baseline": base, "product": prod, "ratio": prod["seconds"] / base["seconds"],
            "product_peak_rss_mb": max(r["peak_rss_mb"] for r in runs["product"]),
            "baseline_peak_rss_mb": max(r["peak_rss_mb"] for r in runs["baseline"])}


# ------------------------------------------------------------------------------------------------ 2. scoring
def fitted_stage1_models(catalog, n_fit: int, seed: int = SEED) -> dict:
    """The three stage-1 models fitted on `n_fit` catalog tracks, with targets from a simulated listener's taste."""
    from spotify_modeling.core.models import AffinityModel, LikeabilityModel, PlaylistModel
    from spotify_modeling.sandbox.simulate import make_listener

    rng = np.random.default_rng(seed)
    listener = make_listener(catalog, seed=seed)
    fit = catalog.tracks.iloc[rng.choice(len(catalog.tracks), size=n_fit, replace=False)].reset_index(drop=True)
    appeal = listener.appeal(fit)
    noisy = appeal + 0.1 * rng.standard_normal(len(fit))
    y_playlist = (noisy > np.quantile(noisy, 0.8)).astype(int)
    y_like = np.clip(noisy, 0.0, 1.0)
    y_aff = (rng.random(len(fit)) < appeal).astype(int)
    return {"playlist": PlaylistModel().fit(fit, y_playlist),
            "likeability": LikeabilityModel().fit(fit, y_like),
            "affinity": AffinityModel().fit(fit, y_aff)}


def raw_predict(models: dict, matrices: dict) -> dict:
    """Raw LightGBM predictions of each model's booster on its prebuilt matrix (same threads as the model)."""
    return {name: m.booster_.predict(matrices[name], num_threads=m._predict_threads()) for name, m in models.items()}


def bench_scoring(sizes: Sizes) -> dict:
    from spotify_modeling.sandbox import simulate
    from spotify_modeling.core.selection.decisions import score_pool

    catalog = simulate.make_catalog(n_tracks=sizes.pool, seed=SEED + 1)
    pool = catalog.tracks.reset_index(drop=True)
    models = fitted_stage1_models(catalog, sizes.fit_rows)
    matrices = {name: m.featurizer_.transform(pool) for name, m in models.items()}
    score_pool(pool.iloc[:500], models)  # warm up both paths (lazy imports, caches)
    raw_predict(models, {k: v[:500] for k, v in matrices.items()})
    raw, ours, proba, feat = [], [], [], []
    for _ in range(sizes.repeats):
        t = time.perf_counter()
        raw_out = raw_predict(models, matrices)
        raw.append(time.perf_counter() - t)
        t = time.perf_counter()
        scored = score_pool(pool, models)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        for name, m in models.items():
            m.predict(pool) if name == "likeability" else m.predict_proba(pool)
        proba.append(time.perf_counter() - t)
        t = time.perf_counter()
        for m in models.values():
            m.featurizer_.transform(pool)
        feat.append(time.perf_counter() - t)
    # the two paths must agree, or the comparison means nothing
    agree = bool(np.allclose(scored["p_playlist"], raw_out["playlist"], atol=1e-6)
                 and np.allclose(scored["p_affinity"], raw_out["affinity"], atol=1e-6))
    return {"pool": len(pool), "fit_rows": sizes.fit_rows, "threads": {n: m._predict_threads() for n, m in models.items()},
            "raw_seconds": _best(raw), "score_pool_seconds": _best(ours), "predict_only_seconds": _best(proba),
            "featurize_seconds": _best(feat), "ratio": _best(ours) / _best(raw),
            "predict_only_ratio": _best(proba) / _best(raw), "outputs_agree": agree}


# ------------------------------------------------------------------------------------------------ 3. stage-1 fit
def seeded_store(home, n_plays: int, n_tracks: int, n_pool: int, seed: int = SEED):
    """A store as `features` + one candidates run would leave it, without the HTTP: the export imported, then
    metadata, ReccoBeats-style audio features and artist genres written straight from the synthetic catalog for
    the played tracks and `n_pool` random catalog tracks (the candidate pool)."""
    from spotify_modeling.sandbox import simulate
    from spotify_modeling.pipeline.ingest import import_export
    from spotify_modeling.core.normalize import name_key
    from spotify_modeling.db import pushes_and_labels as loop_db
    from spotify_modeling.db import tracks as db_tracks
    from spotify_modeling.db.store import Store
    from spotify_modeling.db.tracks import FEATURE_COLUMNS
    from spotify_modeling.core.records import ArtistRef, TrackRecord

    catalog = simulate.make_catalog(n_tracks=n_tracks, seed=seed)
    world = simulate.build_world(seed=seed, n_plays=n_plays, catalog=catalog)
    export = world.write_export(home.raw / "export")
    store = Store.open(home)
    import_export(store, export)
    played = set(world.history["track_id"])
    rng = np.random.default_rng([seed, 5])
    others = catalog.tracks.loc[~catalog.tracks["track_id"].isin(played), "track_id"].to_numpy()
    pool_ids = list(rng.choice(others, size=min(n_pool, len(others)), replace=False))
    t = catalog.tracks.set_index("track_id")
    rows = t.loc[sorted(played) + pool_ids]
    feat_cols = list(FEATURE_COLUMNS)
    records = [TrackRecord(id=tid, name=r.track_name,
                           artists=tuple(ArtistRef(a, n) for a, n in zip(r.artist_ids, r.artist_names)),
                           duration_ms=int(r.duration_ms), release_date=r.release_date, explicit=bool(r.explicit))
               for tid, r in zip(rows.index, rows.itertuples())]
    with store.transaction() as conn:   # through the store's own writers, as enrichment and the pool write
        db_tracks.upsert_tracks(conn, records, "catalog")
        for tid, vals in zip(rows.index, rows[feat_cols].to_numpy()):
            db_tracks.insert_features(conn, tid, "reccobeats",
                                      {c: None if pd.isna(v) else float(v) for c, v in zip(feat_cols, vals)})
        artists = catalog.artists
        for aid, name, g in zip(artists.index, artists["name"], artists["genres"]):
            db_tracks.store_genres(conn, aid, name, list(g), "spotify")
        loop_db.add_candidates(conn, [(tid, name_key(t.at[tid, "artist_names"][0], t.at[tid, "track_name"]),
                                       "search", "seeded") for tid in pool_ids])
    return store


def bench_train(sizes: Sizes, workdir: Path) -> dict:
    from lightgbm import LGBMClassifier

    from spotify_modeling.core.featurize import TrackFeaturizer
    from spotify_modeling.home import Home
    from spotify_modeling.pipeline.train import train_stage1, training_data

    home = Home(workdir / "train_home").ensure()
    store = seeded_store(home, sizes.train_plays, sizes.train_catalog, sizes.train_pool)
    try:
        t = time.perf_counter()
        report = train_stage1(store, home)
        seconds = time.perf_counter() - t
        t = time.perf_counter()
        train_stage1(store, home, cv=False)
        no_cv = time.perf_counter() - t
        X, y = training_data(store)
        matrix = TrackFeaturizer().fit(X).transform(X)
        # the LightGBM work alone: as many bare fits as train_stage1 makes (each model: 5 CV folds + final fit)
        n_fits = len(report.trained) * (CV_FOLDS + 1)
        t = time.perf_counter()
        for _ in range(n_fits):
            LGBMClassifier(n_estimators=250, num_leaves=15, learning_rate=0.05, n_jobs=1, verbose=-1).fit(
                matrix, y["playlist"].to_numpy())
        bare = time.perf_counter() - t
    finally:
        store.close()
    return {"tracks_played": report.tracks_played, "tracks_with_features": report.tracks_with_features,
            "trained": report.trained, "skipped": report.skipped, "seconds": seconds, "seconds_no_cv": no_cv,
            "bare_lgbm_fits": n_fits, "bare_lgbm_fit_seconds": bare,
            "cv_auc": {k: round(v.get("value", float("nan")), 3) for k, v in report.metrics.items() if v}}


# ------------------------------------------------------------------------------------------------ 4-5. demo
def bench_demo(sizes: Sizes, workdir: Path) -> dict:
    from spotify_modeling.db import pushes_and_labels as loop_db
    from spotify_modeling.db.store import Store
    from spotify_modeling.home import Home
    from spotify_modeling.sandbox.demo import run_demo
    from spotify_modeling.sources.endpoints import spotify_calls

    root = workdir / "demo_home"
    t = time.perf_counter()
    rows, _info = run_demo(root, weeks=sizes.demo_weeks, seed=SEED, n_tracks=sizes.demo_tracks,
                            n_plays=sizes.demo_plays)
    wall = time.perf_counter() - t
    with Store(Home(root.resolve()).db_path) as store:
        summaries = loop_db.run_summaries(store, "candidates")
        total_spotify = spotify_calls(store.usage_all_days())
    weeks = [{"week": r.week, "calls": r.calls, "by_group": s.get("calls_by_group", {}), "pushed": r.pushed}
             for r, s in zip(rows, summaries)]
    weekly = sum(w["calls"] for w in weeks)
    return {"weeks": weeks, "wall_seconds": wall, "features_calls": total_spotify - weekly,
            "cold_calls": weeks[0]["calls"] if weeks else None,
            "warm_calls_max": max((w["calls"] for w in weeks[1:]), default=None)}


# ------------------------------------------------------------------------------------------------ report
@dataclass
class Table:
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def add(self, figure: str, ours: str, baseline: str, ratio: str, target: str) -> None:
        self.rows.append((figure, ours, baseline, ratio, target))

    def render(self) -> str:
        head = ("figure", "ours", "baseline", "ratio", "target")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(5)]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
        return "\n".join([line(head), line(tuple("-" * w for w in widths)), *map(line, self.rows)])


def _ok(flag: bool) -> str:
    return "ok" if flag else "MISSED"


def build_table(ingest: dict | None, scoring: dict | None, train: dict | None, demo: dict | None) -> Table:
    table = Table()
    if ingest:
        b, p = ingest["baseline"], ingest["product"]
        table.add(f"ingest {ingest['plays']:,} plays / {ingest['files']} files ({ingest['bytes'] / 1e6:.0f} MB)",
                  f"{p['seconds']:.1f} s (parse {p['parse_seconds']:.1f} + import {p['import_seconds']:.1f})",
                  f"{b['seconds']:.1f} s", f"{ingest['ratio']:.2f}x", f"<= 1.5x {_ok(ingest['ratio'] <= 1.5)}")
        rss = ingest["product_peak_rss_mb"]
        table.add("ingest peak RSS (child process)", f"{rss:.0f} MB", f"{ingest['baseline_peak_rss_mb']:.0f} MB",
                  f"{rss / ingest['baseline_peak_rss_mb']:.2f}x", f"<= 1 GB {_ok(rss <= 1024)}")
    if scoring:
        table.add(f"score_pool {scoring['pool']:,} tracks, 3 models",
                  f"{scoring['score_pool_seconds']:.2f} s (featurize {scoring['featurize_seconds']:.2f})",
                  f"{scoring['raw_seconds']:.2f} s raw predict", f"{scoring['ratio']:.2f}x",
                  f"<= 2x {_ok(scoring['ratio'] <= 2)}")
        table.add("  models' predict_proba/predict only", f"{scoring['predict_only_seconds']:.2f} s",
                  f"{scoring['raw_seconds']:.2f} s", f"{scoring['predict_only_ratio']:.2f}x", "")
    if train:
        table.add(f"train_stage1 with CV ({train['tracks_with_features']:,} tracks; {', '.join(train['trained'])})",
                  f"{train['seconds']:.1f} s (no CV {train['seconds_no_cv']:.1f} s)",
                  f"{train['bare_lgbm_fit_seconds']:.1f} s {train['bare_lgbm_fits']} bare LGBM fits",
                  f"{train['seconds'] / train['bare_lgbm_fit_seconds']:.2f}x",
                  f"< 30 s {_ok(train['seconds'] < 30)}")
    if demo:
        n = len(demo["weeks"])
        table.add(f"demo wall time ({n} weeks)", f"{demo['wall_seconds']:.1f} s", "", "",
                  f"< 60 s {_ok(demo['wall_seconds'] < 60)}")
        table.add("Spotify calls: features (one-off)", f"{demo['features_calls']}", "", "", "")
        table.add("Spotify calls: week 1 (cold pool/caches)", f"{demo['cold_calls']}", "", "", "")
        if demo["warm_calls_max"] is not None:
            table.add(f"Spotify calls: week{'s 2-' if n > 2 else ' '}{n} (warm), max", f"{demo['warm_calls_max']}", "", "",
                      f"<= ~150 {_ok(demo['warm_calls_max'] <= 150)}")
    return table


def run_all(sizes: Sizes, workdir: Path, only: set[str] | None = None, say=print) -> dict:
    """Run the selected figures (ingest, scoring, train, demo) and return their raw results."""
    want = lambda name: only is None or name in only  # noqa: E731
    results: dict = {}
    for name, fn in (("ingest", lambda: bench_ingest(sizes, workdir)), ("scoring", lambda: bench_scoring(sizes)),
                     ("train", lambda: bench_train(sizes, workdir)), ("demo", lambda: bench_demo(sizes, workdir))):
        if want(name):
            say(f"... {name}")
            t = time.perf_counter()
            results[name] = fn()
            say(f"    {name} done in {time.perf_counter() - t:.1f} s")
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child_main(*argv[1:4])
        return 0
    if argv[:1] == ["--make-export"]:
        print(json.dumps(make_extended_export(Path(argv[1]), int(argv[2]), int(argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (under a minute)")
    parser.add_argument("--only", default=None, help="comma-separated subset: ingest,scoring,train,demo")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    info = machine_info()
    print(f"machine: {info['cpu_count']} cores ({info['usable_cores']} usable), Python {info['python']}, "
          f"{info['platform']}")
    print(f"OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']!r} (may be set on some machines to pick an OpenBLAS kernel; "
          f"it can change numpy timings), OMP_NUM_THREADS={info['OMP_NUM_THREADS']!r}")
    print(f"sizes: {'quick' if args.quick else 'full'} {sizes}")
    t0 = time.perf_counter()
    only = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory(prefix="speed-bench-") as tmp:
        results = run_all(sizes, Path(tmp), only)
    print()
    print(build_table(results.get("ingest"), results.get("scoring"), results.get("train"), results.get("demo"))
          .render())
    if "demo" in results:
        print("\nSpotify calls per weekly run by endpoint group:")
        for w in results["demo"]["weeks"]:
            print(f"  week {w['week']}: {w['calls']:>4}  {w['by_group']}")
    if "scoring" in results and not results["scoring"]["outputs_agree"]:
        print("\nWARNING: score_pool and raw booster predictions disagree")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "sizes": sizes.__dict__, **results}, indent=2,
                                        default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
