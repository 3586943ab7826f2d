"""spotify-model: a personal music-discovery loop for one Spotify user."""

__version__ = "0.1.0"
