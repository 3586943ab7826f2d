"""Typed records of what the services return, parsed once at the boundary so the layers above never dig in raw JSON.

The clients (`sources/`) parse each payload into one of these with its `from_api` classmethod; the store (`db/`) and
the pipeline read their attributes. They live in core, below both `db/` and `sources/`, so the store needs no import
of the HTTP layer to take them. Each `from_api` tolerates what the documented shapes leave out (a missing or null
field is None, a missing list is empty), exactly as the code that dug in the JSON did.

Spotify track objects arrive from search, `GET /tracks/{id}`, Liked Songs, top tracks, recently played and playlist
rows; ReccoBeats rows carry a subset of the same facts, Deezer's others. `TrackRecord` is what the store's one track
upsert (`db.tracks.upsert_tracks`) takes from all of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from spotify_modeling.core.featurize import AUDIO_FEATURES
from spotify_modeling.core.matching import MatchCandidate


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def as_int(value: Any) -> int | None:
    """`value` as an int, None when it is none (a payload's number may be missing, null or a string)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> str | None:
    """"YYYY-MM-DD", or None for Deezer's "0000-00-00" (unknown) and anything else it should not be."""
    text = str(value or "")
    if len(text) < 4 or not text[:4].isdigit() or text.startswith("0000"):
        return None
    return text[:10]


# ------------------------------------------------------------------------------------------------ tracks
@dataclass(frozen=True)
class ArtistRef:
    id: str | None
    name: str | None

    @classmethod
    def from_api(cls, obj: dict) -> "ArtistRef":
        """A (simplified) artist object of a track: its id and name, None where not said."""
        return cls(obj.get("id"), obj.get("name"))


def _artist_refs(obj: dict) -> tuple[ArtistRef, ...]:
    return tuple(ArtistRef.from_api(a) for a in obj.get("artists") or [] if a)


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
    kind: str | None = "track"   # Spotify's `type` ("track", or "episode" in a playlist); "track" when not said

    @property
    def artist_names(self) -> list[str | None]:
        return [a.name for a in self.artists]

    @property
    def artist_ids(self) -> list[str] | None:
        """The artists' ids, or None when any is unknown (a partial list would misattribute the track)."""
        ids = [a.id for a in self.artists]
        return ids if ids and all(ids) else None

    @property
    def first_artist(self) -> str | None:
        """The first credited artist's name (None when there is none), as names are keyed."""
        return self.artists[0].name if self.artists else None

    @property
    def is_track(self) -> bool:
        """A catalog track (not a local file, not an episode): what the tool can read, offer and store."""
        return not self.is_local and self.kind == "track"

    @classmethod
    def from_api(cls, obj: dict | None, track_id: str | None = None) -> "TrackRecord | None":
        """A Spotify track object (search result, `GET /tracks/{id}`, a playlist row's item); None without an id.

        `track_id` overrides the object's own id (Spotify may answer a relinked track under another id).
        """
        if not obj or not (track_id or obj.get("id")):
            return None
        album = obj.get("album") or {}
        return cls(id=track_id or obj["id"], name=obj.get("name"), artists=_artist_refs(obj),
                   album_name=album.get("name"), duration_ms=obj.get("duration_ms"),
                   release_date=album.get("release_date"), explicit=_flag(obj.get("explicit")),
                   isrc=(obj.get("external_ids") or {}).get("isrc"), is_playable=_flag(obj.get("is_playable")),
                   is_local=bool(obj.get("is_local")), kind=obj.get("type", "track"))

    @classmethod
    def from_reccobeats(cls, track_id: str, row: dict) -> "TrackRecord":
        """A ReccoBeats track row as its client reads it (`track` or `track/recommendation`): name, duration,
        artists (ids from their `href`), ISRC."""
        return cls(id=track_id, name=row.get("name"), artists=_artist_refs(row), duration_ms=row.get("duration_ms"),
                   isrc=row.get("isrc"))


def track_from_spotify(obj: dict, track_id: str | None = None) -> TrackRecord | None:
    """`TrackRecord.from_api` under its older name."""
    return TrackRecord.from_api(obj, track_id)


def track_from_reccobeats(track_id: str, row: dict) -> TrackRecord:
    """`TrackRecord.from_reccobeats` under its older name."""
    return TrackRecord.from_reccobeats(track_id, row)


# ------------------------------------------------------------------------------------------------ artists
@dataclass(frozen=True)
class ArtistRecord:
    """A full Spotify artist object (`GET /artists/{id}`, top artists): its genres are None when it gave no list."""

    id: str | None
    name: str | None = None
    genres: tuple[str, ...] | None = None

    @classmethod
    def from_api(cls, obj: dict | None) -> "ArtistRecord | None":
        if not obj:
            return None
        genres = obj.get("genres")
        return cls(id=obj.get("id"), name=obj.get("name"), genres=tuple(genres) if isinstance(genres, list) else None)


@dataclass(frozen=True)
class CreditedArtist:
    """A MusicBrainz artist credited on a recording (`isrc/{ISRC}?inc=artists`): its MBID and name."""

    mbid: str
    name: str | None = None

    @classmethod
    def from_api(cls, credit: dict) -> "CreditedArtist | None":
        """One `artist-credit` entry; the artist's own name, else the credited one; None without an MBID."""
        artist = (credit or {}).get("artist") or {}
        if not artist.get("id"):
            return None
        return cls(artist["id"], artist.get("name") or credit.get("name"))


# ------------------------------------------------------------------------------------------------ playlists
@dataclass(frozen=True)
class PlaylistRecord:
    """A (simplified) playlist object: `GET me/playlists` rows, a new playlist."""

    id: str | None
    name: str | None = None
    owner_id: str | None = None
    snapshot_id: str | None = None

    @classmethod
    def from_api(cls, obj: dict | None) -> "PlaylistRecord | None":
        if not obj:
            return None
        return cls(id=obj.get("id"), name=obj.get("name"), owner_id=(obj.get("owner") or {}).get("id"),
                   snapshot_id=obj.get("snapshot_id"))


def item_kind(obj: dict | None, is_local: bool) -> str:
    """What a playlist row holds: "track", or "missing" / "local" / "episode" (another type: its name) to skip."""
    if obj is None:
        return "missing"
    if is_local or obj.get("is_local") or not obj.get("id"):
        return "local"
    if obj.get("type", "track") != "track":
        return "episode" if obj.get("type") == "episode" else str(obj.get("type"))
    return "track"


@dataclass(frozen=True)
class PlaylistItem:
    """One row of `GET playlists/{id}/items`: what it holds (`kind`), its id (a track's only), its names as the
    snapshot keeps them (a local file has names but no id), and the track's record when it is a track."""

    kind: str
    id: str | None = None
    uri: str | None = None
    added_at: str | None = None
    name: str | None = None
    first_artist: str | None = None
    album_name: str | None = None
    track: TrackRecord | None = None

    @classmethod
    def from_api(cls, row: dict | None) -> "PlaylistItem":
        """A playlist row: the object under `item` (2026), else under `track` (before)."""
        row = row or {}
        obj = row.get("item") if row.get("item") is not None else row.get("track")
        kind = item_kind(obj, bool(row.get("is_local")))
        body = obj or {}
        return cls(kind=kind, id=body.get("id") if kind == "track" else None, uri=body.get("uri"),
                   added_at=row.get("added_at"), name=body.get("name"),
                   first_artist=((body.get("artists") or [{}])[0] or {}).get("name"),
                   album_name=(body.get("album") or {}).get("name"), track=TrackRecord.from_api(obj))


# ------------------------------------------------------------------------------------------------ audio features
@dataclass(frozen=True)
class AudioFeatures:
    """One track's audio features as a source gave them (feature name -> value; ReccoBeats' key -1 is None), and
    what ReccoBeats tells with them (the ISRC, its own id)."""

    values: dict
    isrc: str | None = None
    reccobeats_id: str | None = None

    @classmethod
    def from_api(cls, obj: dict | None) -> "AudioFeatures | None":
        """Spotify's audio features object (`GET /audio-features/{id}`): its 11 features and time_signature as
        given; None for no answer or an empty one."""
        if not obj:
            return None
        return cls({name: obj.get(name) for name in (*sorted(AUDIO_FEATURES), "time_signature")})

    def as_stored(self) -> dict:
        """The mapping `db.tracks.insert_features` takes (the features, and the ISRC and id beside them)."""
        return {**self.values, "isrc": self.isrc, "reccobeats_id": self.reccobeats_id}


@dataclass(frozen=True)
class IsrcFeatures:
    """ReccoBeats' answer for one ISRC: the Spotify track id (from `href`) and the 11 audio features."""

    isrc: str
    track_id: str
    features: dict = field(default_factory=dict)   # feature name -> value (key -1 is None), as insert_features takes
    reccobeats_id: str | None = None


# ------------------------------------------------------------------------------------------------ Deezer
@dataclass(frozen=True)
class DeezerTrack:
    """A Deezer track as search (no ISRC, no date) or `track/{id}` (everything) describes it; None: not said."""

    id: int
    title: str | None = None
    title_short: str | None = None
    artist: str | None = None             # the main artist's name
    artist_id: int | None = None
    album: str | None = None
    duration_ms: int | None = None        # Deezer says whole seconds
    rank: int | None = None
    explicit: bool | None = None
    isrc: str | None = None               # track/{id} only
    release_date: str | None = None       # track/{id} only; "0000-00-00" is None
    contributors: tuple[str, ...] = ()    # track/{id} only: every credited artist's name
    bpm: float | None = None              # 0 (unknown) is None
    gain: float | None = None

    @classmethod
    def from_api(cls, obj: dict) -> "DeezerTrack | None":
        if not isinstance(obj, dict) or as_int(obj.get("id")) is None:
            return None
        artist = obj.get("artist") if isinstance(obj.get("artist"), dict) else {}
        album = obj.get("album") if isinstance(obj.get("album"), dict) else {}
        seconds = as_int(obj.get("duration"))
        explicit = obj.get("explicit_lyrics")
        isrc = str(obj.get("isrc") or "").strip().upper() or None
        contributors = tuple(str(c.get("name")) for c in obj.get("contributors") or []
                             if isinstance(c, dict) and c.get("name"))
        bpm = _float(obj.get("bpm"))
        return cls(id=int(obj["id"]), title=obj.get("title"), title_short=obj.get("title_short"),
                   artist=artist.get("name"), artist_id=as_int(artist.get("id")), album=album.get("title"),
                   duration_ms=seconds * 1000 if seconds else None, rank=as_int(obj.get("rank")),
                   explicit=None if explicit is None else bool(explicit), isrc=isrc,
                   release_date=_date(obj.get("release_date") or album.get("release_date")),
                   contributors=contributors, bpm=bpm if bpm else None, gain=_float(obj.get("gain")))

    from_payload = from_api   # its older name

    # the store keeps answers as JSON (db.tracks); these two are the only translation
    def to_stored(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if v not in (None, ())}

    @classmethod
    def from_stored(cls, row: dict) -> "DeezerTrack":
        known = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        known["contributors"] = tuple(known.get("contributors") or ())
        return cls(**known)

    def candidate(self) -> MatchCandidate:
        """As matching sees it: the title, the main artist and every contributor, the duration."""
        names = tuple(dict.fromkeys(n for n in (self.artist, *self.contributors) if n))
        return MatchCandidate(self.id, self.title, names, self.duration_ms)

    def track_record(self, spotify_id: str, name: str | None = None, artist: str | None = None) -> TrackRecord:
        """What Deezer tells about the Spotify track `spotify_id` (a partial source: the store only fills what is
        unknown). `name`/`artist`: how Spotify names it (the export), preferred to Deezer's spelling. No artist
        ids (Deezer's are not Spotify's) and no duration (Deezer's is rounded to the second; ReccoBeats has it
        to the millisecond)."""
        artists = (ArtistRef(None, artist or self.artist),) if (artist or self.artist) else ()
        return TrackRecord(id=spotify_id, name=name or self.title, artists=artists, album_name=self.album,
                           release_date=self.release_date, explicit=self.explicit, isrc=self.isrc)


__all__ = ["as_int", "ArtistRecord", "ArtistRef", "AudioFeatures", "CreditedArtist", "DeezerTrack", "IsrcFeatures",
           "PlaylistItem", "PlaylistRecord", "TrackRecord", "item_kind", "track_from_reccobeats", "track_from_spotify"]
