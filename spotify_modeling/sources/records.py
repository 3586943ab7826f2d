"""The typed records now live in `spotify_modeling.core.records` (below both db/ and sources/); re-exported here
under their old address."""

from spotify_modeling.core.records import (ArtistRecord, ArtistRef, AudioFeatures, DeezerTrack, PlaylistItem,
                                           PlaylistRecord, TrackRecord, track_from_reccobeats, track_from_spotify)

__all__ = ["ArtistRecord", "ArtistRef", "AudioFeatures", "DeezerTrack", "PlaylistItem", "PlaylistRecord",
           "TrackRecord", "track_from_reccobeats", "track_from_spotify"]
