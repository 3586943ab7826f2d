"""The export reader: every vintage, pure parsing, privacy."""

import json

import pytest

from export_fixtures import (write_account_export, write_extended_export, write_old_mydata_export, zip_folder)
from spotify_modeling.errors import BadInput
from spotify_modeling.core.export import classify, read_export, track_id_from_uri
from spotify_modeling.core.normalize import name_key, norm_title


def test_classify_file_names_of_every_vintage():
    assert classify("Spotify Account Data/StreamingHistory_music_3.json") == "account_music"
    assert classify("MyData/StreamingHistory12.json") == "account_mixed"
    assert classify("x/StreamingHistory_podcast_0.json") == "account_podcast"
    assert classify("Spotify Extended Streaming History/Streaming_History_Audio_2019-2021_0.json") == "extended"
    assert classify("Streaming_History_Audio_2026.json") == "extended"
    assert classify("MyData/endsong_7.json") == "extended"
    assert classify("Streaming_History_Video_2020-2024.json") == "extended_video"
    assert classify("Playlist2.json") == "playlists"
    assert classify("YourLibrary.json") == "library"
    assert classify("Userdata.json") is None
    assert classify("__MACOSX/._Playlist1.json") is None


def test_account_export_plays_playlists_library(tmp_path):
    p = read_export(write_account_export(tmp_path))
    kinds = p.files_by_kind()
    assert kinds == {"account_music": 2, "playlists": 1, "library": 1}
    assert any("podcast" in f for f in p.ignored)
    plays = [row for rows in p.plays.values() for row in rows]
    # the row without endTime is skipped and counted as damaged (with a note), repeats sharing a minute are all kept
    assert len(plays) == 5 and p.damaged_rows == 1
    assert p.notes == ["Spotify Account Data/StreamingHistory_music_1.json: 1 row(s) skipped as damaged (first: row 2: "
                       "no endTime)."]
    assert sum(1 for r in plays if r[1] == "2024-01-01T10:03:00Z") == 2
    assert plays[0][:3] == ("account", "2024-01-01T10:00:00Z", 180000)
    fav = p.playlists[0]
    assert [i.item_type for i in fav.items] == ["track", "missing", "episode", "local"]
    assert fav.items[0].track_id == "1111111111111111111111"
    assert fav.items[3].track_name == "Demo Tape" and fav.items[3].track_id is None
    assert [s.track_id for s in p.saved_tracks] == ["2222222222222222222222"]


def test_old_mydata_layout_without_uris(tmp_path):
    p = read_export(write_old_mydata_export(tmp_path))
    assert p.files_by_kind() == {"account_mixed": 2, "playlists": 1, "library": 1}
    plays = [row for rows in p.plays.values() for row in rows]
    # podcast rows are indistinguishable in this vintage and kept at import
    assert len(plays) == 3 and {r[4] for r in plays} == {"Old Band", "Some Podcast"}
    assert p.playlists[0].items[0].track_id is None
    assert p.saved_tracks[0].track_id is None and p.saved_tracks[0].track_name == "Oldie"


def test_extended_history_drops_podcasts_and_personal_fields(tmp_path):
    p = read_export(write_extended_export(tmp_path))
    assert p.files_by_kind() == {"extended": 2}
    assert any("Video" in f for f in p.ignored)
    plays = [row for rows in p.plays.values() for row in rows]
    assert len(plays) == 5 and p.dropped_non_music == 1
    same_ts = [r for r in plays if r[1] == "2024-01-01T10:05:00Z"]
    assert len(same_ts) == 2 and all(r[9] == "fwdbtn" and r[10] == 1 for r in same_ts)
    flat = json.dumps(plays)
    for private in ("203.0.113.7", "198.51.100.1", "someone", "android", "DE"):
        assert private not in flat


def test_zip_with_nested_folder_reads_like_the_folder(tmp_path):
    folder = write_account_export(tmp_path / "f")
    write_extended_export(folder)
    zp = zip_folder(folder, tmp_path / "my_spotify_data.zip")
    a, b = read_export(folder), read_export(zp)
    assert [f.sha256 for f in sorted(a.files, key=lambda f: f.sha256)] == \
        [f.sha256 for f in sorted(b.files, key=lambda f: f.sha256)]
    assert sorted(x for v in a.plays.values() for x in v) == sorted(x for v in b.plays.values() for x in v)


def test_bad_inputs_raise_one_line_bad_input(tmp_path):
    with pytest.raises(BadInput, match="No export at"):
        read_export(tmp_path / "missing.zip")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(BadInput, match="not a zip"):
        read_export(junk)
    folder = write_account_export(tmp_path / "t")
    f = folder / "Spotify Account Data" / "StreamingHistory_music_0.json"
    f.write_text(f.read_text()[:50])
    with pytest.raises(BadInput, match="StreamingHistory_music_0.json.*not valid JSON"):
        read_export(folder)


def test_corrupt_member_inside_zip_is_refused(tmp_path):
    folder = write_account_export(tmp_path / "f")
    zp = zip_folder(folder, tmp_path / "e.zip")
    data = bytearray(zp.read_bytes())
    i = data.find(b"StreamingHistory_music_0.json")  # damage the compressed bytes after the local header
    data[i + 60:i + 90] = b"\x00" * 30
    zp.write_bytes(bytes(data))
    with pytest.raises(BadInput):
        read_export(zp)


def test_uri_and_name_normalisation():
    assert track_id_from_uri("spotify:track:abc") == "abc"
    assert track_id_from_uri("https://open.spotify.com/track/abc?si=1") == "abc"
    assert track_id_from_uri("spotify:episode:abc") is None and track_id_from_uri(None) is None
    assert norm_title("Here Comes the Sun - Remastered 2009") == "here comes the sun"
    assert norm_title("Wild Thoughts (feat. Rihanna & Bryson Tiller)") == "wild thoughts"
    assert norm_title("Song - Live at Wembley") == "song live"
    assert norm_title("Titanium (feat. Sia) - David Guetta Remix") == "titanium remix"
    assert name_key("The Beatles", "Café") == name_key("beatles", "cafe")


def test_extended_rows_of_odd_shapes_parse_like_the_common_ones():
    from spotify_modeling.core.export import _Damage, parse_extended_history

    base = {"ts": "2024-01-01T10:00:00Z", "ms_played": 1000, "master_metadata_track_name": "Song",
            "master_metadata_album_artist_name": "Band", "master_metadata_album_album_name": "LP",
            "spotify_track_uri": "spotify:track:AAA", "reason_start": "clickrow", "reason_end": "trackdone",
            "skipped": False, "shuffle": True, "ip_addr": "203.0.113.7", "conn_country": "DE"}
    rows = [
        base,
        "not a row", ["x"], None,
        {**base, "spotify_track_uri": None, "spotify_episode_uri": "spotify:episode:E"},   # podcast: dropped
        {**base, "spotify_track_uri": "spotify:track:"},                                   # empty id: dropped
        {**base, "ts": None},                                                              # no time: damaged
        {**base, "ts": "2024-01-01 11:00:00"},                                            # older ts spelling
        {**base, "spotify_track_uri": "https://open.spotify.com/track/BBB?si=x", "ms_played": 1500.0,
         "skipped": None, "shuffle": "yes", "master_metadata_album_artist_name": 7,
         "master_metadata_album_album_name": 3, "reason_end": 5},
        {"ts": "2024-01-01T12:00:00Z", "spotify_track_uri": "spotify:track:CCC"},           # no duration: damaged
        {**base, "ms_played": True, "master_metadata_track_name": None},                    # a flag: damaged
        {**base, "ms_played": 2000, "master_metadata_track_name": None},                    # the URI names the song
    ]
    damaged = _Damage("x.json")
    plays, non_music = parse_extended_history(rows, damaged=damaged)
    assert non_music == 2
    assert damaged.count == 6 and damaged.first == "row 2: 'not a row' is not a stream"
    assert plays == [
        ("extended", "2024-01-01T10:00:00Z", 1000, "Song", "Band", "LP", "AAA", "band\tsong",
         "clickrow", "trackdone", 0, 1),
        ("extended", "2024-01-01T11:00:00Z", 1000, "Song", "Band", "LP", "AAA", "band\tsong",
         "clickrow", "trackdone", 0, 1),
        ("extended", "2024-01-01T10:00:00Z", 1500, "Song", "7", "3", "BBB", "7\tsong", "clickrow", "5", None, 1),
        ("extended", "2024-01-01T10:00:00Z", 2000, None, "Band", "LP", "AAA", "band\t", "clickrow", "trackdone", 0, 1),
    ]
    assert all(type(v) is int for p in plays for v in (p[2], p[10], p[11]) if v is not None)


def _many_files_export(root):
    """Seven history files (read ahead while earlier ones parse), an ignored video file and a duplicate copy."""
    from export_fixtures import extended_row

    d = root / "Spotify Extended Streaming History"
    d.mkdir(parents=True)
    for n in range(7):
        rows = [extended_row(f"2024-01-{n + 1:02d}T10:00:0{i}Z", f"Song {n}", "Band", f"spotify:track:T{n}{i}")
                for i in range(n + 1)]
        (d / f"Streaming_History_Audio_2024_{n}.json").write_text(json.dumps(rows))
    (d / "Streaming_History_Video_2024.json").write_text("[]")
    (root / "copy").mkdir()
    (root / "copy" / "Streaming_History_Audio_2024_3.json").write_bytes(
        (d / "Streaming_History_Audio_2024_3.json").read_bytes())
    return root


def test_many_files_parse_in_order_and_a_copied_file_counts_once(tmp_path):
    import hashlib

    folder = _many_files_export(tmp_path / "f")
    for source in (folder, zip_folder(folder, tmp_path / "e.zip")):
        p = read_export(source)
        audio = sorted((folder / "Spotify Extended Streaming History").glob("Streaming_History_Audio_*.json"))
        # "Spotify ..." sorts before "copy/...": the copy comes last and is skipped as the same file
        expected = audio
        assert [f.path.rsplit("/", 1)[-1] for f in p.files] == [a.name for a in expected]
        assert [f.sha256 for f in p.files] == [hashlib.sha256(a.read_bytes()).hexdigest() for a in expected]
        assert [f.rows for f in p.files] == [1, 2, 3, 4, 5, 6, 7]
        assert [len(p.plays[f.sha256]) for f in p.files] == [1, 2, 3, 4, 5, 6, 7]
        assert [x.rsplit("/", 1)[-1] for x in p.ignored] == ["Streaming_History_Video_2024.json"]


def test_a_damaged_early_file_stops_the_read_with_files_still_ahead(tmp_path):
    folder = _many_files_export(tmp_path / "f")
    (folder / "Spotify Extended Streaming History" / "Streaming_History_Audio_2024_1.json").write_text("[{")
    with pytest.raises(BadInput, match="Streaming_History_Audio_2024_1.json.*not valid JSON"):
        read_export(folder)
