"""Typed records at the boundary (issue 24, point 2): each client parses its payloads once into `core.records`, the
record-returning methods send exactly the requests of the dict-returning ones, and `from_api` tolerates the shapes
the documented answers leave out (missing or null fields, null list entries)."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from spotify_modeling.core.records import (ArtistRecord, AudioFeatures, CreditedArtist, PlaylistItem,
                                           PlaylistRecord, TrackRecord)
from spotify_modeling.home import Home
from spotify_modeling.sources.auth import SCOPES, make_auth_manager
from spotify_modeling.sources.musicbrainz import MusicBrainzClient
from spotify_modeling.sources.reccobeats import ReccoBeatsClient
from spotify_modeling.sources.spotify import SpotifyClient

API = "https://api.test/v1/"
RB = "https://reccobeats.test/v1"
MB = "https://mb.test/ws/2"


@pytest.fixture
def client(tmp_path, monkeypatch):
    cache = tmp_path / "token.json"
    cache.write_text(json.dumps({"access_token": "AT-1", "token_type": "Bearer", "expires_in": 3600,
                                 "scope": SCOPES, "expires_at": int(time.time()) + 3600, "refresh_token": "RT-1"}))
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "cid")
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "csecret")
    monkeypatch.setenv("SPOTIFY_MODEL_API_URL", API)
    monkeypatch.setenv("SPOTIFY_MODEL_ACCOUNTS_URL", "https://accounts.test")
    monkeypatch.setenv("SPOTIFY_MODEL_TOKEN_CACHE", str(cache))
    return SpotifyClient(make_auth_manager(Home(tmp_path), open_browser=False), sleep=lambda s: None)


def sent() -> list[tuple[str, str, dict]]:
    return [(c.request.method, urlsplit(c.request.url).path, parse_qs(urlsplit(c.request.url).query))
            for c in responses.calls]


FULL = {"id": "t1", "name": "Song", "type": "track", "uri": "spotify:track:t1", "duration_ms": 201000,
        "explicit": False, "is_playable": True, "external_ids": {"isrc": "USX1"},
        "album": {"name": "Album", "release_date": "1999-05-01"},
        "artists": [{"id": "a1", "name": "Band"}, None, {"id": "a2", "name": "Guest"}]}


def test_track_record_from_api_tolerates_missing_and_null_fields():
    r = TrackRecord.from_api(FULL)
    assert (r.id, r.name, r.album_name, r.duration_ms, r.release_date, r.explicit, r.isrc, r.is_playable) == (
        "t1", "Song", "Album", 201000, "1999-05-01", False, "USX1", True)
    assert r.artist_ids == ["a1", "a2"] and r.first_artist == "Band" and r.is_track
    bare = TrackRecord.from_api({"id": "t2", "album": None, "artists": None, "external_ids": None})
    assert bare == TrackRecord("t2") and bare.first_artist is None and bare.artist_ids is None
    assert TrackRecord.from_api(None) is None and TrackRecord.from_api({"name": "no id"}) is None
    assert TrackRecord.from_api({"id": "old"}, "relinked").id == "relinked"
    assert not TrackRecord.from_api({"id": "e", "type": "episode"}).is_track
    assert not TrackRecord.from_api({"id": "l", "is_local": True}).is_track


def test_playlist_item_and_playlist_record_from_api():
    item = PlaylistItem.from_api({"added_at": "2026-01-01T00:00:00Z", "item": FULL})
    assert (item.kind, item.id, item.uri, item.name, item.first_artist, item.album_name) == (
        "track", "t1", "spotify:track:t1", "Song", "Band", "Album")
    assert item.track == TrackRecord.from_api(FULL)
    old = PlaylistItem.from_api({"track": {"id": "o", "type": "track"}, "item": None})   # the older shape
    assert (old.kind, old.id) == ("track", "o")
    local = PlaylistItem.from_api({"is_local": True, "item": {"id": None, "name": "Demo", "uri": "spotify:local:x"}})
    assert (local.kind, local.id, local.name, local.track) == ("local", None, "Demo", None)
    assert PlaylistItem.from_api(None).kind == "missing"
    assert PlaylistItem.from_api({"item": {"id": "ep", "type": "episode"}}).kind == "episode"
    pl = PlaylistRecord.from_api({"id": "P", "name": "data_1", "owner": None, "snapshot_id": "s"})
    assert pl == PlaylistRecord("P", "data_1", None, "s") and PlaylistRecord.from_api(None) is None


def test_artist_and_features_records_from_api():
    assert ArtistRecord.from_api({"id": "a", "name": "A", "genres": ["x"]}) == ArtistRecord("a", "A", ("x",))
    assert ArtistRecord.from_api({"id": "a", "genres": None}).genres is None   # no list: genres unknown
    assert ArtistRecord.from_api({}) is None and ArtistRecord.from_api(None) is None
    feats = AudioFeatures.from_api({"id": "t", "danceability": 0.5, "key": -1, "time_signature": 4})
    assert feats.values["danceability"] == 0.5 and feats.values["key"] == -1 and feats.values["energy"] is None
    assert AudioFeatures.from_api({}) is None
    assert CreditedArtist.from_api({"name": "Credited", "artist": {"id": "m", "name": None}}) == CreditedArtist(
        "m", "Credited")
    assert CreditedArtist.from_api({"name": "x", "artist": None}) is None


@responses.activate
def test_spotify_record_methods_send_the_same_requests_as_the_dict_ones(client):
    responses.get(API + "search", json={"tracks": {"items": [FULL, None, {"name": "no id"}], "total": 7}})
    responses.get(API + "tracks/t1", json=FULL)
    responses.get(API + "artists/a1", json={"id": "a1", "name": "Band", "genres": ["rock"]})
    responses.get(API + "me/top/artists", json={"items": [{"id": "a1", "genres": ["rock"]}], "total": 1})
    responses.get(API + "me/playlists", json={"items": [{"id": "P", "name": "Mine", "owner": {"id": "u"}}],
                                              "total": 1})
    responses.get(API + "playlists/P/items", json={"items": [{"added_at": "x", "item": FULL}], "total": 1})
    responses.get(API + "me/tracks", json={"items": [{"added_at": "x", "track": FULL}, {"track": None}],
                                           "total": 2})
    responses.get(API + "me", json={"id": "u"})
    for dicts, records in [(lambda: client.search_tracks("q", offset=20), lambda: client.search_track_records(
                                "q", offset=20)),
                           (lambda: client.track("t1"), lambda: client.track_record("t1")),
                           (lambda: client.artist("a1"), lambda: client.artist_record("a1")),
                           (lambda: client.top_artists("short_term"), lambda: client.top_artist_records("short_term")),
                           (client.my_playlists, client.my_playlist_records),
                           (lambda: client.playlist_items("P"), lambda: client.playlist_item_records("P")),
                           (lambda: client.saved_tracks(limit=5), lambda: client.saved_track_records(limit=5)),
                           (client.me, client.user_id)]:
        responses.calls.reset()
        dicts()
        asked = sent()
        responses.calls.reset()
        records()
        assert sent() == asked
    items, total = client.search_track_records("q")
    assert [r.id for r in items] == ["t1"] and total == 7
    assert client.track_record("t1") == TrackRecord.from_api(FULL)
    assert client.artist_record("a1") == ArtistRecord("a1", "Band", ("rock",))
    assert client.my_playlist_records() == [PlaylistRecord("P", "Mine", "u")]
    assert [(i.kind, i.id) for i in client.playlist_item_records("P")] == [("track", "t1")]
    assert [r.id for r in client.saved_track_records()] == ["t1"]
    assert client.user_id() == "u"


@responses.activate
def test_reccobeats_and_musicbrainz_records_match_their_dicts():
    rb = ReccoBeatsClient(base_url=RB, sleep=lambda s: None)
    row = {"id": "rb1", "href": "https://open.spotify.com/track/t1", "trackTitle": "Song", "durationMs": 201000,
           "isrc": "USX1", "artists": [{"name": "Band", "href": "https://open.spotify.com/artist/a1"}]}
    responses.get(f"{RB}/track", json={"content": [row]})
    responses.get(f"{RB}/track/recommendation", json={"content": [row]})
    responses.get(f"{RB}/audio-features", json={"content": [{**row, "danceability": 0.5, "key": -1}]})
    assert rb.track_records(["t1"]) == {"t1": TrackRecord.from_reccobeats("t1", rb.tracks(["t1"])["t1"])}
    [rec] = rb.recommendation_records(["t1"], size=5)
    assert (rec.id, rec.name, rec.artist_ids, rec.duration_ms, rec.isrc) == ("t1", "Song", ["a1"], 201000, "USX1")
    feats = rb.audio_feature_records(["t1"])["t1"]
    assert feats.as_stored() == rb.audio_features(["t1"])["t1"]
    assert feats.values["key"] is None and feats.isrc == "USX1" and feats.reccobeats_id == "rb1"
    mb = MusicBrainzClient(base_url=MB, sleep=lambda s: None)
    responses.get(f"{MB}/isrc/USX1", json={"recordings": [{"artist-credit": [
        {"name": "Band", "artist": {"id": "m1", "name": "The Band"}}, {"name": "x", "artist": {"id": "m1"}},
        {"name": "Guest", "artist": {"id": "m2"}}]}]})
    assert mb.artist_records_for_isrc("usx1") == [CreditedArtist("m1", "The Band"), CreditedArtist("m2", "Guest")]
    assert mb.artists_for_isrc("USX1") == [{"mbid": "m1", "name": "The Band"}, {"mbid": "m2", "name": "Guest"}]
