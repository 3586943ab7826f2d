"""Crash safety (issue 13, item 2): SIGKILL the real CLI at seeded points spread over every step, then run again.

`features` and `candidates` run as subprocesses (the `spotify-model` console script) against the stand-in server in
this process. A kill lands at the N-th request the stand-in sees (spreads kills over every networked step), at the
moment of the push, or after a delay into a local step (import before the first request, training / scoring /
the report after the last). After each kill the same command runs again and must exit 0, with `PRAGMA
integrity_check` ok and the store's promises kept: every track in data_candidates recorded as pushed, no pending push
missing from it, no label without its push, no label lost, no track pushed twice, no run left `running`, the killed
run not counted as a weekly run, pending never above `max_pending`, and the lock released (the next run is not
allowed to wait for it).

`RELIABILITY_KILLS` (default 30) sets the number of kills: a third on `features`, the rest on `candidates`; and a
tenth (at least 2) more on `features` with Deezer served, each landing among its Deezer requests.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
from collections import Counter

import numpy as np
import pytest

from cli_harness import (added_uris, cli_env, connect, integrity, loop_invariants, playlist_ids, run, run_and_kill,
                         write_token)
from spotify_modeling.sandbox import simulate
from spotify_modeling.sandbox.standin import StandInServer, StandInState

KILLS = int(os.environ.get("RELIABILITY_KILLS", "30"))
FEATURE_KILLS = max(1, KILLS // 3)
CANDIDATE_KILLS = max(1, KILLS - FEATURE_KILLS)
SEED = int(os.environ.get("RELIABILITY_SEED", "13"))
MAX_PENDING = 60
#: a small but complete run: every enrichment step, with 10 release-date look-ups instead of 100 (time in CI)
FEATURES = ["features", "--details-calls", "10"]
#: the weekly run's own settings (spotify-model.toml), smaller than the defaults so that a cycle takes ~2 s
WEEKLY_TOML = "[candidates]\nsearch_calls = 24\ngenre_calls = 12\nbacklog_calls = 8\n"


@pytest.fixture(scope="module")
def world_state():
    world = simulate.build_world(seed=3, persona="pop_mainstream", n_tracks=1500, n_plays=800)
    state = StandInState()
    world.populate(state)
    return world, pickle.dumps(state)


def _store_counts(home) -> dict:
    with connect(home) as conn:
        q = lambda sql: conn.execute(sql).fetchone()[0]   # noqa: E731
        return {"plays": q("SELECT count(*) FROM plays"),
                "files": q("SELECT count(*) FROM imported_files"),
                "distinct_plays": q("SELECT count(*) FROM (SELECT DISTINCT source, ts, name_key, ms_played "
                                    "FROM plays)"),
                "features": q("SELECT count(*) FROM audio_features WHERE available = 1"),
                "lookups": q("SELECT count(*) FROM track_lookup")}


def _models_load(home) -> list[str]:
    """Names of saved models that do not load (a half-written model): must stay empty after a completed run."""
    from spotify_modeling.pipeline.persist import load_model

    bad = []
    for f in sorted((home / "saved_models").glob("*.joblib")):
        try:
            load_model(f.stem, home / "saved_models")
        except Exception:  # noqa: BLE001 - any refusal counts
            bad.append(f.stem)
    return bad


def _temp_leftovers(home) -> list[str]:
    """Temp files of atomic writes that a kill left in folders only locked runs write to."""
    return [str(p.relative_to(home)) for d in ("data/processed", "saved_models", "training_features")
            for p in (home / d).glob(".*.tmp")]


def test_sigkill_features_at_every_step_then_the_next_run_completes(world_state, tmp_path, record_property):
    world, state_bytes = world_state
    state = pickle.loads(state_bytes)
    export = world.write_export(tmp_path / "export", as_zip=True)
    rng = np.random.default_rng([SEED, 1])
    logs = tmp_path / "logs"
    record_property("suite", "crash")
    record_property("case", "SIGKILL features (import, enrichment, training)")
    with StandInServer(state) as server:
        # the reference: one clean run, to spread the kill points over its requests
        ref_home = tmp_path / "ref"
        write_token(ref_home, server)
        ref = run(FEATURES + [str(export)], cli_env(server, ref_home), logs, "ref", server)
        assert ref.code == 0, ref.err
        ref_calls = ref.calls
        ref_counts = _store_counts(ref_home)
        assert ref_calls > 20 and ref_counts["plays"] > 0

        kinds = ["import", "calls", "calls", "training"]
        kills = recovered = tracebacks = 0
        points = Counter()
        failures = []
        i = 0
        while kills < FEATURE_KILLS and i < 3 * FEATURE_KILLS:
            kind = _next_kind(kinds, points, i)
            home = tmp_path / f"h{i}"
            write_token(home, server)
            env = cli_env(server, home, SPOTIFY_MODEL_LOCK_WAIT="0")   # a kill must leave no lock behind
            state.reset_day()
            if kind == "import":      # before the first request: the import transaction, the history CSV
                db = home / "data" / "spotify_model.db"
                res = run_and_kill(FEATURES + [str(export)], env, logs, f"k{i}", server,
                                   when=lambda new: bool(new) or db.exists(), then_wait=float(rng.uniform(0, 0.06)))
            elif kind == "calls":     # inside enrichment: ids, metadata, features, genres, release dates
                res = run_and_kill(FEATURES + [str(export)], env, logs, f"k{i}", server,
                                   at_call=int(rng.integers(1, ref_calls)))
            else:                     # after the last request: track table CSV, stage-1 training, model files
                res = run_and_kill(FEATURES + [str(export)], env, logs, f"k{i}", server,
                                   when=lambda new: len(new) >= ref_calls, then_wait=float(rng.uniform(0, 1.2)))
            i += 1
            tracebacks += res.err.count("Traceback") + res.out.count("Traceback")
            if not res.killed:
                continue
            kills += 1
            if kind == "import" and res.calls:   # the import was over by then: the kill landed in enrichment
                kind = "calls"
            points[kind] += 1
            state.reset_day()
            again = run(FEATURES + [str(export)], env, logs, f"r{i}", server)
            tracebacks += again.err.count("Traceback") + again.out.count("Traceback")
            counts = _store_counts(home)
            ok = (again.code == 0 and integrity(home) == "ok" and counts["plays"] == ref_counts["plays"]
                  and counts["files"] == ref_counts["files"] and counts["distinct_plays"] == counts["plays"]
                  and counts["features"] == ref_counts["features"] and not _models_load(home)
                  and not _temp_leftovers(home))
            recovered += ok
            if not ok:
                failures.append((kind, res.calls, again.code, again.err[-400:], counts, ref_counts,
                                 _models_load(home), _temp_leftovers(home)))
            shutil.rmtree(home)
    record_property("kills", kills)
    record_property("recovered", recovered)
    record_property("tracebacks", tracebacks)
    assert kills == FEATURE_KILLS, f"only {kills} of {FEATURE_KILLS} runs were still going when killed ({points})"
    assert len(points) == min(kills, len(set(kinds))), points          # every step was hit
    assert not failures, failures[:3]
    assert recovered == kills and tracebacks == 0
    print("features kills by step:", dict(points))


DEEZER_KILLS = max(2, KILLS // 10)


def _deezer_answered(calls) -> Counter:
    """Deezer GETs that got an answer (its "no data" is one; its rate limit and busy answers, codes 4 and 700, not)."""
    return Counter((c.path, tuple(sorted(c.query.items()))) for c in calls if c.group == "deezer"
                   and c.method == "GET" and c.status == 200 and c.fault is None and c.deezer_error not in (4, 700))


def test_sigkill_features_in_the_deezer_steps_then_the_next_run_completes(world_state, tmp_path, record_property):
    """Deezer served (the account data: names settled through Deezer search -> track/{id} -> ReccoBeats by ISRC; the
    library's tracks' release dates through track/isrc:), the kill landing among the Deezer requests: the next run
    completes with the clean run's store, and asks Deezer nothing it had answered before the kill (but the request
    in flight, whose answer left the server and never reached the store)."""
    world, _ = world_state
    state = StandInState()
    world.populate(state, deezer=True)            # Deezer's own pace on (50 a 5 s): the real client paces itself
    export = world.write_export(tmp_path / "export", kind="account", as_zip=True)
    rng = np.random.default_rng([SEED, 4])
    logs = tmp_path / "logs"
    record_property("suite", "crash")
    record_property("case", "SIGKILL features in the Deezer steps (names, release dates)")
    with StandInServer(state) as server:
        assert server.env()["SPOTIFY_MODEL_DEEZER_URL"] == server.deezer_url
        ref_home = tmp_path / "ref"
        write_token(ref_home, server)
        ref = run(FEATURES + [str(export)], cli_env(server, ref_home), logs, "ref", server)
        assert ref.code == 0, ref.err
        ref_counts = _store_counts(ref_home)
        with connect(ref_home) as conn:
            ref_deezer = conn.execute("SELECT count(*) FROM api_answers WHERE service LIKE 'deezer%'").fetchone()[0]
            ref_how = dict(conn.execute("SELECT how, count(*) FROM track_lookup GROUP BY how"))
        # kill points: the positions of the clean run's Deezer requests, the names step's and the dates step's
        steps = {"names": [n + 1 for n, c in enumerate(ref.requests) if c.group == "deezer"
                           and not c.path.startswith("/deezer/track/isrc:")],
                 "dates": [n + 1 for n, c in enumerate(ref.requests) if c.path.startswith("/deezer/track/isrc:")]}
        assert len(steps["names"]) > 10 and len(steps["dates"]) > 10 and ref_how.get("deezer", 0) > 10, ref_how
        kinds = ["names", "dates"]
        kills = recovered = tracebacks = repeated = 0
        points = Counter()
        failures = []
        i = 0
        while kills < DEEZER_KILLS and i < 3 * DEEZER_KILLS:
            kind = _next_kind(kinds, points, i)
            home = tmp_path / f"d{i}"
            write_token(home, server)
            env = cli_env(server, home, SPOTIFY_MODEL_LOCK_WAIT="0")
            state.reset_day()
            at = int(rng.choice(steps[kind][1:-1]))
            res = run_and_kill(FEATURES + [str(export)], env, logs, f"dk{i}", server, at_call=at)
            i += 1
            tracebacks += res.err.count("Traceback") + res.out.count("Traceback")
            if not res.killed:
                continue
            kills += 1
            points[kind] += 1
            state.reset_day()
            again = run(FEATURES + [str(export)], env, logs, f"dr{i}", server)
            tracebacks += again.err.count("Traceback") + again.out.count("Traceback")
            counts = _store_counts(home)
            with connect(home) as conn:
                deezer = conn.execute("SELECT count(*) FROM api_answers WHERE service LIKE 'deezer%'").fetchone()[0]
                how = dict(conn.execute("SELECT how, count(*) FROM track_lookup GROUP BY how"))
            in_flight = {(c.path, tuple(sorted(c.query.items()))) for c in res.requests[-1:]}
            asked_again = set(_deezer_answered(res.requests)) & set(_deezer_answered(again.requests)) - in_flight
            repeated += len(asked_again)
            ok = (again.code == 0 and integrity(home) == "ok" and counts == ref_counts and deezer == ref_deezer
                  and how == ref_how and not asked_again and not _models_load(home) and not _temp_leftovers(home))
            recovered += ok
            if not ok:
                failures.append((kind, at, res.calls, again.code, again.err[-400:], counts, ref_counts, deezer,
                                 ref_deezer, how, ref_how, sorted(asked_again)[:5]))
            shutil.rmtree(home)
    record_property("kills", kills)
    record_property("recovered", recovered)
    record_property("repeated_gets", repeated)
    record_property("tracebacks", tracebacks)
    assert kills == DEEZER_KILLS, f"only {kills} of {DEEZER_KILLS} runs were still going when killed ({points})"
    assert len(points) == min(kills, len(kinds)), points               # both Deezer steps were hit
    assert not failures, failures[:3]
    assert recovered == kills and repeated == 0 and tracebacks == 0
    print("features kills in the Deezer steps:", dict(points))


def test_sigkill_candidates_at_every_step_then_the_next_run_completes(world_state, tmp_path, record_property):
    world, state_bytes = world_state
    state = pickle.loads(state_bytes)
    export = world.write_export(tmp_path / "export", as_zip=True)
    rng = np.random.default_rng([SEED, 2])
    label_rng = np.random.default_rng([SEED, 3])
    logs = tmp_path / "logs"
    home = tmp_path / "home"
    record_property("suite", "crash")
    record_property("case", "SIGKILL candidates (labels, pool, scoring, push, backlog, report)")
    with StandInServer(state) as server:
        write_token(home, server)
        env = cli_env(server, home, SPOTIFY_MODEL_LOCK_WAIT="0")       # a kill must leave no lock behind
        (home / "spotify-model.toml").write_text(WEEKLY_TOML)
        assert run(FEATURES + [str(export)], env, logs, "features", server).code == 0
        state.reset_day()
        ref = run(["candidates", "--seed", "0"], env, logs, "ref", server)
        assert ref.code == 0, ref.err
        ref_calls = ref.calls
        counted_runs = 1                 # runs that count as weekly runs so far
        kinds = ["calls", "calls", "push", "after-push"]
        kills = recovered = tracebacks = labels_lost = max_pending_seen = 0
        points = Counter()
        failures = []
        i = 0

        def is_push(new):
            return any(c.method == "POST" and c.path.endswith("/items") for c in new)

        while kills < CANDIDATE_KILLS and i < 3 * CANDIDATE_KILLS:
            kind = _next_kind(kinds, points, i)
            state.reset_day()
            simulate.label_candidates(state, world.listener, world.catalog, label_rng, label_rate=0.4)
            before_labels = set(playlist_ids(state, "data_1")) | set(playlist_ids(state, "data_0"))
            args = ["candidates", "--seed", str(100 + i)]
            if kind == "calls":      # reading playlists and labels, housekeeping, pool top-up, features, genres
                res = run_and_kill(args, env, logs, f"k{i}", server, at_call=int(rng.integers(1, ref_calls)))
            elif kind == "push":     # the moment the add reaches Spotify (applied, answer maybe not read)
                res = run_and_kill(args, env, logs, f"k{i}", server, when=is_push,
                                   then_wait=float(rng.uniform(0, 0.05)))
            else:                    # after the push: the backlog, recording the run, writing the report
                res = run_and_kill(args, env, logs, f"k{i}", server, when=is_push,
                                   then_wait=float(rng.uniform(0.05, 1.5)))
            i += 1
            tracebacks += res.err.count("Traceback") + res.out.count("Traceback")
            if not res.killed:
                counted_runs += res.code == 0
                continue
            kills += 1
            points[kind] += 1
            with connect(home) as conn:   # the killed process's run record, as the kill left it
                killed_run, killed_status = conn.execute(
                    "SELECT run_id, status FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
            landed = any(c.method == "POST" and c.path.endswith("/items") and c.status < 300
                         for c in res.requests)
            # a weekly run counts when it finished its record, or when its batch reached data_candidates
            counted_runs += killed_status != "running" or landed
            state.reset_day()
            again = run(["candidates", "--seed", str(1000 + i)], env, logs, f"r{i}", server)
            tracebacks += again.err.count("Traceback") + again.out.count("Traceback")
            with connect(home) as conn:
                killed_now = conn.execute("SELECT status FROM runs WHERE run_id = ?", (killed_run,)).fetchone()[0]
            counted_runs += again.code == 0
            inv = loop_invariants(home, state)
            max_pending_seen = max(max_pending_seen, inv["pending"])
            lost = len(before_labels - {t for t in before_labels if _has_label(home, t)})
            labels_lost += lost
            week = re.search(r"Weekly run (\d+)", again.out)
            ok = (again.code == 0 and integrity(home) == "ok" and lost == 0 and inv["labels_lost"] == 0
                  and inv["unrecorded_in_candidates"] == 0 and inv["pending_not_in_candidates"] == 0
                  and inv["labels_without_push"] == 0 and inv["duplicates_in_candidates"] == 0
                  and inv["runs_running"] == 0 and inv["pending"] <= MAX_PENDING and not _models_load(home)
                  and week is not None and int(week.group(1)) == counted_runs
                  and killed_now == ("interrupted" if killed_status == "running" else killed_status))
            recovered += ok
            if not ok:
                failures.append((kind, res.calls, again.code, again.err[-400:], inv, lost,
                                 week and week.group(0), counted_runs, killed_status, killed_now))
        adds = Counter(added_uris(server))
        duplicate_pushes = sum(n - 1 for n in adds.values() if n > 1)
    record_property("kills", kills)
    record_property("recovered", recovered)
    record_property("labels_lost", labels_lost)
    record_property("duplicate_pushes", duplicate_pushes)
    record_property("tracebacks", tracebacks)
    assert kills == CANDIDATE_KILLS, f"only {kills} of {CANDIDATE_KILLS} runs were still going when killed"
    assert len(points) == min(kills, len(set(kinds))), points
    assert not failures, failures[:3]
    assert recovered == kills and labels_lost == 0 and duplicate_pushes == 0 and tracebacks == 0
    assert max_pending_seen <= MAX_PENDING


def _next_kind(kinds: list[str], points: Counter, i: int) -> str:
    """Round robin over the kill kinds by kills landed (a run that finished before its kill does not count)."""
    share = Counter({k: 0 for k in dict.fromkeys(kinds)})
    share.update(points)
    want = Counter(kinds)
    return min(dict.fromkeys(kinds), key=lambda k: (share[k] / want[k], kinds.index(k)))


def _has_label(home, track_id: str) -> bool:
    with connect(home) as conn:
        return conn.execute("SELECT 1 FROM labels WHERE track_id = ?", (track_id,)).fetchone() is not None


def test_the_lock_sweeps_what_killed_writes_left_behind(tmp_path, record_property):
    """A kill between `mkstemp` and `os.replace` leaves a temp file; the next locked run removes it (and only it)."""
    from spotify_modeling.home import Home

    h = Home(tmp_path).ensure()
    (h.data / "report").mkdir()
    left = [h.processed / ".X.csv.ab12cd.tmp", h.models / ".playlist.joblib.x1.tmp",
            h.training_features / ".playlist.csv.x2.tmp"]
    old_token = h.data / ".token-old1"
    fresh_token, fresh_report = h.data / ".token-fresh", h.data / "report" / ".report.html.zz.tmp"
    kept = [h.processed / "X.csv", h.models / "playlist.joblib", h.data / ".spotify_token_cache", fresh_token,
            fresh_report]
    for p in left + kept + [old_token]:
        p.write_text("x")
    os.utime(old_token, (1, 1))                     # written long ago by a login that was killed
    with h.lock():
        pass
    remaining = [p for p in left + [old_token] if p.exists()]
    record_property("suite", "crash")
    record_property("case", "temp files of killed writes swept under the lock")
    assert not remaining, remaining
    assert all(p.exists() for p in kept)            # real files, and temp files a running login/report may own


def test_a_batch_never_takes_pending_candidates_past_max_pending(world_state, tmp_path, monkeypatch,
                                                                 record_property):
    """The user's finding: 68 pending against a maximum of 60. A batch is cut to the room left under max_pending."""
    from spotify_modeling.cli import main

    world, state_bytes = world_state
    state = pickle.loads(state_bytes)
    export = world.write_export(tmp_path / "export", as_zip=True)
    home = tmp_path / "home"
    with StandInServer(state) as server:
        write_token(home, server)
        for k, v in cli_env(server, home).items():
            monkeypatch.setenv(k, v)
        (home / "spotify-model.toml").write_text(WEEKLY_TOML + "min_batch = 10\nmax_batch = 30\nmax_pending = 25\n")
        assert main(FEATURES + [str(export)]) == 0
        pending = []
        for week in range(3):                        # nobody labels: the room shrinks to nothing
            state.reset_day()
            assert main(["candidates", "--seed", str(week)]) == 0
            pending.append(loop_invariants(home, state)["pending"])
    record_property("suite", "crash")
    record_property("case", "pending capped at max_pending (no labels for 3 weeks)")
    assert pending[0] >= 10 and max(pending) == 25 and pending == sorted(pending), pending
    assert len(playlist_ids(state, "data_candidates")) == 25
