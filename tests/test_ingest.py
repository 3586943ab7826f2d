"""Importing into the store through the real `spotify-model features` command: idempotence, overlap, refusals."""

import csv
import sqlite3

import pytest

from export_fixtures import (write_account_export, write_extended_export, write_old_mydata_export, zip_folder)
from spotify_modeling.cli import main
from spotify_modeling.home import Home
from spotify_modeling.store import SCHEMA_VERSION, Store


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
