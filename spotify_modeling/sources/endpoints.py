"""Which daily-quota bucket ("endpoint group") a Spotify Web API call falls in.

Spotify counts its Development Mode quotas per group of endpoints, so the client records every call by group and
the stand-in server enforces quotas by the same mapping.
"""

from __future__ import annotations

from urllib.parse import urlsplit

GROUPS = ("search", "tracks", "artists", "albums", "playlists", "me", "audio_features", "reccobeats", "token", "other")
#: the groups the store also counts that are not Spotify's (no Spotify quota): left out of every "Spotify calls" figure;
#: {group: the service's name as the user reads it}
OTHER_SERVICES = {"reccobeats": "ReccoBeats", "deezer": "Deezer", "musicbrainz": "MusicBrainz"}


def spotify_calls(by_group: dict[str, int]) -> int:
    """The Spotify calls of a {group: calls} count (the other services' groups left out)."""
    return sum(n for g, n in by_group.items() if g not in OTHER_SERVICES)


def endpoint_group(method: str, path: str) -> str:
    """Map a Web API path ("/v1/artists/abc", "artists/abc" or a full URL) to its quota group."""
    del method  # every verb of one resource shares a bucket
    if "://" in path:
        path = urlsplit(path).path
    path = path.split("?", 1)[0].strip("/")
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["v1"]:
        parts = parts[1:]
    if parts[-2:] == ["api", "token"] or parts == ["token"]:
        return "token"
    if not parts:
        return "other"
    head = parts[0]
    if head == "search":
        return "search"
    if head in ("tracks", "artists", "albums"):
        return head
    if head in ("audio-features", "audio-analysis"):
        return "audio_features"
    if head == "playlists":
        return "playlists"
    if head == "me":
        return "playlists" if parts[1:2] == ["playlists"] else "me"
    if head == "users":
        return "playlists" if "playlists" in parts else "me"
    return "other"
