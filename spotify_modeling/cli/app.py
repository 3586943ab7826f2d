"""The `spotify-model` command: thin typer commands over the library, one exit-code policy for all of them."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from spotify_modeling import __version__
from spotify_modeling.errors import EXIT_BUG, UserError
from spotify_modeling.home import Home

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


def require_writable(folder: Path, *files: Path) -> None:
    """Refuse a home we cannot write to before touching it.

    Else the run dies half-way as a 'bug', or a sound store is reported as damaged.
    """
    from spotify_modeling.errors import BadInput

    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BadInput(f"{existing} is a file, not a folder; nothing was changed.", "Pass a folder with --home.")
    for path in (existing, *(f for f in files if f.exists())):
        if not os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0)):
            raise BadInput(f"Cannot write to {path} (read-only or no permission); nothing was changed.",
                           "Make it writable, or pass another folder with --home.")


@app.command()
def features(
    export: Optional[Path] = typer.Argument(None, help="Your Spotify export: the zip or its folder "
                                                       "(default: the newest in data/raw/, or continue with the "
                                                       "export already imported)."),
    home: Optional[Path] = typer.Option(None, "--home", help="Home directory (default: $SPOTIFY_MODEL_HOME or .)."),
    max_calls: Optional[int] = typer.Option(None, "--max-calls", min=0,
                                            help="Spend at most this many Spotify calls in this run."),
    genres_source: str = typer.Option("spotify", "--genres-source",
                                      help="Artist genres from: spotify | musicbrainz (no Spotify content) | none."),
    features_source: str = typer.Option("reccobeats", "--features-source",
                                        help="Audio features from: reccobeats | spotify | csv (with --features-csv)."),
    features_csv: Optional[Path] = typer.Option(None, "--features-csv",
                                                help="A local CSV of audio features keyed by Spotify track id "
                                                     "(`track_id` or `id` column)."),
    release_dates: bool = typer.Option(False, "--release-dates",
                                       help="Fetch the release date and explicit flag of every history track "
                                            "that lacks them (one Spotify call per track); without it, at most "
                                            "--details-calls a run, most-played first."),
    details_calls: Optional[int] = typer.Option(None, "--details-calls", min=0,
                                                help="Release date + explicit flag of at most this many history "
                                                     "tracks identified by the export's URI, per run (default "
                                                     "100; 0: none)."),
    offline: bool = typer.Option(False, "--offline", help="Import only: no network at all."),
) -> None:
    """Import your data export, then fill in track ids, audio features and genres (resumable, quota-aware)."""
    from spotify_modeling.pipeline.enrich import (GENRES_SOURCES, FEATURES_SOURCES, stored_features_source,
                         write_track_features_csv)
    from spotify_modeling.errors import BadInput, NeedsLogin
    from spotify_modeling.pipeline.ingest import history_summary, import_export, write_history_csv
    from spotify_modeling.db.store import Store

    if genres_source not in GENRES_SOURCES:
        raise BadInput(f"Unknown --genres-source {genres_source!r}.", f"Use one of: {', '.join(GENRES_SOURCES)}.")
    if features_csv is not None and features_source == "reccobeats":
        features_source = "csv"
    if features_source not in FEATURES_SOURCES:
        raise BadInput(f"Unknown --features-source {features_source!r}.",
                       f"Use one of: {', '.join(FEATURES_SOURCES)}.")
    if features_source == "csv" and (features_csv is None or not features_csv.is_file()):
        raise BadInput(f"Features file {features_csv} not found." if features_csv else
                       "--features-source csv needs --features-csv PATH.",
                       "Pass the path of a CSV of audio features keyed by track id." if features_csv else None)
    if features_source == "csv":
        _check_features_csv(features_csv)
    h = Home.from_env(home)
    require_writable(h.data, h.db_path)
    parsed = _export_to_import(h, export)  # raises BadInput on a bad path or file, before the home is touched
    h.ensure()
    csv_path = h.processed / "streaming_history.csv"
    with h.lock(), Store.open(h) as store:
        if parsed is not None:
            result = import_export(store, parsed)
            if not result.already_imported or not csv_path.exists():
                write_history_csv(store, csv_path)
            _print_import_summary(result, history_summary(store), csv_path)
        else:
            console.print(f"Continuing with the export already imported "
                          f"({store.scalar('SELECT count(*) FROM plays'):,} plays); "
                          "pass an export to import a newer one.")
        if offline:
            console.print("[dim]--offline: no enrichment (track ids, features and genres need the network).[/dim]")
            return
        if not os.environ.get("SPOTIPY_CLIENT_ID", "").strip():
            # Never set up: treat as offline rather than an error (a logged-out but configured user gets exit 77).
            console.print("[yellow]note:[/yellow] imported only: no Spotify app is configured (SPOTIPY_CLIENT_ID), "
                          "so track ids, audio features and genres were not fetched. See `spotify-model login`.",
                          highlight=False, soft_wrap=True)
            return
        spotify, reccobeats, musicbrainz = _enrichment_clients(h, store, max_calls, genres_source, features_source)
        report = _run_enrichment(store, spotify, reccobeats, musicbrainz, genres_source, features_source,
                                 features_csv, release_dates, details_calls)
        out_csv = h.processed / "track_features.csv"
        rows = write_track_features_csv(store, out_csv, features_source=stored_features_source(
            features_source, features_csv))
        report.csv_path = str(out_csv)
        _print_enrich_summary(report, rows)
        if spotify is None and genres_source == "spotify":
            raise NeedsLogin("Enrichment from Spotify needs a login: the import is kept.",
                             "Run `spotify-model login`, then `spotify-model features` again "
                             "(or use --genres-source musicbrainz).")
        if report.exit_code in (0, 75):
            try:
                from spotify_modeling.pipeline.train import train_after_features
            except ImportError:
                train_after_features = None
            if train_after_features is not None:
                train_after_features(store, h, console)
    if report.exit_code:
        raise _stop_error(report)


def _check_features_csv(path: Path) -> None:
    """Refuse a features table without the columns it needs now, not after the import and the metadata calls."""
    from spotify_modeling.pipeline.enrich import read_features_csv
    from spotify_modeling.errors import BadInput

    try:
        read_features_csv(path, nrows=0)
    except BadInput as err:
        raise BadInput(err.message.rstrip(".") + "; nothing was changed.", err.hint) from None


def _stop_error(report):
    """The one-line error (and exit code) for a run that stopped early; everything fetched is already stored."""
    from spotify_modeling.errors import NeedsLogin, QuotaExhausted, ServiceUnavailable

    kind = {"auth": NeedsLogin, "unavailable": ServiceUnavailable}.get(report.stopped, QuotaExhausted)
    message = (report.message or "Enrichment stopped early.").split(" Everything fetched")[0]
    hint = "Everything fetched so far is kept; run `spotify-model features` again to continue"
    if report.stopped == "auth":
        hint = "Run `spotify-model login`, then `spotify-model features` again to continue"
    elif report.retry_at is not None:
        hint += f" after {report.retry_at:%Y-%m-%d %H:%M} UTC"
    return kind(f"stopped: {message}", hint + ".")


def _export_to_import(h: Home, export: Optional[Path]):
    """The parsed export to import, or None to continue with the one already in the store.

    Without an argument the newest export in data/raw/ is imported when it is newer than the last import.
    """
    from spotify_modeling.errors import BadInput
    from spotify_modeling.core.export import read_export
    from spotify_modeling.pipeline.ingest import find_newest_export, require_history

    if export is not None:
        return _require_plays(require_history(read_export(export)))
    last = None
    if h.db_path.exists():
        from spotify_modeling.db.store import Store

        with Store.open(h) as store:
            last = store.scalar("SELECT max(imported_at) FROM imported_files")
    try:
        newest = find_newest_export(h.raw)
    except BadInput:
        if last is None:
            raise
        return None
    if last is not None:
        mtime = datetime.fromtimestamp(newest.stat().st_mtime, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if mtime <= last:
            return None
    return _require_plays(require_history(read_export(newest)))


def _require_plays(parsed):
    """Refuse an export whose history files hold no music plays, before a store is made for nothing."""
    from spotify_modeling.errors import BadInput

    if not any(parsed.plays.values()):
        podcasts = (f" ({parsed.dropped_non_music:,} podcast/audiobook streams only)"
                    if parsed.dropped_non_music else "")
        raise BadInput(f"{parsed.source} holds no music plays{podcasts}; nothing was imported.",
                       "Check that you passed your whole Spotify data export.")
    return parsed


def _enrichment_clients(h: Home, store, max_calls: Optional[int], genres_source: str, features_source: str):
    """Spotify (None when there is no login and nothing asked for needs it), ReccoBeats and MusicBrainz clients."""
    from spotify_modeling.errors import NeedsLogin
    from spotify_modeling.sources import MusicBrainzClient, ReccoBeatsClient, SpotifyClient

    try:
        spotify = SpotifyClient.from_env(h, recorder=store, max_calls=max_calls)
    except NeedsLogin:
        if genres_source == "spotify" or features_source == "spotify":
            raise
        err_console.print("[yellow]note:[/yellow] not logged in to Spotify: plays without a track id stay "
                          "unresolved (run `spotify-model login` to find them).", highlight=False)
        spotify = None
    reccobeats = ReccoBeatsClient(recorder=store)
    musicbrainz = MusicBrainzClient() if genres_source == "musicbrainz" else None
    return spotify, reccobeats, musicbrainz


def _run_enrichment(store, spotify, reccobeats, musicbrainz, genres_source, features_source, features_csv,
                    release_dates, details_calls):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from spotify_modeling.pipeline.enrich import enrich_history

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        tasks: dict[str, int] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(step, total=max(total, 1) if total else 0)
            bars.update(tasks[step], completed=done, total=total)

        limit = {} if details_calls is None else {"details_calls": details_calls}
        return enrich_history(store, spotify, reccobeats, genres_source=genres_source,
                              features_source=features_source, features_csv=features_csv,
                              musicbrainz=musicbrainz, release_dates=release_dates, progress=progress, **limit)


def _print_enrich_summary(report, rows: int) -> None:
    cov = report.coverage
    t = Table(title="Enrichment", show_header=True, box=None, padding=(0, 2))
    t.add_column("step")
    t.add_column("done", justify="right")
    t.add_column("found", justify="right")
    t.add_column("status")
    for s in report.steps:
        status = "ok" if s.stopped is None else s.stopped
        if s.stopped is None and s.message:
            status += f" ({s.message})"
        t.add_row(s.name, f"{s.done:,}/{s.todo:,}", f"{s.found:,}", status)
    console.print(t)
    c = Table(title="Coverage", show_header=True, box=None, padding=(0, 2))
    c.add_column("tracks")
    c.add_column("count", justify="right")
    c.add_column("% of plays", justify="right")
    for label, key in (("with a track id", "with_id"), ("with duration", "with_duration"),
                       (f"with audio features ({cov.get('features_source')})", "with_features"),
                       ("with genres", "with_genres")):
        part = cov[key]
        c.add_row(label, f"{part['tracks']:,}", _pct(part["share_of_plays"]))
    console.print(c)
    console.print(f"plays: {cov['plays']:,}; song names not found on Spotify: {cov['names_missed']:,}; "
                  f"not looked up yet: {cov['names_unresolved']:,}")
    groups = sorted(set(report.calls_this_run) | set(report.calls_today))
    if groups:
        console.print("calls (this run / today): " + ", ".join(
            f"{g} {report.calls_this_run.get(g, 0)}/{report.calls_today.get(g, 0)}" for g in groups))
    if report.exhausted_groups:
        when = report.retry_at
        console.print(f"[yellow]quota:[/yellow] Spotify's daily limit reached for "
                      f"{', '.join(sorted(report.exhausted_groups))} calls"
                      + (f"; Spotify suggests trying again after {when:%Y-%m-%d %H:%M} UTC." if when else "."),
                      highlight=False, soft_wrap=True)
    elif report.stopped == "budget":
        console.print("[yellow]quota:[/yellow] this run's --max-calls budget is spent.", highlight=False)
    for w in report.warnings:
        console.print(f"[yellow]note:[/yellow] {escape(w)}", highlight=False, soft_wrap=True)
    if report.csv_path:
        console.print(f"track table: {escape(report.csv_path)} ({rows:,} tracks)")


@app.command()
def login(
    no_browser: bool = typer.Option(False, "--no-browser",
                                    help="Print the sign-in address and paste back the address you land on "
                                         "(for a machine without a browser)."),
    home: Optional[Path] = typer.Option(None, "--home", help="Home directory (default: $SPOTIFY_MODEL_HOME or .)."),
) -> None:
    """Sign in to Spotify once (the token is saved privately under data/) and check what your app may use."""
    from spotify_modeling.sources.auth import login as do_login

    h = Home.from_env(home)
    require_writable(h.data)
    h.data.mkdir(parents=True, exist_ok=True)

    def show(url: str) -> None:
        if no_browser:
            console.print("Open this address in a browser, sign in, then paste the address it sends you to:")
        else:
            console.print("Opening your browser to sign in (if nothing opens, visit this address):")
        console.print(url, soft_wrap=True, highlight=False)

    result = do_login(h, no_browser=no_browser, show_url=show, input_fn=lambda prompt: input(prompt))
    console.print(f"[bold]Logged in[/bold] as {escape(str(result.get('display_name') or result.get('user_id')))}.")
    t = Table(show_header=False, box=None, padding=(0, 2))
    for name, state in (result.get("probe") or {}).items():
        t.add_row(name, state)
    console.print(t)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _print_import_summary(result, s: dict, csv_path: Path) -> None:
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(result.files_by_kind.items())) or "none"
    if result.already_imported:
        console.print(f"[bold]Export already imported[/bold] ({escape(str(result.export))}): nothing changed.")
    else:
        console.print(f"[bold]Imported[/bold] {escape(str(result.export))}: {result.new_files} new file(s), "
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
    t.add_row("history CSV", escape(str(csv_path)))
    console.print(t)


def _log_bug(exc: BaseException) -> Path:
    import tempfile

    from spotify_modeling import home as home_mod

    text = (f"--- {datetime.now(timezone.utc).isoformat()} spotify-model {__version__} {sys.argv[1:]!r}\n"
            + "".join(traceback.format_exception(exc)))
    places = [Path(tempfile.gettempdir()) / "spotify-model.log"]
    try:  # no home at all (e.g. the current folder was deleted): the temp folder only
        places.insert(0, (home_mod.last_resolved or Home.from_env()).log_path)
    except OSError:
        pass
    for path in places:
        try:  # a read-only home must not turn the bug report itself into a traceback
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(text)
            return path
        except OSError:
            continue
    return path


def _disk_full(exc: BaseException) -> bool:
    """No space left on the device, as the OS (ENOSPC, EDQUOT) or SQLite ("database or disk is full") says it."""
    import errno
    import sqlite3

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)


#: What Ctrl-C leaves behind, and the next step.
INTERRUPTED = ("interrupted: every finished step is kept; the one under way was rolled back. "
               "Run the same command again to continue.")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line and their exit code; bugs are logged, exit 1."""
    try:
        code = app(args=argv, standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into a returned 130 when not standalone
            err_console.print(INTERRUPTED, highlight=False, soft_wrap=True)
        return code if isinstance(code, int) else 0
    except UserError as err:
        err_console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        return err.exit_code
    except (typer.Exit, SystemExit) as ex:
        code = getattr(ex, "exit_code", None)
        if code is None:
            code = getattr(ex, "code", 0)
        return int(code or 0)
    except typer.Abort:   # input ended (or Ctrl-C) at a prompt
        err_console.print("aborted: the command stopped waiting for your answer; run it again in a terminal "
                          "and answer its prompt.", highlight=False, soft_wrap=True)
        return 130
    except KeyboardInterrupt:
        err_console.print(INTERRUPTED, highlight=False, soft_wrap=True)
        return 130
    except Exception as exc:
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            # a usage error from the command-line parser (exit code 2): one line, like every other refusal
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "format_message"):
                exc.show()
            else:
                message = exc.format_message().rstrip(".") + "."
                where = f" See `{ctx.command_path if ctx is not None else 'spotify-model'} --help`."
                err_console.print(f"[red]error:[/red] {escape(message + where)}", highlight=False, soft_wrap=True)
            return exc.exit_code
        if _disk_full(exc):   # not a bug: the step under way was rolled back, the finished ones are kept
            err_console.print(f"[red]error:[/red] the disk is full ({escape(str(exc))}). Free some space and run the "
                              "same command again: every finished step is kept.", highlight=False, soft_wrap=True)
            return EXIT_BUG
        path = _log_bug(exc)
        what = f"{type(exc).__name__}: {exc} (details logged to {path})"
        err_console.print(f"[red]unexpected error:[/red] {escape(what)}", highlight=False, soft_wrap=True)
        return EXIT_BUG


def run() -> None:
    sys.exit(main())

