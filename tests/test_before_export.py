"""A first batch the day you log in (issue 22, point 1): `features` with no export builds stage 1 from what the Web API
knows (Liked Songs, top tracks of three ranges, your own playlists, recently played where it answers), `candidates`
pushes a batch the same day, and the export merges later with nothing lost and nothing counted twice."""

import json
import sqlite3
from urllib.parse import parse_qs, urlsplit

import pytest

from spotify_modeling.cli import main
from spotify_modeling.sandbox import simulate
from spotify_modeling.sandbox.standin import StandInServer, StandInState
from test_weekly import _env


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    catalog = simulate.make_catalog(n_tracks=3000, n_artists=500, seed=5)
    world = simulate.build_world(seed=5, persona="indie_explorer", n_plays=2500, catalog=catalog)
    state = StandInState()
    world.populate(state)
    home = tmp_path / "home"
    with StandInServer(state) as server:
        _env(monkeypatch, server, home)
        yield world, state, server, home, tmp_path


def db(home):
    return sqlite3.connect(home / "data" / "spotify_model.db")


def _query(c) -> dict:
    return dict(c.query) if c.query else {k: v[0] for k, v in parse_qs(urlsplit(c.path).query).items()}


def test_a_logged_in_home_without_an_export_gets_a_first_batch_the_same_day(fresh, capsys):
    world, state, server, home, tmp = fresh
    assert main(["features"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    # what the Web API was asked: Liked Songs, the three top-track ranges, own playlists and their items
    asked = [c.path.split("?")[0].split("/v1/")[-1] for c in server.calls if "/v1/" in c.path]
    assert "me/tracks" in asked and "me/playlists" in asked and "me/player/recently-played" in asked
    ranges = sorted(_query(c).get("time_range") for c in server.calls if c.path.split("?")[0].endswith("me/top/tracks"))
    assert ranges == ["long_term", "medium_term", "short_term"]
    own = [p for p in world.playlists]
    assert sum(1 for p in asked if p.startswith("playlists/") and p.endswith("/items")) >= len(own)
    conn = db(home)
    signals = dict(conn.execute("SELECT signal, count(*) FROM api_tracks GROUP BY signal"))
    assert signals["saved"] == len(world.saved_tracks) and signals["top_long"] == 50
    assert signals["playlist"] == len({t for p in own for t in p.track_ids})     # a track once, however often
    assert conn.execute("SELECT count(*) FROM plays").fetchone()[0] == 0          # never stored as plays
    assert "stage 1 starts from what Spotify knows about you" in out
    assert "recently played is not available to this app" in out                # the stand-in refuses it: a note
    assert "waits for your data export" in out                                   # likeability needs plays
    assert (home / "saved_models" / "playlist.joblib").exists()
    # the same day: a first batch, none of it a track the Web API said you know
    assert main(["candidates", "--seed", "1"]) == 0
    cand = [p for p in state.find_playlists("data_candidates") if p["owner"]["id"] == state.user["id"]][0]
    pushed = [u.rsplit(":", 1)[-1] for u in state.playlist_uris(cand["id"])]
    assert len(pushed) >= 10
    known = {r[0] for r in db(home).execute("SELECT track_id FROM api_tracks")}
    assert not set(pushed) & known
    summary = json.loads(db(home).execute(
        "SELECT summary FROM runs WHERE command = 'candidates' ORDER BY run_id DESC").fetchone()[0])
    assert "affinity" in summary["weights"] and summary["pushed_ok"]


def test_the_export_merges_later_nothing_lost_nothing_counted_twice(fresh, capsys):
    world, state, server, home, tmp = fresh
    assert main(["features"]) == 0
    conn = db(home)
    api_before = conn.execute("SELECT count(*) FROM api_tracks").fetchone()[0]
    saved_before = conn.execute("SELECT count(*) FROM saved_tracks WHERE origin = 'spotify'").fetchone()[0]
    export = world.write_export(tmp / "my_spotify_data.zip", as_zip=True)
    capsys.readouterr()
    assert main(["features", str(export)]) == 0
    conn = db(home)
    assert conn.execute("SELECT count(*) FROM api_tracks").fetchone()[0] == api_before       # nothing lost
    assert conn.execute("SELECT count(*) FROM saved_tracks WHERE origin = 'spotify'").fetchone()[0] == saved_before
    plays = conn.execute("SELECT count(*) FROM effective_plays").fetchone()[0]
    assert plays == len(world.history)                                          # every play, counted once
    # the training rows: one per track, a track both played and in Liked Songs counted once
    from spotify_modeling.db.store import Store
    from spotify_modeling.pipeline.train import outcomes

    with Store(home / "data" / "spotify_model.db") as store:
        y = outcomes(store)
    assert y["track_id"].is_unique
    assert (home / "saved_models" / "likeability.joblib").exists()    # refit with the plays it waited for


def test_no_export_and_no_app_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPOTIFY_MODEL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    assert main(["features"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "No export given" in err and "spotify-model login" in err and "Liked Songs" in err
    assert not (tmp_path / "home" / "data" / "spotify_model.db").exists()


def test_no_export_and_no_login_exits_77_before_the_home_is_touched(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPOTIFY_MODEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "some-client")
    monkeypatch.setenv("SPOTIFY_MODEL_TOKEN_CACHE", str(tmp_path / "nowhere" / "cache"))
    assert main(["features"]) == 77
    assert "spotify-model login" in capsys.readouterr().err
    assert not (tmp_path / "home" / "data" / "spotify_model.db").exists()


def test_a_quota_wall_mid_read_keeps_what_was_read_and_the_next_day_asks_only_the_rest(fresh, capsys):
    world, state, server, home, tmp = fresh
    state.quotas["playlists"] = 2          # the playlist list and one playlist's items, then the wall
    assert main(["features"]) == 75
    assert "run again" in capsys.readouterr().err.lower()
    conn = db(home)
    kept = dict(conn.execute("SELECT signal, count(*) FROM api_tracks GROUP BY signal"))
    assert kept["saved"] == len(world.saved_tracks) and kept["top_long"] == 50 and "playlist" not in kept
    state.reset_day()
    state.quotas.pop("playlists")
    n = len(server.calls)
    assert main(["features"]) == 0
    again = [c.path.split("?")[0].split("/v1/")[-1] for c in server.calls[n:] if "/v1/" in c.path]
    assert "me/tracks" not in again and "me/top/tracks" not in again          # not asked twice
    assert "me/playlists" in again and "me/player/recently-played" in again   # the rest, once
    done = dict(db(home).execute("SELECT signal, count(*) FROM api_tracks GROUP BY signal"))
    assert done["playlist"] == len({t for p in world.playlists for t in p.track_ids})
    assert db(home).execute("SELECT value FROM kv WHERE key = 'webapi_parts'").fetchone()[0] in (None, "null")
