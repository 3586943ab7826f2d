"""Importing into the store through the real `spotify-model features` command: idempotence, overlap, refusals."""

import csv
import sqlite3

import pytest

from export_fixtures import (write_account_export, write_extended_export, write_old_mydata_export, zip_folder)
from spotify_modeling.cli import main
from spotify_modeling.home import Home
from spotify_modeling.db.store import SCHEMA_VERSION, Store


def dump(db_path):
    conn = sqlite3.connect(db_path)
    out = {}
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
        out[name] = sorted(map(repr, conn.execute(f"SELECT * FROM {name}").fetchall()))
    conn.close()
    return out


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("SPOTIFY_MODEL_HOME", str(h))
    return Home.from_env()


def test_store_schema_version_and_rollback(tmp_path):
    s = Store(tmp_path / "x.db")
    assert s.version == SCHEMA_VERSION
    assert s.scalar("PRAGMA page_size") == 8192 and s.scalar("PRAGMA journal_mode") == "wal"
    with pytest.raises(RuntimeError):
        with s.transaction() as conn:
            conn.execute("INSERT INTO kv(key, value) VALUES ('a', '1')")
            raise RuntimeError("crash mid-step")
    assert s.scalar("SELECT count(*) FROM kv") == 0
    s.close()
    assert Store(tmp_path / "x.db").version == SCHEMA_VERSION  # reopening migrates nothing twice


def test_features_imports_and_reimport_changes_nothing(home, tmp_path, capsys):
    export = write_account_export(tmp_path / "exp")
    assert main(["features", str(export)]) == 0
    out = capsys.readouterr().out
    assert "5 plays added" in out and "2 (5 items, 2 tracks)" in out
    before = dump(home.db_path)
    assert len(before["plays"]) == 5 and len(before["imported_files"]) == 4
    assert main(["features", str(export)]) == 0
    assert "already imported" in capsys.readouterr().out
    assert dump(home.db_path) == before
    rows = list(csv.DictReader(open(home.processed / "streaming_history.csv")))
    assert len(rows) == 5 and set(rows[0]) >= {"ts", "ms_played", "track_name", "artist_name", "track_id"}


def test_ids_from_playlists_and_library_fill_plays_without_uri(home, tmp_path):
    assert main(["features", str(write_account_export(tmp_path / "exp"))]) == 0
    conn = sqlite3.connect(home.db_path)
    ids = dict(conn.execute("SELECT track_name, track_id FROM plays"))
    assert ids["First Song"] == "1111111111111111111111"
    # "Second Song - Remastered 2011" matches the saved "Second Song" by normalised name
    assert ids["Second Song - Remastered 2011"] == "2222222222222222222222"
    assert ids["Third (feat. Delta)"] == "3333333333333333333333"


def test_extended_history_wins_its_period(home, tmp_path):
    folder = write_account_export(tmp_path / "exp")
    write_extended_export(folder)
    assert main(["features", str(folder)]) == 0
    store = Store(home.db_path)
    # account plays on 2024-01-01..2024-01-02 fall inside the extended range (2023-12-31..2024-01-15): not counted
    eff = store.conn.execute("SELECT source, ts FROM effective_plays ORDER BY ts").fetchall()
    assert [tuple(r) for r in eff if r[0] == "account"] == [("account", "2024-02-01T09:00:00Z")]
    assert sum(1 for r in eff if r[0] == "extended") == 5
    assert store.scalar("SELECT count(*) FROM plays") == 10  # raw rows kept; the view decides


def test_newer_export_overlap_is_not_counted_twice(home, tmp_path):
    old = write_account_export(tmp_path / "old")
    assert main(["features", str(old)]) == 0
    new = write_account_export(tmp_path / "new")
    f = new / "Spotify Account Data" / "StreamingHistory_music_1.json"
    f.write_text(f.read_text().replace(
        '{"artistName": "No Time"',
        '{"endTime": "2024-03-01 09:00", "artistName": "Gamma", "trackName": "New", "msPlayed": 1}, '
        '{"artistName": "No Time"'))
    assert main(["features", str(new)]) == 0
    store = Store(home.db_path)
    assert store.scalar("SELECT count(*) FROM plays") == 6
    # the two real repeats at 10:03 survive the overlap matching
    assert store.scalar("SELECT count(*) FROM plays WHERE ts = '2024-01-01T10:03:00Z'") == 2


def test_old_vintage_and_zip(home, tmp_path, capsys):
    zp = zip_folder(write_old_mydata_export(tmp_path / "old"), tmp_path / "old.zip")
    assert main(["features", str(zp)]) == 0
    assert Store(home.db_path).scalar("SELECT count(*) FROM plays") == 3


def test_default_export_is_newest_in_raw(home, tmp_path, capsys):
    home.raw.mkdir(parents=True)
    zip_folder(write_old_mydata_export(tmp_path / "old"), home.raw / "my_spotify_data.zip")
    assert main(["features"]) == 0
    assert "3 plays added" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["missing", "truncated", "not_zip", "no_history"])
def test_bad_exports_exit_2_and_leave_store_untouched(home, tmp_path, capsys, case):
    assert main(["features", str(write_old_mydata_export(tmp_path / "first"))]) == 0
    before = dump(home.db_path)
    capsys.readouterr()
    if case == "missing":
        target = tmp_path / "nope.zip"
    elif case == "truncated":
        target = write_account_export(tmp_path / "t")
        f = target / "Spotify Account Data" / "Playlist1.json"
        f.write_text(f.read_text()[:-40])
    elif case == "not_zip":
        target = tmp_path / "x.zip"
        target.write_text("hello")
    else:
        target = tmp_path / "empty"
        (target / "MyData").mkdir(parents=True)
        (target / "MyData" / "Userdata.json").write_text("{}")
    assert main(["features", str(target)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2 and err.strip()
    assert dump(home.db_path) == before


def test_bad_export_on_fresh_home_creates_nothing(home, tmp_path):
    assert main(["features", str(tmp_path / "nope")]) == 2
    assert not home.root.exists()


def test_malformed_values_and_a_corrupt_store_are_user_errors(home, tmp_path, capsys):
    folder = write_account_export(tmp_path / "odd")
    f = folder / "Spotify Account Data" / "StreamingHistory_music_0.json"
    f.write_text('[{"endTime": "2024-01-01 10:00", "artistName": 5, "trackName": null, "msPlayed": "x"}]')
    (folder / "Spotify Account Data" / "Playlist1.json").write_text('{"playlists": "zzz"}')
    assert main(["features", str(folder)]) == 0
    home.db_path.write_bytes(b"this is not sqlite" * 100)
    assert main(["features", str(folder)]) == 2
    assert "not a readable spotify-model database" in capsys.readouterr().err


def test_folder_without_history_creates_no_home(home, tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hi")
    assert main(["features", "--offline", str(junk)]) == 2
    assert not home.root.exists()


# -- semantics the fast import path must keep (pinned against the SQL-only implementation) -----------------------

def _ext(ts, track, artist, track_id, ms=200000):
    from export_fixtures import extended_row

    return extended_row(ts, track, artist, f"spotify:track:{track_id}" if track_id else None, ms=ms)


def _write(path, doc):
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")


def _import(db_path, folder):
    from spotify_modeling.pipeline.ingest import import_export

    with Store(db_path) as store:
        return import_export(store, folder)


def _overlapping_extended_export(root):
    """Two audio files of one export overlapping on two rows; file 1 holds a real repeat (same ts, song, ms)."""
    d = root / "Spotify Extended Streaming History"
    a = _ext("2024-01-01T10:00:00Z", "Song A", "Artist", "A" * 22)
    b = _ext("2024-01-01T10:05:00Z", "Song B", "Artist", "B" * 22)
    c = _ext("2024-01-01T10:09:00Z", "Song C", "Artist", "C" * 22)
    _write(d / "Streaming_History_Audio_2024_0.json", [a, b, b, c])
    # the overlap (b, b, c) plus a third b (a real new repeat) and a later play; a same-time play with another ms
    later = _ext("2024-02-01T08:00:00Z", "Song D", "Artist", "D" * 22)
    c_other_ms = _ext("2024-01-01T10:09:00Z", "Song C", "Artist", "C" * 22, ms=1234)
    _write(d / "Streaming_History_Audio_2024_1.json", [b, b, b, c, c_other_ms, later])
    return root


def _plays(db_path):
    conn = sqlite3.connect(db_path)
    rows = conn.execute("SELECT ts, track_name, ms_played FROM plays ORDER BY ts, track_name, ms_played").fetchall()
    conn.close()
    return rows


def test_overlapping_files_of_one_export_match_as_a_multiset(tmp_path):
    result = _import(tmp_path / "s.db", _overlapping_extended_export(tmp_path / "exp"))
    assert (result.plays_added, result.plays_already_known) == (7, 3)
    rows = _plays(tmp_path / "s.db")
    assert rows.count(("2024-01-01T10:05:00Z", "Song B", 200000)) == 3
    assert rows.count(("2024-01-01T10:09:00Z", "Song C", 200000)) == 1
    assert ("2024-01-01T10:09:00Z", "Song C", 1234) in rows and ("2024-02-01T08:00:00Z", "Song D", 200000) in rows


def test_reimport_of_an_overlapping_newer_extended_export(tmp_path):
    db = tmp_path / "s.db"
    first = tmp_path / "first" / "Spotify Extended Streaming History"
    b = _ext("2024-01-01T10:05:00Z", "Song B", "Artist", "B" * 22)
    _write(first / "Streaming_History_Audio_2024_0.json", [_ext("2024-01-01T10:00:00Z", "Song A", "Artist", "A" * 22),
                                                             b, b])
    assert _import(db, tmp_path / "first").plays_added == 3
    newer = tmp_path / "newer" / "Spotify Extended Streaming History"
    _write(newer / "Streaming_History_Audio_2024-2025_0.json",
           [b, b, _ext("2025-01-01T00:00:00Z", "Song E", "Artist", "E" * 22)])
    result = _import(db, tmp_path / "newer")
    assert (result.plays_added, result.plays_already_known) == (1, 2)
    assert len(_plays(db)) == 4
    assert _import(db, tmp_path / "newer").already_imported


def test_large_import_rebuilding_indexes_stores_the_same_rows(tmp_path, monkeypatch):
    from spotify_modeling.pipeline import ingest

    export = _overlapping_extended_export(tmp_path / "exp")
    write_account_export(export)
    _import(tmp_path / "normal.db", export)
    monkeypatch.setattr(ingest, "REBUILD_MIN_ROWS", 0)
    _import(tmp_path / "rebuilt.db", export)
    normal, rebuilt = dump(tmp_path / "normal.db"), dump(tmp_path / "rebuilt.db")
    stamp = lambda d: {k: v for k, v in d.items() if k not in ("imported_files", "tracks", "track_lookup",
                                                                 "playlists")}
    assert stamp(normal) == stamp(rebuilt)
    indexes = []
    for db in ("normal.db", "rebuilt.db"):
        conn = sqlite3.connect(tmp_path / db)
        indexes.append(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'plays' "
                                    "ORDER BY name").fetchall())
        conn.close()
    assert indexes[0] == indexes[1] and [n for n, _ in indexes[1]] == ["plays_key", "plays_track", "plays_ts"]


def test_ids_the_export_carries_become_track_stubs_and_lookups(tmp_path):
    db = tmp_path / "s.db"
    export = write_account_export(tmp_path / "exp")
    d = export / "Spotify Extended Streaming History"
    # "First Song" also in the playlist with id 111..., but the extended plays carry another id: the play's URI wins
    _write(d / "Streaming_History_Audio_2023_0.json", [
        _ext("2023-06-01T10:00:00Z", "First Song", "Alpha Band", "9" * 22),
        _ext("2023-06-02T10:00:00Z", "Only Here - Remastered", "Zeta", "Z" * 22),
        _ext("2023-06-03T10:00:00Z", "Only Here", "Zeta", "Y" * 22),
    ])
    _import(db, export)
    conn = sqlite3.connect(db)
    lookups = {k: (t, how) for k, t, how in conn.execute("SELECT name_key, track_id, how FROM track_lookup")}
    assert lookups["alpha band\tfirst song"] == ("9" * 22, "uri")
    assert lookups["zeta\tonly here"] == ("Z" * 22, "uri")  # first play of the song gives its id
    assert lookups["beta duo\tsecond song"] == ("2" * 22, "export")
    assert lookups["gamma\tthird"] == ("3" * 22, "export")
    tracks = {r[0]: r[1:] for r in conn.execute(
        "SELECT track_id, name, artist_names, album_name, meta_source FROM tracks")}
    assert tracks["Z" * 22] == ("Only Here - Remastered", '["Zeta"]', "Album Only Here - Remastered", "export")
    assert tracks["Y" * 22][0] == "Only Here"
    assert tracks["2" * 22] == ("Second Song", '["Beta Duo"]', "B", "export")
    assert set(tracks) == {"9" * 22, "Z" * 22, "Y" * 22, "1" * 22, "2" * 22, "3" * 22}
    # account plays without a URI take the id of the lookup (the play's URI for First Song)
    ids = dict(conn.execute("SELECT DISTINCT track_name, track_id FROM plays WHERE source = 'account'"))
    assert ids["First Song"] == "9" * 22 and ids["Second Song - Remastered 2011"] == "2" * 22
    conn.close()


def test_plays_imported_earlier_take_ids_a_later_export_carries(tmp_path):
    db = tmp_path / "s.db"
    acct = tmp_path / "acct" / "Spotify Account Data"
    _write(acct / "StreamingHistory_music_0.json", [
        {"endTime": "2022-01-01 10:00", "artistName": "Zeta", "trackName": "Only Here", "msPlayed": 1000}])
    _import(db, tmp_path / "acct")
    assert sqlite3.connect(db).execute("SELECT track_id FROM plays").fetchall() == [(None,)]
    ext = tmp_path / "ext" / "Spotify Extended Streaming History"
    _write(ext / "Streaming_History_Audio_2023_0.json", [_ext("2023-06-01T10:00:00Z", "Only Here", "Zeta", "Z" * 22)])
    _import(db, tmp_path / "ext")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT source, track_id FROM plays ORDER BY ts").fetchall() == [
        ("account", "Z" * 22), ("extended", "Z" * 22)]
    assert conn.execute("SELECT how FROM track_lookup").fetchall() == [("uri",)]
    conn.close()


def test_name_index_holds_only_plays_without_an_id_and_old_stores_upgrade(tmp_path):
    from spotify_modeling.db.store import MIGRATIONS, _split_sql

    old = sqlite3.connect(tmp_path / "old.db")  # a store as schema version 2 left it, with one play
    for version in (0, 1):
        for statement in _split_sql(MIGRATIONS[version]):
            old.execute(statement)
    old.execute("INSERT INTO imported_files VALUES ('s', 'p', 1, 'account_music', 1, 'now')")
    old.execute("INSERT INTO plays(source, ts, name_key, file_sha) VALUES ('account', '2024-01-01T00:00:00Z', 'a\tb', 's')")
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()
    with Store(tmp_path / "old.db") as store:
        assert store.version == SCHEMA_VERSION
        assert "WHERE track_id IS NULL" in store.scalar("SELECT sql FROM sqlite_master WHERE name = 'plays_key'")
        assert store.scalar("SELECT count(*) FROM plays") == 1
        # the look-up enrichment does for a name still uses the index
        plan = " ".join(r[3] for r in store.conn.execute(
            "EXPLAIN QUERY PLAN UPDATE plays SET track_id = ? WHERE name_key = ? AND track_id IS NULL", ("x", "a\tb")))
        assert "USING INDEX plays_key" in plan
        store.conn.execute("UPDATE plays SET track_id = 'x' WHERE name_key = 'a\tb' AND track_id IS NULL")
        assert store.scalar("SELECT track_id FROM plays") == "x"


def test_schema_4_upgrade_keeps_every_play_and_names_files_by_id(tmp_path):
    """A version-3 store (plays tagged with their file's sha256) upgrades in place: every play and column kept,
    each play pointing at its file's new integer id (0 for a play whose file row is missing), and imports go on."""
    plays = _schema3_store(tmp_path / "old.db")
    sha_a, sha_b = "a" * 64, "b" * 64
    with Store(tmp_path / "old.db") as store:
        assert store.version == SCHEMA_VERSION
        files = dict(store.conn.execute("SELECT sha256, file_id FROM imported_files"))
        assert files == {sha_a: 1, sha_b: 2}
        rows = store.conn.execute("SELECT source, ts, ms_played, track_name, artist_name, album_name, track_id, "
                                  "name_key, reason_start, reason_end, skipped, shuffle, file_id FROM plays "
                                  "ORDER BY play_id").fetchall()
        assert [tuple(r) for r in rows] == [p[:-1] + (i,) for p, i in zip(plays, (1, 2, 0))]
        assert store.scalar("SELECT count(*) FROM effective_plays") == 3
        indexes = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                    "AND tbl_name = 'plays'")}
        assert indexes == {"plays_ts", "plays_track", "plays_key"}
    result = _import(tmp_path / "old.db", _overlapping_extended_export(tmp_path / "exp"))
    assert result.plays_added == 7
    conn = sqlite3.connect(tmp_path / "old.db")
    new_ids = {r[0] for r in conn.execute("SELECT file_id FROM plays WHERE play_id > 3")}
    known = {r[0] for r in conn.execute("SELECT file_id FROM imported_files WHERE sha256 NOT IN (?, ?)", (sha_a, sha_b))}
    conn.close()
    assert new_ids == known and len(known) == 2 and not known & {0, 1, 2}


def _schema3_store(path):
    """A store as schema version 3 left it: two files' plays tagged by sha256, and one play whose file row is gone."""
    from spotify_modeling.db.store import MIGRATIONS, _split_sql

    old = sqlite3.connect(path)   # foreign keys off, as sqlite3 opens by default
    for version in range(3):
        for statement in _split_sql(MIGRATIONS[version]):
            old.execute(statement)
    sha_a, sha_b = "a" * 64, "b" * 64
    old.executemany("INSERT INTO imported_files VALUES (?, ?, 10, 'extended', 2, 'then')",
                    [(sha_a, "Streaming_History_Audio_0.json"), (sha_b, "Streaming_History_Audio_1.json")])
    plays = [("extended", "2024-01-01T10:00:00Z", 1000, "T1", "Ar", "Al", "A" * 22, "ar\tt1", "clickrow",
              "trackdone", 0, 1, sha_a),
             ("extended", "2024-01-02T10:00:00Z", 2000, "T2", "Ar", None, None, "ar\tt2", None, None, None, None, sha_b),
             ("account", "2023-01-01T10:00:00Z", 3000, "T3", "Ar", None, None, "ar\tt3", None, None, None, None, "?")]
    old.executemany("INSERT INTO plays(source, ts, ms_played, track_name, artist_name, album_name, track_id, name_key,"
                    " reason_start, reason_end, skipped, shuffle, file_sha) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", plays)
    old.execute("PRAGMA user_version = 3")
    old.commit()
    old.close()
    return plays


def test_a_run_that_waited_while_another_upgraded_the_store_does_not_upgrade_it_again(tmp_path, monkeypatch):
    """Two runs open an old store at once: the second read version 3 before the first took the lock."""
    _schema3_store(tmp_path / "s.db")
    Store(tmp_path / "s.db").close()                  # the first run upgrades it
    stale = iter([3])
    real = Store.version
    monkeypatch.setattr(Store, "version", property(lambda self: next(stale, None) or real.fget(self)))
    with Store(tmp_path / "s.db") as store:           # the second run's version read is stale
        assert store.version == SCHEMA_VERSION
        assert store.scalar("SELECT count(*) FROM plays") == 3
        assert dict(store.conn.execute("SELECT sha256, file_id FROM imported_files")) == {"a" * 64: 1, "b" * 64: 2}


def test_a_store_locked_by_another_run_is_exit_69_not_a_damaged_database(tmp_path, monkeypatch, capsys):
    from spotify_modeling.errors import ServiceUnavailable

    monkeypatch.setattr(Store, "busy_timeout", 0.2)
    _schema3_store(tmp_path / "old.db")
    Store(tmp_path / "new.db").close()
    for name in ("old.db", "new.db"):               # an upgrade, and an ordinary write step, wait for the lock
        other = sqlite3.connect(tmp_path / name, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(ServiceUnavailable) as info:
            with Store(tmp_path / name) as store:
                with store.transaction() as conn:
                    conn.execute("INSERT INTO kv(key, value) VALUES ('k', '1')")
        assert info.value.exit_code == 69 and "in use by another spotify-model run" in str(info.value)
        other.execute("ROLLBACK")
        other.close()
    with Store(tmp_path / "old.db") as store:         # nothing was changed: it upgrades now, all plays there
        assert store.version == SCHEMA_VERSION and store.scalar("SELECT count(*) FROM plays") == 3
