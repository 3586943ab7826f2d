"""Tool playlists found by name among the user's own, created once; labels follow moves, copies and removals."""

import pytest

from spotify_modeling.pipeline.playlists import find_tool_playlists, read_tool_playlist, sync_labels
from spotify_modeling.sources import SpotifyClient
from spotify_modeling.sandbox.standin import StandInServer, StandInState
from spotify_modeling.db.store import Store


def _track(i):
    tid = f"T{i:021d}"
    aid = f"A{i:021d}"
    return ({"id": tid, "name": f"Song {i}", "uri": f"spotify:track:{tid}", "type": "track", "duration_ms": 200000,
             "explicit": False, "is_local": False, "artists": [{"id": aid, "name": f"Artist {i}",
                                                                "uri": f"spotify:artist:{aid}", "type": "artist"}],
             "album": {"id": f"L{i:021d}", "name": "Album", "release_date": "2001", "release_date_precision": "year",
                       "album_type": "album", "artists": []}, "external_ids": {"isrc": f"X{i}"},
             "disc_number": 1, "track_number": 1},
            [{"id": aid, "name": f"Artist {i}", "uri": f"spotify:artist:{aid}", "type": "artist", "genres": []}])


@pytest.fixture
def world(tmp_path, monkeypatch):
    state = StandInState()
    for i in range(10):
        t, a = _track(i)
        state.add_track(t, a)
    # a followed playlist of someone else, with the very name the tool uses
    state.create_playlist("data_1", owner_id="someone_else", public=True, items=[_track(9)[0]["uri"]])
    with StandInServer(state) as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        from spotify_modeling.sources.auth import SCOPES

        class Auth:  # a fixed valid token from the server, through the real spotipy stack
            def __init__(self):
                self.token = server.issue_token(SCOPES)

            def get_access_token(self, as_dict=False, check_cache=True):
                return self.token if as_dict else self.token["access_token"]

        store = Store(tmp_path / "s.db")
        client = SpotifyClient(Auth(), recorder=store, sleep=lambda s: None)
        yield state, server, store, client


def test_playlists_created_once_then_found_by_name_ignoring_followed(world):
    state, server, store, client = world
    pls = find_tool_playlists(client, store)
    assert {p.name for p in pls.values()} == {"data_candidates", "data_1", "data_0"}
    assert all(p.created for p in pls.values())
    uid = state.user["id"]
    for p in pls.values():
        assert state.playlists[p.id]["owner"]["id"] == uid and state.playlists[p.id]["public"] is False
    posts = [c for c in server.calls if c.method == "POST" and c.path.endswith("/me/playlists")]
    assert len(posts) == 3 and all(c.json["public"] is False for c in posts)
    again = find_tool_playlists(client, store)
    assert {r: p.id for r, p in again.items()} == {r: p.id for r, p in pls.items()}
    assert not any(p.created for p in again.values())
    assert len([c for c in server.calls if c.method == "POST"]) == 3
    assert len([c for c in server.calls if c.path.endswith("/me")]) == 2  # asked each run: the login may change


def test_unchanged_snapshot_is_not_read_again(world):
    state, server, store, client = world
    pls = find_tool_playlists(client, store)
    like = pls["like"]
    state.add_items(like.id, [_track(1)[0]["uri"]])
    pls = find_tool_playlists(client, store)
    read_tool_playlist(client, store, pls["like"])
    assert pls["like"].track_ids == [_track(1)[0]["id"]] and pls["like"].reread
    reads = len([c for c in server.calls if c.path.endswith(f"/playlists/{like.id}/items")])
    pls = find_tool_playlists(client, store)
    read_tool_playlist(client, store, pls["like"])
    assert pls["like"].track_ids == [_track(1)[0]["id"]] and not pls["like"].reread
    assert len([c for c in server.calls if c.path.endswith(f"/playlists/{like.id}/items")]) == reads


def test_labels_follow_moves_copies_and_removals(tmp_path):
    store = Store(tmp_path / "s.db")
    r = sync_labels(store, ["a", "b"], ["c"])
    assert (r.new_likes, r.new_dislikes) == (2, 1)
    first_seen = store.scalar("SELECT first_seen FROM labels WHERE track_id = 'b'")
    r = sync_labels(store, ["a"], ["c", "b"])           # b moved to dislike
    assert r.changed == 1 and store.scalar("SELECT label FROM labels WHERE track_id = 'b'") == 0
    assert store.scalar("SELECT first_seen FROM labels WHERE track_id = 'b'") == first_seen
    r = sync_labels(store, ["a", "c"], ["c"])           # c in both: reported, not guessed; b removed from both
    assert r.conflicts == ["c"] and store.scalar("SELECT label FROM labels WHERE track_id = 'c'") is None
    assert r.removed == 1 and store.scalar("SELECT count(*) FROM labels WHERE track_id = 'b'") == 0
    r = sync_labels(store, ["a"], [])                   # c removed from both: its label goes too
    assert r.removed == 1 and store.scalar("SELECT count(*) FROM labels") == 1


def test_labels_are_stored_and_read_in_one_order_whatever_the_set_order(tmp_path):
    """The label model's fit follows row order: labels must come back the same in every process (a `--seed` run
    is reproducible only then; set iteration order changes between processes)."""
    from spotify_modeling.db.pushes_and_labels import labelled_tracks

    orders = []
    for k, likes in enumerate((["c", "a", "b"], ["b", "c", "a"])):
        store = Store(tmp_path / f"s{k}.db")
        sync_labels(store, likes, ["z", "y"])
        orders.append(list(labelled_tracks(store)["track_id"]))
        store.close()
    assert orders[0] == orders[1] == ["a", "b", "c", "y", "z"]
