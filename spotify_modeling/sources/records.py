"""Typed records of what the services return, parsed once here so the layers above never dig in raw JSON.

Spotify track objects arrive from search, `GET /tracks/{id}` and playlist rows; ReccoBeats rows carry a subset of the
same facts. `TrackRecord` is what the store's one track upsert (`db.tracks.upsert_track`) takes from all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ArtistRef:
    id: str | None
    name: str | None


@dataclass(frozen=True)
class TrackRecord:
    """The facts of one track a source gave; None where it said nothing."""

    id: str
    name: str | None = None
    artists: tuple[ArtistRef, ...] = ()
    album_name: str | None = None
    duration_ms: int | None = None
    release_date: str | None = None
    explicit: bool | None = None
    isrc: str | None = None
    is_playable: bool | None = None
    is_local: bool = False

    @property
    def artist_names(self) -> list[str | None]:
        return [a.name for a in self.artists]

    @property
    def artist_ids(self) -> list[str] | None:
        """The artists' ids, or None when any is unknown (a partial list would misattribute the track)."""
        ids = [a.id for a in self.artists]
        return ids if ids and all(ids) else None


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def track_from_spotify(obj: dict, track_id: str | None = None) -> TrackRecord | None:
    """A Spotify track object (search result, `GET /tracks/{id}`, a playlist row's item); None without an id.

    `track_id` overrides the object's own id (Spotify may answer a relinked track under another id).
    """
    if not obj or not (track_id or obj.get("id")):
        return None
    album = obj.get("album") or {}
    artists = tuple(ArtistRef(a.get("id"), a.get("name")) for a in obj.get("artists") or [] if a)
    return TrackRecord(id=track_id or obj["id"], name=obj.get("name"), artists=artists, album_name=album.get("name"),
                       duration_ms=obj.get("duration_ms"), release_date=album.get("release_date"),
                       explicit=_flag(obj.get("explicit")), isrc=(obj.get("external_ids") or {}).get("isrc"),
                       is_playable=_flag(obj.get("is_playable")), is_local=bool(obj.get("is_local")))


def track_from_reccobeats(track_id: str, row: dict) -> TrackRecord:
    """A row of `ReccoBeatsClient.tracks()` or `.recommendations()`: name, duration, artists, ISRC."""
    artists = tuple(ArtistRef(a.get("id"), a.get("name")) for a in row.get("artists") or [] if a)
    return TrackRecord(id=track_id, name=row.get("name"), artists=artists, duration_ms=row.get("duration_ms"),
                       isrc=row.get("isrc"))


__all__ = ["ArtistRef", "TrackRecord", "track_from_spotify", "track_from_reccobeats"]
