"""One whole synthetic world (catalog, listener, history, library) and how to load it into a stand-in server."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .catalog import Catalog, make_catalog, spotify_ids
from .history import OwnPlaylist, make_own_library, simulate_history, simulate_podcast_plays
from .listener import Listener, Persona, make_listener

DEFAULT_END = "2026-06-01"
OTHER_USER_ID = "someone_else_42"


@dataclass
class World:
    """Everything the demo, tests and benchmarks need about one simulated person."""

    catalog: Catalog
    listener: Listener
    history: pd.DataFrame
    podcast_plays: pd.DataFrame
    playlists: list[OwnPlaylist]
    saved_tracks: list[tuple[str, pd.Timestamp]]
    top_artists: list[str]
    user: dict
    seed: int = 0

    def populate(self, state) -> dict[str, str]:
        """Fill a StandInState with this world; returns {playlist name: id} of the playlists created."""
        return populate_state(self, state)

    def write_export(self, path: str | Path, kind: str = "both", as_zip: bool = False) -> Path:
        from .export import write_export
        return write_export(path, self, kind=kind, as_zip=as_zip)  # type: ignore[arg-type]


def _playlist_id(created) -> str:
    return created["id"] if isinstance(created, dict) else str(created)


def populate_state(world: World, state) -> dict[str, str]:
    """Put the catalog, audio features, popularity, the user, their own playlists, saved tracks and top artists
    into `state` (anything with the StandInState attributes and helpers), plus one followed playlist named
    "data_1" owned by another user, which the tool must ignore."""
    cat = world.catalog
    state.tracks.update({obj["id"]: obj for obj in cat.iter_track_objects()})
    state.artists.update({aid: cat.artist_object(aid) for aid in cat.artists.index})
    state.audio_features.update(cat.reccobeats_rows())
    state.popularity.update(dict(zip(cat.tracks["track_id"], cat.tracks["popularity"].astype(float))))
    state.user = dict(world.user)
    state.saved_tracks = [tid for tid, _ in world.saved_tracks]
    state.top_artists = list(world.top_artists)
    created: dict[str, str] = {}
    for pl in world.playlists:
        pid = state.create_playlist(pl.name, owner_id=world.user["id"], public=False, description=pl.description,
                                    items=[f"spotify:track:{t}" for t in pl.track_ids])
        created[pl.name] = _playlist_id(pid)
        _set_added_dates(state, created[pl.name], pl.added_at)
    rng = np.random.default_rng([world.seed, 211])
    foreign = rng.choice(cat.tracks["track_id"].to_numpy(), size=min(5, len(cat.tracks)), replace=False)
    pid = state.create_playlist("data_1", owner_id=OTHER_USER_ID, public=True,
                                description="someone else's playlist that happens to share the name",
                                items=[f"spotify:track:{t}" for t in foreign])
    created[f"{OTHER_USER_ID}/data_1"] = _playlist_id(pid)
    if hasattr(state, "invalidate"):
        state.invalidate()  # the stand-in caches search indexes over the catalog we just replaced
    return created


def _set_added_dates(state, playlist_id: str, added_at: list[pd.Timestamp]) -> None:
    """Give the stand-in's playlist rows the listener's real add dates (best effort: only if rows are dicts)."""
    playlist = getattr(state, "playlists", {}).get(playlist_id)
    rows = playlist.get("items") if isinstance(playlist, dict) else None
    if not isinstance(rows, list) or len(rows) != len(added_at):
        return
    for row, ts in zip(rows, added_at):
        if isinstance(row, dict) and "added_at" in row:
            row["added_at"] = ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_world(seed: int = 0, persona: str | Persona | None = None, n_tracks: int = 20000, n_plays: int = 20000,
                end: str = DEFAULT_END, years: float = 3.0, catalog: Catalog | None = None) -> World:
    """A complete reproducible world. Pass `catalog` to reuse one catalog for several listeners."""
    catalog = catalog if catalog is not None else make_catalog(n_tracks=n_tracks, seed=seed)
    listener = make_listener(catalog, persona=persona, seed=seed)
    end_ts = pd.Timestamp(end, tz="UTC")
    start_ts = end_ts - pd.Timedelta(days=int(365.25 * years))
    history = simulate_history(listener, catalog, start=start_ts, end=end_ts, n_plays=n_plays, seed=seed)
    podcasts = simulate_podcast_plays(start_ts, end_ts, n=12, seed=seed)
    playlists, saved, top_artists = make_own_library(listener, catalog, history, seed=seed)
    user_id = spotify_ids(np.random.default_rng([seed, 3]), 1)[0].lower()[:12]
    user = {"id": user_id, "display_name": f"Sim {listener.name}", "type": "user", "uri": f"spotify:user:{user_id}"}
    return World(catalog=catalog, listener=listener, history=history, podcast_plays=podcasts, playlists=playlists,
                 saved_tracks=saved, top_artists=top_artists, user=user, seed=seed)
