"""`spotify-model login`: the authorization-code flow (`auth`), then one look at what the app may use.

Its own module because it needs both the auth managers and the client built on them (`auth` never imports the
client).
"""

from __future__ import annotations

import secrets
import webbrowser
from typing import Any, Callable

import requests
from spotipy.exceptions import SpotifyOauthError

from spotify_modeling.errors import NeedsLogin, QuotaExhausted, ServiceUnavailable
from spotify_modeling.home import Home
from spotify_modeling.sources.auth import (_auth_code_from_redirect, _auth_code_via_loopback, login_redirect_uri,
                                           make_auth_manager)
from spotify_modeling.sources.errors import ApiError
from spotify_modeling.sources.spotify import SpotifyClient

#: A well-known track id, used only by the login probe to learn whether audio features are open to this app.
PROBE_TRACK_ID = "4uLU6hMCjMI75M1A2tKUQC"
#: How long `login` waits for the browser to come back from Spotify's sign-in page (seconds).
LOGIN_TIMEOUT = 300.0


def _probe(client: Any, track_id: str) -> dict[str, str]:
    """What this app may use: each probe costs one call and reports 'ok' or why not."""
    probe: dict[str, str] = {"me": "ok"}
    try:
        items, _ = client.search_tracks("love", limit=1)
        probe["search"] = "ok"
        if items and items[0].get("id"):
            track_id = items[0]["id"]
    except (ApiError, QuotaExhausted, ServiceUnavailable) as err:
        probe["search"] = f"not available: {err.message}"
    try:
        client.audio_features(track_id)
        probe["audio_features"] = "ok"
    except ApiError as err:
        if err.status == 403:
            probe["audio_features"] = "not available (expected in 2026)"
        else:
            probe["audio_features"] = f"not available: {err.message}"
    except (QuotaExhausted, ServiceUnavailable) as err:
        probe["audio_features"] = f"not checked: {err.message}"
    return probe


def login(home: Home | None = None, no_browser: bool = False, input_fn: Callable[[str], str] = input, *,
          show_url: Callable[[str], Any] | None = None, open_url: Callable[[str], Any] | None = None,
          on_wait: Callable[[str, float], Any] | None = None, timeout: float = LOGIN_TIMEOUT,
          probe_track_id: str = PROBE_TRACK_ID) -> dict:
    """Run the authorization-code flow (PKCE without a secret), save the token cache, and probe what the app may use.

    `show_url(url)` receives the sign-in address (the CLI prints it); with `no_browser` the user pastes the address
    they were redirected to, read through `input_fn`; else `on_wait(redirect_uri, timeout)` is told as soon as the
    login listens for the browser's return, before `open_url` (default: the system browser) opens the address.
    A redirect address Spotify would refuse (not a loopback IP with a port) is refused first (`BadInput`).
    Returns {"display_name", "user_id", "probe"}; stores only the token.
    """
    login_redirect_uri()
    auth = make_auth_manager(home, open_browser=not no_browser, interactive=True)
    state = secrets.token_urlsafe(16)
    auth.state = state
    url = auth.get_authorize_url(state)
    if show_url is not None:
        show_url(url)
    if no_browser:
        code = _auth_code_from_redirect(auth, input_fn("Paste the address you were redirected to: "), state)
    else:
        code = _auth_code_via_loopback(auth, url, state, open_url or webbrowser.open, timeout, on_wait)
    try:
        auth.exchange_code(code)
    except SpotifyOauthError as err:
        raise NeedsLogin(f"Spotify refused the login ({err.error}).", "Run `spotify-model login` again.") from None
    except requests.RequestException:
        raise ServiceUnavailable("Could not reach Spotify's login service.", "Check the connection and try again.") from None
    auth.interactive = False
    client = SpotifyClient(auth)
    me = client.me()
    return {"display_name": me.get("display_name"), "user_id": me.get("id"),
            "probe": _probe(client, probe_track_id)}
