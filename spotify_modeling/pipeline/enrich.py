"""Fill the store from the web services, most-played first, resumably, within Spotify's scarce daily quotas.

Why this shape: Spotify allows a few hundred calls per endpoint group per day and one item per call, so every answer
is written to the store as soon as it arrives (misses included) and nothing is ever asked twice. A quota wall, the
run's own call budget, an outage or an expired login stop the current step cleanly; steps that need another quota
group or no Spotify at all still run. The caller gets a report saying how far each step got.

Steps, in order: track ids (Deezer search -> ISRC -> ReccoBeats, no Spotify quota; then Spotify search for the
rest) -> track metadata (ReccoBeats, `trackdone` plays, then Spotify) -> audio features -> artist genres ->
optionally release dates (Spotify `/tracks/{id}`).

Names are asked once per query (`core.matching.query_key`: names that differ only in case, punctuation or a
version suffix share it), and every answer, an empty one included, is stored (`db.tracks` api_answers,
`enrich_misses`) before the next call, so a resumed run repeats no Deezer, ReccoBeats or Spotify call.
"""

from __future__ import annotations

import csv
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from spotify_modeling.atomic import write_csv
from spotify_modeling.errors import BadInput, CallBudgetSpent, NeedsLogin, QuotaExhausted, ServiceUnavailable
from spotify_modeling.core.featurize import FEATURE_RANGES
from spotify_modeling.core.matching import MatchCandidate, best_match, match_candidates, query_key, search_query  # noqa: F401 (best_match: enrich's name for it)
from spotify_modeling.core.normalize import norm_artist
from spotify_modeling.db import history, library, tracks
from spotify_modeling.db.store import Store
from spotify_modeling.db.tracks import FEATURE_COLUMNS
from spotify_modeling.db.model_table import (KV_FEATURES_CSV, KV_FEATURES_SOURCE, KV_GENRES_SOURCE, coverage,
                                             describe_tracks)
from spotify_modeling.sources import MusicBrainzClient
from spotify_modeling.sources.errors import ApiError, Forbidden, RateLimited
from spotify_modeling.core.records import CreditedArtist, TrackRecord

GENRES_SOURCES = ("spotify", "musicbrainz", "none")
FEATURES_SOURCES = ("reccobeats", "spotify", "csv")
RECCOBEATS_BATCH = 40
DEEZER_STEP = "track ids (Deezer)"
DEEZER_CHUNK = 40   # query groups per round: their searches and tracks, then one ReccoBeats call for their ISRCs
TOP_TERMS = ("long_term", "medium_term", "short_term")
TOP_ARTISTS_MAX_AGE = timedelta(days=30)

Progress = Callable[[str, int, int], Any]  # (step label, done, total)


def _no_progress(step: str, done: int, total: int) -> None:
    return None


# ------------------------------------------------------------------------------------------------ reports
@dataclass
class StepReport:
    """How far one step got: `done` of `todo` items, and why it stopped early (if it did)."""

    name: str
    todo: int = 0
    done: int = 0
    found: int = 0
    stopped: str | None = None      # quota | budget | unavailable | auth | skipped
    message: str | None = None

    @property
    def complete(self) -> bool:
        return self.stopped is None


@dataclass
class EnrichReport:
    steps: list[StepReport] = field(default_factory=list)
    stopped: str | None = None      # the most serious stop: auth > unavailable > quota > budget
    message: str | None = None
    retry_after: float | None = None
    quota_group: str | None = None
    exhausted_groups: set[str] = field(default_factory=set)
    rate_limited_groups: set[str] = field(default_factory=set)   # of those: a long rate limit, not the daily quota
    warnings: list[str] = field(default_factory=list)
    calls_this_run: dict[str, int] = field(default_factory=dict)
    calls_today: dict[str, int] = field(default_factory=dict)
    coverage: dict[str, Any] = field(default_factory=dict)
    csv_path: str | None = None

    def step(self, name: str) -> StepReport:
        s = StepReport(name)
        self.steps.append(s)
        return s

    @property
    def retry_at(self) -> datetime | None:
        if self.retry_after is None:
            return None
        return datetime.now(timezone.utc) + timedelta(seconds=self.retry_after)

    @property
    def exit_code(self) -> int:
        return {"auth": 77, "unavailable": 69, "quota": 75, "budget": 75}.get(self.stopped or "", 0)


_SEVERITY = {"budget": 1, "quota": 2, "unavailable": 3, "auth": 4}


def _classify(err: Exception) -> str:
    if isinstance(err, CallBudgetSpent):
        return "budget"
    if isinstance(err, QuotaExhausted):
        return "quota"
    if isinstance(err, ServiceUnavailable):
        return "unavailable"
    return "auth"


class _Run:
    """Bookkeeping shared by the steps of one run: which stops happened, which quota groups are spent."""

    def __init__(self, store: Store, report: EnrichReport, progress: Progress | None):
        self.store = store
        self.report = report
        self.progress = progress or _no_progress

    def blocked(self, groups: Iterable[str] = (), spotify: bool = True) -> str | None:
        """Why a step may not start: the whole run is over, or (for Spotify steps) budget/quota is gone."""
        stop = self.report.stopped
        if stop in ("auth", "unavailable"):
            return stop
        if spotify and stop == "budget":
            return "budget"
        if spotify and any(g in self.report.exhausted_groups for g in groups):
            return "quota"
        return None

    def stopped(self, step: StepReport, err: Exception) -> None:
        reason = _classify(err)
        step.stopped = reason
        step.message = str(err)
        r = self.report
        if reason == "quota":
            r.exhausted_groups.add(getattr(err, "group", None) or "?")
            if isinstance(err, RateLimited):
                r.rate_limited_groups.add(getattr(err, "group", None) or "?")
        if r.stopped is None or _SEVERITY[reason] > _SEVERITY[r.stopped]:
            r.stopped, r.message = reason, str(err)
        if isinstance(err, QuotaExhausted) and err.retry_after is not None:
            if r.retry_after is None or err.retry_after > r.retry_after:
                r.retry_after, r.quota_group = err.retry_after, err.group


def _guard(run: _Run, step: StepReport, body: Callable[[], Any]) -> None:
    """Run one step; a quota wall, budget, outage or login problem ends it, keeping what was written.

    An unplanned refusal (e.g. a service changed its API) ends only this step, with a warning in the report.
    """
    try:
        body()
    except (QuotaExhausted, ServiceUnavailable, NeedsLogin) as err:
        run.stopped(step, err)
    except ApiError as err:
        step.stopped, step.message = "error", str(err)
        run.report.warnings.append(f"{step.name}: {err}")


# ------------------------------------------------------------------------------------------------ 1. track ids
def _apply_lookups(store: Store) -> None:
    """Plays/playlist rows without an id take the one a previous look-up found for the same name (no calls)."""
    with store.transaction() as conn:
        history.fill_ids_from_lookups(conn)
        library.fill_ids_from_lookups(conn)


Name = tuple  # (name key, plays, title, artist) as `history.unresolved_names` gives them


def _query_groups(names: Sequence[Name]) -> list[tuple[str, list[Name]]]:
    """Names grouped by the query they ask (`query_key`), in the order given (most played first)."""
    groups: dict[str, list[Name]] = {}
    for name in names:
        groups.setdefault(query_key(name[2], name[3] or ""), []).append(name)
    return list(groups.items())


def _record_candidate(r: TrackRecord) -> MatchCandidate:
    return MatchCandidate(r.id, r.name, tuple(r.artist_names), r.duration_ms)


def resolve_track_ids(store: Store, spotify, progress: Progress | None = None,
                      step: StepReport | None = None) -> StepReport:
    """Search Spotify once per query (names that differ only in case, punctuation or a suffix share one), most
    played first; the answer is stored with the query, and every name's hit or miss is remembered."""
    step = step or StepReport("track ids")
    progress = progress or _no_progress
    _apply_lookups(store)
    todo = history.unresolved_names(store)
    lengths = tracks.name_play_lengths(store)
    answered = tracks.spotify_searches(store)
    step.todo = len(todo)
    progress(step.name, 0, step.todo)
    for qk, names in _query_groups(todo):
        results = answered.get(qk)
        new = results is None
        if new:
            _, _, title, artist = names[0]
            try:
                items, _total = spotify.search_track_records(search_query(title, artist or ""), limit=10)
            except Forbidden:
                raise
            except ApiError:
                items = []  # a query Spotify refuses (400) cannot succeed later either: a miss
            results = [r for r in items if not r.is_local]
            answered[qk] = results
        cands = [_record_candidate(r) for r in results]
        by_id = {r.id: r for r in results}
        with store.transaction() as conn:
            if new:
                tracks.save_spotify_search(conn, qk, results)
            for key, _, title, artist in names:
                longest, done = lengths.get(key, (None, None))
                match = match_candidates(cands, title, artist or "", longest_ms=longest, done_ms=done).candidate
                tid = by_id[match.key].id if match is not None else None
                if tid is not None:
                    tracks.upsert_tracks(conn, [by_id[tid]], "search")
                    history.set_id_for_name(conn, key, tid)
                    library.set_id_for_name(conn, key, tid)
                tracks.record_lookup(conn, key, tid, "search" if tid else "miss")
                step.found += tid is not None
        step.done += len(names)
        progress(step.name, step.done, step.todo)
    return step


class _DeezerDown(Exception):
    """Deezer stopped answering (outage, or a rate limit that would not lift): the rest goes to Spotify search."""

    def __init__(self, err: Exception):
        super().__init__(str(err))
        self.err = err


def _ask_deezer(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (QuotaExhausted, ServiceUnavailable) as err:
        raise _DeezerDown(err) from None


def resolve_names_deezer(store: Store, deezer, reccobeats, progress: Progress | None = None,
                         step: StepReport | None = None) -> StepReport:
    """Song names to Spotify ids without Spotify quota: Deezer search (once per query, most played first) -> the
    result that is the song (normalised artist and title, a duration the plays allow, not ambiguous) -> Deezer
    `track/{id}` (ISRC, release date, explicit) -> ReccoBeats `audio-features?ids=<ISRC>` (40 a call: features
    and the Spotify id). What each answered is stored at once, misses too, so nothing is asked twice.

    Names this cannot resolve (Deezer does not know them, an ambiguous answer, no ISRC, ReccoBeats does not know
    the ISRC) are left for Spotify search. Deezer down ends this step with a note (`step.stopped`
    "unavailable"); ReccoBeats down raises as in every ReccoBeats step.
    """
    step = step or StepReport(DEEZER_STEP)
    progress = progress or _no_progress
    _apply_lookups(store)
    todo = history.unresolved_names(store)
    groups = _query_groups(todo)
    lengths = tracks.name_play_lengths(store)
    searched = tracks.deezer_searches(store)
    fetched = tracks.deezer_tracks(store)
    isrc_missed = tracks.misses(store, "reccobeats_isrc")
    step.todo = len(todo)
    progress(step.name, 0, len(groups))
    finished = 0
    for start in range(0, len(groups), DEEZER_CHUNK):
        chunk = groups[start:start + DEEZER_CHUNK]
        chosen: dict[str, tuple[Name, int]] = {}    # name key -> (the name, the Deezer id of its match)
        down: _DeezerDown | None = None
        try:
            for qk, names in chunk:
                if qk not in searched:
                    _, _, title, artist = names[0]
                    try:
                        results = _ask_deezer(lambda: deezer.search(artist or "", title))
                    except ApiError:
                        results = []   # a query Deezer refuses cannot succeed later either: nothing found
                    with store.transaction() as conn:
                        tracks.save_deezer_search(conn, qk, results)
                    searched[qk] = results
                cands = [t.candidate() for t in searched[qk]]
                for name in names:
                    longest, done = lengths.get(name[0], (None, None))
                    match = match_candidates(cands, name[2], name[3] or "", longest_ms=longest, done_ms=done).sure
                    if match is not None:
                        chosen[name[0]] = (name, int(match.key))
                for did in dict.fromkeys(d for n, d in chosen.values() if d not in fetched):
                    try:
                        track = _ask_deezer(lambda: deezer.track(did))
                    except ApiError:
                        track = None
                    with store.transaction() as conn:
                        tracks.save_deezer_track(conn, did, track)
                    fetched[did] = track
                finished += 1
                progress(step.name, finished, len(groups))
        except _DeezerDown as err:
            down = err
        found = _resolve_isrcs(store, reccobeats, chosen, fetched, isrc_missed)
        step.found += found
        step.done += sum(len(names) for _, names in chunk) if down is None else 0
        if down is not None:
            step.stopped = "unavailable"
            step.message = (f"Deezer stopped answering: {down.err.message.rstrip('.')}. The names it did not get to "
                            "were looked up with Spotify search instead, and the next run asks Deezer again.")
            return step
    return step


def _resolve_isrcs(store: Store, reccobeats, chosen: dict[str, tuple[Name, int]], fetched: dict,
                   isrc_missed: set[str]) -> int:
    """The chosen Deezer tracks' ISRCs to Spotify ids: a track the store already has with that ISRC, else ReccoBeats
    (features + id, 40 ISRCs a call); records the tracks, features, look-ups and ReccoBeats' misses. Returns how
    many names got an id."""
    isrc_of: dict[str, tuple[Name, Any]] = {}
    for key, (name, did) in chosen.items():
        track = fetched.get(did)
        if track is not None and track.isrc:
            isrc_of[key] = (name, track)
    if not isrc_of:
        return 0
    wanted = list(dict.fromkeys(t.isrc for _, t in isrc_of.values()))
    known = tracks.ids_for_isrcs(store, wanted)
    ask = [i for i in wanted if i not in known and i not in isrc_missed]
    got = reccobeats.by_isrc(ask) if ask else {}
    found = 0
    with store.transaction() as conn:
        described: set[str] = set()
        for key, (name, track) in isrc_of.items():
            row = got.get(track.isrc)
            tid = known.get(track.isrc) or (row.track_id if row is not None else None)
            if tid is None:
                continue
            if tid not in described:   # Deezer's facts fill what is unknown; ReccoBeats' features come with the id
                described.add(tid)
                tracks.upsert_tracks(conn, [track.track_record(tid, name=name[2], artist=name[3])], "deezer",
                                     fill_only=True)
                if row is not None:
                    tracks.insert_features(conn, tid, "reccobeats", row.features)
            tracks.record_lookup(conn, key, tid, "deezer")
            history.set_id_for_name(conn, key, tid)
            library.set_id_for_name(conn, key, tid)
            found += 1
        missed = [i for i in ask if i not in got]
        tracks.record_misses(conn, missed, "reccobeats_isrc")
    isrc_missed.update(missed)
    return found


# ------------------------------------------------------------------------------------------------ 2. metadata
def fill_metadata_reccobeats(store: Store, ids: Sequence[str], reccobeats, progress: Progress | None = None,
                             step: StepReport | None = None) -> StepReport:
    """Duration, artist ids and ISRC from ReccoBeats `/track`, 40 tracks per call, no Spotify quota."""
    step = step or StepReport("metadata (ReccoBeats)")
    progress = progress or _no_progress
    missed = tracks.misses(store, "reccobeats_track")
    todo = [t for t in tracks.tracks_needing(store, ids, "reccobeats") if t not in missed]
    step.todo = len(todo)
    progress(step.name, 0, step.todo)
    for i in range(0, len(todo), RECCOBEATS_BATCH):
        batch = todo[i:i + RECCOBEATS_BATCH]
        got = reccobeats.track_records(batch)
        with store.transaction() as conn:   # ReccoBeats fills what is unknown, never replaces a fact
            tracks.upsert_tracks(conn, list(got.values()), "reccobeats", fill_only=True)
            tracks.record_misses(conn, [t for t in batch if t not in got], "reccobeats_track")
        step.done += len(batch)
        step.found += len(got)
        progress(step.name, step.done, step.todo)
    return step


def fill_durations_from_plays(store: Store) -> int:
    """A play that ended `trackdone` lasted the whole track: its ms_played is the duration (no call at all)."""
    return tracks.fill_durations_from_plays(store)


def fill_tracks_spotify(store: Store, ids: Sequence[str], spotify, need: str, name: str,
                        progress: Progress | None = None, step: StepReport | None = None,
                        limit: int | None = None) -> StepReport:
    """`GET /tracks/{id}` (one per call) for the tracks that lack what `need` says (`db.tracks.NEEDS`), in the
    order given (most-played first), at most `limit` of them; 404s remembered."""
    step = step or StepReport(name)
    progress = progress or _no_progress
    missed = tracks.misses(store, "spotify_track")
    todo = [t for t in tracks.tracks_needing(store, ids, need) if t not in missed]
    step.todo = len(todo)
    if limit is not None and len(todo) > limit:
        step.message = f"{len(todo) - limit:,} left for later runs (at most {limit} a run)"
        todo = todo[:limit]
    progress(step.name, 0, len(todo))
    for tid in todo:
        try:
            record = spotify.track_record(tid)
        except Forbidden:
            raise
        except ApiError:
            record = None
        with store.transaction() as conn:
            if record is not None:
                tracks.upsert_tracks(conn, [record], "spotify")
                step.found += 1
            else:
                tracks.record_misses(conn, [tid], "spotify_track")
        step.done += 1
        progress(step.name, step.done, len(todo))
    return step


#: `GET /tracks/{id}` calls per `features` run for the release date and explicit flag of history tracks that the
#: export identified by URI (search results carry both already). Without them those tracks differ from every pool
#: track by what is missing; the models balance that (`provenance`), and each call turns one track back into a
#: fully described one. `--release-dates` lifts the cap.
DETAILS_CALLS = 100
DETAILS_STEP = "release date + explicit (Spotify)"
#: ... and before them Deezer, by the track's ISRC (no Spotify quota; at its pace of 50 a 5 s, 1,000 take ~100 s)
DEEZER_DETAILS_CALLS = 1000
DEEZER_DETAILS_STEP = "release date + explicit (Deezer)"


def fill_details_deezer(store: Store, ids: Sequence[str], deezer, progress: Progress | None = None,
                        step: StepReport | None = None, limit: int | None = DEEZER_DETAILS_CALLS) -> StepReport:
    """The release date and explicit flag of tracks the export named by URI, from Deezer's `track/isrc:{ISRC}`
    (the ISRC from ReccoBeats' track facts), most-played first: Deezer's facts are not Spotify content and cost no
    Spotify call. Every ISRC is asked once (found or not); what Deezer does not know ("0000-00-00" is unknown) is
    left for `GET /tracks/{id}`."""
    step = step or StepReport(DEEZER_DETAILS_STEP)
    progress = progress or _no_progress
    asked = tracks.deezer_isrcs_asked(store)
    todo = [(t, i) for t, i in tracks.isrcs_of(store, tracks.tracks_needing(store, ids, "details"))
            if i.strip().upper() not in asked]
    step.todo = len(todo)
    if limit is not None and len(todo) > limit:
        step.message = f"{len(todo) - limit:,} left for later runs (at most {limit:,} a run)"
        todo = todo[:limit]
    progress(step.name, 0, len(todo))
    for tid, isrc in todo:
        try:
            found = _ask_deezer(lambda: deezer.track_by_isrc(isrc))
        except _DeezerDown as err:
            step.stopped = "unavailable"
            step.message = (f"Deezer stopped answering: {err.err.message.rstrip('.')}. The release dates it did "
                            "not get to are left for Spotify and later runs.")
            break
        except ApiError:
            found = None   # an ISRC Deezer refuses cannot succeed later either
        with store.transaction() as conn:
            tracks.save_deezer_isrc(conn, isrc, found)
            if found is not None and (found.release_date or found.explicit is not None):
                tracks.upsert_tracks(conn, [TrackRecord(id=tid, release_date=found.release_date,
                                                        explicit=found.explicit)], "deezer", fill_only=True)
                step.found += 1
        step.done += 1
        progress(step.name, step.done, len(todo))
    return step


# ------------------------------------------------------------------------------------------------ 3. features
def fetch_features_reccobeats(store: Store, ids: Sequence[str], reccobeats, progress: Progress | None = None,
                              step: StepReport | None = None) -> StepReport:
    """Audio features from ReccoBeats, 40 ids per call; ids it does not know are stored `available=0`."""
    step = step or StepReport("audio features (ReccoBeats)")
    progress = progress or _no_progress
    todo = tracks.features_todo(store, ids, "reccobeats")
    step.todo = len(todo)
    progress(step.name, 0, step.todo)
    for i in range(0, len(todo), RECCOBEATS_BATCH):
        batch = todo[i:i + RECCOBEATS_BATCH]
        got = reccobeats.audio_feature_records(batch)
        with store.transaction() as conn:
            for tid in batch:
                feats = got.get(tid)
                tracks.insert_features(conn, tid, "reccobeats", None if feats is None else feats.as_stored())
                isrc = feats.isrc if feats is not None else None
                if isrc:
                    tracks.set_isrc_if_missing(conn, tid, isrc)
        step.done += len(batch)
        step.found += len(got)
        progress(step.name, step.done, step.todo)
    return step


def fetch_features_spotify(store: Store, ids: Sequence[str], spotify, progress: Progress | None = None,
                           step: StepReport | None = None) -> StepReport:
    """Spotify's own audio features, one call per track; the first 403 ends the step (closed since 2024)."""
    step = step or StepReport("audio features (Spotify)")
    progress = progress or _no_progress
    todo = tracks.features_todo(store, ids, "spotify")
    step.todo = len(todo)
    progress(step.name, 0, step.todo)
    for tid in todo:
        try:
            feats = spotify.audio_feature_record(tid)
        except Forbidden:
            step.stopped = "skipped"
            step.message = ("Spotify refuses audio features to this app (closed to new apps since November 2024); "
                            "not asking again this run. Use --features-source reccobeats.")
            return step
        except ApiError:
            feats = None
        with store.transaction() as conn:
            tracks.insert_features(conn, tid, "spotify", feats.as_stored() if feats is not None else None)
        step.done += 1
        step.found += feats is not None
        progress(step.name, step.done, step.todo)
    return step


def csv_source_name(path: str | Path) -> str:
    return f"csv:{Path(path).name}"


def read_features_csv(path: str | Path, nrows: int | None = None) -> tuple[pd.DataFrame, str]:
    """A features table and its id column (`track_id` or `id`), or BadInput saying what is wrong with the file.

    `nrows=0` reads the header only: enough to check a file before any work starts.
    """
    path = Path(path)
    try:
        # index_col=False: a row with more cells than the header must not turn the first columns into the index;
        # pandas then warns that it drops the extra cells: refused instead, the file is not what it seems
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(path, dtype={"track_id": str, "id": str}, nrows=nrows, index_col=False)
    except FileNotFoundError:
        raise BadInput(f"Features file {path} not found.", "Check the --features-csv path.") from None
    except pd.errors.ParserWarning:
        raise BadInput(f"Features file {path} has a row with more cells than its header; nothing was loaded.",
                       "Fix that row (a stray comma?) and run again.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as err:
        raise BadInput(f"Features file {path} is not a readable CSV ({type(err).__name__}).",
                       "Pass a CSV with a `track_id` or `id` column and audio feature columns.") from None
    key = "track_id" if "track_id" in table.columns else "id" if "id" in table.columns else None
    if key is None:
        raise BadInput(f"Features file {path} has no `track_id` or `id` column.",
                       "Key the table by Spotify track id.")
    if not any(c in table.columns for c in FEATURE_COLUMNS):
        raise BadInput(f"Features file {path} has none of the audio feature columns ({', '.join(FEATURE_COLUMNS)}).",
                       "Add at least one of them.")
    if nrows != 0:
        table = _checked_feature_values(table, key, path)
    return table, key


def _checked_feature_values(table: pd.DataFrame, key: str, path: Path) -> pd.DataFrame:
    """Feature cells as numbers; a cell that is not a finite number inside its column's range (`FEATURE_RANGES`:
    danceability 7.5, tempo -120, a key of 12) is refused with its row, column and range, so nothing half-loaded
    or impossible is stored. Empty cells stay unknown."""
    import numpy as np

    table = table.reset_index(drop=True)
    table = table[table[key].notna() & (table[key].astype(str).str.strip() != "")].copy()
    for col in (c for c in FEATURE_COLUMNS if c in table.columns):
        raw = table[col]
        values = pd.to_numeric(raw, errors="coerce")
        finite = np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        bad = raw.notna() & ~finite
        lo, hi, whole = FEATURE_RANGES[col]
        bad |= finite & ((values < lo) | (values > hi))
        if whole:
            bad |= finite & (values % 1 != 0)
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            row = int(raw.index[pos])   # the file's data row, counted from 0 (rows without an id were dropped)
            cell = str(raw.iloc[pos])
            cell = cell if len(cell) <= 30 else cell[:27] + "..."
            allowed = f"a {'whole' if whole else 'finite'} number from {lo:g} to {hi:g}"
            raise BadInput(f"Features file {path}: {col} {cell!r} on data row {row + 1} is not {allowed} "
                           f"({int(bad.sum()):,} such cell(s)).", "Fix or empty those cells and run again.")
        table[col] = values
    return table


def load_features_csv(store: Store, path: str | Path, ids: Sequence[str] | None = None,
                      step: StepReport | None = None) -> StepReport:
    """Features from a local table keyed by Spotify track id (`track_id` or `id` column); source `csv:<file>`."""
    path = Path(path)
    step = step or StepReport(f"audio features ({path.name})")
    table, key = read_features_csv(path)
    table = table.drop_duplicates(key).set_index(key)
    source = csv_source_name(path)
    wanted = [t for t in (ids if ids is not None else table.index) if t in table.index]
    step.todo = len(ids) if ids is not None else len(table)
    cols = [c for c in FEATURE_COLUMNS if c in table.columns]
    with store.transaction() as conn:
        for tid in wanted:
            row = table.loc[tid, cols]
            feats = {c: (None if pd.isna(row[c]) else float(row[c])) for c in cols}
            for c in ("key", "mode", "time_signature"):
                if feats.get(c) is not None:
                    feats[c] = int(feats[c])
            if feats.get("key") is not None and feats["key"] < 0:
                feats["key"] = None
            tracks.insert_features(conn, tid, source, feats)
    step.done = step.todo
    step.found = len(wanted)
    return step


# ------------------------------------------------------------------------------------------------ 4. genres
artists_needing = tracks.artists_needing
_artists_needing = artists_needing  # the weekly loop's name for it


def artists_by_plays(store: Store, track_ids: Sequence[str] | None = None) -> list[str]:
    """Artist ids of the given tracks (default: the history), ordered by the plays of their tracks."""
    weights = history.history_tracks(store) if track_ids is None else [(t, 0) for t in track_ids]
    n = dict(weights)
    score: Counter[str] = Counter()
    first: dict[str, int] = {}
    for pos, tid, ids in tracks.artist_ids_of(store, [t for t, _ in weights]):
        for a in ids:
            if a:
                score[a] += n.get(tid, 0)
                first.setdefault(a, pos)
    return sorted(score, key=lambda a: (-score[a], first[a]))


def fetch_top_artists(store: Store, spotify, step: StepReport | None = None,
                      max_age: timedelta = TOP_ARTISTS_MAX_AGE) -> StepReport:
    """`GET /me/top/artists` (50 full artist objects per call) for each time range, at most once a month."""
    step = step or StepReport("genres (your top artists)")
    fetched = store.get_kv("enrich.top_artists_fetched", {}) or {}
    now = datetime.now(timezone.utc)
    todo = [t for t in TOP_TERMS
            if not fetched.get(t) or now - datetime.fromisoformat(fetched[t]) > max_age]
    step.todo = len(todo)
    for term in todo:
        artists = spotify.top_artist_records(term)
        with store.transaction() as conn:
            for a in artists:
                if a.id and a.genres is not None:
                    tracks.store_genres(conn, a.id, a.name, list(a.genres), "spotify")
                    step.found += 1
            fetched[term] = now.isoformat()
            store.set_kv("enrich.top_artists_fetched", fetched)
        step.done += 1
    return step


def fetch_genres(store: Store, artist_ids: Sequence[str], spotify=None, musicbrainz=None, source: str = "spotify",
                 progress: Progress | None = None, step: StepReport | None = None) -> StepReport:
    """Genres of the given artists (in the order given) that are not cached yet for `source`; "[]" = none known."""
    if source not in GENRES_SOURCES:
        raise BadInput(f"Unknown genres source {source!r}.", f"Use one of {', '.join(GENRES_SOURCES)}.")
    step = step or StepReport(f"genres ({source})")
    progress = progress or _no_progress
    if source == "none":
        step.stopped, step.message = "skipped", "genres not fetched (--genres-source none)"
        return step
    if source == "spotify" and spotify is None:
        step.stopped, step.message = "skipped", "genres from Spotify need `spotify-model login`"
        return step
    if source == "musicbrainz" and musicbrainz is None:
        musicbrainz = MusicBrainzClient()
    todo = artists_needing(store, list(dict.fromkeys(artist_ids)), source)
    step.todo = len(todo)
    progress(step.name, 0, step.todo)
    mb_cache: dict[str, list[CreditedArtist]] = {}
    for aid in todo:
        if source == "spotify":
            try:
                found = spotify.artist_record(aid)
            except Forbidden:
                raise
            except ApiError:
                found = None
            name = found.name if found is not None else None
            genres = list(found.genres) if found is not None and found.genres is not None else []
        else:
            name, genres = _musicbrainz_genres(store, aid, musicbrainz, mb_cache)
        with store.transaction() as conn:
            tracks.store_genres(conn, aid, name, genres, source)
        step.done += 1
        step.found += bool(genres)
        progress(step.name, step.done, step.todo)
    return step


def _musicbrainz_genres(store: Store, artist_id: str, mb, cache: dict[str, list[CreditedArtist]],
                        tries: int = 2) -> tuple[str | None, list[str]]:
    """ISRC of the artist's most-played tracks -> MusicBrainz artist of the same name -> its genres."""
    name = tracks.artist_name(store, artist_id)
    want = norm_artist(name)
    for isrc, ids in tracks.isrcs_of_artist(store, artist_id, tries):
        if isrc not in cache:
            cache[isrc] = mb.artist_records_for_isrc(isrc)
        credits = cache[isrc]
        match = next((c for c in credits if want and norm_artist(c.name) == want), None)
        if match is None and len(credits) == 1 and len(ids) == 1:
            match = credits[0]  # one artist on both sides: the same person under another spelling
        if match is not None:
            return name, mb.artist_genres(match.mbid)
    return name, []


# ------------------------------------------------------------------------------------------------ orchestration
def _finish(store: Store, report: EnrichReport, before: dict[str, int], features_source: str | None,
            genres_source: str | None, track_ids: Sequence[str] | None = None) -> EnrichReport:
    after = store.usage_today()
    report.calls_today = after
    report.calls_this_run = {g: n - before.get(g, 0) for g, n in after.items() if n - before.get(g, 0)}
    report.coverage = coverage(store, features_source=features_source, genres_source=genres_source,
                               track_ids=track_ids)
    for s in report.steps:
        if s.stopped == "skipped" and s.message and s.message not in report.warnings:
            report.warnings.append(s.message)
    return report


def _features_step(run: _Run, ids: Sequence[str], features_source: str, spotify, reccobeats,
                   features_csv: str | Path | None) -> None:
    report, store = run.report, run.store
    if features_source == "csv":
        if features_csv is None:
            raise BadInput("--features-source csv needs --features-csv PATH.")
        report.steps.append(load_features_csv(store, features_csv, ids))
        return
    if features_source == "reccobeats":
        step = report.step("audio features (ReccoBeats)")
        if (why := run.blocked(spotify=False)) is not None:
            step.stopped = why
            return
        _guard(run, step, lambda: fetch_features_reccobeats(store, ids, reccobeats, run.progress, step))
        return
    step = report.step("audio features (Spotify)")
    if spotify is None:
        step.stopped, step.message = "skipped", "audio features from Spotify need `spotify-model login`"
    elif (why := run.blocked(["audio_features"])) is not None:
        step.stopped = why
    else:
        _guard(run, step, lambda: fetch_features_spotify(store, ids, spotify, run.progress, step))


def _genres_step(run: _Run, track_ids: Sequence[str] | None, genres_source: str, spotify, musicbrainz,
                 top_artists: bool) -> None:
    report, store = run.report, run.store
    if genres_source == "none":
        return
    if genres_source == "spotify":
        if spotify is None:
            s = report.step("genres (spotify)")
            s.stopped, s.message = "skipped", "genres from Spotify need `spotify-model login`"
            return
        if top_artists:
            top = report.step("genres (your top artists)")
            if (why := run.blocked(["me"])) is not None:
                top.stopped = why
            else:
                _guard(run, top, lambda: fetch_top_artists(store, spotify, top))
        step = report.step("genres (Spotify artists)")
        if (why := run.blocked(["artists"])) is not None:
            step.stopped = why
            return
        artists = artists_by_plays(store, track_ids)
        _guard(run, step, lambda: fetch_genres(store, artists, spotify=spotify, source="spotify",
                                               progress=run.progress, step=step))
        return
    step = report.step("genres (MusicBrainz)")
    if musicbrainz is None:
        step.stopped, step.message = "skipped", "no MusicBrainz client"
        return
    if (why := run.blocked(spotify=False)) is not None:
        step.stopped = why
        return
    artists = artists_by_plays(store, track_ids)
    _guard(run, step, lambda: fetch_genres(store, artists, musicbrainz=musicbrainz, source="musicbrainz",
                                           progress=run.progress, step=step))


def _metadata_steps(run: _Run, ids: Sequence[str], spotify, reccobeats) -> None:
    store, report = run.store, run.report
    step = report.step("metadata (ReccoBeats)")
    if (why := run.blocked(spotify=False)) is not None:
        step.stopped = why
    else:
        _guard(run, step, lambda: fill_metadata_reccobeats(store, ids, reccobeats, run.progress, step))
    fill_durations_from_plays(store)
    step = report.step("metadata (Spotify)")
    if spotify is None:
        step.stopped, step.message = "skipped", "track metadata from Spotify needs `spotify-model login`"
    elif (why := run.blocked(["tracks"])) is not None:
        step.stopped = why
    else:
        _guard(run, step, lambda: fill_tracks_spotify(store, ids, spotify, "metadata", step.name,
                                                      run.progress, step))


def _check_sources(genres_source: str, features_source: str) -> None:
    if genres_source not in GENRES_SOURCES:
        raise BadInput(f"Unknown genres source {genres_source!r}.", f"Use one of {', '.join(GENRES_SOURCES)}.")
    if features_source not in FEATURES_SOURCES:
        raise BadInput(f"Unknown features source {features_source!r}.", f"Use one of {', '.join(FEATURES_SOURCES)}.")


def stored_features_source(features_source: str, features_csv: str | Path | None) -> str:
    """The `audio_features.source` value a features option stands for."""
    if features_source == "csv":
        if features_csv is None:
            raise BadInput("--features-source csv needs --features-csv PATH.")
        return csv_source_name(features_csv)
    return features_source


def enrich_history(store: Store, spotify=None, reccobeats=None, *, genres_source: str = "spotify",
                   features_source: str = "reccobeats", features_csv: str | Path | None = None,
                   musicbrainz=None, release_dates: bool = False, details_calls: int = DETAILS_CALLS,
                   deezer=None, progress: Progress | None = None,
                   deezer_details_calls: int = DEEZER_DETAILS_CALLS) -> EnrichReport:
    """Everything the user's own history needs, most-played first; resumable; never raises on quota/outage/login.

    `spotify=None` skips every Spotify step (e.g. not logged in, with genres from MusicBrainz). `deezer` (with
    `reccobeats`) resolves song names without Spotify quota before Spotify search takes the rest.
    """
    if features_csv is not None and features_source == "reccobeats":
        features_source = "csv"
    _check_sources(genres_source, features_source)
    stored_source = stored_features_source(features_source, features_csv)
    report = EnrichReport()
    run = _Run(store, report, progress)
    before = store.usage_today()
    store.set_kv(KV_FEATURES_SOURCE, stored_source)
    store.set_kv(KV_GENRES_SOURCE, genres_source)
    store.set_kv(KV_FEATURES_CSV, str(Path(features_csv).resolve()) if features_source == "csv" else None)

    deezer_down = False   # found down by one Deezer step: the next one does not ask it again this run
    if deezer is not None and reccobeats is not None:
        step = report.step(DEEZER_STEP)
        _guard(run, step, lambda: resolve_names_deezer(store, deezer, reccobeats, run.progress, step))
        deezer_down = step.stopped == "unavailable" and report.stopped is None   # (ReccoBeats down stops the run)
        if deezer_down and report.stopped is None:   # Deezer down (not ReccoBeats: that stops the run): one note,
            report.warnings.append(step.message)     # Spotify search after
    step = report.step("track ids")
    if spotify is None:
        _apply_lookups(store)
        step.stopped, step.message = "skipped", "finding ids for plays without one needs `spotify-model login`"
    elif (why := run.blocked(["search"])) is not None:
        step.stopped = why
    else:
        _guard(run, step, lambda: resolve_track_ids(store, spotify, run.progress, step))
    ids = [t for t, _ in history.history_tracks(store)]
    _metadata_steps(run, ids, spotify, reccobeats)
    _features_step(run, ids, features_source, spotify, reccobeats, features_csv)
    _genres_step(run, None, genres_source, spotify, musicbrainz, top_artists=True)
    limit = None if release_dates else details_calls
    if limit != 0 and deezer is not None:
        step = report.step(DEEZER_DETAILS_STEP)
        if deezer_down:
            step.stopped, step.message = "skipped", None   # said once, by the names step's note
        else:
            _guard(run, step, lambda: fill_details_deezer(store, ids, deezer, run.progress, step,
                                                          limit=None if release_dates else deezer_details_calls))
            if step.stopped == "unavailable":   # Deezer down: one note, Spotify's calls after
                report.warnings.append(step.message)
    if limit != 0 and spotify is not None:
        step = report.step(DETAILS_STEP)
        if (why := run.blocked(["tracks"])) is not None:
            step.stopped = why
        else:
            _guard(run, step, lambda: fill_tracks_spotify(store, ids, spotify, "details", step.name,
                                                          run.progress, step, limit=limit))
    return _finish(store, report, before, stored_source, genres_source)


def history_sources(store: Store) -> tuple[str, str, str | None]:
    """(genres_source, features_source, features_csv) the last `features` run used, so a pool is described alike."""
    stored = store.get_kv(KV_FEATURES_SOURCE) or "reccobeats"
    features_source = "csv" if stored.startswith("csv:") else stored
    return store.get_kv(KV_GENRES_SOURCE) or "spotify", features_source, store.get_kv(KV_FEATURES_CSV)


def enrich_tracks(store: Store, track_ids: Sequence[str], spotify=None, reccobeats=None,
                  genres_source: str | None = None, features_source: str | None = None, *,
                  features_csv: str | Path | None = None, musicbrainz=None,
                  progress: Progress | None = None) -> EnrichReport:
    """Metadata, features and genres for a pool of tracks already in `tracks` (e.g. candidates), in the order given.

    Sources default to the ones the history was enriched with, so candidates and history are described alike.
    """
    h_genres, h_features, h_csv = history_sources(store)
    genres_source = genres_source or h_genres
    features_source = features_source or h_features
    if features_source == "csv" and features_csv is None:
        features_csv = h_csv
    _check_sources(genres_source, features_source)
    stored_source = stored_features_source(features_source, features_csv)
    ids = list(dict.fromkeys(track_ids))
    report = EnrichReport()
    run = _Run(store, report, progress)
    before = store.usage_today()
    _metadata_steps(run, ids, spotify, reccobeats)
    _features_step(run, ids, features_source, spotify, reccobeats, features_csv)
    _genres_step(run, ids, genres_source, spotify, musicbrainz, top_artists=False)
    return _finish(store, report, before, stored_source, genres_source, track_ids=ids)


def write_track_features_csv(store: Store, path: str | Path, *, features_source: str | None = None,
                             genres_source: str | None = None) -> int:
    """`data/processed/track_features.csv`: one row per history track, lists joined by `|`, written atomically."""
    table = describe_tracks(store, features_source=features_source, genres_source=genres_source)
    counts = history.plays_per_track(store)
    out = table.copy()
    for c in ("artist_names", "artist_ids"):
        out[c] = ["|".join(str(x) for x in v) for v in out[c]]
    out["genres"] = ["|".join(v) if v else "" for v in out["genres"]]
    out["plays"] = out["track_id"].map(lambda t: counts.get(t, 0))
    for c in ("duration_ms", "key", "mode", "time_signature", "explicit"):
        out[c] = out[c].astype("Int64")
    write_csv(out, path, quoting=csv.QUOTE_MINIMAL)
    return len(out)
