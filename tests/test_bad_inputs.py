"""Corrupt and odd exports through the real `spotify-model features --offline` command (issue 13, item 4).

Every case is imported or refused; a refusal is exit 2 with one line of cause and what to do, no traceback, and the
store (database, after a WAL checkpoint, and the history CSV) byte-for-byte as it was. An import of an export with
bad rows skips them, counts them in the summary, and stores none of their garbage.

Figures for RELIABILITY.md: `suite=bad_input`, `case`, `refused_cleanly`, `tracebacks`, `imported_lost`
(plays, playlist items or saved tracks lost from an earlier import).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from export_fixtures import _w, extended_row, write_account_export, zip_folder
from spotify_modeling.cli import main
from spotify_modeling.core import export as export_mod
from spotify_modeling.home import Home

ACCOUNT = "Spotify Account Data"
GOOD_ROW = {"endTime": "2024-05-01 10:00", "artistName": "Good Band", "trackName": "Good Song", "msPlayed": 123456}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SPOTIFY_MODEL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    return Home.from_env()


def store_state(h: Home) -> dict:
    """The store's bytes after a WAL checkpoint, and the processed CSVs: what a refusal must leave as it was."""
    out = {}
    if h.db_path.exists():
        conn = sqlite3.connect(h.db_path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        out["db"] = hashlib.sha256(h.db_path.read_bytes()).hexdigest()
    for p in sorted(h.processed.glob("*")) if h.processed.exists() else []:
        out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def counts(h: Home) -> dict:
    conn = sqlite3.connect(h.db_path)
    out = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
           for t in ("plays", "playlists", "playlist_items", "saved_tracks", "imported_files")}
    conn.close()
    return out


def rows(h: Home, sql: str) -> list[tuple]:
    conn = sqlite3.connect(h.db_path)
    out = conn.execute(sql).fetchall()
    conn.close()
    return out


def features(capsys, path) -> tuple[int, str, str]:
    code = main(["features", "--offline", str(path)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def first_import(home, tmp_path, capsys):
    """The home after a good first import (2024 account data with playlists, saved tracks and Userdata.json)."""
    assert main(["features", "--offline", str(write_account_export(tmp_path / "first"))]) == 0
    capsys.readouterr()
    return counts(home)


def account_export(root: Path, rows_0=None, rows_1=None, files: dict | None = None) -> Path:
    """The fixture account export with some files replaced (by a JSON document, or raw bytes)."""
    write_account_export(root)
    d = root / ACCOUNT
    if rows_0 is not None:
        _w(d / "StreamingHistory_music_0.json", rows_0)
    if rows_1 is not None:
        _w(d / "StreamingHistory_music_1.json", rows_1)
    for name, content in (files or {}).items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (d / name).write_bytes(content)
        else:
            _w(d / name, content)
    return root


def patch_zip_headers(zpath: Path, *, flag_bits: int | None = None, method: int | None = None,
                      declared_size: int | None = None) -> None:
    """Rewrite every member's local and central header fields (what a crafted or odd zip carries)."""
    data = bytearray(zpath.read_bytes())
    for sig, flag_at, method_at, size_at in ((b"PK\x03\x04", 6, 8, 22), (b"PK\x01\x02", 8, 10, 24)):
        at = data.find(sig)
        while at != -1:
            if flag_bits is not None:
                struct.pack_into("<H", data, at + flag_at, flag_bits)
            if method is not None:
                struct.pack_into("<H", data, at + method_at, method)
            if declared_size is not None:
                struct.pack_into("<I", data, at + size_at, declared_size)
            at = data.find(sig, at + 4)
    zpath.write_bytes(bytes(data))


# ------------------------------------------------------------------------------------------------ refusals
def _truncated_zip(tmp):
    z = zip_folder(write_account_export(tmp / "e"), tmp / "my_spotify_data.zip")
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    return z, "not a zip file, or an incomplete one"


def _nested_zip(tmp):
    inner = zip_folder(write_account_export(tmp / "e"), tmp / "my_spotify_data.zip")
    outer = tmp / "outer.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(inner, "download/my_spotify_data.zip")
    return outer, "another zip (download/my_spotify_data.zip)"


def _zip_bomb_member(tmp):
    # one byte over the per-file limit, deflated to a few KB: refused on the declared size before inflating
    z = tmp / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("MyData/StreamingHistory_music_0.json", b"[" + b" " * export_mod.MAX_MEMBER_BYTES + b"]")
    assert z.stat().st_size < 1_000_000
    return z, f"larger than {export_mod.MAX_MEMBER_BYTES // 2**20} MB unpacked"


def _zip_bomb_lying_header(tmp):
    # the headers claim 100 bytes: reading stops at the claimed size and the checksum gives the lie away
    z = _zip_bomb_member(tmp)[0]
    patch_zip_headers(z, declared_size=100)
    return z, "is damaged"


def _zip_bomb_total(tmp):
    # members each under the per-file limit, together over the total limit
    z = tmp / "bomb_total.zip"
    n = export_mod.MAX_TOTAL_BYTES // export_mod.MAX_MEMBER_BYTES + 1
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        member = b"[" + b" " * (export_mod.MAX_MEMBER_BYTES - 2) + b"]"
        for i in range(n):
            zf.writestr(f"MyData/StreamingHistory{i}.json", member)
    return z, "likely zip bomb"


def _too_many_members(tmp):
    z = tmp / "many.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for i in range(export_mod.MAX_MEMBERS + 1):
            zf.writestr(f"MyData/junk_{i}.txt", "")
    return z, f"holds {export_mod.MAX_MEMBERS + 1:,} entries"


def _encrypted_zip(tmp):
    z = zip_folder(write_account_export(tmp / "e"), tmp / "my_spotify_data.zip")
    patch_zip_headers(z, flag_bits=0x1)
    return z, "is encrypted"


def _unsupported_method(tmp):
    z = zip_folder(write_account_export(tmp / "e"), tmp / "my_spotify_data.zip")
    patch_zip_headers(z, method=6)  # implode: zipfile cannot read it
    return z, "compression method I cannot read"


def _invalid_utf8(tmp):
    return account_export(tmp / "e", files={"StreamingHistory_music_0.json": b'[{"artistName": "\xff\xfe"}]'}), \
        "not valid JSON"


def _truncated_json(tmp):
    text = json.dumps([GOOD_ROW] * 3)
    return account_export(tmp / "e", files={"StreamingHistory_music_0.json": text[:-7].encode()}), \
        "not valid JSON at line 1"


def _deeply_nested(tmp):
    return account_export(tmp / "e", files={"StreamingHistory_music_0.json": b"[" * 200_000 + b"]" * 200_000}), \
        "nested too deeply"


def _wrong_top_level(tmp):
    return account_export(tmp / "e", rows_0={"plays": [GOOD_ROW]}), "is not a list of plays"


def _empty_history_file(tmp):
    return account_export(tmp / "e", files={"StreamingHistory_music_1.json": b""}), "is empty"


def _every_row_damaged(tmp):
    bad = [{**GOOD_ROW, "msPlayed": "x"}, {**GOOD_ROW, "endTime": "9999-99-99 99:99"}, [1, 2], "row"]
    return account_export(tmp / "e", rows_0=bad, rows_1=bad), "holds no music plays"


def _second_person(tmp):
    root = write_account_export(tmp / "other")
    (root / ACCOUNT / "Userdata.json").write_text(json.dumps({"username": "somebody-else"}))
    _w(root / ACCOUNT / "StreamingHistory_music_0.json", [{**GOOD_ROW, "endTime": "2025-01-01 10:00"}])
    return root, "another Spotify account ('somebody-else')"


def _second_person_by_rows(tmp):
    # no Userdata.json: the extended history's own username field names the account
    root = tmp / "other_ext"
    row = extended_row("2025-02-01T10:00:00Z", "Song", "Band", "spotify:track:" + "Z" * 22, username="stranger")
    _w(root / "Spotify Extended Streaming History" / "Streaming_History_Audio_2025.json", [row])
    return root, "another Spotify account ('stranger')"


def _unreadable_file(tmp):
    root = account_export(tmp / "e")
    g = root / ACCOUNT / "sub" / "StreamingHistory_music_2.json"
    g.parent.mkdir()
    g.write_text(json.dumps([GOOD_ROW]))
    g.chmod(0)   # root reads it anyway: the test denies the read at the OS boundary then
    return root, "StreamingHistory_music_2.json in"


REFUSALS = {
    "truncated zip": _truncated_zip,
    "nested zip": _nested_zip,
    "zip bomb member (declared size)": _zip_bomb_member,
    "zip bomb member (header lies)": _zip_bomb_lying_header,
    "zip bomb total size": _zip_bomb_total,
    "too many zip entries": _too_many_members,
    "encrypted zip": _encrypted_zip,
    "unsupported zip compression": _unsupported_method,
    "invalid UTF-8": _invalid_utf8,
    "truncated JSON": _truncated_json,
    "deeply nested JSON": _deeply_nested,
    "wrong top-level type": _wrong_top_level,
    "empty history file": _empty_history_file,
    "every row damaged": _every_row_damaged,
    "second person's export (Userdata.json)": _second_person,
    "second person's export (history rows)": _second_person_by_rows,
    "unreadable file": _unreadable_file,
}


@pytest.fixture
def small_limits(monkeypatch):
    """Limits small enough that the bombs stay small on disk and quick to build (the code paths are the same)."""
    monkeypatch.setattr(export_mod, "MAX_MEMBER_BYTES", 2 * 1024 * 1024)
    monkeypatch.setattr(export_mod, "MAX_TOTAL_BYTES", 5 * 1024 * 1024)
    monkeypatch.setattr(export_mod, "MAX_MEMBERS", 50)


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_export_is_refused_in_one_line_and_the_store_is_unchanged(case, home, tmp_path, capsys, first_import,
                                                                       small_limits, record_property, monkeypatch):
    if case == "unreadable file" and os.geteuid() == 0:
        real = Path.read_bytes

        def read_bytes(self):
            if self.name == "StreamingHistory_music_2.json":
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)
        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    before = store_state(home)
    target, cause = REFUSALS[case](tmp_path)
    code, out, err = features(capsys, target)
    tracebacks = (out + err).count("Traceback")
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    after = store_state(home)
    lost = sum(max(0, first_import[k] - v) for k, v in counts(home).items())
    ok = code == 2 and len(lines) == 1 and cause in lines[0] and after == before and not tracebacks
    record_property("suite", "bad_input")
    record_property("case", case)
    record_property("refused_cleanly", int(ok))
    record_property("tracebacks", tracebacks)
    record_property("imported_lost", lost)
    assert code == 2, (out, err)
    assert tracebacks == 0
    assert cause in one_line(err), err
    assert lines[0].startswith("error:") and "unexpected" not in lines[0]
    assert after == before
    assert lost == 0


def test_the_second_person_refusal_says_how_to_keep_them_apart(home, tmp_path, capsys, first_import,
                                                              record_property):
    target, _ = _second_person(tmp_path)
    code, _, err = features(capsys, target)
    other_code = main(["features", "--offline", "--home", str(tmp_path / "home2"), str(target)])
    record_property("suite", "bad_input")
    record_property("case", "second person's export into their own --home")
    record_property("refused_cleanly", int(code == 2 and "--home" in err and other_code == 0))
    assert code == 2 and "--home" in one_line(err)
    other = tmp_path / "home2"   # what the line says to do works: their own home
    assert other_code == 0
    assert counts(Home.from_env(other))["plays"] == 2   # its own two plays, none of the first person's
    assert counts(home) == first_import


def test_the_username_is_not_stored(home, first_import, record_property):
    leaks = home.db_path.read_bytes().count(b"someone") + sum(
        p.read_bytes().count(b"someone") for p in home.processed.glob("*"))
    record_property("suite", "bad_input")
    record_property("case", "the export's username is not stored")
    record_property("secret_leaks", leaks)
    assert leaks == 0
    digest = rows(home, "SELECT value FROM kv WHERE key = 'export_owner'")
    assert len(digest) == 1 and len(json.loads(digest[0][0])) == 64


def test_a_named_pipe_is_refused_without_waiting(tmp_path, record_property):
    fifo = tmp_path / "my_spotify_data.zip"
    os.mkfifo(fifo)
    env = {**os.environ, "SPOTIFY_MODEL_HOME": str(tmp_path / "home")}
    env.pop("SPOTIPY_CLIENT_ID", None)
    try:   # a subprocess, so that a regression fails the test instead of hanging the suite
        done = subprocess.run([sys.executable, "-c", "import sys; from spotify_modeling.cli import main; "
                               "sys.exit(main(sys.argv[1:]))", "features", "--offline", str(fifo)],
                              env=env, capture_output=True, text=True, timeout=60)
        hung = 0
    except subprocess.TimeoutExpired:
        done, hung = None, 1
    ok = not hung and done.returncode == 2 and "not a file or a folder" in done.stderr
    record_property("suite", "bad_input")
    record_property("case", "named pipe as the export path")
    record_property("refused_cleanly", int(ok))
    record_property("tracebacks", 0 if hung else done.stderr.count("Traceback"))
    assert not hung, "the command waited on a named pipe"
    assert ok, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "home").exists()


# ------------------------------------------------------------------------------------------ imported, bad rows counted
def test_malformed_playlists_file_keeps_the_playlists_imported_before(home, tmp_path, capsys, first_import,
                                                                       record_property):
    # the user's data-loss report: Playlist1.json of `[1, 2]` emptied every playlist imported before, exit 0
    before_items = rows(home, "SELECT playlist_key, position, track_name FROM playlist_items ORDER BY 1, 2")
    target = account_export(tmp_path / "e", rows_1=[GOOD_ROW], files={"Playlist1.json": [1, 2]})
    code, out, err = features(capsys, target)
    after_items = rows(home, "SELECT playlist_key, position, track_name FROM playlist_items ORDER BY 1, 2")
    lost = len(set(before_items) - set(after_items))
    record_property("suite", "bad_input")
    record_property("case", "malformed Playlist1.json on re-import")
    record_property("imported_lost", lost)
    record_property("tracebacks", (out + err).count("Traceback"))
    record_property("refused_cleanly", int(code == 0 and lost == 0 and "Playlist1.json was not imported" in out))
    assert code == 0, err
    assert after_items == before_items and len(before_items) == first_import["playlist_items"] > 0
    assert "Playlist1.json was not imported" in out and "playlists imported before are kept" in out
    assert counts(home)["plays"] == first_import["plays"] + 1   # the new history row is imported
    # a corrected export later replaces them as usual (the bad file was not recorded as imported)
    fixed = account_export(tmp_path / "fixed", rows_1=[GOOD_ROW], files={"Playlist1.json": {"playlists": [
        {"name": "New", "items": [{"track": {"trackName": "X", "artistName": "Y", "trackUri": None}}]}]}})
    assert features(capsys, fixed)[0] == 0
    assert rows(home, "SELECT name FROM playlists WHERE origin = 'export'") == [("New",)]


def test_malformed_library_file_keeps_the_saved_tracks(home, tmp_path, capsys, first_import, record_property):
    target = account_export(tmp_path / "e", rows_1=[GOOD_ROW], files={"YourLibrary.json": {"tracks": "none"}})
    code, out, _ = features(capsys, target)
    lost = first_import["saved_tracks"] - counts(home)["saved_tracks"]
    record_property("suite", "bad_input")
    record_property("case", "malformed YourLibrary.json on re-import")
    record_property("refused_cleanly", int(code == 0 and lost == 0))
    record_property("imported_lost", max(0, lost))
    assert code == 0 and "YourLibrary.json was not imported" in out
    assert counts(home)["saved_tracks"] == first_import["saved_tracks"] == 1


GOOD_ITEM = {"track": {"trackName": "X", "artistName": "Y", "albumName": "Z",
                       "trackUri": "spotify:track:5555555555555555555555"},
             "episode": None, "audiobook": None, "localTrack": None, "addedDate": "2024-06-01"}
#: valid JSON of the wrong shape, the rule being general: every list of the file is checked for its entries' shape
WRONG_SHAPES = {
    "Playlist1.json": {
        "playlists of numbers": {"playlists": [1, 2]},
        "playlists of strings and nulls": {"playlists": ["a", None]},
        "playlists without items": {"playlists": [{"name": "A"}, {"name": "B", "items": "none"}]},
        "items of numbers": {"playlists": [{"name": "A", "items": [1, 2, 3]}]},
        "items of empty objects": {"playlists": [{"name": "A", "items": [{}, {}]}]},
        "a track that is a number": {"playlists": [{"name": "A", "items": [{"track": 5, "episode": None}]}]},
        "one good playlist, one broken": {"playlists": [{"name": "A", "items": [GOOD_ITEM]}, 7]},
        "one good item, one broken": {"playlists": [{"name": "A", "items": [GOOD_ITEM, "x"]}]},
    },
    "YourLibrary.json": {
        "saved tracks of numbers": {"tracks": [1, 2]},
        "saved tracks of other objects": {"tracks": [{"foo": 1}]},
        "one good saved track, one broken": {"tracks": [{"artist": "A", "track": "T", "uri": None}, [1]]},
    },
}


@pytest.mark.parametrize("file,case", [(f, c) for f, cases in WRONG_SHAPES.items() for c in cases])
def test_a_file_of_the_wrong_shape_keeps_what_was_imported_before(file, case, home, tmp_path, capsys,
                                                                   first_import, record_property):
    # the user's report: Playlist1.json of {"playlists": [1, 2]} emptied every playlist imported before, exit 0
    sql = {"Playlist1.json": "SELECT playlist_key, position, track_name FROM playlist_items ORDER BY 1, 2",
           "YourLibrary.json": "SELECT track_id, track_name FROM saved_tracks ORDER BY 1, 2"}[file]
    before = rows(home, sql)
    code, out, err = features(capsys, account_export(tmp_path / "e", rows_1=[GOOD_ROW],
                                                     files={file: WRONG_SHAPES[file][case]}))
    after = rows(home, sql)
    lost = len(set(before) - set(after))
    said = "imported before are kept" in out
    record_property("suite", "bad_input")
    record_property("case", f"{file} on re-import: {case}")
    record_property("imported_lost", lost)
    record_property("tracebacks", (out + err).count("Traceback"))
    record_property("refused_cleanly", int(code == 0 and lost == 0 and after == before and said))
    assert code == 0, err
    assert after == before and len(before) > 0
    assert said, out
    assert counts(home)["plays"] == first_import["plays"] + 1   # the rest of the export is imported


def test_a_partly_damaged_playlists_file_fills_an_empty_home(home, tmp_path, capsys, record_property):
    """Into a home with no playlists yet, the good entries of a damaged file are imported and the rest counted."""
    doc = {"playlists": [{"name": "A", "items": [GOOD_ITEM, "x"]}, 7]}
    code, out, err = features(capsys, account_export(tmp_path / "e", files={"Playlist1.json": doc}))
    record_property("suite", "bad_input")
    record_property("case", "partly damaged Playlist1.json, first import")
    record_property("refused_cleanly", int(code == 0 and "2 row(s) skipped as damaged" in out))
    assert code == 0, err
    assert rows(home, "SELECT p.name, i.track_name FROM playlist_items i JOIN playlists p USING (playlist_key)") == \
        [("A", "X")]
    assert "Playlist1.json: 2 row(s) skipped as damaged (first: row 2: 7 is not a playlist)" in out


def _shifted(row: dict, days: int, song: str | None = None) -> dict:
    from datetime import datetime, timedelta

    when = datetime.strptime(row["endTime"], "%Y-%m-%d %H:%M") + timedelta(days=days)
    return {**row, "endTime": when.strftime("%Y-%m-%d %H:%M"), **({"trackName": song} if song else {})}


@pytest.mark.parametrize("case", ["same period, other songs", "no overlap in time"])
def test_an_export_naming_no_account_that_looks_like_another_persons_is_flagged(case, home, tmp_path, capsys,
                                                                                 record_property):
    """An export without Userdata.json or usernames cannot be refused as another person's, but it is warned about
    when its plays share no time with the home's, or share the time and almost none of the songs."""
    base = [_shifted(GOOD_ROW, d, f"Mine {d % 7}") for d in range(40)]
    first = account_export(tmp_path / "a", rows_0=base, rows_1=[])
    (first / ACCOUNT / "Userdata.json").unlink()
    assert features(capsys, first)[0] == 0
    plays_before = counts(home)["plays"]
    shift = 10 if case == "same period, other songs" else 400
    other = [_shifted(GOOD_ROW, shift + d, f"Theirs {d}") for d in range(30)]
    second = tmp_path / "b"
    _w(second / ACCOUNT / "StreamingHistory_music_0.json", other)
    code, out, err = features(capsys, second)
    flagged = "--home PATH" in out and "another person's" in out
    record_property("suite", "bad_input")
    record_property("case", f"an export naming no account: {case}")
    record_property("refused_cleanly", int(code == 0 and flagged))
    assert code == 0, err
    assert flagged, out
    assert ("only 0% are of songs played then" in out) == (case == "same period, other songs")
    assert ("do not overlap" in out) == (case == "no overlap in time")
    assert counts(home)["plays"] == plays_before + 30   # imported, as the note says


def test_the_same_persons_overlapping_export_is_not_flagged(home, tmp_path, capsys):
    base = [_shifted(GOOD_ROW, d, f"Mine {d % 7}") for d in range(40)]
    first = account_export(tmp_path / "a", rows_0=base, rows_1=[])
    assert features(capsys, first)[0] == 0
    later = base[20:] + [_shifted(GOOD_ROW, 40 + d, f"Mine {d % 9}") for d in range(30)]
    second = tmp_path / "b"
    _w(second / ACCOUNT / "StreamingHistory_music_0.json", later)
    code, out, _ = features(capsys, second)
    assert code == 0
    assert "another person's" not in out
    assert counts(home)["plays"] == 40 + 30


BAD_ROWS = {
    "msPlayed as a string": ({"msPlayed": "180000"}, "ms played '180000'"),
    "negative duration": ({"msPlayed": -5}, "ms played -5"),
    "NaN duration": ({"msPlayed": float("nan")}, "ms played nan"),
    "1e400 duration": ("1e400", "ms played inf"),
    "2**70 ms duration": ({"msPlayed": 2 ** 70}, "ms played 1180591620717411303424"),
    "unparseable timestamp": ({"endTime": "9999-99-99 99:99"}, "endTime '9999-99-99 99:99' is not a time"),
    "timestamp not a string": ({"endTime": 20240501}, "endTime 20240501 is not a time"),
    "unhashable name": ({"artistName": ["a", "list"]}, "['a', 'list'] where a name belongs"),
    "object name": ({"trackName": {"x": 1}}, "where a name belongs"),
    "1 MB name": ({"trackName": "x" * 1_000_000}, "a name of 1,000,000 characters"),
    "row not an object": ([1, 2], "[1, 2] is not a play"),
    # a play needs all four of its fields: when, which artist, which track (no URI in this format), how long
    "empty row": (lambda row: {}, "no endTime"),
    "only endTime": (lambda row: {"endTime": row["endTime"]}, "no artistName"),
    "endTime and artistName only": (lambda row: {"endTime": row["endTime"], "artistName": "A"}, "no trackName"),
    "no msPlayed": (lambda row: {k: v for k, v in row.items() if k != "msPlayed"}, "no msPlayed"),
    "null trackName": ({"trackName": None}, "no trackName"),
    "null artistName": ({"artistName": None}, "no artistName"),
    "blank artistName": ({"artistName": "  "}, "an empty artistName"),
    "null msPlayed": ({"msPlayed": None}, "no msPlayed"),
    "msPlayed a flag": ({"msPlayed": True}, "ms played True"),
    "null endTime": ({"endTime": None}, "no endTime"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_damaged_row_is_skipped_and_counted_not_stored(case, home, tmp_path, capsys, record_property):
    change, why = BAD_ROWS[case]
    d = write_account_export(tmp_path / "e") / ACCOUNT
    rows_doc = [GOOD_ROW, {**GOOD_ROW, "endTime": "2024-05-02 10:00"}]
    if change == "1e400":   # json.dumps cannot write it: spell the number in the file
        text = json.dumps(rows_doc + [{**GOOD_ROW, "endTime": "2024-05-03 10:00", "msPlayed": 0}])
        (d / "StreamingHistory_music_0.json").write_text(text.replace('"msPlayed": 0}', '"msPlayed": 1e400}'))
    else:
        row = {**GOOD_ROW, "endTime": "2024-05-03 10:00"}
        bad = change if isinstance(change, list) else change(row) if callable(change) else {**row, **change}
        _w(d / "StreamingHistory_music_0.json", rows_doc + [bad])
    code, out, err = features(capsys, d.parent)
    stored = rows(home, "SELECT ts, ms_played, track_name, artist_name FROM plays WHERE source = 'account' "
                        "ORDER BY ts")
    shown = "StreamingHistory_music_0.json: 1 row(s) skipped as damaged (first: row 3:" in out and why in out
    record_property("suite", "bad_input")
    record_property("case", case)
    record_property("tracebacks", (out + err).count("Traceback"))
    record_property("refused_cleanly", int(code == 0 and shown and len(stored) == 3))
    assert code == 0, err
    assert shown, out
    # the two good rows of this file plus the one good row of StreamingHistory_music_1.json, nothing else
    assert [r[0] for r in stored] == ["2024-02-01T09:00:00Z", "2024-05-01T10:00:00Z", "2024-05-02T10:00:00Z"]
    assert all(r[1] is None or 0 <= r[1] <= 86_400_000 for r in stored)
    assert "2024-02-01 to 2024-05-02" in out


def test_extended_rows_with_bad_fields_are_counted(home, tmp_path, capsys, record_property):
    d = tmp_path / "e" / "Spotify Extended Streaming History"
    ok = extended_row("2024-01-01T10:00:00Z", "Song", "Band", "spotify:track:" + "A" * 22)
    _w(d / "Streaming_History_Audio_2024.json", [
        ok, {**ok, "ts": "not a time"}, {**ok, "ms_played": "x"}, {**ok, "ms_played": -1},
        {**ok, "master_metadata_track_name": ["x"]}, {**ok, "ts": "2024-13-40T25:61:00Z"}])
    code, out, err = features(capsys, tmp_path / "e")
    record_property("suite", "bad_input")
    record_property("case", "extended rows with bad ts, ms, names")
    record_property("refused_cleanly", int(code == 0 and "5 row(s) skipped as damaged" in out))
    record_property("tracebacks", (out + err).count("Traceback"))
    assert code == 0, err
    assert "5 row(s) skipped as damaged (first: row 2: ts 'not a time' is not a time)" in out
    assert rows(home, "SELECT ts, ms_played FROM plays") == [("2024-01-01T10:00:00Z", 200000)]


def test_odd_but_valid_text_is_kept_exactly(home, tmp_path, capsys, record_property):
    names = ["🎸 Ünïcödé Bänd", "فرقة الروك", "להקה\u200f", "Song 🎶\u202e reversed", "\u0000nul", "日本語の曲"]
    d = write_account_export(tmp_path / "e") / ACCOUNT
    _w(d / "StreamingHistory_music_0.json", [
        {"endTime": f"2024-06-0{i + 1} 10:00", "artistName": n, "trackName": n[::-1], "msPlayed": 1000}
        for i, n in enumerate(names)])
    # a byte-order mark, extra fields and nulls in fields a play does not need are fine too
    doc = [{**GOOD_ROW, "extra": {"nested": [1]}, "albumName": None, "platform": None}]
    (d / "StreamingHistory_music_1.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode())
    code, out, err = features(capsys, d.parent)
    stored = rows(home, "SELECT artist_name, track_name FROM plays WHERE ts LIKE '2024-06%' ORDER BY ts")
    ok = code == 0 and stored == [(n, n[::-1]) for n in names]
    record_property("suite", "bad_input")
    record_property("case", "emoji, right-to-left, BOM, extra and null fields")
    record_property("refused_cleanly", int(ok))
    record_property("tracebacks", (out + err).count("Traceback"))
    assert code == 0, err
    assert stored == [(n, n[::-1]) for n in names]
    assert rows(home, "SELECT artist_name, track_name FROM plays WHERE ts = '2024-05-01T10:00:00Z'") == \
        [("Good Band", "Good Song")]
    assert "skipped as damaged" not in out


def test_a_lone_surrogate_in_a_name_is_replaced_not_a_crash(home, tmp_path, capsys, record_property):
    d = write_account_export(tmp_path / "e") / ACCOUNT
    (d / "StreamingHistory_music_1.json").write_text(
        '[{"endTime": "2024-05-01 10:00", "artistName": "Bad \\ud800 Band", "trackName": "\\udfff", '
        '"msPlayed": 1000}, {"endTime": "2024-05-02 10:00", "artistName": "Pair \\ud83c\\udfb8", '
        '"trackName": "ok", "msPlayed": 1000}]')
    code, out, err = features(capsys, d.parent)
    record_property("suite", "bad_input")
    record_property("case", "lone surrogate in a name")
    stored = rows(home, "SELECT artist_name, track_name FROM plays WHERE ts >= '2024-05' ORDER BY ts")
    said = ("StreamingHistory_music_1.json: 2 text(s) held a character that cannot be stored (a lone surrogate): "
            "stored with the replacement character \ufffd.")
    record_property("refused_cleanly", int(code == 0 and said in out))
    record_property("tracebacks", (out + err).count("Traceback"))
    assert code == 0, err
    # stored with U+FFFD (not "?", which is a real character of real titles), and the summary says so
    assert stored == [("Bad \ufffd Band", "\ufffd"), ("Pair 🎸", "ok")]
    assert said in out


def test_duplicated_files_count_once(home, tmp_path, capsys, record_property):
    root = write_account_export(tmp_path / "e")
    copy = root / "copy" / "StreamingHistory_music_0.json"
    copy.parent.mkdir()
    copy.write_bytes((root / ACCOUNT / "StreamingHistory_music_0.json").read_bytes())
    code, _, err = features(capsys, root)
    c = counts(home)
    record_property("suite", "bad_input")
    record_property("case", "duplicated files")
    record_property("refused_cleanly", int(code == 0 and c["plays"] == 5))
    assert code == 0, err
    assert c["plays"] == 5 and c["imported_files"] == 4


def test_an_unsafe_member_path_is_not_read_and_nothing_is_written_outside(home, tmp_path, capsys, record_property):
    z = zip_folder(write_account_export(tmp_path / "e"), tmp_path / "my_spotify_data.zip")
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr("../../StreamingHistory_music_9.json", json.dumps([GOOD_ROW]))
        zf.writestr("/abs/x.json", "{}")
    listing = sorted(p for p in tmp_path.parent.rglob("StreamingHistory_music_9.json"))
    code, out, err = features(capsys, z)
    record_property("suite", "bad_input")
    record_property("case", "member named ../../x.json")
    record_property("refused_cleanly", int(code == 0 and "unsafe path" in out))
    record_property("tracebacks", (out + err).count("Traceback"))
    assert code == 0, err
    assert "'../../StreamingHistory_music_9.json' has an unsafe path" in out
    assert counts(home)["plays"] == 5   # its row was not imported
    assert sorted(p for p in tmp_path.parent.rglob("StreamingHistory_music_9.json")) == listing


def test_a_symlink_in_the_folder_is_not_followed(home, tmp_path, capsys, record_property):
    root = write_account_export(tmp_path / "e")
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps([GOOD_ROW]))
    (root / ACCOUNT / "StreamingHistory_music_7.json").symlink_to(outside)
    code, out, err = features(capsys, root)
    record_property("suite", "bad_input")
    record_property("case", "symlink in the export folder")
    record_property("refused_cleanly", int(code == 0 and "not followed" in out and counts(home)["plays"] == 5))
    assert code == 0, err
    assert "StreamingHistory_music_7.json is a symbolic link: not followed" in out
    assert counts(home)["plays"] == 5


def test_the_same_persons_next_export_is_imported(home, tmp_path, capsys, first_import, record_property):
    target = account_export(tmp_path / "next", rows_1=[GOOD_ROW])
    code, _, err = features(capsys, target)
    record_property("suite", "bad_input")
    record_property("case", "the same person's next export")
    record_property("refused_cleanly", int(code == 0))
    assert code == 0, err
    assert counts(home)["plays"] == first_import["plays"] + 1


# ------------------------------------------------------------------------------------------------ --features-csv
FEATURE_CSVS = {
    "non-numeric feature cell": ("track_id,energy\nAAAAAAAAAAAAAAAAAAAAAA,abc\n", "energy 'abc' on data row 1"),
    "infinite feature cell": ("track_id,energy\nAAAAAAAAAAAAAAAAAAAAAA,inf\n", "energy 'inf' on data row 1"),
    "key out of range": ("track_id,key\nAAAAAAAAAAAAAAAAAAAAAA,0\nB,1e30\n", "key '1e+30' on data row 2"),
    "row with extra cells": ("track_id,energy\nAAAAAAAAAAAAAAAAAAAAAA,0.5,9\n", "more cells than its header"),
    "not text": (b"\x00\xff\xfe\x01", "is not a readable CSV"),
    # every numeric column is checked for its range, not only for being a number
    "danceability above 1": ("track_id,danceability\nAAAAAAAAAAAAAAAAAAAAAA,0.5\nB,7.5\n",
                             "danceability '7.5' on data row 2 is not a finite number from 0 to 1"),
    "negative energy": ("track_id,energy\nAAAAAAAAAAAAAAAAAAAAAA,-3\n", "energy '-3' on data row 1 is not a finite "
                        "number from 0 to 1"),
    "negative tempo, 200 rows": ("track_id,tempo\n" + "".join(f"T{i},-120\n" for i in range(200)),
                                 "tempo '-120' on data row 1 is not a finite number from 0 to 300 (200 such"),
    "loudness of +20 dB": ("track_id,loudness\nAAAAAAAAAAAAAAAAAAAAAA,20\n", "loudness '20' on data row 1 is not a finite number from -60 to 6"),
    "mode 2": ("track_id,mode\nAAAAAAAAAAAAAAAAAAAAAA,2\n", "mode '2' on data row 1 is not a whole number from 0 to 1"),
}


@pytest.mark.parametrize("case", list(FEATURE_CSVS))
def test_a_bad_features_csv_is_refused_before_the_import(case, home, tmp_path, capsys, first_import,
                                                         record_property):
    content, cause = FEATURE_CSVS[case]
    path = tmp_path / "features.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = store_state(home)
    code = main(["features", "--offline", "--features-csv", str(path),
                 str(account_export(tmp_path / "e", rows_1=[GOOD_ROW]))])
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.strip().splitlines() if ln.strip()]
    ok = code == 2 and len(lines) == 1 and cause in lines[0] and store_state(home) == before
    record_property("suite", "bad_input")
    record_property("case", f"--features-csv: {case}")
    record_property("refused_cleanly", int(ok))
    record_property("tracebacks", (cap.out + cap.err).count("Traceback"))
    assert code == 2, cap
    assert cause in one_line(cap.err) and "nothing was changed" in lines[0]
    assert store_state(home) == before   # not even the new export's row was imported


def test_a_member_name_with_control_characters_stays_one_line(home, tmp_path, capsys, record_property):
    z = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(z, "w") as zf:   # found by the damaged-zip property: \x1c is a line break to Python
        zf.writestr("MyData/a\x1cb\nc/StreamingHistory0.json", "[1, 2")
    code, out, err = features(capsys, z)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    record_property("suite", "bad_input")
    record_property("case", "control characters in a member name")
    record_property("refused_cleanly", int(code == 2 and len(lines) == 1))
    record_property("tracebacks", (out + err).count("Traceback"))
    assert code == 2
    assert "a\\x1cb\\nc/StreamingHistory0.json" in one_line(err)


def test_one_bad_playlist_file_of_several_keeps_every_playlist_imported_before(tmp_path, monkeypatch, capsys):
    """Playlists come split over Playlist1.json, Playlist2.json, ...: one of unknown shape on re-import must keep all
    the export playlists imported before, not replace them with the readable files' (found in review)."""
    monkeypatch.setenv("SPOTIFY_MODEL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    h = Home.from_env()
    first = write_account_export(tmp_path / "a")
    _w(first / ACCOUNT / "Playlist2.json", {"playlists": [{"name": "Second file list", "items": [
        {"track": {"trackName": "Z", "artistName": "Q", "trackUri": "spotify:track:4444444444444444444444"}}]}]})
    assert main(["features", "--offline", str(first)]) == 0
    before = rows(h, "SELECT name FROM playlists WHERE origin = 'export' ORDER BY 1")
    assert ("Second file list",) in before
    second = write_account_export(tmp_path / "b")
    _w(second / ACCOUNT / "StreamingHistory_music_1.json", [GOOD_ROW])
    _w(second / ACCOUNT / "Playlist2.json", [1, 2])
    _w(second / ACCOUNT / "Playlist1.json", {"playlists": [{"name": "Favourites", "items": []},
                                                           {"name": "Gym", "items": []}]})
    assert main(["features", "--offline", str(second)]) == 0
    out = capsys.readouterr().out
    assert "Playlist2.json was not imported" in out and "imported before are kept" in out
    assert rows(h, "SELECT name FROM playlists WHERE origin = 'export' ORDER BY 1") == before
