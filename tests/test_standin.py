"""The stand-in server behaves like the 2026 Spotify Web API / accounts service / ReccoBeats (external-apis.md)."""

from __future__ import annotations

import base64
import hashlib
import pickle
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import spotipy

from spotify_modeling.sandbox.standin import (ALL_SCOPES, NOT_REGISTERED_MESSAGE, PREMIUM_MESSAGE, STANDIN_CODE,
                                      StandInServer, StandInState, _base62_id, endpoint_group, recco_id)

N_TRACKS = 60


def tid(i: int) -> str:
    return _base62_id(f"track-{i}")


def aid(i: int) -> str:
    return _base62_id(f"artist-{i}")


def make_state() -> StandInState:
    """60 tracks by 6 artists; track i has popularity i; tracks >= 50 have no ReccoBeats features."""
    state = StandInState()
    genres = [["indie rock", "dream pop"], ["hip hop"], [], ["jazz"], ["classical"], ["electronic"]]
    names = ["Björk Band", "MC Flow", "Nobody", "Blue Notes", "Orchestra", "Synth Kid"]
    for i in range(N_TRACKS):
        a = i % 6
        artist = {"id": aid(a), "name": names[a], "genres": genres[a]}
        track = {"id": tid(i), "name": f"Song {i} {'Café' if i % 10 == 0 else 'Night'}", "duration_ms": 180_000 + i,
                 "explicit": False, "disc_number": 1, "track_number": 1 + i % 5,
                 "album": {"id": _base62_id(f"album-{i // 5}"), "name": f"Album {i // 5}",
                           "release_date": f"{1980 + i // 2}-01-01", "release_date_precision": "day",
                           "album_type": "album"},
                 "external_ids": {"isrc": f"USX{i:09d}"}}
        features = None
        if i < 50:
            features = {"acousticness": (i % 7) / 7, "danceability": (i % 5) / 5, "energy": i / 60, "key": -1 if i == 3 else i % 12,
                        "instrumentalness": 0.1, "liveness": 0.2, "loudness": -5.0 - i % 4, "mode": i % 2,
                        "speechiness": 0.05, "tempo": 90.0 + i, "valence": 0.5, "time_signature": 4}
        state.add_track(track, [artist], features=features, popularity=float(i))
    return state


@pytest.fixture
def server():
    with StandInServer(make_state()) as srv:
        yield srv


@pytest.fixture
def api(server):
    """A requests session authorised on the stand-in, with `get/post/...` on paths relative to the API base."""
    token = server.issue_token(ALL_SCOPES)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"

    class Api:
        def __call__(self, method: str, path: str, **kw) -> requests.Response:
            return session.request(method, server.api_url + path, timeout=5, **kw)

    return Api()


def err(resp: requests.Response) -> dict:
    return resp.json()["error"]


# ---- search ---------------------------------------------------------------------------------------------------

def test_search_limits_offsets_and_popularity_order(server, api):
    r = api("GET", "search", params={"q": "song", "type": "track"})
    assert r.status_code == 200
    page = r.json()["tracks"]
    assert page["limit"] == 5 and page["offset"] == 0 and page["total"] == N_TRACKS
    assert [t["id"] for t in page["items"]] == [tid(i) for i in (59, 58, 57, 56, 55)]
    assert "popularity" not in page["items"][0] and page["items"][0]["album"]["name"] == "Album 11"
    assert page["previous"] is None
    nxt = parse_qs(urlsplit(page["next"]).query)
    assert nxt["offset"] == ["5"] and nxt["q"] == ["song"] and page["next"].startswith(server.api_url + "search")

    r = api("GET", "search", params={"q": "song", "type": "track", "limit": 10, "offset": 55})
    assert [t["id"] for t in r.json()["tracks"]["items"]] == [tid(i) for i in (4, 3, 2, 1, 0)]
    assert r.json()["tracks"]["next"] is None

    for bad in ({"limit": 11}, {"limit": 0}, {"offset": 1001}, {"limit": "x"}):
        r = api("GET", "search", params={"q": "song", "type": "track", **bad})
        assert r.status_code == 400, bad
        assert err(r)["status"] == 400
    assert err(api("GET", "search", params={"q": "song", "type": "track", "limit": 11}))["message"] == "Invalid limit"
    assert api("GET", "search", params={"q": "song", "type": "track", "offset": 1000}).status_code == 200
    assert api("GET", "search", params={"q": "song", "type": "artist"}).status_code == 400
    assert api("GET", "search", params={"q": "", "type": "track"}).status_code == 400


def ids_for(api, q: str) -> list[str]:
    r = api("GET", "search", params={"q": q, "type": "track", "limit": 10})
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["tracks"]["items"]]


def test_search_filters_and_free_text(api):
    assert ids_for(api, 'year:1980') == [tid(1), tid(0)]
    assert ids_for(api, 'year:1980-1981') == [tid(i) for i in (3, 2, 1, 0)]
    assert ids_for(api, 'genre:"dream pop" year:1980-1985') == [tid(6), tid(0)]
    assert ids_for(api, 'genre:rock year:1980-1985') == [tid(6), tid(0)]   # "rock" word of "indie rock"
    assert ids_for(api, 'artist:"bjork band" year:1980-1985') == [tid(6), tid(0)]   # accent-insensitive
    assert ids_for(api, 'artist:bjork cafe') == [tid(i) for i in (30, 0)]     # free text matches the track name
    assert ids_for(api, 'track:"song 12"') == [tid(12)]
    assert ids_for(api, 'album:"album 3"') == [tid(i) for i in (19, 18, 17, 16, 15)]
    assert ids_for(api, 'isrc:USX000000007') == [tid(7)]
    assert ids_for(api, 'blue notes night year:1981') == [tid(3)]   # every free word must match somewhere
    assert ids_for(api, 'zzz') == []
    assert ids_for(api, 'genre:jazz')[:2] == [tid(57), tid(51)]
    assert ids_for(api, '%ght%')[:1] == [tid(59)]   # wildcard: substring of "Night"


# ---- refused and removed endpoints ---------------------------------------------------------------------------

def test_batch_reads_audio_features_and_removed_endpoints(api):
    t0, a0 = tid(0), aid(0)
    assert api("GET", f"tracks/{t0}").json()["name"] == "Song 0 Café"
    assert api("GET", f"artists/{a0}").json()["genres"] == ["indie rock", "dream pop"]
    album = api("GET", f"albums/{_base62_id('album-0')}").json()
    assert album["total_tracks"] == 5 and album["tracks"]["items"][0]["id"] == t0
    expected = {
        f"tracks?ids={t0},{tid(1)}": 403, f"artists?ids={a0}": 403, f"albums?ids={_base62_id('album-0')}": 403,
        f"audio-features?ids={t0}": 403, f"audio-features/{t0}": 403, f"audio-analysis/{t0}": 403,
        f"artists/{a0}/related-artists": 403, f"artists/{a0}/top-tracks": 404, "recommendations?seed_tracks=x": 404,
        "users/someone/playlists": 404, "browse/new-releases": 404, f"tracks/{_base62_id('nope')}": 404,
        "tracks/not-base62!": 400,
    }
    for path, status in expected.items():
        r = api("GET", path)
        assert r.status_code == status, path
        assert err(r)["status"] == status
    assert api("POST", "users/standin-user/playlists", json={"name": "x"}).status_code == 404


def test_me_saved_tracks_and_top(server, api):
    server.state.saved_tracks = [tid(3), tid(4), tid(5)]
    server.state.top_artists = [aid(1), aid(0)]
    server.state.top_tracks = [tid(9)]
    me = api("GET", "me").json()
    assert me["id"] == "standin-user" and me["type"] == "user" and me["uri"] == "spotify:user:standin-user"
    assert not {"country", "email", "product", "followers"} & set(me)
    saved = api("GET", "me/tracks", params={"limit": 2}).json()
    assert saved["total"] == 3 and [r["track"]["id"] for r in saved["items"]] == [tid(3), tid(4)]
    assert saved["items"][0]["added_at"].endswith("Z")
    assert api("GET", "me/tracks", params={"limit": 51}).status_code == 400
    top = api("GET", "me/top/artists", params={"time_range": "long_term"}).json()
    assert [a["id"] for a in top["items"]] == [aid(1), aid(0)] and top["items"][0]["genres"] == ["hip hop"]
    assert [t["id"] for t in api("GET", "me/top/tracks").json()["items"]] == [tid(9)]
    assert api("GET", "me/top/artists", params={"time_range": "forever"}).status_code == 400


# ---- playlists -----------------------------------------------------------------------------------------------

def test_playlist_rows_with_nulls_locals_episodes_and_legacy_key(server, api):
    st = server.state
    st.episodes["ep1" + "A" * 19] = {"id": "ep1" + "A" * 19, "name": "Pod", "type": "episode", "duration_ms": 1}
    pid = st.create_playlist("mixed", items=[f"spotify:track:{tid(1)}", "spotify:local:Me:Demos:My+Song:200",
                                             f"spotify:episode:ep1{'A' * 19}"])
    st.playlists[pid]["items"].insert(1, {"added_at": "2024-01-01T00:00:00Z", "is_local": False, "item": None})
    page = api("GET", f"playlists/{pid}/items").json()
    assert page["total"] == 4
    rows = page["items"]
    assert rows[0]["item"]["id"] == tid(1) and rows[0]["is_local"] is False
    assert rows[1]["item"] is None
    assert rows[2]["is_local"] is True and rows[2]["item"]["id"] is None
    assert rows[2]["item"]["uri"] == "spotify:local:Me:Demos:My+Song:200" and rows[2]["item"]["name"] == "My Song"
    assert rows[3]["item"]["type"] == "episode"
    assert all("track" not in r for r in rows)
    assert api("GET", f"playlists/{pid}/items", params={"limit": 51}).status_code == 400
    second = api("GET", f"playlists/{pid}/items", params={"limit": 3, "offset": 3}).json()
    assert len(second["items"]) == 1 and second["next"] is None and second["previous"] is not None

    st.legacy_track_key = True
    rows = api("GET", f"playlists/{pid}/items").json()["items"]
    assert rows[0]["track"]["id"] == tid(1) and all("item" not in r for r in rows)
    assert api("GET", f"playlists/{pid}/tracks").status_code == 404   # the old name is gone


def test_me_playlists_lists_followed_but_their_items_are_forbidden(server, api):
    st = server.state
    own = st.create_playlist("data_1")
    other = st.create_playlist("data_1", owner_id="someone-else", public=True, items=[f"spotify:track:{tid(2)}"])
    collab = st.create_playlist("shared", owner_id="friend", collaborative=True, items=[f"spotify:track:{tid(3)}"])
    listing = api("GET", "me/playlists", params={"limit": 50}).json()
    assert [p["id"] for p in listing["items"]] == [own, other, collab]
    followed = listing["items"][1]
    assert followed["owner"]["id"] == "someone-else" and followed["items"]["total"] == 1
    assert set(followed) >= {"id", "name", "owner", "public", "collaborative", "snapshot_id", "items"}
    assert api("GET", "me/playlists", params={"limit": 51}).status_code == 400
    assert api("GET", f"playlists/{other}/items").status_code == 403
    assert api("GET", f"playlists/{other}").status_code == 403
    assert api("POST", f"playlists/{other}/items", json={"uris": [f"spotify:track:{tid(1)}"]}).status_code == 403
    assert st.playlist_uris(other) == [f"spotify:track:{tid(2)}"]
    assert api("GET", f"playlists/{collab}/items").json()["items"][0]["item"]["id"] == tid(3)
    assert api("GET", f"playlists/{_base62_id('missing')}/items").status_code == 404


def test_create_add_bare_list_and_uris_delete_and_snapshots(server, api):
    st = server.state
    r = api("POST", "me/playlists", json={"name": "data_candidates", "public": False, "description": "d"})
    assert r.status_code == 201
    pid, snap0 = r.json()["id"], r.json()["snapshot_id"]
    assert r.json()["owner"]["id"] == "standin-user" and r.json()["public"] is False
    assert st.find_playlists("data_candidates")[0]["id"] == pid
    u = [f"spotify:track:{tid(i)}" for i in range(4)]

    r1 = api("POST", f"playlists/{pid}/items", json=u[:2])              # bare list, as spotipy sends
    assert r1.status_code == 201 and r1.json()["snapshot_id"] != snap0
    r2 = api("POST", f"playlists/{pid}/items", json={"uris": [u[2], u[0]]})  # {"uris"}; duplicates allowed
    assert r2.status_code == 201 and r2.json()["snapshot_id"] != r1.json()["snapshot_id"]
    assert st.playlist_uris(pid) == [u[0], u[1], u[2], u[0]]

    assert api("POST", f"playlists/{pid}/items", json={"uris": [u[0]] * 101}).status_code == 400
    assert api("POST", f"playlists/{pid}/items", json={"uris": [f"spotify:track:{_base62_id('nope')}"]}).status_code == 400
    assert api("POST", f"playlists/{pid}/items", data="{not json").status_code == 400
    assert api("POST", f"playlists/{pid}/tracks", json=u[:1]).status_code == 404
    assert st.playlist_uris(pid) == [u[0], u[1], u[2], u[0]]

    r3 = api("DELETE", f"playlists/{pid}/items", json={"items": [{"uri": u[0]}]})
    assert r3.status_code == 200 and r3.json()["snapshot_id"] != r2.json()["snapshot_id"]
    assert st.playlist_uris(pid) == [u[1], u[2]]                   # all occurrences removed
    api("DELETE", f"playlists/{pid}/items", json={"tracks": [{"uri": u[2]}]})
    assert st.playlist_uris(pid) == [u[1]]
    assert api("GET", f"playlists/{pid}").json()["snapshot_id"] == st.playlists[pid]["snapshot_id"]
    assert api("POST", "me/playlists", json={"public": False}).status_code == 400


def test_python_helpers_move_and_reset(server):
    st = server.state
    cand = st.create_playlist("data_candidates", items=[tid(1), tid(2), tid(3)])
    liked = st.create_playlist("data_1")
    st.move_items(cand, liked, [f"spotify:track:{tid(2)}", f"spotify:track:{tid(9)}"])
    assert st.playlist_uris(cand) == [f"spotify:track:{tid(1)}", f"spotify:track:{tid(3)}"]
    assert st.playlist_uris(liked) == [f"spotify:track:{tid(2)}"]
    st.usage["search"] = 5
    st.reset_day()
    assert st.usage == {}
    clone = pickle.loads(pickle.dumps(st))
    assert clone.playlist_uris(liked) == st.playlist_uris(liked)


def test_scopes_are_enforced(server):
    token = server.issue_token("user-library-read")
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(server.api_url + "me/tracks", headers=headers, timeout=5).status_code == 200
    r = requests.post(server.api_url + "me/playlists", json={"name": "x"}, headers=headers, timeout=5)
    assert r.status_code == 403 and r.json()["error"]["message"] == "Insufficient client scope"


# ---- quotas, bursts, failures, account refusals ----------------------------------------------------------------

def test_daily_quota_per_group_then_reset(server, api):
    st = server.state
    st.quotas = {"search": 3}
    statuses = [api("GET", "search", params={"q": "song", "type": "track", "limit": 11 if i == 0 else 1}).status_code
                for i in range(4)]
    assert statuses == [400, 200, 200, 429]           # the refused 400 counted too
    r = api("GET", "search", params={"q": "song", "type": "track"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "61389"
    assert err(r) == {"status": 429, "message": "API rate limit exceeded", "reason": "QUOTA_EXCEEDED"}
    assert api("GET", f"tracks/{tid(0)}").status_code == 200   # other groups unaffected
    assert st.usage["search"] == 5 and st.usage["tracks"] == 1
    st.reset_day()
    assert api("GET", "search", params={"q": "song", "type": "track"}).status_code == 200


def test_bursts_503_premium_and_allow_list(server, api):
    st = server.state
    st.burst_429 = {"artists": 2}
    st.burst_retry_after = 2
    st.fail_5xx = {"tracks": 1}
    first, second, third = (api("GET", f"artists/{aid(0)}") for _ in range(3))
    assert first.status_code == second.status_code == 429 and first.headers["Retry-After"] == "2"
    assert "reason" not in err(first) and third.status_code == 200
    r = api("GET", f"tracks/{tid(0)}")
    assert r.status_code == 503 and "Retry-After" not in r.headers and err(r)["status"] == 503
    assert api("GET", f"tracks/{tid(0)}").status_code == 200

    st.premium_required = True
    r = api("GET", "me")
    assert r.status_code == 403 and err(r)["message"] == PREMIUM_MESSAGE
    st.premium_required, st.user_not_registered = False, True
    r = api("GET", "me/playlists")
    assert r.status_code == 403 and err(r)["message"] == NOT_REGISTERED_MESSAGE
    rb = requests.get(server.reccobeats_url + "/audio-features", params={"ids": tid(0)}, timeout=5)
    assert rb.status_code == 200   # ReccoBeats does not care about Spotify accounts


# ---- auth ------------------------------------------------------------------------------------------------------

def test_401_without_unknown_and_expired_tokens(server):
    url = server.api_url + "me"
    r = requests.get(url, timeout=5)
    assert r.status_code == 401 and r.json()["error"]["status"] == 401
    assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
    expired = server.issue_token(ALL_SCOPES, expires_in=0)
    r = requests.get(url, headers={"Authorization": f"Bearer {expired['access_token']}"}, timeout=5)
    assert r.status_code == 401 and r.json()["error"]["message"] == "The access token expired"
    fresh = server.issue_token(ALL_SCOPES)
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    server.expire_access_tokens()
    assert requests.get(url, headers=headers, timeout=5).json()["error"]["message"] == "The access token expired"
    assert server.state.usage.get("me") == 1   # 401s are not counted


def test_token_endpoint_code_refresh_revoked(server):
    token_url = server.accounts_url + "/api/token"
    basic = {"Authorization": "Basic " + base64.b64encode(b"cid:secret").decode()}
    r = requests.post(token_url, data={"grant_type": "authorization_code", "code": STANDIN_CODE,
                                       "redirect_uri": "http://127.0.0.1:8888/callback"}, headers=basic, timeout=5)
    assert r.status_code == 200
    tok = r.json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 3600 and tok["scope"] == ALL_SCOPES
    assert requests.get(server.api_url + "me", headers={"Authorization": f"Bearer {tok['access_token']}"},
                        timeout=5).status_code == 200

    r = requests.post(token_url, data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]},
                      headers=basic, timeout=5)
    assert r.status_code == 200 and r.json()["access_token"] != tok["access_token"]
    assert r.json()["refresh_token"] == tok["refresh_token"]

    server.revoke_refresh_token(tok["refresh_token"])
    r = requests.post(token_url, data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
                                       "client_id": "cid"}, timeout=5)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "Refresh token revoked"}
    r = requests.post(token_url, data={"grant_type": "authorization_code", "code": "bogus"}, headers=basic, timeout=5)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = requests.post(token_url, data={"grant_type": "authorization_code", "code": STANDIN_CODE}, timeout=5)
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"
    logged = [c.json for c in server.calls_in("token")]
    assert logged[0] == {"grant_type": "authorization_code"}                      # no codes or secrets logged
    assert all(set(body) == {"grant_type"} for body in logged)


def test_authorize_redirect_then_pkce_exchange(server):
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    redirect = "http://127.0.0.1:8888/callback"
    r = requests.get(server.accounts_url + "/authorize", allow_redirects=False, timeout=5,
                     params={"client_id": "cid", "response_type": "code", "redirect_uri": redirect,
                             "scope": "user-top-read", "state": "xyz", "code_challenge": challenge,
                             "code_challenge_method": "S256"})
    assert r.status_code == 302
    location = urlsplit(r.headers["Location"])
    params = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect and params["state"] == ["xyz"]
    form = {"grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": redirect,
            "client_id": "cid"}
    bad = requests.post(server.accounts_url + "/api/token", data={**form, "code_verifier": "wrong"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    code2 = server.issue_auth_code("user-top-read", redirect, challenge)
    good = requests.post(server.accounts_url + "/api/token", data={**form, "code": code2, "code_verifier": verifier},
                         timeout=5)
    assert good.status_code == 200 and good.json()["scope"] == "user-top-read"


# ---- ReccoBeats --------------------------------------------------------------------------------------------------

def test_reccobeats_features_truncates_to_40_and_leaves_out_unknown(server):
    ids = [tid(i) for i in range(45)] + [tid(55)]
    r = requests.get(server.reccobeats_url + "/audio-features", params={"ids": ",".join(ids)}, timeout=5)
    assert r.status_code == 200
    rows = r.json()["content"]
    assert [row["href"].rsplit("/", 1)[1] for row in rows] == [tid(i) for i in range(40)]
    assert rows[0]["id"] == recco_id(tid(0)) and rows[0]["isrc"] == "USX000000000"
    assert "time_signature" not in rows[0] and "duration_ms" not in rows[0] and rows[3]["key"] == -1
    mixed = ",".join([tid(55), "unknownid", tid(7), "USX000000008"])   # uncovered, unknown, spotify id, ISRC
    rows = requests.get(server.reccobeats_url + "/audio-features", params={"ids": mixed}, timeout=5).json()["content"]
    assert [row["href"] for row in rows] == [f"https://open.spotify.com/track/{tid(i)}" for i in (7, 8)]
    assert requests.get(server.reccobeats_url + "/audio-features", timeout=5).status_code == 400


def test_reccobeats_track_and_recommendation(server):
    r = requests.get(server.reccobeats_url + "/track", params={"ids": f"{tid(5)},{tid(55)}"}, timeout=5).json()
    assert len(r["content"]) == 1
    row = r["content"][0]
    assert row["trackTitle"] == "Song 5 Night" and row["durationMs"] == 180_005 and row["isrc"] == "USX000000005"
    assert row["artists"][0]["href"] == f"https://open.spotify.com/artist/{aid(5)}" and 0 <= row["popularity"] <= 100
    url = server.reccobeats_url + "/track/recommendation"
    recs = requests.get(url, params={"seeds": f"{tid(10)},{tid(12)}", "size": 5}, timeout=5).json()["content"]
    hrefs = [x["href"].rsplit("/", 1)[1] for x in recs]
    assert len(hrefs) == 5 and tid(10) not in hrefs and tid(12) not in hrefs
    assert not {tid(i) for i in range(50, 60)} & set(hrefs)             # only covered tracks
    again = requests.get(url, params={"seeds": f"{tid(10)},{tid(12)}", "size": 5}, timeout=5).json()["content"]
    assert recs == again
    assert requests.get(url, params={"seeds": ",".join(tid(i) for i in range(6))}, timeout=5).status_code == 400
    assert requests.get(url, params={"seeds": tid(1), "size": 101}, timeout=5).status_code == 400


def test_reccobeats_bursts(server):
    server.state.burst_429 = {"reccobeats": 1}
    r = requests.get(server.reccobeats_url + "/track", params={"ids": tid(1)}, timeout=5)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert requests.get(server.reccobeats_url + "/track", params={"ids": tid(1)}, timeout=5).status_code == 200


# ---- call log, groups, spotipy -----------------------------------------------------------------------------------

def test_call_log_records_method_path_query_body_group_status(server, api):
    pid = server.state.create_playlist("data_candidates")
    api("GET", "search", params={"q": "song", "type": "track", "limit": 2})
    api("POST", f"playlists/{pid}/items", json={"uris": [f"spotify:track:{tid(1)}"]})
    requests.get(server.api_url + "me", timeout=5)
    requests.get(server.reccobeats_url + "/audio-features", params={"ids": tid(1)}, timeout=5)
    calls = server.calls
    assert [(c.method, c.path, c.group, c.status) for c in calls] == [
        ("GET", "/v1/search", "search", 200), ("POST", f"/v1/playlists/{pid}/items", "playlists", 201),
        ("GET", "/v1/me", "me", 401), ("GET", "/reccobeats/v1/audio-features", "reccobeats", 200)]
    assert calls[0].query == {"q": "song", "type": "track", "limit": "2"} and calls[0].json is None
    assert calls[1].json == {"uris": [f"spotify:track:{tid(1)}"]}
    assert all(isinstance(c.ts, float) for c in calls)


def test_endpoint_group_mapping():
    assert endpoint_group("GET", "/v1/artists/abc") == "artists"
    assert endpoint_group("GET", "artists/abc") == "artists"
    assert endpoint_group("POST", "me/playlists") == "playlists"
    assert endpoint_group("GET", "me/top/artists") == "me"
    assert endpoint_group("GET", "/v1/audio-analysis/x") == "audio_features"
    assert endpoint_group("POST", "/accounts/api/token") == "token"


def test_real_spotipy_client_against_standin(server):
    st = server.state
    pid = st.create_playlist("data_candidates")
    token = server.issue_token(ALL_SCOPES)
    sp = spotipy.Spotify(auth=token["access_token"], requests_session=requests.Session(), retries=0)
    sp.prefix = server.api_url
    assert sp.me()["id"] == "standin-user"
    res = sp.search("year:1980-1984", limit=10, type="track")
    assert res["tracks"]["total"] == 10 and res["tracks"]["items"][0]["id"] == tid(9)
    assert res["tracks"]["next"] is None
    first = sp.search("year:1980-1984", limit=5, type="track")["tracks"]
    second = sp.next(first)["tracks"]   # spotipy follows the absolute `next` URL on the stand-in
    assert [t["id"] for t in second["items"]] == [tid(i) for i in (4, 3, 2, 1, 0)]
    sp.playlist_add_items(pid, [tid(1), tid(2), tid(1)])
    sp.playlist_remove_all_occurrences_of_items(pid, [tid(1)])
    assert st.playlist_uris(pid) == [f"spotify:track:{tid(2)}"]
    assert sp.playlist_items(pid)["items"][0]["item"]["id"] == tid(2)
    snapshot = st.playlists[pid]["snapshot_id"]
    assert sp.playlist_replace_items(pid, [tid(5), tid(6)])["snapshot_id"] != snapshot
    assert st.playlist_uris(pid) == [f"spotify:track:{tid(5)}", f"spotify:track:{tid(6)}"]
    assert sp.playlist_change_details(pid, description="weekly picks") is None   # empty 200 body
    assert st.playlists[pid]["description"] == "weekly picks"
    created = sp.current_user_playlist_create("data_1", public=False)
    assert st.playlists[created["id"]]["public"] is False
    assert sp.artist(aid(3))["genres"] == ["jazz"]
    with pytest.raises(spotipy.SpotifyException) as info:
        sp.audio_features([tid(1)])
    assert info.value.http_status == 403
    st.quotas = {"tracks": 0}
    with pytest.raises(spotipy.SpotifyException) as info:
        sp.track(tid(1))
    assert info.value.http_status == 429 and info.value.reason == "QUOTA_EXCEEDED"
    assert info.value.headers["Retry-After"] == "61389"


def test_search_total_beyond_1000_and_cache_invalidation():
    state = StandInState()
    for i in range(1100):
        state.add_track({"id": _base62_id(f"deep-{i}"), "name": f"Deep {i}", "album": {"id": "al", "name": "A"}},
                        [{"id": aid(0), "name": "X"}], popularity=float(i))
    with StandInServer(state) as srv:
        headers = {"Authorization": f"Bearer {srv.issue_token(ALL_SCOPES)['access_token']}"}

        def search(**params):
            return requests.get(srv.api_url + "search", params={"q": "deep", "type": "track", **params},
                                headers=headers, timeout=5)

        page = search(limit=10, offset=990).json()["tracks"]
        assert page["total"] == 1100 and page["next"] is not None
        last = search(limit=10, offset=1000).json()["tracks"]
        assert last["items"][0]["id"] == _base62_id("deep-99") and last["next"] is None
        assert search(limit=10, offset=1001).status_code == 400

        state.add_track({"id": _base62_id("new"), "name": "Deep New", "album": {"id": "al", "name": "A"}},
                        [{"id": aid(0), "name": "X"}], popularity=5000.0)
        assert search(limit=1).json()["tracks"]["items"][0]["id"] == _base62_id("new")
        state.popularity[_base62_id("deep-0")] = 9999.0   # edited directly: invalidate() makes it visible
        state.invalidate()
        assert search(limit=1).json()["tracks"]["items"][0]["id"] == _base62_id("deep-0")


# ---- library (Liked Songs): GET /me/library/contains, PUT / DELETE /me/library -------------------------------------

def uri(i: int) -> str:
    return f"spotify:track:{tid(i)}"


def contains(api, *uris: str) -> requests.Response:
    return api("GET", "me/library/contains", params={"uris": ",".join(uris)})


def test_library_contains_answers_booleans_in_request_order(server, api):
    st = server.state
    st.saved_tracks = [tid(3), tid(5)]
    unknown = f"spotify:track:{_base62_id('not-in-catalogue')}"
    r = contains(api, uri(5), uri(0), uri(3), unknown, uri(5))
    assert r.status_code == 200 and r.json() == [True, False, True, False, True]
    assert contains(api, uri(0)).json() == [False]
    assert contains(api, *[uri(i) for i in range(40)]).json() == [i in (3, 5) for i in range(40)]
    last = server.calls[-1]
    assert (last.method, last.path, last.group, last.status) == ("GET", "/v1/me/library/contains", "me", 200)
    assert last.query == {"uris": ",".join(uri(i) for i in range(40))}
    assert st.usage["me"] == 3
    st.quotas = {"me": 3}                     # the "me" bucket's daily quota applies to it
    r = contains(api, uri(3))
    assert r.status_code == 429 and err(r)["reason"] == "QUOTA_EXCEEDED"


def test_library_contains_refuses_41_uris_and_malformed_or_unsupported_uris(server, api):
    r = contains(api, *[uri(i) for i in range(41)])
    assert r.status_code == 400 and set(r.json()) == {"error"} and set(err(r)) == {"status", "message"}
    assert err(r)["status"] == 400 and "40" in err(r)["message"]
    bad = [tid(1),                                        # a bare id, not a URI
           "spotify:track:short",                         # not 22 characters
           f"spotify:track:{tid(1)[:-1]}!",               # not base62
           f"spotify:track:{tid(1)}x",                    # 23 characters
           f"spotify:episode:{tid(1)}",                   # unsupported kinds (the stand-in keeps tracks only)
           f"spotify:album:{_base62_id('album-0')}",
           f"spotify:artist:{aid(0)}",
           f"spotify:track:{tid(1)}:extra"]
    for u in bad:
        r = contains(api, uri(0), u)
        assert r.status_code == 400, u
        assert err(r) == {"status": 400, "message": f"Unsupported or invalid URI: {u}"}
    assert contains(api, uri(0), "").status_code == 400          # an empty entry ("a,,b" / trailing comma)
    for params in ({}, {"uris": ""}):
        r = api("GET", "me/library/contains", params=params)
        assert r.status_code == 400 and err(r)["message"] == "Missing required parameter: uris"
    assert api("PUT", "me/library", params={"uris": f"spotify:album:{_base62_id('album-0')}"}).status_code == 400
    assert api("PUT", "me/library", params={"uris": ",".join(uri(i) for i in range(41))}).status_code == 400
    assert server.state.saved_tracks == []


def test_library_scopes_are_enforced(server):
    def call(scope: str, method: str, path: str, **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {server.issue_token(scope)['access_token']}"}
        return requests.request(method, server.api_url + path, headers=headers, timeout=5, **kw)

    server.state.saved_tracks = [tid(1)]
    other = call("user-top-read", "POST", "me/playlists", json={"name": "x"})   # how other scope refusals look
    assert other.status_code == 403
    refused = call("user-top-read", "GET", "me/library/contains", params={"uris": uri(1)})
    assert refused.status_code == other.status_code == 403 and err(refused) == err(other)
    assert err(refused) == {"status": 403, "message": "Insufficient client scope"}
    ok = call("user-library-read", "GET", "me/library/contains", params={"uris": uri(1)})
    assert ok.status_code == 200 and ok.json() == [True]
    for method in ("PUT", "DELETE"):     # reading the library does not allow changing it
        r = call("user-library-read", method, "me/library", params={"uris": uri(2)})
        assert r.status_code == 403 and err(r)["message"] == "Insufficient client scope", method
    assert server.state.saved_tracks == [tid(1)]
    assert call("user-library-modify", "PUT", "me/library", params={"uris": uri(2)}).status_code == 200
    assert server.state.saved_tracks == [tid(2), tid(1)]
    assert "user-library-modify" in ALL_SCOPES.split()


def test_library_put_and_delete_change_what_contains_answers(server, api):
    st = server.state
    st.saved_tracks = [tid(9)]
    assert contains(api, uri(1), uri(2), uri(9)).json() == [False, False, True]
    r = api("PUT", "me/library", params={"uris": f"{uri(1)},{uri(2)}"})
    assert r.status_code == 200 and r.content == b""
    assert contains(api, uri(1), uri(2), uri(9)).json() == [True, True, True]
    assert st.saved_tracks == [tid(1), tid(2), tid(9)]                     # newest first, no duplicates
    assert [row["track"]["id"] for row in api("GET", "me/tracks").json()["items"]] == [tid(1), tid(2), tid(9)]
    assert api("PUT", "me/library", params={"uris": f"{uri(9)},{uri(1)}"}).status_code == 200   # already saved
    assert st.saved_tracks == [tid(1), tid(2), tid(9)]
    r = api("DELETE", "me/library", params={"uris": f"{uri(1)},{uri(4)}"})   # uri(4) is not saved: ignored
    assert r.status_code == 200 and r.content == b""
    assert contains(api, uri(1), uri(2), uri(9)).json() == [False, True, True]
    assert st.saved_tracks == [tid(2), tid(9)]
    unknown = f"spotify:track:{_base62_id('not-in-catalogue')}"
    r = api("PUT", "me/library", params={"uris": f"{uri(3)},{unknown}"})
    assert r.status_code == 400 and err(r) == {"status": 400, "message": "Payload contains a non-existing ID"}
    assert st.saved_tracks == [tid(2), tid(9)]                             # nothing of a refused PUT applied
    assert api("GET", "me/library").status_code == 405
    assert [(c.method, c.group, c.status) for c in server.calls if c.path == "/v1/me/library"] == [
        ("PUT", "me", 200), ("PUT", "me", 200), ("DELETE", "me", 200), ("PUT", "me", 400), ("GET", "me", 405)]


def test_save_and_unsave_tracks_python_helpers(server, api):
    st = server.state
    st.saved_tracks = [tid(5), tid(6)]
    held = st.saved_tracks
    assert st.save_tracks([tid(1), tid(2), tid(1), tid(5)]) == [tid(1), tid(2)]
    assert st.saved_tracks == [tid(1), tid(2), tid(5), tid(6)] and st.saved_tracks is held
    assert st.save_tracks([tid(3)]) == [tid(3)]
    assert st.saved_tracks == [tid(3), tid(1), tid(2), tid(5), tid(6)]
    assert st.unsave_tracks([tid(2), tid(6), tid(8)]) == [tid(2), tid(6)]
    assert st.saved_tracks == [tid(3), tid(1), tid(5)] and st.saved_tracks is held
    assert contains(api, uri(1), uri(2), uri(3), uri(6)).json() == [True, False, True, False]
    assert st.save_tracks([]) == [] and st.unsave_tracks([]) == [] and st.saved_tracks == [tid(3), tid(1), tid(5)]
    assert pickle.loads(pickle.dumps(st)).saved_tracks == [tid(3), tid(1), tid(5)]
