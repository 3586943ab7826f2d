"""DeezerClient against mocked HTTP: the query it sends, sequential pacing, errors inside 200 bodies (code 4 waited
out and asked again, code 800 as missing, other codes refused), outages retried by the shared policy, and the
ReccoBeats-by-ISRC half of the route."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from spotify_modeling.errors import QuotaExhausted, ServiceUnavailable
from spotify_modeling.sources import ReccoBeatsClient
from spotify_modeling.sources.deezer import DeezerClient, DeezerTrack, deezer_url_from_env
from spotify_modeling.sources.errors import ApiError, NotFound

BASE = "https://deezer.test"
RB = "https://rb.test/v1"


class Clock:
    """A fake monotonic clock that `sleep` advances: pacing is checked without waiting."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Recorder:
    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def record_call(self, group: str, status: int) -> None:
        self.calls.append((group, status))


def search_row(i: int, title="I Need A Dollar", artist="Aloe Blacc", seconds=244) -> dict:
    return {"id": 3000 + i, "readable": True, "title": title, "title_short": title, "title_version": "",
            "link": f"https://www.deezer.com/track/{3000 + i}", "duration": seconds, "rank": 900000 - i,
            "explicit_lyrics": False, "explicit_content_lyrics": 0, "preview": "https://cdn/x.mp3",
            "artist": {"id": 77, "name": artist, "type": "artist"}, "album": {"id": 55, "title": "Good Things",
                                                                              "type": "album"}, "type": "track"}


def full_track(i: int, **extra) -> dict:
    return {**search_row(i), "isrc": "usuv71000123", "release_date": "2010-09-24", "bpm": 95.2, "gain": -9.1,
            "explicit_lyrics": True,
            "contributors": [{"id": 77, "name": "Aloe Blacc", "role": "Main"},
                             {"id": 78, "name": "Guest One", "role": "Featured"}], **extra}


QUOTA = {"error": {"type": "Exception", "message": "Quota limit exceeded", "code": 4}}
NO_DATA = {"error": {"type": "DataException", "message": "no data", "code": 800}}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(clock):
    return DeezerClient(BASE, sleep=clock.sleep, clock=clock)


def sent_q(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


@responses.activate
def test_search_sends_the_advanced_query_and_returns_typed_tracks(client):
    responses.get(f"{BASE}/search", json={"data": [search_row(0), search_row(1, "I Need A Dollar (Live)")],
                                          "total": 2})
    found = client.search("Aloe Blacc", "I Need A Dollar - Remastered 2011 (feat. Someone)")
    assert sent_q(responses.calls[0]) == {"q": 'artist:"Aloe Blacc" track:"I Need A Dollar"', "limit": "10"}
    assert [t.id for t in found] == [3000, 3001] and all(isinstance(t, DeezerTrack) for t in found)
    first = found[0]
    assert (first.title, first.artist, first.album, first.duration_ms, first.explicit) == (
        "I Need A Dollar", "Aloe Blacc", "Good Things", 244_000, False)
    assert first.isrc is None and first.release_date is None  # search rows carry neither
    # quotes in a name never break the query; live/remix markers are kept for the strict match later
    client.search('Say "Hi"', "Song - Live at Wembley")
    assert sent_q(responses.calls[1])["q"] == 'artist:"Say  Hi" track:"Song live"'


@responses.activate
def test_track_has_isrc_date_explicit_contributors_and_unknowns_as_none(client):
    responses.get(f"{BASE}/track/3000", json=full_track(0))
    responses.get(f"{BASE}/track/3001", json=full_track(1, release_date="0000-00-00", bpm=0))
    t = client.track(3000)
    assert (t.isrc, t.release_date, t.explicit, t.duration_ms, t.bpm) == ("USUV71000123", "2010-09-24", True,
                                                                           244_000, 95.2)
    assert t.contributors == ("Aloe Blacc", "Guest One")
    unknown = client.track(3001)
    assert unknown.release_date is None and unknown.bpm is None   # "0000-00-00" and bpm 0 mean unknown
    assert DeezerTrack.from_stored(t.to_stored()) == t            # what the store keeps round-trips
    record = t.track_record("S" * 22, name="I Need a Dollar", artist="Aloe Blacc")
    assert (record.id, record.name, record.isrc, record.release_date, record.explicit) == (
        "S" * 22, "I Need a Dollar", "USUV71000123", "2010-09-24", True)
    assert record.artist_ids is None and record.duration_ms is None   # Deezer's ids are not Spotify's


@responses.activate
def test_code_800_is_missing_not_an_error(client):
    responses.get(f"{BASE}/track/9", json=NO_DATA)
    responses.get(f"{BASE}/track/isrc:XX0000000000", json=NO_DATA)
    responses.get(f"{BASE}/search", json=NO_DATA)
    assert client.track(9) is None
    assert client.track_by_isrc("xx0000000000") is None
    assert client.search("Nobody", "Nothing") == []
    assert len(responses.calls) == 3          # asked once each: "no data" is an answer, not a failure
    assert urlsplit(responses.calls[1].request.url).path == "/track/isrc:XX0000000000"


@responses.activate
def test_code_4_is_waited_out_and_asked_again(clock):
    recorder = Recorder()
    client = DeezerClient(BASE, sleep=clock.sleep, clock=clock, recorder=recorder)
    responses.get(f"{BASE}/track/3000", json=QUOTA)
    responses.get(f"{BASE}/track/3000", json=full_track(0))
    assert client.track(3000).isrc == "USUV71000123"
    assert len(responses.calls) == 2 and clock.sleeps == [5.0]
    assert recorder.calls == [("deezer", 429), ("deezer", 200)]   # the error body is counted as what it stands for


@responses.activate
def test_code_4_that_does_not_lift_stops_with_a_quota_error_after_bounded_waits(client, clock):
    responses.get(f"{BASE}/search", json=QUOTA)
    with pytest.raises(QuotaExhausted, match="Deezer is rate-limiting") as err:
        client.search("Aloe Blacc", "I Need A Dollar")
    assert err.value.group == "deezer"
    assert len(responses.calls) == 4 and clock.sleeps == [5.0, 5.0, 5.0]


@responses.activate
def test_other_error_codes_are_refusals_and_outages_are_retried(client, clock):
    responses.get(f"{BASE}/search", json={"error": {"type": "ParameterException", "message": "Wrong parameter",
                                                    "code": 501}})
    with pytest.raises(ApiError, match="code 501") as err:
        client.search("A", "B")
    assert not isinstance(err.value, NotFound) and len(responses.calls) == 1
    responses.get(f"{BASE}/track/1", status=503)
    with pytest.raises(ServiceUnavailable, match="Deezer answered 503"):
        client.track(1)
    assert len(responses.calls) == 1 + 4 and clock.sleeps == [1.0, 2.0, 4.0]   # the shared backoff
    responses.get(f"{BASE}/track/2", json={"error": {"type": "Exception", "message": "Service busy", "code": 700}})
    responses.get(f"{BASE}/track/2", json=full_track(2))
    assert client.track(2).id == 3002                     # busy (700) is retried like a 503


@responses.activate
def test_calls_are_sequential_and_paced_to_50_in_5_seconds(client, clock):
    sent_at: list[float] = []

    def answer(request):
        sent_at.append(clock.now)
        return 200, {}, json.dumps({"data": [], "total": 0})

    responses.add_callback(responses.GET, f"{BASE}/search", callback=answer)
    for i in range(120):
        client.search("Artist", f"Song {i}")
    assert len(sent_at) == 120
    assert sent_at[:50] == [1000.0] * 50                 # a burst of 50 goes out at once ...
    assert sent_at[50] >= 1000.0 + 5.0                   # ... the 51st waits for the window (padded a little)
    worst = max(sum(1 for t in sent_at if start <= t < start + 5.0) for start in sent_at)
    assert worst <= 50
    assert sent_at == sorted(sent_at) and clock.sleeps   # one after another, and it really waited


def test_base_url_from_the_environment_and_off(monkeypatch):
    monkeypatch.setenv("SPOTIFY_MODEL_DEEZER_URL", "http://127.0.0.1:1/deezer/")
    assert DeezerClient().base_url == "http://127.0.0.1:1/deezer"
    monkeypatch.setenv("SPOTIFY_MODEL_DEEZER_URL", "off")
    assert deezer_url_from_env() is None
    monkeypatch.delenv("SPOTIFY_MODEL_DEEZER_URL")
    assert DeezerClient().base_url == "https://api.deezer.com"


@responses.activate
def test_reccobeats_by_isrc_maps_rows_by_isrc_40_a_call():  # ReccoBeatsClient.by_isrc
    isrcs = [f"USAAA{i:07d}" for i in range(45)]

    def answer(request):
        asked = parse_qs(urlsplit(request.url).query)["ids"][0].split(",")
        rows = [{"id": f"rb-{i}", "href": f"https://open.spotify.com/track/{'S' * 18}{i[-4:]}", "isrc": i,
                 "danceability": 0.5, "energy": 0.6, "key": -1 if i.endswith("1") else 3, "tempo": 101.0}
                for i in reversed(asked) if not i.endswith("7")]          # out of order, some unknown
        rows.append({"id": "rb-x", "href": "https://open.spotify.com/track/" + "X" * 22, "isrc": "NOTASKED0001"})
        return 200, {}, json.dumps({"content": rows})

    responses.add_callback(responses.GET, f"{RB}/audio-features", callback=answer)
    got = ReccoBeatsClient(RB, sleep=lambda s: None).by_isrc([i.lower() for i in isrcs] + isrcs[:2])
    asked = [parse_qs(urlsplit(c.request.url).query)["ids"][0].split(",") for c in responses.calls]
    assert [len(a) for a in asked] == [40, 5] and sum(asked, []) == isrcs   # upper case, each once, in order
    assert set(got) == {i for i in isrcs if not i.endswith("7")}
    assert got["USAAA0000012"].track_id == "S" * 18 + "0012"
    assert got["USAAA0000011"].features["key"] is None and got["USAAA0000012"].features["key"] == 3


def test_deezer_uses_the_shared_retry_policy_not_a_copy():
    """The one retry/backoff policy lives in sources/_http.py: deezer.py sends no request and sleeps for no retry
    itself (its only sleep is the pacing wait)."""
    source = Path(__file__).resolve().parents[1] / "spotify_modeling" / "sources" / "deezer.py"
    tree = ast.parse(source.read_text())
    sends = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr in ("get", "request", "send") and isinstance(n.func.value, ast.Attribute)
             and n.func.value.attr == "session"]
    assert sends == []
    named = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "get_json" in named
    sleepers = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                for n in ast.walk(f) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                and n.func.attr == "sleep"}
    assert sleepers == {"_wait_for_slot"}
