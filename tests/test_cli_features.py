"""`spotify-model features` end to end: a small export, the real spotipy/requests stack, the local stand-in server.

What matters to the user: the right track is found among decoys, nothing fetched is fetched again, a quota wall or
the run's budget keeps everything and exits 75, an outage exits 69, no login exits 77 before any HTTP.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections import Counter

import pytest

from cli_harness import cli_env, login_in_process, run, write_token
from export_fixtures import _w, extended_row
from spotify_modeling.cli import main
from spotify_modeling.home import Home
from spotify_modeling.sandbox.standin import StandInServer, StandInState


def sid(tag: str) -> str:
    """A 22-character base62 id (Spotify's shape) readable in test output."""
    return (tag + "0" * 22)[:22]


T_FIRST, T_FIRST_LIVE, T_FIRST_OTHER = sid("trkFirst"), sid("trkFirstLive"), sid("trkFirstOther")
T_SECOND, T_THIRD, T_URI, T_URI2 = sid("trkSecondRemaster"), sid("trkThird"), sid("trkUri"), sid("trkUriTwo")
A_ALPHA, A_BETA, A_GAMMA, A_OTHER = sid("artAlpha"), sid("artBeta"), sid("artGamma"), sid("artOther")
ARTISTS = {
    A_ALPHA: {"id": A_ALPHA, "name": "Alpha Band", "genres": ["indie rock", "shoegaze"]},
    A_BETA: {"id": A_BETA, "name": "Beta Duo", "genres": []},
    A_GAMMA: {"id": A_GAMMA, "name": "Gamma", "genres": ["hip hop"]},
    A_OTHER: {"id": A_OTHER, "name": "Other Artist", "genres": ["schlager"]},
}


def feats(i: int) -> dict:
    return {"acousticness": 0.1, "danceability": 0.5 + i / 100, "energy": 0.6, "instrumentalness": 0.0, "key": i % 12,
            "liveness": 0.1, "loudness": -7.0, "mode": 1, "speechiness": 0.04, "tempo": 100.0 + i, "valence": 0.3}


def catalog(state: StandInState) -> None:
    def add(tid, name, artist, popularity, features=True, date="2001-05-01", isrc=None):
        state.add_track({"id": tid, "name": name, "duration_ms": 200000 + len(name), "explicit": False,
                         "album": {"id": sid("alb" + tid[3:12]), "name": "Album " + name, "release_date": date,
                                   "release_date_precision": "day"},
                         "external_ids": {"isrc": isrc or ("QZ" + tid[3:13].upper())}},
                        [ARTISTS[artist]], features=feats(popularity) if features else None, popularity=popularity)

    # decoys are more popular, so the stand-in ranks them first: "pick the first hit" would be wrong
    add(T_FIRST_OTHER, "First Song", A_OTHER, 30)
    add(T_FIRST_LIVE, "First Song - Live at Wembley", A_ALPHA, 20)
    add(T_FIRST, "First Song", A_ALPHA, 10)
    add(T_SECOND, "Second Song - Remastered 2011", A_BETA, 9)
    add(T_THIRD, "Third (feat. Delta)", A_GAMMA, 8, features=False)  # ReccoBeats does not know it
    add(T_URI, "Uri Song", A_ALPHA, 7)
    add(T_URI2, "Uri Two", A_GAMMA, 6)
    state.top_artists = [A_ALPHA]


def write_export(root):
    """Account data (no URIs) for 2024 and extended history (URIs, trackdone) for 2025."""
    d = root / "Spotify Account Data"
    plays = ([("Alpha Band", "First Song")] * 5 + [("Beta Duo", "Second Song")] * 3
             + [("Gamma", "Third (feat. Delta)")] * 2 + [("Some Podcast", "Episode 12")])
    _w(d / "StreamingHistory_music_0.json", [
        {"endTime": f"2024-03-{i + 1:02d} 10:00", "artistName": a, "trackName": t, "msPlayed": 150000}
        for i, (a, t) in enumerate(plays)])
    e = root / "Spotify Extended Streaming History"
    rows = [extended_row(f"2025-01-0{i + 1}T10:00:00Z", "Uri Song", "Alpha Band", f"spotify:track:{T_URI}",
                         ms=201000 + i, reason_end="trackdone") for i in range(4)]
    rows.append(extended_row("2025-01-06T10:00:00Z", "Uri Two", "Gamma", f"spotify:track:{T_URI2}", ms=5000,
                             reason_end="fwdbtn"))
    _w(e / "Streaming_History_Audio_2025.json", rows)
    return root


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A started stand-in with the catalog, a home, a valid cached login, and no real sleeping."""
    state = StandInState()
    catalog(state)
    server = StandInServer(state).start()
    home = Home(tmp_path / "home")
    login_in_process(monkeypatch, server, home)
    _no_sleep(monkeypatch)
    export = write_export(tmp_path / "export")
    yield server, state, home, export
    server.stop()


def _no_sleep(monkeypatch):
    from spotify_modeling import sources
    from spotify_modeling.sources import ReccoBeatsClient, SpotifyClient

    real_from_env = SpotifyClient.from_env.__func__

    def from_env(cls, home=None, **kwargs):
        return real_from_env(cls, home, sleep=lambda s: None, **kwargs)

    class QuickRecco(ReccoBeatsClient):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, sleep=lambda s: None, **kwargs)

    monkeypatch.setattr(SpotifyClient, "from_env", classmethod(from_env))
    monkeypatch.setattr(sources, "ReccoBeatsClient", QuickRecco)


def db(home):
    return sqlite3.connect(home.db_path)


def web_calls(server, start=0):
    return [c for c in server.calls[start:] if c.group not in ("token", "reccobeats")]


def key(call):
    return (call.method, call.path, tuple(sorted(call.query.items())))


def test_features_end_to_end_finds_the_right_tracks_and_writes_the_table(world, capsys):
    server, state, home, export = world
    assert main(["features", str(export)]) == 0
    out = capsys.readouterr().out
    conn = db(home)
    lookups = dict(conn.execute("SELECT name_key, track_id FROM track_lookup WHERE how IN ('search', 'miss')"))
    assert lookups == {"alpha band\tfirst song": T_FIRST,            # not the live take, not the other artist
                       "beta duo\tsecond song": T_SECOND,            # the remaster is the same song
                       "gamma\tthird": T_THIRD,                      # featuring credit ignored
                       "some podcast\tepisode 12": None}             # a miss, remembered
    searches = [c.query["q"] for c in server.calls_in("search")]
    assert searches == ['track:"First Song" artist:"Alpha Band"', 'track:"Second Song" artist:"Beta Duo"',
                        'track:"Third" artist:"Gamma"', 'track:"Episode 12" artist:"Some Podcast"']  # most played first
    assert all(c.query.get("limit") == "10" for c in server.calls_in("search"))
    plays = dict(conn.execute("SELECT track_name, track_id FROM plays GROUP BY track_name"))
    assert plays["First Song"] == T_FIRST and plays["Episode 12"] is None
    # search results carry the whole track; URI tracks got duration and artists from ReccoBeats, then their
    # release date and explicit flag from one `GET /tracks/{id}` each, most-played first, so that history tracks
    # are described like the searched pool
    row = conn.execute("SELECT duration_ms, artist_ids, release_date, explicit, isrc, meta_source FROM tracks "
                       "WHERE track_id = ?", (T_FIRST,)).fetchone()
    assert row == (200010, json.dumps([A_ALPHA]), "2001-05-01", 0, "QZFIRST00000", "search")
    uri = conn.execute("SELECT duration_ms, artist_ids, release_date, explicit, meta_source FROM tracks "
                       "WHERE track_id = ?", (T_URI,)).fetchone()
    assert uri == (200008, json.dumps([A_ALPHA]), "2001-05-01", 0, "spotify")
    assert [c.path for c in server.calls_in("tracks")] == [f"/v1/tracks/{T_URI}", f"/v1/tracks/{T_URI2}"]
    # features: 40 per call, the unknown one stored as not available
    recco = [c for c in server.calls_in("reccobeats") if c.path.endswith("audio-features")]
    assert len(recco) == 1 and set(recco[0].query["ids"].split(",")) == {T_FIRST, T_SECOND, T_THIRD, T_URI, T_URI2}
    avail = dict(conn.execute("SELECT track_id, available FROM audio_features WHERE source = 'reccobeats'"))
    assert avail == {T_FIRST: 1, T_SECOND: 1, T_THIRD: 0, T_URI: 1, T_URI2: 1}
    # genres: top artists first (3 time ranges), then one call per remaining artist, never the decoy's artist
    assert [c.query["time_range"] for c in server.calls if c.path == "/v1/me/top/artists"] == [
        "long_term", "medium_term", "short_term"]
    assert sorted(c.path for c in server.calls_in("artists")) == sorted(
        [f"/v1/artists/{A_BETA}", f"/v1/artists/{A_GAMMA}"])
    genres = dict(conn.execute("SELECT artist_id, genres FROM artists"))
    assert genres == {A_ALPHA: '["indie rock", "shoegaze"]', A_BETA: "[]", A_GAMMA: '["hip hop"]'}
    # the table every model reads
    table = list(csv.DictReader(open(home.processed / "track_features.csv")))
    by_id = {r["track_id"]: r for r in table}
    assert set(by_id) == {T_FIRST, T_SECOND, T_THIRD, T_URI, T_URI2}
    assert by_id[T_FIRST]["genres"] == "indie rock|shoegaze" and by_id[T_FIRST]["key"] == "10"
    assert by_id[T_SECOND]["genres"] == "" and by_id[T_THIRD]["danceability"] == ""
    assert by_id[T_URI]["plays"] == "4" and by_id[T_URI]["source"] == "reccobeats"
    # summary: coverage as counts and share of plays, calls by group
    assert "Coverage" in out and "with audio features (reccobeats)" in out
    assert "93.8%" in out  # 15 of 16 plays have an id (the podcast episode never resolves)
    assert "search 4/4" in out and "track table (" in out


def test_second_run_repeats_no_call(world, capsys):
    server, state, home, export = world
    assert main(["features", str(export)]) == 0
    first = len(server.calls)
    assert main(["features"]) == 0  # continues with the imported export
    assert "Continuing with the export already imported" in capsys.readouterr().out
    assert server.calls[first:] == []


def test_quota_wall_exits_75_keeps_progress_and_resumes_without_repeats(world, capsys):
    server, state, home, export = world
    state.quotas = {"search": 2, "artists": 1}
    assert main(["features", str(export)]) == 75
    out, err = capsys.readouterr()
    assert "daily limit reached for artists, search calls; Spotify suggests trying again after" in out and "stopped:" in err and "run `spotify-model features` again" in err
    conn = db(home)
    assert conn.execute("SELECT count(*) FROM track_lookup WHERE how IN ('search', 'miss')").fetchone()[0] == 2
    # steps on other quota groups still ran: features for every track known so far, one artist's genres
    assert conn.execute("SELECT count(*) FROM audio_features").fetchone()[0] == 4
    assert conn.execute("SELECT count(*) FROM artists WHERE genres IS NOT NULL").fetchone()[0] == 2  # top + 1
    conn.close()
    first = len(server.calls)
    state.reset_day()
    state.quotas = {}
    assert main(["features"]) == 0
    ok_before = Counter(key(c) for c in server.calls[:first] if 200 <= c.status < 300)
    ok_after = Counter(key(c) for c in server.calls[first:] if 200 <= c.status < 300)
    assert not set(ok_before) & set(ok_after)
    assert all(n == 1 for n in (ok_before + ok_after).values())
    conn = db(home)
    assert conn.execute("SELECT count(*) FROM track_lookup WHERE how IN ('search', 'miss')").fetchone()[0] == 4
    assert conn.execute("SELECT count(*) FROM audio_features").fetchone()[0] == 5


def test_max_calls_is_honoured(world, capsys):
    server, state, home, export = world
    assert main(["features", str(export), "--max-calls", "3"]) == 75
    assert len(web_calls(server)) == 3
    out, err = capsys.readouterr()
    assert "--max-calls budget is spent" in out and "budget of 3 Spotify calls is spent" in err


def test_no_token_exits_77_without_http_but_keeps_the_import(world, capsys):
    server, state, home, export = world
    home.token_cache.unlink()
    assert main(["features", str(export)]) == 77
    assert server.calls == []
    assert "spotify-model login" in capsys.readouterr().err
    assert db(home).execute("SELECT count(*) FROM plays").fetchone()[0] == 16


def test_no_app_configured_imports_only(world, monkeypatch, capsys):
    server, state, home, export = world
    monkeypatch.delenv("SPOTIPY_CLIENT_ID")
    assert main(["features", str(export)]) == 0
    assert server.calls == [] and "imported only" in capsys.readouterr().out


def test_offline_makes_no_request(world):
    server, state, home, export = world
    assert main(["features", str(export), "--offline"]) == 0
    assert server.calls == []


def test_503_storm_exits_69_with_summary(world, capsys):
    server, state, home, export = world
    state.fail_5xx = {"search": 100}
    assert main(["features", str(export)]) == 69
    out = capsys.readouterr().out
    assert "Coverage" in out and "unavailable" in out
    assert len(server.calls_in("search")) == 4  # first try + 3 retries, then the run stops
    assert server.calls_in("reccobeats") == []  # nothing after an outage


def test_genres_source_none_and_features_csv(world, tmp_path):
    server, state, home, export = world
    table = tmp_path / "my_features.csv"
    table.write_text("id,danceability,energy,key,tempo\n"
                     f"{T_URI},0.9,0.8,5,128\n{T_URI2},0.1,0.2,-1,70\n")
    assert main(["features", str(export), "--genres-source", "none", "--features-csv", str(table)]) == 0
    assert server.calls_in("artists") == [] and [c for c in server.calls if "top" in c.path] == []
    assert not [c for c in server.calls_in("reccobeats") if c.path.endswith("audio-features")]
    rows = db(home).execute("SELECT track_id, source, key, tempo FROM audio_features ORDER BY track_id").fetchall()
    assert rows == [(T_URI, "csv:my_features.csv", 5, 128.0), (T_URI2, "csv:my_features.csv", None, 70.0)]


def test_bad_option_exits_2(world):
    server, state, home, export = world
    assert main(["features", str(export), "--genres-source", "lastfm"]) == 2
    assert main(["features", str(export), "--features-source", "csv"]) == 2
    assert server.calls == []


def test_spotify_features_source_stops_at_first_403(world, capsys):
    server, state, home, export = world
    assert main(["features", str(export), "--features-source", "spotify", "--genres-source", "none"]) == 0
    assert len(server.calls_in("audio_features")) == 1
    assert "refuses audio features" in capsys.readouterr().out


def test_login_command_no_browser(world, monkeypatch, capsys):
    import requests

    server, state, home, export = world
    home.token_cache.unlink()
    shown = []
    monkeypatch.setattr("builtins.input", lambda prompt="": requests.get(
        shown[-1], allow_redirects=False, timeout=5).headers["Location"])
    import spotify_modeling.cli as cli

    real_print = cli.console.print

    def spy(*args, **kwargs):
        if args and isinstance(args[0], str) and args[0].startswith(server.accounts_url):
            shown.append(args[0])
        return real_print(*args, **kwargs)

    monkeypatch.setattr(cli.console, "print", spy)
    assert main(["login", "--no-browser"]) == 0
    out = capsys.readouterr().out
    assert "Logged in as Stand-in Listener" in out and "not available (expected in 2026)" in out
    assert "access_token" not in out and home.token_cache.exists()


def test_without_login_sources_that_need_no_spotify_still_run(world, capsys):
    server, state, home, export = world
    home.token_cache.unlink()
    assert main(["features", str(export), "--genres-source", "none"]) == 0
    assert {c.group for c in server.calls} == {"reccobeats"}  # not a single Spotify call
    out, err = capsys.readouterr()
    assert "not logged in to Spotify" in err
    feats = dict(db(home).execute("SELECT track_id, available FROM audio_features"))
    assert feats == {T_URI: 1, T_URI2: 1}  # the export's own ids are enriched; names wait for a login


def test_details_calls_caps_the_release_date_look_ups_most_played_first(world, capsys):
    server, state, home, export = world
    assert main(["features", str(export), "--details-calls", "1"]) == 0
    out = capsys.readouterr().out
    assert [c.path for c in server.calls_in("tracks")] == [f"/v1/tracks/{T_URI}"]   # 4 plays before 1
    assert re.search(r"release date \+ explicit\s+1/2\s+1\s+ok \(1 left for later runs", out)   # 1 done of 2
    rows = dict(db(home).execute("SELECT track_id, release_date FROM tracks WHERE track_id IN (?, ?)",
                                 (T_URI, T_URI2)))
    assert rows == {T_URI: "2001-05-01", T_URI2: None}
    assert main(["features", "--details-calls", "0"]) == 0                            # 0: none at all
    assert [c.path for c in server.calls_in("tracks")] == [f"/v1/tracks/{T_URI}"]
    assert main(["features"]) == 0                                                   # the default picks up the rest
    assert [c.path for c in server.calls_in("tracks")] == [f"/v1/tracks/{T_URI}", f"/v1/tracks/{T_URI2}"]


def test_paths_are_printed_whole_at_80_columns(world, tmp_path):
    # at 80 columns the CSV paths ended in "…/data/processed/stre…" (cut in a table cell) or were folded over two
    # lines: neither can be copied. A path is printed whole, on a line of its own.
    server, state, home, export = world
    deep = tmp_path / "a-home-folder-with-a-long-name" / "for-the-music-model-of-someone-who-likes-long-names"
    deep.mkdir(parents=True)
    write_token(deep, server)
    env = cli_env(server, deep, COLUMNS="80", LINES="40")
    res = run(["features", str(export)], env, tmp_path / "logs", "features", server)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    history_csv = str(deep / "data" / "processed" / "streaming_history.csv")
    track_csv = str(deep / "data" / "processed" / "track_features.csv")
    assert len(history_csv) > 80 and len(track_csv) > 80
    assert history_csv in lines and track_csv in lines        # verbatim, each on a line of its own
    assert not [line for line in lines if "/data/" in line and "…" in line]   # and no cut copy of one either
