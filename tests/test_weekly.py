"""The weekly run end to end: `spotify-model candidates` through the real spotipy client against the stand-in server."""

import json
import pickle
import shutil
import sqlite3

import numpy as np
import pytest

from spotify_modeling.sandbox import simulate
from spotify_modeling.sources.auth import SCOPES
from spotify_modeling.cli import main
from spotify_modeling.sandbox.standin import StandInServer, StandInState

WRITES = ("POST", "DELETE", "PUT")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A home after `features` on a small synthetic world, and the stand-in state it was built against."""
    root = tmp_path_factory.mktemp("weekly")
    # 500 artists for 3,000 tracks (six an artist, not the default nine): a small catalog with room for artists
    # the history never played, which the quota scenarios' genre look-ups need
    catalog = simulate.make_catalog(n_tracks=3000, n_artists=500, seed=3)
    world = simulate.build_world(seed=3, persona="pop_mainstream", n_plays=2500, catalog=catalog)
    state = StandInState()
    world.populate(state)
    export = world.write_export(root / "export", as_zip=True)
    home = root / "home"
    with StandInServer(state) as server, pytest.MonkeyPatch.context() as mp:
        _env(mp, server, home)
        assert main(["features", str(export)]) == 0
    # features trained stage 1 at its end (enough tracks got audio features)
    for name in ("playlist", "likeability"):
        assert (home / "saved_models" / f"{name}.joblib").exists()
        assert (home / "training_features" / f"{name}.csv").exists()
    return world, pickle.dumps(state), home


def _env(mp, server, home):
    for k, v in server.env().items():
        mp.setenv(k, v)
    mp.setenv("SPOTIFY_MODEL_HOME", str(home))
    mp.setenv("SPOTIPY_CLIENT_ID", "test-client")
    mp.delenv("SPOTIPY_CLIENT_SECRET", raising=False)
    cache = home / "data" / ".spotify_token_cache"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(server.issue_token(" ".join(SCOPES) if isinstance(SCOPES, (list, tuple)) else SCOPES)))
    cache.chmod(0o600)


@pytest.fixture
def env(prepared, tmp_path, monkeypatch):
    world, state_bytes, home0 = prepared
    home = tmp_path / "home"
    shutil.copytree(home0, home)
    state = pickle.loads(state_bytes)
    with StandInServer(state) as server:
        _env(monkeypatch, server, home)
        yield world, state, server, home


def db(home):
    return sqlite3.connect(home / "data" / "spotify_model.db")


def own(state, name):
    return [p for p in state.find_playlists(name) if p["owner"]["id"] == state.user["id"]]


def test_first_run_creates_playlists_and_pushes_a_recorded_batch(env, capsys):
    world, state, server, home = env
    assert main(["candidates", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    cand = own(state, "data_candidates")
    assert len(cand) == 1 and len(own(state, "data_1")) == 1 and len(own(state, "data_0")) == 1
    pushed = state.playlist_uris(cand[0]["id"])
    assert 10 <= len(pushed) <= 30 and "pushed" in out and "Spotify calls this run" in out
    assert "stage 2: needs 8 likes and 8 dislikes" in out          # no labels yet: stage 1 alone, said once
    assert "composite weights: affinity 0.50, playlist 0.25, likeability 0.25" in out   # the prior, as words
    rows = db(home).execute("SELECT track_id, slice, rank, score, choice_prob, scores FROM pushes").fetchall()
    assert sorted(f"spotify:track:{r[0]}" for r in rows) == sorted(pushed)
    assert {r[1] for r in rows} == {"exploit", "explore", "control"}
    assert all(0 < r[4] <= 1 for r in rows) and all("z_" in r[5] for r in rows)
    # the followed "data_1" of another user was never written to or read
    foreign = [p for p in state.find_playlists("data_1") if p["owner"]["id"] != state.user["id"]][0]
    assert not [c for c in server.calls if foreign["id"] in c.path]
    # exclusions: nothing the user played, saved or playlisted; caps: at most 2 per artist
    conn = db(home)
    known = {r[0] for r in conn.execute("SELECT track_id FROM plays UNION SELECT track_id FROM playlist_items "
                                        "WHERE playlist_key LIKE 'export:%' UNION SELECT track_id FROM saved_tracks")}
    ids = [r[0] for r in rows]
    assert not set(ids) & known
    artists = [json.loads(conn.execute("SELECT artist_ids FROM tracks WHERE track_id = ?", (t,)).fetchone()[0])[0]
               for t in ids]
    assert max(artists.count(a) for a in artists) <= 2
    spent = sum(n for g, n in conn.execute("SELECT endpoint_group, sum(calls) FROM api_usage GROUP BY 1")
                if g not in ("reccobeats",))
    assert spent > 0


def test_labels_then_second_run_never_repeats_a_track(env, capsys):
    world, state, server, home = env
    assert main(["candidates", "--seed", "1"]) == 0
    first = set(state.playlist_uris(own(state, "data_candidates")[0]["id"]))
    labels = simulate.label_candidates(state, world.listener, world.catalog, np.random.default_rng(0), label_rate=1.0)
    assert main(["candidates", "--seed", "2"]) == 0
    conn = db(home)
    assert conn.execute("SELECT count(*) FROM labels").fetchone()[0] == len(labels["liked_ids"]) + len(labels["disliked_ids"])
    second = {f"spotify:track:{r[0]}" for r in conn.execute("SELECT track_id FROM pushes WHERE batch = 2")}
    assert second and not (second & first)
    assert conn.execute("SELECT count(*) FROM pushes").fetchone()[0] == conn.execute(
        "SELECT count(DISTINCT track_id) FROM pushes").fetchone()[0]
    # copied tracks were removed from data_candidates; nothing else of the user's was touched
    cand_now = set(state.playlist_uris(own(state, "data_candidates")[0]["id"]))
    assert not {f"spotify:track:{t}" for t in labels["copied_ids"]} & cand_now
    writes = [c for c in server.calls if c.method in WRITES]
    tool_ids = {p["id"] for n in ("data_candidates", "data_1", "data_0") for p in own(state, n)}
    assert all(c.path.split("/")[-2] in tool_ids or c.path.endswith("/me/playlists") for c in writes)
    out = capsys.readouterr().out
    assert "hit rate" in out
    # the headline: every labelled candidate of every batch and slice, liked / labelled
    n_labelled = len(labels["liked_ids"]) + len(labels["disliked_ids"])
    headline = [line.split() for line in out.splitlines() if line.split()[:2] == ["all", "all"]]
    assert len(headline) == 1 and headline[0][3:5] == [str(n_labelled), str(len(labels["liked_ids"]))]
    assert "trend:" not in out                       # one labelled batch: no trend to speak of yet
    more = simulate.label_candidates(state, world.listener, world.catalog, np.random.default_rng(1), label_rate=1.0)
    assert main(["candidates", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    n1, k1 = n_labelled, len(labels["liked_ids"])
    n2, k2 = len(more["liked_ids"]) + len(more["disliked_ids"]), len(more["liked_ids"])
    trend = [line for line in out.splitlines() if line.startswith("trend:")]
    assert len(trend) == 1 and f"batch 1 {k1 / n1:.0%} liked ({k1} of {n1};" in trend[0]
    assert f"batch 2 {k2 / n2:.0%} ({k2} of {n2};" in trend[0]


def test_dry_run_sends_no_write(env, capsys):
    world, state, server, home = env
    assert main(["candidates", "--dry-run", "--seed", "1"]) == 0
    assert not [c for c in server.calls if c.method in WRITES]
    assert "would push" in capsys.readouterr().out
    assert db(home).execute("SELECT count(*) FROM pushes").fetchone()[0] == 0


def test_quota_wall_in_pool_top_up_still_pushes(env, capsys):
    world, state, server, home = env
    state.quotas["search"] = 25
    assert main(["candidates", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "quota" in out.lower()
    assert len(state.playlist_uris(own(state, "data_candidates")[0]["id"])) > 0


def test_quota_before_anything_pushed_exits_75(env, capsys):
    world, state, server, home = env
    state.quotas["playlists"] = 0
    assert main(["candidates"]) == 75
    assert db(home).execute("SELECT count(*) FROM pushes").fetchone()[0] == 0


def test_unlabelled_candidates_expire(env):
    world, state, server, home = env
    assert main(["candidates", "--seed", "1"]) == 0
    conn = db(home)
    conn.execute("UPDATE pushes SET pushed_at = '2020-01-01T00:00:00Z'")
    conn.commit()
    assert main(["candidates", "--seed", "2"]) == 0
    conn = db(home)
    assert conn.execute("SELECT count(*) FROM pushes WHERE batch = 1 AND status = 'expired'").fetchone()[0] > 0
    left = set(state.playlist_uris(own(state, "data_candidates")[0]["id"]))
    batch1 = {f"spotify:track:{r[0]}" for r in conn.execute("SELECT track_id FROM pushes WHERE batch = 1")}
    assert not (left & batch1)
    assert conn.execute("SELECT count(*) FROM labels").fetchone()[0] == 0  # expired is not a dislike


def test_no_login_exits_77_without_calls(env, capsys):
    world, state, server, home = env
    (home / "data" / ".spotify_token_cache").unlink()
    n = len(server.calls)
    assert main(["candidates"]) == 77
    assert len(server.calls) == n and "login" in capsys.readouterr().err


def test_call_budget_keeps_calls_for_the_push(env, capsys):
    world, state, server, home = env
    n = len(server.calls)
    assert main(["candidates", "--max-calls", "30", "--seed", "1"]) == 0
    spotify_calls = [c for c in server.calls[n:] if c.group not in ("reccobeats", "token")]
    assert len(spotify_calls) <= 30
    assert len(state.playlist_uris(own(state, "data_candidates")[0]["id"])) >= 10


def test_bad_source_option_is_a_usage_error(env, capsys):
    world, state, server, home = env
    n = len(server.calls)
    assert main(["candidates", "--source", "search,lastfm"]) == 2
    assert len(server.calls) == n and "lastfm" in capsys.readouterr().err


def test_deleted_candidates_playlist_does_not_block_new_batches(env):
    world, state, server, home = env
    (home / "spotify-model.toml").write_text("[candidates]\nmax_pending = 10\n")
    assert main(["candidates", "--seed", "1"]) == 0
    cid = own(state, "data_candidates")[0]["id"]
    del state.playlists[cid]                      # the user deleted the playlist
    assert main(["candidates", "--seed", "2"]) == 0
    new = own(state, "data_candidates")
    assert len(new) == 1 and len(state.playlist_uris(new[0]["id"])) >= 10
    conn = db(home)
    assert conn.execute("SELECT count(*) FROM pushes WHERE batch = 1 AND status = 'removed'").fetchone()[0] > 0


def test_deleted_label_playlist_and_dry_run_keep_labels(env):
    world, state, server, home = env
    assert main(["candidates", "--seed", "1"]) == 0
    simulate.label_candidates(state, world.listener, world.catalog, np.random.default_rng(0), label_rate=1.0)
    assert main(["candidates", "--seed", "2"]) == 0
    before = sorted(db(home).execute("SELECT track_id, label FROM labels").fetchall())
    assert before
    del state.playlists[own(state, "data_1")[0]["id"]]
    assert main(["candidates", "--dry-run", "--seed", "3"]) == 0
    assert sorted(db(home).execute("SELECT track_id, label FROM labels").fetchall()) == before
    assert main(["candidates", "--seed", "4"]) == 0
    assert sorted(db(home).execute("SELECT track_id, label FROM labels").fetchall()) == before


def test_add_that_landed_but_timed_out_is_recorded_once(env, monkeypatch):
    from spotify_modeling.errors import ServiceUnavailable
    from spotify_modeling.sources import SpotifyClient

    world, state, server, home = env
    real_add = SpotifyClient.add_items

    def add_then_lose_the_answer(self, playlist_id, uris):
        real_add(self, playlist_id, uris)           # Spotify applied it ...
        raise ServiceUnavailable("Spotify did not answer (ReadTimeout).")   # ... but the answer never came

    monkeypatch.setattr(SpotifyClient, "add_items", add_then_lose_the_answer)
    assert main(["candidates", "--seed", "1"]) == 69
    uris = state.playlist_uris(own(state, "data_candidates")[0]["id"])
    assert len(uris) == len(set(uris)) > 0
    recorded = {f"spotify:track:{r[0]}" for r in db(home).execute("SELECT track_id FROM pushes")}
    assert recorded == set(uris)
    monkeypatch.setattr(SpotifyClient, "add_items", real_add)
    assert main(["candidates", "--seed", "2"]) == 0
    uris = state.playlist_uris(own(state, "data_candidates")[0]["id"])
    assert len(uris) == len(set(uris))


@pytest.mark.parametrize("text, named", [("[candidates\nmax_batch = 3", "spotify-model.toml"),
                                         ("[candidates]\nmax_batch = \"thirty\"", "spotify-model.toml"),
                                         ("[candidates]\nnot_a_setting = 1", "spotify-model.toml"),
                                         ("[candidates]\ngenre_share = 1.0", "genre_share"),
                                         ("[candidates]\nseed = -1", "seed = -1"),
                                         ("[candidates]\nsources = \"\"", "No pool source given")])
def test_bad_settings_file_is_a_usage_error_before_any_call(env, capsys, text, named):
    world, state, server, home = env
    (home / "spotify-model.toml").write_text(text)
    n = len(server.calls)
    assert main(["candidates"]) == 2
    assert len(server.calls) == n and named in capsys.readouterr().err


def test_second_concurrent_run_waits_then_exits_69_having_changed_nothing(env, capsys, monkeypatch):
    from spotify_modeling.home import Home

    world, state, server, home = env
    n = len(server.calls)
    monkeypatch.setenv("SPOTIFY_MODEL_LOCK_WAIT", "0.3")   # docs/usage.md: wait (30 s by default), then exit 69
    with Home(home).lock():                      # e.g. a cron run still going
        assert main(["candidates"]) == 69
    assert len(server.calls) == n and "Another spotify-model run" in capsys.readouterr().err
    assert main(["candidates", "--seed", "1"]) == 0


def test_genre_share_searches_your_genres_and_keeps_their_tracks_out_of_the_random_sample(env, capsys):
    world, state, server, home = env
    (home / "spotify-model.toml").write_text("[candidates]\ngenre_share = 0.5\nsearch_calls = 20\n")
    assert main(["candidates", "--seed", "4"]) == 0
    assert "of them in your genres" in capsys.readouterr().out
    qs = [c.query["q"] for c in server.calls if c.group == "search"]
    genre_qs = [q for q in qs if q.startswith("genre:")]
    assert len(genre_qs) == 10 and len(qs) == 20
    conn = db(home)
    history_genres = {g for (gs,) in conn.execute(   # genres of the artists of tracks you played
        "SELECT a.genres FROM artists a WHERE a.genres IS NOT NULL AND EXISTS (SELECT 1 FROM plays p "
        "JOIN tracks t ON t.track_id = p.track_id WHERE t.artist_ids LIKE '%' || a.artist_id || '%')")
        for g in json.loads(gs)}
    assert history_genres
    assert all(q.split('"')[1] in history_genres for q in genre_qs)   # only genres your artists carry
    sources = dict(conn.execute("SELECT source, count(*) FROM candidates GROUP BY source").fetchall())
    assert sources.get("genre", 0) > 0 and sources.get("search", 0) > 0
