"""`spotify-model features`: import the export, enrich it within the quotas, train stage 1."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from spotify_modeling.cli.app import app, console, err_console, print_path, require_writable, say_waiting
from spotify_modeling.errors import BadInput, NeedsLogin, QuotaExhausted, ServiceUnavailable
from spotify_modeling.home import Home


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
    from spotify_modeling.pipeline.enrich import FEATURES_SOURCES, GENRES_SOURCES
    from spotify_modeling.pipeline.features import FeaturesOptions, run_features

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
    opts = FeaturesOptions(genres_source=genres_source, features_source=features_source, features_csv=features_csv,
                           release_dates=release_dates, details_calls=details_calls, max_calls=max_calls,
                           offline=offline)
    report = run_features(h, export, opts, ConsoleReporter())
    if report is not None and report.exit_code:
        raise _stop_error(report)


class ConsoleReporter:
    """`run_features`' progress on the terminal: the import, the enrichment's bars and tables, the training."""

    def __init__(self):
        self._bars = None
        self._tasks: dict[str, int] = {}

    def waiting(self, holder) -> None:
        say_waiting(holder)

    def step(self, text: str) -> None:
        console.print(f"[dim]{text}…[/dim]")

    def imported(self, result, summary: dict, csv_path: Path) -> None:
        _print_import_summary(result, summary, csv_path)

    def continuing(self, plays: int) -> None:
        console.print(f"Continuing with the export already imported ({plays:,} plays); "
                      "pass an export to import a newer one.")

    def web_api(self, got, fresh_since: str | None) -> None:
        if got is None:
            console.print(f"No export yet: continuing with what Spotify told on {fresh_since[:10]} (your Liked "
                          "Songs, top tracks and playlists); pass your export when it arrives.")
            return
        n = got.tracks_by_signal
        console.print(f"No export yet, so stage 1 starts from what Spotify knows about you: {got.tracks:,} tracks "
                      f"({n.get('saved', 0):,} Liked Songs; top tracks {n.get('top_short', 0)} / "
                      f"{n.get('top_medium', 0)} / {n.get('top_long', 0)} of the last 4 weeks / 6 months / years; "
                      f"{n.get('playlist', 0):,} in {got.playlists} playlists of yours; {n.get('recent', 0)} played "
                      "last). When your data export arrives, `spotify-model features EXPORT` adds its plays: nothing "
                      "is counted twice.", highlight=False, soft_wrap=True)
        for note in got.notes:
            self.note(note)

    def note(self, text: str) -> None:
        console.print(f"[yellow]note:[/yellow] {escape(text)}", highlight=False, soft_wrap=True)

    def quiet(self, text: str) -> None:
        console.print(f"[dim]{escape(text)}[/dim]")

    def warn(self, text: str) -> None:
        err_console.print(f"[yellow]note:[/yellow] {escape(text)}", highlight=False)

    def progress(self, step: str, done: int, total: int) -> None:
        if self._bars is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), console=console, transient=False)
            self._bars.start()
        if step not in self._tasks:
            self._tasks[step] = self._bars.add_task(step, total=max(total, 1) if total else 0)
        self._bars.update(self._tasks[step], completed=done, total=total)

    def enriched(self, report, rows: int) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
        _print_enrich_summary(report, rows)

    def trained(self, retrain) -> None:
        from spotify_modeling.cli.candidates import print_train_report   # not at the top: `--help` would list train first

        if retrain.report is not None:
            print_train_report(retrain.report)
        elif retrain.waiting:
            console.print(f"[yellow]note:[/yellow] {retrain.waiting}")
        else:
            console.print(retrain.up_to_date)


def _check_features_csv(path: Path) -> None:
    """Refuse a features table without the columns it needs now, not after the import and the metadata calls."""
    from spotify_modeling.pipeline.enrich import read_features_csv

    try:
        read_features_csv(path)   # the whole table: a bad cell is refused before the import, not half-way
    except BadInput as err:
        raise BadInput(err.message.rstrip(".") + "; nothing was changed.", err.hint) from None


def _stop_error(report):
    """The one-line error (and exit code) for a run that stopped early; everything fetched is already stored."""
    kind = {"auth": NeedsLogin, "unavailable": ServiceUnavailable}.get(report.stopped, QuotaExhausted)
    message = (report.message or "Enrichment stopped early.").split(" Everything fetched")[0]
    hint = "Everything fetched so far is kept; run `spotify-model features` again to continue"
    if report.stopped == "auth":
        hint = "Run `spotify-model login`, then `spotify-model features` again to continue"
    elif report.retry_at is not None:
        hint += f" after {report.retry_at:%Y-%m-%d %H:%M} UTC"
    return kind(f"stopped: {message}", hint + ".")


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
