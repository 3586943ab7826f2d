"""ReccoBeatsClient against mocked HTTP: batching, mapping rows back by href, retries."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import requests
import responses

from spotify_modeling.errors import QuotaExhausted, ServiceUnavailable
from spotify_modeling.sources.reccobeats import ReccoBeatsClient

BASE = "https://rb.test/v1"


def sid(i: int) -> str:
    return f"{i:022d}"


def feature_row(spotify_id: str, key: int = 5) -> dict:
    return {"id": f"uuid-{spotify_id}", "href": f"https://open.spotify.com/track/{spotify_id}",
            "isrc": f"ISRC{spotify_id[-4:]}", "acousticness": 0.1, "danceability": 0.5, "energy": 0.7,
            "instrumentalness": 0.0, "key": key, "liveness": 0.1, "loudness": -6.0, "mode": 1,
            "speechiness": 0.05, "tempo": 120.0, "valence": 0.4}


def sent_ids(call_or_request) -> list[str]:
    request = getattr(call_or_request, "request", call_or_request)
    q = urlsplit(request.url).query
    assert q.startswith("ids=")
    return q[len("ids="):].split(",")


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(sleeps, monkeypatch):
    monkeypatch.setenv("SPOTIFY_MODEL_RECCOBEATS_URL", BASE)
    return ReccoBeatsClient(sleep=sleeps.append)


@responses.activate
def test_audio_features_batches_40_and_maps_by_href(client):
    ids = [sid(i) for i in range(100)]

    def answer(request):
        asked = sent_ids(request)
        # out of order, one unknown id left out per batch, and one key of -1
        rows = [feature_row(i, key=-1 if i == sid(7) else 5) for i in reversed(asked) if i not in (sid(3), sid(45))]
        return 200, {}, json.dumps({"content": rows})

    responses.add_callback(responses.GET, BASE + "/audio-features", callback=answer)
    out = client.audio_features(ids)
    assert [len(sent_ids(c)) for c in responses.calls] == [40, 40, 20]
    assert sum((sent_ids(c) for c in responses.calls), []) == ids
    assert set(out) == set(ids) - {sid(3), sid(45)}
    assert out[sid(10)]["isrc"] == "ISRC0010" and out[sid(10)]["reccobeats_id"] == f"uuid-{sid(10)}"
    assert out[sid(7)]["key"] is None and out[sid(8)]["key"] == 5
    assert client.calls_made == 3


@responses.activate
def test_tracks_parse_artist_ids_from_hrefs(client):
    responses.get(BASE + "/track", json={"content": [
        {"id": "u2", "trackTitle": "B", "durationMs": 2000, "isrc": "I2", "href": f"https://open.spotify.com/track/{sid(2)}",
         "artists": [{"id": "ra", "name": "Art", "href": "https://open.spotify.com/artist/ART1"}], "popularity": 3},
        {"id": "u9", "trackTitle": "stranger", "href": "https://open.spotify.com/track/NOTASKED", "artists": []},
    ]})
    out = client.tracks([sid(1), sid(2), sid(2)])
    assert sent_ids(responses.calls[0]) == [sid(1), sid(2)]
    assert out == {sid(2): {"name": "B", "duration_ms": 2000, "isrc": "I2",
                            "artists": [{"id": "ART1", "name": "Art"}]}}


@responses.activate
def test_recommendations_sends_at_most_5_seeds_and_size_100(client):
    responses.get(BASE + "/track/recommendation", json={"content": [
        {"id": "u", "trackTitle": "R", "durationMs": 1, "isrc": "X", "href": "https://open.spotify.com/track/REC1",
         "artists": [{"name": "A", "href": "https://open.spotify.com/artist/A1"}]},
        {"id": "v", "trackTitle": "no href"},
    ]})
    recs = client.recommendations([sid(i) for i in range(8)], size=500)
    q = urlsplit(responses.calls[0].request.url).query
    assert q == "seeds=" + ",".join(sid(i) for i in range(5)) + "&size=100"
    assert recs == [{"track_id": "REC1", "name": "R", "artists": [{"id": "A1", "name": "A"}], "duration_ms": 1,
                     "isrc": "X"}]
    assert client.recommendations([]) == [] and len(responses.calls) == 1


@responses.activate
def test_short_429_waited_then_success(client, sleeps):
    responses.get(BASE + "/audio-features", status=429, headers={"Retry-After": "2"})
    responses.get(BASE + "/audio-features", json={"content": [feature_row(sid(1))]})
    assert list(client.audio_features([sid(1)])) == [sid(1)]
    assert sleeps == [2.0] and len(responses.calls) == 2


@responses.activate
def test_long_429_raises_quota_without_sleep(client, sleeps):
    responses.get(BASE + "/audio-features", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(QuotaExhausted) as info:
        client.audio_features([sid(1)])
    assert info.value.retry_after == 3600 and info.value.group == "reccobeats" and sleeps == []


@responses.activate
def test_5xx_and_timeouts_retried_then_service_unavailable(client, sleeps):
    responses.get(BASE + "/track", status=502)
    responses.get(BASE + "/track", body=requests.exceptions.ConnectTimeout("t"))
    responses.get(BASE + "/track", status=503)
    responses.get(BASE + "/track", status=500)
    with pytest.raises(ServiceUnavailable):
        client.tracks([sid(1)])
    assert len(responses.calls) == 4 and sleeps == [1.0, 2.0, 4.0]


@responses.activate
def test_timeout_then_success(client, sleeps):
    responses.get(BASE + "/track", body=requests.exceptions.ReadTimeout("t"))
    responses.get(BASE + "/track", json={"content": []})
    assert client.tracks([sid(1)]) == {}
    assert sleeps == [1.0]


@responses.activate
def test_a_200_that_is_not_json_is_retried_then_service_unavailable(client, sleeps):
    # a proxy's HTML page or a cut-off body with HTTP 200: retried like a 502, never a crash (exit 1)
    responses.get(BASE + "/audio-features", body="<html>Bad gateway</html>", status=200)
    responses.get(BASE + "/audio-features", body='{"content": [', status=200)
    responses.get(BASE + "/audio-features", json={"content": [feature_row(sid(1))]})
    assert list(client.audio_features([sid(1)])) == [sid(1)]
    assert len(responses.calls) == 3 and sleeps == [1.0, 2.0]
    responses.replace(responses.GET, BASE + "/audio-features", body="<html>down</html>", status=200)
    with pytest.raises(ServiceUnavailable, match="not JSON"):
        client.audio_features([sid(2)])


def test_against_standin_maps_covered_ids_and_batches():
    mod = pytest.importorskip("spotify_modeling.sandbox.standin")
    state = mod.StandInState()
    ids = []
    for i in range(45):
        tid = f"rb{i:020d}"
        state.add_track({"id": tid, "name": f"T{i}", "duration_ms": 1000 + i, "external_ids": {"isrc": f"ISRC{i:08d}"},
                         "album": {"id": "al" + "0" * 20, "name": "A", "release_date": "2001"}},
                        [{"id": f"ar{i % 2:020d}", "name": f"Ar{i % 2}", "genres": []}],
                        features=None if i % 5 == 0 else {k: 0.5 for k in
                                                          ("acousticness", "danceability", "energy",
                                                           "instrumentalness", "liveness", "loudness", "mode",
                                                           "speechiness", "tempo", "valence")} | {"key": -1})
        ids.append(tid)
    with mod.StandInServer(state) as server:
        sleeps = []
        state.burst_429["reccobeats"] = 1
        client = ReccoBeatsClient(server.reccobeats_url, sleep=sleeps.append)
        feats = client.audio_features(ids + ["unknown0000000000000000"])
        assert set(feats) == {t for i, t in enumerate(ids) if i % 5}
        assert feats[ids[1]]["key"] is None and feats[ids[1]]["isrc"] == "ISRC00000001"
        assert [len(c.query["ids"].split(",")) for c in server.calls] == [40, 40, 6]  # 429, retry, rest
        assert sleeps == [1.0]
        facts = client.tracks(ids[1:3])
        assert facts[ids[1]] == {"name": "T1", "duration_ms": 1001, "isrc": "ISRC00000001",
                                 "artists": [{"id": f"ar{1:020d}", "name": "Ar1"}]}
        recs = client.recommendations(ids[1:8], size=5)
        assert len(recs) == 5 and not {r["track_id"] for r in recs} & set(ids[1:6])
        assert server.calls[-1].query == {"seeds": ",".join(ids[1:6]), "size": "5"}
