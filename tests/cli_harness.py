"""Running the real `spotify-model` console script as a subprocess against an in-process stand-in server.

Shared by the crash, lock and secrets suites: a home with a stand-in login, the subprocess environment (this
checkout first on the path), a runner that captures stdout/stderr to files, and the store invariants the
reliability suites check after every run.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from spotify_modeling.sources.auth import SCOPES

REPO = Path(__file__).resolve().parents[1]
_SCRIPT = Path(sys.executable).with_name("spotify-model")
#: the console script `pip install` made (its `main` is the one users run); else the same entry point via -c
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c",
                                              "import sys; from spotify_modeling.cli import main; sys.exit(main())"]


def scope_string() -> str:
    return " ".join(SCOPES) if isinstance(SCOPES, (list, tuple)) else SCOPES


def write_token(home: Path, server) -> dict:
    """A stand-in login in the home's token cache (0600), as `login` leaves it; returns the token."""
    token = server.issue_token(scope_string())
    cache = home / "data" / ".spotify_token_cache"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(token))
    cache.chmod(0o600)
    return token


def cli_env(server, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPOTIPY_CLIENT_SECRET", "SPOTIFY_MODEL_TOKEN_CACHE", "PYTEST_CURRENT_TEST")}
    env.update(server.env() if server is not None else {})
    env.update(SPOTIFY_MODEL_HOME=str(home), SPOTIPY_CLIENT_ID="test-client",
               PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.update(extra)
    return env


def login_in_process(mp, server, home) -> None:
    """The in-process twin of `cli_env` + `write_token`: the stand-in's addresses, a test app id, no client secret,
    this home (a `Home`), and a cached stand-in login in it (for `main([...])` called inside the test)."""
    for key, value in server.env().items():
        mp.setenv(key, value)
    mp.setenv("SPOTIPY_CLIENT_ID", "cid")
    mp.delenv("SPOTIPY_CLIENT_SECRET", raising=False)
    mp.delenv("SPOTIFY_MODEL_TOKEN_CACHE", raising=False)
    mp.setenv("SPOTIFY_MODEL_HOME", str(home.root))
    home.data.mkdir(parents=True)
    home.token_cache.write_text(json.dumps(server.issue_token(SCOPES)))


@dataclass
class Result:
    code: int
    out: str
    err: str
    killed: bool = False
    calls: int = 0          # requests the stand-in saw from this process
    requests: list | None = None   # and the requests themselves (stand-in CallRecords)


def start(args: list[str], env: dict, logdir: Path, tag: str):
    logdir.mkdir(parents=True, exist_ok=True)
    out = open(logdir / f"{tag}.out", "w+")
    err = open(logdir / f"{tag}.err", "w+")
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    return proc, out, err


def finish(proc, out, err, killed: bool = False, calls: int = 0) -> Result:
    code = proc.wait(timeout=300)
    out.seek(0)
    err.seek(0)
    res = Result(code, out.read(), err.read(), killed, calls)
    out.close()
    err.close()
    return res


def run(args: list[str], env: dict, logdir: Path, tag: str, server=None) -> Result:
    n = len(server.calls) if server is not None else 0
    proc, out, err = start(args, env, logdir, tag)
    res = finish(proc, out, err)
    res.requests = list(server.calls[n:]) if server is not None else []
    res.calls = len(res.requests)
    return res


def run_and_kill(args: list[str], env: dict, logdir: Path, tag: str, server, *, at_call: int | None = None,
                 after_seconds: float | None = None, when=None, then_wait: float = 0.0) -> Result:
    """Start the command and SIGKILL it when the stand-in has seen `at_call` of its requests, or `after_seconds`
    after the start, or `then_wait` seconds after `when(new_calls)` first holds. `killed` says whether the process
    was still running when the signal was sent (else it finished first and its own exit code is kept)."""
    base = len(server.calls)
    proc, out, err = start(args, env, logdir, tag)
    t0 = time.monotonic()
    fired_at = None
    while proc.poll() is None:
        new = server.calls[base:]
        if fired_at is None:
            if at_call is not None and len(new) >= at_call:
                fired_at = time.monotonic()
            elif after_seconds is not None and time.monotonic() - t0 >= after_seconds:
                fired_at = time.monotonic()
            elif when is not None and when(new):
                fired_at = time.monotonic()
        if fired_at is not None and time.monotonic() - fired_at >= then_wait:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        time.sleep(0.003)
    res = finish(proc, out, err, calls=len(server.calls) - base)
    res.requests = list(server.calls[base:])
    res.killed = res.code == -signal.SIGKILL
    return res


# ------------------------------------------------------------------------------------------------ the store
def connect(home: Path, readonly: bool = True) -> sqlite3.Connection:
    path = home / "data" / "spotify_model.db"
    return sqlite3.connect(f"file:{path}?mode=ro" if readonly else str(path), uri=True)


def integrity(home: Path) -> str:
    with connect(home) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def own_playlist(state, name: str):
    mine = [p for p in state.find_playlists(name) if p["owner"]["id"] == state.user["id"]]
    return mine[0] if mine else None


def playlist_ids(state, name: str) -> list[str]:
    pl = own_playlist(state, name)
    return [] if pl is None else [u.rsplit(":", 1)[-1] for u in state.playlist_uris(pl["id"])]


def loop_invariants(home: Path, state) -> dict:
    """The weekly loop's promises, counted (0 everywhere = kept):

    - `unrecorded_in_candidates`: tracks in data_candidates the store does not record as pushed
    - `pending_not_in_candidates`: pushes recorded pending that are not in data_candidates (pushed nowhere)
    - `labels_without_push`: a label on a track the tool never pushed
    - `labels_lost`: tracks in data_1 / data_0 (pushed by the tool) the store holds no label for
    - `duplicates_in_candidates`: a track twice in data_candidates
    - `runs_running`: runs still marked running with no process holding the lock
    """
    cand, likes, dislikes = (playlist_ids(state, n) for n in ("data_candidates", "data_1", "data_0"))
    with connect(home) as conn:
        pushes = dict(conn.execute("SELECT track_id, status FROM pushes"))
        labels = dict(conn.execute("SELECT track_id, label FROM labels"))
        running = conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]
        pending = sum(s == "pending" for s in pushes.values())
    labelled_here = (set(likes) | set(dislikes)) & set(pushes)
    return {
        "unrecorded_in_candidates": len(set(cand) - set(pushes)),
        "pending_not_in_candidates": sum(1 for t, s in pushes.items() if s == "pending" and t not in set(cand)),
        "labels_without_push": len(set(labels) - set(pushes)),
        "labels_lost": len(labelled_here - set(labels)),
        "duplicates_in_candidates": len(cand) - len(set(cand)),
        "runs_running": running,
        "pending": pending,
    }


def added_uris(server) -> list[str]:
    """Every URI a successful add-items call put into a playlist, in order (a track twice = pushed twice)."""
    uris = []
    for c in list(server.calls):
        if c.method == "POST" and c.path.endswith("/items") and c.status < 300 and isinstance(c.json, dict):
            uris += list(c.json.get("uris") or [])
    return uris


# ------------------------------------------------------------------------------------------------ secrets
def needles(values: set[str]) -> dict[str, list[bytes]]:
    """Each secret as the bytes it could be written in: plain, URL-encoded, JSON-escaped (for `scan`)."""
    out = {}
    for v in values:
        forms = {v, urllib.parse.quote(v, safe=""), json.dumps(v)[1:-1]}
        out[v] = [f.encode() for f in forms]
    return out


def scan(blobs: dict[str, bytes], needles: dict[str, list[bytes]]) -> list[tuple[str, str]]:
    """(where, secret's first characters) for each blob (file bytes or captured output) holding a secret."""
    return [(name, secret[:12] + "…") for name, data in blobs.items() for secret, forms in needles.items()
            if any(f in data for f in forms)]
