"""Import a parsed export into the store, idempotently, in one transaction.

Files already imported (same sha256) are skipped. Plays of a new file that overlap plays already stored (a newer
export repeats the last year of account data) are matched as a multiset on (time, song, ms played), so real repeats
that share a timestamp are kept while the overlap is not counted twice.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from spotify_modeling.atomic import atomic_path
from spotify_modeling.errors import BadInput
from spotify_modeling.core.export import HISTORY_KINDS, ParsedExport, read_export
from spotify_modeling.core.normalize import name_key
from spotify_modeling.db import history, library, tracks
from spotify_modeling.db.store import Store, utc_now

# a first import at least this large (and larger than the table) drops the plays indexes and builds them once at the end
REBUILD_MIN_ROWS = 20_000


@dataclass
class ImportResult:
    export: str
    files_by_kind: dict[str, int]
    new_files: int
    already_imported: bool
    plays_added: int = 0
    plays_already_known: int = 0
    dropped_non_music: int = 0
    ignored_files: list[str] = field(default_factory=list)
    damaged_rows: int = 0
    notes: list[str] = field(default_factory=list)


#: kv key: a digest of the username whose export the home holds (the username itself is never stored)
KV_OWNER = "export_owner"


def owner_digest(username: str) -> str:
    return hashlib.sha256(("spotify-model export owner\n" + username).encode("utf-8", "replace")).hexdigest()


def check_owner(store: Store, parsed: ParsedExport) -> str | None:
    """Refuse an export of another Spotify account than the one whose history the home holds.

    One home is one listener: their plays, labels and models. Merging a second person's plays would train the
    models on two tastes at once and could not be undone (plays carry no account), so the import is refused before
    anything is written and the user is told how to keep a second person apart. Returns the digest to record.
    Exports that name no account (no Userdata.json, no username in the rows) cannot be told apart: accepted.
    """
    if parsed.owner is None:
        return None
    digest = owner_digest(parsed.owner)
    stored = store.get_kv(KV_OWNER)
    if stored is not None and stored != digest:
        raise BadInput(f"{parsed.source} is the export of another Spotify account ({parsed.owner!r}) than the "
                       f"history already in {store.path.parent.parent}; nothing was imported.",
                       "Give each person their own home: `spotify-model features EXPORT --home PATH` "
                       "(or SPOTIFY_MODEL_HOME).")
    return digest


#: below this share of the new plays in the shared period being songs already played then, the export warns
FOREIGN_SHARED_SONGS = 0.1
#: ... once the shared period holds at least this many new plays
FOREIGN_MIN_PLAYS = 20


def foreign_history_note(store: Store, plays: list) -> str | None:
    """A warning when the new plays look like another listener's: an export that names no account cannot be
    refused (`check_owner`), but the same person's next export covers the same time as the plays already here
    with the same songs (the account data repeats the last year; the extended history covers it all). New plays
    that share no time with the home's, or share the time but almost none of its songs, are likely someone else's.
    """
    first, last = history.stored_span(store)
    if first is None or not plays:
        return None
    times = [p[1] for p in plays]
    lo, hi = min(times), max(times)
    keep_apart = ("if it is another person's, run `spotify-model features EXPORT --home PATH` for them instead "
                  "(plays carry no account, so a merge cannot be told apart later)")
    if hi < first or lo > last:
        return (f"The new plays ({lo[:10]} to {hi[:10]}) do not overlap the {first[:10]} to {last[:10]} already "
                f"in this home: imported, but {keep_apart}.")
    a, b = max(lo, first), min(hi, last)
    inside = [p[7] for p in plays if a <= p[1] <= b]
    if len(inside) < FOREIGN_MIN_PLAYS:
        return None
    known = history.songs_between(store, a, b)
    shared = sum(k in known for k in inside) / len(inside)
    if shared >= FOREIGN_SHARED_SONGS:
        return None
    return (f"Of the {len(inside):,} new plays from {a[:10]} to {b[:10]}, when this home already has plays, only "
            f"{shared:.0%} are of songs played then: imported, but {keep_apart}.")


def find_newest_export(raw_dir: Path) -> Path:
    """The newest zip or folder in `data/raw/` (by modification time)."""
    if raw_dir.is_dir():
        candidates = [p for p in raw_dir.iterdir()
                      if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() == ".zip")]
        if candidates:
            return max(candidates, key=lambda p: p.stat().st_mtime)
    raise BadInput(f"No export given and none found in {raw_dir}.",
                   "Pass the path of your Spotify export (zip or folder), or put the zip in data/raw/.")


def require_history(parsed: ParsedExport) -> ParsedExport:
    """Refuse an export without streaming history (before anything is written)."""
    if not parsed.has_history and parsed.nested_zips:
        raise BadInput(f"{parsed.source} holds no streaming history of its own but another zip "
                       f"({parsed.nested_zips[0]}); nothing was imported.",
                       "Unpack it and pass the inner zip (or its folder).")
    if not parsed.has_history:
        raise BadInput(f"{parsed.source} holds no streaming history (no StreamingHistory*.json, "
                       "Streaming_History_Audio_*.json or endsong_*.json).",
                       "Check that you passed the Spotify data export itself.")
    return parsed


def import_export(store: Store, export: "str | Path | ParsedExport") -> ImportResult:
    """Import an export (a path, or one already parsed by `read_export`)."""
    parsed = require_history(export if isinstance(export, ParsedExport) else read_export(export))
    owner = check_owner(store, parsed)
    known = history.imported_shas(store)
    new_files = [f for f in parsed.files if f.sha256 not in known]
    result = ImportResult(parsed.source, parsed.files_by_kind(), len(new_files), not new_files,
                          dropped_non_music=parsed.dropped_non_music, ignored_files=parsed.ignored,
                          damaged_rows=parsed.damaged_rows, notes=list(parsed.notes))
    if not new_files:
        if owner is not None and store.get_kv(KV_OWNER) is None and history.play_count(store):
            with store.transaction():
                store.set_kv(KV_OWNER, owner)
        return result
    now = utc_now()
    new_history = [f for f in new_files if f.kind in HISTORY_KINDS]
    foreign = foreign_history_note(store, [p for f in new_history for p in parsed.plays.get(f.sha256, ())])
    if foreign:
        result.notes.append(foreign)
    new_rows = sum(len(parsed.plays.get(f.sha256, ())) for f in new_history)
    with store.transaction() as conn:
        # sources with plays from an earlier import: only their new files need the stored plays for overlap matching
        stored_sources = {source for source in {p[0] for f in new_history for p in parsed.plays[f.sha256][:1]}
                          if history.has_plays_from(conn, source)}
        # A big import into a small table is faster with the indexes built once at the end (same transaction).
        rebuild = new_rows > REBUILD_MIN_ROWS and new_rows > history.play_count(store)
        indexes = history.drop_play_indexes(conn) if rebuild else []
        file_ids = history.record_files(conn, new_files, now)
        earlier: list[_Inserted] = []
        for f in new_history:
            inserted = _insert_plays(conn, parsed.plays[f.sha256], file_ids[f.sha256], stored_sources, earlier)
            if inserted is not None:
                earlier.append(inserted)
                result.plays_added += len(inserted.rows)
                result.plays_already_known += inserted.skipped
        history.rebuild_play_indexes(conn, indexes)
        if _replaces(store, parsed, new_files, "playlists", result):
            _replace_export_playlists(conn, parsed, now)
        if _replaces(store, parsed, new_files, "library", result):
            _replace_export_saved(conn, parsed)
        _record_known_ids(conn, now, earlier)
        if owner is not None and store.get_kv(KV_OWNER) is None:
            store.set_kv(KV_OWNER, owner)
    return result


def _replaces(store: Store, parsed: ParsedExport, new_files: list, kind: str, result: ImportResult) -> bool:
    """Whether this export's playlists (or saved tracks) replace those imported before.

    They do when a new file of the kind came. They do not when one of its files had an unknown shape (left out,
    see `read_export`), nor when one had damaged entries while the home already holds that kind: a damaged file
    is imported as far as it goes into an empty home, but never trusted to shrink what a good export gave.
    """
    if not any(f.kind == kind for f in new_files) or kind in parsed.skipped_kinds:
        return False
    if kind not in parsed.damaged_kinds:
        return True
    counts = library.export_counts(store)
    held = counts["playlists"] if kind == "playlists" else counts["saved_tracks"]
    if held:
        what = (f"the {counts['playlists']:,} playlists ({counts['playlist_items']:,} items)" if kind == "playlists"
                else f"the {held:,} saved tracks")
        result.notes.append(f"{'Playlist' if kind == 'playlists' else 'YourLibrary'} files of this export have "
                            f"damaged entries: {what} imported before are kept.")
    return not held


@dataclass
class _Inserted:
    """The plays one file added (its overlap with earlier files of the same import is matched in memory)."""
    source: str
    lo: str
    hi: str
    rows: list[tuple]
    skipped: int


def _insert_plays(conn, plays: list[tuple], file_id: int, stored_sources: set[str],
                  earlier: list[_Inserted]) -> _Inserted | None:
    """Insert one file's plays, leaving out those already stored (matched as a multiset on time, song, ms played)."""
    if not plays:
        return None
    source = plays[0][0]
    times = [p[1] for p in plays]
    lo, hi = min(times), max(times)
    del times
    existing: Counter = Counter()
    if source in stored_sources:  # the table holds this import's earlier files as well
        existing.update(history.stored_play_keys(conn, source, lo, hi))
    else:
        for e in earlier:
            if e.source == source and e.lo <= hi and lo <= e.hi:
                existing.update((p[1], p[7], p[2]) for p in e.rows if lo <= p[1] <= hi)
    rows = plays
    skipped = 0
    if existing:
        rows = []
        for p in plays:
            key = (p[1], p[7], p[2])
            if existing.get(key):
                existing[key] -= 1
                skipped += 1
            else:
                rows.append(p)
    history.insert_plays(conn, rows, file_id)
    return _Inserted(source, lo, hi, rows, skipped)


def _replace_export_playlists(conn, parsed: ParsedExport, now: str) -> None:
    """The newest export's playlists replace the previous export's (Spotify playlists are kept)."""
    library.replace_export_playlists(conn, [
        ((f"export:{n}:{pl.name}", pl.name, _tool_role(pl.name)),
         [(it.item_type, it.track_id, it.track_name, it.artist_name, it.album_name,
           name_key(it.artist_name, it.track_name) if it.track_name else None, it.added_at) for it in pl.items])
        for n, pl in enumerate(parsed.playlists)], now)


TOOL_PLAYLISTS = {"data_candidates": "candidates", "data_1": "like", "data_0": "dislike"}


def _tool_role(name: str) -> str | None:
    return TOOL_PLAYLISTS.get(name)


def _replace_export_saved(conn, parsed: ParsedExport) -> None:
    library.replace_export_saved(conn, [(s.track_id, s.track_name, s.artist_name, s.album_name,
                                         name_key(s.artist_name, s.track_name)) for s in parsed.saved_tracks])


def _record_known_ids(conn, now: str, inserted: list[_Inserted]) -> None:
    """Ids the export itself carries: track stubs, and name -> id look-ups that cost no Spotify call.

    The plays just inserted are read in memory (first play of an id or a name wins), so the cost follows the new
    rows and no pass over the stored history is needed.
    """
    with_id = [p for block in inserted for p in block.rows if p[6] is not None]
    with_id.reverse()  # so that in the dicts below the first play of an id or a name is the one left
    first_play = {p[6]: p for p in with_id}
    by_name = {p[7]: p[6] for p in with_id}
    del with_id
    tracks.insert_stubs(conn, [(track_id, p[3], p[4], p[5]) for track_id, p in first_play.items()], now)
    tracks.insert_library_stubs(conn, now)
    tracks.record_export_lookups(conn, by_name, now)
    # plays without a URI take the id the export itself gives the same song elsewhere
    history.fill_ids_from_lookups(conn)


def history_summary(store: Store) -> dict:
    """The numbers the `features` summary shows, from the effective plays (extended wins its period)."""
    c = history.summary_counts(store)
    plays = c["plays"]
    return {
        "plays": plays, "first": c["first"], "last": c["last"], "plays_with_id": c["plays_with_id"],
        "unique_tracks": c["unique_tracks"], "unique_artists": c["unique_artists"],
        "skip_rate": (c["skips"] / plays) if plays else None,
        "completion_rate": (c["completed"] / c["completion_known"]) if c["completion_known"] else None,
        "completion_known": c["completion_known"],
        **library.export_counts(store),
    }


def write_history_csv(store: Store, path: Path) -> int:
    """`data/processed/streaming_history.csv`: one row per effective play, written atomically."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(history.HISTORY_CSV_COLUMNS)
        for chunk in history.history_rows(store):
            w.writerows(chunk)
            n += len(chunk)
    return n
