"""`spotify-model status`: one screen on how the loop is doing, or the same as JSON (`--json`) for scripts.

Fast and safe at any time: it only reads the store and the models' JSON cards (never a model itself) and never
touches the network. `collect_status` gathers the numbers (the report's headline uses the same ones); the rest
renders them. The JSON keys are documented in docs/usage.md and kept stable (`STATUS_VERSION` changes if they must).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from spotify_modeling.cli.app import app, console
from spotify_modeling.errors import BadInput
from spotify_modeling.home import Home

#: version of the `status --json` layout: a key is only ever added, unless this number changes
STATUS_VERSION = 1
MODEL_NAMES = ("playlist", "likeability", "affinity", "label")
SLICES = ("exploit", "explore", "control")
#: runs shown (and listed in the JSON)
LAST_RUNS = 10

#: The random control is a baseline to compare with once its 95% Wilson interval is at most `CONTROL_CI_WIDTH` wide
#: (25 points: narrower than the gap it is there to show; in the quality benchmark the ranked candidates beat random
#: ones by 25-30 points) at the rate random catalog tracks are liked (`RANDOM_LIKE_RATE`: 6-8% for the benchmark's
#: listeners). That takes `CONTROL_LABELS_NEEDED` control labels (20); with one or two control tracks a batch, a few
#: months of weekly runs. Until then the control's interval is shown, never its share as a line to beat.
CONTROL_CI_WIDTH = 0.25
RANDOM_LIKE_RATE = 0.07


def _labels_for_width(p: float, width: float, z: float = 1.96) -> int:
    """The fewest labels at which the Wilson interval around a share `p` is at most `width` wide."""
    n = 1
    while 2 * z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n) > width:
        n += 1
    return n


CONTROL_LABELS_NEEDED = _labels_for_width(RANDOM_LIKE_RATE, CONTROL_CI_WIDTH)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def _finite(v):
    """A JSON-safe number: NaN and inf become None."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def open_store(h: Home):
    """The store of `h`, or the one-line refusal (exit 2) when the home has none."""
    from spotify_modeling.db.store import Store

    if not h.db_path.is_file():
        raise BadInput(f"No store at {h.db_path}: nothing has been imported in this home yet.",
                       "Run `spotify-model features EXPORT` first, or pass the right folder with --home.")
    return Store.open(h)


# ------------------------------------------------------------------------------------------------ numbers
def _rate(liked: int, labelled: int, pushed: int | None = None) -> dict:
    from spotify_modeling.core.metrics import wilson_interval

    _, lo, hi = wilson_interval(liked, labelled)
    out = {"liked": liked, "labelled": labelled, "hit_rate": liked / labelled if labelled else None,
           "ci_low": lo if labelled else None, "ci_high": hi if labelled else None}
    if pushed is not None:
        out = {"pushed": pushed, **out}
    return out


def hit_rate_table(pushes: list[dict]):
    """`core.selection.hit_rates` over the pushes, exactly as the weekly summary counts them (expired = no label)."""
    import pandas as pd

    from spotify_modeling.core.selection import hit_rates

    if not pushes:
        return None
    df = pd.DataFrame({"batch": [p["batch"] for p in pushes], "slice": [p["slice"] for p in pushes],
                       "label": [None if p["status"] == "expired" else p["label"] for p in pushes]})
    return hit_rates(df)


def _trend(rates) -> dict | None:
    from spotify_modeling.core.selection import hit_rate_trend

    t = hit_rate_trend(rates)
    if t is None:
        return None

    def part(p: dict) -> dict:
        return {"batches": [int(p["batches"][0]), int(p["batches"][1])], **_rate(p["liked"], p["labelled"])}

    clear = not t["overlap"]
    return {"earlier": part(t["earlier"]), "later": part(t["later"]), "change_points": float(t["change_points"]),
            "clear": clear,
            "direction": "unclear" if not clear else ("rising" if t["change_points"] > 0 else "falling")}


def _model_cards(h: Home) -> dict:
    """What each model's JSON card says (the card only: no model is loaded)."""
    from spotify_modeling.pipeline.persist import load_model_info

    out = {}
    for name in MODEL_NAMES:
        entry = {"trained": False, "trained_at": None, "rows": None, "metric": None, "value": None,
                 "ci_low": None, "ci_high": None, "reliable": None, "guard_auc": None}
        try:
            card = load_model_info(name, h.models)
        except BadInput:
            out[name] = entry
            continue
        metrics = card.get("metrics") or {}
        extra = card.get("extra") or {}
        cv = metrics.get("cv") if isinstance(metrics.get("cv"), dict) else metrics
        guard = metrics.get("provenance_guard") or extra.get("provenance_guard") or {}
        entry.update(trained=True, trained_at=card.get("trained_at"), rows=card.get("rows"),
                     metric=cv.get("metric"), value=_finite(cv.get("value")), ci_low=_finite(cv.get("ci_low")),
                     ci_high=_finite(cv.get("ci_high")),
                     reliable=None if not guard else bool(guard.get("ok", True)),
                     guard_auc=_finite(guard.get("auc")) if guard else None)
        if "forward_auc" in metrics:
            entry.update(forward_auc=_finite(metrics.get("forward_auc")), forward_low=_finite(metrics.get("forward_low")),
                         forward_high=_finite(metrics.get("forward_high")), forward_batch=metrics.get("forward_batch"))
        out[name] = entry
    return out


def _quota_wall(last_run: dict | None, refused: dict, now: datetime) -> dict | None:
    """The wall the last weekly run met, while it still stands: its group(s) and when Spotify said to retry."""
    if not last_run:
        return None
    s = last_run["summary"]
    if not (s.get("quota_stopped") or last_run["status"] == "quota"):
        return None
    finished = _parse(last_run["finished_at"] or last_run["started_at"])
    wait = _finite(s.get("quota_retry_after"))
    retry_at = finished + timedelta(seconds=wait) if finished and wait is not None else None
    if retry_at is not None and retry_at <= now:
        return None
    if retry_at is None and (finished is None or finished.date() != now.date()):
        return None   # no retry time given: Spotify's daily quotas reset within a day
    groups = sorted({m for n in s.get("notes") or [] for m in re.findall(r"limit for (\w+) calls", n)}
                    | set(s.get("quota_groups") or []) | set(refused))
    return {"groups": groups, "retry_at": _iso(retry_at) if retry_at else None, "run_id": last_run["run_id"],
            "kind": "rate" if s.get("quota_limit") == "rate" else "daily"}


def _calls_today(store, now: datetime, last_run: dict | None) -> dict:
    from spotify_modeling.db import reporting
    from spotify_modeling.sources.endpoints import OTHER_SERVICES

    day = now.strftime("%Y-%m-%d")
    by_group: dict[str, int] = {}
    refused: dict[str, int] = {}
    recco = 0
    for row in reporting.api_usage(store, day):
        if row["endpoint_group"] == "reccobeats":
            recco += row["calls"]
            continue
        if row["endpoint_group"] in OTHER_SERVICES:   # Deezer, MusicBrainz: no Spotify quota either
            continue
        by_group[row["endpoint_group"]] = by_group.get(row["endpoint_group"], 0) + row["calls"]
        if row["status"] == 429:
            refused[row["endpoint_group"]] = refused.get(row["endpoint_group"], 0) + row["calls"]
    return {"day": day, "total": sum(by_group.values()), "by_group": dict(sorted(by_group.items())),
            "refused": dict(sorted(refused.items())), "reccobeats": recco,
            "quota_wall": _quota_wall(last_run, refused, now)}


def _next_run(h: Home, export: dict, models: dict, labels: dict, pool: int, last_batch: int,
              wall: dict | None, pushes: list[dict], now: datetime) -> dict:
    """What the next `spotify-model candidates` will do, first step first (from what the store knows now)."""
    steps: list[str] = []
    if not export["plays"]:
        return {"first": "nothing to work on yet: import your export with `spotify-model features EXPORT`",
                "then": []}
    try:
        from spotify_modeling.pipeline.weekly_run import WeeklyConfig

        cfg = WeeklyConfig.from_home(h)
    except BadInput as err:
        return {"first": f"stop at once (exit 2): {err}", "then": []}
    if not h.token_cache.exists():
        return {"first": "stop at once (exit 77): no saved Spotify login; run `spotify-model login` first",
                "then": []}
    if wall is not None:
        when = f"after {wall['retry_at'].replace('T', ' ').rstrip('Z')} UTC" if wall["retry_at"] else "tomorrow"
        groups = ", ".join(wall["groups"]) or "some"
        if wall["kind"] == "rate":
            steps.append(f"wait: Spotify's short-term rate limit (not the daily quota) stopped the last run's "
                         f"{groups} calls; run it {when}")
        else:
            steps.append(f"wait: Spotify's daily limit for {groups} calls was reached; run it {when}")
    pending = labels["pending"]
    steps.append("read data_1 and data_0 for your labels" +
                 (f" of the {pending} candidates still pending" if pending else "") +
                 ("" if labels["pushed"] else " (creating the three playlists if missing)"))
    cutoff = now - timedelta(weeks=cfg.expire_weeks)
    old = sum(1 for p in pushes if p["status"] == "pending" and (_parse(p["pushed_at"]) or now) < cutoff)
    if old:
        steps.append(f"remove {old} candidates left unlabelled for {cfg.expire_weeks:g} weeks (recorded as expired)")
    need = cfg.min_labels_per_class
    if min(labels["likes"], labels["dislikes"]) >= need:
        steps.append(f"fit stage 2 on {labels['likes']} likes and {labels['dislikes']} dislikes")
    else:
        steps.append(f"rank on stage 1 alone: stage 2 needs {need} likes and {need} dislikes "
                     f"(you have {labels['likes']} and {labels['dislikes']}, plus what it reads now)")
    if not any(models[n]["trained"] for n in ("playlist", "likeability")):
        steps.append("note: no saved stage-1 model (`spotify-model train`): only the affinity model can rank")
    steps.append(f"top up the pool ({pool:,} tracks now) with up to {cfg.search_calls} searches")
    if pending >= cfg.max_pending:
        steps.append(f"push nothing unless you label some: {pending} candidates are unlabelled "
                     f"(a new batch waits below {cfg.max_pending})")
    else:
        steps.append(f"push batch {last_batch + 1} ({cfg.min_batch}-{cfg.max_batch} tracks: exploit, explore, "
                     "control) to data_candidates")
    return {"first": steps[0], "then": steps[1:]}


def setup_steps(h: Home, st: dict) -> list[dict]:
    """The road to a first hit rate, in order, each step {`step`: a sentence with its command, `done`}; the first
    one not done is the next step. From what the store, the models' cards and the home's token cache say (a saved
    login is a file there; whether Spotify still takes it is only known by asking, which this never does)."""
    lab, hr = st["labels"], st["hit_rate"]
    pending = lab["pending"]
    enriched = st["coverage"]["with_features"]["tracks"] > 0 or any(
        st["models"][n]["trained"] for n in ("playlist", "likeability"))
    if lab["pushed"] and not pending and not hr["labelled"]:
        label = ("your candidates expired unlabelled: run `spotify-model candidates` for a new batch, then label it in "
                 "Spotify: drag each track of data_candidates into data_1 (like) or data_0 (dislike), or heart it "
                 "(like) or remove it (dislike)")
    elif pending:
        label = (f"label the {pending} candidate{'s' if pending != 1 else ''} waiting in data_candidates: drag each "
                 "into data_1 (like) or data_0 (dislike), or heart it (like) or remove it (dislike) in Spotify")
    else:
        label = ("label that batch in Spotify: drag each track of data_candidates into data_1 (like) or data_0 "
                 "(dislike), or heart it (like) or remove it (dislike)")
    return [
        {"step": "import your Spotify data export: `spotify-model features EXPORT` (until it arrives, log in and "
                 "run `spotify-model features`: it starts from your Liked Songs and top tracks)",
         "done": bool(st["export"]["plays"] or st["export"].get("web_api_tracks"))},
        {"step": "log in to Spotify: `spotify-model login` (once; it needs your own Spotify app, see "
                 "docs/usage.md#connect-to-spotify-once)", "done": h.token_cache.is_file()},
        {"step": "enrich your history: `spotify-model features` (without --offline: track ids, audio features and "
                 "genres; it trains stage 1)", "done": enriched},
        {"step": "push your first batch of candidates: `spotify-model candidates` (then once a week)",
         "done": bool(lab["pushed"])},
        {"step": label, "done": bool(hr["labelled"])},
        {"step": "run `spotify-model candidates` again: it reads your labels, and your hit rate appears here",
         "done": bool(hr["labelled"])},
    ]


def your_step(h: Home, st: dict) -> str:
    """What to do next yourself: the first step of `setup_steps` not done, else keep labelling and running weekly."""
    steps = setup_steps(h, st)
    todo = next((i for i, s in enumerate(steps) if not s["done"]), None)
    if todo is not None:
        # the labelling step says who reads the labels (the report lists that as the step after)
        return steps[todo]["step"] + ("; the next `spotify-model candidates` reads them" if todo == 4 else "")
    pending = st["labels"]["pending"]
    if pending:
        return (f"label the {pending} candidate{'s' if pending != 1 else ''} waiting in data_candidates; the next "
                "weekly `spotify-model candidates` reads them")
    return "run `spotify-model candidates` for your next batch (once a week)"


def pd_frame(rows: list[dict], columns: list[str]):
    """A small DataFrame of some columns of dict rows (pandas only when there is something to count)."""
    import pandas as pd

    return pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)


def collect_status(h: Home, now: datetime | None = None) -> dict:
    """Everything `status` shows, as plain JSON-ready values (the keys docs/usage.md documents)."""
    from spotify_modeling.db import reporting

    now = now or datetime.now(timezone.utc)
    with open_store(h) as store:
        export = reporting.export_summary(store)
        cover = reporting.coverage(store)
        labels = reporting.label_counts(store)
        pushes = reporting.pushes(store)
        runs = reporting.runs(store)
        pool = reporting.pool_size(store)
        calls = _calls_today(store, now, runs[-1] if runs else None)
    models = _model_cards(h)
    rates = hit_rate_table(pushes)
    records = [] if rates is None else rates.to_dict("records")
    overall = next((r for r in records if r["batch"] == "all" and r["slice"] == "all"), None)
    hit_rate = _rate(overall["liked"], overall["labelled"]) if overall else _rate(0, 0)
    hit_rate["by_slice"] = {s: _rate(r["liked"], r["labelled"], r["pushed"]) for s in SLICES
                            for r in records if r["batch"] == "all" and r["slice"] == s}
    hit_rate["trend"] = _trend(records) if records else None
    from spotify_modeling.core.selection.sources import hit_rate_by_source

    labelled = [p for p in pushes if p["label"] is not None and p["status"] != "expired"]
    hit_rate["by_source"] = hit_rate_by_source(pd_frame(labelled, ["source", "label", "weight"]))

    per_batch = {(r["batch"], r["slice"]): r for r in records if r["batch"] != "all"}
    run_rows = []
    liked_so_far = labelled_so_far = 0
    held = any(run["status"] == "running" for run in runs) and h.lock_is_held()
    for run in runs:
        s = run["summary"]
        batch = run["batch"]
        # recorded as running while no run holds the lock: that process was killed (the next run marks it so)
        state = "interrupted" if run["status"] == "running" and not held else run["status"]
        row = {"run_id": run["run_id"], "started_at": run["started_at"], "status": state,
               "batch": batch, "pushed": run["landed"], "calls": s.get("calls_total"),
               "stage2_cv_auc": _finite((s.get("stage2") or {}).get("cv_auc")),
               "stage2_forward_auc": _finite((s.get("stage2") or {}).get("forward_auc")),
               "prior_forward_auc": _finite((s.get("stage2") or {}).get("prior_forward_auc")),
               "labelled": 0, "liked": 0, "hit_rate": None, "by_slice": {}, "running_hit_rate": None}
        if batch is not None and (batch, "all") in per_batch:
            a = per_batch[(batch, "all")]
            row.update({k: v for k, v in _rate(a["liked"], a["labelled"]).items() if k in ("liked", "labelled",
                                                                                          "hit_rate")})
            row["by_slice"] = {sl: _rate(per_batch[(batch, sl)]["liked"], per_batch[(batch, sl)]["labelled"],
                                         per_batch[(batch, sl)]["pushed"])
                               for sl in SLICES if (batch, sl) in per_batch}
            liked_so_far += a["liked"]
            labelled_so_far += a["labelled"]
        row["running_hit_rate"] = liked_so_far / labelled_so_far if labelled_so_far else None
        run_rows.append(row)
    last_batch = max((p["batch"] for p in pushes), default=0)
    st = {
        "version": STATUS_VERSION,
        "generated_at": _iso(now),
        "home": str(h.root),
        "export": export,
        "coverage": cover,
        "models": models,
        "labels": labels,
        "hit_rate": hit_rate,
        "runs": run_rows[-LAST_RUNS:],
        "runs_total": len(run_rows),
        "pool": {"size": pool},
        "calls_today": calls,
        "next_run": _next_run(h, export, models, labels, pool, last_batch, calls["quota_wall"], pushes, now),
    }
    st["next_run"]["your_step"] = your_step(h, st)
    return st


# ------------------------------------------------------------------------------------------------ rendering
def _pct(v, digits: int = 0) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}%"


def _ci(r: dict) -> str:
    if not r.get("labelled"):
        return "no labels yet"
    return f"{_pct(r['hit_rate'])} ({r['liked']}/{r['labelled']}; 95% CI {_pct(r['ci_low'])}–{_pct(r['ci_high'])})"


def control_baseline(control: dict | None) -> str:
    """The random control as a baseline, in words: its share with its 95% interval once it has
    `CONTROL_LABELS_NEEDED` labels, before that only how far it is from being one (never "0% (0 of 6)")."""
    c = control or {}
    n = c.get("labelled") or 0
    if not n:
        return (f"no random control track labelled yet (the baseline the other picks are measured against; "
                f"about {CONTROL_LABELS_NEEDED} are needed to compare with)")
    ci = f"95% CI {_pct(c['ci_low'])}–{_pct(c['ci_high'])}"
    if n >= CONTROL_LABELS_NEEDED:
        return f"random control tracks {_pct(c['hit_rate'])} liked ({c['liked']} of {n}; {ci})"
    return (f"{n} random control track{'s' if n != 1 else ''} labelled so far: too few to compare with yet ({ci}); "
            f"about {CONTROL_LABELS_NEEDED} needed")


def _date(ts: str | None) -> str:
    return (ts or "")[:16].replace("T", " ") or "–"


def short_date(ts: str | None) -> str:
    """'Dec 03' (a weekly run's day)."""
    dt = _parse(ts)
    return dt.strftime("%b %d") if dt else "–"


def trend_sentence(trend: dict | None, verdict: bool = True) -> str:
    """'batches 1-2 20% liked (4/20), batches 3-4 38% (9/24): +18 points, a clear rise' (or 'not yet' when the
    two 95% intervals overlap); without `verdict`, the part before the comma."""
    if trend is None:
        return "not enough labelled batches yet to tell whether it rises (needs two)"

    def span(p):
        a, b = p["batches"]
        return f"batch {a}" if a == b else f"batches {a}-{b}"

    e, la = trend["earlier"], trend["later"]
    text = (f"{span(e)} {_pct(e['hit_rate'])} liked ({e['liked']}/{e['labelled']}), {span(la)} "
            f"{_pct(la['hit_rate'])} ({la['liked']}/{la['labelled']}): {100 * trend['change_points']:+.0f} points")
    if not verdict:
        return text
    return text + ", " + {"rising": "a clear rise", "falling": "a clear fall"}.get(
        trend["direction"], "the intervals overlap: not yet a clear change")


def print_status(st: dict) -> None:
    ex, cov, lab, hr = st["export"], st["coverage"], st["labels"], st["hit_rate"]
    console.print(f"[bold]spotify-model status[/bold] of {escape(st['home'])}  [dim]{st['generated_at']}[/dim]",
                  highlight=False)
    headline = (f"[bold]You liked {_ci(hr)}[/bold] of the candidates you labelled" if hr["labelled"]
                else f"[bold]No labelled candidates yet. Next step:[/bold] {escape(st['next_run']['your_step'])}")
    console.print(headline, highlight=False)
    if hr["labelled"]:
        console.print(f"trend: {trend_sentence(hr['trend'])}", highlight=False)

    t = Table(box=None, show_header=False, padding=(0, 2), title="Your data", title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    kinds = ", ".join(f"{k} {v['files']}" for k, v in ex["files_by_kind"].items()) or "none"
    t.add_row("export", f"{ex['plays']:,} plays counted ({ex['plays_stored']:,} stored) from {_date(ex['first_play'])[:10]}"
                        f" to {_date(ex['last_play'])[:10]}; {ex['files']} files ({kinds}); imported {_date(ex['last_imported_at'])}")
    t.add_row("coverage", f"{cov['tracks']:,} tracks; of your plays: ids {_pct(cov['with_id']['share_of_plays'])}, "
                          f"audio features {_pct(cov['with_features']['share_of_plays'])} ({cov['features_source']}), "
                          f"genres {_pct(cov['with_genres']['share_of_plays'])} ({cov['genres_source'] or 'none yet'})")
    sources = "; ".join(f"{k}: {v:,} tracks" for k, v in cov["metadata_by_source"].items())
    if sources:
        t.add_row("", f"track facts by source: {sources}")
    if cov["names_unresolved"] or cov["names_missed"]:
        t.add_row("", f"songs not looked up yet: {cov['names_unresolved']:,}; not found on Spotify: {cov['names_missed']:,}")
    t.add_row("labels", f"{lab['likes']} likes, {lab['dislikes']} dislikes"
                        + (f", {lab['conflicts']} in both playlists" if lab["conflicts"] else "")
                        + f"; of {lab['pushed']} candidates pushed: {lab['pending']} pending, {lab['expired']} expired"
                        + (f", {lab['removed']} removed by you" if lab["removed"] else ""))
    kinds = lab.get("by_kind") or {}
    if any(kinds.values()):
        t.add_row("", "given by: " + ", ".join(f"{n} {kinds.get(k, 0)}" for k, n in (
            ("data_1", "dragging into data_1"), ("data_0", "dragging into data_0"), ("heart", "a heart"),
            ("removed", "removing from data_candidates")) ))
    t.add_row("pool", f"{st['pool']['size']:,} catalog tracks waiting to be scored")
    console.print(t)

    m = Table("model", "trained", "rows", "artist-grouped CV [95% CI]", box=None, padding=(0, 2),
              title="Models", title_justify="left")
    for name, card in st["models"].items():
        if not card["trained"]:
            m.add_row(name, "[dim]not yet[/dim]", "", "")
            continue
        if card["value"] is None:
            metric = "refitted every run (no CV)" if name == "affinity" else "n/a"
        else:
            short = {"roc_auc": "AUC", "spearman": "Spearman"}.get(card["metric"], card["metric"] or "")
            metric = f"{short} {card['value']:.2f} [{card['ci_low']:.2f}, {card['ci_high']:.2f}]" \
                if card["ci_low"] is not None else f"{short} {card['value']:.2f}"
        if card.get("forward_auc") is not None:
            metric += f"; forward {card['forward_auc']:.2f}"
        if card["reliable"] is False:
            metric += " [red]unreliable: learns where metadata came from[/red]"
        m.add_row(name, _date(card["trained_at"])[:10], str(card["rows"] or ""), metric)
    console.print(m)

    if st["runs"]:
        odd = any(run["status"] not in ("ok",) for run in st["runs"])
        cols = ["run", "date", "batch", "pushed", "liked", *SLICES, "so far", "calls"] + (["status"] if odd else [])
        r = Table(*cols, box=None, padding=(0, 1), title=f"Weekly runs (last {len(st['runs'])} of {st['runs_total']}): "
                  "hit rate of each run's batch, by slice (control: liked/labelled); so far: all batches up to it",
                  title_justify="left")

        def cell(run: dict, s: str) -> str:
            x = run["by_slice"].get(s)
            if not x:
                return ""
            # a batch holds one or two control tracks: their share (0% or 100%) would read as a baseline
            return f"{x['liked']}/{x['labelled']}" if s == "control" and x["labelled"] else _pct(x["hit_rate"])

        for run in st["runs"]:
            cells = [cell(run, s) for s in SLICES]
            r.add_row(str(run["run_id"]), short_date(run["started_at"]), str(run["batch"] or "–"),
                      str(run["pushed"]), f"{run['liked']}/{run['labelled']}" if run["labelled"] else "–", *cells,
                      _pct(run["running_hit_rate"]), str(run["calls"] if run["calls"] is not None else ""),
                      *([run["status"] or ""] if odd else []))
        console.print(r)
        by = ", ".join(f"{s} {_ci(v)}" for s, v in hr["by_slice"].items() if s != "control")
        if hr["by_slice"]:
            console.print(f"all batches: {by}{'; ' if by else ''}{control_baseline(hr['by_slice'].get('control'))}",
                          highlight=False)
        src = "; ".join(f"{x['name']} {x['hit_rate']:.0%} ({x['liked']} of {x['labelled']}, 95% CI "
                        f"{x['low']:.0%}-{x['high']:.0%})" for x in hr.get("by_source") or [])
        if src:
            console.print(f"by source: {src}", highlight=False)
    else:
        console.print("No weekly run yet: `spotify-model candidates` pushes your first batch.")

    c = st["calls_today"]
    groups = ", ".join(f"{g} {n}" for g, n in c["by_group"].items()) or "none"
    line = f"Spotify calls today ({c['day']} UTC): {c['total']} ({groups})"
    if c["refused"]:
        line += "; refused (429): " + ", ".join(f"{g} {n}" for g, n in c["refused"].items())
    if c["reccobeats"]:
        line += f"; plus {c['reccobeats']} ReccoBeats calls (no Spotify quota)"
    console.print(line, highlight=False)
    if c["quota_wall"]:
        w = c["quota_wall"]
        kind = "rate limit" if w["kind"] == "rate" else "quota wall"
        console.print(f"[yellow]{kind}[/yellow]: {', '.join(w['groups']) or 'a group'}; Spotify said to retry "
                      + (f"after {_date(w['retry_at'])} UTC" if w["retry_at"] else "later (no time given)"),
                      highlight=False)
    nxt = st["next_run"]
    console.print(f"[bold]Next `candidates` run[/bold] will first {escape(nxt['first'])}"
                  + ("; then " + escape("; ".join(nxt["then"])) if nxt["then"] else "") + ".", highlight=False)


@app.command()
def status(
    home: Optional[Path] = typer.Option(None, "--home", help="Home directory (default: $SPOTIFY_MODEL_HOME or .)."),
    as_json: bool = typer.Option(False, "--json", help="Print the same as JSON (stable keys: docs/usage.md)."),
) -> None:
    """One screen on how it is going: your data, models, labels, hit rate by run, calls today, the next run."""
    st = collect_status(Home.from_env(home))
    if as_json:
        # plain print: rich would wrap long lines and colour the JSON
        typer.echo(json.dumps(st, indent=2, ensure_ascii=False, allow_nan=False))
        return
    print_status(st)
