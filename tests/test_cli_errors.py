"""How `spotify-model` refuses what it cannot do: one line with a next step, the agreed exit code, nothing written.

Each test is a case found by trying the command line the way a user would (odd paths, bad options, a read-only
home, Ctrl-C) that used to end in a traceback, a misleading message or the wrong exit code.
"""

from __future__ import annotations

import os
import sqlite3
import zipfile
from pathlib import Path

import pytest

from export_fixtures import _w, extended_row, podcast_row, write_account_export
from spotify_modeling.core import export as export_mod
from spotify_modeling.pipeline import ingest
from spotify_modeling.cli import main
from spotify_modeling.cli.candidates import print_weekly_report
from spotify_modeling.pipeline.weekly_run import WeeklyReport


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home that does not exist yet: a refusal must leave it that way."""
    h = tmp_path / "home"
    monkeypatch.setenv("SPOTIFY_MODEL_HOME", str(h))
    for k in ("SPOTIPY_CLIENT_ID", "SPOTIPY_CLIENT_SECRET", "SPOTIFY_MODEL_TOKEN_CACHE"):
        monkeypatch.delenv(k, raising=False)
    for k in ("SPOTIFY_MODEL_API_URL", "SPOTIFY_MODEL_ACCOUNTS_URL", "SPOTIFY_MODEL_RECCOBEATS_URL",
              "SPOTIFY_MODEL_MUSICBRAINZ_URL"):
        monkeypatch.setenv(k, "http://127.0.0.1:9")  # a refusal sends nothing; a regression must not reach the internet
    monkeypatch.chdir(tmp_path)
    return h


def one_line(capsys) -> str:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err + out
    return lines[0]


def files_under(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("args, named", [
    (["features", "--max-calls", "abc"], "--max-calls"),
    (["features", "--max-calls", "-1"], "--max-calls"),
    (["features", "--bogus"], "--bogus"),
    (["candidates", "--seed", "-1"], "--seed"),
    (["demo", "--weeks", "0"], "--weeks"),
    (["features", "--home"], "--home"),
    (["nosuchcommand"], "nosuchcommand"),
])
def test_usage_errors_are_one_line_with_where_to_look(home, capsys, args, named):
    assert main(args) == 2
    line = one_line(capsys)
    assert line.startswith("error:") and named in line and "--help`." in line
    assert not home.exists()


def test_negative_demo_seed_is_refused_before_the_demo_home_is_made(tmp_path, home, capsys):
    # numpy refuses negative seeds: this used to build the demo home, then crash as a bug (exit 1)
    demo_home = tmp_path / "demo"
    assert main(["demo", "--weeks", "1", "--seed", "-1", "--home", str(demo_home)]) == 2
    assert "--seed" in one_line(capsys)
    assert not demo_home.exists() and not home.exists()


def test_ctrl_c_exits_130_not_0(tmp_path, home, capsys, monkeypatch):
    # typer hands Ctrl-C back as a returned 130 when not standalone; it used to be reported as success
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest, "import_export", interrupted)
    export = write_account_export(tmp_path / "export")
    assert main(["features", str(export), "--offline"]) == 130
    line = one_line(capsys)
    assert line.startswith("interrupted") and "Run the same command again" in line


def test_export_with_no_music_plays_is_refused_before_a_store_is_made(tmp_path, home, capsys):
    _w(tmp_path / "empty" / "MyData" / "StreamingHistory_music_0.json", [])
    assert main(["features", str(tmp_path / "empty"), "--offline"]) == 2
    line = one_line(capsys)
    assert "holds no music plays" in line and "nothing was imported" in line
    assert not home.exists()

    _w(tmp_path / "pods" / "Streaming_History_Audio_2024.json",
       [podcast_row("2024-01-01T10:00:00Z"), podcast_row("2024-01-02T10:00:00Z")])
    assert main(["features", str(tmp_path / "pods"), "--offline"]) == 2
    assert "2 podcast/audiobook streams only" in one_line(capsys)
    assert not home.exists()


def test_truncated_zip_says_download_again(tmp_path, home, capsys):
    export = write_account_export(tmp_path / "export")
    whole = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(whole, "w") as zf:
        for p in export.rglob("*.json"):
            zf.write(p, p.relative_to(export).as_posix())
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert main(["features", str(cut), "--offline"]) == 2
    line = one_line(capsys)
    assert "incomplete" in line and "Download the export again" in line
    assert not home.exists()


def test_unreadable_history_file_in_a_folder_is_a_bad_input(tmp_path, home, capsys, monkeypatch):
    export = write_account_export(tmp_path / "export")
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "StreamingHistory_music_1.json":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assert main(["features", str(export), "--offline"]) == 2
    line = one_line(capsys)
    assert "StreamingHistory_music_1.json" in line and "cannot be read (Permission denied)" in line
    assert not home.exists()


def test_unreadable_zip_is_not_called_a_non_zip(tmp_path, home, capsys, monkeypatch):
    zpath = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("MyData/StreamingHistory_music_0.json", "[]")

    def no_access(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(export_mod, "open", no_access, raising=False)  # root ignores chmod, so deny the read here
    assert main(["features", str(zpath), "--offline"]) == 2
    line = one_line(capsys)
    assert "cannot be read (Permission denied)" in line and "not a zip" not in line
    assert not home.exists()


@pytest.mark.parametrize("name", ["x[/b]y", "[bold]nope"])
def test_square_brackets_in_a_path_are_shown_as_typed(tmp_path, home, capsys, name):
    # rich markup used to eat `[bold]` and crash on `[/b]` with a traceback
    (tmp_path / "x[/b]y").mkdir(parents=True)
    path = tmp_path / name
    assert main(["features", str(path), "--offline"]) == 2
    assert str(path) in one_line(capsys)


def test_missing_features_csv_says_what_to_pass(tmp_path, home, capsys):
    assert main(["features", "--features-csv", str(tmp_path / "nope.csv")]) == 2
    line = one_line(capsys)
    assert "nope.csv not found" in line and "Pass the path of a CSV" in line
    assert not home.exists()


@pytest.mark.parametrize("content, named", [(b"x,danceability\n1,0.5\n", "no `track_id` or `id` column"),
                                            (b"track_id,colour\nabc,red\n", "none of the audio feature columns"),
                                            (b"\x00\xff\xfe\x00garbage", "not a readable CSV"),
                                            (b"", "not a readable CSV")])
def test_unusable_features_csv_is_refused_before_the_import(tmp_path, home, capsys, content, named):
    # it used to be found only after the import and the metadata calls, then exit 2 as if nothing had changed
    table = tmp_path / "features.csv"
    table.write_bytes(content)
    export = write_account_export(tmp_path / "export")
    assert main(["features", str(export), "--genres-source", "none", "--features-csv", str(table)]) == 2
    line = one_line(capsys)
    assert named in line and "nothing was changed" in line
    assert not home.exists()


@pytest.fixture
def read_only(monkeypatch):
    """Make `os.access` report these folders unwritable (root ignores permission bits, so chmod cannot)."""
    denied: list[Path] = []
    real = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and any(Path(path) == d or d in Path(path).parents for d in denied):
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    return denied


@pytest.mark.parametrize("args", [["features", "EXPORT", "--offline"], ["login", "--no-browser"], ["train"],
                                  ["candidates"]])
def test_read_only_home_with_a_store_is_refused_and_the_store_is_untouched(tmp_path, home, capsys, read_only,
                                                                           monkeypatch, args):
    export = write_account_export(tmp_path / "export")
    assert main(["features", str(export), "--offline"]) == 0
    capsys.readouterr()
    before = files_under(home)
    read_only.append(home)
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "test-client")
    assert main([str(export) if a == "EXPORT" else a for a in args]) == 2
    line = one_line(capsys)
    assert f"Cannot write to {home}" in line and "--home" in line
    assert "backup" not in line  # a sound store must not be called damaged
    assert files_under(home) == before


def test_read_only_folder_for_a_new_home_or_demo(tmp_path, home, capsys, read_only):
    export = write_account_export(tmp_path / "export")
    read_only.append(tmp_path)
    assert main(["features", str(export), "--offline"]) == 2
    assert f"Cannot write to {tmp_path} " in one_line(capsys)
    assert main(["demo", "--weeks", "1", "--home", str(tmp_path / "demo")]) == 2
    assert f"Cannot write to {tmp_path} " in one_line(capsys)
    assert not home.exists() and not (tmp_path / "demo").exists()


def test_home_inside_a_file_is_a_bad_input(tmp_path, home, capsys):
    export = write_account_export(tmp_path / "export")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert main(["features", str(export), "--offline", "--home", str(a_file / "home")]) == 2
    assert f"{a_file} is a file, not a folder" in one_line(capsys)
    assert main(["demo", "--home", str(a_file / "demo")]) == 2
    assert f"{a_file} is a file" in one_line(capsys)
    assert a_file.read_text() == "mine"


def test_bug_in_a_home_that_cannot_take_the_log_is_still_one_line(tmp_path, home, capsys, monkeypatch):
    # the bug log used to crash with a traceback of its own when the home's log could not be opened
    import tempfile

    def bug(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ingest, "import_export", bug)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (home / "data" / "spotify-model.log").mkdir(parents=True)  # cannot be opened for appending
    export = write_account_export(tmp_path / "export")
    assert main(["features", str(export), "--offline"]) == 1
    line = one_line(capsys)
    fallback = tmp_path / "tmp" / "spotify-model.log"
    assert "RuntimeError: boom" in line and f"details logged to {fallback}" in line
    assert "RuntimeError: boom" in fallback.read_text()


def test_the_bug_log_is_private_even_if_an_older_version_left_it_world_readable(tmp_path, home, capsys,
                                                                               monkeypatch):
    """Tracebacks name paths and tracks: the log is 0600 whether new or left 0644 by an older version."""
    def bug(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ingest, "import_export", bug)
    log = home / "data" / "spotify-model.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("--- an old entry\n")
    log.chmod(0o644)
    export = write_account_export(tmp_path / "export")
    assert main(["features", str(export), "--offline"]) == 1
    assert f"details logged to {log}" in one_line(capsys)
    assert log.stat().st_mode & 0o777 == 0o600
    assert log.read_text().startswith("--- an old entry") and "RuntimeError: boom" in log.read_text()


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"),
                                   sqlite3.OperationalError("database or disk is full")])
def test_a_full_disk_is_one_line_with_what_to_do_and_the_store_is_as_before(tmp_path, home, capsys, monkeypatch,
                                                                          error):
    export = write_account_export(tmp_path / "export")
    assert main(["features", str(export), "--offline"]) == 0
    before = sqlite3.connect(home / "data" / "spotify_model.db").execute("SELECT count(*) FROM plays").fetchone()[0]
    capsys.readouterr()

    real_insert = ingest._insert_plays

    def insert_then_fill_the_disk(*args, **kwargs):
        real_insert(*args, **kwargs)
        raise error

    monkeypatch.setattr(ingest, "_insert_plays", insert_then_fill_the_disk)
    newer = tmp_path / "newer"
    _w(newer / "Spotify Extended Streaming History" / "Streaming_History_Audio_2025.json",
       [extended_row("2025-03-01T10:00:00Z", "New Song", "New Artist", "spotify:track:" + "N" * 22)])
    assert main(["features", str(newer), "--offline"]) == 1
    line = one_line(capsys)
    assert line.startswith("error: the disk is full") and "Free some space and run the same command again" in line
    assert "unexpected" not in line and not (home / "data" / "spotify-model.log").exists()
    after = sqlite3.connect(home / "data" / "spotify_model.db").execute("SELECT count(*) FROM plays").fetchone()[0]
    assert after == before                               # the import under way was rolled back


def test_weekly_report_shows_brackets_in_titles(capsys):
    report = WeeklyReport(run_id=1, batch=1, pushed=[
        {"rank": 1, "artist": "Alpha Band", "title": "First Song [live]", "score": 1.0, "slice": "exploit"}])
    print_weekly_report(report)
    assert "First Song [live]" in capsys.readouterr().out


def test_bug_with_no_home_to_log_to_is_logged_in_the_temp_folder(tmp_path, home, capsys, monkeypatch):
    # the home itself cannot be resolved (the current folder was deleted): the bug log used to raise a traceback
    import tempfile

    from spotify_modeling import home as home_mod

    def no_cwd(cls, override=None):
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(home_mod.Home, "from_env", classmethod(no_cwd))
    monkeypatch.setattr(home_mod, "last_resolved", None)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert main(["features", "--offline"]) == 1
    line = one_line(capsys)
    fallback = tmp_path / "tmp" / "spotify-model.log"
    assert "FileNotFoundError" in line and f"details logged to {fallback}" in line
    assert "FileNotFoundError" in fallback.read_text()


def test_login_shows_a_display_name_with_brackets_as_typed(home, capsys, monkeypatch):
    # a Spotify display name is free text: `[/b]` used to crash the output after a successful login (exit 1)
    from spotify_modeling.sources import login as auth

    monkeypatch.setattr(auth, "login", lambda h, **kwargs: {"display_name": "DJ [/b] [bold]Ann", "user_id": "u1",
                                                            "probe": {}})
    assert main(["login", "--no-browser"]) == 0
    assert "Logged in as DJ [/b] [bold]Ann." in capsys.readouterr().out


@pytest.mark.parametrize("sources, named", [("search,", "empty entry"), ("", "No pool source given"),
                                            ("serach", "Bad pool source(s): serach.")])
def test_pool_sources_setting_says_what_is_wrong(home, sources, named):
    from spotify_modeling.errors import BadInput
    from spotify_modeling.home import Home
    from spotify_modeling.pipeline.settings import WeeklyConfig

    with pytest.raises(BadInput) as err:
        WeeklyConfig.from_home(Home(home), sources=sources)
    assert named in str(err.value) and "Sources: search, reccobeats" in str(err.value)


def test_input_ending_at_the_login_prompt_says_what_to_do(home, capsys, monkeypatch):
    # `login --no-browser` asks for the redirect URL; with stdin at its end (a script, cron) the prompt gets EOF
    from spotify_modeling.sources import login as auth

    def login_that_prompts(h, input_fn, **kwargs):
        return {"display_name": input_fn("Paste the URL: "), "user_id": "u1", "probe": {}}

    monkeypatch.setattr(auth, "login", login_that_prompts)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(""))
    assert main(["login", "--no-browser"]) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("aborted:") and "run it again in a terminal" in err
