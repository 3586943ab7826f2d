"""`spotify-model login`: sign in to Spotify once and check what your app may use (the sign-in: `sources/login.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from spotify_modeling.cli.app import app, console, require_writable
from spotify_modeling.home import Home


@app.command(help="Sign in to Spotify once (the token is saved privately under data/) and check what your app may "
                  "use.\n\n"
                  "Needs your own Spotify app: set SPOTIPY_CLIENT_ID to its Client ID (SPOTIPY_CLIENT_SECRET is "
                  "optional) and add http://127.0.0.1:8888/callback under its Redirect URIs, or add another "
                  "http://127.0.0.1 address with a port and set SPOTIPY_REDIRECT_URI to it (Spotify refuses "
                  "localhost). How to make the app: docs/usage.md, \"Connect to Spotify (once)\".")
def login(
    no_browser: bool = typer.Option(False, "--no-browser",
                                    help="Print the sign-in address and paste back the address you land on "
                                         "(for a machine without a browser)."),
    home: Optional[Path] = typer.Option(None, "--home", help="Home directory (default: $SPOTIFY_MODEL_HOME or .)."),
) -> None:
    """Sign in to Spotify and check what the app may use (the help text is the decorator's, one paragraph a line)."""
    from spotify_modeling.sources.auth import login_redirect_uri
    from spotify_modeling.sources.login import login as do_login

    h = Home.from_env(home)
    login_redirect_uri()          # an address Spotify refuses: one line, before anything is written or sent
    require_writable(h.data)
    h.data.mkdir(parents=True, exist_ok=True)

    def show(url: str) -> None:
        if no_browser:
            console.print("Open this address in a browser, sign in, then paste the address it sends you to:")
        else:
            console.print("Opening your browser to sign in (if nothing opens, visit this address):")
        console.print(url, soft_wrap=True, highlight=False)

    def waiting(redirect_uri: str, timeout: float) -> None:
        console.print(f"Waiting up to {_duration(timeout)} for Spotify to send your browser back to {redirect_uri}.",
                      soft_wrap=True, highlight=False, markup=False)
        console.print("No browser on this machine? Press Ctrl-C and run `spotify-model login --no-browser`.",
                      soft_wrap=True, highlight=False, markup=False)

    result = do_login(h, no_browser=no_browser, show_url=show, on_wait=waiting,
                      input_fn=lambda prompt: input(prompt))
    console.print(f"[bold]Logged in[/bold] as {escape(str(result.get('display_name') or result.get('user_id')))}.")
    t = Table(show_header=False, box=None, padding=(0, 2))
    for name, state in (result.get("probe") or {}).items():
        t.add_row(name, state)
    console.print(t)


def _duration(seconds: float) -> str:
    """300 -> "5 minutes", 90 -> "90 seconds"."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"
