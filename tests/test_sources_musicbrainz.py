"""MusicBrainzClient against mocked HTTP: pacing, User-Agent, parsing, 503 backoff."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import responses

from spotify_modeling import __version__
from spotify_modeling.errors import ServiceUnavailable
from spotify_modeling.sources.musicbrainz import MusicBrainzClient

BASE = "https://mb.test/ws/2"


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client(clock, monkeypatch):
    monkeypatch.setenv("SPOTIFY_MODEL_MUSICBRAINZ_URL", BASE)
    return MusicBrainzClient(sleep=clock.sleep, clock=clock)


ISRC_BODY = {"isrc": "USRC17607839", "recordings": [
    {"id": "r1", "title": "Song", "artist-credit": [
        {"name": "A", "artist": {"id": "mb-a", "name": "A"}},
        {"name": "B feat", "artist": {"id": "mb-b", "name": "B"}}]},
    {"id": "r2", "title": "Song (live)", "artist-credit": [{"name": "A", "artist": {"id": "mb-a", "name": "A"}}]},
]}


@responses.activate
def test_artists_for_isrc_sends_user_agent_and_inc(client):
    responses.get(BASE + "/isrc/USRC17607839", json=ISRC_BODY)
    assert client.artists_for_isrc("usrc17607839") == [{"mbid": "mb-a", "name": "A"}, {"mbid": "mb-b", "name": "B"}]
    req = responses.calls[0].request
    assert urlsplit(req.url).query == "inc=artists&fmt=json"
    assert req.headers["User-Agent"] == f"spotify-model/{__version__} ( https://github.com/ )"


@responses.activate
def test_artist_genres_keeps_genres_and_frequent_tags(client):
    responses.get(BASE + "/artist/mb-a", json={"id": "mb-a", "name": "A",
        "genres": [{"name": "Synth-Pop", "count": 2}, {"name": "New Wave", "count": 5}],
        "tags": [{"name": "british", "count": 4}, {"name": "seen live", "count": 1}, {"name": "new wave", "count": 3},
                 {"name": "80s", "count": 3}]})
    assert client.artist_genres("mb-a") == ["new wave", "synth-pop", "british", "80s"]
    assert urlsplit(responses.calls[0].request.url).query == "inc=genres+tags&fmt=json"


@responses.activate
def test_unknown_items_are_empty(client):
    responses.get(BASE + "/isrc/NOPE", status=404, json={"error": "Not Found"})
    responses.get(BASE + "/artist/none", status=404, json={"error": "Not Found"})
    assert client.artists_for_isrc("NOPE") == []
    assert client.artist_genres("none") == []


@responses.activate
def test_at_most_one_request_per_second(client, clock):
    responses.get(BASE + "/artist/x", json={"genres": [], "tags": []})
    client.artist_genres("x")          # first request: no wait
    clock.now += 0.3                   # the caller spent 0.3 s elsewhere
    client.artist_genres("x")          # must wait the remaining 0.7 s
    clock.now += 2.0
    client.artist_genres("x")          # more than a second passed: no wait
    assert clock.sleeps == [0.7]
    assert len(responses.calls) == 3


@responses.activate
def test_503_backs_off_and_retries_then_gives_up(client, clock):
    responses.get(BASE + "/artist/x", status=503)
    responses.get(BASE + "/artist/x", json={"genres": [{"name": "Jazz", "count": 1}], "tags": []})
    assert client.artist_genres("x") == ["jazz"]
    assert clock.sleeps == [2.0]  # backoff; the 1 s pacing is already covered by it
    responses.reset()
    responses.get(BASE + "/artist/y", status=503)
    clock.sleeps.clear()
    with pytest.raises(ServiceUnavailable):
        client.artist_genres("y")
    assert len(responses.calls) == 4
    assert clock.sleeps[0] == 1.0 and clock.sleeps[1:] == [2.0, 4.0, 8.0]
