"""One run at a time per home (issue 13, item 2): every command that writes the store takes the home's lock.

A second run waits a bounded time (`SPOTIFY_MODEL_LOCK_WAIT`, 30 s by default), says it is waiting, and then either
runs (the first finished) or exits 69 with one line, having changed nothing and sent no request (docs/usage.md).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
import pickle
import shutil
import threading
from pathlib import Path

import pytest

from cli_harness import cli_env, connect, finish, integrity, loop_invariants, start, write_token
from spotify_modeling.cli import main
from spotify_modeling.home import Home
from spotify_modeling.sandbox import simulate
from spotify_modeling.sandbox.standin import StandInServer, StandInState


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("locks")
    world = simulate.build_world(seed=5, persona="pop_mainstream", n_tracks=1500, n_plays=800)
    state = StandInState()
    world.populate(state)
    export = world.write_export(root / "export", as_zip=True)
    home = root / "home"
    with StandInServer(state) as server, pytest.MonkeyPatch.context() as mp:
        write_token(home, server)
        for k, v in cli_env(server, home).items():
            mp.setenv(k, v)
        assert main(["features", str(export)]) == 0
    return pickle.dumps(state), home, export


@pytest.fixture
def env(prepared, tmp_path, monkeypatch):
    state_bytes, home0, export = prepared
    home = tmp_path / "home"
    shutil.copytree(home0, home)
    state = pickle.loads(state_bytes)
    with StandInServer(state) as server:
        write_token(home, server)
        for k, v in cli_env(server, home, SPOTIFY_MODEL_LOCK_WAIT="0.3").items():
            monkeypatch.setenv(k, v)
        yield state, server, home, export


def _snapshot(home: Path) -> dict[str, str]:
    """Every file under the home but the lock file, by content (the store through its logical dump)."""
    out = {}
    for p in sorted(home.rglob("*")):
        if p.is_file() and p.name != ".lock" and not p.name.startswith("spotify_model.db"):
            out[str(p.relative_to(home))] = hashlib.sha256(p.read_bytes()).hexdigest()
    with connect(home) as conn:
        out["<store>"] = hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    return out


@pytest.mark.parametrize("command", [["candidates", "--seed", "1"], ["features"], ["train"]])
def test_a_held_lock_makes_every_writing_command_wait_then_exit_69_changing_nothing(env, capsys, command,
                                                                                    record_property):
    state, server, home, export = env
    args = command + ([str(export)] if command == ["features"] else [])
    before, n = _snapshot(home), len(server.calls)
    with Home(home).lock():                      # e.g. a cron run still going
        code = main(args)
    captured = capsys.readouterr()
    err_lines = [line for line in captured.err.splitlines() if line.strip()]
    unchanged = _snapshot(home) == before and len(server.calls) == n
    record_property("suite", "lock")
    record_property("case", f"{command[0]} while another run holds the lock")
    record_property("refused_cleanly", int(code == 69 and unchanged and len(err_lines) == 1))
    record_property("tracebacks", captured.err.count("Traceback"))
    assert code == 69
    assert len(err_lines) == 1 and "Another spotify-model run is using" in err_lines[0]
    assert "nothing was changed" in err_lines[0] and "run this command again" in err_lines[0]
    assert "waiting up to 0.3 s" in " ".join(captured.out.split())   # it said it was waiting, then gave up
    assert unchanged
    assert main(args) == 0                       # once the other run is gone, the same command runs


def test_a_second_run_waits_for_the_first_and_then_runs(env, capsys, monkeypatch, record_property):
    state, server, home, export = env
    monkeypatch.setenv("SPOTIFY_MODEL_LOCK_WAIT", "60")
    lock = Home(home).lock()                     # the first run, in this process
    lock.__enter__()
    released = threading.Event()
    # the first run ends when the second says it is waiting: no sleeps, nothing timed
    monkeypatch.setattr("spotify_modeling.cli.candidates.console.print", _Spy(lock, released))
    code = main(["candidates", "--seed", "1"])
    record_property("suite", "lock")
    record_property("case", "second run waits for the first, then runs")
    record_property("survived", int(code == 0 and released.is_set()))
    assert released.is_set() and code == 0
    assert loop_invariants(home, state)["unrecorded_in_candidates"] == 0


class _Spy:
    """Stands in for the console: when the 'waiting' line is printed, the holder of the lock finishes."""

    def __init__(self, lock, released):
        self.lock, self.released, self.lines = lock, released, []

    def __call__(self, *args, **kwargs):
        text = " ".join(str(a) for a in args)
        self.lines.append(text)
        if "waiting up to" in text and not self.released.is_set():
            self.lock.__exit__(None, None, None)
            self.released.set()


def test_two_real_runs_started_at_once_run_one_after_the_other(env, tmp_path, record_property):
    """Two `candidates` processes on one home: the second waits for the first, then runs; no track twice."""
    state, server, home, export = env
    sub_env = cli_env(server, home, SPOTIFY_MODEL_LOCK_WAIT="120")
    logs = tmp_path / "logs"
    first, o1, e1 = start(["candidates", "--seed", "1"], sub_env, logs, "first")
    try:
        while not server.calls and first.poll() is None:   # the first holds the lock once it talks to Spotify
            time.sleep(0.005)
        os.kill(first.pid, signal.SIGSTOP)                 # ... and stays in the middle of its run
        second, o2, e2 = start(["candidates", "--seed", "2"], sub_env, logs, "second")
        out2 = logs / "second.out"
        while "waiting up to 120 s" not in " ".join(out2.read_text().split()) and second.poll() is None:
            time.sleep(0.01)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    one = finish(first, o1, e1)
    two = finish(second, o2, e2)
    inv = loop_invariants(home, state)
    with connect(home) as conn:
        batches = conn.execute("SELECT count(DISTINCT batch), count(*), count(DISTINCT track_id) FROM pushes"
                               ).fetchone()
        statuses = [s for (s,) in conn.execute("SELECT status FROM runs ORDER BY run_id")]
    ok = (one.code == 0 and two.code == 0 and batches[1] == batches[2] and statuses == ["ok", "ok"]
          and integrity(home) == "ok" and inv["duplicates_in_candidates"] == 0)
    record_property("suite", "lock")
    record_property("case", "two candidates processes started at once")
    record_property("survived", int(ok))
    record_property("tracebacks", one.err.count("Traceback") + two.err.count("Traceback"))
    assert one.code == 0, one.err
    assert two.code == 0, two.err
    assert "waiting up to 120 s" in " ".join(two.out.split())
    assert statuses == ["ok", "ok"] and batches[0] == 2 and batches[1] == batches[2]
    assert integrity(home) == "ok" and inv["duplicates_in_candidates"] == 0 and inv["unrecorded_in_candidates"] == 0


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_lock_wait_is_refused_in_one_line(env, capsys, monkeypatch, value, record_property):
    state, server, home, export = env
    monkeypatch.setenv("SPOTIFY_MODEL_LOCK_WAIT", value)
    before = _snapshot(home)
    code = main(["candidates"])
    err = capsys.readouterr().err.strip().splitlines()
    record_property("suite", "bad_input")
    record_property("case", f"SPOTIFY_MODEL_LOCK_WAIT={value}")
    record_property("refused_cleanly", int(code == 2 and len(err) == 1 and _snapshot(home) == before))
    assert code == 2 and len(err) == 1 and "SPOTIFY_MODEL_LOCK_WAIT" in err[0]
    assert _snapshot(home) == before


@pytest.mark.parametrize("value", ["soon", "-1"])
def test_a_bad_lock_wait_makes_no_home_for_features(tmp_path, capsys, monkeypatch, value, record_property):
    """`features` into a new home: a bad SPOTIFY_MODEL_LOCK_WAIT is refused before any folder is made."""
    from export_fixtures import write_account_export

    export = write_account_export(tmp_path / "export")
    home = tmp_path / "new-home"
    monkeypatch.setenv("SPOTIFY_MODEL_HOME", str(home))
    monkeypatch.setenv("SPOTIFY_MODEL_LOCK_WAIT", value)
    code = main(["features", str(export), "--offline"])
    err = capsys.readouterr().err.strip().splitlines()
    record_property("suite", "bad_input")
    record_property("case", f"SPOTIFY_MODEL_LOCK_WAIT={value} (features, new home)")
    record_property("refused_cleanly", int(code == 2 and len(err) == 1 and not home.exists()))
    assert code == 2 and len(err) == 1 and "SPOTIFY_MODEL_LOCK_WAIT" in err[0]
    assert not home.exists()
