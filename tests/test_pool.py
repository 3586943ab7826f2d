"""The candidate pool: random search under the 2026 limits, and every exclusion."""

import json

import numpy as np
import pytest

from spotify_modeling.core.normalize import name_key
from spotify_modeling.pipeline.pool import (choose_taste_genre, pool_track_ids, random_query, random_sample_ids,
                                   taste_genres, top_up_pool)
from spotify_modeling.sources import SpotifyClient
from spotify_modeling.sandbox.standin import StandInServer, StandInState
from spotify_modeling.db.store import Store


def track(i, name=None, artist=None, year=1995, local=False):
    tid = f"T{i:021d}"
    aid = f"A{i % 7:021d}"
    return ({"id": tid, "name": name or f"Song {i}", "uri": f"spotify:track:{tid}", "type": "track",
             "duration_ms": 200000, "explicit": False, "is_local": local,
             "artists": [{"id": aid, "name": artist or f"Band {i % 7}", "uri": f"spotify:artist:{aid}",
                          "type": "artist"}],
             "album": {"id": f"L{i:021d}", "name": "Album", "release_date": str(year),
                       "release_date_precision": "year", "album_type": "album", "artists": []},
             "external_ids": {"isrc": f"X{i}"}, "disc_number": 1, "track_number": 1},
            [{"id": aid, "name": artist or f"Band {i % 7}", "uri": f"spotify:artist:{aid}", "type": "artist",
              "genres": []}])


@pytest.fixture
def setup(tmp_path):
    state = StandInState()
    for i in range(200):
        t, a = track(i, year=1950 + (i * 7) % 77)
        state.add_track(t, a)
    with StandInServer(state) as server:
        from spotify_modeling.sources.auth import SCOPES

        class Auth:
            token = server.issue_token(SCOPES)

            def get_access_token(self, as_dict=False, check_cache=True):
                return self.token if as_dict else self.token["access_token"]

        store = Store(tmp_path / "s.db")
        yield state, server, store, SpotifyClient(Auth(), api_url=server.api_url, recorder=store)


def test_random_queries_vary_text_decade_and_offset():
    rng = np.random.default_rng(0)
    first = [random_query(rng, {}) for _ in range(50)]
    assert all(off == 0 for _, off in first)               # unknown total: ask the first page
    assert len({q for q, _ in first}) > 30 and all("year:" in q for q, _ in first)
    totals = {q: 5000 for q, _ in first}
    draws = [random_query(rng, totals) for _ in range(300)]
    deep = [off for q, off in draws if q in totals]
    assert max(off for _, off in draws) <= 1000            # Spotify's offset cap
    assert len(deep) > 20 and np.median(deep) > 200        # later visits of a query go deep into its results
    small = [random_query(rng, {q: 25 for q, _ in first}) for _ in range(100)]
    assert all(off <= 16 for q, off in small if q in totals)  # never past a small query's total


def test_top_up_respects_limits_and_never_repeats_a_search(setup):
    state, server, store, client = setup
    out = top_up_pool(client, store, max_calls=15, rng=np.random.default_rng(1), per_page=3)
    searches = [c for c in server.calls if c.group == "search"]
    assert out.calls == len(searches) == 15
    assert all(int(c.query["limit"]) <= 10 and c.query.get("market") == "from_token" for c in searches)
    assert all(c.status == 200 for c in searches)
    assert out.added == store.scalar("SELECT count(*) FROM candidates") > 0
    # metadata came with the search results: no per-track call was needed
    assert not [c for c in server.calls if c.group == "tracks"]
    top_up_pool(client, store, max_calls=15, rng=np.random.default_rng(1), per_page=3)
    asked = [(c.query["q"], c.query["offset"]) for c in server.calls if c.group == "search"]
    assert len(asked) == len(set(asked))


def test_exclusions(setup):
    state, server, store, client = setup
    top_up_pool(client, store, max_calls=40, rng=np.random.default_rng(2), per_page=10)
    pool = pool_track_ids(store)
    assert len(pool) >= 6
    played, saved, labelled, pushed, same_song = pool[:5]
    conn = store.conn
    conn.execute("INSERT INTO imported_files(file_id, sha256, path, size, kind, rows, imported_at) "
                 "VALUES (1, 'f', 'x', 1, 'extended', 0, 'now')")
    conn.execute("INSERT INTO plays(source, ts, ms_played, track_id, name_key, file_id) "
                 "VALUES ('extended', '2024-01-01T00:00:00Z', 1000, ?, 'k', 1)", (played,))
    conn.execute("INSERT INTO saved_tracks(position, track_id, name_key, origin) VALUES (0, ?, 'k2', 'export')",
                 (saved,))
    conn.execute("INSERT INTO labels(track_id, label, first_seen, updated_at) VALUES (?, 1, 'now', 'now')", (labelled,))
    conn.execute("INSERT INTO runs(run_id, command, started_at) VALUES (1, 'candidates', 'now')")
    conn.execute("INSERT INTO pushes(track_id, run_id, batch, slice, rank, pushed_at) VALUES (?, 1, 1, 'exploit', 1, 'now')",
                 (pushed,))
    # the same song under another id: the user played it with another track id
    row = conn.execute("SELECT name, artist_names FROM tracks WHERE track_id = ?", (same_song,)).fetchone()
    conn.execute("INSERT INTO plays(source, ts, ms_played, track_id, name_key, file_id) "
                 "VALUES ('extended', '2024-01-02T00:00:00Z', 1000, 'OTHERID', ?, 1)",
                 (name_key(json.loads(row[1])[0], row[0] + " - Remastered 2011"),))
    left = set(pool_track_ids(store))
    assert not left & {played, saved, labelled, pushed, same_song}
    assert set(pool[5:]) <= left


def test_taste_genres_rank_your_genres_by_share_of_played_tracks():
    played = [["indie rock", "shoegaze"], ["indie rock"], ["trap"], None, [], ["indie rock"]]
    menu = taste_genres(played, top=2)
    assert menu == {"indie rock": 0.75, "shoegaze": 0.25}   # 4 tracks with genres; ties broken by name
    rng = np.random.default_rng(0)
    draws = [choose_taste_genre(rng, taste_genres(played)) for _ in range(2000)]
    share = {g: draws.count(g) / len(draws) for g in ("indie rock", "shoegaze", "trap")}
    # ~ sqrt(share): 0.866 : 0.5 : 0.5 -> main genre most often, niche ones still asked
    assert share["indie rock"] == pytest.approx(0.464, abs=0.04)
    assert share["shoegaze"] == pytest.approx(0.268, abs=0.04) and share["trap"] == pytest.approx(0.268, abs=0.04)


def test_genre_searches_fill_their_share_of_the_pool_with_your_genres(setup):
    state, server, store, client = setup
    shoegaze = {f"A{k:021d}" for k in range(4)}           # artists A0-A3 (~115 tracks, 12 pages) play shoegaze
    for aid in shoegaze:
        state.artists[aid]["genres"] = ["shoegaze"]
    state.invalidate()
    out = top_up_pool(client, store, max_calls=20, rng=np.random.default_rng(3), per_page=5,
                      genres={"shoegaze": 1.0}, genre_share=0.5)
    searches = [c.query["q"] for c in server.calls if c.group == "search"]
    assert out.calls == len(searches) == 20
    genre_qs = [q for q in searches if q.startswith('genre:"shoegaze"')]
    assert len(genre_qs) == 10                                     # exactly the share asked for
    rows = store.conn.execute("SELECT c.source, t.artist_ids FROM candidates c JOIN tracks t USING (track_id)").fetchall()
    by_source = {}
    for source, artists in rows:
        by_source.setdefault(source, []).append(json.loads(artists)[0])
    assert by_source["genre"] and all(a in shoegaze for a in by_source["genre"])      # only shoegaze artists
    assert by_source["search"]                                     # the random share is still there, tagged apart
    # only the random share counts as "a random catalog track" (affinity negatives, control slice)
    sample = random_sample_ids(store)
    genre_ids = {r[0] for r in store.conn.execute("SELECT track_id FROM candidates WHERE source = 'genre'")}
    assert len(sample) == len(by_source["search"]) and not set(sample) & genre_ids


def test_used_up_and_empty_genres_hand_their_searches_to_random_ones(setup):
    state, server, store, client = setup                 # 200 tracks, no artist has a genre
    state.artists[f"A{0:021d}"]["genres"] = ["shoegaze"]  # ~29 tracks: 3 pages of 10
    state.invalidate()
    menu = {"shoegaze": 0.5, "no such genre": 0.5}
    for run in range(3):
        out = top_up_pool(client, store, max_calls=20, rng=np.random.default_rng(run), per_page=5,
                          genres=menu, genre_share=0.5)
        assert out.calls == 20                            # the top-up never stalls on a dead genre
    asked = [(c.query["q"], int(c.query["offset"])) for c in server.calls if c.group == "search"]
    assert len(asked) == len(set(asked))                  # no page asked twice
    dead = [o for q, o in asked if q == 'genre:"no such genre"']
    assert dead == [0]                                    # total 0: asked once, then off the menu
    pages = sorted(o for q, o in asked if q == 'genre:"shoegaze"')
    assert pages and all(o % 10 == 0 for o in pages)      # whole pages only
    assert len(asked) == 60 and sum(q.startswith("genre:") for q, _ in asked) < 30
