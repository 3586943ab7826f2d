"""One whole synthetic world (catalog, listener, history, library) and how to load it into a stand-in server."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from .catalog import Catalog, make_catalog, spotify_ids
from .export import NameVariants, write_export
from .history import (
    OWN,
    OwnPlaylist,
    add_noise_library,
    make_own_library,
    simulate_history,
    simulate_podcast_plays,
)
from .listener import (
    Drift,
    Listener,
    Persona,
    drift_listener,
    make_listener,
    make_partner,
)

DEFAULT_END = "2026-06-01"
OTHER_USER_ID = "someone_else_42"
#: share of the catalogue Deezer also has (`populate(state, deezer=True)`): a stated figure, not a measured one
DEEZER_COVERAGE = 0.99

#: A realistic listener, as `build_world(..., **REALISTIC)`: a fifth of the plays from outside their taste, and a
#: current taste whose plays would differ from the history's by a total variation of 0.08 over fine genres. Where the
#: figures come from: `history` (noise) and `listener` (drift) module docstrings.
REALISTIC: Mapping[str, object] = MappingProxyType({"history_noise": 0.2, "drift": Drift(total_variation=0.08)})


#: Spotify's top-track time ranges: about the last 4 weeks, 6 months, and "several years" (the whole history here)
TOP_RANGES = {"short_term": 28, "medium_term": 182, "long_term": None}


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
    #: the taste that produced the history, playlists and saved tracks; `listener` is the current one (labels, like
    #: probabilities, ideal picks). The same object as `listener` without drift.
    history_listener: Listener | None = None
    #: per history row: "own" or the noise context it came from (`NOISE_CONTEXTS`), same index as `history`
    play_context: pd.Series | None = None
    partner: Listener | None = None   # the second person on the account (history noise), if any
    drift: Drift | None = None        # the drift as applied (families and strength resolved), if any
    history_noise: float = 0.0

    def __post_init__(self) -> None:
        if self.history_listener is None:
            self.history_listener = self.listener
        if self.play_context is None:
            self.play_context = pd.Series(OWN, index=self.history.index, name="context", dtype=object)

    @property
    def noise_plays(self) -> np.ndarray:
        """Boolean mask over `history` rows: True for plays from outside the listener's taste."""
        return (self.play_context != OWN).to_numpy()

    @property
    def noise_track_ids(self) -> set[str]:
        """Tracks in the history that only ever came from noise (never played as the listener's own choice)."""
        own = ~self.noise_plays
        return set(self.history["track_id"][~own]) - set(self.history["track_id"][own])

    def populate(self, state, deezer: bool = False) -> dict[str, str]:
        """Fill a StandInState with this world; returns {playlist name: id} of the playlists created.
        `deezer`: Deezer has the catalogue too (`DEEZER_COVERAGE` of it), with the same ISRCs."""
        return populate_state(self, state, deezer=deezer)

    def write_export(self, path: str | Path, kind: str = "both", as_zip: bool = False,
                     name_variants: NameVariants | None = None) -> Path:
        return write_export(path, self, kind=kind, as_zip=as_zip,  # type: ignore[arg-type]
                            name_variants=name_variants)


    def top_tracks(self, time_range: str, n: int = 50) -> list[str]:
        """The account's most played tracks of a Spotify time range (plays of 30 s or more), as `GET /me/top/tracks`
        answers them: most played first, ties by the latest play. Spotify cannot tell whose plays they were, so a
        noisy history's sleep playlist or partner counts here as in the export."""
        h = self.history
        h = h[h["ms_played"] >= 30_000]
        days = TOP_RANGES[time_range]
        if days is not None and len(h):
            h = h[h["ts"] >= h["ts"].max() - pd.Timedelta(days=days)]
        counts = h.groupby("track_id").agg(n=("ts", "size"), last=("ts", "max"))
        return counts.sort_values(["n", "last"], ascending=False).head(n).index.tolist()

def _playlist_id(created) -> str:
    return created["id"] if isinstance(created, dict) else str(created)


def populate_state(world: World, state, deezer: bool = False) -> dict[str, str]:
    """Put the catalog, audio features, popularity, the user, their own playlists, saved tracks and top artists
    into `state` (anything with the StandInState attributes and helpers), plus one followed playlist named
    "data_1" owned by another user, which the tool must ignore. `deezer`: Deezer copies of `DEEZER_COVERAGE` of
    the catalogue's tracks (drawn by the world's seed), with the ISRCs ReccoBeats knows them by."""
    cat = world.catalog
    state.tracks.update({obj["id"]: obj for obj in cat.iter_track_objects()})
    state.artists.update({aid: cat.artist_object(aid) for aid in cat.artists.index})
    state.audio_features.update(cat.reccobeats_rows())
    state.popularity.update(dict(zip(cat.tracks["track_id"], cat.tracks["popularity"].astype(float))))
    state.user = dict(world.user)
    state.saved_tracks = [tid for tid, _ in world.saved_tracks]
    state.top_artists = list(world.top_artists)
    state.top_tracks_by_range = {r: world.top_tracks(r) for r in TOP_RANGES}
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
    if deezer:
        ids = cat.tracks["track_id"].to_numpy()
        covered = np.random.default_rng([world.seed, 307]).random(len(ids)) < DEEZER_COVERAGE
        state.add_deezer_copies([str(t) for t in ids[covered]])
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
                end: str = DEFAULT_END, years: float = 3.0, catalog: Catalog | None = None, *,
                history_noise: float = 0.0, drift: float | Drift | None = None) -> World:
    """A complete reproducible world. Pass `catalog` to reuse one catalog for several listeners.

    Opt-in realism (both off by default, which gives the same world, byte for byte, as before they existed):
    `history_noise`: share of the plays from outside the listener's taste (sleep/focus playlists, a second person on
    the account, autoplay), with the playlists and saved tracks that come with them; `World.play_context` says which.
    `drift`: the current taste (`World.listener`) differs from the one that made the history
    (`World.history_listener`); a number is a `Drift` strength. `**REALISTIC` sets both to sourced values.
    """
    catalog = catalog if catalog is not None else make_catalog(n_tracks=n_tracks, seed=seed)
    history_listener = make_listener(catalog, persona=persona, seed=seed)
    return world_from_listener(history_listener, catalog, seed=seed, n_plays=n_plays, end=end, years=years,
                               history_noise=history_noise, drift=drift)


def world_from_listener(history_listener: Listener, catalog: Catalog, *, seed: int = 0, n_plays: int = 20000,
                        end: str = DEFAULT_END, years: float = 3.0, history_noise: float = 0.0,
                        drift: float | Drift | None = None, user_id: str | None = None) -> World:
    """The rest of a world around a listener whose taste made the history (`build_world` after its listener).

    `catalog` is what the history is played from; the listener's taste may be defined on another catalog of the same
    tracks in the same order (the quality benchmark's real-catalog listener). Realism options as in `build_world`.
    """
    spec = Drift.coerce(drift)
    listener, applied = drift_listener(history_listener, spec, seed=seed) if spec else (history_listener, None)
    partner = make_partner(history_listener, seed=seed) if history_noise > 0 else None
    end_ts = pd.Timestamp(end, tz="UTC")
    start_ts = end_ts - pd.Timedelta(days=int(365.25 * years))
    history = simulate_history(history_listener, catalog, start=start_ts, end=end_ts, n_plays=n_plays, seed=seed,
                               noise=history_noise, partner=partner)
    context = history.pop("context") if "context" in history else None
    podcasts = simulate_podcast_plays(start_ts, end_ts, n=12, seed=seed)
    if context is None:
        playlists, saved, top_artists = make_own_library(history_listener, catalog, history, seed=seed)
    else:  # the listener curates from their own plays; the noise brings its own playlists and saved tracks
        own = history[(context == OWN).to_numpy()]
        playlists, saved, top_artists = make_own_library(history_listener, catalog, own, seed=seed, all_plays=history)
        playlists, saved = add_noise_library(playlists, saved, history, context, partner, seed=seed)
    if user_id is None:
        user_id = spotify_ids(np.random.default_rng([seed, 3]), 1)[0].lower()[:12]
    user = {"id": user_id, "display_name": f"Sim {listener.name}", "type": "user", "uri": f"spotify:user:{user_id}"}
    return World(catalog=catalog, listener=listener, history=history, podcast_plays=podcasts, playlists=playlists,
                 saved_tracks=saved, top_artists=top_artists, user=user, seed=seed, history_listener=history_listener,
                 play_context=context, partner=partner, drift=applied, history_noise=float(history_noise))
