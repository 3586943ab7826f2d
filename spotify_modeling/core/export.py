"""Read a Spotify data export (zip or folder, any vintage) into plain rows. Pure: no store, no network.

Files are found by name anywhere in the tree, because folder names change between vintages
(`MyData/`, `Spotify Account Data/`, `Spotify Extended Streaming History/`). Only the fields the models need are
kept: IP addresses, user agents, usernames, countries and platforms are dropped while parsing.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path, PurePosixPath
from typing import Iterator

from spotify_modeling.errors import BadInput
from spotify_modeling.core.normalize import name_key

# kind -> file-name pattern (matched against the base name, case-insensitive)
FILE_KINDS: list[tuple[str, re.Pattern]] = [
    ("account_podcast", re.compile(r"^StreamingHistory_podcast_\d+\.json$", re.I)),
    ("account_music", re.compile(r"^StreamingHistory_music_\d+\.json$", re.I)),
    ("account_mixed", re.compile(r"^StreamingHistory\d+\.json$", re.I)),
    ("extended_video", re.compile(r"^Streaming_History_Video_.*\.json$", re.I)),
    ("extended", re.compile(r"^(Streaming_History_Audio_.*|endsong_\d+)\.json$", re.I)),
    ("playlists", re.compile(r"^Playlist\d*\.json$", re.I)),
    ("library", re.compile(r"^YourLibrary\.json$", re.I)),
]
IGNORED_KINDS = {"account_podcast", "extended_video"}
HISTORY_KINDS = {"account_music", "account_mixed", "extended"}

# One play: (source, ts, ms_played, track_name, artist_name, album_name, track_id, name_key,
#            reason_start, reason_end, skipped, shuffle)
Play = tuple


@dataclass
class ExportFile:
    path: str          # path inside the export, for messages and the import log
    kind: str
    size: int
    sha256: str
    rows: int = 0


@dataclass
class PlaylistItem:
    item_type: str     # track | episode | audiobook | local | missing
    track_id: str | None
    track_name: str | None
    artist_name: str | None
    album_name: str | None
    added_at: str | None


@dataclass
class ExportPlaylist:
    name: str
    last_modified: str | None
    items: list[PlaylistItem]


@dataclass
class SavedTrack:
    track_id: str | None
    track_name: str | None
    artist_name: str | None
    album_name: str | None


@dataclass
class ParsedExport:
    source: str
    files: list[ExportFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    plays: dict[str, list[Play]] = field(default_factory=dict)          # by file sha256
    playlists: list[ExportPlaylist] = field(default_factory=list)
    saved_tracks: list[SavedTrack] = field(default_factory=list)
    dropped_non_music: int = 0      # extended rows without a track URI (podcasts, audiobooks)
    dropped_no_time: int = 0        # rows without a timestamp cannot be placed

    @property
    def has_history(self) -> bool:
        return any(f.kind in HISTORY_KINDS for f in self.files)

    def files_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out


def classify(name: str) -> str | None:
    base = PurePosixPath(name).name
    if base.startswith("._"):
        return None
    for kind, pattern in FILE_KINDS:
        if pattern.match(base):
            return kind
    return None


def track_id_from_uri(uri: str | None) -> str | None:
    """`spotify:track:<id>` (or an open.spotify.com link) -> `<id>`; anything else -> None."""
    if not uri or not isinstance(uri, str):
        return None
    if uri.startswith("spotify:track:"):
        return uri[14:] or None
    if "open.spotify.com/track/" in uri:
        return uri.rsplit("/", 1)[-1].split("?")[0] or None
    return None


def _iter_files(path: Path) -> Iterator[tuple[str, str | None, bytes | None]]:
    """Yield (inner path, kind, bytes) for every file; bytes only for files we read."""
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and "__MACOSX" not in p.parts:
                rel = p.relative_to(path).as_posix()
                kind = classify(rel)
                try:
                    data = p.read_bytes() if kind and kind not in IGNORED_KINDS else None
                except OSError as err:
                    raise BadInput(f"{rel} in {path} cannot be read ({err.strerror or err}).",
                                   "Check the file's permissions, or unpack the export again.") from None
                yield rel, kind, data
        return
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise BadInput(f"{path} is not a readable zip file ({err}).",
                       "Download the export again, or unpack it and pass the folder.") from None
    with zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if info.is_dir() or "__MACOSX" in info.filename:
                continue
            kind = classify(info.filename)
            data = None
            if kind and kind not in IGNORED_KINDS:
                try:
                    data = zf.read(info)
                except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
                    raise BadInput(f"{info.filename} in {path} is damaged ({err}).",
                                   "Download the export again.") from None
            yield info.filename, kind, data


def _with_digests(files: Iterator[tuple[str, str | None, bytes | None]]
                  ) -> Iterator[tuple[str, str | None, bytes | None, str | None]]:
    """`_iter_files` plus each file's sha256, hashed one file ahead in a thread (hashlib releases the GIL on big
    buffers), so hashing overlaps parsing the file before it instead of adding to it."""
    def digest(data: bytes | None) -> str | None:
        return None if data is None else hashlib.sha256(data).hexdigest()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for inner, kind, data in files:
            future = pool.submit(digest, data)
            if pending is not None:
                yield (*pending[:3], pending[3].result())
            pending = (inner, kind, data, future)
        if pending is not None:
            yield (*pending[:3], pending[3].result())


def _load_json(data: bytes, inner: str, export: Path):
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" at line {err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
        raise BadInput(f"{inner} in {export} is not valid JSON{where} (truncated or damaged?).",
                       "Download the export again; nothing was imported.") from None


def _account_ts(end_time) -> str | None:
    # "2024-09-17 13:28" (UTC, minute resolution) -> "2024-09-17T13:28:00Z"
    if not isinstance(end_time, str) or len(end_time) < 16:
        return None
    return f"{end_time[:10]}T{end_time[11:16]}:00Z"


def _extended_ts(ts) -> str | None:
    if not isinstance(ts, str) or len(ts) < 19:
        return None
    if len(ts) == 20 and ts[-1] == "Z":
        return ts
    return f"{ts[:10]}T{ts[11:19]}Z"


def _text(v) -> str | None:
    return v if isinstance(v, str) else (None if v is None else str(v))


def _int(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else (int(v) if isinstance(v, float) else None)


def _bool(v) -> int | None:
    return None if v is None else int(bool(v))


def parse_account_history(rows: list, source_kind: str, keys: dict[tuple, str] | None = None
                          ) -> tuple[list[Play], int]:
    """Plays of the account-data history (minute resolution, no URIs); `keys` as in `parse_extended_history`."""
    plays: list[Play] = []
    no_time = 0
    if keys is None:
        keys = {}
    for r in rows:
        if not isinstance(r, dict):
            continue
        ts = _account_ts(r.get("endTime"))
        if ts is None:
            no_time += 1
            continue
        artist, title = _text(r.get("artistName")), _text(r.get("trackName"))
        key = keys.get((artist, title))
        if key is None:
            key = keys[artist, title] = name_key(artist, title)
        plays.append(("account", ts, _int(r.get("msPlayed")), title, artist, None, None, key, None, None, None, None))
    return plays, no_time


# the fields kept from one extended-history row, in the order the parser unpacks them
_EXTENDED_KEYS = ("spotify_track_uri", "ts", "master_metadata_album_artist_name", "master_metadata_track_name",
                  "ms_played", "master_metadata_album_album_name", "reason_start", "reason_end", "skipped", "shuffle")
_extended_fields = itemgetter(*_EXTENDED_KEYS)


def parse_extended_history(rows: list, keys: dict[tuple, str] | None = None) -> tuple[list[Play], int, int]:
    """One pass over the rows; the hot path of a large import, so the common shapes are handled inline.

    `keys` caches name keys per (artist, title) and may be shared by the files of one export (songs repeat).
    """
    plays: list[Play] = []
    non_music = no_time = 0
    append = plays.append
    if keys is None:
        keys = {}
    fields = _extended_fields
    for r in rows:
        try:
            uri, ts, artist, title, ms, album, reason_start, reason_end, skipped, shuffle = fields(r)
        except (KeyError, TypeError):  # a key absent in this vintage, or not a row at all
            if not isinstance(r, dict):
                continue
            uri, ts, artist, title, ms, album, reason_start, reason_end, skipped, shuffle = (
                r.get(k) for k in _EXTENDED_KEYS)
        if type(uri) is str and uri.startswith("spotify:track:") and len(uri) > 14:
            track_id = uri[14:]
        else:
            track_id = track_id_from_uri(uri)
            if track_id is None:
                non_music += 1
                continue
        if not (type(ts) is str and len(ts) == 20 and ts[19] == "Z"):
            ts = _extended_ts(ts)
            if ts is None:
                no_time += 1
                continue
        if type(artist) is not str and artist is not None:
            artist = str(artist)
        if type(title) is not str and title is not None:
            title = str(title)
        try:
            key = keys[artist, title]
        except KeyError:
            key = keys[artist, title] = name_key(artist, title)
        if type(ms) is not int:
            ms = _int(ms)
        if type(album) is not str and album is not None:
            album = str(album)
        if type(reason_start) is not str and reason_start is not None:
            reason_start = str(reason_start)
        if type(reason_end) is not str and reason_end is not None:
            reason_end = str(reason_end)
        if skipped is not None:
            skipped = 1 if skipped else 0
        if shuffle is not None:
            shuffle = 1 if shuffle else 0
        append(("extended", ts, ms, title, artist, album, track_id, key, reason_start, reason_end, skipped, shuffle))
    return plays, non_music, no_time


def _dicts(value) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def parse_playlists(doc) -> list[ExportPlaylist]:
    out = []
    for p in _dicts((doc or {}).get("playlists")):
        items = []
        raw_items = p.get("items") if isinstance(p.get("items"), list) else []
        for it in (v if isinstance(v, dict) else {} for v in raw_items):
            track, local = it.get("track"), it.get("localTrack")
            track = track if isinstance(track, dict) else None
            local = local if isinstance(local, dict) else None
            if track:
                items.append(PlaylistItem("track", track_id_from_uri(track.get("trackUri")), track.get("trackName"),
                                          track.get("artistName"), track.get("albumName"), it.get("addedDate")))
            elif local:
                items.append(PlaylistItem("local", None, local.get("trackName"), local.get("artistName"),
                                          local.get("albumName"), it.get("addedDate")))
            elif it.get("episode"):
                items.append(PlaylistItem("episode", None, None, None, None, it.get("addedDate")))
            elif it.get("audiobook"):
                items.append(PlaylistItem("audiobook", None, None, None, None, it.get("addedDate")))
            else:
                items.append(PlaylistItem("missing", None, None, None, None, it.get("addedDate")))
        out.append(ExportPlaylist(p.get("name") or "(unnamed)", p.get("lastModifiedDate"), items))
    return out


def parse_library(doc) -> list[SavedTrack]:
    return [SavedTrack(track_id_from_uri(t.get("uri")), _text(t.get("track")), _text(t.get("artist")),
                       _text(t.get("album"))) for t in _dicts((doc or {}).get("tracks"))]


def read_export(path: str | Path) -> ParsedExport:
    """Parse every known file of an export in one pass; raise `BadInput` for anything unreadable."""
    path = Path(path).expanduser()
    if not path.exists():
        raise BadInput(f"No export at {path}.", "Pass the path of your Spotify export zip or its unpacked folder.")
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                is_zip = zipfile.is_zipfile(fh)
        except OSError as err:
            raise BadInput(f"{path} cannot be read ({err.strerror or err}).", "Check the file's permissions.") from None
        if not is_zip and path.suffix.lower() == ".zip":
            raise BadInput(f"{path} is not a zip file, or an incomplete one (a broken download?).",
                           "Download the export again, or unpack it and pass the folder.")
        if not is_zip:
            raise BadInput(f"{path} is not a zip file.",
                           "Pass the my_spotify_data.zip Spotify sent you, or the folder it unpacks to.")
    parsed = ParsedExport(source=str(path))
    seen: set[str] = set()
    keys: dict[tuple, str] = {}  # name keys by (artist, title), shared by the history files
    for inner, kind, data, digest in _with_digests(_iter_files(path)):
        if kind is None or kind in IGNORED_KINDS:
            if kind in IGNORED_KINDS:
                parsed.ignored.append(inner)
            continue
        f = ExportFile(inner, kind, len(data), digest)
        if f.sha256 in seen:
            continue  # the very same file twice in one export (e.g. a copy in another folder)
        seen.add(f.sha256)
        doc = _load_json(data, inner, path)
        if kind in ("account_music", "account_mixed"):
            if not isinstance(doc, list):
                raise BadInput(f"{inner} in {path} is not a list of plays.", "Download the export again.")
            plays, no_time = parse_account_history(doc, kind, keys)
            parsed.plays[f.sha256] = plays
            parsed.dropped_no_time += no_time
            f.rows = len(plays)
        elif kind == "extended":
            if not isinstance(doc, list):
                raise BadInput(f"{inner} in {path} is not a list of streams.", "Download the export again.")
            plays, non_music, no_time = parse_extended_history(doc, keys)
            parsed.plays[f.sha256] = plays
            parsed.dropped_non_music += non_music
            parsed.dropped_no_time += no_time
            f.rows = len(plays)
        elif kind == "playlists":
            pls = parse_playlists(doc if isinstance(doc, dict) else {})
            parsed.playlists.extend(pls)
            f.rows = sum(len(p.items) for p in pls)
        elif kind == "library":
            saved = parse_library(doc if isinstance(doc, dict) else {})
            parsed.saved_tracks.extend(saved)
            f.rows = len(saved)
        parsed.files.append(f)
    return parsed
