"""The `spotify-model` command: thin typer commands over the library, one exit-code policy for all of them."""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import EXIT_BUG, UserError
from .home import Home

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="A personal music-discovery loop: learns your taste from your Spotify export and your weekly likes.",
)
console = Console()
err_console = Console(stderr=True)


def _quiet_third_party_logs() -> None:
    """spotipy logs HTTP errors at ERROR (and tokens at DEBUG): keep both off the screen and out of files."""
    for name in ("spotipy", "spotipy.client", "spotipy.oauth2", "urllib3"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [logging.NullHandler()]
        lg.propagate = False
        lg.setLevel(logging.CRITICAL)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"spotify-model {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    _quiet_third_party_logs()


@app.command()
def features(
    export: Optional[Path] = typer.Argument(None, help="Your Spotify export: the zip or its folder "
                                                       "(default: the newest in data/raw/)."),
    home: Optional[Path] = typer.Option(None, "--home", help="Home directory (default: $SPOTIFY_MODEL_HOME or .)."),
) -> None:
    """Import your data export into the store and show what it holds."""
    from .ingest import find_newest_export, history_summary, import_export, write_history_csv
    from .store import Store

    h = Home.from_env(home)
    path = export if export is not None else find_newest_export(h.raw)
    from .export import read_export

    parsed = read_export(path)  # raises BadInput on a bad path or file, before the home is touched
    h.ensure()
    with Store.open(h) as store:
        result = import_export(store, parsed)
        csv_path = h.processed / "streaming_history.csv"
        if not result.already_imported or not csv_path.exists():
            write_history_csv(store, csv_path)
        summary = history_summary(store)
    _print_import_summary(result, summary, csv_path)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _print_import_summary(result, s: dict, csv_path: Path) -> None:
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(result.files_by_kind.items())) or "none"
    if result.already_imported:
        console.print(f"[bold]Export already imported[/bold] ({result.export}): nothing changed.")
    else:
        console.print(f"[bold]Imported[/bold] {result.export}: {result.new_files} new file(s), "
                      f"{result.plays_added:,} plays added"
                      + (f", {result.plays_already_known:,} already known" if result.plays_already_known else "")
                      + (f", {result.dropped_non_music:,} podcast/audiobook streams skipped"
                         if result.dropped_non_music else "") + ".")
    t = Table(show_header=False, box=None, padding=(0, 2))
    t.add_row("files found", kinds)
    t.add_row("plays", f"{s['plays']:,}")
    t.add_row("date range", f"{(s['first'] or '?')[:10]} to {(s['last'] or '?')[:10]}")
    t.add_row("unique tracks / artists", f"{s['unique_tracks']:,} / {s['unique_artists']:,}")
    t.add_row("plays with a track id", f"{s['plays_with_id']:,} ({_pct(s['plays_with_id'] / s['plays'] if s['plays'] else None)})")
    t.add_row("playlists (items, tracks)", f"{s['playlists']} ({s['playlist_items']:,} items, {s['playlist_tracks']:,} tracks)")
    t.add_row("saved tracks", f"{s['saved_tracks']:,}")
    t.add_row("skip rate (< 30 s)", _pct(s["skip_rate"]))
    t.add_row("completion rate (>= 80%)", _pct(s["completion_rate"]) + (
        f" of {s['completion_known']:,} plays of known length" if s["completion_known"] else " (durations not fetched yet)"))
    t.add_row("history CSV", str(csv_path))
    console.print(t)


def _log_bug(exc: BaseException) -> Path:
    try:
        path = Home.from_env().log_path
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        import tempfile

        path = Path(tempfile.gettempdir()) / "spotify-model.log"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"--- {datetime.now(timezone.utc).isoformat()} spotify-model {__version__} {sys.argv[1:]!r}\n")
        fh.write("".join(traceback.format_exception(exc)))
    return path


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line and their exit code; bugs are logged, exit 1."""
    try:
        app(args=argv, standalone_mode=False)
        return 0
    except UserError as err:
        err_console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
        return err.exit_code
    except (typer.Exit, SystemExit) as ex:
        code = getattr(ex, "exit_code", None)
        if code is None:
            code = getattr(ex, "code", 0)
        return int(code or 0)
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing half-written was kept")
        return 130
    except Exception as exc:
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()  # a usage error from the command-line parser (exit code 2)
            return exc.exit_code
        path = _log_bug(exc)
        err_console.print(f"[red]unexpected error:[/red] {type(exc).__name__}: {exc} (details logged to {path})",
                          highlight=False, soft_wrap=True)
        return EXIT_BUG


def run() -> None:
    sys.exit(main())


from . import cli_loop  # noqa: E402,F401  (registers train, candidates, demo)
