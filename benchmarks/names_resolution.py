"""How far one `spotify-model features` run gets with a names-only export (prints figures; not a test).

The user report behind it: an account-data export of 9,463 plays and 4,271 distinct (artist, track) names without
URIs needed 9 quota days of Spotify searches. Here a simulated listener's names-only export (4,000+ distinct names;
`NameVariants()`: 15% of the tracks spelled differently on about half their plays, 1% of the names of tracks in no
catalogue) goes through the real command, in-process, against the local stand-in, which serves Spotify (a daily
quota of 400 searches), ReccoBeats and Deezer (`DEEZER_COVERAGE` of the catalogue, the same ISRCs, Deezer's pace
limit: more than 50 requests in 5 s gets code 4). After the first run it prints:

- of the names that can be resolved at all (their track is in the catalogue), the share with a Spotify id and with
  an id and audio features (target >= 90%), and the share with the right id;
- Spotify search calls as a share of the names (target <= 10%), and why each fallback search was needed;
- calls per service, and repeated successful GETs (Spotify catalogue, Deezer, ReccoBeats; target 0);
- the wall time of the run.

Run: `python benchmarks/names_resolution.py` (Deezer's real pace: about 15 minutes, most of it waiting for Deezer's
rate limit). `--pace-scale 0.02` shrinks the stand-in's window and the client's pace alike for a quick look; the
wall time it prints is then not the real one, so it also prints the time Deezer's real pace alone would take.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager, redirect_stdout
from unittest import mock
from io import StringIO
from pathlib import Path

from spotify_modeling import sources
from spotify_modeling.cli import main as cli
from spotify_modeling.core.normalize import name_key
from spotify_modeling.db import history, tracks
from spotify_modeling.db.store import Store
from spotify_modeling.db.model_table import describe_tracks
from spotify_modeling.sandbox import simulate
from spotify_modeling.sandbox.simulate.export import NameVariants, account_plays
from spotify_modeling.sandbox.simulate.world import DEEZER_COVERAGE
from spotify_modeling.sandbox.standin import StandInServer, StandInState
from spotify_modeling.sources.auth import SCOPES, PrivateCacheFileHandler

WORLD = {"seed": 11, "persona": "eclectic", "n_tracks": 80_000, "n_plays": 12_000, "years": 1.0,
         "history_noise": 0.2}
SEARCH_QUOTA = 400
DEEZER_RATE = (50, 5.0)
CATALOG_GROUPS = ("search", "tracks", "artists", "albums")


@contextmanager
def _deezer_pace(scale: float):
    """The Deezer client `features` builds, paced at `scale` times Deezer's window (1.0: the real pace)."""
    real = sources.DeezerClient

    class Scaled(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{"rate": (DEEZER_RATE[0], DEEZER_RATE[1] * scale),
                                       "quota_wait": 5.0 * scale, **kwargs})

    sources.DeezerClient = Scaled
    try:
        yield
    finally:
        sources.DeezerClient = real


def repeated(calls, groups) -> int:
    """Successful GETs of a URL already answered before (Deezer's "no data" counts as an answer, its rate limit
    and "busy" do not)."""
    seen = Counter((c.path, tuple(sorted(c.query.items()))) for c in calls
                   if c.method == "GET" and c.group in groups and c.status == 200 and c.fault is None
                   and c.deezer_error not in (4, 700))
    return sum(n - 1 for n in seen.values())


def truth_by_name(world, variants: NameVariants) -> dict[str, str | None]:
    """Each name key of the export's plays -> the catalogue track most of its plays are of (None: none)."""
    plays = account_plays(world, variants)
    votes: dict[str, Counter] = {}
    for artist, title, tid in zip(plays["artist_name"], plays["track_name"], plays["track_id"]):
        votes.setdefault(name_key(artist, title), Counter())[tid] += 1
    return {k: c.most_common(1)[0][0] for k, c in votes.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=WORLD["seed"])
    parser.add_argument("--pace-scale", type=float, default=1.0,
                        help="Deezer's 5 s window times this, in the stand-in and the client alike (1: real).")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the home and export under this folder.")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    world = simulate.build_world(**{**WORLD, "seed": args.seed})
    variants = NameVariants()
    truth = truth_by_name(world, variants)
    state = StandInState()
    world.populate(state, deezer=True)
    state.quotas = {"search": SEARCH_QUOTA}
    state.deezer_rate = (DEEZER_RATE[0], DEEZER_RATE[1] * args.pace_scale)
    recco_known = set(state.audio_features)
    built = time.perf_counter() - t0

    root = args.keep or Path(tempfile.mkdtemp(prefix="names-bench-"))
    export = world.write_export(root / "export", kind="account", name_variants=variants)
    home = root / "home"
    (home / "data").mkdir(parents=True, exist_ok=True)
    token = home / "data" / ".tc"
    env = {"SPOTIFY_MODEL_HOME": str(home), "SPOTIPY_CLIENT_ID": "benchmark", "SPOTIFY_MODEL_TOKEN_CACHE": str(token)}
    with StandInServer(state) as server, mock.patch.dict(os.environ, {**server.env(), **env}), \
            _deezer_pace(args.pace_scale):
        PrivateCacheFileHandler(cache_path=str(token)).save_token_to_cache(server.issue_token(SCOPES))
        out = StringIO()
        start = time.perf_counter()
        with redirect_stdout(out):
            code = cli(["features", str(export)])
        wall = time.perf_counter() - start
        calls = list(server.calls)

    with Store(home / "data" / "spotify_model.db") as store:
        resolved: dict[str, str | None] = {}
        for chunk in history.history_rows(store):
            for ts, ms, title, artist, album, tid, *_ in chunk:
                key = name_key(artist, title)
                if tid or key not in resolved:
                    resolved[key] = tid
        ids = sorted({t for t in resolved.values() if t})
        table = describe_tracks(store, ids, features_source="reccobeats")
        with_features = set(table.loc[table["danceability"].notna(), "track_id"])
        how = tracks.lookups_by_how(store)
        hows = tracks.lookup_hows(store)
        unresolved, _missed = history.name_counts(store)

    names = len(resolved)
    resolvable = [k for k in resolved if truth.get(k)]
    reachable = [k for k in resolvable if truth[k] in recco_known]   # ReccoBeats has features for the track
    with_id = [k for k in resolvable if resolved[k]]
    right = [k for k in with_id if resolved[k] == truth[k]]
    full = [k for k in with_id if resolved[k] in with_features]
    looked_up = sum(n for h, n in how.items() if h not in ("uri", "export"))
    by_group = Counter(c.group for c in calls)
    searches = by_group.get("search", 0)
    deezer_calls = by_group.get("deezer", 0)
    limited = sum(1 for c in calls if c.group == "deezer" and c.deezer_error == 4)
    on_deezer = {str(t.get("isrc")) for t in state.deezer_tracks.values()}
    isrc = {tid: str((t.get("external_ids") or {}).get("isrc")) for tid, t in state.tracks.items()}
    fallback: Counter = Counter()
    for key, h in hows.items():
        if h in ("search", "miss"):
            tid = truth.get(key)
            fallback["in no catalogue" if tid is None else "not on Deezer" if isrc.get(tid) not in on_deezer
                     else "ReccoBeats lacks the ISRC" if tid not in recco_known
                     else "Deezer's answer not matched"] += 1

    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:5.1f}%" if b else "  n/a"

    print(f"names-only export (simulated: seed {args.seed}, {WORLD['n_plays']:,} plays over "
          f"{WORLD['years']:g} year{'s' if WORLD['years'] != 1 else ''} before the last-year cut)")
    print(f"  distinct names in the history      {names:6,}   (answered by the export's own URIs: "
          f"{how.get('export', 0) + how.get('uri', 0):,}; looked up: {looked_up:,})")
    print(f"  names of tracks in the catalogue   {len(resolvable):6,}   (ReccoBeats has features for "
          f"{len(reachable):,})")
    print(f"features exit code {code}; Spotify search quota {SEARCH_QUOTA} a day; Deezer pace "
          f"{DEEZER_RATE[0]} per {DEEZER_RATE[1] * args.pace_scale:g} s")
    print("after the first run, of the names that can be resolved at all:")
    print(f"  with a Spotify id                  {pct(len(with_id), len(resolvable))}   (the right id: "
          f"{pct(len(right), len(with_id)).strip()} of them)")
    print(f"  with an id and audio features      {pct(len(full), len(resolvable))}   (target >= 90%; of those "
          f"ReccoBeats covers: {pct(len(full), len(reachable)).strip()})")
    print(f"Spotify search calls                 {searches:6,}   = {pct(searches, names).strip()} of the names "
          f"(target <= 10%); {pct(searches, looked_up).strip()} of the names looked up")
    print(f"  names resolved: Deezer {how.get('deezer', 0):,}, Spotify search {how.get('search', 0):,}, "
          f"not found {how.get('miss', 0):,}, not looked up yet {unresolved:,}")
    print("  names Spotify was searched for, by why Deezer could not do it: " + ", ".join(
        f"{why} {n:,}" for why, n in fallback.most_common()))
    print("calls per service: " + ", ".join(f"{g} {n:,}" for g, n in sorted(by_group.items())))
    print(f"  Deezer rate-limit answers (code 4) {limited:,}")
    print(f"repeated successful GETs: Spotify catalogue {repeated(calls, CATALOG_GROUPS)}, Deezer "
          f"{repeated(calls, ('deezer',))}, ReccoBeats {repeated(calls, ('reccobeats',))} (target 0)")
    print(f"wall time of the features run        {wall:6.0f} s   (world and stand-in built in {built:.0f} s)")
    if args.pace_scale != 1.0:
        print(f"  at Deezer's real pace its {deezer_calls:,} calls alone take at least "
              f"{deezer_calls / DEEZER_RATE[0] * DEEZER_RATE[1] * (1.05):.0f} s")
    print(f"Deezer coverage of the catalogue (stated): {DEEZER_COVERAGE:.0%}; export name variants: "
          f"{variants.rate:.0%} of the tracks, {variants.unknown:.0%} of the names not in any catalogue")
    if code not in (0, 75):
        print(out.getvalue()[-3000:], file=sys.stderr)
    if args.keep is None:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
