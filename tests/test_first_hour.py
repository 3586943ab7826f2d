"""What a new user trips over in their first hour (a user report), through the real `spotify-model` entry point.

Login without a browser must say at once that it waits, how long, and that `--no-browser` exists; a redirect
address Spotify refuses (`localhost`, a host name, https) is refused before anything is written or sent; help pages
suggest no value for a flag; `spotify-model` alone shows the help (exit 0); `train` with nothing to train says what
to do first (exit 2).
"""

from __future__ import annotations

import io
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
import typer

from cli_harness import CLI, cli_env
from export_fixtures import write_account_export
from spotify_modeling.cli import app, main
from spotify_modeling.sources.auth import SCOPES

API = "https://api.test/v1/"
ACCOUNTS = "https://accounts.test"
SECRET = "csecret-do-not-print"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home that does not exist yet, an app configured (id and secret), services that are never the internet."""
    h = tmp_path / "home"
    monkeypatch.setenv("SPOTIFY_MODEL_HOME", str(h))
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "cid")
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("SPOTIFY_MODEL_API_URL", API)
    monkeypatch.setenv("SPOTIFY_MODEL_ACCOUNTS_URL", ACCOUNTS)
    monkeypatch.delenv("SPOTIFY_MODEL_TOKEN_CACHE", raising=False)
    monkeypatch.delenv("SPOTIPY_REDIRECT_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return h


def one_line(capsys) -> str:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err + out
    return lines[0]


def words(text: str) -> str:
    """Help text with its line breaks and panel borders folded away (wrapping is the terminal's business)."""
    return " ".join(text.replace("│", " ").split())


# ------------------------------------------------------------------------------------------------ help texts
COMMANDS = sorted(typer.main.get_command(app).commands)


def test_every_command_is_checked():
    assert {"features", "login", "train", "candidates", "demo", "status", "report"} <= set(COMMANDS)


@pytest.mark.parametrize("args", [["--help"]] + [[name, "--help"] for name in COMMANDS])
def test_no_help_page_suggests_a_value_for_a_flag(args, capsys):
    # typer labelled every flag `<bool>` (`--json <bool>`), so users typed `status --json yes`, which is refused
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Usage:" in out and "--help" in out
    assert "<bool>" not in out
    assert re.search(r"--help\s+Show this message and exit", out)


@pytest.mark.parametrize("args, flag", [(["status", "--help"], "--json"), (["features", "--help"], "--offline"),
                                        (["login", "--help"], "--no-browser"), (["candidates", "--help"], "--dry-run"),
                                        (["--help"], "--version")])
def test_a_flag_is_followed_by_its_help_not_a_value(args, flag, capsys):
    assert main(args) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if flag in x)
    after = line.split(flag, 1)[1].replace("│", "").strip()
    assert after[:1].isupper(), line          # straight to the sentence: no `<bool>`, no `<...>` placeholder


def test_no_arguments_shows_the_help_and_exits_0(tmp_path):
    # it exited 2 (the docs call 1 a bug and 2 bad input): a first try of the bare command is neither
    proc = subprocess.run(CLI, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env=cli_env(None, tmp_path / "home"))
    assert proc.returncode == 0, proc.stderr
    assert "Usage: spotify-model" in proc.stdout and "features" in proc.stdout and "login" in proc.stdout
    assert proc.stderr == ""
    assert not (tmp_path / "home").exists()


def test_no_arguments_in_process_too(capsys):
    assert main([]) == 0
    out, err = capsys.readouterr()
    assert "Usage:" in out and "candidates" in out and err == ""


def test_a_typo_hint_ends_in_one_full_stop(home, capsys):
    assert main(["candidate"]) == 2
    line = one_line(capsys)     # the program's name in-process is pytest's, hence the pattern
    assert re.fullmatch(r"error: No such command 'candidate'\. Did you mean 'candidates'\? See `.+ --help`\.", line)


def test_login_help_names_what_to_set_and_where_the_app_is_explained(capsys):
    assert main(["login", "--help"]) == 0
    text = words(capsys.readouterr().out)
    assert "SPOTIPY_CLIENT_ID" in text and "SPOTIPY_REDIRECT_URI" in text
    assert "http://127.0.0.1:8888/callback" in text
    assert 'docs/usage.md, "Connect to Spotify (once)"' in text


# ------------------------------------------------------------------------------------------------ login
REFUSED = ["http://localhost:8888/callback", "http://LocalHost:8888/callback", "https://localhost:8888/callback",
           "http://my-laptop.local:8888/callback", "https://example.com/callback", "https://127.0.0.1:8888/callback",
           "http://127.0.0.1/callback", "http://127.0.0.2:8888/callback", "http://0.0.0.0:8888/callback",
           "http://127.0.0.1:99999/callback", "127.0.0.1:8888/callback", "ftp://127.0.0.1:8888/callback"]


@pytest.mark.parametrize("no_browser", [False, True])
@pytest.mark.parametrize("uri", REFUSED)
@responses.activate
def test_a_redirect_spotify_refuses_is_refused_at_once_naming_127_0_0_1(home, capsys, monkeypatch, uri,
                                                                        no_browser):
    # `localhost` used to be accepted and sent to Spotify, which refuses it since 2025 ("INVALID_CLIENT: Insecure
    # redirect URI"); with a browser it was refused only after the sign-in address was shown and data/ was made
    monkeypatch.setenv("SPOTIPY_REDIRECT_URI", uri)
    monkeypatch.setattr("webbrowser.open", lambda *a, **k: pytest.fail("browser opened"))
    monkeypatch.setattr("builtins.input", lambda *a, **k: pytest.fail("prompted"))
    assert main(["login", "--no-browser"] if no_browser else ["login"]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and out == ""      # no sign-in address was shown
    line, = err.strip().splitlines()
    assert line.startswith("error: ") and "SPOTIPY_REDIRECT_URI" in line
    assert "use http://127.0.0.1:8888/callback" in line and "nothing was changed" in line
    assert not home.exists() and len(responses.calls) == 0
    assert SECRET not in out + err


def _mock_login_services():
    responses.post(f"{ACCOUNTS}/api/token", json={"access_token": "AT-new-secret", "token_type": "Bearer",
                                                  "expires_in": 3600, "scope": SCOPES,
                                                  "refresh_token": "RT-new-secret"})
    responses.get(API + "me", json={"id": "u1", "display_name": "Ann"})
    responses.get(API + "search", json={"tracks": {"items": [{"id": "t1"}], "total": 1}})
    responses.get(API + "audio-features/t1", status=403, json={"error": {"status": 403, "message": "Forbidden"}})


def _token_call():
    return next(c for c in responses.calls if c.request.url.startswith(ACCOUNTS))


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8888/callback", "http://127.0.0.1:43210/cb/x",
                                 "http://[::1]:8888/callback"])
@responses.activate
def test_a_loopback_ip_redirect_is_accepted(home, capsys, monkeypatch, uri):
    monkeypatch.setenv("SPOTIPY_REDIRECT_URI", uri)
    _mock_login_services()

    def paste(prompt: str = "") -> str:   # what the browser lands on, read off what the command printed
        sign_in = re.search(r"https://accounts\.test/authorize\?\S+", capsys.readouterr().out).group(0)
        state = parse_qs(urlsplit(sign_in).query)["state"][0]
        return f"{uri}?code=CODE42&state={state}"

    monkeypatch.setattr("builtins.input", paste)
    assert main(["login", "--no-browser"]) == 0
    out, err = capsys.readouterr()
    assert "Logged in as Ann" in out
    assert parse_qs(_token_call().request.body)["redirect_uri"] == [uri]
    for secret in (SECRET, "AT-new-secret", "RT-new-secret"):
        assert secret not in out + err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    """Whether something holds the port, found without connecting (the login answers one connection only)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@responses.activate
def test_login_says_at_once_that_it_waits_for_how_long_and_that_no_browser_exists(home, monkeypatch):
    # on a machine without a browser it used to wait silently for up to 300 s
    from spotify_modeling.cli import console

    port = _free_port()
    redirect = f"http://127.0.0.1:{port}/callback"
    monkeypatch.setenv("SPOTIPY_REDIRECT_URI", redirect)
    responses.add_passthru(f"http://127.0.0.1:{port}")
    _mock_login_services()
    screen = io.StringIO()
    monkeypatch.setattr(console, "_file", screen)   # not `file`: undoing that would pin this test's stdout
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: False)   # no browser here: nothing opens
    said_before_the_redirect: list[str] = []

    def the_users_other_device():
        """Signs in elsewhere once the sign-in address is printed and the login listens; it is patient for 5 s
        for the waiting message (then it answers anyway, so that a silent login fails the test, not hangs it)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (re.search(r"https://accounts\.test/\S+", screen.getvalue())
                                                   and _listening(port)):
            time.sleep(0.02)
        patience = time.monotonic() + 5
        while time.monotonic() < patience and "--no-browser" not in screen.getvalue():
            time.sleep(0.02)
        said_before_the_redirect.append(screen.getvalue())
        state = parse_qs(urlsplit(re.search(r"https://accounts\.test/\S+", screen.getvalue()).group(0)).query)
        requests.get(f"{redirect}?code=LOOP&state={state['state'][0]}", timeout=10)

    helper = threading.Thread(target=the_users_other_device, daemon=True)
    helper.start()
    assert main(["login"]) == 0
    helper.join(10)
    before = words(said_before_the_redirect[0])
    assert f"Waiting up to 5 minutes for Spotify to send your browser back to {redirect}" in before
    assert "spotify-model login --no-browser" in before
    after = screen.getvalue()
    assert "Logged in as Ann" in after
    assert parse_qs(_token_call().request.body)["code"] == ["LOOP"]
    for secret in (SECRET, "AT-new-secret", "RT-new-secret"):
        assert secret not in after


@responses.activate
def test_a_busy_port_is_one_line_not_a_bug(home, capsys, monkeypatch):
    # Jupyter's default port is 8888 too: the login used to end in "unexpected error: OSError ..." (exit 1)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("SPOTIPY_REDIRECT_URI", f"http://127.0.0.1:{port}/callback")
        monkeypatch.setattr("webbrowser.open", lambda *a, **k: pytest.fail("browser opened"))
        assert main(["login"]) == 2
    line = one_line(capsys)
    assert f"port {port}" in line and "--no-browser" in line and "SPOTIPY_REDIRECT_URI" in line
    assert len(responses.calls) == 0 and not (home / "data" / ".spotify_token_cache").exists()


# ------------------------------------------------------------------------------------------------ train
def _store_files(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_train_with_nothing_to_train_says_what_to_do_first_and_exits_2(tmp_path, home, capsys, monkeypatch):
    # it printed three "skipped" rows and exited 0, as if stage 1 were trained
    monkeypatch.delenv("SPOTIPY_CLIENT_ID")
    export = write_account_export(tmp_path / "export")
    assert main(["features", str(export), "--offline"]) == 0      # plays, but no audio features yet
    capsys.readouterr()
    before = _store_files(home)
    assert main(["train"]) == 2
    line = one_line(capsys)
    assert line.startswith("error: Nothing to train yet: none of your 3 played tracks has audio features")
    assert "nothing was changed" in line
    assert "spotify-model features" in line and "wait for its enrichment" in line
    assert _store_files(home) == before                        # no model, no CSV, the store as it was


def test_train_without_a_store_still_says_run_features_first(home, capsys):
    assert main(["train"]) == 2
    assert "spotify-model features EXPORT" in one_line(capsys)
