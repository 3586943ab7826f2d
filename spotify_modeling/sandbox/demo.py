"""`spotify-model demo`: the whole loop on a synthetic world, offline, through the same code that talks to Spotify.

A simulated listener with a hidden taste gets a data export and a Spotify account on a local stand-in server. The
demo runs `features` and then `candidates` week after week through the real spotipy client, and the listener labels
each batch in between, as a person would in the Spotify app. Everything is kept in the demo home to look at.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from spotify_modeling.db.store import Store
from spotify_modeling.db.model_table import track_table
from spotify_modeling.errors import BadInput
from spotify_modeling.home import Home
from spotify_modeling.pipeline.features import Clients, FeaturesOptions, run_features
from spotify_modeling.pipeline.weekly_run import PoolEnricher, WeeklyConfig, WeeklyRun
from spotify_modeling.sandbox import simulate
from spotify_modeling.sandbox.standin import StandInServer, StandInState
from spotify_modeling.sources import DeezerClient, ReccoBeatsClient, SpotifyClient
from spotify_modeling.sources.auth import SCOPES, PrivateCacheFileHandler
from spotify_modeling.sources.endpoints import spotify_calls

MARKER = ".spotify-model-demo"
#: Deezer's pace in the demo: its 50 requests a window, the window ten times shorter than the real 5 s
DEMO_DEEZER_RATE = (50, 0.5)


@dataclass
class DemoWeek:
    """One simulated week. `labelled` / `liked`: what the listener labelled of that week's batch in that same week,
    the last week's included. The store (so `status` and the report) counts otherwise: only labels a weekly run has
    read (the last batch's wait for the next run), and a candidate labelled in a later week counts for its batch."""
    week: int
    pushed: int
    labelled: int
    liked: int
    by_slice: dict = field(default_factory=dict)   # slice -> (liked, labelled)
    stage2_auc: float | None = None
    calls: int = 0
    ceiling: float | None = None
    random: float | None = None
    expected: dict = field(default_factory=dict)   # slice -> mean like probability of its pushed tracks


@contextmanager
def _env(values: dict[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def prepare_home(root: Path) -> Home:
    """A fresh demo home; refuses to wipe a folder the demo did not create."""
    root = root.expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise BadInput(f"{root} is a file, not a folder.", "Pass a folder with --home.")
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise BadInput(f"{root} exists and was not made by the demo.", "Pass another folder with --home.")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by `spotify-model demo`; safe to delete\n")
    return Home(root).ensure()


def run_demo(home_dir: Path, weeks: int = 6, seed: int = 0, listener: str | None = None, n_tracks: int = 30000,
             n_plays: int = 6000, progress=None, config_overrides: dict | None = None) -> tuple[list[DemoWeek], dict]:
    """Build the world, run `features` once and `candidates` for `weeks` weeks; return one row per week."""

    say = progress or (lambda m: None)
    home = prepare_home(home_dir)
    say(f"Building a synthetic world (seed {seed}) in {home.root}")
    world = simulate.build_world(seed=seed, persona=listener, n_tracks=n_tracks, n_plays=n_plays)
    state = StandInState()
    world.populate(state, deezer=True)
    state.deezer_rate = DEMO_DEEZER_RATE   # a demo is minutes, not days: Deezer's pace ten times faster
    export = world.write_export(home.raw / "my_spotify_data.zip", as_zip=True)
    rng = np.random.default_rng([seed, 7])
    rows: list[DemoWeek] = []
    # the demo's own token cache, whatever SPOTIFY_MODEL_TOKEN_CACHE says: a real login is never touched
    with StandInServer(state) as server, _env({**server.env(), "SPOTIPY_CLIENT_ID": "spotify-model-demo",
                                               "SPOTIFY_MODEL_HOME": str(home.root),
                                               "SPOTIFY_MODEL_TOKEN_CACHE": str(home.data / ".spotify_token_cache")}):
        _write_token(home, server)
        say("features: importing the export and enriching it through the stand-in Spotify")
        # the very pipeline `spotify-model features` runs, with the demo's Deezer pace and its own short lines
        run_features(home, export, FeaturesOptions(), DemoFeaturesReporter(say), make_clients=_demo_clients)
        store = Store.open(home)
        try:
            # "last_report": the last week's `WeeklyReport`, what `spotify-model candidates` would have printed
            info = {"listener": world.listener.name, "home": str(home.root), "last_report": None}
            for week in range(1, weeks + 1):
                state.reset_day()
                spotify = SpotifyClient.from_env(home, recorder=store)
                recco = ReccoBeatsClient(recorder=store)
                cfg = WeeklyConfig.from_home(home, seed=seed * 1000 + week, **(config_overrides or {}))
                run = WeeklyRun(store, home, spotify, recco, cfg,
                                enricher=PoolEnricher(store, spotify, recco, _deezer(store)))
                report = run.run()
                # what the listener's own top picks and random picks from the same pool would score
                pool = run.scored_pool if run.scored_pool is not None else track_table(store, [])
                k = max(1, len(report.pushed))
                # expected like rates (not one noisy draw): the listener's own top k, and k random picks
                like_p = world.listener.like_probability
                ceiling = float(np.mean(like_p(world.listener.ideal_picks(pool, k)))) if len(pool) else None
                random_rate = float(np.mean(like_p(pool))) if len(pool) else None
                labels = simulate.label_candidates(state, world.listener, world.catalog, rng)
                pushed_ids = {p["track_id"] for p in report.pushed}
                liked_now = pushed_ids & set(labels["liked_ids"])
                disliked_now = pushed_ids & set(labels["disliked_ids"])
                by_slice = {}
                for p in report.pushed:
                    s = by_slice.setdefault(p["slice"], [0, 0])
                    if p["track_id"] in liked_now:
                        s[0] += 1
                        s[1] += 1
                    elif p["track_id"] in disliked_now:
                        s[1] += 1
                expected: dict = {}
                if report.pushed:
                    probs = like_p(pd.DataFrame({"track_id": [p["track_id"] for p in report.pushed]}))
                    for sl in {p["slice"] for p in report.pushed}:
                        expected[sl] = float(np.mean([q for p, q in zip(report.pushed, probs) if p["slice"] == sl]))
                    expected["all"] = float(np.mean(probs))
                rows.append(DemoWeek(week, len(report.pushed), len(liked_now) + len(disliked_now), len(liked_now),
                                     {k_: tuple(v) for k_, v in by_slice.items()},
                                     (report.stage2 or {}).get("cv_auc"), report.calls_total, ceiling, random_rate,
                                     expected))
                info["last_report"] = report
                say(f"week {week}: pushed {len(report.pushed)}, liked {len(liked_now)} of "
                    f"{len(liked_now) + len(disliked_now)} labelled")
        finally:
            store.close()
    return rows, info


def _write_token(home: Home, server) -> None:
    """A stand-in login in the demo's own token cache, written the way `login` writes one (0600, atomic)."""

    PrivateCacheFileHandler(cache_path=str(home.token_cache)).save_token_to_cache(server.issue_token(SCOPES))


def _deezer(store) -> DeezerClient:
    """The stand-in's Deezer, at the demo's pace (the same client `features` builds, the window shrunk)."""
    return DeezerClient(recorder=store, rate=DEMO_DEEZER_RATE)


def _demo_clients(home: Home, store, opts: FeaturesOptions, note) -> Clients:
    """`features`' clients, with the stand-in's Deezer at the demo's pace."""
    return Clients(SpotifyClient.from_env(home, recorder=store), ReccoBeatsClient(recorder=store), None,
                   _deezer(store))


class DemoFeaturesReporter:
    """`run_features` told in the demo's few lines (the CLI shows tables and progress bars instead)."""

    def __init__(self, say):
        self.say = say

    def waiting(self, holder) -> None: ...
    def step(self, text: str) -> None: ...
    def imported(self, result, summary: dict, csv_path) -> None: ...
    def continuing(self, plays: int) -> None: ...
    def web_api(self, got, fresh_since) -> None: ...
    def progress(self, step: str, done: int, total: int) -> None: ...

    def note(self, text: str) -> None:
        self.say(f"note: {text}")

    quiet = warn = note

    def enriched(self, report, rows: int) -> None:
        calls = spotify_calls(report.calls_this_run)
        self.say(f"features: enriched with {calls} Spotify calls; {_coverage_line(report.coverage)}")

    def trained(self, retrain) -> None:
        trained = retrain.report.trained if retrain.report is not None else []
        self.say(f"stage 1 trained: {', '.join(trained) or 'nothing'}"
                 + (f" ({retrain.waiting})" if retrain.waiting else ""))


def _coverage_line(cov: dict) -> str:
    """'ids for 100% of plays, audio features for 91%, genres for 78%' from enrich's coverage numbers."""
    parts = []
    for key, label in (("with_id", "ids"), ("with_features", "audio features"), ("with_genres", "genres")):
        share = (cov.get(key) or {}).get("share_of_plays")
        if share is not None:
            parts.append(f"{label} for {share:.0%}" + (" of plays" if not parts else ""))
    return ", ".join(parts) or "coverage unknown"


def demo_table(rows: list[DemoWeek]) -> pd.DataFrame:
    def rate(t):
        return None if not t or not t[1] else t[0] / t[1]

    return pd.DataFrame([{
        "week": r.week, "pushed": r.pushed, "labelled": r.labelled, "liked": r.liked,
        "hit": (r.liked / r.labelled) if r.labelled else None,
        "exploit": rate(r.by_slice.get("exploit")), "explore": rate(r.by_slice.get("explore")),
        "control": rate(r.by_slice.get("control")), "AUC": r.stage2_auc, "calls": r.calls,
        "ceiling": r.ceiling, "random": r.random} for r in rows])
