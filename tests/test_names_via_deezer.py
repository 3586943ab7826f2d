"""Names-only history resolved through Deezer end to end: `spotify-model features` against the stand-in (its Deezer
routes included), the real clients, the requests asserted from the stand-in's own log.

What matters to the user: names Deezer can resolve cost no Spotify search; the rest are searched on Spotify
most-played first; names that differ only in case, punctuation or a suffix are asked once; a rerun, a kill or a
quota wall repeats nothing; Deezer down is one note and Spotify search as before.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter

import pytest
import requests

from cli_harness import cli_env, login_in_process, run, run_and_kill
from export_fixtures import _w
from spotify_modeling import sources
from spotify_modeling.cli import main
from spotify_modeling.core.matching import MatchCandidate, match_candidates, query_key
from spotify_modeling.home import Home
from spotify_modeling.sandbox.standin import Fault, StandInServer, StandInState, deezer_track_from_spotify
from spotify_modeling.sources import ReccoBeatsClient, SpotifyClient


def sid(tag: str) -> str:
    return (tag + "0" * 22)[:22]


T_DOLLAR, T_DOLLAR_LIVE, T_DREAMS = sid("trkDollar"), sid("trkDollarLive"), sid("trkDreams")
T_RUN_EDIT, T_RUN, T_QUIET, T_SUMMER = sid("trkRunEdit"), sid("trkRunFull"), sid("trkQuiet"), sid("trkSummer")
ARTISTS = {name: {"id": sid("art" + name.replace(" ", "")[:10]), "name": name, "genres": ["pop"]}
           for name in ("Aloe Blacc", "Fleetwood Mac", "Delta", "Beta Duo", "Gamma")}

# (track id, title, artist, seconds, popularity, ReccoBeats knows it, Deezer has it)
CATALOG = [
    (T_DOLLAR_LIVE, "I Need A Dollar - Live", "Aloe Blacc", 250, 50, True, True),   # a decoy Deezer ranks first
    (T_DOLLAR, "I Need A Dollar", "Aloe Blacc", 244, 40, True, True),
    (T_DREAMS, "Dreams - 2004 Remaster", "Fleetwood Mac", 257, 30, True, True),
    (T_RUN_EDIT, "Run", "Delta", 180, 25, True, True),   # the radio edit: same name, a different recording
    (T_RUN, "Run", "Delta", 300, 20, True, True),
    (T_QUIET, "Quiet Song", "Beta Duo", 200, 10, False, True),   # ReccoBeats does not know it
    (T_SUMMER, "Summertime", "Gamma", 210, 5, True, False),      # Deezer does not have it
]

# (artist, title as the export spells it, plays, ms played): most played first is Dollar, Dreams, Run, ...
PLAYS = [("Aloe Blacc", "I Need A Dollar", 7, 240_000), ("Fleetwood Mac", "Dreams", 5, 250_000),
         ("Delta", "Run", 4, 290_000), ("Beta Duo", "Quiet Song", 3, 150_000), ("Gamma", "Summertime", 3, 200_000),
         ("Fleetwood Mac", "Dream's", 2, 120_000),          # punctuation: another name, the same query
         ("Gamma", "Summer-Time", 1, 100_000),              # the same for a name Deezer does not have
         ("Zzyzx Unknown", "Nobody Knows", 1, 90_000)]      # in no catalogue at all

DEEZER_QUERIES = ['artist:"Aloe Blacc" track:"I Need A Dollar"', 'artist:"Fleetwood Mac" track:"Dreams"',
                  'artist:"Delta" track:"Run"', 'artist:"Beta Duo" track:"Quiet Song"',
                  'artist:"Gamma" track:"Summertime"', 'artist:"Zzyzx Unknown" track:"Nobody Knows"']
SPOTIFY_QUERIES = ['track:"Quiet Song" artist:"Beta Duo"', 'track:"Summertime" artist:"Gamma"',
                   'track:"Nobody Knows" artist:"Zzyzx Unknown"']
FEATURES = {"acousticness": 0.1, "danceability": 0.6, "energy": 0.7, "instrumentalness": 0.0, "key": 5,
            "liveness": 0.1, "loudness": -6.0, "mode": 1, "speechiness": 0.05, "tempo": 110.0, "valence": 0.5}


def catalog(state: StandInState) -> None:
    for n, (tid, title, artist, secs, pop, recco, deezer) in enumerate(CATALOG):
        state.add_track({"id": tid, "name": title, "duration_ms": secs * 1000, "explicit": n == 0,
                         "album": {"id": sid("alb" + tid[3:12]), "name": "Album " + title,
                                   "release_date": "2010-09-24", "release_date_precision": "day"},
                         "external_ids": {"isrc": "QZ" + tid[3:13].upper()}},
                        [ARTISTS[artist]], features=dict(FEATURES, tempo=100.0 + n) if recco else None,
                        popularity=pop)
        if deezer:
            state.add_deezer_track(deezer_track_from_spotify(state.tracks[tid], 5000 + n, pop))


def write_export(root):
    rows, day = [], 1
    for artist, title, n, ms in PLAYS:
        for _ in range(n):
            rows.append({"endTime": f"2025-03-{day:02d} 10:00", "artistName": artist, "trackName": title,
                         "msPlayed": ms})
            day = day % 28 + 1
    _w(root / "Spotify Account Data" / "StreamingHistory_music_0.json", rows)
    return root


def quick(monkeypatch):
    """Every client the command builds waits nothing (the stand-in's Deezer pace is off unless a test sets it)."""
    real_from_env = SpotifyClient.from_env.__func__

    def from_env(cls, home=None, **kwargs):
        return real_from_env(cls, home, sleep=lambda s: None, **kwargs)

    class QuickRecco(ReccoBeatsClient):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{"sleep": lambda s: None, **kwargs})

    monkeypatch.setattr(SpotifyClient, "from_env", classmethod(from_env))
    monkeypatch.setattr(sources, "ReccoBeatsClient", QuickRecco)
    deezer_client(monkeypatch, sleep=lambda s: None, rate=(10_000, 1.0))


def deezer_client(monkeypatch, **settings):
    """The Deezer client `features` builds, with these settings (pace, waits)."""
    real = sources.deezer.DeezerClient

    class Configured(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**settings, **kwargs})

    monkeypatch.setattr(sources, "DeezerClient", Configured)


@pytest.fixture
def world(tmp_path, monkeypatch):
    state = StandInState()
    catalog(state)
    state.deezer_rate = None
    server = StandInServer(state).start()
    home = Home(tmp_path / "home")
    login_in_process(monkeypatch, server, home)
    quick(monkeypatch)
    yield server, state, home, write_export(tmp_path / "export")
    server.stop()


def db(home):
    return sqlite3.connect(home.db_path)


def deezer_queries(calls):
    return [c.query["q"] for c in calls if c.group == "deezer" and c.path == "/deezer/search"]


def spotify_queries(calls):
    return [c.query["q"] for c in calls if c.group == "search"]


def answered(calls):
    """Successful GETs (Deezer's "no data" is an answer too; its rate limit and busy answers are not)."""
    return Counter((c.path, tuple(sorted(c.query.items()))) for c in calls if c.method == "GET" and c.status == 200
                   and c.fault is None and c.deezer_error not in (4, 700) and c.group in ("deezer", "search",
                                                                                          "reccobeats", "tracks"))


# ------------------------------------------------------------------------------------------------ matching
def test_variant_names_share_one_query_key_and_other_takes_do_not():
    same = [("Starman", "David Bowie"), ("starman", "DAVID BOWIE"), ("Starman - 2012 Remaster", "David Bowie"),
            ("Starman (feat. Mick Ronson)", "The David Bowie"), ("Star-man", "Dávid Bowie"),
            ("Starman - Top Of The Pops, 1972", "David Bowie")]
    assert len({query_key(t, a) for t, a in same}) == 1
    assert query_key("Starman - Live", "David Bowie") != query_key("Starman", "David Bowie")
    assert query_key("Dream's", "Fleetwood Mac") == query_key("Dreams", "Fleetwood Mac")


def test_the_match_is_strict_checks_durations_and_gives_up_when_ambiguous():
    edit = MatchCandidate(1, "Run", ("Delta",), 180_000)
    full = MatchCandidate(2, "Run (2011 Remaster)", ("Delta",), 300_000)
    live = MatchCandidate(3, "Run (Live)", ("Delta",), 300_000)
    other = MatchCandidate(4, "Run", ("Someone Else",), 300_000)
    unsure = match_candidates([edit, full, live, other], "Run", "Delta")
    assert unsure.ambiguous and unsure.sure is None          # two recordings, nothing tells which was played
    assert match_candidates([edit, full], "Run", "Delta", longest_ms=290_000).sure == full   # plays outlast the edit
    assert match_candidates([edit, full], "Run", "Delta", done_ms=181_000).sure == edit      # a whole play: 3 min
    assert match_candidates([live, other], "Run", "Delta").candidate is None
    deezer = MatchCandidate(5, "Starman (2012 Remaster) (feat. Mick Ronson)", ("David Bowie", "Mick Ronson"), 254_000)
    for title, artist in (("Starman", "David Bowie"), ("starman", "dávid bowie"), ("Starman", "Mick Ronson")):
        assert match_candidates([deezer], title, artist).sure == deezer


# ------------------------------------------------------------------------------------------------ the stand-in
def test_standin_serves_deezer_in_its_documented_shapes(world):
    server, state, home, export = world
    assert server.env()["SPOTIFY_MODEL_DEEZER_URL"] == server.deezer_url
    url = server.deezer_url
    found = requests.get(url + "/search", params={"q": 'artist:"aloe blacc" track:"i need a dollar"'},
                         timeout=5).json()
    assert [r["title"] for r in found["data"]] == ["I Need A Dollar (Live)", "I Need A Dollar"]  # by rank
    assert found["total"] == 2 and "isrc" not in found["data"][0] and "release_date" not in found["data"][0]
    # fuzzy as Deezer is: case, accents, an apostrophe, one typo, the contributor credited in the title
    for q in ('artist:"FLEETWOOD MÁC" track:"dream\'s"', 'artist:"fleetwod mac" track:"dreams"'):
        assert [r["id"] for r in requests.get(url + "/search", params={"q": q}, timeout=5).json()["data"]] == [5002]
    full = requests.get(url + "/track/5002", timeout=5).json()
    assert full["isrc"] == state.tracks[T_DREAMS]["external_ids"]["isrc"]          # the one ReccoBeats knows
    assert full["title"] == "Dreams (2004 Remaster)" and full["duration"] == 257
    assert full["release_date"] == "2010-09-24" and full["contributors"][0]["name"] == "Fleetwood Mac"
    assert requests.get(url + "/track/isrc:" + full["isrc"].lower(), timeout=5).json()["id"] == 5002
    for path in ("/track/999", "/track/isrc:XX0000000000"):
        r = requests.get(url + path, timeout=5)
        assert r.status_code == 200 and r.json() == {"error": {"type": "DataException", "message": "no data",
                                                               "code": 800}}
    assert requests.get(url + "/search", timeout=5).json()["error"]["code"] == 501
    assert [c.deezer_error for c in server.calls_in("deezer")][-3:] == [800, 800, 501]


def test_standin_answers_a_burst_over_its_pace_with_code_4(world):
    server, state, home, export = world
    now = [1000.0]
    state.clock = lambda: now[0]
    state.deezer_rate = (50, 5.0)
    codes = [requests.get(server.deezer_url + "/track/5000", timeout=5).json().get("error", {}).get("code")
             for _ in range(52)]
    assert codes[:50] == [None] * 50 and codes[50:] == [4, 4]
    now[0] += 5.0                                              # the window has passed
    assert "error" not in requests.get(server.deezer_url + "/track/5000", timeout=5).json()


def test_standin_without_deezer_data_tells_the_tool_deezer_is_off(tmp_path):
    with StandInServer(StandInState()) as server:
        assert server.env()["SPOTIFY_MODEL_DEEZER_URL"] == "off"


# ------------------------------------------------------------------------------------------------ end to end
def test_names_resolve_through_deezer_and_the_rest_through_spotify_search(world, capsys):
    server, state, home, export = world
    assert main(["features", str(export)]) == 0
    out = capsys.readouterr().out
    calls = server.calls
    # Deezer: one search per query, most played first; "Dream's" shares the "Dreams" query, "Summer-Time" the
    # "Summertime" one
    assert deezer_queries(calls) == DEEZER_QUERIES
    assert all(c.query.get("limit") == "10" for c in calls if c.path == "/deezer/search")
    # the tracks of the matches only: not the live decoy Deezer ranks first, not the 3-minute edit of "Run"
    # (the plays lasted 290 s), one call for the two spellings of "Dreams"
    assert [c.path for c in calls if c.path.startswith("/deezer/track/")] == [
        "/deezer/track/5001", "/deezer/track/5002", "/deezer/track/5004", "/deezer/track/5005"]
    isrc_calls = [c for c in calls if c.group == "reccobeats" and c.path.endswith("audio-features")
                  and c.query["ids"].startswith("QZ")]
    assert len(isrc_calls) == 1 and isrc_calls[0].query["ids"].split(",") == [
        state.tracks[t]["external_ids"]["isrc"] for t in (T_DOLLAR, T_DREAMS, T_RUN, T_QUIET)]
    # Spotify search only for what Deezer could not resolve, most played first, each query once
    assert spotify_queries(calls) == SPOTIFY_QUERIES
    conn = db(home)
    lookups = {k: (t, how) for k, t, how in conn.execute("SELECT name_key, track_id, how FROM track_lookup")}
    assert lookups == {"aloe blacc\ti need a dollar": (T_DOLLAR, "deezer"),
                       "fleetwood mac\tdreams": (T_DREAMS, "deezer"), "fleetwood mac\tdream s": (T_DREAMS, "deezer"),
                       "delta\trun": (T_RUN, "deezer"),
                       "beta duo\tquiet song": (T_QUIET, "search"),       # ReccoBeats does not know its ISRC
                       "gamma\tsummertime": (T_SUMMER, "search"), "gamma\tsummer time": (T_SUMMER, "search"),
                       "zzyzx unknown\tnobody knows": (None, "miss")}
    # what each source said is recorded with its source: Deezer's facts (the export's spelling of the name),
    # ReccoBeats' features, then ReccoBeats' exact duration and artist ids
    row = conn.execute("SELECT name, release_date, explicit, isrc, duration_ms, artist_ids, meta_source FROM tracks "
                       "WHERE track_id = ?", (T_DOLLAR,)).fetchone()
    assert row == ("I Need A Dollar", "2010-09-24", 0, state.tracks[T_DOLLAR]["external_ids"]["isrc"], 244_000,
                   f'["{ARTISTS["Aloe Blacc"]["id"]}"]', "deezer")
    feats = dict(conn.execute("SELECT track_id, available FROM audio_features WHERE source = 'reccobeats'"))
    assert feats == {T_DOLLAR: 1, T_DREAMS: 1, T_RUN: 1, T_QUIET: 0, T_SUMMER: 1}
    plays = dict(conn.execute("SELECT track_name, count(*) FROM plays WHERE track_id IS NOT NULL GROUP BY 1"))
    assert plays == {"I Need A Dollar": 7, "Dreams": 5, "Run": 4, "Quiet Song": 3, "Summertime": 3, "Dream's": 2,
                     "Summer-Time": 1}
    assert "deezer 10/10" in out and "search 3/3" in out
    # nothing answered was asked twice
    assert max(answered(calls).values()) == 1


def test_a_second_run_asks_nothing_again(world, capsys):
    server, state, home, export = world
    assert main(["features", str(export)]) == 0
    first = len(server.calls)
    assert main(["features"]) == 0
    assert server.calls[first:] == []


def test_a_spotify_quota_wall_keeps_everything_and_the_next_day_repeats_nothing(world, capsys):
    server, state, home, export = world
    state.quotas = {"search": 1}
    assert main(["features", str(export)]) == 75
    first = list(server.calls)
    assert spotify_queries(first) == SPOTIFY_QUERIES[:2]       # the second met the wall (429)
    assert db(home).execute("SELECT count(*) FROM track_lookup WHERE how = 'deezer'").fetchone()[0] == 4
    state.reset_day()
    state.quotas = {}
    assert main(["features"]) == 0
    again = server.calls[len(first):]
    assert deezer_queries(again) == [] and [c for c in again if c.group == "deezer"] == []
    assert spotify_queries(again) == SPOTIFY_QUERIES[1:]       # only what the wall left
    both = answered(first) + answered(again)
    assert max(both.values()) == 1


def test_deezer_down_is_one_note_and_spotify_search_as_before(world, capsys):
    server, state, home, export = world
    state.faults.append(Fault(group="deezer", status=503, times=None))
    assert main(["features", str(export)]) == 0
    out = capsys.readouterr().out
    assert len(server.calls_in("deezer")) == 4                  # one try and three retries, then no more
    assert out.count("Deezer stopped answering") == 1
    # every name went to Spotify search, most played first, the variants still sharing one query
    assert spotify_queries(server.calls) == [
        'track:"I Need A Dollar" artist:"Aloe Blacc"', 'track:"Dreams" artist:"Fleetwood Mac"',
        'track:"Run" artist:"Delta"', *SPOTIFY_QUERIES]
    lookups = dict(db(home).execute("SELECT name_key, how FROM track_lookup"))
    assert set(lookups.values()) == {"search", "miss"}


def test_deezer_code_4_is_waited_out_and_asked_again(world, capsys, monkeypatch):
    server, state, home, export = world
    state.deezer_rate = (4, 0.4)                                  # the stand-in's pace, scaled down for the test
    deezer_client(monkeypatch, rate=(10_000, 1.0), quota_wait=0.45)   # a client that does not pace itself
    assert main(["features", str(export)]) == 0
    deezer = server.calls_in("deezer")
    limited = [c for c in deezer if c.deezer_error == 4]
    assert limited                                                # the burst met the limit ...
    for c in limited:                                             # ... and each refused call was asked again
        assert any(d.path == c.path and d.query == c.query and d.deezer_error is None and d.ts > c.ts
                   for d in deezer)
    assert deezer_queries([c for c in deezer if c.deezer_error is None]) == DEEZER_QUERIES
    assert spotify_queries(server.calls) == SPOTIFY_QUERIES      # the limit cost no Spotify search


def test_a_paced_client_never_meets_the_limit(world, capsys, monkeypatch):
    server, state, home, export = world
    state.deezer_rate = (4, 0.4)
    deezer_client(monkeypatch, rate=(4, 0.4))                          # the pace the stand-in allows
    assert main(["features", str(export)]) == 0
    deezer = server.calls_in("deezer")
    assert len(deezer) == 10 and all(c.deezer_error is None for c in deezer)
    times = [c.ts for c in deezer]
    assert all(times[i + 4] - times[i] >= 0.4 for i in range(len(times) - 4))


def test_a_kill_during_the_deezer_step_loses_nothing_and_the_rerun_repeats_nothing(tmp_path):
    state = StandInState()
    catalog(state)
    state.deezer_rate = None
    with StandInServer(state) as server:
        home = Home(tmp_path / "home")
        from cli_harness import write_token
        write_token(home.root, server)
        env = cli_env(server, home.root)
        export = write_export(tmp_path / "export")
        killed = run_and_kill(["features", str(export)], env, tmp_path / "logs", "killed", server,
                              when=lambda new: sum(c.group == "deezer" for c in new) >= 5)
        assert killed.killed, killed.err
        done = run(["features"], env, tmp_path / "logs", "rerun", server)
        assert done.code == 0, done.err
        before, after = answered(killed.requests), answered(done.requests)
        # nothing answered before the kill is asked again, but the call in flight when it came (its answer had
        # left the server, never reached the store)
        in_flight = {(c.path, tuple(sorted(c.query.items()))) for c in killed.requests[-1:]}
        assert set(before) & set(after) <= in_flight
        asked = deezer_queries(killed.requests) + deezer_queries(done.requests)
        assert list(dict.fromkeys(asked)) == DEEZER_QUERIES and len(asked) - len(set(asked)) <= len(in_flight)
        lookups = dict(sqlite3.connect(home.db_path).execute("SELECT name_key, how FROM track_lookup"))
        assert Counter(lookups.values()) == Counter({"deezer": 4, "search": 3, "miss": 1})
