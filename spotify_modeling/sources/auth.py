"""Spotify login: building spotipy's auth manager, reading the cached token without prompting, and the one interactive login.

Only `login()` may open a browser or read the terminal; every other command gets the cached token or a `NeedsLogin`.
Tokens live only in the token cache (mode 0600) and are never logged: spotipy's loggers are silenced here.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import tempfile
from http.server import HTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from spotipy.cache_handler import CacheFileHandler
from spotipy.exceptions import SpotifyOauthError
from spotipy.oauth2 import RequestHandler, SpotifyOAuth, SpotifyPKCE, start_local_http_server

from spotify_modeling.errors import BadInput, NeedsLogin, ServiceUnavailable
from spotify_modeling.home import Home

SCOPES = ("playlist-read-private playlist-read-collaborative playlist-modify-private "
          "playlist-modify-public user-library-read user-top-read")
DEFAULT_ACCOUNTS_URL = "https://accounts.spotify.com"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8888/callback"
LOGIN_HINT = "Run `spotify-model login`."


#: Where the docs explain making the Spotify app and its redirect address.
APP_DOCS = 'docs/usage.md, "Connect to Spotify (once)"'


def _loopback_redirect(uri: str) -> tuple[str, int] | None:
    """(host, port) of an `http://127.0.0.1:PORT/...` or `http://[::1]:PORT/...` address, else None.

    Spotify accepts plain http only for a loopback IP (and refuses `localhost` since 2025); the login listens on
    that address for Spotify's answer, so it needs the port too.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:            # a port that is not a number, or above 65535
        return None
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "::1") or not port:
        return None
    return parts.hostname, port


def login_redirect_uri() -> str:
    """The redirect address `login` sends to Spotify: SPOTIPY_REDIRECT_URI, or the default.

    Refused (`BadInput`, exit 2) unless it is a loopback IP with a port, before anything is written or sent: Spotify
    would refuse `localhost`, a host name or https only after you signed in, if at all.
    """
    uri = os.environ.get("SPOTIPY_REDIRECT_URI", "").strip() or DEFAULT_REDIRECT_URI
    if _loopback_redirect(uri) is None:
        try:
            parts = urlsplit(uri)
            same = f"http://127.0.0.1:{parts.port}{parts.path or '/callback'}" if parts.port else None
        except ValueError:
            same = None
        raise BadInput(f"SPOTIPY_REDIRECT_URI is {uri}: Spotify refuses localhost and host names, and this login "
                       "needs http://127.0.0.1 (or http://[::1]) with a port; nothing was changed.",
                       f"Unset it, or use {same or DEFAULT_REDIRECT_URI} and add exactly that under Redirect URIs "
                       f"in your app ({APP_DOCS}).")
    return uri


def silence_spotipy_logging() -> None:
    """Keep spotipy's records (URLs at ERROR, tokens and secrets at DEBUG) off the screen and out of any log file."""
    logger = logging.getLogger("spotipy")
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


class PrivateCacheFileHandler(CacheFileHandler):
    """spotipy's JSON token cache, written atomically and always with file mode 0600."""

    def save_token_to_cache(self, token_info: dict) -> None:
        path = Path(self.cache_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".token-", dir=path.parent)  # mkstemp creates the file 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(token_info, cls=self.encoder_cls))
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        os.chmod(path, 0o600)


def _needs_login_no_token() -> NeedsLogin:
    return NeedsLogin("No Spotify login found.", LOGIN_HINT)


def _interaction_refused() -> NeedsLogin:
    return NeedsLogin("No usable Spotify login found (only `spotify-model login` asks you to sign in).", LOGIN_HINT)


def login_expired(err: SpotifyOauthError | None = None) -> NeedsLogin:
    """The error for a refused refresh token (Spotify ends logins six months after sign-in)."""
    if err is not None and getattr(err, "error", None) not in (None, "invalid_grant"):
        return NeedsLogin(f"Spotify refused the saved login ({err.error}).", LOGIN_HINT)
    return NeedsLogin("Your Spotify login has expired (Spotify ends logins six months after you sign in).",
                      LOGIN_HINT)


class _ConfigurableUrls:
    """Mixin: accounts URLs per instance (so a local stand-in can replace accounts.spotify.com) and no prompt unless allowed."""

    interactive: bool = False

    def _configure(self, accounts_url: str, interactive: bool) -> None:
        base = accounts_url.rstrip("/")
        self.OAUTH_TOKEN_URL = f"{base}/api/token"
        self.OAUTH_AUTHORIZE_URL = f"{base}/authorize"
        self.interactive = interactive


class ModelOAuth(_ConfigurableUrls, SpotifyOAuth):
    """Authorization-code flow with a client secret."""

    def get_auth_response(self, open_browser: bool | None = None) -> str:
        if not self.interactive:
            raise _interaction_refused()
        return super().get_auth_response(open_browser)

    def exchange_code(self, code: str) -> dict:
        self.get_access_token(code, as_dict=False, check_cache=False)
        return self.cache_handler.get_cached_token()


class ModelPKCE(_ConfigurableUrls, SpotifyPKCE):
    """Authorization-code flow with PKCE, for apps without a client secret."""

    def _get_auth_response(self, open_browser: bool | None = None) -> str:
        if not self.interactive:
            raise _interaction_refused()
        return super()._get_auth_response(open_browser)

    def _add_custom_values_to_token_info(self, token_info: dict) -> dict:
        # spotipy's PKCE flow does not record the scope; without it validate_token() rejects the token.
        token_info = super()._add_custom_values_to_token_info(token_info)
        token_info.setdefault("scope", self.scope)
        return token_info

    def exchange_code(self, code: str) -> dict:
        self.get_access_token(code=code, check_cache=False)
        return self.cache_handler.get_cached_token()


AuthManager = ModelOAuth | ModelPKCE


def make_auth_manager(home: Home | None = None, open_browser: bool = True, *, interactive: bool = False,
                      requests_timeout: float = 20.0) -> AuthManager:
    """Build the auth manager from the environment: SpotifyOAuth when a client secret is set, else SpotifyPKCE.

    With `interactive=False` (every command but `login`) a missing token raises `NeedsLogin` instead of prompting.
    """
    silence_spotipy_logging()
    home = home or Home.from_env()
    client_id = os.environ.get("SPOTIPY_CLIENT_ID", "").strip()
    if not client_id:
        raise NeedsLogin("SPOTIPY_CLIENT_ID is not set.",
                         "Create an app at https://developer.spotify.com/dashboard with redirect URI "
                         f"{DEFAULT_REDIRECT_URI}, then set SPOTIPY_CLIENT_ID (and SPOTIPY_CLIENT_SECRET, optional).")
    secret = os.environ.get("SPOTIPY_CLIENT_SECRET", "").strip() or None
    redirect_uri = os.environ.get("SPOTIPY_REDIRECT_URI", "").strip() or DEFAULT_REDIRECT_URI
    accounts_url = os.environ.get("SPOTIFY_MODEL_ACCOUNTS_URL", "").strip() or DEFAULT_ACCOUNTS_URL
    if home.token_cache.is_dir():   # spotipy would read it as "no token" and send you to a login that cannot save
        raise BadInput(f"The token cache path {home.token_cache} is a folder.",
                       "Point SPOTIFY_MODEL_TOKEN_CACHE at a file (e.g. inside that folder), or unset it."
                       if os.environ.get("SPOTIFY_MODEL_TOKEN_CACHE") else
                       "Move that folder away (the token cache is a file), or set SPOTIFY_MODEL_TOKEN_CACHE to a file.")
    cache = PrivateCacheFileHandler(cache_path=str(home.token_cache))
    common = dict(client_id=client_id, redirect_uri=redirect_uri, scope=SCOPES, cache_handler=cache,
                  open_browser=open_browser, requests_session=requests.Session(), requests_timeout=requests_timeout)
    auth: AuthManager
    if secret:
        auth = ModelOAuth(client_secret=secret, **common)
    else:
        auth = ModelPKCE(**common)
    auth._configure(accounts_url, interactive)
    return auth


def cached_token_or_raise(auth: AuthManager) -> dict:
    """Return the cached token info (refreshed if due) without a browser or a prompt, else raise `NeedsLogin`."""
    token = auth.cache_handler.get_cached_token()
    if not token or not token.get("access_token"):
        raise _needs_login_no_token()
    if not auth._is_scope_subset(auth.scope, token.get("scope")):
        raise NeedsLogin("The saved Spotify login lacks permissions this version needs.", LOGIN_HINT)
    if "expires_at" not in token or auth.is_token_expired(token):
        if not token.get("refresh_token"):
            raise _needs_login_no_token()
        try:
            token = auth.refresh_access_token(token["refresh_token"])
        except SpotifyOauthError as err:
            raise login_expired(err) from None
        except requests.RequestException:
            raise ServiceUnavailable("Could not reach Spotify's login service to refresh the token.",
                                     "Check the connection and try again.") from None
    return token


def _auth_code_from_redirect(auth: AuthManager, redirected_url: str, state: str) -> str:
    try:
        got_state, code = SpotifyOAuth.parse_auth_response_url(redirected_url.strip())
    except SpotifyOauthError as err:
        raise NeedsLogin(f"Spotify did not grant access ({err.error}).", "Run `spotify-model login` again.") from None
    if got_state != state or not code:
        raise NeedsLogin("That is not the address Spotify redirected to after this login.",
                         "Run `spotify-model login` again and paste the whole address from the browser.")
    return code


class _HTTPServerV6(HTTPServer):
    address_family = socket.AF_INET6


def _loopback_server(host: str, port: int, redirect_uri: str) -> HTTPServer:
    """spotipy's one-request server for Spotify's answer, on the redirect's own address (spotipy listens on
    127.0.0.1 only, so an `http://[::1]:PORT` redirect never reached it); a busy port is the user's to fix."""
    try:
        if host == "127.0.0.1":
            return start_local_http_server(port)
        server = _HTTPServerV6((host, port), RequestHandler)
    except OSError as err:
        busy = err.errno == errno.EADDRINUSE
        why = (f"is in use by another program{' (Jupyter, for one, uses 8888)' if port == 8888 else ''}" if busy
               else f"cannot be opened ({err.strerror})")
        other = 8889 if port == 8888 else 8888
        raise BadInput(f"Cannot wait for Spotify's answer at {redirect_uri}: port {port} {why}; nothing was changed.",
                       ("Stop that program, or run" if busy else "Run") + " `spotify-model login --no-browser`, or "
                       f"add another address such as http://127.0.0.1:{other}/callback under Redirect URIs in your "
                       "app and set SPOTIPY_REDIRECT_URI to it.") from None
    server.allow_reuse_address = True
    server.auth_code = None
    server.auth_token_form = None
    server.error = None
    return server


def _auth_code_via_loopback(auth: AuthManager, url: str, state: str, open_url: Callable[[str], Any],
                            timeout: float, on_wait: Callable[[str, float], Any] | None = None) -> str:
    """Listen on the redirect address, open the sign-in page, and wait (at most `timeout` s) for Spotify's answer.

    `on_wait(redirect_uri, timeout)` is told as soon as the login listens, before the browser is asked to open.
    """
    loopback = _loopback_redirect(auth.redirect_uri)
    if loopback is None:
        raise BadInput(f"SPOTIPY_REDIRECT_URI must be a loopback address with a port, like {DEFAULT_REDIRECT_URI}.",
                       "Or use `spotify-model login --no-browser`.")
    server = _loopback_server(*loopback, auth.redirect_uri)
    server.timeout = timeout
    try:
        if on_wait is not None:
            on_wait(auth.redirect_uri, timeout)
        open_url(url)
        server.handle_request()
    finally:
        server.server_close()
    if server.error is not None:
        raise NeedsLogin(f"Spotify did not grant access ({getattr(server.error, 'error', server.error)}).",
                         "Run `spotify-model login` again.")
    if server.auth_code is None:
        raise NeedsLogin("The login page never redirected back to this computer.",
                         "Run `spotify-model login --no-browser` and paste the address instead.")
    if getattr(server, "state", None) != state:
        raise NeedsLogin("The login answer did not match this login attempt.", "Run `spotify-model login` again.")
    return server.auth_code
