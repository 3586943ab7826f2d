"""Auth helpers: token cache permissions, never prompting outside `login`, refresh/expiry, and the login flow."""

from __future__ import annotations

import json
import socket
import stat
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from spotify_modeling.sources.auth import (SCOPES, ModelOAuth, ModelPKCE, PrivateCacheFileHandler, cached_token_or_raise,
                                           make_auth_manager)
from spotify_modeling.sources.login import login
from spotify_modeling.cli import main
from spotify_modeling.errors import BadInput, NeedsLogin
from spotify_modeling.home import Home
from spotify_modeling.sources.spotify import SpotifyClient
from spotipy.oauth2 import SpotifyOAuth, SpotifyPKCE

API = "https://api.test/v1/"
ACCOUNTS = "https://accounts.test"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "cid")
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "csecret")
    monkeypatch.setenv("SPOTIFY_MODEL_API_URL", API)
    monkeypatch.setenv("SPOTIFY_MODEL_ACCOUNTS_URL", ACCOUNTS)
    monkeypatch.setenv("SPOTIFY_MODEL_TOKEN_CACHE", str(tmp_path / "cache" / "token.json"))
    monkeypatch.delenv("SPOTIPY_REDIRECT_URI", raising=False)
    return Home(tmp_path)


@pytest.fixture
def no_interaction(monkeypatch):
    """Fail loudly if anything tries to open a browser or read the terminal."""
    def refuse(*a, **k):
        raise AssertionError("interaction attempted")
    monkeypatch.setattr("webbrowser.open", refuse)
    monkeypatch.setattr("builtins.input", refuse)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)


def write_token(home: Home, expires_in: int = 3600, scope: str = SCOPES) -> None:
    home.token_cache.parent.mkdir(parents=True, exist_ok=True)
    home.token_cache.write_text(json.dumps({"access_token": "AT-1", "token_type": "Bearer", "expires_in": 3600,
                                            "scope": scope, "expires_at": int(time.time()) + expires_in,
                                            "refresh_token": "RT-1"}))


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_cache_file_is_written_0600(tmp_path):
    path = tmp_path / "sub" / "cache.json"
    handler = PrivateCacheFileHandler(cache_path=str(path))
    handler.save_token_to_cache({"access_token": "x", "refresh_token": "y"})
    assert mode(path) == 0o600
    path.chmod(0o644)
    handler.save_token_to_cache({"access_token": "x2", "refresh_token": "y"})
    assert mode(path) == 0o600
    assert handler.get_cached_token()["access_token"] == "x2"
    assert [p.name for p in path.parent.iterdir()] == ["cache.json"]  # no temp files left behind


def test_oauth_with_secret_pkce_without_and_urls_configurable(home, monkeypatch):
    oauth = make_auth_manager(home)
    assert isinstance(oauth, ModelOAuth)
    assert oauth.OAUTH_TOKEN_URL == f"{ACCOUNTS}/api/token" and oauth.OAUTH_AUTHORIZE_URL == f"{ACCOUNTS}/authorize"
    assert oauth.redirect_uri == "http://127.0.0.1:8888/callback"
    assert set(oauth.scope.split()) == set(SCOPES.split())
    assert oauth.cache_handler.cache_path == str(home.token_cache)
    monkeypatch.delenv("SPOTIPY_CLIENT_SECRET")
    pkce = make_auth_manager(home)
    assert isinstance(pkce, ModelPKCE) and pkce.OAUTH_TOKEN_URL == f"{ACCOUNTS}/api/token"
    assert pkce.get_authorize_url().startswith(f"{ACCOUNTS}/authorize?")
    # the class attributes stay untouched: only these instances point elsewhere
    assert SpotifyOAuth.OAUTH_TOKEN_URL == SpotifyPKCE.OAUTH_TOKEN_URL == "https://accounts.spotify.com/api/token"


def test_missing_client_id_explains_what_to_set(home, monkeypatch):
    monkeypatch.delenv("SPOTIPY_CLIENT_ID")
    with pytest.raises(NeedsLogin) as info:
        make_auth_manager(home)
    assert "SPOTIPY_CLIENT_ID" in str(info.value) and info.value.exit_code == 77


@responses.activate
def test_token_cache_path_that_is_a_folder_is_a_usage_error(home, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "tokens"
    folder.mkdir()
    monkeypatch.setenv("SPOTIFY_MODEL_TOKEN_CACHE", str(folder))
    with pytest.raises(BadInput) as info:
        make_auth_manager(home)
    assert "is a folder" in str(info.value) and info.value.exit_code == 2
    monkeypatch.setenv("SPOTIFY_MODEL_HOME", str(tmp_path / "h"))
    assert main(["login", "--no-browser"]) == 2        # not 77 ("log in"), which could never fix it
    err = capsys.readouterr().err.strip()
    assert "is a folder" in err and "SPOTIFY_MODEL_TOKEN_CACHE" in err and len(err.splitlines()) == 1
    assert list(folder.iterdir()) == [] and len(responses.calls) == 0


@responses.activate
def test_no_token_non_tty_needs_login_without_http_or_browser(home, no_interaction):
    auth = make_auth_manager(home)
    with pytest.raises(NeedsLogin) as info:
        cached_token_or_raise(auth)
    assert str(info.value) == "No Spotify login found. Run `spotify-model login`."
    with pytest.raises(NeedsLogin):
        SpotifyClient.from_env(home)
    # even if a caller skips the check, spotipy's own fallback to a prompt is refused
    with pytest.raises(NeedsLogin):
        SpotifyClient(make_auth_manager(home)).me()
    assert len(responses.calls) == 0
    assert not home.token_cache.exists()


@responses.activate
def test_valid_cached_token_is_returned_without_http(home, no_interaction):
    write_token(home)
    token = cached_token_or_raise(make_auth_manager(home))
    assert token["access_token"] == "AT-1"
    assert len(responses.calls) == 0


@responses.activate
def test_cached_token_with_missing_scope_needs_login(home, no_interaction):
    write_token(home, scope="user-top-read")
    with pytest.raises(NeedsLogin):
        cached_token_or_raise(make_auth_manager(home))
    assert len(responses.calls) == 0


@responses.activate
def test_expired_token_is_refreshed_and_cache_stays_0600(home, no_interaction):
    write_token(home, expires_in=-5)
    responses.post(f"{ACCOUNTS}/api/token", json={"access_token": "AT-2", "token_type": "Bearer",
                                                  "expires_in": 3600, "scope": SCOPES})
    token = cached_token_or_raise(make_auth_manager(home))
    assert token["access_token"] == "AT-2" and token["refresh_token"] == "RT-1"
    assert parse_qs(responses.calls[0].request.body) == {"refresh_token": ["RT-1"], "grant_type": ["refresh_token"]}
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert json.loads(home.token_cache.read_text())["access_token"] == "AT-2"
    assert mode(home.token_cache) == 0o600


@responses.activate
def test_expired_refresh_token_needs_login_six_months(home, no_interaction, capsys):
    write_token(home, expires_in=-5)
    responses.post(f"{ACCOUNTS}/api/token", status=400,
                   json={"error": "invalid_grant", "error_description": "Refresh token revoked"})
    with pytest.raises(NeedsLogin) as info:
        cached_token_or_raise(make_auth_manager(home))
    assert "six months" in str(info.value) and "spotify-model login" in str(info.value)
    assert "RT-1" not in str(info.value) and "csecret" not in str(info.value)
    assert capsys.readouterr().err == ""


def _mock_login_services(track_id="t1"):
    responses.post(f"{ACCOUNTS}/api/token", json={"access_token": "AT-new", "token_type": "Bearer",
                                                  "expires_in": 3600, "scope": SCOPES, "refresh_token": "RT-new"})
    responses.get(API + "me", json={"id": "u1", "display_name": "Ann"})
    responses.get(API + "search", json={"tracks": {"items": [{"id": track_id}], "total": 1}})
    responses.get(API + f"audio-features/{track_id}", status=403, json={"error": {"status": 403, "message": "Forbidden"}})


@responses.activate
def test_login_no_browser_pkce_pastes_redirect_and_probes(home, monkeypatch):
    monkeypatch.delenv("SPOTIPY_CLIENT_SECRET")
    monkeypatch.setattr("webbrowser.open", lambda *a, **k: pytest.fail("browser opened"))
    _mock_login_services()
    shown: list[str] = []

    def paste(prompt: str) -> str:
        state = parse_qs(urlsplit(shown[0]).query)["state"][0]
        return f"http://127.0.0.1:8888/callback?code=CODE42&state={state}"

    result = login(home, no_browser=True, input_fn=paste, show_url=shown.append)
    assert result == {"display_name": "Ann", "user_id": "u1",
                      "probe": {"me": "ok", "search": "ok", "audio_features": "not available (expected in 2026)"}}
    auth_q = parse_qs(urlsplit(shown[0]).query)
    assert shown[0].startswith(f"{ACCOUNTS}/authorize?")
    assert auth_q["client_id"] == ["cid"] and auth_q["code_challenge_method"] == ["S256"]
    assert set(auth_q["scope"][0].split()) == set(SCOPES.split())
    token_body = parse_qs(responses.calls[0].request.body)
    assert token_body["code"] == ["CODE42"] and token_body["grant_type"] == ["authorization_code"]
    assert token_body["client_id"] == ["cid"] and token_body["code_verifier"][0]
    paths = [urlsplit(c.request.url).path for c in responses.calls]
    assert paths == ["/api/token", "/v1/me", "/v1/search", "/v1/audio-features/t1"]
    assert responses.calls[1].request.headers["Authorization"] == "Bearer AT-new"
    cached = json.loads(home.token_cache.read_text())
    assert cached["refresh_token"] == "RT-new" and mode(home.token_cache) == 0o600
    assert sorted(p.name for p in home.token_cache.parent.iterdir()) == ["token.json"]


@responses.activate
def test_login_rejects_redirect_with_wrong_state(home):
    with pytest.raises(NeedsLogin):
        login(home, no_browser=True, input_fn=lambda p: "http://127.0.0.1:8888/callback?code=C&state=forged",
              show_url=lambda u: None)
    assert len(responses.calls) == 0 and not home.token_cache.exists()


@responses.activate
def test_login_denied_by_user(home):
    with pytest.raises(NeedsLogin) as info:
        login(home, no_browser=True, input_fn=lambda p: "http://127.0.0.1:8888/callback?error=access_denied",
              show_url=lambda u: None)
    assert "access_denied" in str(info.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@responses.activate
def test_login_with_browser_uses_loopback_redirect(home, monkeypatch):
    port = _free_port()
    monkeypatch.setenv("SPOTIPY_REDIRECT_URI", f"http://127.0.0.1:{port}/callback")
    responses.add_passthru(f"http://127.0.0.1:{port}")
    _mock_login_services()
    opened: list[str] = []
    answers: list[int] = []
    threads: list[threading.Thread] = []

    def fake_browser(url: str) -> bool:
        opened.append(url)
        state = parse_qs(urlsplit(url).query)["state"][0]
        # the "browser" follows Spotify's redirect to the loopback server login() is running
        t = threading.Thread(target=lambda: answers.append(
            requests.get(f"http://127.0.0.1:{port}/callback?code=LOOP&state={state}", timeout=10).status_code))
        t.start()
        threads.append(t)
        return True

    result = login(home, open_url=fake_browser, timeout=10)
    threads[0].join(10)
    assert result["user_id"] == "u1" and len(opened) == 1
    token_call = [c for c in responses.calls if c.request.url.startswith(ACCOUNTS)][0]
    body = parse_qs(token_call.request.body)
    assert body["code"] == ["LOOP"] and body["redirect_uri"] == [f"http://127.0.0.1:{port}/callback"]
    assert token_call.request.headers["Authorization"].startswith("Basic ")  # client secret flow
    assert answers == [200]


def _ipv6_loopback_port() -> int | None:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            return s.getsockname()[1]
    except OSError:
        return None


@responses.activate
def test_login_with_browser_listens_on_an_ipv6_loopback_redirect(home, monkeypatch):
    # an http://[::1]:PORT redirect is accepted, but spotipy listens on 127.0.0.1 only: the browser's return never
    # reached the login, which ended after its timeout with "never redirected back"
    port = _ipv6_loopback_port()
    if port is None:
        pytest.skip("no IPv6 loopback here")
    monkeypatch.setenv("SPOTIPY_REDIRECT_URI", f"http://[::1]:{port}/callback")
    responses.add_passthru(f"http://[::1]:{port}")
    _mock_login_services()
    answers: list[int] = []
    threads: list[threading.Thread] = []

    def fake_browser(url: str) -> bool:
        state = parse_qs(urlsplit(url).query)["state"][0]
        t = threading.Thread(target=lambda: answers.append(
            requests.get(f"http://[::1]:{port}/callback?code=LOOP6&state={state}", timeout=10).status_code))
        t.start()
        threads.append(t)
        return True

    result = login(home, open_url=fake_browser, timeout=5)
    threads[0].join(10)
    assert result["user_id"] == "u1" and answers == [200]
    token_call = [c for c in responses.calls if c.request.url.startswith(ACCOUNTS)][0]
    assert parse_qs(token_call.request.body)["redirect_uri"] == [f"http://[::1]:{port}/callback"]


@pytest.mark.parametrize("uri", ["http://localhost:8888/callback", "https://example.com/cb"])
@responses.activate
def test_the_library_login_refuses_a_redirect_spotify_refuses_before_any_request(home, monkeypatch, uri):
    monkeypatch.setenv("SPOTIPY_REDIRECT_URI", uri)
    shown: list[str] = []
    with pytest.raises(BadInput) as info:
        login(home, no_browser=True, input_fn=lambda p: pytest.fail("prompted"), show_url=shown.append)
    assert "127.0.0.1" in str(info.value) and info.value.exit_code == 2
    assert shown == [] and len(responses.calls) == 0 and not home.token_cache.exists()
