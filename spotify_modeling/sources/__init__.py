"""The only code that talks HTTP: Spotify (spotipy), ReccoBeats, MusicBrainz and Deezer clients."""

from spotify_modeling.sources.deezer import DeezerClient, deezer_url_from_env
from spotify_modeling.sources.endpoints import endpoint_group
from spotify_modeling.sources.errors import ApiError, Forbidden, NotFound
from spotify_modeling.sources.musicbrainz import MusicBrainzClient
from spotify_modeling.sources.reccobeats import ReccoBeatsClient
from spotify_modeling.sources.spotify import SpotifyClient

__all__ = ["ApiError", "DeezerClient", "Forbidden", "MusicBrainzClient", "NotFound", "ReccoBeatsClient",
           "SpotifyClient", "deezer_url_from_env", "endpoint_group"]
