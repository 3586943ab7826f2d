"""The `features` command's pipeline: find the export, import it (or start from the Web API), enrich, write the CSV
views, retrain stage 1. The CLI and the demo both run it; what they show is theirs (`FeaturesReporter`).

All the steps run under the home's lock; every write is its own transaction, so a stop at any point (a quota wall,
an outage, a kill) keeps what was done and the next run continues from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Protocol

from spotify_modeling.errors import BadInput, NeedsLogin
from spotify_modeling.home import Home, lock_wait

#: `find_export`'s answer when there is no export yet but a Spotify app: read what the Web API knows
WEB_API = "web-api"
#: a Web API read newer than this is not repeated (its calls are scarce): `features` continues with it
WEB_API_FRESH_DAYS = 7


@dataclass
class FeaturesOptions:
    """What `spotify-model features` was asked to do (the CLI's flags, validated)."""

    genres_source: str = "spotify"
    features_source: str = "reccobeats"
    features_csv: Path | None = None
    release_dates: bool = False
    details_calls: int | None = None
    max_calls: int | None = None
    offline: bool = False


class FeaturesReporter(Protocol):
    """What the pipeline tells as it goes (every method may do nothing)."""

    def waiting(self, holder: Any) -> None: ...                     # another run holds the home's lock
    def step(self, text: str) -> None: ...                          # a step of the Web API read begins
    def imported(self, result, summary: dict, csv_path: Path) -> None: ...
    def continuing(self, plays: int) -> None: ...                   # no new export: the one already imported
    def web_api(self, got, fresh_since: str | None) -> None: ...    # what the Web API gave (or: read on that day)
    def note(self, text: str) -> None: ...                          # worth knowing, not a problem
    def quiet(self, text: str) -> None: ...                         # what the options asked for
    def warn(self, text: str) -> None: ...                          # a problem the run works around
    def progress(self, step: str, done: int, total: int) -> None: ...
    def enriched(self, report, rows: int) -> None: ...
    def trained(self, retrain) -> None: ...


@dataclass
class Clients:
    spotify: Any
    reccobeats: Any
    musicbrainz: Any
    deezer: Any


def find_export(h: Home, export: Path | None):
    """The parsed export to import, `WEB_API` (no export yet: start from the Web API), or None to continue with the
    one already in the store. Without an argument the newest export in data/raw/ is imported when it is newer than
    the last import. Raises BadInput on a bad path or file, before the home is touched."""
    from spotify_modeling.core.export import read_export
    from spotify_modeling.pipeline.ingest import find_newest_export, require_history

    if export is not None:
        return require_plays(require_history(read_export(export)))
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
    return require_plays(require_history(read_export(newest)))


def require_plays(parsed):
    """Refuse an export whose history files hold no music plays, before a store is made for nothing."""
    if not any(parsed.plays.values()):
        podcasts = (f" ({parsed.dropped_non_music:,} podcast/audiobook streams only)"
                    if parsed.dropped_non_music else "")
        raise BadInput(f"{parsed.source} holds no music plays{podcasts}; nothing was imported.",
                       "Check that you passed your whole Spotify data export.")
    return parsed


def default_clients(h: Home, store, opts: FeaturesOptions, note: Callable[[str], None]) -> Clients:
    """Spotify (None when there is no login and nothing asked for needs it), ReccoBeats, MusicBrainz and Deezer
    clients (Deezer None when SPOTIFY_MODEL_DEEZER_URL is `off`)."""
    from spotify_modeling import sources

    try:
        spotify = sources.SpotifyClient.from_env(h, recorder=store, max_calls=opts.max_calls)
    except NeedsLogin:
        if opts.genres_source == "spotify" or opts.features_source == "spotify":
            raise
        note("not logged in to Spotify: plays without a track id stay unresolved (run `spotify-model login` to "
             "find them).")
        spotify = None
    reccobeats = sources.ReccoBeatsClient(recorder=store)
    musicbrainz = sources.MusicBrainzClient() if opts.genres_source == "musicbrainz" else None
    deezer = sources.DeezerClient(recorder=store) if sources.deezer_url_from_env() else None
    return Clients(spotify, reccobeats, musicbrainz, deezer)


def import_web_api(h: Home, store, opts: FeaturesOptions, reporter: FeaturesReporter, spotify=None) -> None:
    """No export yet: stage 1 starts from your Liked Songs, top tracks, own playlists and recently played (read
    again at most once a week)."""
    from spotify_modeling.db.store import utc_now
    from spotify_modeling.pipeline.webapi import import_from_web_api
    from spotify_modeling.sources import SpotifyClient

    done = store.get_kv("webapi_imported_at")
    if done and (datetime.now(timezone.utc) - datetime.strptime(done, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc)).days < WEB_API_FRESH_DAYS:
        reporter.web_api(None, done)
        return
    spotify = spotify or SpotifyClient.from_env(h, recorder=store, max_calls=opts.max_calls)
    got = import_from_web_api(store, spotify, progress=reporter.step)
    with store.transaction():
        store.set_kv("webapi_imported_at", utc_now())
    reporter.web_api(got, None)


def run_features(h: Home, export: Path | None, opts: FeaturesOptions, reporter: FeaturesReporter,
                 make_clients: Callable[..., Clients] | None = None):
    """`spotify-model features`: returns the enrichment report (None when nothing was enriched: offline, or no
    Spotify app set up); raises BadInput / NeedsLogin as the command's refusals."""
    from spotify_modeling.db import history
    from spotify_modeling.db.store import Store
    from spotify_modeling.pipeline.enrich import enrich_history, stored_features_source, write_track_features_csv
    from spotify_modeling.pipeline.ingest import history_summary, import_export, write_history_csv
    from spotify_modeling.pipeline.train import train_after_features

    parsed = find_export(h, export)
    if parsed == WEB_API:
        if opts.offline:
            raise BadInput("No export given and none found in data/raw/, and --offline forbids reading what Spotify "
                           "knows about you.", "Pass your export, or run without --offline.")
        from spotify_modeling.sources import SpotifyClient

        SpotifyClient.from_env(h)   # no usable login: exit 77 now, before the home is touched
    wait = lock_wait()              # a bad SPOTIFY_MODEL_LOCK_WAIT is refused before the home is touched too
    h.ensure()
    csv_path = h.processed / "streaming_history.csv"
    with h.lock(wait, on_wait=reporter.waiting), Store.open(h) as store:
        if parsed == WEB_API:
            import_web_api(h, store, opts, reporter)
        elif parsed is not None:
            result = import_export(store, parsed)
            if not result.already_imported or not csv_path.exists():
                write_history_csv(store, csv_path)
            reporter.imported(result, history_summary(store), csv_path)
        else:
            reporter.continuing(history.play_count(store))
        if opts.offline:
            reporter.quiet("--offline: no enrichment (track ids, features and genres need the network).")
            return None
        if not os.environ.get("SPOTIPY_CLIENT_ID", "").strip():
            # Never set up: treat as offline rather than an error (a logged-out but configured user gets exit 77).
            reporter.note("imported only: no Spotify app is configured (SPOTIPY_CLIENT_ID), so track ids, audio "
                          "features and genres were not fetched. See `spotify-model login`.")
            return None
        clients = (make_clients or default_clients)(h, store, opts, reporter.warn)
        limit = {} if opts.details_calls is None else {"details_calls": opts.details_calls}
        report = enrich_history(store, clients.spotify, clients.reccobeats, genres_source=opts.genres_source,
                                features_source=opts.features_source, features_csv=opts.features_csv,
                                musicbrainz=clients.musicbrainz, release_dates=opts.release_dates,
                                deezer=clients.deezer, progress=reporter.progress, **limit)
        out_csv = h.processed / "track_features.csv"
        rows = write_track_features_csv(store, out_csv, features_source=stored_features_source(
            opts.features_source, opts.features_csv))
        report.csv_path = str(out_csv)
        reporter.enriched(report, rows)
        if clients.spotify is None and opts.genres_source == "spotify":
            raise NeedsLogin("Enrichment from Spotify needs a login: the import is kept.",
                             "Run `spotify-model login`, then `spotify-model features` again "
                             "(or use --genres-source musicbrainz).")
        if report.exit_code in (0, 75):
            reporter.trained(train_after_features(store, h))
    return report


__all__ = ["WEB_API", "WEB_API_FRESH_DAYS", "FeaturesOptions", "FeaturesReporter", "Clients", "find_export",
           "require_plays", "default_clients", "import_web_api", "run_features"]
