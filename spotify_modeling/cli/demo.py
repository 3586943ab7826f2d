"""`spotify-model demo`: the whole loop offline on a simulated listener. The only command that imports the sandbox."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from spotify_modeling.cli.app import app, console, print_path, require_writable
from spotify_modeling.cli.candidates import _num, print_weekly_report
from spotify_modeling.errors import BadInput
from spotify_modeling.home import Home

#: the listeners `--listener` takes: "random" (the default: a random taste drawn from the seed) and the named personas
#: of `sandbox.simulate.PERSONAS` (named here so that `--help` lists them without importing the sandbox at start-up;
#: tests/test_demo.py keeps the two lists equal)
LISTENERS = ("random", "indie_explorer", "hiphop_loyalist", "classical_purist", "pop_mainstream", "eclectic")


@app.command()
def demo(
    weeks: int = typer.Option(6, "--weeks", min=1, max=52, help="Weeks to simulate."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the synthetic world."),
    listener: str = typer.Option(
        "random", "--listener",
        help=f"Whose taste to simulate: {LISTENERS[0]} (the default: a random taste drawn from --seed) or one of "
             f"the personas {', '.join(LISTENERS[1:])}."),
    home: Path = typer.Option(Path("spotify-model-demo"), "--home", help="Where the demo world is built and kept."),
) -> None:
    """Run the whole loop offline on a synthetic listener: no Spotify account needed."""
    from spotify_modeling.sandbox.demo import demo_table, run_demo
    from spotify_modeling.sandbox.simulate import PERSONAS

    if listener != "random" and listener not in PERSONAS:
        raise BadInput(f"Unknown listener {listener!r}.", f"Choose random or one of: {', '.join(PERSONAS)}.")
    require_writable(home.expanduser().resolve())
    rows, info = run_demo(home, weeks=weeks, seed=seed, listener=None if listener == "random" else listener,
                          progress=lambda m: console.print(f"[dim]{m}[/dim]"))
    if info.get("last_report") is not None:   # one week as a user sees it: what that `candidates` run prints
        console.print(f"\n[bold]What the weekly run of week {rows[-1].week} printed (`spotify-model candidates`):"
                      "[/bold]", highlight=False)
        print_weekly_report(info["last_report"])
        console.print()
    df = demo_table(rows)
    who = (f"random (a taste drawn from seed {seed})" if info["listener"] == "random"
           else f"{info['listener']}, seed {seed}")
    t = Table(*df.columns, box=None, collapse_padding=True, pad_edge=False,   # fits an 80-column terminal
              title=f"spotify-model demo: listener {who}",
              caption="hit = liked / labelled (of that week's batch, that week); exploit/explore/control = hit rate "
                      "per slice;\n"
                      "AUC = stage-2 CV AUC (0.5 = chance; noisy while labels are fewer than ~100);\n"
                      "calls = Spotify calls; ceiling / random = the listener's own top picks / random picks "
                      "from the same pool")
    pct = {"hit", "exploit", "explore", "control", "ceiling", "random"}
    for rec in df.to_dict("records"):
        t.add_row(*[(_num(v, "{:.0%}") if k in pct else _num(v, "{:.2f}") if k == "AUC" else str(v))
                    for k, v in rec.items()])
    console.print(t)
    total_l, total_k = int(df["labelled"].sum()), int(df["liked"].sum())
    ours, rnd, top = total_k / max(total_l, 1), df["random"].mean(), df["ceiling"].mean()
    gap = f"; gap closed {(ours - rnd) / (top - rnd):.2f}" if top > rnd else ""
    console.print(f"Overall, as the listener labelled each batch in its own week: {total_k} liked of {total_l} "
                  f"labelled ({ours:.0%}); random picks from the same pools: {rnd:.0%}; the listener's own top picks: "
                  f"{top:.0%}{gap}.", highlight=False)
    from spotify_modeling.cli.status import collect_status   # not at the top: `--help` would list status before demo

    h = Home(Path(info["home"]))
    console.print(_store_count_line(collect_status(h)["hit_rate"], rows), highlight=False)
    console.print("The demo world is kept in this folder (its store: data/spotify_model.db):", highlight=False)
    print_path(info["home"])
    from spotify_modeling.cli.report import report_after_run   # the demo ends with the report, as `candidates` does

    report_after_run(h)


def _store_count_line(hr: dict, rows) -> str:
    """Why `status` and the report count otherwise than the demo's table: they count the labels the weekly runs
    have read, so the last batch's labels (read by the next run) are not in yet, and a candidate labelled a week or
    more after it was pushed counts for its own batch (the demo's table counts it nowhere)."""
    k, n = hr["liked"], hr["labelled"]
    unread = rows[-1].labelled if rows else 0
    read_in_time = sum(r.labelled for r in rows) - unread
    late = n - read_in_time
    text = (f"The report and `status` count {k} of {n} ({k / n:.0%})" if n else
            "The report and `status` count no label yet")
    text += (f": the labels the weekly runs have read, so the last batch's {unread} labels wait for the next run"
             " (the report trails the table by a week)")
    if late > 0:
        text += (f", and {late} candidate{'s' if late != 1 else ''} labelled a week or more after being pushed "
                 "count for their batch")
    elif late < 0:
        text += (f", and {-late} label{'s' if late != -1 else ''} given in time did not count (expired, or in both "
                 "data_1 and data_0)")
    return text + "."
