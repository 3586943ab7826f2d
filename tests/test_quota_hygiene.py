"""Quota hygiene (issue 13, item 3): no successful catalog GET (a track, an artist, an album, a search page) is ever
made twice, within a run or across runs, over a multi-day quota-limited `features` on a names-only export and six
weekly `candidates` runs with labels in between. Calls are counted from the stand-in's own record of requests.

`RELIABILITY_WEEKS` (default 6) runs more weeks for a longer soak.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from spotify_modeling.cli import main
from spotify_modeling.home import Home
from spotify_modeling.sandbox import simulate
from spotify_modeling.sandbox.standin import CallRecord, StandInServer, StandInState
from cli_harness import login_in_process
from test_faults import CATALOG_GROUPS, quick_clients, repeated_gets, repeats

WEEKS = int(os.environ.get("RELIABILITY_WEEKS", "6"))
WEEKLY_QUOTAS = {"search": 10, "artists": 5}
QUOTAS = {"search": 30, "artists": 20, "tracks": 20, "me": 30, "playlists": 80}   # small: several walls a day


@pytest.mark.parametrize("kind", ["account", "both"], ids=["names-only export", "names + extended history"])
def test_no_successful_catalog_get_is_repeated(kind, tmp_path, monkeypatch, capsys, record_property):
    record_property("suite", "quota_hygiene")
    record_property("case", f"{'names-only' if kind == 'account' else 'names + extended'} features over quota days "
                            f"+ {WEEKS} weekly runs")
    world = simulate.build_world(seed=5, persona="pop_mainstream", n_tracks=2000, n_plays=4000)
    state = StandInState()
    world.populate(state)
    export = world.write_export(tmp_path / "export", kind=kind)
    home = Home(tmp_path / "home")
    with StandInServer(state) as server:
        login_in_process(monkeypatch, server, home)
        home.root.joinpath("spotify-model.toml").write_text(
            "[candidates]\nsearch_calls = 15\ngenre_calls = 8\nbacklog_calls = 10\n")
        quick_clients(monkeypatch)
        # with the extended history the URIs' details need many more `GET /tracks/{id}` (100 a run at most)
        state.quotas = dict(QUOTAS, **({"tracks": 110, "artists": 60} if kind == "both" else {}))

        codes = [main(["features", str(export)])]
        while codes[-1] == 75 and len(codes) < 25:     # a new day: the quota resets, the same command continues
            state.reset_day()
            codes.append(main(["features"]))
        walls = codes.count(75)
        feature_calls = len(server.calls)
        weekly_codes = []
        rng = np.random.default_rng(0)
        state.quotas.update(WEEKLY_QUOTAS)     # the weekly runs meet the wall too (the pool top-up, genres)
        for week in range(1, WEEKS + 1):
            state.reset_day()
            weekly_codes.append(main(["candidates", "--seed", str(week)]))
            simulate.label_candidates(state, world.listener, world.catalog, rng, label_rate=0.8)
        out, err = capsys.readouterr()

    reps = repeated_gets(server.calls)
    within_features = repeated_gets(server.calls[:feature_calls])
    record_property("repeated_gets", reps)
    record_property("tracebacks", (out + err).count("Traceback"))
    record_property("survived", int(codes[-1] == 0 and walls >= 2 and all(c in (0, 75) for c in weekly_codes)
                                    and reps == 0))
    gets = sum(1 for c in server.calls if c.method == "GET" and c.group in CATALOG_GROUPS and c.status == 200)
    assert walls >= 2, codes                 # the quota was really hit on several days
    assert codes[-1] == 0, codes
    assert weekly_codes.count(0) >= WEEKS - 1, weekly_codes
    assert gets > 200                         # the count covers real work
    assert within_features == 0, repeats(server.calls[:feature_calls])[:10]
    assert reps == 0, repeats(server.calls)[:10]
    assert "Traceback" not in out + err


def test_the_repeat_counter_counts_only_successful_identical_catalog_gets():
    """The measure itself can fail: a second 200 of the same URL counts; a refused or faulted one, a write, a
    different page or a non-catalog group does not."""
    def call(path, status=200, query=None, method="GET", group="search", fault=None):
        return CallRecord(method, path, query or {}, None, group, status, 0.0, fault)

    calls = [call("/v1/search", query={"q": "a", "offset": "0"}), call("/v1/search", query={"q": "a", "offset": "0"}),
             call("/v1/search", query={"q": "a", "offset": "10"}), call("/v1/search", 429, {"q": "a", "offset": "10"}),
             call("/v1/tracks/x", group="tracks"), call("/v1/tracks/x", 0, group="tracks", fault="reset"),
             call("/v1/me", group="me"), call("/v1/me", group="me"),
             call("/v1/playlists/p/items", 201, method="POST", group="playlists")] * 1
    assert repeated_gets(calls) == 1
    assert repeated_gets(calls + [call("/v1/tracks/x", group="tracks")]) == 2
    items = [CallRecord("GET", "/v1/playlists/p/items", {"offset": "0"}, None, "playlists", 200, 0.0, None, snap)
             for snap in ("s1", "s2", "s2")]
    assert repeated_gets(items) == 1        # the same snapshot read twice; a changed one is a fair re-read
