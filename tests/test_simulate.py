"""The synthetic world: realistic, calibrated, reproducible, and in the real export shapes."""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spotify_modeling.sandbox.simulate import (
    HISTORY_COLUMNS, PERSONAS, TRACK_COLUMNS, build_world, export_files, label_candidates, make_catalog,
    make_listener, make_own_library, simulate_history, write_export,
)
from spotify_modeling.sandbox.simulate import _vocab as vocab
from spotify_modeling.sandbox.simulate import export as export_mod
from spotify_modeling.sandbox.standin import StandInState

BASE62_ID = re.compile(r"^[0-9A-Za-z]{22}$")
UNIT = ["danceability", "energy", "speechiness", "acousticness", "instrumentalness", "liveness", "valence"]

ACCOUNT_MUSIC_KEYS = {"endTime", "artistName", "trackName", "msPlayed"}
ACCOUNT_PODCAST_KEYS = {"endTime", "podcastName", "episodeName", "msPlayed"}
PLAYLIST_KEYS = {"name", "lastModifiedDate", "description", "numberOfFollowers", "collaborators", "items"}
PLAYLIST_ITEM_KEYS = {"track", "episode", "audiobook", "localTrack", "addedDate"}
PLAYLIST_TRACK_KEYS = {"trackName", "artistName", "albumName", "trackUri"}
LIBRARY_KEYS = {"tracks", "albums", "shows", "episodes", "bannedTracks", "artists", "bannedArtists", "other"}
LIBRARY_TRACK_KEYS = {"artist", "album", "track", "uri"}
EXTENDED_KEYS = {
    "ts", "platform", "ms_played", "conn_country", "ip_addr", "master_metadata_track_name",
    "master_metadata_album_artist_name", "master_metadata_album_album_name", "spotify_track_uri", "episode_name",
    "episode_show_name", "spotify_episode_uri", "audiobook_title", "audiobook_uri", "audiobook_chapter_uri",
    "audiobook_chapter_title", "reason_start", "reason_end", "shuffle", "skipped", "offline", "offline_timestamp",
    "incognito_mode",
}
TRACK_OBJECT_KEYS = {"id", "name", "uri", "type", "duration_ms", "explicit", "is_local", "artists", "album",
                     "external_ids", "disc_number", "track_number"}
ALBUM_KEYS = {"id", "name", "uri", "type", "release_date", "release_date_precision", "album_type", "artists"}
RECCOBEATS_KEYS = {"id", "href", "isrc", "acousticness", "danceability", "energy", "instrumentalness", "key",
                   "liveness", "loudness", "mode", "speechiness", "tempo", "valence"}


@pytest.fixture(scope="module")
def catalog():
    return make_catalog(n_tracks=6000, seed=11)


@pytest.fixture(scope="module")
def small_world():
    return build_world(seed=3, persona="pop_mainstream", n_tracks=2000, n_plays=4000, years=2.0)


@pytest.fixture(scope="module")
def export_dir(small_world, tmp_path_factory) -> Path:
    return write_export(tmp_path_factory.mktemp("export"), small_world)


# ---- catalog ------------------------------------------------------------------------------------------------
def test_catalog_is_reproducible_by_seed():
    a, b, c = make_catalog(800, seed=5), make_catalog(800, seed=5), make_catalog(800, seed=6)
    pd.testing.assert_frame_equal(a.tracks, b.tracks)
    pd.testing.assert_frame_equal(a.artists, b.artists)
    assert not set(a.tracks["track_id"]) & set(c.tracks["track_id"])
    assert not a.tracks["energy"].equals(c.tracks["energy"])


def test_catalog_columns_ids_and_names(catalog):
    t = catalog.tracks
    assert list(t.columns) == TRACK_COLUMNS
    assert len(t) == 6000
    assert t["track_id"].is_unique and t["track_id"].map(BASE62_ID.match).all()
    assert catalog.artists["artist_id"].map(BASE62_ID.match).all()
    pairs = t["artist_names"].str[0].str.lower() + "\x00" + t["track_name"].str.lower()
    assert pairs.is_unique
    assert catalog.artists["name"].str.lower().is_unique
    assert t["track_name"].str.len().between(2, 120).all()


def test_genres_families_and_missing_share(catalog):
    artists = catalog.artists
    no_genres = (artists["genres"].map(len) == 0).mean()
    assert 0.25 <= no_genres <= 0.35
    with_genres = artists[artists["genres"].map(len) > 0]
    assert with_genres["genres"].map(len).between(1, 4).all()
    family_of = {g: f for f, names in vocab.GENRE_FAMILIES.items() for g in names}
    in_own_family = [np.mean([family_of[g] == fam for g in gs]) for gs, fam in
                     zip(with_genres["genres"], with_genres["family"])]
    assert np.mean(in_own_family) > 0.8
    used = {g for gs in artists["genres"] for g in gs}
    assert len(used) >= 120  # a fine-grained vocabulary, as Spotify's
    assert set(catalog.truth["family"]) == set(vocab.FAMILIES)


def test_audio_features_valid_and_correlated(catalog):
    t = catalog.tracks
    for col in UNIT:
        assert t[col].between(0, 1).all(), col
    assert (t["loudness"] <= 0).all() and (t["loudness"] >= -60).all()
    assert t["tempo"].between(50, 220).all()
    assert t["key"].between(-1, 11).all() and (t["key"] == -1).any()
    assert set(t["mode"]) <= {0, 1}
    assert set(t["time_signature"]) <= {1, 3, 4, 5}
    assert t["energy"].corr(t["loudness"]) > 0.3
    assert t["acousticness"].corr(t["energy"]) < -0.3
    by_family = t.groupby(catalog.truth["family"].to_numpy())
    speech = by_family["speechiness"].mean()
    assert speech["hip hop"] == speech.max()
    instr = by_family["instrumentalness"].mean()
    assert instr["classical"] > 3 * instr["pop"] and instr["electronic"] > instr["pop"]
    explicit = by_family["explicit"].mean()
    assert explicit["hip hop"] == explicit.max() and explicit["hip hop"] > 0.4


def test_dates_durations_popularity(catalog):
    t = catalog.tracks
    dates = t["release_date"]
    assert dates.str.fullmatch(r"\d{4}(-\d{2}-\d{2})?").all()
    assert (dates.str.len() == 4).any() and (dates.str.len() == 10).any()
    years = dates.str[:4].astype(int)
    assert years.between(1950, 2026).all() and years.median() >= 2005
    minutes = t["duration_ms"] / 60000
    assert minutes.between(0.5, 20).all() and 2.5 <= minutes.median() <= 4.5
    pop = t["popularity"]
    assert pop.between(0, 100).all()
    assert pop.quantile(0.99) > 2.5 * pop.median()  # heavy tail: a few hits, a long tail


def test_spotify_and_reccobeats_objects(catalog):
    tid = catalog.tracks["track_id"].iloc[7]
    obj = catalog.track_object(tid)
    assert set(obj) == TRACK_OBJECT_KEYS
    assert set(obj["album"]) == ALBUM_KEYS
    assert obj["uri"] == f"spotify:track:{tid}" and obj["type"] == "track" and obj["is_local"] is False
    assert obj["artists"][0]["id"] == catalog.tracks["artist_ids"].iloc[7][0]
    assert obj["album"]["release_date_precision"] == ("year" if len(obj["album"]["release_date"]) == 4 else "day")
    artist = catalog.artist_object(obj["artists"][0]["id"])
    assert set(artist) == {"id", "name", "uri", "type", "genres"}
    rows = catalog.reccobeats_rows()
    uncovered = 1 - len(rows) / len(catalog.tracks)
    assert 0.04 <= uncovered <= 0.12
    some_id, row = next(iter(rows.items()))
    assert set(row) == RECCOBEATS_KEYS
    assert row["href"] == f"https://open.spotify.com/track/{some_id}"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", row["id"])
    missing = next(t for t in catalog.tracks["track_id"] if t not in rows)
    assert catalog.reccobeats_row(missing) is None


# ---- listeners ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", [*PERSONAS, None])
def test_persona_calibration(catalog, persona):
    listener = make_listener(catalog, persona=persona, seed=4)
    rng = np.random.default_rng(0)
    pool = catalog.tracks.sample(3000, random_state=1)
    random_rate = listener.likes(pool, rng).mean()
    assert 0.05 <= random_rate <= 0.15
    top = listener.ideal_picks(pool, 30)
    assert listener.like_probability(top).mean() >= 0.7
    assert listener.likes(top, rng).mean() >= 0.55  # sampled, so a little slack
    appeal = listener.appeal(pool)
    assert ((appeal >= 0) & (appeal <= 1)).all()


def test_taste_is_learnable_from_genres_and_features(catalog):
    listener = make_listener(catalog, "hiphop_loyalist", seed=0)
    appeal = listener.appeal_
    fam = catalog.truth["family"].to_numpy()
    assert appeal[fam == "hip hop"].mean() > 4 * appeal[fam == "classical"].mean()
    # Loved-family tracks by artists without genres still appeal: audio features carry the signal.
    no_genre = (catalog.tracks["genres"].map(len) == 0).to_numpy()
    assert appeal[(fam == "hip hop") & no_genre].mean() > 3 * appeal[(fam != "hip hop") & (fam != "r&b")].mean()
    # and some artists are loved beyond their genre
    assert (listener.artist_affinity > 0.5).sum() > 0


def test_listener_reproducible_and_unknown_persona(catalog):
    a = make_listener(catalog, None, seed=9)
    b = make_listener(catalog, None, seed=9)
    c = make_listener(catalog, None, seed=10)
    np.testing.assert_array_equal(a.appeal_, b.appeal_)
    assert not np.array_equal(a.appeal_, c.appeal_)
    with pytest.raises(ValueError, match="unknown persona"):
        make_listener(catalog, "polka_fan")


# ---- history ------------------------------------------------------------------------------------------------
def test_history_behaviour(catalog):
    listener = make_listener(catalog, "indie_explorer", seed=1)
    h = simulate_history(listener, catalog, "2024-01-01", "2026-01-01", n_plays=6000, seed=2)
    again = simulate_history(listener, catalog, "2024-01-01", "2026-01-01", n_plays=6000, seed=2)
    pd.testing.assert_frame_equal(h, again)
    assert list(h.columns) == HISTORY_COLUMNS
    assert len(h) == 6000 and h["ts"].is_monotonic_increasing
    assert h["ts"].min() >= pd.Timestamp("2024-01-01", tz="UTC") and h["ts"].max() < pd.Timestamp("2026-01-01", tz="UTC")
    duration = catalog.tracks["duration_ms"].to_numpy()[catalog.positions(h["track_id"].tolist())]
    done = (h["reason_end"] == "trackdone").to_numpy()
    assert done.mean() > 0.5
    assert (h["ms_played"].to_numpy()[done] == duration[done]).all()
    fwd = (h["reason_end"] == "fwdbtn").to_numpy()
    assert (h["ms_played"].to_numpy()[fwd] < 30_000).all() and h["skipped"].to_numpy()[fwd].all()
    partial = ~done & ~fwd & (h["reason_end"] != "backbtn").to_numpy()
    assert partial.any() and (h["ms_played"].to_numpy()[partial] < duration[partial]).all()
    # low-appeal tracks get skipped far more often
    appeal = listener.appeal(h)
    assert fwd[appeal < 0.3].mean() > 3 * fwd[appeal > 0.7].mean()
    # favourites repeat, and listening clusters at certain hours
    assert h["track_id"].value_counts().iloc[0] >= 8
    hours = h["ts"].dt.hour.value_counts(normalize=True)
    assert hours.max() > 2.0 / 24
    # tracks are not played before their release
    years = catalog.truth["release_year"].to_numpy()[catalog.positions(h["track_id"].tolist())]
    assert (years <= h["ts"].dt.year.to_numpy()).all()


def test_own_library_from_appealing_played_tracks(catalog):
    listener = make_listener(catalog, "classical_purist", seed=1)
    h = simulate_history(listener, catalog, "2024-01-01", "2026-01-01", n_plays=5000, seed=2)
    playlists, saved, top_artists = make_own_library(listener, catalog, h, seed=2)
    assert 2 <= len(playlists) <= 5
    assert {p.name for p in playlists} <= set(vocab.PLAYLIST_THEMES)
    played = set(h["track_id"])
    saved_ids = [t for t, _ in saved]
    assert set(saved_ids) <= played and all(set(p.track_ids) <= played for p in playlists)
    saved_appeal = listener.appeal(pd.DataFrame({"track_id": saved_ids})).mean()
    assert saved_appeal > listener.appeal(h.drop_duplicates("track_id")).mean() > listener.appeal_.mean()
    assert 1 <= len(top_artists) <= 20 and set(top_artists) <= set(catalog.artists.index)


# ---- export -------------------------------------------------------------------------------------------------
def _load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_export_account_files_have_real_shapes(export_dir, small_world):
    acc = export_dir / "Spotify Account Data"
    names = sorted(p.name for p in acc.iterdir())
    assert names == ["Playlist1.json", "StreamingHistory_music_0.json", "StreamingHistory_podcast_0.json",
                     "YourLibrary.json"]
    music = _load(acc / "StreamingHistory_music_0.json")
    assert 0 < len(music) <= 10_000
    assert all(set(r) == ACCOUNT_MUSIC_KEYS for r in music)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", r["endTime"]) for r in music)
    end_times = pd.to_datetime([r["endTime"] for r in music])
    assert (end_times.max() - end_times.min()).days <= 366  # account data covers about the last year only
    assert '"endTime" : "' in (acc / "StreamingHistory_music_0.json").read_text()  # Spotify's spacing
    podcasts = _load(acc / "StreamingHistory_podcast_0.json")
    assert all(set(r) == ACCOUNT_PODCAST_KEYS for r in podcasts)
    doc = _load(acc / "Playlist1.json")
    assert set(doc) == {"playlists"} and len(doc["playlists"]) == len(small_world.playlists)
    for pl, own in zip(doc["playlists"], small_world.playlists):
        assert set(pl) == PLAYLIST_KEYS and pl["name"] == own.name
        assert all(set(i) == PLAYLIST_ITEM_KEYS and set(i["track"]) == PLAYLIST_TRACK_KEYS for i in pl["items"])
        assert [i["track"]["trackUri"] for i in pl["items"]] == [f"spotify:track:{t}" for t in own.track_ids]
        assert all(i["episode"] is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", i["addedDate"]) for i in pl["items"])
    lib = _load(acc / "YourLibrary.json")
    assert set(lib) == LIBRARY_KEYS
    assert all(set(t) == LIBRARY_TRACK_KEYS for t in lib["tracks"])
    assert [t["uri"] for t in lib["tracks"]] == [f"spotify:track:{t}" for t, _ in small_world.saved_tracks]


def test_export_extended_files_have_real_shapes(export_dir, small_world):
    ext = export_dir / "Spotify Extended Streaming History"
    audio = sorted(ext.glob("Streaming_History_Audio_*.json"))
    assert audio and all(re.fullmatch(r"Streaming_History_Audio_\d{4}(-\d{4})?_\d+\.json", p.name) for p in audio)
    rows = [r for p in audio for r in _load(p)]
    assert all(set(r) == EXTENDED_KEYS for r in rows)
    music = [r for r in rows if r["spotify_track_uri"]]
    podcasts = [r for r in rows if r["episode_name"]]
    assert len(music) == len(small_world.history) and len(podcasts) == len(small_world.podcast_plays) > 0
    assert all(r["master_metadata_track_name"] is None and r["spotify_track_uri"] is None
               and r["spotify_episode_uri"].startswith("spotify:episode:") for r in podcasts)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", r["ts"]) and r["ip_addr"] == "0.0.0.0"
               for r in rows)
    assert [r["spotify_track_uri"] for r in music] == [f"spotify:track:{t}" for t in small_world.history["track_id"]]
    assert [r["ms_played"] for r in music] == small_world.history["ms_played"].tolist()
    video = _load(ext / "Streaming_History_Video_0.json")
    assert 1 <= len(video) <= 3 and all(set(r) == EXTENDED_KEYS for r in video)


def test_export_splits_account_history_files(small_world, monkeypatch):
    monkeypatch.setattr(export_mod, "ACCOUNT_ROWS_PER_FILE", 500)
    files = export_files(small_world, kind="account")
    music = sorted(n for n in files if "StreamingHistory_music_" in n)
    assert len(music) >= 2
    counts = [len(json.loads(files[n])) for n in music]
    assert all(c <= 500 for c in counts) and all(c == 500 for c in counts[:-1])
    assert set(export_files(small_world, kind="extended")) == {
        n for n in export_files(small_world) if n.startswith("Spotify Extended Streaming History/")}


def test_export_bytes_reproducible_by_seed(tmp_path):
    worlds = [build_world(seed=s, n_tracks=600, n_plays=800, years=1.0) for s in (21, 21, 22)]
    zips = [write_export(tmp_path / f"w{i}", w, as_zip=True) for i, w in enumerate(worlds)]
    assert zips[0].name == "my_spotify_data.zip"
    assert zips[0].read_bytes() == zips[1].read_bytes()
    assert zips[0].read_bytes() != zips[2].read_bytes()
    folder = write_export(tmp_path / "folder", worlds[0])
    with zipfile.ZipFile(zips[0]) as zf:
        assert sorted(zf.namelist()) == sorted(str(p.relative_to(folder)) for p in folder.rglob("*.json"))
        for name in zf.namelist():
            assert zf.read(name) == (folder / name).read_bytes()
    pd.testing.assert_frame_equal(worlds[0].history, worlds[1].history)


def test_project_parser_reads_the_export(export_dir, small_world):
    from spotify_modeling.core.export import read_export

    parsed = read_export(export_dir)
    assert len(parsed.playlists) == len(small_world.playlists)
    assert len(parsed.saved_tracks) == len(small_world.saved_tracks)
    assert parsed.dropped_non_music == len(small_world.podcast_plays)


# ---- stand-in state and the labelling person -------------------------------------------------------------------
def test_populate_fills_the_stand_in(small_world):
    state = StandInState()
    created = small_world.populate(state)
    cat = small_world.catalog
    assert len(state.tracks) == len(cat.tracks) and len(state.artists) == len(cat.artists)
    assert 0.85 * len(cat.tracks) <= len(state.audio_features) < len(cat.tracks)
    assert set(state.popularity) == set(state.tracks)
    assert state.user["id"] == small_world.user["id"]
    assert state.saved_tracks == [t for t, _ in small_world.saved_tracks]
    assert state.top_artists == small_world.top_artists
    for pl in small_world.playlists:
        [found] = state.find_playlists(pl.name, owner_id=state.user["id"])
        assert state.playlist_uris(found["id"]) == [f"spotify:track:{t}" for t in pl.track_ids]
        assert found["id"] == created[pl.name]
    followed = state.find_playlists("data_1")
    assert len(followed) == 1 and followed[0]["owner"]["id"] != state.user["id"]
    assert not state.find_playlists("data_1", owner_id=state.user["id"])


def _state_with_candidates(world, n: int, seed: int) -> tuple[StandInState, list[str]]:
    state = StandInState()
    world.populate(state)
    ids = world.catalog.tracks["track_id"].sample(n, random_state=seed).tolist()
    state.create_playlist("data_candidates", items=[f"spotify:track:{t}" for t in ids])
    return state, ids


def test_label_candidates_moves_tracks_like_a_person(small_world):
    state, ids = _state_with_candidates(small_world, 300, seed=1)
    user = state.user["id"]
    result = label_candidates(state, small_world.listener, small_world.catalog, np.random.default_rng(7),
                              heart_rate=0.0, remove_rate=0.0)
    assert result["liked"] + result["disliked"] + result["left"] == 300
    assert sorted(result["liked_ids"] + result["disliked_ids"] + result["left_ids"]) == sorted(ids)
    assert 0.08 <= result["left"] / 300 <= 0.25
    [cand] = state.find_playlists("data_candidates", owner_id=user)
    [liked] = state.find_playlists("data_1", owner_id=user)
    [disliked] = state.find_playlists("data_0", owner_id=user)
    in_cand = set(state.playlist_uris(cand["id"]))
    uri = "spotify:track:{}".format
    assert sorted(state.playlist_uris(liked["id"])) == sorted(uri(t) for t in result["liked_ids"])
    assert sorted(state.playlist_uris(disliked["id"])) == sorted(uri(t) for t in result["disliked_ids"])
    copied = set(result["copied_ids"])
    assert in_cand == {uri(t) for t in result["left_ids"]} | {uri(t) for t in copied}
    # the other user's "data_1" is untouched
    [foreign] = [p for p in state.find_playlists("data_1") if p["owner"]["id"] != user]
    assert len(state.playlist_uris(foreign["id"])) == 5
    # labels follow the hidden taste
    appeal = small_world.listener.appeal
    assert appeal(pd.DataFrame({"track_id": result["liked_ids"]})).mean() > \
        appeal(pd.DataFrame({"track_id": result["disliked_ids"]})).mean() + 0.2


def test_label_candidates_hearts_some_likes_and_removes_some_dislikes(small_world):
    """The one-tap ways: a hearted like is saved to Liked Songs and stays in data_candidates; a removed dislike is
    just gone from it; the other labels are drags, at the stated rates."""
    from spotify_modeling.sandbox.simulate.labelling import HEART_RATE, REMOVE_RATE

    state, ids = _state_with_candidates(small_world, 600, seed=4)
    saved_before = list(state.saved_tracks)
    r = label_candidates(state, small_world.listener, small_world.catalog, np.random.default_rng(5), label_rate=1.0)
    user = state.user["id"]
    uri = "spotify:track:{}".format
    [cand] = state.find_playlists("data_candidates", owner_id=user)
    [liked] = state.find_playlists("data_1", owner_id=user)
    [disliked] = state.find_playlists("data_0", owner_id=user)
    hearted, removed = set(r["hearted_ids"]), set(r["removed_ids"])
    assert hearted <= set(r["liked_ids"]) and removed <= set(r["disliked_ids"])
    assert abs(len(hearted) / len(r["liked_ids"]) - HEART_RATE) < 0.15
    assert abs(len(removed) / len(r["disliked_ids"]) - REMOVE_RATE) < 0.08
    assert set(state.saved_tracks) == set(saved_before) | hearted and len(hearted) > 10
    in_cand = set(state.playlist_uris(cand["id"]))
    assert {uri(t) for t in hearted} <= in_cand and not ({uri(t) for t in removed} & in_cand)
    assert set(state.playlist_uris(liked["id"])) == {uri(t) for t in r["liked_ids"] if t not in hearted}
    assert set(state.playlist_uris(disliked["id"])) == {uri(t) for t in r["disliked_ids"] if t not in removed}


def test_label_candidates_copies_sometimes_and_is_seeded(small_world):
    results = []
    for _ in range(2):
        state, _ids = _state_with_candidates(small_world, 600, seed=2)
        results.append(label_candidates(state, small_world.listener, small_world.catalog, np.random.default_rng(3),
                                        label_rate=1.0))
    assert results[0] == results[1]
    r = results[0]
    assert r["left"] == 0 and 1 <= len(r["copied_ids"]) <= 40
    [cand] = state.find_playlists("data_candidates", owner_id=state.user["id"])
    # left in data_candidates: the copies, and the hearted likes (a heart does not move a track)
    assert set(state.playlist_uris(cand["id"])) == {f"spotify:track:{t}" for t in r["copied_ids"] + r["hearted_ids"]}


def test_label_candidates_without_candidates_playlist(small_world):
    state = StandInState()
    small_world.populate(state)
    result = label_candidates(state, small_world.listener, small_world.catalog, np.random.default_rng(0))
    assert (result["liked"], result["disliked"], result["left"]) == (0, 0, 0)
    assert not state.find_playlists("data_0")
