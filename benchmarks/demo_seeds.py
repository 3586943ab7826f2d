"""Does the default demo's exploit slice get better as you label? `spotify-model demo` for seeds 0-4, side by side.

Each seed is the whole demo (a synthetic world, `features`, six weekly `candidates` runs through the real client
against the stand-in, the simulated listener labelling in between). Printed per seed: the exploit slice's hit rate
(liked / labelled, as the listener labelled it) in weeks 1-2 and 4-6, the same from the listener's like
probability of each pushed track (less noise), and the listener's own best picks from the same pools (the
ceiling). The issue-21 target: weeks 4-6 above weeks 1-2 on average and for at least 4 of the 5 seeds.

    python benchmarks/demo_seeds.py [--seeds 5] [--weeks 6]     (about 2-3 minutes)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from spotify_modeling.sandbox.demo import run_demo


def _rate(weeks, slice_: str, which: range) -> tuple[int, int]:
    liked = sum(w.by_slice.get(slice_, (0, 0))[0] for w in weeks if w.week in which)
    labelled = sum(w.by_slice.get(slice_, (0, 0))[1] for w in weeks if w.week in which)
    return liked, labelled


def _expected(weeks, slice_: str, which: range) -> float:
    vals = [(w.expected.get(slice_), w.by_slice.get(slice_, (0, 0))[1] or w.pushed) for w in weeks
            if w.week in which and w.expected.get(slice_) is not None]
    return float(np.average([v for v, _ in vals], weights=[n for _, n in vals])) if vals else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--weeks", type=int, default=6)
    args = ap.parse_args(argv)
    early, late = range(1, 3), range(4, args.weeks + 1)
    rows = []
    start = time.perf_counter()
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            weeks, info = run_demo(Path(tmp) / "demo", weeks=args.weeks, seed=seed)
        e_k, e_n = _rate(weeks, "exploit", early)
        l_k, l_n = _rate(weeks, "exploit", late)
        a_k, a_n = sum(w.liked for w in weeks if w.week in early), sum(w.labelled for w in weeks if w.week in early)
        b_k, b_n = sum(w.liked for w in weeks if w.week in late), sum(w.labelled for w in weeks if w.week in late)
        rows.append({
            "seed": seed, "listener": info["listener"],
            "exploit w1-2": f"{e_k}/{e_n} = {e_k / e_n:.0%}" if e_n else "–",
            "exploit w4-6": f"{l_k}/{l_n} = {l_k / l_n:.0%}" if l_n else "–",
            "exp. exploit w1-2": _expected(weeks, "exploit", early),
            "exp. exploit w4-6": _expected(weeks, "exploit", late),
            "all w1-2": a_k / a_n if a_n else float("nan"), "all w4-6": b_k / b_n if b_n else float("nan"),
            "ceiling w1-2": float(np.mean([w.ceiling for w in weeks if w.week in early])),
            "ceiling w4-6": float(np.mean([w.ceiling for w in weeks if w.week in late])),
            "_e": e_k / e_n if e_n else np.nan, "_l": l_k / l_n if l_n else np.nan,
        })
        print(f"seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    shown = df.drop(columns=["_e", "_l"])
    pd.set_option("display.width", 200)
    print(shown.round(3).to_string(index=False))
    up = int((df["_l"] > df["_e"]).sum())
    exp_up = int((df["exp. exploit w4-6"] > df["exp. exploit w1-2"]).sum())
    print(f"\nexploit slice, sampled labels: weeks 1-2 {df['_e'].mean():.3f} -> weeks 4-6 {df['_l'].mean():.3f} "
          f"(mean over seeds); higher in weeks 4-6 for {up} of {len(df)} seeds")
    print(f"exploit slice, like probabilities: weeks 1-2 {df['exp. exploit w1-2'].mean():.3f} -> weeks 4-6 "
          f"{df['exp. exploit w4-6'].mean():.3f}; higher for {exp_up} of {len(df)} seeds")
    print(f"ceiling (the listener's own best picks): {df['ceiling w1-2'].mean():.3f} -> {df['ceiling w4-6'].mean():.3f}")
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
