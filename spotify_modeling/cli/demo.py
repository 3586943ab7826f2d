"""`spotify-model demo`: the whole loop offline on a simulated listener. The only command that imports the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from spotify_modeling.cli.app import app, console, require_writable
from spotify_modeling.cli.weekly import _num


@app.command()
def demo(
    weeks: int = typer.Option(6, "--weeks", min=1, max=52, help="Weeks to simulate."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the synthetic world."),
    listener: Optional[str] = typer.Option(None, "--listener", help="A persona (e.g. indie_explorer); default: by seed."),
    home: Path = typer.Option(Path("spotify-model-demo"), "--home", help="Where the demo world is built and kept."),
) -> None:
    """Run the whole loop offline on a synthetic listener: no Spotify account needed."""
    from spotify_modeling.sandbox.demo import demo_table, run_demo
    from spotify_modeling.sandbox.simulate import PERSONAS

    if listener is not None and listener not in PERSONAS:
        from spotify_modeling.errors import BadInput

        raise BadInput(f"Unknown listener {listener!r}.", f"Choose one of: {', '.join(PERSONAS)}.")
    require_writable(home.expanduser().resolve())
    rows, info = run_demo(home, weeks=weeks, seed=seed, listener=listener,
                          progress=lambda m: console.print(f"[dim]{m}[/dim]"))
    df = demo_table(rows)
    t = Table(*df.columns, box=None, collapse_padding=True, pad_edge=False,   # fits an 80-column terminal
              title=f"spotify-model demo: listener {info['listener']}, seed {seed}",
              caption="hit = liked / labelled; exploit/explore/control = hit rate per slice;\n"
                      "AUC = stage-2 CV AUC (0.5 = chance; noisy while labels are fewer than ~100);\n"
                      "calls = Spotify calls; ceiling / random = the listener's own top picks / random picks "
                      "from the same pool")
    pct = {"hit", "exploit", "explore", "control", "ceiling", "random"}
    for rec in df.to_dict("records"):
        t.add_row(*[(_num(v, "{:.0%}") if k in pct else _num(v, "{:.2f}") if k == "AUC" else str(v))
                    for k, v in rec.items()])
    console.print(t)
    total_l, total_k = df["labelled"].sum(), df["liked"].sum()
    ours, rnd, top = total_k / max(total_l, 1), df["random"].mean(), df["ceiling"].mean()
    gap = f"; gap closed {(ours - rnd) / (top - rnd):.2f}" if top > rnd else ""
    console.print(f"Overall: {total_k} liked of {total_l} labelled ({ours:.0%}); random picks from the same pools: "
                  f"{rnd:.0%}; the listener's own top picks: {top:.0%}{gap}.")
    console.print(f"The demo world is kept in {escape(str(info['home']))} (store: data/spotify_model.db).")
    from spotify_modeling.cli.report import report_after_run   # the demo ends with the report, as `candidates` does
    from spotify_modeling.home import Home

    report_after_run(Home(Path(info["home"])))
