"""Read a Spotify data export (zip or folder, any vintage) into plain rows. Pure: no store, no network.

Files are found by name anywhere in the tree, because folder names change between vintages
(`MyData/`, `Spotify Account Data/`, `Spotify Extended Streaming History/`). Only the fields the models need are
kept: IP addresses, user agents, usernames, countries and platforms are dropped while parsing.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import re
import stat
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
USERDATA = re.compile(r"^Userdata\.json$", re.I)

# Limits on what one export may make us read (a zip is never extracted to disk, only read into memory, so these
# bound memory and time). Spotify splits the history into files of about 12 MB and a whole export is rarely above
# a few hundred MB, so the limits leave a wide margin; the declared sizes are checked first and the bytes are counted
# while reading, since a zip's headers can lie.
MAX_MEMBER_BYTES = 64 * 1024 * 1024       # one file, decompressed
MAX_TOTAL_BYTES = 1024 * 1024 * 1024      # all files read, decompressed
MAX_MEMBERS = 10_000                      # entries in a zip (a real export has a few dozen)
MAX_USERDATA_BYTES = 1024 * 1024
# What a row's fields may hold; a row outside these is skipped and counted as damaged (never stored).
MAX_MS_PLAYED = 24 * 3600 * 1000          # one play lasts at most a day
MAX_NAME_CHARS = 2000                     # the longest real titles are a few hundred characters
_ACCOUNT_TS = re.compile(r"(19[7-9]\d|20\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d")
_EXTENDED_TS = re.compile(r"(19[7-9]\d|20\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

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
    damaged_rows: int = 0           # rows with a field of the wrong type or out of range: skipped, never stored
    notes: list[str] = field(default_factory=list)   # one line per file or row problem worth telling the user
    owner: str | None = None        # the account's username (Userdata.json, else the rows'), never stored as is
    nested_zips: list[str] = field(default_factory=list)
    skipped_kinds: set[str] = field(default_factory=set)   # kinds with a file of unknown shape (left out)
    damaged_kinds: set[str] = field(default_factory=set)   # playlists / library files with damaged entries

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


def _unsafe_member(name: str) -> bool:
    """An absolute path or a `..` step: a crafted or damaged archive (never extracted, so this only skips it)."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


class _Budget:
    """Bytes read so far from one export, against `MAX_TOTAL_BYTES`."""

    def __init__(self, export: Path):
        self.export, self.used = export, 0

    def take(self, n: int, inner: str) -> None:
        self.used += n
        if self.used > MAX_TOTAL_BYTES:
            raise BadInput(f"{self.export} unpacks to more than {MAX_TOTAL_BYTES // 2**20:,} MB of history files "
                           f"(at {inner}); refused as a likely zip bomb, nothing was imported.",
                           "Pass the export Spotify sent you, or its unpacked folder.")


def _too_big(inner: str, export: Path) -> BadInput:
    return BadInput(f"{inner} in {export} is larger than {MAX_MEMBER_BYTES // 2**20:,} MB unpacked; refused as a "
                    "likely zip bomb or not a Spotify file, nothing was imported.",
                    "Download the export again; Spotify's own files are far smaller.")


def _read_bounded(fh, limit: int, inner: str, export: Path, budget: _Budget) -> bytes:
    chunks, n = [], 0
    while True:
        chunk = fh.read(1 << 20)
        if not chunk:
            return b"".join(chunks)
        n += len(chunk)
        if n > limit:
            raise _too_big(inner, export)
        budget.take(len(chunk), inner)
        chunks.append(chunk)


def _iter_files(path: Path, parsed: "ParsedExport") -> Iterator[tuple[str, str | None, bytes | None]]:
    """Yield (inner path, kind, bytes) for every file; bytes only for files we read (Userdata.json is read into
    `parsed.owner` here and not yielded)."""
    budget = _Budget(path)
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if "__MACOSX" in p.parts:
                continue
            rel = p.relative_to(path).as_posix()
            if p.is_symlink():   # not part of any export; never followed out of the folder
                if classify(rel) or p.suffix.lower() == ".zip":
                    parsed.ignored.append(rel)
                    parsed.notes.append(f"{rel} is a symbolic link: not followed.")
                continue
            try:
                mode = p.lstat().st_mode
            except OSError:
                continue
            if not stat.S_ISREG(mode):   # folders, named pipes, sockets, devices: nothing to read
                continue
            if p.suffix.lower() == ".zip":
                parsed.nested_zips.append(rel)
            kind = classify(rel)
            wanted = (kind and kind not in IGNORED_KINDS) or USERDATA.match(p.name)
            data = None
            if wanted:
                try:
                    limit = MAX_USERDATA_BYTES if kind is None else MAX_MEMBER_BYTES
                    if p.stat().st_size > limit:
                        if kind is None:
                            continue
                        raise _too_big(rel, path)
                    data = p.read_bytes()   # a regular file (checked above) of a size within the limit
                    if len(data) > limit:   # it grew since
                        raise _too_big(rel, path)
                    budget.take(len(data), rel)
                except OSError as err:
                    raise BadInput(f"{rel} in {path} cannot be read ({err.strerror or err}).",
                                   "Check the file's permissions, or unpack the export again.") from None
            if kind is None:
                if data is not None:
                    parsed.owner = parsed.owner or _userdata_owner(data)
                continue
            yield rel, kind, data
        return
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError,
            NotImplementedError) as err:
        raise BadInput(f"{path} is not a readable zip file ({err}).",
                       "Download the export again, or unpack it and pass the folder.") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise BadInput(f"{path} holds {len(infos):,} entries, far more than any Spotify export; nothing was "
                           "imported.", "Pass the export Spotify sent you.")
        for info in sorted(infos, key=lambda i: i.filename):
            if info.is_dir() or "__MACOSX" in info.filename:
                continue
            if _unsafe_member(info.filename):
                parsed.ignored.append(info.filename)
                parsed.notes.append(f"{info.filename!r} has an unsafe path (absolute or with ..): not read.")
                continue
            if info.filename.lower().endswith(".zip"):
                parsed.nested_zips.append(info.filename)
            kind = classify(info.filename)
            is_userdata = kind is None and USERDATA.match(PurePosixPath(info.filename).name)
            data = None
            if (kind and kind not in IGNORED_KINDS) or is_userdata:
                limit = MAX_USERDATA_BYTES if is_userdata else MAX_MEMBER_BYTES
                if info.file_size > limit:
                    if is_userdata:
                        continue
                    raise _too_big(info.filename, path)
                try:
                    with zf.open(info) as fh:
                        data = _read_bounded(fh, limit, info.filename, path, budget)
                except NotImplementedError as err:
                    raise BadInput(f"{info.filename} in {path} uses a compression method I cannot read ({err}).",
                                   "Unpack the export with your system's tool and pass the folder.") from None
                except RuntimeError as err:   # encrypted (NotImplementedError is one too: caught above)
                    raise BadInput(f"{info.filename} in {path} is encrypted ({err}).",
                                   "Pass the export as Spotify sent it (not password-protected), or its "
                                   "unpacked folder.") from None
                except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, lzma.LZMAError,
                        ValueError) as err:
                    raise BadInput(f"{info.filename} in {path} is damaged ({err}).",
                                   "Download the export again.") from None
            if is_userdata:
                if data is not None:
                    parsed.owner = parsed.owner or _userdata_owner(data)
                continue
            yield info.filename, kind, data


def _userdata_owner(data: bytes) -> str | None:
    """The account's username from Userdata.json (None when absent or unreadable: it is not needed to import)."""
    try:
        doc = json.loads(data.removeprefix(b"\xef\xbb\xbf"))
    except (ValueError, RecursionError):
        return None
    name = doc.get("username") if isinstance(doc, dict) else None
    return name.strip() or None if isinstance(name, str) and len(name) <= MAX_NAME_CHARS else None


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


def _load_json(data: bytes, inner: str, export: Path) -> tuple[object, int]:
    """The document, and how many of its strings had a lone surrogate replaced (see `_clean_text`)."""
    if not data.strip():
        raise BadInput(f"{inner} in {export} is empty (truncated or damaged?).",
                       "Download the export again; nothing was imported.")
    try:
        doc = json.loads(data.removeprefix(b"\xef\xbb\xbf"))   # a byte-order mark is harmless: accepted
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" at line {err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
        raise BadInput(f"{inner} in {export} is not valid JSON{where} (truncated or damaged?).",
                       "Download the export again; nothing was imported.") from None
    except RecursionError:
        raise BadInput(f"{inner} in {export} is nested too deeply to be a Spotify export file.",
                       "Download the export again; nothing was imported.") from None
    if _SURROGATE_ESCAPE.search(data):   # a `\\ud800` escape: a lone surrogate cannot be stored as text
        return _without_lone_surrogates(doc)
    return doc, 0


#: what a character that cannot be stored as text (a lone UTF-16 surrogate, legal in JSON) is stored as
REPLACEMENT = "\ufffd"


def _clean_text(s: str) -> str:
    """`s` as UTF-8 can store it: each lone surrogate becomes U+FFFD, the Unicode replacement character."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return "".join(REPLACEMENT if "\ud800" <= c <= "\udfff" else c for c in s)


def _without_lone_surrogates(doc) -> tuple[object, int]:
    """The document with every string (keys too) storable as UTF-8, and how many strings were changed; iterative,
    so any depth json accepted is fine."""
    changed = 0

    def clean(text: str) -> str:
        nonlocal changed
        fixed = _clean_text(text)
        changed += fixed is not text
        return fixed

    if isinstance(doc, str):
        return clean(doc), changed
    if not isinstance(doc, (list, dict)):
        return doc, 0
    root = [doc]
    stack = [(root, 0)]
    while stack:
        container, key = stack.pop()
        value = container[key]
        if isinstance(value, str):
            container[key] = clean(value)
        elif isinstance(value, list):
            stack.extend((value, i) for i in range(len(value)))
        elif isinstance(value, dict):
            fixed = {(clean(k) if isinstance(k, str) else k): v for k, v in value.items()}
            container[key] = fixed
            stack.extend((fixed, k) for k in fixed)
    return root[0], changed


class _Damage:
    """Counts rows skipped as damaged in one file, and keeps the first cause for the summary."""

    def __init__(self, inner: str):
        self.inner, self.count, self.first = inner, 0, None

    def __call__(self, row_no: int, why: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = f"row {row_no + 1}: {why}"

    def note(self) -> str | None:
        if not self.count:
            return None
        return (f"{self.inner}: {self.count:,} row(s) skipped as damaged (first: {self.first}).")


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


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
    """A name as stored: text, or None; a number is spelled out (older vintages); a list, an object or a name longer
    than any real one raises ValueError (the row is damaged)."""
    if v is None or (type(v) is str and len(v) <= MAX_NAME_CHARS):
        return v
    if isinstance(v, str):
        raise ValueError(f"a name of {len(v):,} characters")
    if isinstance(v, (int, float)) and len(text := str(v)) <= 40:
        return text
    raise ValueError(f"{_show(v)} where a name belongs")


def _opt_text(v) -> str | None:
    """A field we keep but do not need (album, reasons, dates): text (a number spelled out), else None."""
    if type(v) is str:
        return v if len(v) <= MAX_NAME_CHARS else None
    return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and len(str(v)) <= 40 else None


def _ms(v, field: str = "ms_played") -> int:
    """Milliseconds played: a whole number from 0 to a day; absent, or anything else, raises ValueError (a play
    without its duration cannot be told from a skip, so the row is damaged)."""
    if v is None:
        raise ValueError(f"no {field}")
    if type(v) is int:
        if 0 <= v <= MAX_MS_PLAYED:
            return v
    elif type(v) is float and v.is_integer() and 0 <= v <= MAX_MS_PLAYED:
        return int(v)
    raise ValueError(f"ms played {_show(v)} is not a whole number from 0 to a day")


def _required_name(v, field: str) -> str:
    """An artist or track name the row cannot do without (account data names the song only by them)."""
    text = _text(v)
    if text is None or not text.strip():
        raise ValueError(f"no {field}" if text is None else f"an empty {field}")
    return text


def parse_account_history(rows: list, source_kind: str, keys: dict[tuple, str] | None = None,
                          damaged: "_Damage | None" = None) -> list[Play]:
    """Plays of the account-data history (minute resolution, no URIs); `keys` as in `parse_extended_history`.

    A row is a play only with all four of its fields: when it ended, the artist and the track (the only way to
    tell the song, there is no URI) and how long it played. A row without one of them is skipped and counted.
    """
    plays: list[Play] = []
    if keys is None:
        keys = {}
    damaged = damaged or _Damage("")
    for n, r in enumerate(rows):
        if not isinstance(r, dict):
            damaged(n, f"{_show(r)} is not a play")
            continue
        end_time = r.get("endTime")
        if not (type(end_time) is str and _ACCOUNT_TS.fullmatch(end_time[:16]) and len(end_time) <= 40):
            damaged(n, "no endTime" if end_time is None else f"endTime {_show(end_time)} is not a time")
            continue
        ts = _account_ts(end_time)
        try:
            artist = _required_name(r.get("artistName"), "artistName")
            title = _required_name(r.get("trackName"), "trackName")
            ms = _ms(r.get("msPlayed"), "msPlayed")
        except ValueError as err:
            damaged(n, str(err))
            continue
        key = keys.get((artist, title))
        if key is None:
            key = keys[artist, title] = name_key(artist, title)
        plays.append(("account", ts, ms, title, artist, None, None, key, None, None, None, None))
    return plays


# the fields kept from one extended-history row, in the order the parser unpacks them
_EXTENDED_KEYS = ("spotify_track_uri", "ts", "master_metadata_album_artist_name", "master_metadata_track_name",
                  "ms_played", "master_metadata_album_album_name", "reason_start", "reason_end", "skipped", "shuffle")
_extended_fields = itemgetter(*_EXTENDED_KEYS)


def parse_extended_history(rows: list, keys: dict[tuple, str] | None = None,
                           damaged: "_Damage | None" = None) -> tuple[list[Play], int]:
    """One pass over the rows; the hot path of a large import, so the common shapes are handled inline.

    `keys` caches name keys per (artist, title) and may be shared by the files of one export (songs repeat).
    A stream is a play only with its track URI (the song; names may be absent), its time and its duration: a row
    without one of them, or whose fields have the wrong type or are out of range, is skipped and counted in
    `damaged`. Rows without a track URI are podcasts or audiobooks: not music, counted apart.
    """
    plays: list[Play] = []
    non_music = 0
    append = plays.append
    if keys is None:
        keys = {}
    damaged = damaged or _Damage("")
    fields = _extended_fields
    ts_ok = _EXTENDED_TS.fullmatch
    for n, r in enumerate(rows):
        try:
            uri, ts, artist, title, ms, album, reason_start, reason_end, skipped, shuffle = fields(r)
        except (KeyError, TypeError):  # a key absent in this vintage, or not a row at all
            if not isinstance(r, dict):
                damaged(n, f"{_show(r)} is not a stream")
                continue
            uri, ts, artist, title, ms, album, reason_start, reason_end, skipped, shuffle = (
                r.get(k) for k in _EXTENDED_KEYS)
        if type(uri) is str and uri.startswith("spotify:track:") and 14 < len(uri) <= 200:
            track_id = uri[14:]
        else:
            track_id = track_id_from_uri(uri) if type(uri) is str and len(uri) <= 200 else None
            if track_id is None:
                non_music += 1
                continue
        if not (type(ts) is str and len(ts) == 20 and ts_ok(ts)):
            if ts is None:
                damaged(n, "no ts")
                continue
            ts = _extended_ts(ts) if type(ts) is str and len(ts) <= 40 else None
            if ts is None or not ts_ok(ts):
                damaged(n, f"ts {_show(r.get('ts'))} is not a time")
                continue
        if (type(artist) is not str and artist is not None) or (type(title) is not str and title is not None) \
                or (artist is not None and len(artist) > MAX_NAME_CHARS) \
                or (title is not None and len(title) > MAX_NAME_CHARS):
            try:
                artist, title = _text(artist), _text(title)
            except ValueError as err:
                damaged(n, str(err))
                continue
        if type(ms) is not int or not 0 <= ms <= MAX_MS_PLAYED:
            try:
                ms = _ms(ms)
            except ValueError as err:
                damaged(n, str(err))
                continue
        try:
            key = keys[artist, title]
        except KeyError:
            key = keys[artist, title] = name_key(artist, title)
        if album is not None and (type(album) is not str or len(album) > MAX_NAME_CHARS):
            album = _opt_text(album)
        if type(reason_start) is not str and reason_start is not None:
            reason_start = _opt_text(reason_start)
        if type(reason_end) is not str and reason_end is not None:
            reason_end = _opt_text(reason_end)
        if skipped is not None:
            skipped = 1 if skipped else 0
        if shuffle is not None:
            shuffle = 1 if shuffle else 0
        append(("extended", ts, ms, title, artist, album, track_id, key, reason_start, reason_end, skipped, shuffle))
    return plays, non_music


class _Shape(Exception):
    """A file whose structure is not the one this kind of file has (a list where an object belongs...)."""


#: the keys a playlist item carries, one of them holding the item (Spotify writes the others as null)
_ITEM_KEYS = ("track", "episode", "audiobook", "localTrack")


def _shaped(entries: list, what: str, why_not, damaged: "_Damage") -> list:
    """(index, entry) of the entries of one of the export's lists that have the shape of a `what`; the others are
    counted as damaged.

    `why_not(entry)` says what is wrong with an entry (None: it has the shape). A non-empty list none of whose
    entries has the shape is not a list of `what`s at all (an unknown or damaged format): `_Shape`, so the file is
    left out rather than read as "nothing".
    """
    good = []
    for n, entry in enumerate(entries):
        why = why_not(entry)
        if why is None:
            good.append((n, entry))
        else:
            damaged(n, why)
    if entries and not good:
        raise _Shape(f"none of its {len(entries):,} entries is a {what}")
    return good


def _not_a_playlist(p) -> str | None:
    if not isinstance(p, dict):
        return f"{_show(p)} is not a playlist"
    if not isinstance(p.get("items"), list):
        return f"playlist {_show(p.get('name'))} has no list of items"
    return None


def _not_a_playlist_item(it) -> str | None:
    if not isinstance(it, dict) or not any(k in it for k in _ITEM_KEYS):
        return f"{_show(it)} is not a playlist item"
    wrong = [k for k in _ITEM_KEYS if it.get(k) is not None and not isinstance(it[k], dict)]
    return f"{_show(it[wrong[0]])} is not a {wrong[0]}" if wrong else None


def _not_a_saved_track(t) -> str | None:
    if not isinstance(t, dict) or not any(k in t for k in ("track", "artist", "uri")):
        return f"{_show(t)} is not a saved track"
    return None


def parse_playlists(doc, damaged: "_Damage | None" = None) -> list[ExportPlaylist]:
    """Playlists and their items; every list is checked for the shape of its entries (see `_shaped`)."""
    damaged = damaged or _Damage("")
    if not isinstance(doc, dict) or not isinstance(doc.get("playlists"), list):
        raise _Shape("it holds no list of playlists")
    out = []
    for _, p in _shaped(doc["playlists"], "playlist", _not_a_playlist, damaged):
        name = p.get("name")
        if not (isinstance(name, str) and name and len(name) <= MAX_NAME_CHARS):
            name = "(unnamed)"
        items = []
        for n, it in enumerate(p["items"]):
            why = _not_a_playlist_item(it)
            if why is not None:
                damaged(n, f"playlist {name!r}: {why}")
                continue
            track, local = it.get("track"), it.get("localTrack")
            added = _opt_text(it.get("addedDate"))
            try:
                if track:
                    items.append(PlaylistItem("track", track_id_from_uri(_opt_text(track.get("trackUri"))),
                                              _text(track.get("trackName")), _text(track.get("artistName")),
                                              _opt_text(track.get("albumName")), added))
                elif local:
                    items.append(PlaylistItem("local", None, _text(local.get("trackName")),
                                              _text(local.get("artistName")), _opt_text(local.get("albumName")),
                                              added))
                elif it.get("episode"):
                    items.append(PlaylistItem("episode", None, None, None, None, added))
                elif it.get("audiobook"):
                    items.append(PlaylistItem("audiobook", None, None, None, None, added))
                else:
                    items.append(PlaylistItem("missing", None, None, None, None, added))
            except ValueError as err:
                damaged(n, f"playlist {name!r}: {err}")
        if p["items"] and not items:
            raise _Shape(f"none of the {len(p['items']):,} items of playlist {name!r} is a playlist item")
        out.append(ExportPlaylist(name, _opt_text(p.get("lastModifiedDate")), items))
    return out


def parse_library(doc, damaged: "_Damage | None" = None) -> list[SavedTrack]:
    damaged = damaged or _Damage("")
    if not isinstance(doc, dict) or not isinstance(doc.get("tracks", []), list):
        raise _Shape("its tracks are not a list")
    out = []
    for n, t in _shaped(doc.get("tracks", []), "saved track", _not_a_saved_track, damaged):
        try:
            out.append(SavedTrack(track_id_from_uri(_opt_text(t.get("uri"))), _text(t.get("track")),
                                  _text(t.get("artist")), _opt_text(t.get("album"))))
        except ValueError as err:
            damaged(n, str(err))
    if doc.get("tracks") and not out:
        raise _Shape("none of its saved tracks is readable")
    return out


def _regular_file_or_dir(path: Path) -> None:
    """Refuse a named pipe, socket or device before opening it (reading a pipe would wait for ever)."""
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise BadInput(f"{path} cannot be read ({err.strerror or err}).",
                       "Check the path and its permissions.") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise BadInput(f"{path} is not a file or a folder (a pipe or a device?); nothing was read.",
                       "Pass the path of your Spotify export zip or its unpacked folder.")


def read_export(path: str | Path) -> ParsedExport:
    """Parse every known file of an export in one pass; raise `BadInput` for anything unreadable."""
    path = Path(path).expanduser()
    if not path.exists():
        raise BadInput(f"No export at {path}.", "Pass the path of your Spotify export zip or its unpacked folder.")
    _regular_file_or_dir(path)
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
    history_owners: dict[str, int] = {}
    shape_ok: dict[str, bool] = {}
    for inner, kind, data, digest in _with_digests(_iter_files(path, parsed)):
        if kind is None or kind in IGNORED_KINDS:
            if kind in IGNORED_KINDS:
                parsed.ignored.append(inner)
            continue
        f = ExportFile(inner, kind, len(data), digest)
        if f.sha256 in seen:
            continue  # the very same file twice in one export (e.g. a copy in another folder)
        seen.add(f.sha256)
        doc, replaced = _load_json(data, inner, path)
        del data
        if replaced:
            parsed.notes.append(f"{inner}: {replaced:,} text(s) held a character that cannot be stored (a lone "
                                f"surrogate): stored with the replacement character {REPLACEMENT}.")
        damaged = _Damage(inner)
        if kind in ("account_music", "account_mixed"):
            if not isinstance(doc, list):
                raise BadInput(f"{inner} in {path} is not a list of plays.", "Download the export again.")
            plays = parse_account_history(doc, kind, keys, damaged)
            parsed.plays[f.sha256] = plays
            f.rows = len(plays)
        elif kind == "extended":
            if not isinstance(doc, list):
                raise BadInput(f"{inner} in {path} is not a list of streams.", "Download the export again.")
            plays, non_music = parse_extended_history(doc, keys, damaged)
            for r in doc[:1000]:   # older vintages name the account in every row
                name = r.get("username") if isinstance(r, dict) else None
                if isinstance(name, str) and name.strip() and len(name) <= MAX_NAME_CHARS:
                    history_owners[name.strip()] = history_owners.get(name.strip(), 0) + 1
            parsed.plays[f.sha256] = plays
            parsed.dropped_non_music += non_music
            f.rows = len(plays)
        elif kind in ("playlists", "library"):
            try:
                items = parse_playlists(doc, damaged) if kind == "playlists" else parse_library(doc, damaged)
            except _Shape as err:
                # not the shape Spotify writes: this file is left out (not recorded as imported), so what an
                # earlier export gave of this kind is kept rather than replaced by nothing
                parsed.notes.append(f"{inner} was not imported: {err} (an unknown or damaged format); "
                                    f"the {'playlists' if kind == 'playlists' else 'saved tracks'} imported "
                                    "before are kept.")
                shape_ok[kind] = False   # one bad file of a kind: keep all that kind imported before
                continue
            shape_ok.setdefault(kind, True)
            if damaged.count:
                parsed.damaged_kinds.add(kind)
            if kind == "playlists":
                parsed.playlists.extend(items)
                f.rows = sum(len(p.items) for p in items)
            else:
                parsed.saved_tracks.extend(items)
                f.rows = len(items)
        if damaged.count:
            parsed.damaged_rows += damaged.count
            parsed.notes.append(damaged.note())
        parsed.files.append(f)
    parsed.skipped_kinds = {k for k, ok in shape_ok.items() if not ok}
    if parsed.owner is None and history_owners:
        parsed.owner = max(history_owners, key=history_owners.get)
    if parsed.owner is not None:
        parsed.owner = _clean_text(parsed.owner)
    return parsed
