"""Small hand-written exports in the real shapes of each vintage (never copies of real data)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path


def _w(path: Path, doc) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")


def extended_row(ts, track, artist, uri, ms=200000, reason_end="trackdone", skipped=False, **extra):
    row = {
        "ts": ts, "platform": "android", "ms_played": ms, "conn_country": "DE", "ip_addr": "203.0.113.7",
        "master_metadata_track_name": track, "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": "Album " + (track or ""), "spotify_track_uri": uri,
        "episode_name": None, "episode_show_name": None, "spotify_episode_uri": None, "audiobook_title": None,
        "audiobook_uri": None, "audiobook_chapter_uri": None, "audiobook_chapter_title": None,
        "reason_start": "clickrow", "reason_end": reason_end, "shuffle": False, "skipped": skipped,
        "offline": False, "offline_timestamp": 1700000000, "incognito_mode": False,
    }
    row.update(extra)
    return row


def podcast_row(ts):
    row = extended_row(ts, None, None, None, ms=600000, reason_end="endplay")
    row.update(episode_name="Episode 1", episode_show_name="A Show", spotify_episode_uri="spotify:episode:EP1")
    return row


def write_account_export(root: Path) -> Path:
    """2024-style account data: music/podcast split, playlists with URIs, nulls, local files and episodes."""
    d = root / "Spotify Account Data"
    _w(d / "StreamingHistory_music_0.json", [
        {"endTime": "2024-01-01 10:00", "artistName": "Alpha Band", "trackName": "First Song", "msPlayed": 180000},
        {"endTime": "2024-01-01 10:03", "artistName": "Alpha Band", "trackName": "First Song", "msPlayed": 180000},
        {"endTime": "2024-01-01 10:03", "artistName": "Alpha Band", "trackName": "First Song", "msPlayed": 180000},
        {"endTime": "2024-01-02 11:00", "artistName": "Beta Duo", "trackName": "Second Song - Remastered 2011",
         "msPlayed": 5000},
    ])
    _w(d / "StreamingHistory_music_1.json", [
        {"endTime": "2024-02-01 09:00", "artistName": "Gamma", "trackName": "Third (feat. Delta)", "msPlayed": 90000},
        {"artistName": "No Time", "trackName": "Lost", "msPlayed": 1000},  # a field absent in some vintage
    ])
    _w(d / "StreamingHistory_podcast_0.json", [
        {"endTime": "2024-01-03 08:00", "podcastName": "Pod", "episodeName": "Ep", "msPlayed": 1200000}])
    _w(d / "Playlist1.json", {"playlists": [
        {"name": "Favourites", "lastModifiedDate": "2024-03-01", "description": None, "numberOfFollowers": 0,
         "collaborators": [], "items": [
             {"track": {"trackName": "First Song", "artistName": "Alpha Band", "albumName": "A",
                        "trackUri": "spotify:track:1111111111111111111111"},
              "episode": None, "audiobook": None, "localTrack": None, "addedDate": "2024-01-05"},
             {"track": None, "episode": None, "audiobook": None, "localTrack": None, "addedDate": "2024-01-06"},
             {"track": None, "episode": {"episodeName": "E", "showName": "S", "episodeUri": "spotify:episode:X"},
              "audiobook": None, "localTrack": None, "addedDate": "2024-01-07"},
             {"track": None, "episode": None, "audiobook": None,
              "localTrack": {"artistName": "Me", "trackName": "Demo Tape", "albumName": "Home"},
              "addedDate": "2024-01-08"},
         ]},
        {"name": "Gym", "lastModifiedDate": "2024-03-02", "items": [
            {"track": {"trackName": "Third", "artistName": "Gamma", "albumName": "G",
                       "trackUri": "spotify:track:3333333333333333333333"},
             "episode": None, "audiobook": None, "localTrack": None, "addedDate": "2024-02-05"}]},
    ]})
    _w(d / "YourLibrary.json", {"tracks": [
        {"artist": "Beta Duo", "album": "B", "track": "Second Song", "uri": "spotify:track:2222222222222222222222"}],
        "albums": [], "shows": [], "episodes": [], "bannedTracks": [], "artists": [], "bannedArtists": [],
        "other": []})
    (d / "Userdata.json").write_text(json.dumps({"username": "someone", "email": "x@example.org"}))
    return root


def write_old_mydata_export(root: Path) -> Path:
    """2019/2020-style `MyData/`: StreamingHistoryN.json mixing podcasts, playlists without trackUri."""
    d = root / "MyData"
    _w(d / "StreamingHistory0.json", [
        {"endTime": "2019-05-01 20:00", "artistName": "Old Band", "trackName": "Oldie", "msPlayed": 150000},
        {"endTime": "2019-05-01 21:00", "artistName": "Some Podcast", "trackName": "Episode 12", "msPlayed": 3000000},
    ])
    _w(d / "StreamingHistory1.json", [
        {"endTime": "2019-06-01 20:00", "artistName": "Old Band", "trackName": "Oldie", "msPlayed": 20000}])
    _w(d / "Playlist1.json", {"playlists": [{"name": "2019 mix", "lastModifiedDate": "2019-06-01", "items": [
        {"track": {"trackName": "Oldie", "artistName": "Old Band", "albumName": "O"}, "episode": None,
         "localTrack": None, "addedDate": "2019-05-02"}]}]})
    _w(d / "YourLibrary.json", {"tracks": [{"artist": "Old Band", "album": "O", "track": "Oldie"}]})
    return root


def write_extended_export(root: Path) -> Path:
    """Extended history: repeats sharing a timestamp, podcasts, video (ignored), and an older endsong file."""
    d = root / "Spotify Extended Streaming History"
    _w(d / "Streaming_History_Audio_2023-2024_0.json", [
        extended_row("2023-12-31T23:00:00Z", "Before Range", "Alpha Band", "spotify:track:0000000000000000000000"),
        extended_row("2024-01-01T10:00:00Z", "First Song", "Alpha Band", "spotify:track:1111111111111111111111",
                     ms=180000),
        extended_row("2024-01-01T10:05:00Z", "First Song", "Alpha Band", "spotify:track:1111111111111111111111",
                     ms=1000, reason_end="fwdbtn", skipped=True),
        extended_row("2024-01-01T10:05:00Z", "First Song", "Alpha Band", "spotify:track:1111111111111111111111",
                     ms=1000, reason_end="fwdbtn", skipped=True),
        podcast_row("2024-01-01T12:00:00Z"),
    ])
    _w(d / "Streaming_History_Video_2024.json", [{"ts": "2024-01-01T13:00:00Z", "ms_played": 1}])
    old = extended_row("2024-01-15T10:00:00Z", "Second Song", "Beta Duo", "spotify:track:2222222222222222222222")
    old.pop("ip_addr")
    old.update(ip_addr_decrypted="198.51.100.1", user_agent_decrypted="unknown", username="someone")
    _w(d / "endsong_0.json", [old])
    return root


def zip_folder(folder: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, "my_spotify_data/" + p.relative_to(folder).as_posix())
    return zip_path
