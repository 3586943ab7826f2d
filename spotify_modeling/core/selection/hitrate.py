"""Hit rates per batch and slice, with Wilson intervals: the number the user cares about."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spotify_modeling.core.metrics import wilson_interval


def hit_rates(labelled_df: pd.DataFrame, batch_col: str = "batch", slice_col: str = "slice",
              label_col: str = "label") -> pd.DataFrame:
    """One row per (batch, slice), plus slice ``"all"`` per batch and batch ``"all"`` overall.

    ``labelled_df`` has one row per pushed track: ``batch`` (run id or week), ``slice``, and
    ``label`` (1 liked, 0 disliked, NaN/None not labelled yet). Columns: ``pushed``,
    ``labelled``, ``liked``, ``hit_rate`` (liked / labelled, NaN if none), ``ci_low``, ``ci_high`` (Wilson 95%, from
    :func:`spotify_modeling.core.metrics.wilson_interval`; [0, 1] when nothing is labelled)
    ``lift`` (exploit hit rate / control hit rate of the same batch; set on the exploit
    row only, NaN when the control has no labelled or no liked track) and ``lift_points`` (exploit hit rate minus
    control hit rate, on the exploit row; defined as soon as both have a label, so it also speaks while the
    control has no like yet, which with 1-2 control tracks a week is most weeks).
    """
    df = labelled_df[[batch_col, slice_col, label_col]].copy()
    df[label_col] = pd.to_numeric(df[label_col], errors="coerce")
    df[batch_col] = df[batch_col].astype(object)
    whole = df.assign(**{batch_col: "all"})
    both = pd.concat([df, whole], ignore_index=True)
    both = pd.concat([both, both.assign(**{slice_col: "all"})], ignore_index=True)
    rows = []
    for (batch, slice_), g in both.groupby([batch_col, slice_col], sort=False):
        labels = g[label_col].dropna()
        n, k = len(labels), int((labels == 1).sum())
        _, lo, hi = wilson_interval(k, n)  # n == 0 gives the uninformative [0, 1]
        rows.append({batch_col: batch, slice_col: slice_, "pushed": len(g), "labelled": n,
                     "liked": k, "hit_rate": k / n if n else np.nan, "ci_low": lo, "ci_high": hi})
    out = pd.DataFrame(rows)
    out["lift"] = np.nan
    out["lift_points"] = np.nan
    for batch, g in out.groupby(batch_col, sort=False):
        rate = dict(zip(g[slice_col], g["hit_rate"]))
        control = rate.get("control", np.nan)
        exploit_rows = g.index[g[slice_col] == "exploit"]
        if len(exploit_rows) and not np.isnan(control):
            out.loc[exploit_rows, "lift_points"] = rate["exploit"] - control
            if control:
                out.loc[exploit_rows, "lift"] = rate["exploit"] / control
    return out.reset_index(drop=True)


def hit_rate_trend(rates) -> dict | None:
    """Is the share you like rising? The earlier half of your labelled batches against the later half.

    ``rates`` is :func:`hit_rates`' output (a DataFrame or its records). Returns None with fewer than two labelled
    batches, else ``{"earlier": part, "later": part, "change_points": later - earlier hit rate, "overlap": whether
    the two Wilson 95% intervals overlap}``; each part has ``batches`` (first, last), ``labelled``, ``liked``,
    ``hit_rate``, ``ci_low``, ``ci_high``. With an odd count the later half holds the extra batch.
    """
    df = pd.DataFrame(rates)
    if df.empty:
        return None
    per = df[(df["slice"] == "all") & (df["batch"] != "all") & (df["labelled"] > 0)]
    if len(per) < 2:
        return None
    per = per.assign(_order=pd.to_numeric(per["batch"], errors="coerce")).sort_values("_order", kind="stable")
    cut = len(per) // 2
    out: dict = {}
    for name, part in (("earlier", per.iloc[:cut]), ("later", per.iloc[cut:])):
        n, k = int(part["labelled"].sum()), int(part["liked"].sum())
        _, lo, hi = wilson_interval(k, n)
        out[name] = {"batches": (part["batch"].iloc[0], part["batch"].iloc[-1]), "labelled": n, "liked": k,
                     "hit_rate": k / n, "ci_low": lo, "ci_high": hi}
    out["change_points"] = out["later"]["hit_rate"] - out["earlier"]["hit_rate"]
    out["overlap"] = out["later"]["ci_low"] <= out["earlier"]["ci_high"] and \
        out["earlier"]["ci_low"] <= out["later"]["ci_high"]
    return out
