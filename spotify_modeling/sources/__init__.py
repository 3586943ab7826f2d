"""The only code that talks HTTP: Spotify (spotipy), ReccoBeats and MusicBrainz clients."""

from spotify_modeling.sources.endpoints import endpoint_group
from spotify_modeling.sources.errors import ApiError, Forbidden, NotFound
from spotify_modeling.sources.musicbrainz import MusicBrainzClient
from spotify_modeling.sources.reccobeats import ReccoBeatsClient
from spotify_modeling.sources.spotify import SpotifyClient

__all__ = ["ApiError", "Forbidden", "MusicBrainzClient", "NotFound", "ReccoBeatsClient", "SpotifyClient",
           "endpoint_group"]
