"""Commands of the modelling and weekly loop: registered on the `spotify-model` app."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from spotify_modeling.cli.app import app, console, require_writable, say_waiting
from spotify_modeling.errors import BadInput, QuotaExhausted
from spotify_modeling.home import Home


def _num(v, fmt="{:.3f}") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def print_train_report(report) -> None:
    from spotify_modeling.core.provenance import guard_sentence   # scikit-learn: not at start-up

    console.print(f"[bold]Stage 1[/bold] on {report.tracks_with_features:,} of {report.tracks_played:,} played tracks "
                  f"with audio features ({100 * report.plays_covered:.0f}% of plays), most-played first.")
    t = Table("model", "metric (artist-grouped CV)", "95% interval", "base rate", "rows", box=None)
    unreliable = []
    for name in report.trained:
        m = report.metrics.get(name) or {}
        guard = (getattr(report, "guards", None) or {}).get(name) or {}
        if guard and not guard.get("ok", True):
            unreliable.append((name, guard))
            t.add_row(name, "[red]unreliable[/red]: learns where metadata came from", "", _num(m.get("base_rate")),
                      str(m.get("n_rows", "")))
            continue
        t.add_row(name, f"{m.get('metric', '')} {_num(m.get('value'))}",
                  f"{_num(m.get('ci_low'))}–{_num(m.get('ci_high'))}", _num(m.get("base_rate")),
                  str(m.get("n_rows", "")))
    for name, why in report.skipped.items():
        t.add_row(name, f"[yellow]skipped[/yellow]: {why}", "", "", "")
    console.print(t)
    for name, guard in unreliable:
        console.print(f"[red]warning:[/red] {name}: {guard_sentence(guard, name)}", highlight=False, soft_wrap=True)


@app.command()
def train(
    home: Optional[Path] = typer.Option(None, "--home", help="Home directory (default: $SPOTIFY_MODEL_HOME or .)."),
) -> None:
    """Fit the stage-1 models (playlist, likeability, affinity) on your history and show honest CV metrics."""
    from spotify_modeling.db.store import Store
    from spotify_modeling.pipeline.train import train_stage1

    h = Home.from_env(home)
    if not h.db_path.exists():
        raise BadInput(f"No store at {h.db_path}.", "Run `spotify-model features EXPORT` first.")
    require_writable(h.data, h.db_path, h.models, h.training_features)
    with h.lock(on_wait=say_waiting), Store.open(h) as store:   # not beside a `features` or `candidates` run
        report = train_stage1(store, h)
    if not report.trained:   # too few tracks with audio features: it returned before writing anything
        raise _nothing_to_train(report)
    print_train_report(report)


def _nothing_to_train(report):
    """The one line (exit 2) for a store with too few tracks with audio features to fit anything yet."""
    from spotify_modeling.pipeline.train import MIN_TRACKS_WITH_FEATURES

    n, played = report.tracks_with_features, report.tracks_played
    if not played:
        have = "the store holds no plays"
    elif not n:
        have = f"none of your {played:,} played tracks has audio features"
    else:
        have = f"only {n:,} of your {played:,} played tracks have audio features"
    return BadInput(f"Nothing to train yet: {have} (stage 1 needs {MIN_TRACKS_WITH_FEATURES}); nothing was changed.",
                    "First run `spotify-model features EXPORT` with your data export, or, if it ran, wait for its "
                    "enrichment (it fetches within Spotify's daily quotas; run `spotify-model features` again "
                    "later), then `spotify-model train`.")


def _versus_control(h: dict) -> str:
    """Exploit minus control hit rate in points, and the ratio when the control has a like ("+17 pts (1.9x)")."""
    points = h.get("lift_points")
    if points is None or points != points:   # None or NaN: no control label yet (or not an exploit row)
        return ""
    ratio = h.get("lift")
    return f"{100 * points:+.0f} pts" + (f" ({ratio:.1f}x)" if ratio is not None and ratio == ratio else "")


def _trend_line(rates) -> str | None:
    """"trend: batches 1-2 25% liked (4 of 16), batches 3-4 38% (9 of 24): +13 points (...)", or None."""
    from spotify_modeling.core.selection import hit_rate_trend

    trend = hit_rate_trend(rates)
    if trend is None:
        return None

    def part(p: dict, first: bool) -> str:
        a, b = p["batches"]
        span = f"batch {a}" if a == b else f"batches {a}-{b}"
        return (f"{span} {p['hit_rate']:.0%}{' liked' if first else ''} ({p['liked']} of {p['labelled']}; "
                f"95% CI {p['ci_low']:.0%}-{p['ci_high']:.0%})")

    verdict = ("the intervals overlap, so not yet a clear change" if trend["overlap"]
               else "a clear rise" if trend["change_points"] > 0 else "a clear fall")
    return (f"trend: {part(trend['earlier'], True)}, {part(trend['later'], False)}: "
            f"{100 * trend['change_points']:+.0f} points ({verdict})")


def corrections_line(corrections: dict, top: int = 5) -> str | None:
    """"what your labels changed: more jazz & blues (+0.66), less folk & country (-0.39), newer releases (+1.01)"."""
    if not corrections:
        return None
    words = []
    for name, v in sorted(corrections.items(), key=lambda kv: -abs(kv[1]))[:top]:
        if abs(v) < 0.05:
            continue
        if name.startswith("fam_"):
            what = name[4:].replace("_", " & ").replace("hip & hop", "hip hop").replace("electronic & dance",
                                                                                      "electronic / dance")
        elif name == "newness":
            what, v = ("newer releases", v) if v > 0 else ("older releases", -v)
            words.append(f"{what} (+{v:.2f})")
            continue
        elif name == "artist_plays":
            what = "artists you play a lot"
        else:
            what = name.split(":", 1)[-1].replace("audio_", "")
        words.append(f"{'more' if v > 0 else 'less'} {what} ({v:+.2f})")
    return ("what your labels changed in the ranking (log-odds): " + ", ".join(words)) if words else None


def _batches(batches) -> str:
    """[2, 3, 4] -> "2-4"; [5] -> "5"."""
    batches = list(batches or [])
    if not batches:
        return "–"
    return str(batches[0]) if len(batches) == 1 else f"{batches[0]}-{batches[-1]}"


def print_weekly_report(r) -> None:
    from spotify_modeling.core.selection.sources import SOURCE_NAMES
    from spotify_modeling.sources.endpoints import OTHER_SERVICES

    lab = r.labels or {}
    console.print(f"[bold]Weekly run {r.number or r.run_id}[/bold]" + (" (dry run: nothing written to Spotify)" if r.dry_run else ""))
    console.print(f"labels: +{lab.get('new_likes', 0)} likes, +{lab.get('new_dislikes', 0)} dislikes, "
                  f"{lab.get('changed', 0)} moved, {lab.get('removed', 0)} removed "
                  f"(total {lab.get('total_likes', 0)} likes / {lab.get('total_dislikes', 0)} dislikes); "
                  f"housekeeping removed {r.removed_copied} copied and {r.expired} expired candidates"
                  + (f"; {r.vanished} you removed by hand" if r.vanished else ""))
    if lab.get("hearted") or lab.get("removed_by_you"):
        console.print(f"one-tap labels this run: {lab.get('hearted', 0)} hearted (likes), "
                      f"{lab.get('removed_by_you', 0)} removed from data_candidates (weaker dislikes)")
    if (kinds := lab.get("kinds")):
        console.print("your labels by kind: " + ", ".join(f"{k} {kinds.get(k, 0)}" for k in
                                                          ("data_1", "data_0", "heart", "removed")))
    s2 = r.stage2 or {}
    if s2.get("fitted"):
        console.print(f"stage 2: CV AUC {_num(s2.get('cv_auc'))} ({_num(s2.get('cv_low'))}–{_num(s2.get('cv_high'))})"
                      + (f"; forward-chained on {s2.get('forward_n')} labels of batches "
                         f"{_batches(s2.get('forward_batches'))}: stage 2 AUC {_num(s2.get('forward_auc'))} "
                         f"({_num(s2.get('forward_low'))}–{_num(s2.get('forward_high'))}) against the prior "
                         f"composite's {_num(s2.get('prior_forward_auc'))} "
                         f"({_num(s2.get('prior_forward_low'))}–{_num(s2.get('prior_forward_high'))}); "
                         f"stage 2 starts from weight {_num((r.stage2_vs_prior or {}).get('prior_weight'), '{:.2f}')}"
                         if s2.get("forward_auc") is not None else ""))
    else:
        console.print(f"stage 2: {s2.get('reason', 'not fitted')}")
    order = {"exploit": 0, "explore": 1, "control": 2, "all": 3}
    hr = sorted((h for h in r.hit_rates if h.get("labelled")),   # the last row, all batches and slices: the headline
                key=lambda h: (h["batch"] == "all", h["batch"] if h["batch"] != "all" else 0,
                               order.get(h["slice"], 9)))
    if hr:
        t = Table("batch", "slice", "pushed", "labelled", "liked", "hit rate (95% CI)", "vs control", box=None,
                  title="Your hit rate: the share of candidates you liked")
        for h in hr:
            t.add_row(str(h["batch"]), h["slice"], str(h["pushed"]), str(h["labelled"]), str(h["liked"]),
                      f"{_num(h['hit_rate'], '{:.0%}')} ({_num(h['ci_low'], '{:.0%}')}–{_num(h['ci_high'], '{:.0%}')})",
                      _versus_control(h))
        console.print(t)
        if (line := _trend_line(r.hit_rates)) is not None:
            console.print(line)
    if r.sources:
        t = Table("source", "labelled", "liked", "hit rate (95% CI)", box=None,
                  title="Where your candidates came from, and how each source does")
        for x in r.sources:
            t.add_row(x["name"], str(x["labelled"]), str(x["liked"]),
                      f"{x['hit_rate']:.0%} ({x['low']:.0%}–{x['high']:.0%})")
        console.print(t)
    p = r.pool or {}
    if p.get("calls_by_source"):
        console.print("searches this run by source: " + ", ".join(
            f"{SOURCE_NAMES.get(k, k)} {v}" for k, v in sorted(p["calls_by_source"].items(), key=lambda kv: -kv[1]))
            + (f"; ReccoBeats recommendations: {p['reccobeats_added']} new" if p.get("reccobeats_added") else ""))
    genre_part = f", {p['genre_searches']} of them in your genres" if p.get("genre_searches") else ""
    console.print(f"pool: {p.get('size', 0)} eligible tracks ({p.get('added', 0)} new from {p.get('searches', 0)} "
                  f"searches{genre_part}), {p.get('scored', 0)} scored; composite weights: "
                  + (", ".join(f"{k} {v:.2f}" for k, v in r.weights.items()) or "none"))
    if (line := corrections_line(r.corrections)) is not None:
        console.print(line)
    if r.pushed:
        t = Table("#", "artist — title", "score", "slice", "why", box=None)
        for x in r.pushed:
            t.add_row(str(x["rank"]), escape(f"{x['artist']} — {x['title']}"), _num(x["score"], "{:.2f}"), x["slice"],
                      escape(str(x.get("reason") or "").split(";")[0]))
        verb = "would push" if r.dry_run else "pushed"
        console.print(f"{verb} {len(r.pushed)} tracks to data_candidates (batch {r.batch}):")
        console.print(t)
    if r.backlog and r.backlog.get("calls"):
        console.print(f"leftover calls on the features backlog: {r.backlog['calls']}")
    for n in r.notes:
        console.print(f"[yellow]note:[/yellow] {escape(n)}")
    groups = ", ".join(f"{g} {n}" for g, n in sorted(r.calls_by_group.items()) if g not in OTHER_SERVICES)
    other = ", ".join(f"{r.calls_by_group[g]} {name}" for g, name in OTHER_SERVICES.items() if r.calls_by_group.get(g))
    if other:
        groups += f"; plus {other} calls (no Spotify quota)"
    today = ", ".join(f"{g} {n}" for g, n in sorted(r.calls_today.items()))
    console.print(f"Spotify calls this run: {r.calls_total} ({groups or 'none'}); today so far: {today or 'none'} "
                  "(daily quotas are a few hundred per group)"
                  + (f"; Spotify asked to wait {r.quota_retry_after / 3600:.1f} h" if r.quota_retry_after else ""))


@app.command()
def candidates(
    home: Optional[Path] = typer.Option(None, "--home", help="Home directory (default: $SPOTIFY_MODEL_HOME or .)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Score and print the batch; write nothing to Spotify."),
    max_calls: Optional[int] = typer.Option(None, "--max-calls", min=1, help="At most this many Spotify calls."),
    source: Optional[str] = typer.Option(None, "--source", help="Pool sources: 'search' or 'search,reccobeats'."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Random seed (reproducible sampling)."),
) -> None:
    """The weekly run: read your labels, fit stage 2, sample the catalog, push the best to data_candidates."""
    from spotify_modeling.pipeline.weekly_run import run_candidates

    h = Home.from_env(home)
    if h.db_path.exists():  # else run_candidates says there is no store yet
        require_writable(h.data, h.db_path)
    report = run_candidates(h, dry_run=dry_run, max_calls=max_calls, source=source, seed=seed,
                            progress=lambda m: console.print(f"[dim]{m}…[/dim]"))
    print_weekly_report(report)
    from spotify_modeling.cli.report import report_after_run   # not at the top: `--help` would list report first

    # every weekly run ends with the report

    report_after_run(h)
    if not report.pushed_ok and not report.dry_run and report.quota_stopped:
        raise QuotaExhausted("Spotify's quota stopped the run before anything could be pushed.",
                             "Everything fetched is kept; run again later.")

