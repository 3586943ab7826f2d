"""Synthetic world for the offline demo, tests and benchmarks.

A catalog with realistic genres and correlated audio features, a listener with a hidden taste, a listening
history with realistic behaviour, a Spotify data export in the real file shapes, a loader into the stand-in
server, and a simulated person who labels candidates. Everything is seeded (`numpy.random.default_rng`).
"""
from ._vocab import GENRE_FAMILIES
from .catalog import AUDIO_FEATURES, TRACK_COLUMNS, Catalog, make_catalog, spotify_ids
from .export import export_files, write_export
from .history import (
    HISTORY_COLUMNS, NOISE_CONTEXTS, NOISE_MIX, OWN, OwnPlaylist, add_noise_library, make_own_library, simulate_history,
    simulate_podcast_plays,
)
from .labelling import label_candidates
from .listener import (
    PERSONAS, Drift, Listener, Persona, drift_listener, genre_play_distribution, like_probability_from_appeal,
    make_listener, make_partner, random_persona, taste_distance,
)
from .world import REALISTIC, World, build_world, populate_state, world_from_listener

__all__ = [
    "AUDIO_FEATURES", "GENRE_FAMILIES", "TRACK_COLUMNS", "HISTORY_COLUMNS", "NOISE_CONTEXTS", "NOISE_MIX", "OWN", "PERSONAS",
    "REALISTIC", "Catalog", "Drift", "Listener", "OwnPlaylist", "Persona", "World", "add_noise_library", "build_world",
    "drift_listener", "export_files", "genre_play_distribution", "label_candidates", "like_probability_from_appeal",
    "make_catalog", "make_listener", "make_own_library", "make_partner", "populate_state", "random_persona",
    "simulate_history", "simulate_podcast_plays", "spotify_ids", "taste_distance", "world_from_listener", "write_export",
]
