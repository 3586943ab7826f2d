"""enrich.py step by step: matching, batching and misses, free durations, MusicBrainz genres, the track table,
and `enrich_tracks` for a candidate pool. HTTP is mocked with `responses` (ReccoBeats, MusicBrainz) or served by the
stand-in through the real Spotify client."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import responses

from spotify_modeling.db import history, tracks
from spotify_modeling.db.model_table import TRACK_COLUMNS, describe_tracks
from spotify_modeling.pipeline import enrich
from spotify_modeling.core.records import track_from_spotify
from spotify_modeling.sources.auth import SCOPES
from spotify_modeling.errors import BadInput
from spotify_modeling.home import Home
from spotify_modeling.sources import MusicBrainzClient, ReccoBeatsClient, SpotifyClient
from spotify_modeling.sandbox.standin import StandInServer, StandInState
from spotify_modeling.db.store import Store

RB = "https://recco.test/v1"
MB = "https://mb.test/ws/2"


def sid(tag: str) -> str:
    return (tag + "0" * 22)[:22]


def item(tid, name, *artists):
    return {"id": sid(tid), "name": name, "artists": [{"id": sid("a" + a[:8]), "name": a} for a in artists],
            "album": {"name": "X", "release_date": "1999"}, "duration_ms": 1000}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def add_plays(store, rows):
    """rows: (track_id, name_key, n, reason_end, ms); one imported file holds them all."""
    with store.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO imported_files(file_id, sha256, path, size, kind, rows, imported_at) "
                     "VALUES (1, 'sha', 'f', 1, 'extended', 1, 'now')")
        for tid, key, n, reason, ms in rows:
            for i in range(n):
                conn.execute("INSERT INTO plays(source, ts, ms_played, track_name, artist_name, track_id, name_key, "
                             "reason_end, file_id) VALUES ('extended', ?, ?, ?, 'A', ?, ?, ?, 1)",
                             (f"2025-01-01T00:{i:02d}:00Z", ms, key, tid, key, reason))
            if tid:
                conn.execute("INSERT OR IGNORE INTO tracks(track_id, name, artist_names, meta_source) "
                             "VALUES (?, ?, '[\"A\"]', 'export')", (tid, key))


# ------------------------------------------------------------------------------------------------ matching
def test_best_match_skips_decoys():
    items = [item("other", "Song", "Someone Else"), item("live", "Song - Live at Wembley", "The Band"),
             item("remix", "Song (DJ X Remix)", "The Band"), item("studio", "Song", "The Band", "Guest"),
             item("rem", "Song - Remastered 2011", "The Band")]
    assert enrich.best_match(items, "Song", "The Band")["id"] == sid("studio")  # exact title wins the tie
    assert enrich.best_match(items, "Song - Live", "Band")["id"] == sid("live")
    assert enrich.best_match(items, "Song (Remix)", "The Band")["id"] == sid("remix")
    assert enrich.best_match(items, "Song (feat. Guest)", "the band")["id"] == sid("studio")
    assert enrich.best_match(items[1:3] + items[4:], "Song", "The Band")["id"] == sid("rem")  # only a remaster
    assert enrich.best_match(items, "Songs of Love", "The Band") is None
    assert enrich.best_match(items[:1], "Song", "The Band") is None
    assert enrich.best_match([], "Song", "The Band") is None


def test_search_query_cuts_tails_keeps_markers_and_quotes():
    assert enrich.search_query("Song - Remastered 2011", "The Band") == 'track:"Song" artist:"The Band"'
    assert enrich.search_query("Third (feat. Delta)", "Gamma") == 'track:"Third" artist:"Gamma"'
    assert enrich.search_query("Song - Live at Wembley", "X") == 'track:"Song live" artist:"X"'
    assert enrich.search_query('Say "Hi"', "") == 'track:"Say  Hi"'
    assert enrich.search_query("(Intro)", "X") == 'track:"(Intro)" artist:"X"'


# ------------------------------------------------------------------------------------------------ ReccoBeats
def recco_rows(ids, with_artists=True):
    return {"content": [{"id": f"rb-{t}", "href": f"https://open.spotify.com/track/{t}", "trackTitle": t,
                         "durationMs": 180000, "isrc": f"IS{t[:6]}",
                         "artists": [{"id": "x", "name": "A", "href": f"https://open.spotify.com/artist/{sid('art')}"}]
                         if with_artists else []} for t in ids]}


@responses.activate
def test_reccobeats_metadata_batches_by_plays_and_remembers_misses(store):
    ids = [sid(f"t{i:02d}") for i in range(45)]
    add_plays(store, [(t, f"k{i}", 1 + (i == 44) * 5, "fwdbtn", 1000) for i, t in enumerate(ids)])
    known = set(ids[::2])  # ReccoBeats knows every other track

    def answer(request):
        asked = parse_qs(urlsplit(request.url).query)["ids"][0].split(",")
        return 200, {}, json.dumps(recco_rows([t for t in asked if t in known]))

    responses.add_callback(responses.GET, f"{RB}/track", callback=answer)
    rb = ReccoBeatsClient(base_url=RB, sleep=lambda s: None)
    order = [t for t, _ in history.history_tracks(store)]
    step = enrich.fill_metadata_reccobeats(store, order, rb)
    asked = [parse_qs(urlsplit(c.request.url).query)["ids"][0].split(",") for c in responses.calls]
    assert [len(a) for a in asked] == [40, 5] and asked[0][0] == ids[44]  # most-played first
    assert (step.todo, step.done, step.found) == (45, 45, 23)
    row = store.conn.execute("SELECT duration_ms, artist_ids, isrc, meta_source FROM tracks WHERE track_id = ?",
                             (ids[0],)).fetchone()
    assert tuple(row) == (180000, json.dumps([sid("art")]), f"IS{ids[0][:6]}", "reccobeats")
    assert store.scalar("SELECT count(*) FROM enrich_misses WHERE what = 'reccobeats_track'") == 22
    assert store.scalar("SELECT name FROM artists WHERE artist_id = ?", (sid("art"),)) == "A"
    again = enrich.fill_metadata_reccobeats(store, order, rb)
    assert again.todo == 0 and len(responses.calls) == 2  # hits filled, misses remembered: nothing asked


@responses.activate
def test_reccobeats_features_unknown_ids_stored_unavailable_once(store):
    ids = [sid("f1"), sid("f2"), sid("f3")]
    add_plays(store, [(t, t, 1, "trackdone", 1000) for t in ids])
    body = {"content": [{"id": "u1", "href": f"https://open.spotify.com/track/{ids[1]}", "isrc": "ISRC1",
                         "danceability": 0.7, "energy": 0.5, "key": -1, "loudness": -5, "mode": 0,
                         "speechiness": 0.1, "acousticness": 0.2, "instrumentalness": 0.0, "liveness": 0.3,
                         "valence": 0.4, "tempo": 120.0}]}
    responses.add(responses.GET, f"{RB}/audio-features", json=body)
    rb = ReccoBeatsClient(base_url=RB, sleep=lambda s: None)
    step = enrich.fetch_features_reccobeats(store, ids, rb)
    assert (step.done, step.found) == (3, 1)
    rows = {r[0]: tuple(r[1:]) for r in store.conn.execute(
        "SELECT track_id, available, danceability, key, time_signature FROM audio_features")}
    assert rows == {ids[0]: (0, None, None, None), ids[1]: (1, 0.7, None, None), ids[2]: (0, None, None, None)}
    assert store.scalar("SELECT isrc FROM tracks WHERE track_id = ?", (ids[1],)) == "ISRC1"
    assert enrich.fetch_features_reccobeats(store, ids, rb).todo == 0 and len(responses.calls) == 1


def test_trackdone_plays_give_durations_without_calls(store):
    add_plays(store, [(sid("done"), "a", 2, "trackdone", 210000), (sid("done"), "a", 1, "fwdbtn", 5000),
                      (sid("skip"), "b", 3, "fwdbtn", 9000)])
    assert enrich.fill_durations_from_plays(store) == 1
    durations = dict(store.conn.execute("SELECT track_id, duration_ms FROM tracks"))
    assert durations == {sid("done"): 210000, sid("skip"): None}


# ------------------------------------------------------------------------------------------------ MusicBrainz
@responses.activate
def test_musicbrainz_genres_through_isrc(store):
    with store.transaction() as conn:
        conn.execute("INSERT INTO tracks(track_id, name, artist_ids, isrc) VALUES (?, 'S', ?, 'USRC1')",
                     (sid("t1"), json.dumps([sid("beatles")])))
        conn.execute("INSERT INTO tracks(track_id, name, artist_ids, isrc) VALUES (?, 'S2', ?, NULL)",
                     (sid("t2"), json.dumps([sid("nobody")])))
        conn.execute("INSERT INTO artists(artist_id, name, genres, genres_source) VALUES (?, 'The Beatles', "
                     "'[\"british invasion\"]', 'spotify')", (sid("beatles"),))
        conn.execute("INSERT INTO artists(artist_id, name) VALUES (?, 'Nobody')", (sid("nobody"),))
    responses.add(responses.GET, f"{MB}/isrc/USRC1", json={"recordings": [{"id": "r1", "artist-credit": [
        {"name": "Beatles", "artist": {"id": "mb-beatles", "name": "The Beatles"}}]}]})
    responses.add(responses.GET, f"{MB}/artist/mb-beatles", json={"id": "mb-beatles", "genres": [
        {"name": "Rock", "count": 9}, {"name": "pop", "count": 3}], "tags": [{"name": "liverpool", "count": 1}]})
    mb = MusicBrainzClient(base_url=MB, sleep=lambda s: None)
    step = enrich.fetch_genres(store, [sid("beatles"), sid("nobody")], musicbrainz=mb, source="musicbrainz")
    assert (step.done, step.found) == (2, 1)
    assert [urlsplit(c.request.url).path for c in responses.calls] == ["/ws/2/isrc/USRC1", "/ws/2/artist/mb-beatles"]
    rows = dict(store.conn.execute("SELECT artist_id, genres || ' ' || genres_source FROM artists"))
    assert rows == {sid("beatles"): '["rock", "pop"] musicbrainz', sid("nobody"): "[] musicbrainz"}
    table = describe_tracks(store, [sid("t1"), sid("t2")], genres_source="musicbrainz")
    assert table["genres"].tolist() == [["rock", "pop"], None]
    assert enrich.fetch_genres(store, [sid("beatles")], musicbrainz=mb, source="musicbrainz").todo == 0


# ------------------------------------------------------------------------------------------------ track table
def test_track_table_canonical_columns_one_source_and_missing_as_missing(store):
    with store.transaction() as conn:
        conn.execute("INSERT INTO tracks(track_id, name, artist_names, artist_ids, duration_ms, release_date, "
                     "explicit) VALUES (?, 'One', '[\"A\", \"B\"]', ?, 1000, '2001', 1)",
                     (sid("one"), json.dumps([sid("a"), sid("b")])))
        conn.execute("INSERT INTO tracks(track_id, name, artist_names, artist_ids) VALUES (?, 'Two', '[\"C\"]', ?)",
                     (sid("two"), json.dumps([sid("c")])))
        conn.execute("INSERT INTO artists(artist_id, genres) VALUES (?, '[\"rock\"]'), (?, '[\"rock\", \"pop\"]'), "
                     "(?, '[]')", (sid("a"), sid("b"), sid("c")))
        for source, dance in (("reccobeats", 0.5), ("csv:mine.csv", 0.9)):
            conn.execute("INSERT INTO audio_features(track_id, source, available, danceability, key, fetched_at) "
                         "VALUES (?, ?, 1, ?, 3, 'now')", (sid("one"), source, dance))
    t = describe_tracks(store, [sid("two"), sid("one"), sid("unknown")])
    assert list(t.columns) == [*TRACK_COLUMNS, "source"]
    assert t["track_id"].tolist() == [sid("two"), sid("one"), sid("unknown")]  # order kept, unknown ids kept
    one = t.iloc[1]
    assert one["artist_names"] == ["A", "B"] and one["genres"] == ["rock", "pop"] and one["explicit"] == 1.0
    assert one["danceability"] == 0.5 and one["source"] == "reccobeats"  # default source
    assert t.iloc[0]["genres"] is None and np.isnan(t.iloc[0]["danceability"])  # "[]" genres = unknown
    assert np.isnan(t.iloc[2]["duration_ms"]) and t.iloc[2]["artist_ids"] == []
    store.set_kv(enrich.KV_FEATURES_SOURCE, "csv:mine.csv")
    assert describe_tracks(store, [sid("one")])["danceability"].tolist() == [0.9]


def test_features_csv_is_validated(store, tmp_path):
    bad = tmp_path / "f.csv"
    bad.write_text("spotify,energy\nx,1\n")
    with pytest.raises(BadInput, match="track_id"):
        enrich.load_features_csv(store, bad)
    with pytest.raises(BadInput, match="not found"):
        enrich.load_features_csv(store, tmp_path / "missing.csv")
    good = tmp_path / "g.csv"
    good.write_text("track_id,energy,mode,time_signature\nt1,0.5,1,4\nt2,,0,3\n")
    step = enrich.load_features_csv(store, good, ids=["t2", "t9"])
    assert (step.todo, step.found) == (2, 1)
    assert [tuple(r) for r in store.conn.execute(
        "SELECT track_id, source, energy, mode, time_signature FROM audio_features")] == [("t2", "csv:g.csv", None,
                                                                                           0, 3)]


# ------------------------------------------------------------------------------------------------ candidate pool
@pytest.fixture
def standin(tmp_path, monkeypatch):
    state = StandInState()
    for i in range(4):
        artist = {"id": sid(f"art{i}"), "name": f"Artist {i}", "genres": [f"genre {i}"]}
        state.add_track({"id": sid(f"cand{i}"), "name": f"Cand {i}", "duration_ms": 1000 + i,
                         "album": {"id": sid(f"alb{i}"), "name": "A", "release_date": "2020-01-01"}}, [artist],
                        features={"danceability": 0.1 * i, "energy": 0.5, "key": i, "tempo": 99.0})
    server = StandInServer(state).start()
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "cid")
    monkeypatch.delenv("SPOTIPY_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("SPOTIFY_MODEL_TOKEN_CACHE", str(tmp_path / "token.json"))
    (tmp_path / "token.json").write_text(json.dumps(server.issue_token(SCOPES)))
    yield server, state, Home(tmp_path)
    server.stop()


def test_enrich_tracks_only_touches_the_given_pool(store, standin):
    server, state, home = standin
    with store.transaction() as conn:
        for i in range(4):  # candidates as the pool stores them: search results with artist ids
            tracks.upsert_tracks(conn, [track_from_spotify({"id": sid(f"cand{i}"), "name": f"Cand {i}", "artists": [
                {"id": sid(f"art{i}"), "name": f"Artist {i}"}], "duration_ms": 1000})], "catalog")
    spotify = SpotifyClient.from_env(home, recorder=store, sleep=lambda s: None)
    rb = ReccoBeatsClient(sleep=lambda s: None, recorder=store)
    pool = [sid("cand2"), sid("cand0")]
    report = enrich.enrich_tracks(store, pool, spotify, rb)
    assert report.exit_code == 0 and report.stopped is None
    features = [c for c in server.calls if c.path.endswith("audio-features")]
    assert len(features) == 1 and features[0].query["ids"] == f"{pool[0]},{pool[1]}"
    assert sorted(c.path for c in server.calls_in("artists")) == [f"/v1/artists/{sid('art0')}",
                                                                   f"/v1/artists/{sid('art2')}"]
    assert server.calls_in("search") == [] and server.calls_in("me") == []  # no top artists for a pool
    table = describe_tracks(store, pool)
    assert table["genres"].tolist() == [["genre 2"], ["genre 0"]]
    assert table["danceability"].tolist() == pytest.approx([0.2, 0.0])
    assert report.calls_this_run == {"artists": 2, "reccobeats": 1}


def test_quota_in_one_group_does_not_stop_other_groups(store, standin):
    server, state, home = standin
    with store.transaction() as conn:
        for i in range(4):
            tracks.upsert_tracks(conn, [track_from_spotify({"id": sid(f"cand{i}"), "name": f"Cand {i}", "artists": [
                {"id": sid(f"art{i}"), "name": f"Artist {i}"}]})], "catalog")
    state.quotas = {"artists": 1}
    spotify = SpotifyClient.from_env(home, recorder=store, sleep=lambda s: None)
    report = enrich.enrich_tracks(store, [sid(f"cand{i}") for i in range(4)], spotify,
                                  ReccoBeatsClient(sleep=lambda s: None))
    assert report.stopped == "quota" and report.exit_code == 75 and report.retry_after == state.quota_retry_after
    assert report.exhausted_groups == {"artists"}
    genres_step = next(s for s in report.steps if s.name.startswith("genres"))
    assert (genres_step.done, genres_step.stopped) == (1, "quota")
    assert store.scalar("SELECT count(*) FROM audio_features WHERE available = 1") == 4  # ReccoBeats still ran


def test_spotify_features_source_stops_after_first_403(store, standin):
    server, state, home = standin
    spotify = SpotifyClient.from_env(home, sleep=lambda s: None)
    step = enrich.fetch_features_spotify(store, [sid("cand0"), sid("cand1")], spotify)
    assert step.stopped == "skipped" and "refuses audio features" in step.message
    assert len(server.calls_in("audio_features")) == 1
    assert store.scalar("SELECT count(*) FROM audio_features") == 0
