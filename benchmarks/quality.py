"""Quality benchmark: does the weekly loop learn a listener's taste? (prints figures; not a test)

Simulation protocol (the same decisions as `spotify-model candidates`, simulated in-process):

1. World: for each listener and seed, `simulate.build_world(seed, persona)` (synthetic personas) or, when
   `shared/data/catalogs/` exists, a listener whose hidden taste is defined over the REAL Billboard hot100 table
   (`hot100_real`: real ids, performers, Spotify artist genres and audio features; read from shared/, never copied).
2. Stage 1 as the product builds it: the world's export (zip) is imported with `ingest.import_export` into a temp
   store; `tracks`/`artists`/`audio_features` rows of the user's known tracks are written from the catalog as
   enrichment would (ReccoBeats: 92% coverage, no time_signature; ~30% of artists with no genres);
   `train.training_data(store)` then fits PlaylistModel and LikeabilityModel.
3. Each week ONE fresh draw of `pool_per_week` random catalog tracks the user does not know joins the pool
   (accumulating, capped at `pool_max`; tracks without features are dropped as the product does). Every method sees
   the same pool, minus the tracks it already pushed. As in the product, pool genres are known only for artists of
   the history and for the first artists of the prior composite's top 3 x batch (at most `genre_calls` a week);
   AffinityModel is refit weekly on played tracks vs the pool (`loop.fit_affinity`).
4. Batch size: `selection.batch_sizes` on the pool with WeeklyConfig bounds (10-30); every method pushes that many.
5. Methods: `random` (uniform); `stage1` (prior composite of playlist/likeability/affinity, top-k, NO exploration,
   NO caps, no stage 2); `original` (`select_original`: p_playlist x stage-2 probability, top-k, no exploration or
   caps; its own stage 2); `ours` (`loop.score_pool` + `loop.composite_from_labels` + `loop.choose_batch` with
   WeeklyConfig defaults, LabelModel refit weekly once >= min_labels_per_class of each class, on its own labels);
   `supervised` (an upper bound for learning on our features: LightGBM on the featurizer's columns, every pool
   genre known, fit to the hidden taste's score of 5,000 random catalog tracks; top-k); `observable` (the hidden
   taste minus per-track noise and the feeling for artists never played; top-k); `ceiling`
   (`listener.ideal_picks(pool, k)`).
6. Labels: the simulated listener's `like_probability` with one uniform per catalog track and seed (common random
   numbers: two methods pushing the same track get the same answer, same distribution as `listener.likes`). All
   tracks are labelled (`--label-rate 0.85` mimics `label_candidates`). Each method keeps ITS OWN labels.
7. Reported: hit rate = liked / labelled of the whole batch per method and week (mean over runs, 95% t interval),
   per slice for ours; gap closed = (method - random) / (ceiling - random) over weeks 4-6 (the last three weeks),
   per listener as a ratio of seed means, with a bootstrap interval over seeds; "exp" variants use the listener's
   like probability of the pushed tracks instead of the sampled labels (same expectation, far less noise).
   Stage-2 AUC 0.75: a LabelModel fit on the first n labels, scored on `holdout` random non-pool tracks; ours in its
   batch order vs labelling random pool tracks; n where the mean curve over seeds first reaches 0.75.

Run: `python benchmarks/quality.py --quick` (< 2 min), `python benchmarks/quality.py` (full, ~4 min on 2 cores),
`python benchmarks/quality.py --tune` (settings sweep, writes nothing outside --json),
`python benchmarks/quality.py --supervised-curve` (how many noise-free hidden-taste scores a model on our features
needs to rank as well as stage 1, which learns from the history alone, and to close 0.6 of the gap),
`python benchmarks/quality.py --sketch --seeds 3` (issue 22, point 3: the plain sketch, LightGBM of "history vs
4,000 uniform random catalog tracks" on audio features + genre indicators x (0.5 + p_playlist) on its own uniform
1,000-track pool, against ours and stage 1, with its ablations toward the product one at a time and ours' toward
the sketch; week 1 only unless `--weeks`; `_quality_sim.SKETCH_VARIANTS` says what each variant changes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_sim import (AUC_TARGET, METHODS, REAL_LISTENER, SKETCH_METHODS, SKETCH_VARIANTS,  # noqa: E402
                          SimSettings, run_task, shared_data_dir)

QUICK_LISTENERS = ("indie_explorer", "hiphop_loyalist")
FULL_LISTENERS = ("indie_explorer", "hiphop_loyalist", "pop_mainstream", "eclectic")


# ------------------------------------------------------------------------------------------------ running
def run_all(listeners, seeds, settings: SimSettings, workers: int) -> list[dict]:
    tasks = [(listener, seed, settings) for listener in listeners for seed in seeds]
    if workers <= 1:
        return [run_task(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(run_task, tasks))


def late_weeks(weeks: int) -> list[int]:
    """Weeks 4-6 for a 6-week run: the last three weeks (at least from week 2)."""
    return list(range(max(2, weeks - 2), weeks + 1))


# ------------------------------------------------------------------------------------------------ statistics
def t_interval(values) -> tuple[float, float]:
    """Mean and half-width of a 95% t interval (half-width NaN with one value)."""
    from scipy import stats

    v = np.asarray([x for x in values if not (isinstance(x, float) and math.isnan(x))], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan
    if len(v) == 1:
        return float(v[0]), math.nan
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def weekly_table(weeks: pd.DataFrame, methods) -> pd.DataFrame:
    """Method x week: mean hit rate over runs with a 95% interval."""
    df = weeks[weeks["slice"] == "all"]
    out = {}
    for m in methods:
        row = {}
        for w, g in df[df["method"] == m].groupby("week"):
            mean, half = t_interval(g["hit_rate"])
            row[f"w{w}"] = f"{mean:.2f}±{half:.2f}" if not math.isnan(half) else f"{mean:.2f}"
        out[m] = row
    return pd.DataFrame(out).T


def slice_table(weeks: pd.DataFrame) -> pd.DataFrame:
    """Ours per slice and week: pooled liked/labelled over runs."""
    df = weeks[(weeks["method"] == "ours") & (weeks["slice"] != "all")]
    g = df.groupby(["slice", "week"])[["liked", "labelled"]].sum()
    rate = (g["liked"] / g["labelled"]).unstack("week")
    rate.columns = [f"w{c}" for c in rate.columns]
    return rate.round(2)


def _late_rates(weeks: pd.DataFrame, late: list[int], expected: bool) -> pd.DataFrame:
    """Per listener, seed and method: pooled hit rate over the late weeks."""
    df = weeks[(weeks["slice"] == "all") & weeks["week"].isin(late)]
    g = df.groupby(["listener", "seed", "method"])[["liked", "exp_liked", "labelled"]].sum()
    num = g["exp_liked"] if expected else g["liked"]
    return (num / g["labelled"]).unstack("method")


def gap_closed(weeks: pd.DataFrame, late: list[int], methods, expected: bool = False, n_boot: int = 2000,
               seed: int = 0) -> pd.DataFrame:
    """Per listener (and their mean): (method - random) / (ceiling - random) on seed means, bootstrap 95% over seeds."""
    rates = _late_rates(weeks, late, expected)
    rng = np.random.default_rng(seed)
    rows = []
    boots_all = []
    for listener, r in rates.groupby(level="listener"):
        r = r.droplevel("listener")
        point = {}
        boot = {}
        idx = rng.integers(0, len(r), size=(n_boot, len(r)))
        for m in methods:
            if m in ("random", "ceiling") or m not in r:
                continue

            def gap(frame_mean):
                denom = frame_mean["ceiling"] - frame_mean["random"]
                return (frame_mean[m] - frame_mean["random"]) / denom
            point[m] = gap(r.mean())
            vals = r[["random", "ceiling", m]].to_numpy()
            bm = vals[idx].mean(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                boot[m] = (bm[:, 2] - bm[:, 0]) / (bm[:, 1] - bm[:, 0])
        rows.append({"listener": listener, **{m: point[m] for m in point},
                     **{f"{m}_ci": (np.nanpercentile(boot[m], 2.5), np.nanpercentile(boot[m], 97.5)) for m in boot},
                     "random": r["random"].mean(), "ceiling": r["ceiling"].mean()})
        boots_all.append(boot)
    out = pd.DataFrame(rows).set_index("listener")
    mean_row = {m: out[m].mean() for m in out.columns if not m.endswith("_ci")}
    for m in [c for c in out.columns if c.endswith("_ci")]:
        name = m[:-3]
        stacked = np.nanmean(np.column_stack([b[name] for b in boots_all]), axis=1)
        mean_row[m] = (np.nanpercentile(stacked, 2.5), np.nanpercentile(stacked, 97.5))
    out.loc["MEAN"] = pd.Series(mean_row)
    return out


def gap_difference(weeks: pd.DataFrame, late: list[int], a: str, b: str, expected: bool = True, n_boot: int = 2000,
                   seed: int = 0) -> tuple[float, float, float]:
    """Gap closed by `a` minus gap closed by `b` (mean over listeners), paired: the same seeds resampled for both."""
    rates = _late_rates(weeks, late, expected)
    rng = np.random.default_rng(seed)
    points, boots = [], []
    for _, r in rates.groupby(level="listener"):
        vals = r[["random", "ceiling", a, b]].to_numpy()
        m = vals.mean(axis=0)
        points.append(((m[2] - m[0]) - (m[3] - m[0])) / (m[1] - m[0]))
        bm = vals[rng.integers(0, len(vals), size=(n_boot, len(vals)))].mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            boots.append((bm[:, 2] - bm[:, 3]) / (bm[:, 1] - bm[:, 0]))
    stacked = np.nanmean(np.column_stack(boots), axis=1)
    return float(np.mean(points)), float(np.nanpercentile(stacked, 2.5)), float(np.nanpercentile(stacked, 97.5))


def late_minus_first(weeks: pd.DataFrame, late: list[int], method: str = "ours", expected: bool = True,
                     n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float, float, float]:
    """(week-1 rate, late rate, late minus week 1 and its bootstrap 95% interval over runs) for one method."""
    df = weeks[(weeks["method"] == method) & (weeks["slice"] == "all")]
    num = "exp_liked" if expected else "liked"
    g = df.groupby(["listener", "seed", df["week"].isin(late).map({True: "late", False: "early"}),
                    df["week"] == 1])[[num, "labelled"]].sum()
    per_run = {}
    for (listener, sd, part, first), row in g.iterrows():
        key = "first" if first else part
        if key in ("first", "late"):
            per_run.setdefault((listener, sd), {})[key] = row[num] / row["labelled"] if row["labelled"] else np.nan
    runs = pd.DataFrame(per_run).T.dropna()
    diff = (runs["late"] - runs["first"]).to_numpy()
    rng = np.random.default_rng(seed)
    boot = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    return (float(runs["first"].mean()), float(runs["late"].mean()), float(diff.mean()),
            float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5)))


def ranking_summary(ranking: pd.DataFrame, late: list[int]) -> dict:
    """Ours' top-decile ranking quality in the late weeks: mean and bootstrap 95% interval over runs."""
    df = ranking[ranking["week"].isin(late)]
    out = {}
    for col in ("auc_top10", "spearman_top10", "label_auc_top10"):
        if col not in df:
            continue
        per_run = df.groupby(["listener", "seed"])[col].mean().dropna().to_numpy()
        if not len(per_run):
            continue
        rng = np.random.default_rng(0)
        boot = per_run[rng.integers(0, len(per_run), size=(2000, len(per_run)))].mean(axis=1)
        out[col] = (float(per_run.mean()), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5)))
    return out


def format_gap(gap: pd.DataFrame, methods) -> pd.DataFrame:
    shown = [m for m in methods if f"{m}_ci" in gap.columns]
    out = pd.DataFrame(index=gap.index)
    out["random hit"] = gap["random"].map(lambda v: f"{v:.3f}")
    out["ceiling hit"] = gap["ceiling"].map(lambda v: f"{v:.3f}")
    for m in shown:
        out[m] = [f"{v:.2f} [{lo:.2f}, {hi:.2f}]" for v, (lo, hi) in zip(gap[m], gap[f"{m}_ci"])]
    return out


def auc_summary(aucs: pd.DataFrame) -> pd.DataFrame:
    """Per listener and order: labels at which the mean held-out AUC over seeds first reaches the target."""
    rows = []
    bayes = aucs[aucs["order"] == "bayes"].groupby("listener")["auc"].mean()
    aucs = aucs[aucs["order"] != "bayes"]
    for (listener, order), g in aucs.groupby(["listener", "order"]):
        curve = g.groupby("n")["auc"].mean()
        reached = curve[curve >= AUC_TARGET]
        rows.append({"listener": listener, "order": order,
                     "labels_to_target": float(reached.index.min()) if len(reached) else math.nan,
                     "max_n": int(curve.index.max()), "auc_at_max_ours_n": math.nan, "final_auc": curve.iloc[-1]})
    out = pd.DataFrame(rows)
    # AUC of both orders at the number of labels ours has by the last week (a like-for-like point)
    for listener, g in aucs.groupby("listener"):
        n_ours = g.loc[g["order"] == "ours", "n"].max()
        for order in ("ours", "random"):
            sub = g[(g["order"] == order) & (g["n"] == n_ours)]
            out.loc[(out["listener"] == listener) & (out["order"] == order), "auc_at_max_ours_n"] = sub["auc"].mean()
        out.loc[out["listener"] == listener, "n_ours"] = n_ours
    # the ceiling: AUC of the hidden taste's own probability on the same held-out labels (no model beats it)
    out["bayes_auc"] = out["listener"].map(bayes)
    return out


# ------------------------------------------------------------------------------------------------ reports
def source_table(sources: pd.DataFrame, late: list[int]) -> pd.DataFrame:
    """Ours' labelled candidates by pool source: count, share liked with its Wilson interval, all weeks and late."""
    from spotify_modeling.core.metrics import wilson_interval
    from spotify_modeling.core.selection.sources import ALL_SOURCES

    rows = []
    for s in ALL_SOURCES:
        part = sources[sources["source"] == s]
        if not len(part):
            continue
        row = {"source": s}
        for name, frame in (("all", part), ("late", part[part["week"].isin(late)])):
            n, k = len(frame), int(frame["label"].sum())
            rate, lo, hi = wilson_interval(k, n)
            row[f"{name}_n"] = n
            row[f"{name}_hit"] = f"{rate:.2f} [{lo:.2f}, {hi:.2f}]" if n else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def report(results: list[dict], settings: SimSettings, title: str) -> dict:
    weeks = pd.concat([r["weeks"] for r in results], ignore_index=True)
    methods = [m for m in METHODS if m in set(weeks["method"])]
    late = late_weeks(settings.weeks)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print(f"\n=== {title}")
    print(f"runs: {len(results)} ({', '.join(sorted(set(weeks['listener'])))}); weeks {settings.weeks}; "
          f"pool +{settings.pool_per_week}/week; label rate {settings.label_rate}")
    info = pd.DataFrame([r["info"] for r in results])
    print("random-track like rate per listener:",
          info.groupby("listener")["random_like_rate"].mean().round(3).to_dict())
    print("\nHit rate (liked / labelled), mean over runs ± 95% t half-width:")
    print(weekly_table(weeks, methods).to_string())
    print("\nOurs per slice (pooled over runs):")
    print(slice_table(weeks).to_string())
    gap = gap_closed(weeks, late, methods)
    gap_exp = gap_closed(weeks, late, methods, expected=True)
    print(f"\nGap closed (method - random) / (ceiling - random), weeks {late[0]}-{late[-1]}, sampled labels "
          f"[bootstrap 95% over seeds]:")
    print(format_gap(gap, methods).to_string())
    print("\nSame, from the listener's like probability of each pushed track (less noise):")
    print(format_gap(gap_exp, methods).to_string())
    out = {"title": title, "gap": _jsonable(gap), "gap_expected": _jsonable(gap_exp),
           "weekly": weekly_table(weeks, methods).to_dict()}
    aucs = [r["auc"] for r in results if r["auc"] is not None]
    if aucs:
        auc_df = pd.concat(aucs, ignore_index=True)
        summ = auc_summary(auc_df)
        print(f"\nLabels until stage-2 held-out AUC >= {AUC_TARGET} (mean curve over seeds; NaN = not reached "
              f"within max_n), and AUC of both orders at ours' label count:")
        print(summ.round(3).to_string(index=False))
        out["auc"] = summ.to_dict("records")
        print(f"Bayes AUC (the hidden taste's own like probability as the score), mean over listeners: "
              f"{summ.groupby('listener')['bayes_auc'].first().mean():.3f}: labels are noisy, so a target of "
              f"{AUC_TARGET} can lie above what any model can reach")
        curve = auc_df[auc_df["order"] != "bayes"].groupby(["order", "n"])["auc"].mean().unstack("order")
        print("\nMean held-out AUC by labels (all listeners):")
        print(curve.iloc[::2].round(3).T.to_string())
        reach = labels_to_reach(curve)
        print("\nLabels until the mean AUC (all listeners) first reaches each level, ours vs random order "
              "(the issue's test is ours <= half of random, at 0.75; NaN = not reached):")
        print(reach.to_string())
        out["auc_levels"] = reach.reset_index().to_dict("records")
    if "ours" in methods and "stage1" in methods:
        d, lo, hi = gap_difference(weeks, late, "ours", "stage1")
        first, late_rate, up, ulo, uhi = late_minus_first(weeks, late)
        print(f"\nOurs vs stage 1 only, gap closed from like probabilities, weeks {late[0]}-{late[-1]}: "
              f"{gap_exp.loc['MEAN', 'ours']:.2f} vs {gap_exp.loc['MEAN', 'stage1']:.2f}, difference {d:+.2f} "
              f"[{lo:+.2f}, {hi:+.2f}]")
        print(f"Ours' expected hit rate, week 1 {first:.3f} -> weeks {late[0]}-{late[-1]} {late_rate:.3f}: "
              f"{up:+.3f} [{ulo:+.3f}, {uhi:+.3f}]")
        out["ours_minus_stage1"] = {"point": d, "ci": [lo, hi]}
        out["late_minus_week1"] = {"week1": first, "late": late_rate, "point": up, "ci": [ulo, uhi]}
    sources = [r["sources"] for r in results if r.get("sources") is not None and len(r["sources"])]
    if sources:
        by = source_table(pd.concat(sources, ignore_index=True), late)
        print(f"\nOurs' hit rate by pool source (labelled candidates pooled over runs; all weeks / weeks "
              f"{late[0]}-{late[-1]}; 95% Wilson intervals):")
        print(by.to_string(index=False))
        out["by_source"] = by.to_dict("records")
    ranking = [r["ranking"] for r in results if r.get("ranking") is not None and len(r["ranking"])]
    if ranking:
        rs = ranking_summary(pd.concat(ranking, ignore_index=True), late)
        names = {"auc_top10": "composite AUC vs likes", "spearman_top10": "composite Spearman vs like probability",
                 "label_auc_top10": "stage-2 label model AUC vs likes"}
        print(f"\nWhere the batch is drawn (ours, the pool's top 10% by its composite, weeks {late[0]}-{late[-1]}, "
              "mean over runs [bootstrap 95%]):")
        for k, (v, lo, hi) in rs.items():
            print(f"  {names[k]:<42} {v:.3f} [{lo:.3f}, {hi:.3f}]")
        out["top_decile"] = rs
    return out


REALISM = {"stationary": ("stationary",), "realistic": ("realistic",), "both": ("stationary", "realistic")}
TITLES = {"stationary": "stationary listeners (history = current taste)",
          "realistic": "listeners with history noise and taste drift (simulate.REALISTIC)"}


def realism_settings(settings: SimSettings, kind: str) -> SimSettings:
    from spotify_modeling.sandbox.simulate import REALISTIC

    return _sim(settings, **dict(REALISTIC)) if kind == "realistic" else settings


def side_by_side(summary: dict) -> None:
    """The issue's targets, stationary and realistic listeners next to each other."""
    print("\n=== Targets, side by side (gap closed from like probabilities, weeks 4-6; 95% intervals)")
    rows = []
    for kind, out in summary.items():
        gap = out["gap_expected"]["MEAN"]
        d, (lo, hi) = out["ours_minus_stage1"]["point"], out["ours_minus_stage1"]["ci"]
        lw = out["late_minus_week1"]
        rows.append({"listeners": kind, "ours": f"{gap['ours']:.2f}", "stage 1 only": f"{gap['stage1']:.2f}",
                     "ours - stage 1": f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]",
                     "ours hit w1 -> w4-6": f"{lw['week1']:.3f} -> {lw['late']:.3f}",
                     "late - w1": f"{lw['point']:+.3f} [{lw['ci'][0]:+.3f}, {lw['ci'][1]:+.3f}]"})
    print(pd.DataFrame(rows).to_string(index=False))


def labels_to_reach(curve: pd.DataFrame, levels=(0.55, 0.6, 0.65, 0.7, 0.75)) -> pd.DataFrame:
    """For each AUC level: the first label count at which each order's mean curve reaches it, and ours / random."""
    rows = []
    for level in levels:
        row = {"auc_level": level}
        for order in ("ours", "random"):
            col = curve[order].dropna() if order in curve else pd.Series(dtype=float)
            hit = col[col >= level]
            row[order] = float(hit.index.min()) if len(hit) else math.nan
        row["ours/random"] = row["ours"] / row["random"] if row["random"] == row["random"] else math.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("auc_level")


def _jsonable(df: pd.DataFrame) -> dict:
    return json.loads(df.to_json(orient="index"))


# ------------------------------------------------------------------------------------------------ tuning
def tuning_variants(base: SimSettings) -> dict[str, SimSettings]:
    w = base
    return {
        "default": w,
        "explore_share=0.0": w.with_weekly(explore_share=0.0),
        "explore_share=0.1": w.with_weekly(explore_share=0.1),
        "control_share=0.0": w.with_weekly(control_share=0.0),
        "explore=0,control=0": w.with_weekly(explore_share=0.0, control_share=0.0),
        "explore=0,control=0,no caps": w.with_weekly(explore_share=0.0, control_share=0.0, max_per_artist=None,
                                                     max_family_share=1.0),
        "explore=0.1,control=0.05": w.with_weekly(explore_share=0.1, control_share=0.05),
        "explore_floor=0.5": w.with_weekly(explore_floor=0.5),
        "prior aff1/pl0/lk0": _prior(w, 1.0, 0.0, 0.0),
        "prior aff1/pl1/lk1": _prior(w, 1.0, 1.0, 1.0),
        "prior aff1/pl0.25/lk0.25": _prior(w, 1.0, 0.25, 0.25),
        "prior aff1/pl0.5/lk0": _prior(w, 1.0, 0.5, 0.0),
        "min_labels_per_class=4": w.with_weekly(min_labels_per_class=4),
        "min_labels_per_class=15": w.with_weekly(min_labels_per_class=15),
        "stage 2 off": w.with_weekly(min_labels_per_class=10**6),
        "pool_per_week=300": _sim(w, pool_per_week=300),
        "pool_per_week=1200": _sim(w, pool_per_week=1200),
        "max_per_artist=1": w.with_weekly(max_per_artist=1),
        "max_family_share=1.0": w.with_weekly(max_family_share=1.0),
        "no artist_plays feature": _sim(w, known_artist=False),
        "max_per_artist=None": w.with_weekly(max_per_artist=None),
        "max_per_artist=3": w.with_weekly(max_per_artist=3),
        "composite n0=10": _sim(w, composite_n0=10.0),
        "composite n0=100": _sim(w, composite_n0=100.0),
        "linear stage 2": _sim(w, label_model="linear"),
        "no release exposure": _sim(w, release_exposure=False),
        "no missingness balance": _sim(w, missing_policy="as_is"),
        # labels that correct stage 1 (issue 14); what in the realistic listener costs stage 1 most
        "history noise only": _sim(w, history_noise=0.2),
        "taste drift only": _sim(w, drift=__import__("spotify_modeling.sandbox.simulate", fromlist=["x"]).REALISTIC["drift"]),
        "no corrections": _sim(w, composite={"corrections": False}),
        "family pseudo-count 3": _sim(w, composite={"family_pseudo_count": 3.0}),
        "family pseudo-count 30": _sim(w, composite={"family_pseudo_count": 30.0}),
        "newness pseudo-count 10": _sim(w, composite={"newness_pseudo_count": 10.0}),
        "no newness correction": _sim(w, composite={"newness_pseudo_count": 1e9}),
        "corrections + audio": _sim(w, composite={"extra_corrections": ("audio",)}),
        "corrections + artist": _sim(w, composite={"extra_corrections": ("artist",)}),
        "corrections + genre": _sim(w, composite={"extra_corrections": ("genre",)}),
        "corrections + audio, artist, genre": _sim(w, composite={"extra_corrections": ("audio", "artist", "genre")}),
        "corrections + genre, min count 3": _sim(w, composite={"extra_corrections": ("genre",), "genre_min_count": 3}),
        "corrections + genre, pseudo-count 5": _sim(w, composite={"extra_corrections": ("genre",),
                                                                  "genre_pseudo_count": 5.0}),
        "corrections + genre, pseudo-count 20": _sim(w, composite={"extra_corrections": ("genre",),
                                                                   "genre_pseudo_count": 20.0}),
        "corrections + genre, thompson explore": _sim(w.with_weekly(explore_mode="thompson"),
                                                      composite={"extra_corrections": ("genre",)}),
        "corrections + genre, explore 0": _sim(w.with_weekly(explore_share=0.0),
                                               composite={"extra_corrections": ("genre",)}),
        "genre 5 + thompson": _sim(w.with_weekly(explore_mode="thompson"),
                                   composite={"extra_corrections": ("genre",), "genre_pseudo_count": 5.0}),
        "genre 5 + thompson, family 5": _sim(w.with_weekly(explore_mode="thompson"),
                                             composite={"extra_corrections": ("genre",), "genre_pseudo_count": 5.0,
                                                        "family_pseudo_count": 5.0}),
        "genre 5 + thompson, n0=10": _sim(w.with_weekly(explore_mode="thompson"), composite_n0=10.0,
                                          composite={"extra_corrections": ("genre",), "genre_pseudo_count": 5.0}),
        "genre 5 + thompson, stage 2 off": _sim(w.with_weekly(explore_mode="thompson", min_labels_per_class=10**6),
                                                composite={"extra_corrections": ("genre",), "genre_pseudo_count": 5.0}),
        "genre 5 + thompson 0.2": _sim(w.with_weekly(explore_mode="thompson", explore_share=0.2),
                                       composite={"extra_corrections": ("genre",), "genre_pseudo_count": 5.0}),
        "genre menu follows the labels": _sim(w, menu_follows_labels=True),
        "thompson explore": w.with_weekly(explore_mode="thompson"),
        "thompson explore 0.2": w.with_weekly(explore_mode="thompson", explore_share=0.2),
        "thompson explore, family pseudo-count 3": _sim(w.with_weekly(explore_mode="thompson"),
                                                         composite={"family_pseudo_count": 3.0}),
        "history fully described": _sim(w, uri_stubs=False),
        "history fully described, no missingness balance": _sim(w, uri_stubs=False, missing_policy="as_is"),
        "labels in affinity x3": _sim(w, affinity_label_weight=3.0),
        "labels in affinity x10": _sim(w, affinity_label_weight=10.0),
        "labels in affinity x30": _sim(w, affinity_label_weight=30.0),
        "affinity +1000 random negatives": _sim(w, affinity_extra_negatives=1000),
        "affinity +3000 random negatives": _sim(w, affinity_extra_negatives=3000),
        "genre_share=0.3": w.with_weekly(genre_share=0.3),
        "a like counts as 5 plays of its artist": _sim(w, liked_artist_plays=5.0),
        "a like counts as 20 plays of its artist": _sim(w, liked_artist_plays=20.0),
        # candidates from your likes (issue 21): each part of the product's default taken away
        "no like-seeded sources (one pool for all)": _sim(w, like_sources=False),
        "like-seeded searches, no ReccoBeats": w.with_weekly(sources="search"),
        "ReccoBeats only (no artist/genre searches of likes)": w.with_weekly(like_sources=""),
        "artist searches only": w.with_weekly(like_sources="artist", sources="search"),
        "liked-genre searches only": w.with_weekly(like_sources="liked_genre", sources="search"),
        "no source or liked-artist corrections": _sim(w, composite={"extra_corrections": ("genre",)}),
        "genre + source corrections": _sim(w, composite={"extra_corrections": ("genre", "source")}),
        "genre + liked-artist corrections": _sim(w, composite={"extra_corrections": ("genre", "liked_artist")}),
        "no dislike pruning": w.with_weekly(prune_dislikes=0.0),
        "stage 2 prior weight 0 (as before)": _sim(w, stage2_evidence=False),
        "genre_share=0.7": w.with_weekly(genre_share=0.7),
        "max_family_share=1.0,max_per_artist=3": w.with_weekly(max_family_share=1.0, max_per_artist=3),
        # how the pool and the family cap were chosen (a flat cap = the same share for every family)
        "random pool, flat family cap 0.4": _flat_cap(w, 0.0, 0.4),
        "random pool, flat family cap 0.4, all pool genres known": _sim(_flat_cap(w, 0.0, 0.4), genre_fetch=False),
        "genre_share=0.3, flat family cap 0.4": _flat_cap(w, 0.3, 0.4),
        "genre_share=0.5, flat family cap 0.4": _flat_cap(w, 0.5, 0.4),
        "genre_share=0.7, flat family cap 0.4": _flat_cap(w, 0.7, 0.4),
        "genre_share=0.5, flat family cap 0.6": _flat_cap(w, 0.5, 0.6),
        "genre_share=0.5, flat family cap 0.8": _flat_cap(w, 0.5, 0.8),
        "genre_share=0.5, family cap 0.4 or 1.25x your share": w.with_weekly(max_family_share=0.4),
        # issue 22, point 3: the plain sketch as extra methods, and ours moved toward it (`--sketch` tabulates them)
        "sketch methods": _sim(w, methods=tuple(dict.fromkeys(w.methods + SKETCH_METHODS))),
        "affinity +4000 random negatives": _sim(w, affinity_extra_negatives=4000),
        "every pool genre known": _sim(w, genre_fetch=False),
        "+1000 uniform pool tracks a week": _sim(w, uniform_pool_extra=1000),
        "+1000 uniform pool tracks a week, +4000 random negatives": _sim(w, uniform_pool_extra=1000,
                                                                          affinity_extra_negatives=4000),
        "+1000 uniform pool tracks in week 1, +4000 random negatives": _sim(
            w, uniform_pool_extra=1000, uniform_pool_weeks=1, affinity_extra_negatives=4000),
        "uniform pool (genre_share=0)": w.with_weekly(genre_share=0.0),
        "affinity +4000 random negatives, every pool genre known": _sim(w, affinity_extra_negatives=4000,
                                                                         genre_fetch=False),
    }


def _flat_cap(w: SimSettings, genre_share: float, family_share: float) -> SimSettings:
    return _sim(w.with_weekly(genre_share=genre_share, max_family_share=family_share), family_headroom=False)


def _prior(w: SimSettings, aff: float, pl: float, lk: float) -> SimSettings:
    return _sim(w, prior_weights={"affinity": aff, "playlist": pl, "likeability": lk, "label": 0.0})


def _sim(w: SimSettings, **changes) -> SimSettings:
    from dataclasses import replace

    return replace(w, **changes)


def first_day(listeners, seeds, base: SimSettings, workers: int, kinds) -> dict:
    """Week 1's expected like rate from a full export and from the Web API alone (issue 22: a batch the day you
    log in, before the export arrives), side by side."""
    out = {}
    rows = []
    for kind in kinds:
        for start in ("export", "web_api"):
            settings = _sim(realism_settings(base, kind), weeks=1, start=start, auc_curve=False,
                            methods=("random", "stage1", "ours", "ceiling"))
            weeks = pd.concat([r["weeks"] for r in run_all(listeners, seeds, settings, workers)], ignore_index=True)
            w = weeks[(weeks["slice"] == "all") & (weeks["week"] == 1)]
            rate = w.groupby("method")["exp_liked"].sum() / w.groupby("method")["labelled"].sum()
            per_run = (w.assign(r=w["exp_liked"] / w["labelled"]).pivot_table(index=["listener", "seed"],
                                                                           columns="method", values="r"))
            mean, half = t_interval(per_run["ours"].to_numpy())
            rows.append({"listeners": kind, "start": start, "ours": rate["ours"], "ours_ci": f"±{half:.3f}",
                         "stage1": rate["stage1"], "random": rate["random"], "ceiling": rate["ceiling"]})
            out[f"{kind}/{start}"] = rows[-1]
    table = pd.DataFrame(rows)
    print("\nWeek 1, expected like rate of the pushed batch (mean over runs; ours with a 95% t interval):")
    print(table.round(3).to_string(index=False))
    return out


#: the runs of `--sketch`: name -> (changes to the settings, with the sketch methods?, reference run of ours and
#: stage 1). "defaults" is the product as it is, with every sketch method; then ours moved toward the sketch one
#: change at a time; then a world whose random searches bring popular tracks first, as Spotify's search does
#: (the simulation's random searches are uniform otherwise).
SKETCH_RUNS: dict[str, tuple[dict, bool, str | None]] = {
    "defaults": ({}, True, None),
    "ours +4000 random negatives": ({"affinity_extra_negatives": 4000}, False, "defaults"),
    "ours, every pool genre known": ({"genre_fetch": False}, False, "defaults"),
    "ours, uniform pool (no genre searches)": ({"weekly": {"genre_share": 0.0}}, False, "defaults"),
    "ours, all three": ({"affinity_extra_negatives": 4000, "genre_fetch": False, "weekly": {"genre_share": 0.0}},
                        False, "defaults"),
    "ours + 1000 uniform pool tracks a week": ({"uniform_pool_extra": 1000}, True, "defaults"),
    "ours + 1000 uniform pool tracks a week, +4000 random negatives": (
        {"uniform_pool_extra": 1000, "affinity_extra_negatives": 4000}, False, "defaults"),
    "ours + 1000 uniform pool tracks in week 1, +4000 random negatives": (
        {"uniform_pool_extra": 1000, "uniform_pool_weeks": 1, "affinity_extra_negatives": 4000}, False, "defaults"),
    "popular-first searches x4": ({"search_popularity": 4.0}, True, "defaults"),
    "popular-first searches x8": ({"search_popularity": 8.0}, True, "defaults"),
    "popular-first x8, ours +4000 random negatives": ({"search_popularity": 8.0, "affinity_extra_negatives": 4000},
                                                       False, "popular-first searches x8"),
}
SKETCH_LABELS = {
    "random": "random (shared pool)",
    "ceiling": "ceiling (shared pool)",
    "ceiling_uniform": "ceiling on the sketch's uniform pool",
    "random_uniform": "random from the sketch's uniform pool",
    "stage1": "stage 1 only",
    "ours": "ours",
    "sketch": "sketch (4,000 uniform negatives, all genres, own uniform 1,000 pool, x (0.5 + pl))",
    "sketch_on_pool": "(c) sketch on the shared pool",
    "sketch:uniform_pool_shared_size": "(c') sketch on a uniform pool as large as the shared one",
    "sketch:pool_negatives": "(a) sketch, negatives = the pool's random-search tracks",
    "sketch:product_genres": "(b) sketch, genres only from the product's look-ups",
    "sketch:affinity_model": "(d) sketch, the product's AffinityModel on the product's features",
    "sketch:prior_composite": "(e) sketch, the product's prior composite instead of x (0.5 + pl)",
}
#: the rows of a run with the sketch methods: (method, reference method in the same run)
_SKETCH_ROWS = [("random", None), ("random_uniform", "random"), ("ceiling", None), ("ceiling_uniform", "ceiling"),
                ("stage1", None), ("ours", None), ("sketch", None),
                *[(m, "sketch") for m in SKETCH_VARIANTS if m != "sketch"]]


def _sketch_settings(base: SimSettings, changes: dict, full: bool) -> SimSettings:
    changes = dict(changes)
    weekly = changes.pop("weekly", None)
    settings = base.with_weekly(**weekly) if weekly else base
    methods = ("random", "stage1", "ours", "ceiling") + (SKETCH_METHODS if full else ())
    return _sim(settings, auc_curve=False, methods=methods, **changes)


def _per_run_rates(weeks: pd.DataFrame, which: list[int]) -> pd.DataFrame:
    """(listener, seed) x method: expected like rate of the pushed tracks, pooled over the weeks `which`."""
    df = weeks[(weeks["slice"] == "all") & weeks["week"].isin(which)]
    g = df.groupby(["listener", "seed", "method"])[["exp_liked", "labelled"]].sum()
    return (g["exp_liked"] / g["labelled"]).unstack("method")


def _cell(values) -> str:
    mean, half = t_interval(values)
    return f"{mean:.3f} ±{half:.3f}" if not math.isnan(half) else f"{mean:.3f}"


def sketch_study(listeners, seeds, base: SimSettings, workers: int, kinds, runs: list[str] | None = None) -> dict:
    """Issue 22, point 3: week 1's expected like rate (and weeks 4-6 when run that long) of the plain sketch, its
    ablations toward the product and ours' toward the sketch; mean over runs with a 95% t interval, the paired
    difference (same listeners and seeds) from the same run's sketch ("vs sketch") and from the variant's
    reference ("- ref": the sketch for its ablations, the reference run's same method for ours' ablations)."""
    late = late_weeks(base.weeks) if base.weeks >= 4 else []
    periods = {"w1": [1], **({f"w{late[0]}-{late[-1]}": late} if late else {})}
    names = [r for r in SKETCH_RUNS if not runs or r in runs or r == "defaults"]
    out: dict = {}
    for kind in kinds:
        rates: dict[str, dict[str, pd.DataFrame]] = {}
        sizes = {}
        for run in names:
            start = time.perf_counter()
            changes, full, _ = SKETCH_RUNS[run]
            settings = realism_settings(_sketch_settings(base, changes, full), kind)
            weeks = pd.concat([r["weeks"] for r in run_all(listeners, seeds, settings, workers)], ignore_index=True)
            rates[run] = {p: _per_run_rates(weeks, w) for p, w in periods.items()}
            sizes[run] = float(weeks[(weeks["week"] == 1) & (weeks["slice"] == "all")]["n"].mean())
            print(f"  [{kind}] {run}: {round(time.perf_counter() - start)} s", flush=True)
        rows = []
        for run in names:
            changes, full, ref_run = SKETCH_RUNS[run]
            sketch_run = run if full else "defaults"
            todo = _SKETCH_ROWS if full else [("ours", None), ("stage1", None)]
            for method, ref_method in todo:
                if method not in rates[run]["w1"]:
                    continue
                if ref_method is None and ref_run is not None and method in ("ours", "stage1", "random", "ceiling"):
                    ref = (ref_run, method)
                elif ref_method is not None:
                    ref = (run, ref_method)
                else:
                    ref = None
                row = {"run": run, "method": method, "variant": SKETCH_LABELS.get(method, method)}
                for p in periods:
                    r = rates[run][p][method]
                    row[p] = _cell(r)
                    row[f"{p} mean"] = float(r.mean())
                    if method != "sketch" and "sketch" in rates[sketch_run][p]:
                        row[f"{p} vs sketch"] = _cell((r - rates[sketch_run][p]["sketch"].reindex(r.index)).to_numpy())
                    if ref is not None:
                        row[f"{p} - ref"] = _cell((r - rates[ref[0]][p][ref[1]].reindex(r.index)).to_numpy())
                row["ref"] = "" if ref is None else (ref[1] if ref[0] == run else f"{ref[1]} [{ref[0]}]")
                rows.append(row)
        table = pd.DataFrame(rows)
        n_runs = len(rates["defaults"]["w1"])
        print(f"\n=== {TITLES[kind]}: expected like rate of the pushed batch (mean over {n_runs} runs ± 95% t "
              f"half-width; paired differences from the same run's sketch and from the reference; week-1 batch "
              f"{sizes['defaults']:.0f} tracks)")
        pd.set_option("display.width", 300)
        pd.set_option("display.max_colwidth", 90)
        for run, part in table.groupby("run", sort=False):
            print(f"-- {run}")
            shown = part.drop(columns=["run", "method"] + [c for c in part.columns if c.endswith(" mean")])
            print(shown.fillna("").to_string(index=False))
        out[kind] = {"rows": table.to_dict("records"), "week1_batch": sizes}
    return out


def tune(listeners, seeds, base: SimSettings, workers: int, only: list[str] | None,
         kinds: tuple[str, ...] = ("stationary",)) -> pd.DataFrame:
    variants = tuning_variants(base)
    if only:
        variants = {k: v for k, v in variants.items() if k in only or k == "default"}
    variants = {(f"{name} [{kind}]" if len(kinds) > 1 else name): realism_settings(v, kind)
                for name, v in variants.items() for kind in kinds}
    rows = []
    late = late_weeks(base.weeks)
    for name, settings in variants.items():
        start = time.perf_counter()
        results = run_all(listeners, seeds, settings, workers)
        weeks = pd.concat([r["weeks"] for r in results], ignore_index=True)
        gap = gap_closed(weeks, late, ["ours"])
        gap_exp = gap_closed(weeks, late, [m for m in ("ours", "stage1") if m in set(weeks["method"])],
                             expected=True)
        late_ours = weeks[(weeks["method"] == "ours") & (weeks["slice"] == "all") & weeks["week"].isin(late)]
        all_ours = weeks[(weeks["method"] == "ours") & (weeks["slice"] == "all")]

        def late_exp(method):
            g = weeks[(weeks["method"] == method) & (weeks["slice"] == "all") & weeks["week"].isin(late)]
            return g["exp_liked"].sum() / g["labelled"].sum() if len(g) else float("nan")

        row = {"setting": name, "gap": gap.loc["MEAN", "ours"], "gap_ci": gap.loc["MEAN", "ours_ci"],
               "gap_exp": gap_exp.loc["MEAN", "ours"], "gap_exp_ci": gap_exp.loc["MEAN", "ours_ci"],
               "hit_late": late_ours["liked"].sum() / late_ours["labelled"].sum(),
               "exp_hit_late": late_ours["exp_liked"].sum() / late_ours["labelled"].sum(),
               "exp_hit_all_weeks": all_ours["exp_liked"].sum() / all_ours["labelled"].sum(),
               "random_exp_hit_late": late_exp("random"), "ceiling_exp_hit_late": late_exp("ceiling"),
               **{f"gap_exp[{k}]": v for k, v in gap_exp["ours"].drop("MEAN").items()},
               "seconds": round(time.perf_counter() - start)}
        if "stage1" in gap_exp:
            d, lo, hi = gap_difference(weeks, late, "ours", "stage1")
            _, _, up, ulo, uhi = late_minus_first(weeks, late)
            row.update({"stage1_gap_exp": gap_exp.loc["MEAN", "stage1"], "ours_minus_stage1": d,
                        "ours_minus_stage1_ci": (lo, hi), "late_minus_w1": up, "late_minus_w1_ci": (ulo, uhi)})
        rows.append(row)
        vs = (f"  vs stage 1 {row['ours_minus_stage1']:+.2f} [{row['ours_minus_stage1_ci'][0]:+.2f}, "
              f"{row['ours_minus_stage1_ci'][1]:+.2f}]  late-w1 {row['late_minus_w1']:+.3f} "
              f"[{row['late_minus_w1_ci'][0]:+.3f}, {row['late_minus_w1_ci'][1]:+.3f}]") if "ours_minus_stage1" in row else ""
        extra = [m for m in SKETCH_METHODS if m in set(weeks["method"])]
        for m in ("ours", "stage1", *extra):
            g1 = weeks[(weeks["method"] == m) & (weeks["slice"] == "all") & (weeks["week"] == 1)]
            row[f"exp_hit_w1[{m}]"] = g1["exp_liked"].sum() / g1["labelled"].sum() if len(g1) else float("nan")
            if m in extra:
                row[f"exp_hit_late[{m}]"] = late_exp(m)
        if extra:
            print("    week 1 / weeks 4-6 expected hit: " + ", ".join(
                f"{m} {row[f'exp_hit_w1[{m}]']:.3f}/{row[f'exp_hit_late[{m}]']:.3f}" for m in extra), flush=True)
        print(f"  {name:28s} gap {row['gap']:.2f}  gap(exp) {row['gap_exp']:.2f} "
              f"[{row['gap_exp_ci'][0]:.2f}, {row['gap_exp_ci'][1]:.2f}]  late hit {row['hit_late']:.3f}  "
              f"exp late hit {row['exp_hit_late']:.3f} (random {row['random_exp_hit_late']:.3f}, ceiling "
              f"{row['ceiling_exp_hit_late']:.3f}){vs}  ({row['seconds']} s)", flush=True)
    return pd.DataFrame(rows)


def supervised_curve(listeners, seeds, base: SimSettings, workers: int,
                     sizes=(300, 1000, 2000, 5000)) -> pd.DataFrame:
    """Gap closed (weeks 4-6, expected likes) by stage 1 and by the supervised model at each training size."""
    rows = []
    late = late_weeks(base.weeks)
    for n in sizes:
        start = time.perf_counter()
        settings = _sim(base, auc_curve=False, methods=("random", "stage1", "supervised", "ceiling"),
                        supervised_n=n)
        weeks = pd.concat([r["weeks"] for r in run_all(listeners, seeds, settings, workers)], ignore_index=True)
        gap = gap_closed(weeks, late, ["stage1", "supervised"], expected=True)
        row = {"hidden-taste scores": n, "stage1": gap.loc["MEAN", "stage1"],
               "supervised": gap.loc["MEAN", "supervised"],
               "supervised_ci": gap.loc["MEAN", "supervised_ci"],
               **{f"supervised[{k}]": v for k, v in gap["supervised"].drop("MEAN").items()},
               "seconds": round(time.perf_counter() - start)}
        rows.append(row)
        print(f"  n={n:5d}: supervised closes {row['supervised']:.2f} [{row['supervised_ci'][0]:.2f}, "
              f"{row['supervised_ci'][1]:.2f}], stage 1 {row['stage1']:.2f} ({row['seconds']} s)", flush=True)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 listeners x 2 seeds x 4 weeks (< 2 min)")
    ap.add_argument("--tune", action="store_true", help="sweep settings (ours only, no AUC curve)")
    ap.add_argument("--supervised-curve", action="store_true",
                    help="gap closed by a model fit to n hidden-taste scores, n = 300 ... 5,000 (vs stage 1)")
    ap.add_argument("--only", nargs="*", help="tuning variants to run (names as printed)")
    ap.add_argument("--listeners", nargs="*", help="listeners (personas, or hot100_real)")
    ap.add_argument("--seeds", type=int, help="seeds per listener")
    ap.add_argument("--weeks", type=int)
    ap.add_argument("--label-rate", type=float, default=1.0)
    ap.add_argument("--realism", choices=("stationary", "realistic", "both"), default=None,
                    help="listeners whose history is their current taste (stationary), whose history is noisy and "
                         "whose taste moved since (realistic: simulate.REALISTIC), or both side by side")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--json", type=Path, help="write the summary numbers here")
    ap.add_argument("--sketch", action="store_true",
                    help="issue 22, point 3: the plain sketch and its ablations toward the product, ours' toward "
                         "the sketch (week 1 only unless --weeks; --only picks the runs of ours' ablations)")
    ap.add_argument("--first-day", action="store_true",
                    help="week 1 only, twice: from a full export, and from the Web API alone (logged in, no export)")
    args = ap.parse_args(argv)

    real = shared_data_dir() is not None
    if args.quick:
        listeners, n_seeds, settings = QUICK_LISTENERS, 2, SimSettings(weeks=4, auc_random_max=200)
    else:
        listeners = FULL_LISTENERS + ((REAL_LISTENER,) if real else ())
        n_seeds, settings = 5, SimSettings()
    if args.tune or args.supervised_curve or args.sketch:
        n_seeds = 3
        settings = _sim(settings, auc_curve=False, methods=("random", "stage1", "ours", "ceiling"))
    if args.listeners:
        listeners = tuple(args.listeners)
    if args.seeds:
        n_seeds = args.seeds
    if args.weeks:
        settings = _sim(settings, weeks=args.weeks)
    elif args.sketch:
        settings = _sim(settings, weeks=1)
    settings = _sim(settings, label_rate=args.label_rate)
    if not real:
        print("note: shared/data/catalogs not found (set SPOTIFY_MODEL_SHARED): no real-catalog listener")
    seeds = list(range(n_seeds))
    start = time.perf_counter()
    if args.sketch:
        print(f"Sketch study: {len(listeners)} listeners x {n_seeds} seeds x {settings.weeks} week(s) per run")
        summary = {"sketch": sketch_study(listeners, seeds, settings, args.workers, REALISM[args.realism or "both"],
                                          args.only)}
    elif args.first_day:
        summary = first_day(listeners, seeds, settings, args.workers, REALISM[args.realism or "both"])
    elif args.supervised_curve:
        print(f"Supervised curve: {len(listeners)} listeners x {n_seeds} seeds x {settings.weeks} weeks per size")
        table = supervised_curve(listeners, seeds, settings, args.workers)
        pd.set_option("display.width", 250)
        print(table.drop(columns=["supervised_ci"]).round(3).to_string(index=False))
        summary = {"supervised_curve": json.loads(table.to_json(orient="records"))}
    elif args.tune:
        print(f"Tuning: {len(listeners)} listeners x {n_seeds} seeds x {settings.weeks} weeks per setting")
        table = tune(listeners, seeds, settings, args.workers, args.only, REALISM[args.realism or "stationary"])
        pd.set_option("display.width", 250)
        print(table.drop(columns=[c for c in table.columns if c.endswith("_ci")]).round(3).to_string(index=False))
        summary = {"tuning": json.loads(table.to_json(orient="records"))}
    else:
        summary = {}
        for kind in REALISM[args.realism or "both"]:
            kind_settings = realism_settings(settings, kind)
            results = run_all(listeners, seeds, kind_settings, args.workers)
            summary[kind] = report(results, kind_settings, f"{'quick' if args.quick else 'full'}: {TITLES[kind]}")
        if len(summary) > 1:
            side_by_side(summary)
    print(f"\n({time.perf_counter() - start:.0f} s, {args.workers} worker(s))")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
