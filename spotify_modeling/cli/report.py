"""`spotify-model report`: one self-contained HTML page that shows, week after week, how well the loop works for you.

The page is written to `data/report/report.html` (whole or not at all, readable by you alone) and needs nothing but a
browser to view: every plot is inline SVG, with no script, no stylesheet or font from elsewhere, and no network at
all when it is built or viewed. Each plot is drawn twice, for wide screens and for phones (`drawn_at`), and a CSS
media query shows the one that fits, so that plot text stays legible at 400 px. `candidates` and `demo` end by
writing it (`report_after_run`).

This module is the page: what each figure shows (`FIGURES`), the data it is drawn from (`collect_report`, over the
store's read-only queries in `db/reporting.py`) and the HTML around the plots. The plots themselves are in
`cli/report_plots.py`, drawn with the small SVG kit of `cli/svgplot.py`.

Why hand-drawn SVG and not matplotlib: the plots are points with intervals, lines, bars and one histogram, which a
few hundred lines draw as crisply as matplotlib does (vector, sharp at any zoom, text selectable, hover titles on
every point) in a few milliseconds instead of matplotlib's second of import and rendering, and without adding a
~40 MB dependency (matplotlib, Pillow, fonttools, kiwisolver, ...) to a tool that runs weekly from cron.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from spotify_modeling import __version__
from spotify_modeling.atomic import atomic_path
from spotify_modeling.cli.app import _log_bug, app, console, err_console, require_writable
from spotify_modeling.cli.report_plots import PLOTS, pct
from spotify_modeling.cli.status import (CONTROL_LABELS_NEEDED, collect_status, control_baseline, hit_rate_table,
                                         open_store, setup_steps, short_date, trend_sentence)
from spotify_modeling.cli.svgplot import FONT, NARROW, NARROW_SCREEN, WIDE, drawn_at, esc
from spotify_modeling.errors import BadInput, UserError
from spotify_modeling.home import Home

REPORT_NAME = "report.html"

# ------------------------------------------------------------------------------------------------ what is shown
#: figure id -> (title, the one sentence under it: what it shows and how to read it)
FIGURES: dict[str, tuple[str, str]] = {
    "fig-hit-rate": (
        "Hit rate per batch, by slice",
        "Each dot is the share of a batch's labelled candidates you liked, per slice, with its 95% Wilson interval "
        "as a bar; the dark line is the running share of all candidates you liked so far, and the grey band the 95% "
        "interval of the random baseline (every control track so far), with a dashed line at its share once about "
        f"{CONTROL_LABELS_NEEDED} control tracks are labelled (before that it is too uncertain to be a line to "
        "beat): the further the blue dots and the dark line sit above the band, the better the ranking works for "
        "you."),
    "fig-labels": (
        "Your labels over the runs",
        "The total of likes, dislikes and expired candidates (left unlabelled for weeks) as each weekly run read "
        "them: steady growth of the first two means the loop is learning from you, a growing grey line means "
        "batches go unheard."),
    "fig-auc": (
        "Stage 2: how well your labels are learnt",
        "ROC AUC of the label model per run, cross-validated by artist (blue) and forward-chained (orange: each "
        "labelled batch scored by a model fit on the batches before it), beside the prior composite's forward "
        "AUC on the very same labels (grey), each with its 95% interval: 0.5 (dashed) is chance. Where orange "
        "clears grey, stage 2 earns weight in the ranking."),
    "fig-sources": (
        "Where your candidates come from, and how each source does",
        "The share of the labelled candidates you liked, per source, with its 95% Wilson interval: random catalog "
        "searches (the baseline), your history's genres, the artists and genres of tracks you liked, and ReccoBeats "
        "tracks that sound like your likes. The weekly searches follow these rates: a source that brings likes gets "
        "more of them."),
    "fig-weights": (
        "The composite's weights per run",
        "How much each model counts in the ranking of each run (the bars add up to 1): stage 2 (orange) starts at "
        "nothing and should earn weight as your labels accumulate."),
    "fig-corrections": (
        "What your labels changed",
        "How far your labels moved the ranking away from what your history alone says, in the last run (offsets on "
        "the log-odds of a like): a bar to the right means more of that genre family, fine genre or newness than "
        "your history suggests, to the left less; each stays at 0 until enough of your labels speak to it."),
    "fig-importance": (
        "What each model looks at",
        "The features each saved model leans on most, as a share of its total split gain: a long bar is a feature "
        "the model uses a lot, not one that makes a track good or bad."),
    "fig-genres": (
        "Genre families: your history, likes, dislikes and candidates",
        "The mix of broad genre families in each group of tracks whose artists' genres are known (a track of two "
        "families counts half in each): candidates that look like your likes and your history, not like your "
        "dislikes, are what the ranking aims for."),
    "fig-pool": (
        "The latest pool and where the batch came from",
        "Bars count the pool's tracks by composite score (higher is more likely your taste), the dashed line is the "
        "cut the exploit slice was taken above, and the ticks under the bars mark each pushed track by slice: "
        "exploit at the top, explore among the plausible, control anywhere."),
    "fig-calls": (
        "Spotify calls per run",
        "Calls each weekly run spent, stacked by endpoint group, against the run's plan from your settings "
        "(dashed): bars under the line leave room in Spotify's daily quotas for `features` and a second try."),
}


def _prose(text: str) -> str:
    """A sentence as HTML: escaped, with `command` spans set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))


# ------------------------------------------------------------------------------------------------ the data
def _family_mix(genre_lists: list) -> dict:
    from spotify_modeling.core.featurize import genre_family

    counts: dict[str, float] = {}
    known = 0
    for genres in genre_lists:
        fams: list[str] = []
        for g in genres or []:
            for f in genre_family(g):
                if f not in fams:
                    fams.append(f)
        if fams:
            known += 1
            for f in fams:
                counts[f] = counts.get(f, 0.0) + 1.0 / len(fams)
    return {"tracks": len(genre_lists), "known": known,
            "shares": {f: c / known for f, c in counts.items()} if known else {}}


def _importances(h: Home, top: int = 8) -> tuple[dict, str | None]:
    """Top features of each saved model by share of gain (loads the models: the report may, `status` may not)."""
    from spotify_modeling.pipeline.persist import load_model

    out, notes = {}, []
    for name in ("affinity", "playlist", "likeability", "label"):
        if not (h.models / f"{name}.joblib").exists():
            continue
        try:
            gains = load_model(name, h.models).feature_importances()
        except BadInput as err:
            notes.append(f"{name}: {err}")
            continue
        except Exception as err:   # an unexpected model object: the report still shows the rest
            notes.append(f"{name}: no importances ({type(err).__name__})")
            continue
        total = float(gains.sum())
        if total > 0:
            out[name] = [(str(f), float(v) / total) for f, v in gains.head(top).items() if v > 0]
    return out, ("; ".join(notes) or None)


def collect_report(h: Home, now: datetime | None = None) -> dict:
    """Everything the page shows: the `status` numbers plus every run's summary, the pushes, families, importances."""
    from spotify_modeling.db import reporting

    st = collect_status(h, now)
    with open_store(h) as store:
        runs = reporting.runs(store)
        pushes = reporting.pushes(store)
        families = {name: _family_mix(reporting.track_genres(store, key)) for name, key in
                    (("history", "history"), ("likes", "likes"), ("dislikes", "dislikes"),
                     ("candidates", "candidates"))}
    rates = hit_rate_table(pushes)
    rows = {} if rates is None else {(r["batch"], r["slice"]): r for r in rates.to_dict("records")}
    batches = sorted({p["batch"] for p in pushes})
    batch_dates: dict = {}
    for p in pushes:
        batch_dates.setdefault(p["batch"], p["pushed_at"])
    from spotify_modeling.pipeline.weekly_run import PUSH_RESERVE, WeeklyConfig

    try:
        cfg = WeeklyConfig.from_home(h)
    except BadInput:
        cfg = WeeklyConfig()
    budget = {"calls": cfg.search_calls + cfg.genre_calls + cfg.backlog_calls + PUSH_RESERVE,
              "search": cfg.search_calls, "genres": cfg.genre_calls, "backlog": cfg.backlog_calls,
              "push": PUSH_RESERVE}
    importances, note = _importances(h)
    pool_run = next((r for r in reversed(runs) if (r["summary"].get("pool_scores") or {}).get("counts")), None)
    last_batch = [p for p in pushes if batches and p["batch"] == batches[-1]]
    return {"status": st, "runs": runs, "pushes": pushes, "rates": rows, "batches": batches,
            "batch_dates": batch_dates, "families": families, "importances": importances, "importance_note": note,
            "budget": budget, "pool_run": pool_run, "min_labels": cfg.min_labels_per_class,
            "last_batch": last_batch, "steps": setup_steps(h, st)}


# ------------------------------------------------------------------------------------------------ the page
CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #1f2937; font: 16px/1.5 %(font)s; }
main { max-width: 980px; margin: 0 auto; padding: 28px 20px 48px; }
header h1 { font-size: 30px; line-height: 1.2; margin: 0 0 4px; letter-spacing: -0.01em; }
header p { margin: 0; color: #6b7280; font-size: 14px; }
.card { background: #fff; border-radius: 12px; padding: 20px 24px; margin-top: 18px;
        box-shadow: 0 1px 2px rgba(0,0,0,.06), 0 1px 8px rgba(0,0,0,.04); }
.headline { display: flex; gap: 28px; align-items: center; flex-wrap: wrap; }
.big { font-size: 72px; font-weight: 700; line-height: 1; color: #1f6fb2; letter-spacing: -0.03em; }
.big small { font-size: 28px; color: #6b7280; font-weight: 600; }
.headline .what { flex: 1; min-width: 280px; font-size: 18px; }
.headline .what strong { font-size: 20px; }
.trend { display: inline-block; margin-top: 8px; padding: 3px 10px; border-radius: 999px; font-size: 14px;
         font-weight: 600; }
.trend.rising { background: #dcfce7; color: #166534; }
.trend.falling { background: #fee2e2; color: #991b1b; }
.trend.unclear { background: #e5e7eb; color: #374151; }
.muted { color: #6b7280; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(135px, 1fr)); gap: 12px; margin-top: 18px; }
.tile { background: #fff; border-radius: 10px; padding: 12px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
.tile b { display: block; font-size: 24px; line-height: 1.2; }
.tile span { color: #6b7280; font-size: 13px; }
figure { margin: 0; }
figure h2, .card h2 { font-size: 19px; margin: 0 0 6px; }
figcaption { color: #4b5563; font-size: 14.5px; margin-top: 8px; max-width: 860px; }
.empty { background: #f9fafb; border: 1px dashed #d1d5db; border-radius: 8px; padding: 18px; color: #4b5563;
         margin: 8px 0; }
.panels { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(340px, 100%%), 1fr)); gap: 4px 18px; }
table { border-collapse: collapse; width: 100%%; font-size: 14px; margin-top: 10px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e5e7eb; }
th { color: #6b7280; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
details summary { cursor: pointer; font-weight: 600; font-size: 17px; }
footer { color: #6b7280; font-size: 13px; margin-top: 24px; }
code { font: 0.92em ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
       background: #f3f4f6; padding: 1px 5px; border-radius: 4px; }
.next li { margin: 2px 0; }
.steps { margin: 10px 0 0; padding-left: 24px; font-size: 16px; }
.steps li { margin: 3px 0; }
.steps li.done { color: #6b7280; }
.steps li.next { font-weight: 600; }
.scroll { overflow-x: auto; }
.scroll table { min-width: 560px; }
.plot { overflow-x: auto; }
.plot svg { display: block; }
.plot .wide > svg { min-width: 600px; }
.plot .panels svg { min-width: 300px; }
.plot .narrow { display: none; }
.plot .narrow svg { min-width: 320px; max-width: 520px; margin: 0 auto; }
a { color: #1f6fb2; }
@media (max-width: %(narrow)dpx) {
  main { padding: 16px 8px 32px; }
  header h1 { font-size: 24px; }
  .card { padding: 14px 12px; border-radius: 10px; }
  .headline { gap: 10px 18px; }
  .big { font-size: 56px; }
  .headline .what { min-width: 0; flex-basis: 100%%; font-size: 16px; }
  .tiles { grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 8px; }
  figcaption { font-size: 14px; }
  .plot .wide { display: none; }
  .plot .narrow { display: block; }
}
""" % {"font": FONT, "narrow": NARROW_SCREEN}


def _headline(st: dict, data: dict) -> str:
    hr = st["hit_rate"]
    trend = hr["trend"]
    if not hr["labelled"]:
        # no number yet: what will appear here, and the road to it, the next step marked (`setup_steps`)
        steps = data["steps"]
        first = next((i for i, x in enumerate(steps) if not x["done"]), None)
        items = []
        for i, x in enumerate(steps):
            kind = "done" if x["done"] else "next" if i == first else "todo"
            mark = {"done": "✓ ", "next": "<b>next:</b> ", "todo": ""}[kind]
            items.append(f'<li class="{kind}">{mark}{_prose(x["step"])}</li>')
        return ('<section class="card headline" id="headline"><div class="what"><strong>Your hit rate appears here '
                'after your first labelled batch</strong>: the share of the candidates you label that you like, '
                'beside random control tracks, week after week. The way there:'
                f'<ol class="steps">{"".join(items)}</ol></div></section>')
    vs = control_baseline(hr["by_slice"].get("control"))
    vs = vs[0].upper() + vs[1:] + "."
    if trend is None:
        badge = '<span class="trend unclear">one labelled batch so far: no trend yet</span>'
    else:
        word = {"rising": "▲ rising", "falling": "▼ falling"}.get(trend["direction"],
                                                                 "≈ not yet a clear change")
        badge = (f'<span class="trend {trend["direction"]}">{word}</span> '
                 f'<span class="muted">{esc(trend_sentence(trend, verdict=False))}</span>')
    return (f'<section class="card headline" id="headline"><div class="big">{100 * hr["hit_rate"]:.0f}<small>%</small>'
            f'</div><div class="what"><strong>of the candidates you labelled, you liked</strong><br>'
            f'{hr["liked"]} of {hr["labelled"]} (95% CI {pct(hr["ci_low"])}–{pct(hr["ci_high"])}).<br>{esc(vs)}<br>'
            f'{badge}</div></section>')


def _kinds_note(kinds: dict) -> str:
    """"; 4 by a heart, 3 removed" when labels came the one-tap ways."""
    parts = [f"{kinds[k]} {w}" for k, w in (("heart", "by a heart"), ("removed", "removed")) if kinds.get(k)]
    return ("; " + ", ".join(parts)) if parts else ""


def _tiles(st: dict, data: dict) -> str:
    lab = st["labels"]
    runs = data["runs"]
    last = runs[-1] if runs else None
    s2 = next(((r["summary"].get("stage2") or {}) for r in reversed(runs)
               if (r["summary"].get("stage2") or {}).get("fitted")), {})
    calls = (last["summary"].get("calls_total") if last else None)
    tiles = [
        (f"{len(runs)}", "weekly runs" + (f", the last {short_date(last['started_at'])}" if last else "")),
        (f"{lab['pushed']}", "candidates pushed"),
        (f"{lab['likes']} / {lab['dislikes']}", "likes / dislikes" + _kinds_note(lab.get("by_kind") or {})),
        (f"{lab['pending']}", "waiting for your label" + (f"; {lab['expired']} expired" if lab["expired"] else "")),
        ("–" if not s2 else f"{s2.get('cv_auc', float('nan')):.2f}", "stage-2 CV AUC (0.5 = chance)"),
        ("–" if calls is None else f"{calls}", "Spotify calls, last run"),
    ]
    return '<section class="tiles">' + "".join(f'<div class="tile"><b>{esc(v)}</b><span>{esc(t)}</span></div>'
                                               for v, t in tiles) + "</section>"


def _figure(fig_id: str, data: dict) -> str:
    title, caption = FIGURES[fig_id]
    with drawn_at(WIDE):
        svg, empty = PLOTS[fig_id](data)
    if svg is None:
        body = f'<p class="empty">{_prose(empty)}</p>'
    else:   # one drawing for wide screens, one for phones; the CSS shows one of them
        with drawn_at(NARROW):
            small, _ = PLOTS[fig_id](data)
        body = f'<div class="plot"><div class="wide">{svg}</div><div class="narrow">{small}</div></div>'
    return (f'<section class="card"><figure id="{fig_id}"><h2>{esc(title)}</h2>{body}'
            f'<figcaption>{_prose(caption)}</figcaption></figure></section>')


def _next_and_batch(st: dict, data: dict) -> str:
    nxt = st["next_run"]
    steps = [nxt["first"], *nxt["then"]]
    items = "".join(f"<li>{_prose(s)}</li>" for s in steps)
    out = f'<section class="card next" id="next-run"><h2>What the next weekly run will do</h2><ol>{items}</ol></section>'
    batch = data["last_batch"]
    mark = {1: "liked", 0: "disliked"}
    how = {"heart": " (heart)", "removed": " (removed)"}

    def link(p: dict) -> str:
        title = esc(p["name"] or p["track_id"])
        return f'<a href="https://open.spotify.com/track/{esc(p["track_id"])}">{title}</a>'

    def now(p: dict) -> str:
        return esc(mark.get(p["label"], p["status"]) + how.get(p.get("label_source") or "", ""))

    if batch:
        def row(p: dict) -> str:
            score = "" if p["score"] is None else f"{p['score']:.2f}"
            return (f"<tr><td>{esc(', '.join(p['artist_names']) or '?')} – {link(p)}</td>"
                    f"<td>{esc((p.get('reason') or '').split(';')[0])}</td><td>{esc(p['slice'])}</td>"
                    f"<td class='num'>{score}</td><td>{now(p)}</td></tr>")

        ordered = sorted(batch, key=lambda p: -(p["score"] if p["score"] is not None else -1e9))
        rows = "".join(row(p) for p in ordered)
        out += (f'<section class="card" id="latest-batch"><h2>Batch {batch[0]["batch"]}: the {len(batch)} tracks '
                f'pushed last, best first</h2><div class="scroll"><table><tr><th>track</th><th>why</th>'
                f'<th>slice</th><th>score</th><th>now</th></tr>{rows}</table></div></section>')
    liked = [p for p in data["pushes"] if p["label"] == 1 and (not batch or p["batch"] != batch[0]["batch"])]
    if liked:
        rows = "".join(f"<tr><td>{esc(', '.join(p['artist_names']) or '?')} – {link(p)}</td>"
                       f"<td>{esc((p.get('reason') or '').split(';')[0])}</td><td class='num'>{p['batch']}</td>"
                       f"<td>{now(p)}</td></tr>" for p in sorted(liked, key=lambda p: (-p["batch"], p["rank"])))
        out += (f'<section class="card" id="liked-before"><details><summary>The {len(liked)} candidates you liked '
                f'in earlier batches</summary><div class="scroll"><table><tr><th>track</th><th>why</th>'
                f'<th>batch</th><th>how</th></tr>{rows}</table></div></details></section>')
    return out


def render_html(data: dict) -> str:
    """The whole page as one string: no external reference of any kind."""
    st = data["status"]
    when = st["generated_at"].replace("T", " ").rstrip("Z") + " UTC"
    figures = "".join(_figure(fid, data) for fid in FIGURES)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>spotify-model report, {esc(when[:10])}</title><style>{CSS}</style></head><body><main>"
        f"<header><h1>How well is it working for you?</h1><p>spotify-model report · {esc(when)} · "
        f"{len(data['runs'])} weekly runs, {st['labels']['pushed']} candidates</p></header>"
        + _headline(st, data) + _tiles(st, data) + figures + _next_and_batch(st, data)
        + f"<footer>Written by spotify-model {esc(__version__)} from your store alone; this page fetches nothing "
          "and can be kept or shared as one file.</footer></main></body></html>")


def report_path(h: Home) -> Path:
    return h.data / "report" / REPORT_NAME


def write_report(h: Home, now: datetime | None = None) -> Path:
    """Write `data/report/report.html` (atomically, mode 0600) and return its path. No network, nothing else written."""
    page = render_html(collect_report(h, now))
    path = report_path(h)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def report_after_run(h: Home) -> Path | None:
    """The end of `candidates` and `demo`: write the report and print its path. A failure here is a note, not the
    run's exit code: the weekly run itself is done and recorded."""
    try:
        start = time.perf_counter()
        path = write_report(h)
    except Exception as exc:   # noqa: BLE001 - told in one line, logged in full unless it is the user's to fix
        where = "" if isinstance(exc, UserError) else f"; details logged to {_log_bug(exc)}"
        err_console.print(f"[yellow]note:[/yellow] the report could not be written ({escape(str(exc))}{escape(where)}); "
                          "the run itself is done. Run `spotify-model report` to try again.", highlight=False,
                          soft_wrap=True)
        return None
    console.print(f"report: {escape(str(path))} [dim]({time.perf_counter() - start:.1f} s; "
                  "open it in a browser, or run `spotify-model report --open`)[/dim]", highlight=False, soft_wrap=True)
    return path


@app.command()
def report(
    home: Optional[Path] = typer.Option(None, "--home", help="Home directory (default: $SPOTIFY_MODEL_HOME or .)."),
    open_: bool = typer.Option(False, "--open", help="Open the report in your browser."),
) -> None:
    """Write one self-contained HTML page of plots (data/report/report.html): is the share you like rising?"""
    h = Home.from_env(home)
    open_store(h).close()                      # no store: one line, exit 2, before anything else
    require_writable(report_path(h).parent, report_path(h))
    path = write_report(h)
    console.print(str(path), highlight=False, soft_wrap=True)
    if open_:
        import webbrowser

        if not webbrowser.open(path.as_uri()):
            err_console.print("[yellow]note:[/yellow] no browser could be started here; open the file above by hand.",
                              highlight=False)
