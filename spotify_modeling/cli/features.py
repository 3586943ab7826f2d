"""`spotify-model features` (import the export, enrich it within the quotas, train stage 1) and `login`."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from spotify_modeling.cli.app import app, console, err_console, print_path, require_writable, say_waiting
from spotify_modeling.home import Home, lock_wait


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
    from spotify_modeling.db import history
    from spotify_modeling.db.store import Store
    from spotify_modeling.errors import BadInput, NeedsLogin
    from spotify_modeling.pipeline.enrich import (FEATURES_SOURCES, GENRES_SOURCES, stored_features_source,
                                                  write_track_features_csv)
    from spotify_modeling.pipeline.ingest import history_summary, import_export, write_history_csv

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
    if parsed == WEB_API:
        if offline:
            raise BadInput("No export given and none found in data/raw/, and --offline forbids reading what Spotify "
                           "knows about you.", "Pass your export, or run without --offline.")
        from spotify_modeling.sources import SpotifyClient

        SpotifyClient.from_env(h)   # no usable login: exit 77 now, before the home is touched
    wait = lock_wait()                     # a bad SPOTIFY_MODEL_LOCK_WAIT is refused before the home is touched too
    h.ensure()
    csv_path = h.processed / "streaming_history.csv"
    with h.lock(wait, on_wait=say_waiting), Store.open(h) as store:
        if parsed == WEB_API:
            _import_web_api(h, store, max_calls)
        elif parsed is not None:
            result = import_export(store, parsed)
            if not result.already_imported or not csv_path.exists():
                write_history_csv(store, csv_path)
            _print_import_summary(result, history_summary(store), csv_path)
        else:
            console.print(f"Continuing with the export already imported "
                          f"({history.play_count(store):,} plays); "
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
        spotify, reccobeats, musicbrainz, deezer = _enrichment_clients(h, store, max_calls, genres_source,
                                                                       features_source)
        report = _run_enrichment(store, spotify, reccobeats, musicbrainz, genres_source, features_source,
                                 features_csv, release_dates, details_calls, deezer)
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
            from spotify_modeling.cli.weekly import print_train_report
            from spotify_modeling.pipeline.train import train_after_features

            retrain = train_after_features(store, h)
            if retrain.report is not None:
                print_train_report(retrain.report)
            elif retrain.waiting:
                console.print(f"[yellow]note:[/yellow] {retrain.waiting}")
            else:
                console.print(retrain.up_to_date)
    if report.exit_code:
        raise _stop_error(report)


def _import_web_api(h: Home, store, max_calls) -> None:
    """No export yet: stage 1 starts from your Liked Songs, top tracks, own playlists and recently played."""
    from spotify_modeling.db.store import utc_now
    from spotify_modeling.pipeline.webapi import import_from_web_api
    from spotify_modeling.sources import SpotifyClient

    done = store.get_kv("webapi_imported_at")
    if done and (datetime.now(timezone.utc) - datetime.strptime(done, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc)).days < WEB_API_FRESH_DAYS:
        console.print(f"No export yet: continuing with what Spotify told on {done[:10]} (your Liked Songs, top "
                      "tracks and playlists); pass your export when it arrives.")
        return
    spotify = SpotifyClient.from_env(h, recorder=store, max_calls=max_calls)
    got = import_from_web_api(store, spotify, progress=lambda m: console.print(f"[dim]{m}…[/dim]"))
    with store.transaction():
        store.set_kv("webapi_imported_at", utc_now())
    n = got.tracks_by_signal
    console.print(f"No export yet, so stage 1 starts from what Spotify knows about you: {got.tracks:,} tracks "
                  f"({n.get('saved', 0):,} Liked Songs; top tracks {n.get('top_short', 0)} / {n.get('top_medium', 0)} "
                  f"/ {n.get('top_long', 0)} of the last 4 weeks / 6 months / years; {n.get('playlist', 0):,} in "
                  f"{got.playlists} playlists of yours; {n.get('recent', 0)} played last). When your data export "
                  "arrives, `spotify-model features EXPORT` adds its plays: nothing is counted twice.",
                  highlight=False, soft_wrap=True)
    for note in got.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)


def _check_features_csv(path: Path) -> None:
    """Refuse a features table without the columns it needs now, not after the import and the metadata calls."""
    from spotify_modeling.pipeline.enrich import read_features_csv
    from spotify_modeling.errors import BadInput

    try:
        read_features_csv(path)   # the whole table: a bad cell is refused before the import, not half-way
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


#: `_export_to_import`'s answer when there is no export yet but a Spotify app: read what the Web API knows
WEB_API = "web-api"
#: a Web API read newer than this is not repeated (its calls are scarce): `features` continues with it
WEB_API_FRESH_DAYS = 7


def _export_to_import(h: Home, export: Optional[Path]):
    """The parsed export to import, `WEB_API` (no export yet: start from the Web API), or None to continue with the
    one already in the store.

    Without an argument the newest export in data/raw/ is imported when it is newer than the last import.
    """
    from spotify_modeling.errors import BadInput
    from spotify_modeling.core.export import read_export
    from spotify_modeling.pipeline.ingest import find_newest_export, require_history

    if export is not None:
        return _require_plays(require_history(read_export(export)))
    last = None
    if h.db_path.exists():
        from spotify_modeling.db import history
        from spotify_modeling.db.store import Store

        with Store.open(h) as store:
            last = history.last_import_time(store)
    try:
        newest = find_newest_export(h.raw)
    except BadInput as err:
        if last is None:
            if os.environ.get("SPOTIPY_CLIENT_ID", "").strip():
                return WEB_API   # logged in (or about to be told to log in): start from what Spotify knows
            raise BadInput(err.message, "Pass your Spotify export (zip or folder) or put it in data/raw/; before "
                           "it arrives, `spotify-model login` and then `spotify-model features` start from your "
                           "Liked Songs and top tracks.") from None
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
    """Spotify (None when there is no login and nothing asked for needs it), ReccoBeats, MusicBrainz and Deezer
    clients (Deezer None when SPOTIFY_MODEL_DEEZER_URL is `off`)."""
    from spotify_modeling.errors import NeedsLogin
    from spotify_modeling import sources
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
    deezer = sources.DeezerClient(recorder=store) if sources.deezer_url_from_env() else None
    return spotify, reccobeats, musicbrainz, deezer


def _run_enrichment(store, spotify, reccobeats, musicbrainz, genres_source, features_source, features_csv,
                    release_dates, details_calls, deezer=None):
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
                              musicbrainz=musicbrainz, release_dates=release_dates, deezer=deezer,
                              progress=progress, **limit)


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
    daily = report.exhausted_groups - report.rate_limited_groups
    if report.exhausted_groups:
        when = report.retry_at
        parts = []
        if daily:
            parts.append(f"Spotify's daily limit reached for {', '.join(sorted(daily))} calls")
        if report.rate_limited_groups:
            parts.append(f"Spotify's short-term rate limit (not the daily limit) stopped "
                         f"{', '.join(sorted(report.rate_limited_groups))} calls")
        what = "; ".join(parts)
        console.print(f"[yellow]quota:[/yellow] {what}"
                      + (f"; Spotify suggests trying again after {when:%Y-%m-%d %H:%M} UTC." if when else "."),
                      highlight=False, soft_wrap=True)
    elif report.stopped == "budget":
        console.print("[yellow]quota:[/yellow] this run's --max-calls budget is spent.", highlight=False)
    for w in report.warnings:
        console.print(f"[yellow]note:[/yellow] {escape(w)}", highlight=False, soft_wrap=True)
    if report.csv_path:
        console.print(f"track table ({rows:,} tracks):", highlight=False)
        print_path(report.csv_path)


@app.command(help="Sign in to Spotify once (the token is saved privately under data/) and check what your app may "
                  "use.\n\n"
                  "Needs your own Spotify app: set SPOTIPY_CLIENT_ID to its Client ID (SPOTIPY_CLIENT_SECRET is "
                  "optional) and add http://127.0.0.1:8888/callback under its Redirect URIs, or add another "
                  "http://127.0.0.1 address with a port and set SPOTIPY_REDIRECT_URI to it (Spotify refuses "
                  "localhost). How to make the app: docs/usage.md, \"Connect to Spotify (once)\".")
def login(
    no_browser: bool = typer.Option(False, "--no-browser",
                                    help="Print the sign-in address and paste back the address you land on "
                                         "(for a machine without a browser)."),
    home: Optional[Path] = typer.Option(None, "--home", help="Home directory (default: $SPOTIFY_MODEL_HOME or .)."),
) -> None:
    """Sign in to Spotify and check what the app may use (the help text is the decorator's, one paragraph a line)."""
    from spotify_modeling.sources.auth import login_redirect_uri
    from spotify_modeling.sources.login import login as do_login

    h = Home.from_env(home)
    login_redirect_uri()          # an address Spotify refuses: one line, before anything is written or sent
    require_writable(h.data)
    h.data.mkdir(parents=True, exist_ok=True)

    def show(url: str) -> None:
        if no_browser:
            console.print("Open this address in a browser, sign in, then paste the address it sends you to:")
        else:
            console.print("Opening your browser to sign in (if nothing opens, visit this address):")
        console.print(url, soft_wrap=True, highlight=False)

    def waiting(redirect_uri: str, timeout: float) -> None:
        console.print(f"Waiting up to {_duration(timeout)} for Spotify to send your browser back to {redirect_uri}.",
                      soft_wrap=True, highlight=False, markup=False)
        console.print("No browser on this machine? Press Ctrl-C and run `spotify-model login --no-browser`.",
                      soft_wrap=True, highlight=False, markup=False)

    result = do_login(h, no_browser=no_browser, show_url=show, on_wait=waiting,
                      input_fn=lambda prompt: input(prompt))
    console.print(f"[bold]Logged in[/bold] as {escape(str(result.get('display_name') or result.get('user_id')))}.")
    t = Table(show_header=False, box=None, padding=(0, 2))
    for name, state in (result.get("probe") or {}).items():
        t.add_row(name, state)
    console.print(t)


def _duration(seconds: float) -> str:
    """300 -> "5 minutes", 90 -> "90 seconds"."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _print_import_summary(result, s: dict, csv_path: Path) -> None:
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(result.files_by_kind.items())) or "none"
    if result.already_imported:   # soft_wrap: a long path is never folded at the terminal's width
        console.print(f"[bold]Export already imported[/bold] ({escape(str(result.export))}): nothing changed.",
                      soft_wrap=True)
    else:
        console.print(f"[bold]Imported[/bold] {escape(str(result.export))}: {result.new_files} new file(s), "
                      f"{result.plays_added:,} plays added"
                      + (f", {result.plays_already_known:,} already known" if result.plays_already_known else "")
                      + (f", {result.dropped_non_music:,} podcast/audiobook streams skipped"
                         if result.dropped_non_music else "") + ".", soft_wrap=True)
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
    console.print(t)
    console.print("history CSV (one row per play):", highlight=False)
    print_path(csv_path)           # on its own line: a table cell would cut it at the terminal's width
    notes = getattr(result, "notes", [])
    for note in notes[:10]:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)
    if len(notes) > 10:
        console.print(f"[yellow]note:[/yellow] and {len(notes) - 10} more.", highlight=False)
