"""The report's plots, drawn with the SVG kit (`cli/svgplot.py`) from the data `collect_report` gathers.

Each plot takes that data and returns (svg, None), or (None, the sentence the page shows instead); `PLOTS` maps the
report's figure ids to them (`cli/report.py` owns each figure's title and caption, and the page around them).
"""

from __future__ import annotations

import math
import textwrap
from typing import Callable

from spotify_modeling.cli.status import CONTROL_LABELS_NEEDED, SLICES, short_date
from spotify_modeling.cli.svgplot import GRID, INK, MUTED, Plot, esc, is_narrow, nice_ticks, num

#: colours (colour-blind-safe where they must be told apart)
SLICE_COLOURS = {"exploit": "#1f6fb2", "explore": "#e08a00", "control": "#6b7280"}
LABEL_COLOURS = {"likes": "#2e9e5b", "dislikes": "#d1495b", "expired": "#9ca3af"}
MODEL_COLOURS = {"affinity": "#1f6fb2", "playlist": "#5aa469", "likeability": "#9b6fc2", "label": "#e08a00"}
GROUP_COLOURS = {"search": "#1f6fb2", "tracks": "#5aa469", "artists": "#9b6fc2", "playlists": "#e08a00",
                 "me": "#9ca3af", "albums": "#17a2b8", "audio_features": "#8c564b", "token": "#bcbd22",
                 "other": "#d1495b"}
FAMILY_COLOURS = {"rock": "#4e79a7", "pop": "#f28e2b", "hip_hop": "#e15759", "electronic_dance": "#76b7b2",
                  "rnb_soul": "#59a14f", "jazz_blues": "#edc948", "classical": "#b07aa1", "folk_country": "#ff9da7",
                  "latin": "#9c755f", "metal_punk": "#555555", "reggae": "#8cd17d", "world": "#499894",
                  "other": "#c9c9c9"}
FAMILY_NAMES = {"hip_hop": "hip hop", "electronic_dance": "electronic/dance", "rnb_soul": "R&B/soul",
                "jazz_blues": "jazz/blues", "folk_country": "folk/country", "metal_punk": "metal/punk"}


def pct(v, digits: int = 0) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}%"


# ------------------------------------------------------------------------------------------------ the plots
# Each returns (svg, None) or (None, the sentence shown instead).
def plot_hit_rate(data: dict) -> tuple[str | None, str | None]:
    rows = data["rates"]
    batches = data["batches"]
    if not batches:
        return None, "No weekly run has pushed a batch yet: run `spotify-model candidates` and your first batch appears here."
    labelled = {b for (b, s), r in rows.items() if s == "all" and r["labelled"]}
    if not labelled:
        return None, ("No labels yet: in Spotify, drag each track of data_candidates into data_1 (like) or data_0 "
                      "(dislike); the next `candidates` run reads them and this plot starts.")
    p = Plot(height=300)
    p.domain((0.4, len(batches) + 0.6), (0, 1))
    p.y_axis([0, 0.25, 0.5, 0.75, 1.0], lambda v: f"{v:.0%}", "share liked")
    k = p.every(len(batches))
    p.x_axis([(i + 1, f"{b}\n{short_date(data['batch_dates'].get(b))}" if i % k == 0 else "")
              for i, b in enumerate(batches)], "batch (day pushed)")
    base = rows.get(("all", "control"))
    if base and base["labelled"]:
        # the baseline is its 95% interval, a band; a dashed line at its share only once that is narrow enough
        n, enough = base["labelled"], base["labelled"] >= CONTROL_LABELS_NEEDED
        tip = (f"random control: {base['liked']} of {n} liked (95% CI {pct(base['ci_low'])}–{pct(base['ci_high'])})"
               + ("" if enough else f": too few to compare with yet; about {CONTROL_LABELS_NEEDED} needed"))
        p.rect(p.xlo, p.xhi, base["ci_low"], base["ci_high"], MUTED, title=tip, opacity=0.12)
        for edge in (base["ci_low"], base["ci_high"]):   # dotted edges: told apart from the running share's band
            p.line([p.xlo, p.xhi], [edge, edge], MUTED, 1, dash="1 3")
        if enough:
            p.hline(base["hit_rate"], MUTED)
            p.legend.append((f"random baseline {pct(base['hit_rate'])} ({base['liked']} of {n})", MUTED, "dashband"))
        else:
            p.legend.append((f"random control: {n} labelled, {CONTROL_LABELS_NEEDED} needed", MUTED, "band"))
    # the running share liked, over all slices, with its interval
    from spotify_modeling.core.metrics import wilson_interval

    xs, ys, lo, hi = [], [], [], []
    k_sum = n_sum = 0
    for i, b in enumerate(batches):
        r = rows.get((b, "all"))
        if not r or not r["labelled"]:
            continue   # a batch still waiting for labels adds nothing to the running share
        k_sum += r["liked"]
        n_sum += r["labelled"]
        if n_sum:
            _, a, z = wilson_interval(k_sum, n_sum)
            xs.append(i + 1)
            ys.append(k_sum / n_sum)
            lo.append(a)
            hi.append(z)
    p.band(xs, lo, hi, INK, 0.07)
    p.line(xs, ys, INK, 3, title="running share of all candidates liked")
    for x, y, a, z in zip(xs, ys, lo, hi):
        p.dot(x, y, INK, r=3, title=f"after batch {batches[x - 1]}: {y:.0%} of all candidates so far liked "
                                    f"(95% CI {a:.0%}–{z:.0%})")
    p.legend.append(("running share liked", INK, "line"))
    for i, b in enumerate(batches):
        if b not in labelled:
            p.note(p.X(i + 1), p.Y(0.16), "waiting for", MUTED, anchor="middle", size=11)
            p.note(p.X(i + 1), p.Y(0.16) + 13, "your labels", MUTED, anchor="middle", size=11)
    offsets = {"exploit": -0.2, "explore": 0.11, "control": 0.23}   # the running share sits at the centre
    for s in SLICES:
        shown = False
        for i, b in enumerate(batches):
            r = rows.get((b, s))
            if not r or not r["labelled"]:
                continue
            x = i + 1 + offsets[s]
            p.errorbar(x, r["ci_low"], r["ci_high"], SLICE_COLOURS[s], opacity=0.75 if s == "exploit" else 0.45)
            p.dot(x, r["hit_rate"], SLICE_COLOURS[s], title=(
                f"batch {b}, {s}: {r['liked']} of {r['labelled']} liked ({pct(r['hit_rate'])}; "
                f"95% CI {pct(r['ci_low'])}–{pct(r['ci_high'])}); {r['pushed']} pushed"))
            shown = True
        if shown:
            p.legend.append((s, SLICE_COLOURS[s], "dot"))
    p.legend.sort(key=lambda item: item[2] in ("band", "dashband"))   # the baseline last
    return p.svg("hit rate per batch by slice"), None


def plot_labels(data: dict) -> tuple[str | None, str | None]:
    runs = [r for r in data["runs"] if r["summary"].get("labels")]
    totals = []
    expired = 0
    for r in runs:
        s = r["summary"]
        expired += int(s.get("expired") or 0)
        totals.append((r, int(s["labels"].get("total_likes") or 0), int(s["labels"].get("total_dislikes") or 0),
                       expired))
    if not totals or not any(t[1] or t[2] or t[3] for t in totals):
        return None, ("No labels yet: the totals of your likes, dislikes and expired candidates appear here once a "
                      "`candidates` run has read data_1 and data_0.")
    p = Plot(height=260, right=84)
    top = max(max(t[1], t[2], t[3]) for t in totals)
    ticks = nice_ticks(0, top * 1.08, 5)
    p.domain((0.6, len(totals) + 0.4), (0, ticks[-1]))
    p.y_axis(ticks, lambda v: f"{v:g}", "labels")
    k = p.every(len(totals))
    p.x_axis([(i + 1, f"run {t[0]['run_id']}\n{short_date(t[0]['started_at'])}" if i % k == 0 else "")
              for i, t in enumerate(totals)])
    xs = list(range(1, len(totals) + 1))
    ends = []
    for idx, name in ((2, "dislikes"), (3, "expired"), (1, "likes")):   # likes drawn last: on top
        ys = [t[idx] for t in totals]
        p.line(xs, ys, LABEL_COLOURS[name], 2.5)
        for x, y, t in zip(xs, ys, totals):
            p.dot(x, y, LABEL_COLOURS[name], r=3.5, title=f"run {t[0]['run_id']}: {y} {name}")
        ends.append((p.Y(ys[-1]) + 4, f"{ys[-1]} {name}", LABEL_COLOURS[name]))
    placed: list[float] = []
    for y, text, colour in sorted(ends):          # top to bottom, at least 13 px apart
        y = max([y] + [q + 13 for q in placed])
        placed.append(y)
        p.note(p.X(xs[-1]) + 8, y, text, colour)
    for name in ("likes", "dislikes", "expired"):
        p.legend.append((name, LABEL_COLOURS[name], "line"))
    return p.svg("cumulative labels"), None


def _runs_axis(p: Plot, runs: list[dict]) -> None:
    """The x axis of a plot with one position per run: "run N" and its date, on every k-th so labels do not touch."""
    k = p.every(len(runs))
    p.x_axis([(i + 1, f"run {r['run_id']}\n{short_date(r['started_at'])}" if i % k == 0 else "")
              for i, r in enumerate(runs)])


def plot_auc(data: dict) -> tuple[str | None, str | None]:
    runs = data["runs"]
    fitted = [r for r in runs if (r["summary"].get("stage2") or {}).get("fitted")]
    if not fitted:
        s2 = (runs[-1]["summary"].get("stage2") or {}) if runs else {}
        have = f" (the last run had {s2.get('likes', 0)} and {s2.get('dislikes', 0)})" if s2 else ""
        need = data["min_labels"]
        return None, (f"Stage 2 is not fitted yet: it needs {need} likes and {need} dislikes with audio features"
                      f"{have}; until then the ranking rests on stage 1 alone.")
    p = Plot(height=270)
    p.domain((0.4, len(runs) + 0.6), (0, 1))
    p.y_axis([0, 0.25, 0.5, 0.75, 1.0], lambda v: f"{v:.2f}", "ROC AUC")
    _runs_axis(p, runs)
    p.hline(0.5, "#9ca3af", label="chance")
    series = (("cv", "cross-validated (by artist)", SLICE_COLOURS["exploit"], -0.18),
              ("forward", "stage 2, forward-chained", SLICE_COLOURS["explore"], 0.0),
              ("prior", "prior composite, same labels", MUTED, 0.18))
    fields = {"cv": ("cv_auc", "cv_low", "cv_high"), "forward": ("forward_auc", "forward_low", "forward_high"),
              "prior": ("prior_forward_auc", "prior_forward_low", "prior_forward_high")}
    for key, name, colour, off in series:
        value, low, high = fields[key]
        shown = False
        for i, r in enumerate(runs):
            s2 = r["summary"].get("stage2") or {}
            v = s2.get(value)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            lo, hi = s2.get(low), s2.get(high)
            if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
                p.errorbar(i + 1 + off, lo, hi, colour)
            extra = f" on {s2.get('forward_n')} labels" if key != "cv" else ""
            p.dot(i + 1 + off, v, colour, title=f"run {r['run_id']}: {name} {v:.2f}{extra} "
                                                f"({s2.get('likes')} likes, {s2.get('dislikes')} dislikes)")
            shown = True
        if shown:
            p.legend.append((name, colour, "dot"))
    return p.svg("stage-2 AUC per run"), None


def plot_sources(data: dict) -> tuple[str | None, str | None]:
    by = data["status"]["hit_rate"].get("by_source") or []
    if not by:
        return None, "No labelled candidate yet: the hit rate of each source shows once you label some."
    left = 150 if is_narrow() else 230
    chars = int((left - 14) / (0.6 * 12))
    p = Plot(height=28 + 46 * len(by) + 40, left=left, right=24, top=20, bottom=40)
    p.domain((0, 1), (0, len(by)))
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x = p.X(t)
        p.parts.append(f'<line x1="{num(x)}" x2="{num(x)}" y1="{num(p.top)}" y2="{num(p.top + p.ph)}" '
                       f'stroke="{GRID}" stroke-width="1"/>')
    p.x_axis([(t, f"{t:.0%}") for t in (0, 0.25, 0.5, 0.75, 1.0)], "share liked")
    for i, x in enumerate(by):
        y = len(by) - i - 0.5
        colour = SLICE_COLOURS["control"] if x["source"] == "search" else SLICE_COLOURS["exploit"]
        p.herrorbar(y, x["low"], x["high"], colour)
        p.dot(x["hit_rate"], y, colour, title=f"{x['name']}: {x['hit_rate']:.0%} liked ({x['liked']} of "
                                              f"{x['labelled']}; 95% CI {x['low']:.0%}-{x['high']:.0%})")
        lines = textwrap.wrap(x["name"], chars)[:2]
        top = p.Y(y) + 4 - 7 * len(lines)
        for j, line in enumerate(lines):
            p.note(left - 10, top + 14 * j, line, INK, anchor="end", size=12)
        p.note(left - 10, top + 14 * len(lines), f"{x['liked']} of {x['labelled']} liked", MUTED, anchor="end",
               size=10.5)
    return p.svg("hit rate by pool source"), None


def plot_weights(data: dict) -> tuple[str | None, str | None]:
    runs = [r for r in data["runs"] if r["summary"].get("weights")]
    if not runs:
        return None, "No weekly run has scored a pool yet: the composite's weights appear here after the first one."
    p = Plot(height=240)
    p.domain((0.4, len(runs) + 0.6), (0, 1))
    p.y_axis([0, 0.25, 0.5, 0.75, 1.0], lambda v: f"{v:g}", "weight")
    _runs_axis(p, runs)
    names = [n for n in MODEL_COLOURS if any(n in r["summary"]["weights"] for r in runs)]
    names += sorted({n for r in runs for n in r["summary"]["weights"]} - set(names))
    width = min(0.7, 56 / (p.X(1) - p.X(0)))
    for i, r in enumerate(runs):
        w = r["summary"]["weights"]
        total = sum(max(0.0, float(v)) for v in w.values()) or 1.0
        y = 0.0
        for n in names:
            v = max(0.0, float(w.get(n, 0.0))) / total
            if v <= 0:
                continue
            p.rect(i + 1 - width / 2, i + 1 + width / 2, y, y + v, MODEL_COLOURS.get(n, "#9ca3af"),
                   title=f"run {r['run_id']}: {n} {v:.2f}")
            y += v
    for n in names:
        p.legend.append(("stage 2 (label)" if n == "label" else n, MODEL_COLOURS.get(n, "#9ca3af"), "box"))
    return p.svg("composite weights per run"), None


def correction_label(name: str) -> str:
    if name.startswith("fam_"):
        return FAMILY_NAMES.get(name[4:], name[4:].replace("_", " "))
    if name == "newness":
        return "newer releases"
    return name.split(":", 1)[-1].replace("audio_", "").replace("_", " ")


def plot_corrections(data: dict, top: int = 10) -> tuple[str | None, str | None]:
    run = next((r for r in reversed(data["runs"]) if r["summary"].get("corrections")), None)
    if run is None:
        return None, ("No correction yet: the ranking follows your history alone until you have labelled about ten "
                      "candidates, likes and dislikes both.")
    items = sorted(run["summary"]["corrections"].items(), key=lambda kv: -abs(kv[1]))[:top]
    rows = len(items)
    reach = max(abs(v) for _, v in items) or 1.0
    narrow = is_narrow()
    p = Plot(height=40 + 24 * rows, left=130 if narrow else 170, right=44 if narrow else 60, top=30, bottom=24)
    reach /= max(0.5, 1 - 84 / p.pw)          # room for a value ("-1.44") at the end of the longest bar
    p.domain((-reach, reach), (0, rows))
    p.vline(0, MUTED, dash="2 3")
    p.note(8, 18, f"run {run['run_id']} ({short_date(run['started_at'])})", MUTED, size=12)
    for i, (name, v) in enumerate(items):
        y1, y0 = rows - i - 0.2, rows - i - 0.8
        colour = LABEL_COLOURS["likes"] if v > 0 else LABEL_COLOURS["dislikes"]
        p.rect(min(0.0, v), max(0.0, v), y0, y1, colour, title=f"{correction_label(name)}: {v:+.2f}")
        label = correction_label(name)
        room = 17 if narrow else 26
        p.note(p.left - 6, p.Y((y0 + y1) / 2) + 4, label if len(label) <= room else label[:room - 1] + "…", INK,
               anchor="end", size=11.5)
        p.note(p.X(v) + (4 if v > 0 else -4), p.Y((y0 + y1) / 2) + 4, f"{v:+.2f}", MUTED,
               anchor="start" if v > 0 else "end", size=11)
    return p.svg("what your labels changed in the ranking"), None


def plot_importance(data: dict) -> tuple[str | None, str | None]:
    models = data["importances"]
    if not models:
        why = data.get("importance_note") or "no model is saved yet (`spotify-model features` trains stage 1)"
        return None, f"No feature importances to show: {why}."
    panels = []
    for name, items in models.items():
        rows = len(items)
        p = Plot(width=370, height=38 + 24 * rows, left=128, right=44, top=30, bottom=8)
        top = max(v for _, v in items) or 1.0
        p.domain((0, top * 1.02), (0, rows))
        p.note(8, 18, f"{name}", INK, size=13)
        for i, (feature, share) in enumerate(items):
            y1, y0 = rows - i - 0.18, rows - i - 0.82
            p.rect(0, share, y0, y1, MODEL_COLOURS.get(name, "#6b7280"), title=f"{feature}: {share:.0%} of the gain")
            label = feature if len(feature) <= 20 else feature[:19] + "…"
            p.note(p.left - 6, p.Y((y0 + y1) / 2) + 4, label, INK, anchor="end", size=11.5)
            p.note(p.X(share) + 4, p.Y((y0 + y1) / 2) + 4, f"{share:.0%}", MUTED, size=11)
        panels.append(p.svg(f"feature importances of the {name} model"))
    return '<div class="panels">' + "".join(f"<div>{s}</div>" for s in panels) + "</div>", None


def plot_genres(data: dict) -> tuple[str | None, str | None]:
    groups = data["families"]
    if not any(g["known"] for g in groups.values()):
        return None, ("No genres known yet: `spotify-model features` fetches your artists' genres "
                      "(or pass --genres-source musicbrainz).")
    order = sorted({f for g in groups.values() for f in g["shares"]},
                   key=lambda f: (-groups["history"]["shares"].get(f, 0.0), f == "other", f))
    if "other" in order:
        order = [f for f in order if f != "other"] + ["other"]
    rows = list(groups)
    narrow = is_narrow()
    per_row = 2 if narrow else 5
    p = Plot(height=52 + 40 * len(rows) + 22 * math.ceil(len(order) / per_row), left=140 if narrow else 150,
             right=20, top=16, bottom=8)
    p.ph = 40 * len(rows)
    p.domain((0, 1), (0, len(rows)))
    for i, name in enumerate(rows):
        g = groups[name]
        y1, y0 = len(rows) - i - 0.15, len(rows) - i - 0.85
        mid = p.Y((y0 + y1) / 2) + 4
        p.note(p.left - 8, mid - 6, name, INK, anchor="end", size=12.5)
        p.note(p.left - 8, mid + 8, f"{g['known']:,} of {g['tracks']:,} tracks", MUTED, anchor="end", size=10.5)
        if not g["known"]:
            p.note(p.left + 6, mid, "no genres known yet", MUTED)
            continue
        x = 0.0
        for f in order:
            v = g["shares"].get(f, 0.0)
            if v <= 0:
                continue
            p.rect(x, x + v, y0, y1, FAMILY_COLOURS.get(f, "#c9c9c9"),
                   title=f"{name}: {FAMILY_NAMES.get(f, f)} {v:.0%}")
            if v >= (0.12 if narrow else 0.07):
                p.note(p.X(x + v / 2), mid, f"{v:.0%}", "#ffffff" if f not in ("other", "jazz_blues", "reggae",
                                                                               "folk_country") else INK,
                       anchor="middle", size=11)
            x += v
    # legend under the bars, five families a row
    y = p.top + p.ph + 26
    for j, f in enumerate(order):
        col, row = j % per_row, j // per_row
        x = 40 + col * ((p.w - 40 - p.right) / per_row)
        yy = y + 22 * row
        p.parts.append(f'<rect x="{num(x)}" y="{num(yy - 10)}" width="12" height="12" rx="2" '
                       f'fill="{FAMILY_COLOURS.get(f, "#c9c9c9")}"/>')
        p.note(x + 17, yy, FAMILY_NAMES.get(f, f), INK, size=11.5)
    p.h = int(y + 22 * math.ceil(len(order) / per_row))
    return p.svg("genre family mix"), None


def plot_pool(data: dict) -> tuple[str | None, str | None]:
    run = data["pool_run"]
    if run is None:
        return None, ("No pool distribution recorded yet: each `candidates` run records its pool's scores, and the "
                      "latest one is drawn here.")
    dist = run["summary"]["pool_scores"]
    edges, counts = dist["edges"], dist["counts"]
    pushed = [x for x in run["summary"].get("pushed") or [] if x.get("score") is not None]
    p = Plot(height=320, bottom=92)
    lo = min([edges[0]] + [x["score"] for x in pushed])
    hi = max([edges[-1]] + [x["score"] for x in pushed])
    ticks_y = nice_ticks(0, max(counts) * 1.1 or 1, 4)
    p.domain((lo - 0.02 * (hi - lo), hi + 0.02 * (hi - lo)), (0, ticks_y[-1]))
    p.y_axis(ticks_y, lambda v: f"{v:g}", "pool tracks")
    ticks_x = [t for t in nice_ticks(lo, hi, 4 if is_narrow() else 8) if p.xlo <= t <= p.xhi]
    p.x_axis([(t, f"{t:g}") for t in ticks_x])
    p.note(p.left + p.pw, p.h - 6, "composite score (higher = more your taste)" if is_narrow() else
           "composite score (higher = more likely your taste)", MUTED, anchor="end")
    for a, b, c in zip(edges[:-1], edges[1:], counts):
        if c:
            p.rect(a, b, 0, c, "#93b4d6", title=f"{c} tracks scored {a:.2f} to {b:.2f}")
    if dist.get("cut") is not None:
        p.vline(dist["cut"], SLICE_COLOURS["exploit"], label=f"cut {dist['cut']:.2f}")
    # one strip of ticks per slice under the axis: where each pushed track sat in the pool
    strip = p.top + p.ph + 34
    for j, s in enumerate(SLICES):
        xs = [x["score"] for x in pushed if x.get("slice") == s]
        y = strip + 14 * j
        p.note(p.left - 8, y + 4, s, SLICE_COLOURS[s], anchor="end", size=11)
        p.parts.append(f'<line x1="{num(p.left)}" x2="{num(p.left + p.pw)}" y1="{num(y)}" y2="{num(y)}" '
                       f'stroke="{GRID}"/>')
        for v in xs:
            px = p.X(v)
            p.parts.append(f'<line x1="{num(px)}" x2="{num(px)}" y1="{num(y - 5)}" y2="{num(y + 5)}" '
                           f'stroke="{SLICE_COLOURS[s]}" stroke-width="2"><title>{esc(s)} pick, score {v:.2f}'
                           '</title></line>')
        if xs:
            p.legend.append((f"{s} ({len(xs)})", SLICE_COLOURS[s], "line"))
    p.legend.append((f"pool of run {run['run_id']}: {dist.get('n', sum(counts)):,} tracks", "#93b4d6", "box"))
    return p.svg("pool composite score distribution"), None


def plot_calls(data: dict) -> tuple[str | None, str | None]:
    from spotify_modeling.sources.endpoints import OTHER_SERVICES, spotify_calls   # lazy: sources loads spotipy

    runs = [r for r in data["runs"] if r["summary"].get("calls_by_group") is not None]
    if not runs:
        return None, "No weekly run yet: the Spotify calls each run spends appear here after the first one."
    groups = sorted({g for r in runs for g in r["summary"]["calls_by_group"] if g not in OTHER_SERVICES},
                    key=lambda g: (list(GROUP_COLOURS).index(g) if g in GROUP_COLOURS else 99, g))
    totals = [spotify_calls(r["summary"]["calls_by_group"]) for r in runs]
    budget = data["budget"]
    ticks = nice_ticks(0, max(totals + [budget["calls"]]) * 1.1, 5)
    p = Plot(height=270)
    p.domain((0.4, len(runs) + 0.6), (0, ticks[-1]))
    p.y_axis(ticks, lambda v: f"{v:g}", "Spotify calls")
    _runs_axis(p, runs)
    width = min(0.7, 56 / (p.X(1) - p.X(0)))
    for i, r in enumerate(runs):
        y = 0.0
        for g in groups:
            v = r["summary"]["calls_by_group"].get(g, 0)
            if v:
                p.rect(i + 1 - width / 2, i + 1 + width / 2, y, y + v, GROUP_COLOURS.get(g, "#9ca3af"),
                       title=f"run {r['run_id']}: {v} {g} calls")
                y += v
        if p.X(2) - p.X(1) >= 26:
            p.note(p.X(i + 1), p.Y(y) - 5, f"{totals[i]}", MUTED, anchor="middle", size=11)
    p.hline(budget["calls"], "#d1495b", label=f"plan {budget['calls']} calls a run")
    for g in groups:
        p.legend.append((g, GROUP_COLOURS.get(g, "#9ca3af"), "box"))
    return p.svg("Spotify calls per run"), None


PLOTS: dict[str, Callable[[dict], tuple[str | None, str | None]]] = {
    "fig-hit-rate": plot_hit_rate, "fig-labels": plot_labels, "fig-auc": plot_auc, "fig-sources": plot_sources,
    "fig-weights": plot_weights,
    "fig-corrections": plot_corrections, "fig-importance": plot_importance, "fig-genres": plot_genres, "fig-pool": plot_pool, "fig-calls": plot_calls,
}
